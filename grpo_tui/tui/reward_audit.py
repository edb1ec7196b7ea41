"""The start screen's one-line reward audit: `grpo-tui rewards audit --json` in a subprocess.

The reward rules live in grpo_tui.trainer (the app never imports it: the layer rule keeps the
app light, and the audit may load math-verify/sympy), so the app runs the command and reads
its JSON. The start screen calls ``audit`` from a thread worker, once per preset file
(cached by path and modification time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 120


@dataclass(frozen=True)
class AuditLine:
    text: str
    ok: bool | None  # None: the audit could not run


_cache: dict[tuple[str, float], AuditLine] = {}


def audit(preset: str, path: Path | None = None) -> AuditLine:
    """The audit verdict of a preset (by its .toml path when it has one, so user and fixture
    presets are audited as the app loaded them)."""
    target = str(path) if path is not None and Path(path).is_file() else preset
    try:
        key = (target, Path(target).stat().st_mtime if Path(target).is_file() else 0.0)
    except OSError:
        key = (target, 0.0)
    if key in _cache:
        return _cache[key]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "grpo_tui", "rewards", "audit", "--preset", target, "--json"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, env=env,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return AuditLine(f"rewards audit could not run: {type(exc).__name__}", None)
    if proc.returncode not in (0, 1):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return AuditLine(f"rewards audit could not run: {last.removeprefix('grpo-tui: error: ')[:120]}", None)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return AuditLine("rewards audit could not run: unreadable output", None)
    line = AuditLine(str(data.get("summary", "")), bool(data.get("ok")))
    _cache[key] = line
    return line
