"""The audit's cost verdict is the same in any process (issue 29): each timed call runs cold, with
the cyclic collector paused, and a call over the limit is tried again keeping the least. The
mechanism is tested with a fake clock (no timing in pass/fail); one test runs the real audit
after allocating a large heap, with collections forced into the reward calls, and compares
the verdicts with the same audit run before it."""

from __future__ import annotations

import gc
import textwrap

import pytest

from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer.rewards import cost
from grpo_tui.trainer.rewards.audit import run_audit


def _clock(readings):
    it = iter(readings)
    return lambda: next(it)


def test_an_interrupted_try_is_tried_again_and_the_least_kept():
    calls = []
    out, seconds = cost.cpu_seconds(lambda: calls.append(1) or len(calls), 0.1, clock=_clock([0, 1.0, 5, 5.02]))
    assert (out, seconds, len(calls)) == (1, pytest.approx(0.02), 2)  # the first try's result, the second try's time


def test_work_slow_every_time_stays_slow_after_three_tries():
    calls = []
    _, seconds = cost.cpu_seconds(lambda: calls.append(1), 0.1, clock=_clock([0, 0.5, 1, 1.4, 2, 2.6]))
    assert len(calls) == cost.TRIES == 3 and seconds == pytest.approx(0.4)


def test_a_call_within_the_limit_runs_once():
    calls = []
    _, seconds = cost.cpu_seconds(lambda: calls.append(1), 0.1, clock=_clock([0, 0.05]))
    assert (len(calls), seconds) == (1, 0.05)


def test_each_try_is_cold_and_the_collector_paused_only_during_the_call():
    log = []
    clear = [lambda: log.append("clear")]
    _, _ = cost.cpu_seconds(lambda: log.append(("gc on", gc.isenabled())), 0.1, clear=clear,
                            clock=_clock([0, 1, 2, 3, 4, 5]))
    assert log == ["clear", ("gc on", False)] * 3
    assert gc.isenabled()
    gc.disable()  # a caller that paused it itself keeps it paused
    try:
        cost.cpu_seconds(lambda: None, 0.1)
        assert not gc.isenabled()
    finally:
        gc.enable()


CHURN = """
    KEPT = []
    def churn(prompts, completions, **kw):
        # on the long (cost) cases, keep many new containers alive: enough to make the collector's
        # full pass over the test's large heap due inside this call
        if any(len(str(c)) > 50_000 for c in completions):
            KEPT.append([[] for _ in range(300_000)])
        return [0.0 for _ in completions]
"""


def test_same_verdicts_after_a_large_heap_and_forced_collections(tmp_path):
    path = tmp_path / "churn.py"
    path.write_text(textwrap.dedent(CHURN))
    cfg = load_preset("gpu-24gb")

    def verdicts():
        report = run_audit(cfg, extra_rewards=[f"{path}:churn"])
        return [(r.cls, r.label, r.verdict) for r in report.rows], report

    alone, _ = verdicts()
    heap = [[] for _ in range(2_000_000)]  # a long-lived process's heap, all of it in the oldest generation
    gc.collect()
    gc.collect()
    try:
        crowded, report = verdicts()
    finally:
        del heap
        gc.collect()
    assert crowded == alone
    assert not [r for r in report.rows if r.verdict == "slow"]
