"""What the alerts say, word for word (the user reads these in the app, the report and
notifications), the thresholds between their variants, and alerts' round trip through events
and run configs. The streams come from test_alerts.healthy()."""

from __future__ import annotations

import pytest

from grpo_tui.core.reading import alerts as al
from grpo_tui.core.run import events as ev

from test_alerts import healthy, run

SAME = "of prompt groups scored every completion the same for 5+ logged steps"
SOLVED = ("the model already solves these prompts",
          "use harder prompts (a harder dataset or split), or stop here: the run has learnt what this task can teach")
FAILING = ("every completion fails",
           "make the task easier, add a warm start or partial-credit rewards, raise num_generations or temperature")
MIXED = ("those groups give no gradient",
         "if all fail: make the task easier or add partial-credit rewards; if all pass: harder prompts; "
         "raise num_generations or temperature for more varied groups")


def _flat(reward: float | None, n: int = 30, frac: float = 0.95) -> list[dict]:
    rows = healthy(n)
    for i in range(10, n):
        rows[i]["frac_reward_zero_std"] = frac
        if reward is None:
            rows[i].pop("reward")
        else:
            rows[i]["reward"] = reward
    return rows


def _only(alerts, code):
    got = [a for a in alerts if a.code == code]
    assert len(got) == 1, alerts
    return got[0]


@pytest.mark.parametrize("reward, shown, variant", [
    (2.0, "2", SOLVED), (1.8, "1.8", SOLVED),        # at or above 90% of the maximum
    (1.79, "1.79", MIXED), (0.21, "0.21", MIXED),
    (0.2, "0.2", FAILING), (0.0, "0", FAILING),       # at or below 10%
])
def test_no_signal_says_which_way_the_groups_are_flat(reward, shown, variant):
    a = _only(run(_flat(reward), al.AlertEngine(max_completion_length=128, max_reward=2.0)), al.NO_SIGNAL)
    assert (a.severity, a.since_step, a.step) == (al.WARNING, 11, 15)
    assert a.message == f"95% {SAME} (mean reward {shown} of a possible 2): {variant[0]}"
    assert a.hint == variant[1]


def test_no_signal_without_a_known_maximum_or_reward():
    a = _only(run(_flat(1.0), al.AlertEngine()), al.NO_SIGNAL)
    assert a.message == f"95% {SAME} (mean reward 1): {MIXED[0]}" and a.hint == MIXED[1]
    a = _only(run(_flat(None), al.AlertEngine(max_reward=2.0)), al.NO_SIGNAL)
    assert a.message == f"95% {SAME}: {MIXED[0]}"


def test_no_signal_threshold_is_inclusive():
    assert _only(run(_flat(1.0, frac=0.9)), al.NO_SIGNAL).message.startswith("90% ")
    assert [a for a in run(_flat(1.0, frac=0.89)) if a.code == al.NO_SIGNAL] == []


def test_nonfinite_names_what_blew_up():
    rows = healthy(30)
    for i in range(10, 30):
        rows[i]["loss"] = None
        rows[i]["grad_norm"] = float("inf")
    a = _only(run(rows), al.NONFINITE)
    assert (a.severity, a.since_step, a.step) == (al.CRITICAL, 11, 11)
    assert a.message == "loss, grad_norm became NaN/inf at step 11"
    assert a.hint == ("lower learning_rate, keep max_grad_norm at 1.0, use bfloat16 rather than float16, "
                      "and resume from the last checkpoint")


def test_truncation_message_without_a_known_cap_or_terminated_length():
    rows = healthy(40)
    for i in range(5, 40):
        rows[i]["completions/clipped_ratio"] = 0.95
        rows[i].pop("completions/mean_terminated_length")
    a = _only(run(rows, al.AlertEngine()), al.TRUNCATION)
    assert (a.severity, a.since_step, a.step) == (al.CRITICAL, 6, 8)
    assert a.message == "95% of completions hit the length cap: answers are cut off before the answer tag"
    assert a.hint == ("raise max_completion_length, add overlong_penalty to rewards, set zero_truncated_reward=true "
                      "or mask_truncated_completions=true, or ask for shorter reasoning in system_prompt")


def test_no_correct_answer_message():
    rows = healthy(40)
    for i in range(10, 40):
        rows[i]["rewards/correctness/mean"] = 0.0
        rows[i]["rewards/correctness/std"] = 0.0
    a = _only(run(rows), al.NO_CORRECT)
    assert (a.severity, a.since_step, a.step) == (al.WARNING, 11, 30)
    assert a.message == ("rewards/correctness has been 0 for every completion for 20+ logged steps: "
                         "no right answer to reinforce")
    assert a.hint == ("look at the samples: is the answer in the solution tags? Use an easier dataset or a warm "
                      "start, raise num_generations, or add a partial-credit reward")


def test_alert_event_round_trip_and_defaults():
    a = al.Alert(code="kl_spike", severity=al.CRITICAL, message="m", since_step=4, hint="h", step=9)
    payload = a.to_event_payload()
    assert payload == {"code": "kl_spike", "severity": "critical", "message": "m", "hint": "h", "since_step": 4}
    assert al.Alert.from_event(ev.make_event(ev.ALERT, 9, **payload)) == a
    assert al.Alert.from_event({"type": "alert"}) == al.Alert(code="", severity=al.WARNING, message="",
                                                              since_step=0, hint="", step=0)
    assert al.Alert.from_event({"code": 5, "since_step": None, "step": "7"}).code == "5"


def test_from_config_takes_the_cap_tags_and_maximum():
    e = al.AlertEngine.from_config({"max_completion_length": 256, "reasoning_start": "<r>", "reasoning_end": "</r>"},
                                   max_reward=3)
    assert (e.max_completion_length, e.max_reward) == (256, 3.0)
    assert e.reasoning_tags == ("<r>", "</r>")
    d = al.AlertEngine.from_config(None)
    assert (d.max_completion_length, d.max_reward, d.reasoning_tags) == (None, None, ("<think>", "</think>"))
    assert al.AlertEngine.from_config({"max_completion_length": "256"}).max_completion_length is None
    t = al.AlertThresholds(clipped_window=7)
    assert al.AlertEngine.from_config({}, t).t is t


@pytest.mark.parametrize("completion, n", [
    ("<think>  abc  </think><answer>1</answer>", 3),
    ("abc</think><answer>1</answer>", 3),                 # the template pre-filled the opening tag
    ("<think>abc", 3),                                     # cut before the closing tag
    ("no tags at all", 0),
    ("<think>a</think> then <think>bcd</think>", 1),      # the first block
    ("x <think>one</think> <think>two</think>", 3),
    ("<think>x<think>ab</think>", 2),                      # the opening tag nearest the close
    ([{"role": "assistant", "thinking": " ab "}], 2),
    ([{"reasoning_content": "abc"}, {"thinking": "d"}, "skip"], 4),
    ([{"content": "<think>xy</think>"}, {"content": "z"}], 2),
    ([{"content": "no reasoning"}], 0),
    (12, None),
])
def test_reasoning_length(completion, n):
    assert al.reasoning_length(completion) == n


def test_reasoning_length_with_other_tags():
    assert al.reasoning_length("<r>abcd</r>", ("<r>", "</r>")) == 4
    assert al.reasoning_length("<think>abcd</think>", ("<r>", "</r>")) == 0


def test_reasoning_collapse_message_and_a_repeated_samples_event():
    why = "In April she sold 48 clips. In May half as many, 48 / 2 = 24. Altogether 48 + 24 = 72 clips."
    engine = al.AlertEngine.from_config({})

    def samples(step, reasoning):
        return ev.make_event(ev.SAMPLES, step, rows=[{"completion": f"<think>{reasoning}</think>"}] * 4)

    fired = []
    for step in range(1, 7):
        fired += engine.feed(samples(step, why))
    for step in range(7, 10):
        fired += engine.feed(samples(step, "."))
        fired += engine.feed(samples(step, "."))  # the same step again: not a second observation
    assert [(a.code, a.since_step, a.step) for a in fired] == [(al.REASONING_COLLAPSE, 7, 9)]
    assert fired[0].message == (f"the sampled completions reason in 1 characters on average, "
                                f"{1 / len(why):.0%} of the run's early {len(why)}")


def test_degenerate_text_message_reading_plain_and_chat_rows_past_junk():
    import random

    rng = random.Random(2)
    words = "first add the units then carry the tens digit and write down the result as".split()
    engine = al.AlertEngine()
    out = []
    for s in range(1, 21):
        rows: list = ["junk", {"completion": 5}]  # not completions: passed over, the rest still read
        for i in range(8):
            text = ("\n".join(["the answer is the answer is"] * 6) if s >= 12
                    else " ".join(rng.choice(words) for _ in range(30)))
            rows.append({"completion": text} if i % 2 else
                        {"completion": [{"role": "assistant", "content": text}, {"role": "tool"}]})
        out += engine.feed(ev.make_event(ev.SAMPLES, s, rows=rows))
    assert [(a.code, a.severity, a.since_step, a.step) for a in out] == [(al.DEGENERATE_TEXT, al.WARNING, 12, 14)]
    assert out[0].message == ("sampled completions repeat themselves: 91% of their word 3-grams are repeats "
                              "(early in the run: 1%)")
    assert out[0].hint == ("add repetition_penalty to rewards, lower learning_rate, check for a reward that pays "
                           "for length; look at the samples")


def test_a_chat_message_without_content_adds_no_words():
    engine = al.AlertEngine()
    out = []
    for s in range(1, 8):  # seven repeated words: under the 8-word minimum, so never measured
        rows = [{"completion": [{"role": "assistant", "content": "go go go go go go go"}, {"role": "tool"}]}]
        out += engine.feed(ev.make_event(ev.SAMPLES, s, rows=rows))
    assert out == []


def test_repetition_rate_minimum_words():
    assert al.repetition_rate("a b c d e f g") is None  # 7 words
    assert al.repetition_rate("a b c d e f g h") == 0.0  # 8: measured
    assert al.repetition_rate("a a a a a a a a") == pytest.approx(5 / 6)


def test_unknown_thresholds_are_named_together():
    with pytest.raises(ValueError, match="^unknown alert threshold\\(s\\): bogus, nope$"):
        al.AlertThresholds.from_mapping({"nope": 1, "bogus": 2, "clipped_window": 4})


def test_replay_uses_the_runs_config():
    rows = healthy(40)
    for i in range(20, 40):
        rows[i]["completions/clipped_ratio"] = 0.95
    got = al.replay([ev.make_event(ev.METRICS, i + 1, metrics=m) for i, m in enumerate(rows)],
                    {"max_completion_length": 64})
    assert [a.code for a in got] == [al.TRUNCATION] and "(max_completion_length 64)" in got[0].message


@pytest.mark.parametrize("length, code, since, step, message, hint", [
    (200.0, al.LENGTH_EXPLOSION, 31, 37, "mean completion length 200 tokens is 3.2x the run's early baseline 62.2",
     "check that correctness rises with it; if not: loss_type=dr_grpo or dapo (no length bias), add "
     "overlong_penalty to rewards, lower learning_rate"),
    (5.0, al.LENGTH_COLLAPSE, 31, 38, "mean completion length 5 tokens fell to 8% of the run's early baseline 62.2",
     "the model may answer without reasoning: look at the samples; check for a length penalty that pays for "
     "brevity; lower the learning rate"),
])
def test_length_messages(length, code, since, step, message, hint):
    rows = healthy(60)
    for i in range(30, 60):
        rows[i]["completions/mean_length"] = length
    a = _only(run(rows), code)
    assert (a.severity, a.since_step, a.step, a.message, a.hint) == (al.WARNING, since, step, message, hint)


def test_format_without_correctness_message():
    import random

    rng = random.Random(1)
    rows = healthy(60)
    for i, r in enumerate(rows):
        r["rewards/format/mean"] = min(1.0, 0.1 + 0.09 * i) + rng.gauss(0, 0.01)
        r["rewards/correctness/mean"] = 0.05 + rng.gauss(0, 0.01)
    a = _only(run(rows), al.FORMAT_NOT_TASK)
    assert (a.severity, a.since_step, a.step) == (al.WARNING, 11, 20)
    assert a.message == ("the model learned the format, not the task: rewards/format rose 0.50 -> 1.00 and has "
                         "plateaued, while rewards/correctness moved +0.00 over the run")
    assert a.hint == ("lower the format weight in reward_weights, use format_strict instead of format, check the "
                      "correctness reward on a few samples, or use easier prompts first")


GRAD_HINT = ("keep max_grad_norm (clipping) on, lower learning_rate; a few outlier completions (very long or "
             "degenerate) are the usual cause")


def test_spike_messages_and_the_cooldown():
    rows = healthy(60)
    rows[40]["kl"] = 0.5
    a = _only(run(rows), al.KL_SPIKE)
    assert (a.severity, a.since_step, a.step) == (al.WARNING, 41, 41)
    assert a.message == "kl 0.5 at step 41, above its rolling mean 0.0218 + 4 sd (0.00243)"
    assert a.hint == ("the policy jumped away from the reference: lower learning_rate, raise beta, or reduce "
                      "num_iterations; inspect the samples of this step")
    rows = healthy(60)
    for i in (30, 32, 55):
        rows[i]["grad_norm"] = 9.0
    got = [(a.code, a.since_step, a.step, a.message, a.hint) for a in run(rows)]
    assert got == [
        (al.GRAD_SPIKE, 31, 31, "grad_norm 9 at step 31, above its rolling mean 0.556 + 4 sd (0.0473)", GRAD_HINT),
        (al.GRAD_SPIKE, 56, 56, "grad_norm 9 at step 56, above its rolling mean 0.55 + 4 sd (0.0323)", GRAD_HINT)]


def test_entropy_collapse_message():
    rows = healthy(100)
    for i, r in enumerate(rows):
        r["reward"] = 0.3 + 0.035 * i if i < 20 else 1.0
    for i in range(35, 100):
        rows[i]["entropy"] = 0.02
    a = _only(run(rows), al.ENTROPY_COLLAPSE)
    assert (a.severity, a.since_step, a.step) == (al.WARNING, 58, 62)
    assert a.message == ("token entropy 0.02 nats, down from an early 1.18, and the reward has stopped improving: "
                         "sampling has become near-deterministic, groups stop differing")
    assert a.hint == ("raise temperature, lower learning_rate or num_iterations; in TRL, clip-higher "
                      "(epsilon_high=0.28, DAPO) slows entropy loss")
