"""The layering as import-linter contracts (pyproject.toml [tool.importlinter]), checked statically:
core imports no trainer, tui or cli; tui imports no trainer (only the launcher opens the trainer's
import-light pre-flight); trainer imports no tui; core's rooms are layers
(reading > run > planning > settings > util). Function-level imports count."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_contracts_hold():
    out = lint(REPO)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "4 kept, 0 broken" in out.stdout


def test_an_upward_import_breaks_them(tmp_path):
    """The contracts can fail: a core module reaching into the trainer, and a screen importing the
    trainer, each break one (in a copy of the package)."""
    shutil.copytree(REPO / "grpo_tui", tmp_path / "grpo_tui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "grpo_tui" / "core" / "reading" / "upward.py").write_text(
        "def f():\n    from ...trainer import datasets\n")
    (tmp_path / "grpo_tui" / "tui" / "upward.py").write_text("from ..trainer import control\n")
    out = lint(tmp_path)
    assert out.returncode != 0
    assert "2 kept, 2 broken" in out.stdout, out.stdout[-4000:]
    assert "grpo_tui.core.reading.upward -> grpo_tui.trainer.datasets" in out.stdout
    assert "grpo_tui.tui.upward -> grpo_tui.trainer.control" in out.stdout


def test_a_room_of_core_reaching_up_breaks_the_layers(tmp_path):
    """core's rooms are layers (reading > run > planning > settings > util) and every core module sits in one:
    a settings module reaching up into reading, even lazily, and a module left loose in core/ break the contract."""
    shutil.copytree(REPO / "grpo_tui", tmp_path / "grpo_tui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "grpo_tui" / "core" / "settings" / "reach.py").write_text("def f():\n    from ..reading import notify\n")
    (tmp_path / "grpo_tui" / "core" / "loose.py").write_text("x = 1\n")
    out = lint(tmp_path)
    assert out.returncode != 0
    assert "3 kept, 1 broken" in out.stdout, out.stdout[-4000:]
    assert "grpo_tui.core.settings.reach -> grpo_tui.core.reading.notify" in out.stdout
    assert "grpo_tui.core.loose" in out.stdout
