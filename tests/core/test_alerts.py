"""Alert detectors on synthetic metric streams: each pathology fires (with the step it
began), healthy streams raise nothing, and alerts round-trip through the event log."""

from __future__ import annotations

import random

import pytest

from grpo_tui.core.reading import alerts as al
from grpo_tui.core.run import events as ev


def healthy(n: int = 120, seed: int = 0) -> list[dict]:
    """A run that learns: rewards rise with noise, lengths stable, spikes absent."""
    rng = random.Random(seed)
    out = []
    for s in range(1, n + 1):
        p = s / n
        fmt = min(1.0, 0.2 + 0.8 * p) + rng.gauss(0, 0.03)
        cor = 0.1 + 0.6 * p + rng.gauss(0, 0.03)
        out.append({
            "reward": fmt + cor, "reward_std": 0.4 + rng.gauss(0, 0.02),
            "frac_reward_zero_std": max(0.0, 0.3 + rng.gauss(0, 0.1)),
            "completions/clipped_ratio": max(0.0, 0.05 + rng.gauss(0, 0.02)),
            "completions/mean_length": 60 + rng.gauss(0, 4),
            "completions/mean_terminated_length": 58 + rng.gauss(0, 4),
            "rewards/format/mean": fmt, "rewards/correctness/mean": cor,
            "kl": 0.01 + 0.02 * p + abs(rng.gauss(0, 0.002)),
            "grad_norm": 0.5 + abs(rng.gauss(0, 0.08)),
            "entropy": 1.2 - 0.4 * p + rng.gauss(0, 0.03),
            "loss": rng.gauss(0, 0.01),
        })
    return out


def metric_events(rows: list[dict], start: int = 1) -> list[dict]:
    return [ev.make_event(ev.METRICS, start + i, metrics=m) for i, m in enumerate(rows)]


def run(rows: list[dict], engine: al.AlertEngine | None = None) -> list[al.Alert]:
    engine = engine or al.AlertEngine(max_completion_length=128)
    return engine.feed_many(metric_events(rows))


def codes(alerts):
    return [a.code for a in alerts]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_healthy_stream_raises_nothing(seed):
    assert run(healthy(seed=seed)) == []


def test_healthy_samples_raise_nothing():
    rng = random.Random(5)
    words = "add the two numbers carry one then write the sum we get so answer is".split()
    engine = al.AlertEngine()
    out = []
    for s in range(1, 40):
        rows = [{"completion": " ".join(rng.choice(words) for _ in range(30))} for _ in range(8)]
        out += engine.feed(ev.make_event(ev.SAMPLES, s, rows=rows))
    assert out == []


def test_no_learning_signal_fires_with_since_step():
    rows = healthy(60)
    for i in range(30, 60):  # steps 31.. every group identical
        rows[i]["frac_reward_zero_std"] = 1.0
    alerts = run(rows)
    assert codes(alerts) == [al.NO_SIGNAL]
    a = alerts[0]
    assert a.since_step == 31
    assert a.step == 31 + al.AlertThresholds().zero_std_window - 1
    assert a.severity == al.WARNING and "100%" in a.message and a.hint


def test_no_signal_says_solved_or_failing_when_the_maximum_is_known():
    rows = healthy(40)
    for i in range(20, 40):
        rows[i]["frac_reward_zero_std"] = 1.0
        rows[i]["reward"] = 1.95
    (solved,) = run(rows, al.AlertEngine(max_reward=2.0))
    assert "already solves these prompts" in solved.message and "of a possible 2" in solved.message
    assert "harder prompts" in solved.hint
    for i in range(20, 40):
        rows[i]["reward"] = 0.0
    (failing,) = run(rows, al.AlertEngine.from_config({}, max_reward=2.0))
    assert "every completion fails" in failing.message and "easier" in failing.hint


def test_no_signal_debounce_ignores_short_blips_and_rearms():
    rows = healthy(80)
    for i in (10, 11, 12, 13):  # 4 < window 5: no alert
        rows[i]["frac_reward_zero_std"] = 1.0
    for i in range(30, 40):  # fires once, not 6 times
        rows[i]["frac_reward_zero_std"] = 0.95
    for i in range(60, 70):  # after >= rearm healthy steps, fires again
        rows[i]["frac_reward_zero_std"] = 0.95
    alerts = run(rows)
    assert [(a.code, a.since_step) for a in alerts] == [(al.NO_SIGNAL, 31), (al.NO_SIGNAL, 61)]


def test_no_correct_answers_while_format_still_varies():
    rows = healthy(60)
    for i in range(15, 60):
        rows[i]["rewards/correctness/mean"] = 0.0
        rows[i]["rewards/correctness/std"] = 0.0
    alerts = run(rows)
    assert [(a.code, a.since_step, a.step) for a in alerts] == [(al.NO_CORRECT, 16, 35)]


def test_some_correct_answers_are_enough():
    rows = healthy(60)
    for i in range(0, 60):
        rows[i]["rewards/correctness/mean"] = 0.0 if i % 10 else 0.05
        rows[i]["rewards/correctness/std"] = 0.0 if i % 10 else 0.2
    assert al.NO_CORRECT not in codes(run(rows))


def test_truncation_collapse():
    rows = healthy(50)
    for i in range(20, 50):
        rows[i]["completions/clipped_ratio"] = 0.97
        rows[i]["completions/mean_terminated_length"] = 0.0
        rows[i]["completions/mean_length"] = 62  # at the cap but no length alert wanted here
    alerts = run(rows)
    assert codes(alerts) == [al.TRUNCATION]
    assert alerts[0].since_step == 21 and alerts[0].severity == al.CRITICAL
    assert "128" in alerts[0].message


def test_truncation_half_clipped_with_nothing_terminating():
    rows = healthy(30)
    for i in range(10, 30):
        rows[i]["completions/clipped_ratio"] = 0.6
        rows[i]["completions/mean_terminated_length"] = 0.0
    assert [(a.code, a.since_step) for a in run(rows)] == [(al.TRUNCATION, 11)]


def _clipped(rows: list[dict], steps: range, ratio: float) -> list[dict]:
    """Clip ``ratio`` of completions at the given (1-based) steps; terminated ones stay healthy (~58)."""
    for s in steps:
        rows[s - 1]["completions/clipped_ratio"] = ratio
    return rows


def test_truncation_main_threshold_fires_after_the_debounce_window():
    # clipped_ratio >= 0.9 alone (the terminated completions look fine): fires on the 3rd step in a row
    alerts = run(_clipped(healthy(40), range(21, 41), 0.9))
    assert [(a.code, a.since_step, a.step) for a in alerts] == [(al.TRUNCATION, 21, 23)]
    assert alerts[0].message.startswith("90% of completions hit the length cap (max_completion_length 128), "
                                        "mean terminated length ")


def test_truncation_needs_the_window_unbroken_and_the_threshold_reached():
    rows = _clipped(healthy(40), range(21, 23), 0.95)  # two steps, then a healthy one
    rows = _clipped(rows, range(24, 41), 0.95)
    assert [(a.code, a.since_step, a.step) for a in run(rows)] == [(al.TRUNCATION, 24, 26)]
    assert run(_clipped(healthy(40), range(21, 41), 0.89)) == []  # just under, terminated fine
    assert run(_clipped(healthy(40), range(21, 23), 0.99)) == []  # two steps only


def test_length_explosion_against_own_baseline():
    rows = healthy(60)
    for i in range(30, 60):
        rows[i]["completions/mean_length"] = 200.0
    alerts = run(rows)
    assert codes(alerts) == [al.LENGTH_EXPLOSION]
    # the 5-step smoothed mean crosses 2x baseline on step 33; since_step walks back to the jump
    assert alerts[0].since_step == 31 and alerts[0].step == 37


def test_length_collapse():
    rows = healthy(60)
    for i in range(30, 60):
        rows[i]["completions/mean_length"] = 5.0
    alerts = run(rows)
    assert codes(alerts) == [al.LENGTH_COLLAPSE]
    assert alerts[0].since_step == 31 and alerts[0].step == 38


def test_gradual_length_growth_within_bounds_is_fine():
    rows = healthy(100)
    for i, r in enumerate(rows):
        r["completions/mean_length"] = 60 + 0.5 * i  # ends at 1.8x
    assert run(rows) == []


def test_format_saturates_while_correctness_flat():
    rng = random.Random(1)
    rows = healthy(60)
    for i, r in enumerate(rows):
        r["rewards/format/mean"] = min(1.0, 0.1 + 0.09 * i) + rng.gauss(0, 0.01)
        r["rewards/correctness/mean"] = 0.05 + rng.gauss(0, 0.01)
    alerts = run(rows)
    assert codes(alerts) == [al.FORMAT_NOT_TASK]
    a = alerts[0]
    # format reaches its plateau at ~step 11; fires once 2 windows exist (step 20), since = window start
    assert a.step == 20 and a.since_step == 11
    assert "rewards/format" in a.message and "rewards/correctness" in a.message


def test_format_and_correctness_rising_together_is_fine():
    rows = healthy(60)
    for i, r in enumerate(rows):
        r["rewards/format/mean"] = min(1.0, 0.1 + 0.09 * i)
        r["rewards/correctness/mean"] = min(0.8, 0.05 + 0.03 * i)
    assert run(rows) == []


def test_degenerate_text_from_samples():
    rng = random.Random(2)
    words = "first add the units then carry the tens digit and write down the result as".split()
    engine = al.AlertEngine()
    out = []
    for s in range(1, 21):
        rows = []
        for _ in range(8):
            if s >= 12:
                text = "\n".join(["the answer is the answer is"] * 6)  # repeated lines
            else:
                text = " ".join(rng.choice(words) for _ in range(30))
            rows.append({"completion": text})
        out += engine.feed(ev.make_event(ev.SAMPLES, s, rows=rows))
    assert codes(out) == [al.DEGENERATE_TEXT]
    assert out[0].since_step == 12 and out[0].step == 14


def test_degenerate_text_reads_chat_message_completions():
    engine = al.AlertEngine()
    out = []
    for s in range(1, 6):
        rows = [{"completion": [{"role": "assistant", "content": "go go go go go go go go go go go go"}]}]
        out += engine.feed(ev.make_event(ev.SAMPLES, s, rows=rows))
    assert codes(out) == [al.DEGENERATE_TEXT] and out[0].since_step == 1


def test_kl_spike():
    rows = healthy(60)
    rows[40]["kl"] = 0.5
    alerts = run(rows)
    assert codes(alerts) == [al.KL_SPIKE]
    assert alerts[0].since_step == 41 and alerts[0].step == 41


def test_grad_norm_spike_with_cooldown():
    rows = healthy(60)
    rows[30]["grad_norm"] = 9.0
    rows[32]["grad_norm"] = 9.0  # inside the cooldown: one alert for the burst
    rows[55]["grad_norm"] = 9.0  # after the cooldown: a second alert
    alerts = run(rows)
    assert [(a.code, a.step) for a in alerts] == [(al.GRAD_SPIKE, 31), (al.GRAD_SPIKE, 56)]


def test_no_spike_before_enough_history():
    rows = healthy(30)
    rows[3]["grad_norm"] = 50.0
    assert run(rows) == []


def test_nonfinite_grad_norm_is_critical():
    rows = healthy(20)
    rows[12]["grad_norm"] = None  # how NaN arrives after a JSON round trip
    alerts = run(rows)
    assert codes(alerts) == [al.NONFINITE]
    assert alerts[0].since_step == 13 and alerts[0].severity == al.CRITICAL


def test_entropy_collapse_with_a_reward_plateau():
    rows = healthy(100)
    for i, r in enumerate(rows):
        r["reward"] = 0.3 + 0.035 * i if i < 20 else 1.0  # climbs to step 20, then flat
    for i in range(35, 100):
        rows[i]["entropy"] = 0.02
    alerts = run(rows)
    assert codes(alerts) == [al.ENTROPY_COLLAPSE]
    # the 10-step rolling mean last gained more than 2% of the reward range (0.014) at step 28
    # (0.965 -> 0.9895); 30 steps of patience make step 58 the first plateaued one, and the
    # 5-step debounce fires at 62
    assert alerts[0].since_step == 58 and alerts[0].step == 62


def test_entropy_falling_while_reward_climbs_is_convergence_not_collapse():
    rows = healthy(60)  # reward rises through the run
    for i in range(35, 60):
        rows[i]["entropy"] = 0.02
    assert run(rows) == []


def test_missing_metrics_raise_nothing():
    """A run that logs only reward (e.g. an older trainer) must not trip anything."""
    assert run([{"reward": 0.1 * i} for i in range(50)]) == []


def test_alert_event_round_trip(tmp_path):
    rows = healthy(40)
    for i in range(10, 40):
        rows[i]["frac_reward_zero_std"] = 1.0
    engine = al.AlertEngine()
    path = tmp_path / "events.jsonl"
    with ev.EventWriter(path) as w:
        for e in metric_events(rows):
            w.write(e)
            for a in engine.feed(e):
                w.emit(ev.ALERT, a.step, **a.to_event_payload())
    events, stats = ev.read_all(path, types=[ev.ALERT])
    assert stats.problems() is None and len(events) == 1
    back = al.Alert.from_event(events[0])
    assert back == engine.alerts[0]
    # replaying the metrics from the file gives the same alert
    metrics, _ = ev.read_all(path, types=[ev.METRICS])
    assert al.replay(metrics) == engine.alerts


def test_warm_start_on_resume_keeps_baselines_and_does_not_refire():
    rows = healthy(80)
    for i in range(30, 80):
        rows[i]["frac_reward_zero_std"] = 1.0
        rows[i]["completions/mean_length"] = 200.0  # 3.3x the early baseline
    before, after = metric_events(rows[:50]), metric_events(rows[50:], start=51)
    first = al.AlertEngine()
    assert sorted(codes(first.feed_many(before))) == [al.LENGTH_EXPLOSION, al.NO_SIGNAL]
    resumed = al.AlertEngine()
    resumed.warm(before)
    assert resumed.alerts == [] and resumed.feed_many(after) == []
    fresh = al.AlertEngine()  # without the history: the old alert fires again, and the long
    assert codes(fresh.feed_many(after)) == [al.NO_SIGNAL]  # lengths have become the "baseline"


def test_thresholds_are_overridable():
    rows = healthy(40)
    for i in range(10, 40):
        rows[i]["frac_reward_zero_std"] = 0.7
    assert run(rows) == []
    engine = al.AlertEngine(al.AlertThresholds.from_mapping({"zero_std_frac": 0.6}))
    assert codes(run(rows, engine)) == [al.NO_SIGNAL]
    with pytest.raises(ValueError, match="nope"):
        al.AlertThresholds.from_mapping({"nope": 1})


def test_repetition_rate():
    assert al.repetition_rate("a b c d e f g h i j") == 0.0
    assert al.repetition_rate("x " * 20) == pytest.approx(1 - 1 / 18)
    assert al.repetition_rate("too short") is None


def test_real_trainer_writes_alert_events(tmp_path):
    """The trainer's callback runs the engine: a constant reward gives every group zero std,
    so the real tiny run must record no_learning_signal from step 1, fired at step 5."""
    from trainer_helpers import kill, start, wait_exit

    (tmp_path / "flat.py").write_text("def flat(completions, **kw):\n    return [0.5] * len(completions)\n")
    launched = start(max_steps=6, rewards=[f"{tmp_path / 'flat.py'}:flat"])
    try:
        assert wait_exit(launched.proc) == 0, launched.run.log_tail(40)
    finally:
        kill(launched.proc)
    alerts = [al.Alert.from_event(e) for e in ev.read_all(launched.run.events, types=[ev.ALERT])[0]]
    assert [(a.code, a.since_step, a.step) for a in alerts if a.code == al.NO_SIGNAL] == [(al.NO_SIGNAL, 1, 5)]


def test_resumed_real_run_does_not_repeat_alerts(tmp_path):
    """Killed after its checkpoint and resumed, the trainer warms the engine with the run's own
    history: no_learning_signal (fired at step 5) is not written again after the resume."""
    from grpo_tui import launcher as launch
    from trainer_helpers import kill, start, wait_exit, wait_for

    (tmp_path / "flat.py").write_text("def flat(completions, **kw):\n    return [0.5] * len(completions)\n")
    first = start(max_steps=11, save_steps=6, rewards=[f"{tmp_path / 'flat.py'}:flat"])
    run = first.run
    try:
        wait_for(run, lambda e: e["type"] == ev.CHECKPOINT and e["path"].endswith("checkpoint-6"), proc=first.proc)
    finally:
        kill(first.proc)
    again = launch.resume(run)
    try:
        assert wait_exit(again.proc) == 0, run.log_tail(40)
    finally:
        kill(again.proc)
    evs = ev.read_all(run.events)[0]
    assert sum(e["type"] == ev.RUN_STARTED for e in evs) == 2
    alerts = [(e["code"], e["step"]) for e in evs if e["type"] == ev.ALERT]
    assert alerts == [(al.NO_SIGNAL, 5)]
    assert max(e["step"] for e in evs if e["type"] == ev.METRICS) == 11  # 7..11: a fresh engine would fire at 11
