"""The shipped cpu-tiny preset visibly learns: over its 300 steps the mean total reward of
the last 30 steps beats the first 30 by at least a third of the maximum (2.0).

Slow (~30 s uncontended on 2 cores, a few minutes on a loaded box): marked ``slow``."""

from __future__ import annotations

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui import launcher as launch
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.rundir import summarize

from trainer_helpers import kill, wait_exit


@pytest.mark.slow
def test_cpu_tiny_preset_improves_by_a_third_of_max_reward():
    cfg = load_preset("cpu-tiny")
    assert cfg.max_steps == 300
    launched = launch.launch(cfg)
    try:
        assert wait_exit(launched.proc, timeout=900) == 0, launched.run.log_tail(40)
    finally:
        kill(launched.proc)
    s = summarize(launched.run)
    assert s.state == "completed" and s.step == 300
    max_reward = launched.run.info()["max_reward"]
    assert max_reward == 2.0
    gain = s.last_window_reward - s.first_window_reward
    assert gain >= max_reward / 3, (s.first_window_reward, s.last_window_reward)
    # Both components took part: correctness, not only the format, went up.
    metrics = [e["metrics"] for e in ev.read_all(launched.run.events)[0] if e["type"] == ev.METRICS]
    corr = [m["rewards/correctness/mean"] for m in metrics]
    assert sum(corr[-30:]) / 30 - sum(corr[:30]) / 30 > 0.4
