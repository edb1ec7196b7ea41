"""Reward rules against adversarial completions: each hack must not pay."""

from __future__ import annotations

import pytest

from grpo_tui.trainer import reward_rules as rr

T = rr.Tags()
fmt_strict = rr.make_format_strict(T)
fmt_soft = rr.make_format_soft(T)
correct = rr.make_correctness(T)

GOOD = "<think>7 plus 5 is 12</think><answer>12</answer>"


def score(fn, completions, gold="12", **kw):
    return fn(["q"] * len(completions), completions, answer=[gold] * len(completions), **kw)


def total(c, gold="12"):
    """The weighted total the trainer would use for the default math components."""
    return score(fmt_strict, [c], gold)[0] + score(fmt_soft, [c], gold)[0] + (score(correct, [c], gold)[0] or 0)


# -- names (TRL logs rewards/<__name__>/mean; the app charts by these) ---------------------------
def test_stable_names():
    assert [f.__name__ for f in (fmt_strict, fmt_soft, correct, rr.make_overlong_penalty(100),
                                 rr.make_repetition_penalty())] == [
        "format_strict", "format_soft", "correctness", "overlong_penalty", "repetition_penalty"]


# -- format ---------------------------------------------------------------------------------------
def test_well_formed_gets_full_format():
    assert score(fmt_strict, [GOOD, "  \n" + GOOD + "\n"]) == [rr.FORMAT_STRICT_MAX] * 2
    assert score(fmt_soft, [GOOD]) == [rr.FORMAT_SOFT_MAX]


def test_format_cannot_dominate_correctness():
    assert rr.FORMAT_STRICT_MAX + rr.FORMAT_SOFT_MAX <= rr.CORRECTNESS_MAX
    right_bad_format = "12 <answer>12</answer>"
    wrong_perfect_format = "<think>guess</think><answer>13</answer>"
    assert total(right_bad_format) > total(wrong_perfect_format)


@pytest.mark.parametrize("text", [
    "<think>reasoning</think><answer></answer>",          # format without an answer
    "<think>reasoning</think><answer>   </answer>",       # whitespace answer
    "<think></think><answer>12</answer>",                 # no reasoning
    "<answer>12</answer>",                                # reasoning missing
    "<think>r</think><answer>12</answer> trailing text",  # text after the answer
    "<think>r</think><answer>11</answer><answer>12</answer>",  # multiple answers
    "<think>r <answer>12</answer></think><answer>12</answer>",  # nested tags
    "<think>r</think>\n<answer>12",                       # unclosed
    "<answer>12</answer><think>r</think>",                # wrong order
])
def test_strict_format_rejects(text):
    assert score(fmt_strict, [text]) == [0.0]


def test_prefilled_reasoning_tag_counts():
    """Chat templates like Qwen3's / R1 distills' open <think> in the prompt: the completion starts
    inside the reasoning."""
    pre = "7 plus 5 is 12</think>\n<answer>12</answer>"
    assert score(fmt_strict, [pre]) == [rr.FORMAT_STRICT_MAX]
    assert score(fmt_soft, [pre]) == [rr.FORMAT_SOFT_MAX]
    # but a closing tag after the answer, or an empty reasoning, is not that layout
    assert score(fmt_strict, ["<answer>12</answer></think>", "</think><answer>12</answer>"]) == [0.0, 0.0]


def test_soft_format_partial_credit_and_no_credit_for_spamming_tags():
    assert score(fmt_soft, ["<answer>12</answer>"]) == [0.25]
    assert score(fmt_soft, ["<think>" * 5 + "</think>" * 5 + "<answer></answer>" * 5]) == [0.0]


def test_format_reads_reasoning_from_chat_messages():
    msg = [{"role": "assistant", "reasoning_content": "7 plus 5 makes 12", "content": "<answer>12</answer>"}]
    assert score(fmt_strict, [msg]) == [rr.FORMAT_STRICT_MAX]
    assert score(fmt_soft, [msg]) == [rr.FORMAT_SOFT_MAX]
    assert score(correct, [msg]) == [1.0]


# -- correctness ----------------------------------------------------------------------------------
def test_correct_answer():
    assert score(correct, [GOOD]) == [1.0]


def test_answer_outside_tags_never_counts():
    assert score(correct, ["<think>the answer is 12</think> 12", "The answer is \\boxed{12}"]) == [0.0, 0.0]


def test_answer_hidden_in_reasoning_content_does_not_count():
    msg = [{"role": "assistant", "thinking": "<answer>12</answer>", "content": "no idea"}]
    assert score(correct, [msg]) == [0.0]


def test_multiple_answers_and_hedges_score_zero():
    assert score(correct, [
        "<answer>11</answer><answer>12</answer>",
        "<answer>12</answer> and <answer>12</answer>",
        "<answer>11 or 12</answer>",
        "<answer>11, 12</answer>",
        "<answer>11; 12</answer>",
        "<answer>12</answer><answer>11",       # a second, unclosed answer
        "<answer>12</answer></answer>",        # stray closing tag
    ]) == [0.0] * 7


@pytest.mark.parametrize("ans,gold", [
    ("12", "12"), ("12.", "12"), ("12.0", "12"), (" 12 ", "12"), ("1,234", "1234"), ("$1,234.00", "1234"),
    ("\\boxed{12}", "12"), ("$\\boxed{12}$", "12"), ("\\(12\\)", "12"), ("12 apples", "12"),
    ("12\\text{ cm}", "12"), ("50%", "50%"), ("50", "50%"), ("x = 12", "12"), ("\u221212", "-12"),
    ("3/4", "0.75"), ("\\frac{3}{4}", "0.75"), ("\\dfrac{3}{4}", "3/4"), ("0.75", "\\frac{3}{4}"),
    ("\\sqrt{2}", "\\sqrt{2}"), ("2^{10}", "2^{10}"),
    ("\uff11\uff12", "12"),    # fullwidth digits
    ("\u0661\u0662", "12"),    # Arabic-Indic digits
    ("olleh", "OLLEH"),        # words: case-insensitive
])
def test_normalised_matches(ans, gold):
    assert score(correct, [f"<answer>{ans}</answer>"], gold) == [1.0]


@pytest.mark.parametrize("ans,gold", [
    ("13", "12"), ("1.2", "12"), ("12.01", "12"), ("\u00b9\u00b2", "12"),  # superscripts are not digits
    ("1\u00b2", "12"), ("ab", "ba"), ("nan", "12"), ("inf", "12"), ("-12", "12"),
    ("1e400", "12"), ("12e0000000000000000001", "12"),
    ("9" * 5000, "12"),                  # huge number
    ("1" + "0" * 200, "1" + "0" * 200),  # huge, even when equal: over the answer size cap
    ("12" + " 12" * 100, "12"),          # padded with repeats
    ("12/0", "12"),
], ids=lambda v: repr(v)[:24])
def test_mismatches(ans, gold):
    assert score(correct, [f"<answer>{ans}</answer>"], gold) == [0.0]


def test_huge_numbers_are_fast():
    import time

    t = time.perf_counter()
    score(correct, ["<answer>" + "9" * 100000 + "</answer>", "<answer>1e99999999</answer>",
                    "<answer>10^{99999999}</answer>"])
    assert time.perf_counter() - t < 5


def test_nested_answer_tags_are_not_an_answer():
    assert score(correct, ["<answer><answer>12</answer></answer>", "<answer>12<think></answer>"]) == [0.0, 0.0]


def test_long_near_misses_stay_linear():
    """A regex with lazy bodies took 17 s on a 2,000-word near miss; every rule must stay fast."""
    import time

    n = 50_000
    texts = ["<think>" + "a " * n + "</think><answer>" + "1 " * n + "</answer>x",
             "<think>" + "a " * n + "<answer>" * 50 + "</answer>x" * 50,
             "<answer>" + "9" * n + "</answer>"]
    fns = (fmt_strict, fmt_soft, correct, rr.make_repetition_penalty())
    t = time.perf_counter()
    for f in fns:
        f(None, texts, answer=["1"] * 3)
    assert time.perf_counter() - t < 2.0


def test_no_gold_is_unscored():
    assert correct(["q"], [GOOD], answer=[None]) == [None]
    assert correct(["q"], [GOOD]) == [None]
    assert correct(["q"], [GOOD], solution=["12"]) == [1.0]


# -- anti length hacking ------------------------------------------------------------------------
def test_overlong_penalty_matches_dapo_and_trl():
    from trl.rewards import get_soft_overlong_punishment

    ours = rr.make_overlong_penalty(100, 20)
    ref = get_soft_overlong_punishment(100, 20)
    ids = [[1] * n for n in (10, 80, 81, 90, 100, 101, 150)]
    assert ours(None, [""] * len(ids), completion_ids=ids) == ref(completion_ids=ids)
    assert ours(None, [""] * 3, completion_ids=[[1] * 80, [1] * 90, [1] * 100]) == [0.0, -0.5, -1.0]


def test_overlong_default_buffer_is_a_fifth():
    f = rr.make_overlong_penalty(50)
    assert f(None, [""] * 2, completion_ids=[[1] * 40, [1] * 45]) == [0.0, -0.5]


def test_padding_to_the_cap_does_not_pay():
    cap = 64
    concise = [1] * 12
    padded = [1] * 12 + [0] * (cap - 12)  # same answer, padded with filler tokens to the cap
    pen = rr.make_overlong_penalty(cap)
    rep = rr.make_repetition_penalty()
    gold = ["12", "12"]
    texts = [GOOD, GOOD + " ." * 200]
    ids = [concise, padded]
    totals = [sum(x) for x in zip(
        fmt_strict(None, texts, completion_ids=ids), fmt_soft(None, texts, completion_ids=ids),
        correct(None, texts, completion_ids=ids, answer=gold),
        pen(None, texts, completion_ids=ids), rep(None, texts, completion_ids=ids))]
    assert totals[0] > totals[1] + 1.0


def test_floor_if_truncated():
    wrapped = rr.floor_if_truncated(correct, 16, 0.0)
    assert wrapped.__name__ == "correctness"
    ids = [[1] * 10, [1] * 16]
    assert wrapped(None, [GOOD, GOOD], completion_ids=ids, answer=["12", "12"]) == [1.0, 0.0]
    assert wrapped(None, [GOOD, GOOD], completion_ids=ids, answer=[None, None]) == [None, None]
    pen = rr.floor_if_truncated(rr.make_overlong_penalty(16), 16, -1.0)
    assert pen(None, ["a", "a"], completion_ids=ids) == [0.0, -1.0]
    user = rr.floor_if_truncated(lambda prompts, completions, completion_ids=None, **kw: [0.7, -0.3], 16, None)
    assert user(None, ["a", "a"], completion_ids=[[1] * 16, [1] * 16]) == [0.0, -0.3]  # floor unknown: min(s, 0)


def test_repetition_measures():
    from trl.rewards import get_repetition_penalty_reward

    # repeated_ngram_share is TRL's measure (kept to compare with); the reward uses loop_share
    ids = [[1, 2, 3, 4], [5, 5, 5, 5, 5], [1, 2], [1, 2, 3, 1, 2, 3, 1, 2, 3]]
    assert [-rr.repeated_ngram_share(x, 2) + 0.0 for x in ids] == get_repetition_penalty_reward(ngram_size=2)(ids)
    assert rr.loop_share([1, 2, 1, 2, 1, 2], 2) == pytest.approx(1 / 5)  # (1, 2) seen a 3rd time, once
    rep = rr.make_repetition_penalty()
    lines = "\n".join(["so the answer is twelve"] * 10)
    fresh = "first add seven and five which gives twelve so the answer is twelve"
    a, b = rep(None, [lines, fresh])
    assert a < -0.7 and b == 0.0


def test_functions_accept_trl_kwargs():
    kw = {"trainer_state": object(), "log_extra": None, "log_metric": None, "answer": ["12"]}
    for f in (fmt_strict, fmt_soft, correct, rr.make_overlong_penalty(32), rr.make_repetition_penalty()):
        out = f(["q"], [GOOD], completion_ids=[[1, 2, 3]], **kw)
        assert len(out) == 1 and (out[0] is None or isinstance(out[0], float))


def test_custom_tags():
    tags = rr.Tags.from_config({"reasoning_start": "<reasoning>", "reasoning_end": "</reasoning>",
                                "solution_start": "<SOLUTION>", "solution_end": "</SOLUTION>"})
    text = "<reasoning>seven and five make 12</reasoning><SOLUTION>12</SOLUTION>"
    assert rr.make_format_strict(tags)(None, [text]) == [rr.FORMAT_STRICT_MAX]
    assert rr.make_correctness(tags)(None, [text], answer=["12"]) == [1.0]
    assert correct(None, [text], answer=["12"]) == [0.0]  # default tags do not match
