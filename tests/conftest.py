"""Shared fixtures. Every test gets its own GRPO_TUI_HOME so runs, presets and
caches never touch the user's real directories."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Tests live in folders by room (core, trainer, tui, faults, gpu); the shared helpers stay in tests/.
# A few tests reuse another file's helpers (the dashboard's Pilot app, the watch script runner): every
# folder is importable, so running one file alone works as the whole suite does.
for _folder in sorted(p for p in Path(__file__).resolve().parent.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
    if str(_folder) not in sys.path and any(_folder.glob("test_*.py")):
        sys.path.append(str(_folder))


@pytest.fixture(scope="session", autouse=True)
def _shared_tiny_cache(tmp_path_factory):
    """One tiny-model cache for the whole session (built once, reused by every trainer test)."""
    if not os.environ.get("GRPO_TUI_TEST_CACHE"):
        os.environ["GRPO_TUI_TEST_CACHE"] = str(tmp_path_factory.mktemp("tiny-cache"))
    yield


@pytest.fixture(autouse=True)
def grpo_home(tmp_path, monkeypatch, _shared_tiny_cache) -> Path:
    home = tmp_path / "grpo-home"
    monkeypatch.setenv("GRPO_TUI_HOME", str(home))
    # The tiny model's build is cached across tests in one session (see trainer.tiny).
    shared_cache = os.environ.get("GRPO_TUI_TEST_CACHE")
    if shared_cache:
        monkeypatch.setenv("GRPO_TUI_CACHE", shared_cache)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    return home
