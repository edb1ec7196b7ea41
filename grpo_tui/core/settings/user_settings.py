"""The user's own settings file: ``<config dir>/settings.toml`` (``$GRPO_TUI_HOME/config`` in tests).

Tables read today::

    [stall]          # when a live run counts as stalled (core.run.stall)
    after_s = 300
    factor = 10
    loading_s = 1800

    [notify]         # who is told when a run ends, fails, crashes or stalls (core.reading.notify)
    webhook = "https://ntfy.sh/my-topic"
    command = "notify-send grpo-tui"
    on = ["completed", "stopped", "failed", "crashed", "stalled", "alert"]
    alert_severity = "critical"
    timeout_s = 10

A missing file is empty settings; a broken one is reported by ``settings_problem()`` (shown by
``grpo-tui notify`` and the app) and read as empty, never a crash in a reader.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from ..util.paths import config_home

FILE_NAME = "settings.toml"
_cache: dict[str, tuple[float, dict[str, Any], str | None]] = {}


def settings_path() -> Path:
    return config_home() / FILE_NAME


def _read() -> tuple[dict[str, Any], str | None]:
    path = settings_path()
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return {}, None
    hit = _cache.get(str(path))
    if hit and hit[0] == mtime:
        return hit[1], hit[2]
    data: dict[str, Any] = {}
    problem = None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problem = f"{path}: {exc}"
    _cache[str(path)] = (mtime, data, problem)
    return data, problem


def load_settings() -> dict[str, Any]:
    """The settings file as a dict (cached until the file changes)."""
    return _read()[0]


def settings_problem() -> str | None:
    """One line when the settings file exists but cannot be read."""
    return _read()[1]
