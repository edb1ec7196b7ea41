"""No network: hub models and datasets fail fast with one line naming what was not reached."""

from __future__ import annotations

import time

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.planning.presets import load_preset

from trainer_helpers import events, kill, start, wait_exit


def test_hub_dataset_fails_fast_with_one_line():
    from grpo_tui.trainer.datasets import DatasetUnavailable, build_dataset

    cfg = load_preset("cpu-tiny").with_overrides({"dataset": "openai/gsm8k", "dataset_config": "main"})
    t = time.monotonic()
    with pytest.raises(DatasetUnavailable) as info:
        build_dataset(cfg, None)
    assert time.monotonic() - t < 20
    msg = str(info.value)
    assert "openai/gsm8k" in msg and "\n" not in msg


def test_trainer_with_unreachable_hub_model_ends_failed_quickly():
    t = time.monotonic()
    launched = start(model="no-such-org/no-such-model", max_steps=2)
    try:
        assert wait_exit(launched.proc, timeout=120) == 1
    finally:
        kill(launched.proc)
    assert time.monotonic() - t < 90
    fin = events(launched.run)[-1]
    assert fin["type"] == ev.FINISHED and fin["status"] == ev.FAILED
    assert "no-such-org/no-such-model" in fin["error"] and "\n" not in fin["error"]
