"""Reward rules at their edges: real completions scored by the real reward functions, each case
chosen so that one small change to a rule (a mutant from bench/mutation.py) changes a score.
docs/mutation/rewards-survivors.txt lists what is left and why."""

from __future__ import annotations

import pytest

from grpo_tui.trainer import reward_rules as rr

T = rr.Tags()
correct = rr.make_correctness(T)
WHY = "In April she sold 48 clips, in May half as many: 48 / 2 = 24, so 48 + 24 = 72."


def full(ans: str, reasoning: str = WHY) -> str:
    return f"<think>{reasoning}</think>\n<answer>{ans}</answer>"


def paid(ans: str, gold: str = "72") -> float | None:
    return correct(["q"], [full(ans)], answer=[gold])[0]


# -- gold errors: what the user reads ----------------------------------------------------------
def test_gold_error_messages_word_for_word():
    with pytest.raises(rr.GoldError) as info:
        correct(["q"], [full("72")], answer="72")
    assert str(info.value) == ("answer: got one str '72', not one gold per completion "
                               "(pass a list with one gold answer per completion)")
    with pytest.raises(rr.GoldError) as info:  # no fix to suggest: no brackets
        correct(["q"], [full("72")], answer=5)
    assert str(info.value) == "answer: got int, not a list of gold answers"
    assert (info.value.column, info.value.fix) == ("answer", "")


# -- \boxed{...}: the brace matcher ------------------------------------------------------------
@pytest.mark.parametrize("ans, gold, score", [
    ("\\boxed{72}", "72", 1.0),
    ("\\boxed{72} clips", "72", 1.0),             # text after the box stays outside it
    ("\\boxed{\\frac{1}{2}}", "1/2", 1.0),         # nested braces close the box only at the last }
    ("\\boxed{\\frac{1}{2}}", "0.5", 1.0),
    ("\\boxed{72", "72", 0.0),                     # an unclosed box is no answer...
    ("\\boxed{72", "7", 0.0),                      # ...not its text minus the last character
    ("\\boxed{\\frac{1}{2}", "1/2", 0.0),
])
def test_boxed_answers(ans, gold, score):
    assert paid(ans, gold) == score


# -- word answers: compared case- and punctuation-insensitively --------------------------------
@pytest.mark.parametrize("ans, score", [("Paris", 1.0), ("paris.", 1.0), ("  PARIS !", 1.0), ("Paris, France", 0.0)])
def test_word_answers(ans, score):
    assert paid(ans, gold="Paris") == score


# -- TRL's n-gram measure (kept to compare with) -----------------------------------------------
def test_repeated_ngram_share_of_short_sequences():
    # fewer items than n: no n-gram at all, nothing repeats; exactly n: one n-gram, distinct
    assert rr.repeated_ngram_share([7], 3) == 0.0
    assert rr.repeated_ngram_share([7, 7, 7], 3) == 0.0
    assert rr.repeated_ngram_share([7, 7, 7, 7], 3) == 0.5  # (7,7,7) twice: 1 - 1/2


# -- counter loops: which iterations of a run of near copies are charged -----------------------
def _pairs(*near: bool, period: int = 64, first: int = 0) -> list[tuple[int, int, int, bool]]:
    """(period, start, end, near) of consecutive iterations, as counter_loop_share builds them:
    iteration k spans [first + k * period, first + (k + 1) * period)."""
    return [(period, first + (k + 1) * period, first + (k + 2) * period, n) for k, n in enumerate(near)]


@pytest.mark.parametrize("pairs, charged", [
    # 64-character iterations: a 128-character span is seen a third time from the 4th iteration
    # (ceil(128 / 64) + 2 = 4), so 3 near pairs (4 iterations) loop; the 3rd and 4th are charged
    (_pairs(True, True, True), [(128, 192), (192, 256)]),
    (_pairs(True, True), []),                                    # 3 iterations: not yet
    (_pairs(False, True, True, True), [(192, 256), (256, 320)]),  # the run starts at the 2nd pair
    (_pairs(False, True, True), []),
    (_pairs(True, False, True, True), []),                       # two short runs are not one loop
    (_pairs(True, True, True, True, True), [(128, 192), (192, 256), (256, 320), (320, 384)]),
    # long iterations (200 characters): min_count (3) decides, from the 3rd iteration on
    (_pairs(True, True, period=200), [(400, 600)]),
    (_pairs(True, period=200), []),
    # the threshold depends on the period, not on where the run starts
    (_pairs(True, True, first=1000), []),
])
def test_looped_iterations(pairs, charged):
    assert rr._looped_iterations(pairs, rr.LOOP_SPAN_CHARS, rr.LOOP_MIN_COUNT) == charged
