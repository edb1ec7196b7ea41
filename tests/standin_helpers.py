"""Switching the trainer processes a test starts onto the stand-in unsloth / vllm (tests/standins).

The stand-ins are never put on this process's sys.path: only trainer subprocesses see them (via
PYTHONPATH), so other tests never import a stand-in vLLM. They log each call they receive as a
JSON line in ``GRPO_TUI_STANDIN_LOG``."""

from __future__ import annotations

import json
import os
from pathlib import Path

STANDINS = Path(__file__).resolve().parent / "standins"


def use_standins(monkeypatch, log: Path) -> Path:
    """Trainer subprocesses import the stand-ins and log their calls to ``log``; nothing left over
    from the environment (a failure to inject, standby, a hub token) changes what they do."""
    monkeypatch.setenv("GRPO_TUI_TEST_STANDINS", "1")
    monkeypatch.setenv("GRPO_TUI_STANDIN_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(STANDINS), os.environ.get("PYTHONPATH", "")]))
    for name in ("GRPO_TUI_STANDIN_FAIL", "UNSLOTH_VLLM_STANDBY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return log


def read(path) -> list[dict]:
    """The stand-ins' call log."""
    try:
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []
