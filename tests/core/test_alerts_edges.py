"""The alerts' edges: each threshold is inclusive or exclusive as docs/alerts.md says, the
debounce re-arms after exactly ``rearm`` quiet observations, spike cool-downs last exactly
``spike_cooldown`` observations, and each detector starts checking right after its baseline.
Streams are built by hand from round numbers, so every expected step follows from the rule
(these tests kill the mutants listed in docs/mutation/alerts-survivors.txt)."""

from __future__ import annotations

import pytest

from grpo_tui.core.reading import alerts as al
from grpo_tui.core.run import events as ev


def feed(rows: list[dict], engine: al.AlertEngine | None = None) -> list[al.Alert]:
    """Metric rows as steps 1, 2, ... (a None row is skipped: no metrics event that step)."""
    engine = engine or al.AlertEngine()
    out: list[al.Alert] = []
    for step, m in enumerate(rows, start=1):
        if m is not None:
            out += engine.feed(ev.make_event(ev.METRICS, step, metrics=m))
    return out


def when(alerts: list[al.Alert], code: str | None = None) -> list[tuple[str, int, int]]:
    return [(a.code, a.since_step, a.step) for a in alerts if code is None or a.code == code]


def th(**kw) -> al.AlertEngine:
    return al.AlertEngine(al.AlertThresholds(**kw))


# -- the debounce ------------------------------------------------------------------------------
def test_a_fired_alert_rearms_after_exactly_rearm_quiet_observations():
    # nonfinite has a window of 1 and rearm 5: a NaN loss at step 1 fires; 4 good steps are not
    # enough to re-arm (step 6 is silent); 5 good steps are (step 12 fires again).
    rows = [{"loss": None}] + [{"loss": 0.1}] * 4 + [{"loss": None}] + [{"loss": 0.1}] * 5 + [{"loss": None}]
    assert when(feed(rows)) == [(al.NONFINITE, 1, 1), (al.NONFINITE, 12, 12)]


def test_a_nan_reward_is_named():
    a = feed([{"reward": None, "loss": 0.1}])
    assert [(x.code, x.message) for x in a] == [(al.NONFINITE, "reward became NaN/inf at step 1")]


def test_events_without_a_step_and_of_other_types():
    engine = al.AlertEngine()
    assert engine.feed(ev.make_event(ev.LOG, 3, message="hello")) == []  # not metrics, not samples
    a = engine.feed({"type": ev.METRICS, "metrics": {"loss": None}})  # no step: step 0
    assert when(a) == [(al.NONFINITE, 0, 0)] and engine.alerts == a


# -- spikes ------------------------------------------------------------------------------------
FLAT_KL = [{"kl": 1.0}, {"kl": 3.0}] * 5  # mean 2, sd 1: a spike is > 2 + 4 * 1 = 6 and > 1.5 * 2 = 3


@pytest.mark.parametrize("x, spike", [
    (6.0, False), (6.001, True),  # > mean + k sd, strictly
    (5.0, False),                 # above 1.5x the mean, but within k sd
])
def test_spike_needs_more_than_k_sd(x, spike):
    got = when(feed(FLAT_KL + [{"kl": x}]))
    assert got == ([(al.KL_SPIKE, 11, 11)] if spike else [])


def test_spike_needs_more_than_the_ratio_and_a_positive_value():
    # a constant history (sd 0): the ratio decides; 3.0 is exactly 1.5x the mean 2.0
    assert when(feed([{"kl": 2.0}] * 10 + [{"kl": 3.0}])) == []
    assert when(feed([{"kl": 2.0}] * 10 + [{"kl": 3.01}])) == [(al.KL_SPIKE, 11, 11)]
    # a negative history: 0 is above mean + k sd and 1.5x the mean, but a spike must be positive
    assert when(feed([{"kl": -1.0}] * 10 + [{"kl": 0.0}])) == []


def test_spike_checks_start_at_spike_min_history():
    # 10 observations of history (spike_min_history) are enough: the 11th can be a spike
    assert when(feed(FLAT_KL + [{"kl": 100.0}])) == [(al.KL_SPIKE, 11, 11)]
    assert when(feed(FLAT_KL[:9] + [{"kl": 100.0}])) == []


@pytest.mark.parametrize("gap, again", [(10, False), (11, True)])
def test_spike_cooldown_lasts_exactly_spike_cooldown_observations(gap, again):
    # after a spike at step 11 the next 10 observations are not checked (spike_cooldown = 10)
    rows = FLAT_KL + [{"kl": 100.0}] + FLAT_KL * 2
    rows[10 + gap] = {"kl": 10_000.0}
    expect = [(al.KL_SPIKE, 11, 11)] + ([(al.KL_SPIKE, 11 + gap, 11 + gap)] if again else [])
    assert when(feed(rows)) == expect


def test_a_missing_kl_does_not_stop_the_grad_norm_check():
    rows = [{"grad_norm": 1.0}, {"grad_norm": 3.0}] * 5 + [{"grad_norm": 100.0}]
    assert when(feed(rows)) == [(al.GRAD_SPIKE, 11, 11)]


# -- the maximum reward ------------------------------------------------------------------------
@pytest.mark.parametrize("max_reward, shown", [(1.0, " of a possible 1"), (-2.0, ""), (0.0, "")])
def test_only_a_positive_maximum_is_quoted(max_reward, shown):
    rows = [{"frac_reward_zero_std": 1.0, "reward": 0.5}] * 5
    a = feed(rows, al.AlertEngine(max_reward=max_reward))
    assert [x.message.split(":")[0] for x in a] == [
        f"100% of prompt groups scored every completion the same for 5+ logged steps (mean reward 0.5{shown})"]


# -- no correct answers ------------------------------------------------------------------------
def _zero_correct(extra: dict, n: int = 20) -> list[dict]:
    return [{**extra} for _ in range(n)]


@pytest.mark.parametrize("metrics, fires", [
    ({"rewards/correctness/mean": 0.0, "rewards/correctness/std": 0.0}, True),
    ({"rewards/correctness/mean": 0.0}, True),                                     # no std logged
    ({"rewards/correctness/mean": 1e-9, "rewards/correctness/std": 1e-9}, True),   # within 1e-9 of 0
    ({"rewards/correctness/mean": 0.0, "rewards/correctness/std": 2e-9}, False),
    ({"rewards/correctness/mean": 2e-9, "rewards/correctness/std": 0.0}, False),
    # a -1/+1 correctness reward averaging 0 still separates right from wrong
    ({"rewards/correctness/mean": 0.0, "rewards/correctness/std": 0.5}, False),
    # other components do not count: only the correctness one must be all zero
    ({"rewards/correctness/mean": 0.0, "rewards/correctness/std": 0.0, "rewards/overlong_penalty/mean": -0.3,
      "rewards/overlong_penalty/std": 0.1}, True),
])
def test_no_correct_answers_edges(metrics, fires):
    got = when(feed(_zero_correct(metrics)), al.NO_CORRECT)
    assert got == ([(al.NO_CORRECT, 1, 20)] if fires else [])


# -- truncation --------------------------------------------------------------------------------
@pytest.mark.parametrize("clipped, term, fires", [
    (0.5, 1.0, True),    # half the completions cut and the rest end at once: both bounds inclusive
    (0.5, 1.01, False),
    (0.49, 0.0, False),
])
def test_truncation_secondary_clause_bounds(clipped, term, fires):
    rows = [{"completions/clipped_ratio": clipped, "completions/mean_terminated_length": term}] * 3
    assert when(feed(rows)) == ([(al.TRUNCATION, 1, 3)] if fires else [])


# -- length ------------------------------------------------------------------------------------
def _lengths(values: list[float]) -> list[dict]:
    return [{"completions/mean_length": v} for v in values]


def test_length_checks_start_after_the_baseline():
    # 9 steps at 10, then 100: the baseline is the median of the first 10 (10); the check starts at
    # step 11, fires after 5 exploded steps (step 15), and walks back to where the raw values rose (10).
    a = feed(_lengths([10.0] * 9 + [100.0] * 10))
    assert when(a) == [(al.LENGTH_EXPLOSION, 10, 15)]


@pytest.mark.parametrize("last, code", [(20.0, al.LENGTH_EXPLOSION), (4.0, al.LENGTH_COLLAPSE)])
def test_length_ratios_are_inclusive(last, code):
    # baseline 10; exactly 2x and exactly 0.4x count
    a = feed(_lengths([10.0] * 10 + [last] * 9))
    assert [x.code for x in a] == [code]


def test_a_baseline_of_exactly_the_minimum_counts():
    assert [x.code for x in feed(_lengths([4.0] * 10 + [8.0] * 9))] == [al.LENGTH_EXPLOSION]
    assert feed(_lengths([3.99] * 10 + [8.0] * 9)) == []


@pytest.mark.parametrize("cross, code", [(20.0, al.LENGTH_EXPLOSION), (4.0, al.LENGTH_COLLAPSE)])
def test_the_raw_start_counts_a_value_exactly_at_the_bound(cross, code):
    # baseline 10; step 11 sits exactly on the bound (2x / 0.4x), steps 12.. far beyond it. The
    # smoothed mean crosses later, and the alert's start walks back to step 11 (inclusive bound).
    far = 40.0 if code == al.LENGTH_EXPLOSION else 0.0
    a = feed(_lengths([10.0] * 10 + [cross] + [far] * 10))
    assert [(x.code, x.since_step) for x in a] == [(code, 11)]


def test_the_raw_start_walks_back_at_most_length_smooth_minus_one_steps():
    # baseline: 5 zeros and 5 hundreds, median 50; from step 11 the smoothed mean (last 5) is 100 =
    # 2x: the streak starts at 11 and fires at 15. Raw values were >= 100 since step 6, but the
    # walk back covers the smoothing window only: length_smooth - 1 = 4 steps, to step 7.
    a = feed(_lengths([0.0] * 5 + [100.0] * 14))
    assert when(a) == [(al.LENGTH_EXPLOSION, 7, 15)]


# -- format without correctness ----------------------------------------------------------------
def _fvc(fmt: list[float | None], cor: list[float | None], **more: list[float | None]) -> list[dict]:
    rows = []
    series = {"format": fmt, "correctness": cor, **more}
    for i in range(max(len(v) for v in series.values())):
        m = {}
        for name, vals in series.items():
            if i < len(vals) and vals[i] is not None:
                m[f"rewards/{name}/mean"] = vals[i]
        rows.append(m)
    return rows


def fvc_alerts(rows: list[dict], engine: al.AlertEngine | None = None) -> list[al.Alert]:
    """The format-without-correctness alerts only (a flat-zero correctness also raises no_correct)."""
    return [a for a in feed(rows, engine) if a.code == al.FORMAT_NOT_TASK]


def test_format_without_correctness_fires_once_both_series_are_long_enough():
    # format: 0 for 9 steps then 1; correctness flat 0. The condition holds from step 19, but both
    # series need 2 x format_window = 20 values: it fires at 20; the saturated window began at 11.
    a = fvc_alerts(_fvc([0.0] * 9 + [1.0] * 16, [0.0] * 25))
    assert when(a) == [(al.FORMAT_NOT_TASK, 11, 20)]


@pytest.mark.parametrize("late", ["format", "correctness"])
def test_format_without_correctness_counts_each_series_own_length(late):
    # one series starts at step 6: it has 20 values at step 25, so the alert waits until then
    fmt = [0.0] * 9 + [1.0] * 16
    cor = [0.0] * 25
    if late == "format":
        fmt = [None] * 5 + [0.0] * 5 + [1.0] * 15
    else:
        cor = [None] * 5 + [0.0] * 20
    assert [x.step for x in fvc_alerts(_fvc(fmt, cor))] == [25]


def test_format_without_correctness_needs_a_rise_of_at_least_format_min_rise():
    # the format was learnt from the start (one early dip): first window 0.9, last 1.0, rise 0.1
    assert fvc_alerts(_fvc([1.0] * 9 + [0.0] + [1.0] * 15, [0.0] * 25)) == []
    # exactly the minimum rise (0.25 here, a binary fraction) counts
    engine = th(format_min_rise=0.25)
    assert [x.code for x in fvc_alerts(_fvc([0.5] * 10 + [0.75] * 15, [0.0] * 25), engine)] == [al.FORMAT_NOT_TASK]


def test_saturation_bound_is_inclusive():
    # range 0..1: the last window must sit at or above 0.9
    last = [0.9, 1.0] * 5
    assert [x.code for x in fvc_alerts(_fvc([0.0] * 10 + last + last, [0.0] * 30))] == [al.FORMAT_NOT_TASK]
    last = [0.89, 1.0] * 5
    assert fvc_alerts(_fvc([0.0] * 10 + last + last, [0.0] * 30)) == []


@pytest.mark.parametrize("cor_last, fires", [
    (0.1, True),    # correctness rose exactly 10% of the format's rise 1.0: still flat
    (0.11, False),
])
def test_correctness_flatness_bound(cor_last, fires):
    a = fvc_alerts(_fvc([0.0] * 10 + [1.0] * 10, [0.0] * 10 + [cor_last] * 10))
    assert [x.code for x in a] == ([al.FORMAT_NOT_TASK] if fires else [])


def test_correctness_rising_a_fifth_of_a_half_rise_is_learning():
    # format rose 0.5, correctness 0.1 = 20% of it (above correct_flat_frac 10%): no alert
    assert fvc_alerts(_fvc([0.5] * 10 + [1.0] * 10, [0.0] * 10 + [0.1] * 10)) == []


def test_only_format_and_correctness_components_are_compared():
    # format rose and saturated, correctness rose with it: learning. A flat overlong penalty and a
    # rising format std are neither a correctness nor a format mean.
    rows = _fvc([0.0] * 10 + [1.0] * 15, [0.0] * 10 + [0.8] * 15, overlong_penalty=[0.0] * 25)
    for i, m in enumerate(rows):
        m["rewards/format_strict/std"] = 0.0 if i < 10 else 1.0
    assert fvc_alerts(rows) == []


def test_a_run_without_a_format_component():
    assert fvc_alerts(_fvc([], [0.0] * 25)) == []
    assert fvc_alerts([{"rewards/format/mean": 1.0}] * 25) == []


@pytest.mark.parametrize("first, second", [
    ([0.5] * 25, [0.0] * 10 + [1.0] * 15),                # the first is flat
    ([0.0] * 10 + [0.5, 1.0] * 7 + [1.0], [0.0] * 10 + [1.0] * 15),  # the first rose, not saturated
    ([0.0] * 5 + [None] * 20, [0.0] * 10 + [1.0] * 15),   # the first has too few values (unscored)
])
def test_every_format_component_is_looked_at(first, second):
    rows = _fvc(first, [0.0] * 25, format_strict=second)
    assert [x.code for x in fvc_alerts(rows)] == [al.FORMAT_NOT_TASK]


def test_every_correctness_component_is_looked_at():
    # the first correctness component has too few values; the second is flat
    rows = _fvc([0.0] * 10 + [1.0] * 15, [0.0] * 5 + [None] * 20, accuracy=[0.0] * 25)
    assert [x.code for x in fvc_alerts(rows)] == [al.FORMAT_NOT_TASK]


# -- entropy -----------------------------------------------------------------------------------
def _entropy(values: list[float], reward: list[float] | None = None) -> list[dict]:
    return [{"entropy": e, **({"reward": reward[i]} if reward else {})} for i, e in enumerate(values)]


def test_entropy_checks_start_after_the_baseline():
    # no reward logged (no evidence of progress): 9 steps at 1.0, then 0.01 from step 10. The
    # baseline is the first 10; the check starts at step 11 and fires after 5 low steps.
    assert when(feed(_entropy([1.0] * 9 + [0.01] * 10))) == [(al.ENTROPY_COLLAPSE, 11, 15)]


@pytest.mark.parametrize("base, e, fires", [
    (1.0, 0.2, True),     # exactly entropy_ratio x the baseline
    (1.0, 0.1, True),     # below the ratio, above the absolute floor
    (1.0, 0.21, False),
    (0.5, 0.3, False),    # 60% of the baseline: not a collapse
    (0.1, 0.05, True),    # exactly the absolute floor (the ratio clause would need 0.02)
    (0.1, 0.051, False),
    (1.0, 1.0, False),    # steady entropy
])
def test_entropy_collapse_bounds(base, e, fires):
    got = when(feed(_entropy([base] * 10 + [e] * 5)))
    assert got == ([(al.ENTROPY_COLLAPSE, 11, 15)] if fires else [])


def test_entropy_collapse_while_the_reward_is_stuck():
    # a constant reward never beats its best: after plateau_patience (30) steps it is a plateau
    rows = _entropy([1.0] * 10 + [0.01] * 40, reward=[1.0] * 50)
    got = when(feed(rows))
    assert len(got) == 1 and got[0][0] == al.ENTROPY_COLLAPSE


def test_no_entropy_collapse_while_the_reward_is_still_warming_up():
    # the rolling reward window (50 here) is not full yet: still improving, no alert
    rows = _entropy([1.0] * 10 + [0.01] * 10, reward=[1.0] * 20)
    assert feed(rows, th(plateau_smooth=50)) == []


# -- samples: repetition -----------------------------------------------------------------------
def _samples(texts: list[str], engine: al.AlertEngine) -> list[al.Alert]:
    out = []
    for step, text in enumerate(texts, start=1):
        out += engine.feed(ev.make_event(ev.SAMPLES, step, rows=[{"completion": text}]))
    return out


PLAIN = "alpha beta gamma delta epsilon zeta eta theta iota kappa"  # 8 distinct 3-grams: 0 repeats
QUARTER = "a b c d a b c d e f"                                    # 6 distinct of 8: 0.25
HALF = "a b c d a b c d a b"                                       # 4 distinct of 8: 0.5


def test_repetition_fixtures():
    assert [al.repetition_rate(t) for t in (PLAIN, QUARTER, HALF)] == [0.0, 0.25, 0.5]


def test_repetition_absolute_bound_is_inclusive():
    assert when(_samples([HALF] * 3, al.AlertEngine())) == [(al.DEGENERATE_TEXT, 1, 3)]


def test_repetition_rise_above_the_baseline():
    # a baseline of 0 over 3 steps, then exactly +0.25 (repetition_rise): counts once warm (step 4)
    assert when(_samples([PLAIN] * 3 + [QUARTER] * 3, al.AlertEngine())) == [(al.DEGENERATE_TEXT, 4, 6)]


def test_repetition_rise_counts_only_after_the_baseline():
    # the third step is part of the baseline (median 0): it does not count as a rise yet
    assert when(_samples([PLAIN, PLAIN] + [QUARTER] * 3, al.AlertEngine())) == []


def test_repetition_minimum_words_is_the_thresholds():
    # 10 words are too few when the minimum is 20: never measured
    assert _samples([HALF] * 5, th(repetition_min_words=20)) == []


# -- samples: reasoning ------------------------------------------------------------------------
@pytest.mark.parametrize("completion, n", [
    ([{"content": "<think>abc"}, {"content": "def</think>"}], 6),   # messages join without a separator
    ([{"content": "<think>abc"}, {"content": None}], 3),             # a message without content adds nothing
    ("</think> then <think>abc", 0),                                  # reasoning ends before it starts
    ("<think>a<think>bc", 10),                                        # unclosed: from the first opening tag
])
def test_reasoning_length_edges(completion, n):
    assert al.reasoning_length(completion) == n


REASONING_HINT = ("the model is learning to answer without the work: raise min_reasoning_chars, check that "
                  "format_strict is in rewards, run `grpo-tui rewards audit`; look at the samples")


def _reasoning(lengths: list[int], engine: al.AlertEngine, tags=("<think>", "</think>")) -> list[al.Alert]:
    texts = [f"{tags[0]}{'x' * n}{tags[1]}<answer>7</answer>" for n in lengths]
    return _samples(texts, engine)


def test_reasoning_collapse_bounds_and_what_it_says():
    # baseline: the median of the first 5 steps (100); from step 6, exactly 0.4x counts
    a = _reasoning([100] * 5 + [40] * 3, al.AlertEngine())
    assert [(x.code, x.severity, x.since_step, x.step, x.hint) for x in a] == [
        (al.REASONING_COLLAPSE, al.WARNING, 6, 8, REASONING_HINT)]
    assert _reasoning([100] * 5 + [41] * 3, al.AlertEngine()) == []


def test_reasoning_checks_start_after_the_baseline():
    a = _reasoning([100] * 4 + [10] * 4, al.AlertEngine())
    assert when(a) == [(al.REASONING_COLLAPSE, 6, 8)]


def test_reasoning_baseline_of_exactly_the_minimum_counts():
    assert [x.code for x in _reasoning([40] * 5 + [10] * 3, al.AlertEngine())] == [al.REASONING_COLLAPSE]
    assert _reasoning([39] * 5 + [10] * 3, al.AlertEngine()) == []


def test_reasoning_collapse_reads_the_runs_tags():
    engine = al.AlertEngine.from_config({"reasoning_start": "<r>", "reasoning_end": "</r>"})
    assert [x.code for x in _reasoning([100] * 5 + [10] * 3, engine, ("<r>", "</r>"))] == [al.REASONING_COLLAPSE]


def test_a_spike_detector_with_no_minimum_history_does_not_divide_by_zero():
    """spike_min_history=0 (a threshold a caller may set): the first value has no history to compare
    with; it is no spike, and the second, far above the first, is one."""
    spike = al._Spike(al.AlertThresholds(spike_min_history=0, spike_cooldown=0), min_ratio=1.5)
    assert spike.update(1.0) is None
    assert spike.update(100.0) == (1.0, 0.0)
