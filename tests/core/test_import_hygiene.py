"""The layering, checked in fresh interpreters: the app never loads the training stack,
core never loads Textual, and `grpo-tui --help` loads neither."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import grpo_tui.core

HEAVY = ("torch", "transformers", "trl", "datasets", "peft", "unsloth", "vllm", "accelerate")
REPO = Path(__file__).resolve().parents[2]


def loaded_after(code: str, watch: tuple[str, ...]) -> list[str]:
    """Run ``code`` in a new interpreter; which of ``watch`` ended up in sys.modules."""
    probe = f"{code}\nimport sys, json\nprint('@@' + json.dumps([m for m in {list(watch)!r} if m in sys.modules]))"
    env = {**os.environ, "GRPO_TUI_FAKE_GPUS": "RTX 4090"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("@@")][-1]
    return json.loads(line[2:])


def test_app_modules_do_not_import_the_training_stack():
    code = ("import grpo_tui.tui.app, grpo_tui.tui.entry, grpo_tui.tui.screens.start, "
            "grpo_tui.tui.screens.help, grpo_tui.tui.screens.confirm, grpo_tui.tui.widgets.memory_bar")
    assert loaded_after(code, HEAVY) == []


def test_every_tui_module_stays_off_the_training_stack():
    """Every screen and widget (the dashboard, sample browser... as they are added), not just the shell."""
    import grpo_tui.tui

    names = [m.name for m in pkgutil.walk_packages(grpo_tui.tui.__path__, "grpo_tui.tui.")]
    assert "grpo_tui.tui.screens.start" in names
    code = "\n".join(f"import {n}" for n in names)
    assert loaded_after(code, HEAVY) == []


def test_running_app_after_survey_and_runs_scan_has_no_training_stack():
    """First frame, hardware survey (NVML), planning and the runs scan: still no torch."""
    code = """
import asyncio
from grpo_tui.tui.app import GrpoApp
async def main():
    app = GrpoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            if getattr(app.screen, "selected", None):
                break
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        assert app.screen.selected, "the survey never landed"
asyncio.run(main())
"""
    assert loaded_after(code, HEAVY) == []


def test_launch_preflight_used_by_the_app_stays_light():
    """The start screen validates and launches in-process: that path must not load torch either."""
    code = ("from grpo_tui import launcher\nfrom grpo_tui.core.planning.presets import load_preset\n"
            "launcher.prepare(load_preset('cpu-tiny'))")
    assert loaded_after(code, HEAVY) == []


def test_core_modules_import_neither_textual_nor_the_training_stack():
    names = [m.name for m in pkgutil.walk_packages(grpo_tui.core.__path__, "grpo_tui.core.")]
    assert "grpo_tui.core.run.rundir" in names and len(names) > 5
    code = "\n".join(f"import {n}" for n in names)
    assert loaded_after(code, ("textual",) + HEAVY) == []


def test_cli_help_imports_neither_torch_nor_textual():
    code = ("import sys\nfrom grpo_tui import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass")
    assert loaded_after(code, ("textual",) + HEAVY) == []


# Needed once tables, knobs or the run list are made, after the first frame (bench/first_frame.py:
# together ~15 ms of a ~200 ms first frame on a 2-core box).
AFTER_FIRST_FRAME = ("textual.widgets._data_table", "grpo_tui.core.settings.config", "grpo_tui.core.run.rundir",
                     "grpo_tui.tui.runs_index", "tomllib", "statistics")


def test_first_frame_loads_nothing_only_later_parts_need():
    """What is loaded when the start screen has painted once, before its workers start."""
    code = """
import sys, json
from grpo_tui.tui.app import GrpoApp
seen = []
class FirstFrame(GrpoApp):
    def on_mount(self):
        self.call_later(lambda: self.screen.call_after_refresh(self.frame))
    def frame(self):
        seen.extend(m for m in WATCH if m in sys.modules)
        print("@@" + json.dumps(seen), flush=True)
        self.exit()
FirstFrame().run(headless=True, size=(120, 40))
""".replace("WATCH", repr(AFTER_FIRST_FRAME))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "GRPO_TUI_FAKE_GPUS": "RTX 4090"}, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("@@")][-1]
    assert json.loads(line[2:]) == []
