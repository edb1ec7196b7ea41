"""The folders grpo-tui keeps: data (runs), config (settings, presets) and cache (models, opened folders).

All three sit under ``$GRPO_TUI_HOME`` when that variable is set (tests use it), else under
platformdirs' per-user folders. A leaf module: the settings, presets and run-directory code all read it.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    env = os.environ.get("GRPO_TUI_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("grpo-tui", appauthor=False))


def config_home() -> Path:
    env = os.environ.get("GRPO_TUI_HOME")
    if env:
        return Path(env).expanduser() / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir("grpo-tui", appauthor=False))


def cache_home() -> Path:
    env = os.environ.get("GRPO_TUI_HOME")
    if env:
        return Path(env).expanduser() / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir("grpo-tui", appauthor=False))


def runs_root() -> Path:
    return home() / "runs"
