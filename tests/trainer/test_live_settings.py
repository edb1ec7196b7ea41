"""`grpo-tui set`: settings changed at a step boundary, on the real tiny trainer (CPU)."""

from __future__ import annotations

import json

import pytest

from grpo_tui import launcher as launch
from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.run import live_settings as ls
from grpo_tui.core.reading.monitor import RunMonitor
from grpo_tui.core.run.sample_columns import event_rows

from trainer_helpers import events, kill, start, wait_exit, wait_for

pytestmark = pytest.mark.slow


def _acked(run, cid, proc):
    return wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cid, proc=proc)


def _pause(run, proc) -> int:
    """Pause the run; the step it paused at."""
    return _acked(run, run.send_command("pause"), proc)["step"]


def _set(run, proc, **settings) -> dict:
    cid = run.send_command("set", settings=settings)
    return _acked(run, cid, proc)


def _metrics(run) -> dict[int, dict]:
    return {e["step"]: e["metrics"] for e in events(run) if e["type"] == ev.METRICS}


def test_lr_weight_and_cap_changes_take_effect_from_the_next_step():
    """One run, changed once at step k (three runs cost CI three model loads): the learning rate in TRL's
    own logged figure with the schedule going on, a reward weight in the logged total of the same
    completions, the completion cap in the next generation."""
    T = 200  # steps are fast: a long run, stopped a few steps after the change, never ends before the pause
    launched = start(max_steps=T, lr_scheduler_type="linear", max_completion_length=6)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc=proc)
        k = _pause(run, proc)
        ack = _set(run, proc, learning_rate=0.01, max_completion_length=24, **{"reward_weights.format": 0.25})
        assert ack["changes"] == {"learning_rate": {"old": 1.5e-3, "new": 0.01},
                                  "max_completion_length": {"old": 6, "new": 24},
                                  "reward_weights.format": {"old": 1.0, "new": 0.25}}
        run.send_command("resume")
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= k + 4, proc=proc)
        run.send_command("stop")
        assert wait_exit(proc) == 0, run.log_tail(30)
    finally:
        kill(proc)
    metrics = _metrics(run)
    assert sorted(metrics) == list(range(1, max(metrics) + 1)) and max(metrics) >= k + 4
    for s, m in metrics.items():
        # transformers' linear schedule: step s is taken at peak * (T - (s - 1)) / T
        peak = 1.5e-3 if s <= k else 0.01
        assert m["learning_rate"] == pytest.approx(peak * (T - (s - 1)) / T), (s, k)
        w = 1.0 if s <= k else 0.25
        assert m["reward"] == pytest.approx(w * m["rewards/format/mean"] + m["rewards/correctness/mean"],
                                            abs=1e-6), (s, k, m)
        assert m["completions/max_length"] <= (6 if s <= k else 24)
    assert any(m["rewards/format/mean"] > 0.05 for s, m in metrics.items() if s > k)  # the weight had a bite
    samples = ev.read_all(run.samples)[0]
    rows = [r for e in samples if e["step"] > k for r in event_rows(e)]  # the rows carry the weighted total
    assert rows and all(r["reward"] == pytest.approx(0.25 * r["rewards"]["format"] + r["rewards"]["correctness"])
                        for r in rows)
    lengths = {e["step"]: [r["length"] for r in event_rows(e)] for e in samples}
    assert all(max(v) <= 6 for s, v in lengths.items() if s <= k)
    after = [n for s, v in lengths.items() if s > k for n in v]
    assert max(after) > 6  # the next generation ran past the old cap
    changed = [e for e in events(run) if e["type"] == ev.SETTINGS_CHANGED]
    assert [(e["step"], e["id"]) for e in changed] == [(k, ack["id"])]
    assert json.loads((run.path / ls.SETTINGS_JSON).read_text())["overrides"] == {
        "learning_rate": 0.01, "max_completion_length": 24, "reward_weights.format": 0.25}


def test_refused_key_leaves_the_run_untouched(capsys):
    launched = start(max_steps=2000)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 1, proc=proc)
        for bad, says in (("num_generations=2", "cannot change while the run trains"),
                          ("lora_rank=16", "cannot change while the run trains"),
                          ("max_completion_length=500", "ceiling of 96"),
                          ("reward_weights.nope=1", "no reward 'nope'"),
                          ("temperature=0", "must be positive")):
            capsys.readouterr()
            assert main(["set", run.id, "learning_rate=1e-2", bad]) == 2
            err = capsys.readouterr().err.strip()
            assert says in err and len(err.splitlines()) == 1, err
        assert not list(run.commands.glob("*.json"))  # nothing was queued
        # a command that reaches the trainer anyway (another client) is refused there, changing nothing
        ack = _set(run, proc, learning_rate=0.01, num_generations=2)
        assert "num_generations" in ack["error"] and "changes" not in ack
        run.send_command("stop")
        assert wait_exit(proc) == 0
    finally:
        kill(proc)
    assert not [e for e in events(run) if e["type"] == ev.SETTINGS_CHANGED]
    assert not (run.path / ls.SETTINGS_JSON).exists()
    assert {m["learning_rate"] for m in _metrics(run).values()} == {1.5e-3}


def test_change_sent_while_loading_is_applied_at_the_first_step_and_two_readers_see_it():
    launched = start(max_steps=3)
    run, proc = launched.run, launched.proc
    monitors = [RunMonitor(run), RunMonitor(run)]
    try:
        cid = run.send_command("set", settings=ls.parse_changes(["learning_rate=0.02", "beta=0"],
                                                                ls.effective_config(run)))
        assert wait_exit(proc) == 0, run.log_tail(30)
    finally:
        kill(proc)
    changed = [e for e in events(run) if e["type"] == ev.SETTINGS_CHANGED]
    assert [(e["step"], e["id"]) for e in changed] == [(0, cid)]
    assert _metrics(run)[1]["learning_rate"] == pytest.approx(0.02)
    seen = []
    for m in monitors:
        m.poll()
        seen.append([(c["step"], c["changes"]) for c in m.settings_changes])
    assert seen[0] == seen[1] == [(0, {"learning_rate": {"old": 1.5e-3, "new": 0.02},
                                       "beta": {"old": 0.0, "new": 0.0}})]


def test_changes_survive_a_killed_trainer_and_resume():
    launched = start(max_steps=400)  # long enough that the kill, not the end, stops it (no final save)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc=proc)
        k = _pause(run, proc)
        _acked(run, run.send_command("checkpoint"), proc)
        wait_for(run, lambda e: e["type"] == ev.CHECKPOINT, proc=proc)  # saved before the change
        _set(run, proc, learning_rate=0.01, **{"reward_weights.format": 0.5})
        run.send_command("resume")
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= k + 2, proc=proc)
    finally:
        kill(proc)  # SIGKILL: no finished event, nothing saved after the checkpoint
    assert run.latest_checkpoint().name == f"checkpoint-{k}"
    resumed = launch.resume(run)
    try:
        started = wait_for(run, lambda e: e["type"] == ev.RUN_STARTED and e.get("resumed_from"), proc=resumed.proc)
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["ts"] > started["ts"] and e["step"] >= k + 3,
                 proc=resumed.proc)
        run.send_command("stop")
        assert wait_exit(resumed.proc) == 0, run.log_tail(30)
    finally:
        kill(resumed.proc)
    evs = events(run)
    again = [e for e in evs if e["type"] == ev.SETTINGS_CHANGED and e.get("resumed")]
    assert len(again) == 1 and again[0]["changes"]["learning_rate"] == {"old": 1.5e-3, "new": 0.01}
    after = {e["step"]: e["metrics"] for e in evs if e["type"] == ev.METRICS and e["ts"] > started["ts"]}
    assert min(after) == k + 1  # it went on from the checkpoint, which held the launch settings
    for s, m in after.items():
        assert m["learning_rate"] == pytest.approx(0.01), s
        assert m["reward"] == pytest.approx(0.5 * m["rewards/format/mean"] + m["rewards/correctness/mean"], abs=1e-6)
