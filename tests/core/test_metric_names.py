"""TRL's metric names (and our own memory keys) live in core/run/metric_names.py only: the readers (core, the
headless view) and our writers (the trainer's callback, the unsloth backend's vLLM figures) name a metric
through its constants, so a key renamed in a TRL release is one edit. Scanned with ast, so
prose and comments do not count; every string constant does, f-string pieces included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grpo_tui.core.run import metric_names as M

PKG = Path(M.__file__).resolve().parents[2]

# learning_rate is also a RunConfig field (and the fields table names it): as a literal it is
# the config key far more often than the logged metric, so it is left out of the scan.
NOT_SCANNED = {M.LEARNING_RATE}
KNOWN = {v for k, v in vars(M).items() if k.isupper() and isinstance(v, str) and not k.startswith("_")} - NOT_SCANNED
# pieces of the composed names (rewards/<fn>/mean, completions/..., memory/...)
PREFIXES = ("rewards/", "completions/", "memory/")


def scanned_modules() -> list[Path]:
    mods = sorted(p for p in (PKG / "core").rglob("*.py") if p.name != "metric_names.py")
    return [*mods, PKG / "headless.py", PKG / "trainer" / "callback.py", PKG / "trainer" / "backends" / "unsloth.py"]


def literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant that names a TRL metric, docstrings excluded."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            s = node.value
            if s in KNOWN or s.startswith(PREFIXES) or s in ("/mean", "/std"):
                out.append((node.lineno, s))
    return out


def test_the_scan_sees_the_readers():
    names = {p.name for p in scanned_modules()}
    assert {"alerts.py", "monitor.py", "report.py", "compare.py", "headless.py", "callback.py", "unsloth.py"} <= names


@pytest.mark.parametrize("path", scanned_modules(), ids=lambda p: p.name)
def test_no_metric_name_literal(path):
    found = literals(path.read_text())
    assert not found, f"{path.name}: use grpo_tui.core.run.metric_names instead of {found}"


def test_the_scan_can_fail():
    src = ('"""reward in a docstring is fine"""\n'
           'def f(m, fn):\n'
           '    return m.get("completions/clipped_ratio"), m[f"rewards/{fn}/mean"], m.get("kl")\n')
    assert sorted(s for _, s in literals(src)) == ["/mean", "completions/clipped_ratio", "kl", "rewards/"]


def test_component_of():
    assert M.component_of(M.reward_mean("format_strict")) == "format_strict"
    assert M.component_of(M.reward_std("format_strict")) is None
    assert M.component_of(M.REWARD) is None
    assert M.component_of("rewards//mean") is None
    assert M.reward_label("correctness") == "rewards/correctness"
