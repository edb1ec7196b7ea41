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


# -- counter loops: "the same but for one word", inside a longer text ----------------------------
@pytest.mark.parametrize("alphabet", ["ab !", "abcdefgh 12", "a\u00e1 b1", "\u0430\u0431 1"])
def test_one_change_inside_a_longer_text(alphabet):
    """reward_rules._one_change against the character-by-character rule of test_rewards_fast_paths,
    with the two iterations inside a longer text (text before x and after end), and changed
    stretches of every length around the 24-character limit."""
    from test_rewards_fast_paths import _one_change_by_characters

    import random

    rng = random.Random(alphabet)
    letters = alphabet.replace(" ", "")
    agreed = {True: 0, False: 0}
    for _ in range(3000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 70)))
        i = rng.randrange(len(a) + 1)
        j = min(len(a), i + rng.randint(0, 30))
        b = a[:i] + "".join(rng.choice(letters if rng.random() < 0.8 else alphabet)
                            for _ in range(rng.randint(0, 30))) + a[j:]
        if not b:
            continue
        head = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        tail = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        text = (head + a + b + tail).lower()
        x, y, end = len(head), len(head) + len(a), len(head) + len(a) + len(b)
        folded = text.translate(rr._FOLD_DIGITS)
        raw, unit = (text.encode("ascii"), 1) if text.isascii() else (text.encode("utf-32-be"), 4)
        want = _one_change_by_characters(text[x:y], text[y:end])
        assert rr._one_change(text, folded, raw, unit, x, y, end) == want, (head, a, b, tail)
        agreed[want] += 1
    assert agreed[True] > 50 and agreed[False] > 200  # both answers were exercised (fewer "one change": at most one number may differ)


# -- symbolic answers: what is refused before any parser sees it -------------------------------
@pytest.mark.parametrize("expr, costly", [
    ("(((((1)))))", False), ("((((((1))))))", True),        # nesting: at most 5 deep
    ("(1(1(1(1(1(1))))))", True),                           # 6 deep with values between
    ("()()()()()()", False), ("()(((((1)))))", False),      # closed groups do not add up
    ("(()(((((1)))))", True),
    ("(X(X(X(X(X(X", True), ("X+X+X+X+X+X", False),
    ("(((1)))", False),
    ("2^2+3^3", False), ("2^2+3^3+4^4", True),              # at most 2 carets
    ("3!", False), ("3!+4!", True), ("123!", True),         # one factorial, of at most 2 digits
    ("1" * 20, False), ("1" * 21, True),                    # literals of at most 20 digits
    ("2^", True), ("2^{}", True), ("2^{3", True), ("2^{}x}", True),   # no exponent, or unclosed
    ("2^{3}", False), ("2^{10}", False), ("2^{123}", True), # exponents: short, no 3-digit number
    ("x^{a+b+c+dd}", False), ("x^{a+b+c+d+e}", True),       # at most 8 characters
    ("2^{3}^2", False), ("2^{{3}}", True),                  # flat exponents only
    ("99^{99}", False), ("(99^{99})^{9}", True),            # about the digits a power builds: 400
])
def test_too_costly(expr, costly):
    assert rr._too_costly(expr) is costly


def test_a_symbolic_answer_without_math_verify_is_never_paid(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "math_verify" else real(name, *a))
    assert rr.answers_match("\\frac{2\\sqrt{2}}{2}", "\\sqrt{2}") is False


def test_a_symbolic_answer_past_the_deadline_is_not_paid(monkeypatch):
    def too_slow(gold, ans):
        raise rr._Deadline()

    monkeypatch.setattr(rr, "_math_verify_cached", too_slow)
    assert rr.answers_match("\\frac{2\\sqrt{2}}{2}", "\\sqrt{2}") is False


def test_math_verify_timeout_notices_are_filtered_out_and_nothing_else():
    import logging

    quiet = rr._QuietTimeoutNotice()
    notice = logging.LogRecord("math_verify.parser", logging.WARNING, __file__, 1,
                               "Timeout is disabled as timeout_seconds is None", None, None)
    other = logging.LogRecord("math_verify.parser", logging.WARNING, __file__, 1, "timeout is disabled (lower case)",
                              None, None)
    assert quiet.filter(notice) is False and quiet.filter(other) is True


@pytest.mark.parametrize("expr, costly", [
    ("(12^{3})^{99}", True),     # 3 x 99 = 297 powers of a 2-digit base: ~594 digits
    ("(100^{1})^{99}", False),   # 1 x 99 x 3 digits = 297
    ("(10^{20})^{10}", False),   # exactly 400: the limit itself is allowed
])
def test_too_costly_power_digits(expr, costly):
    assert rr._too_costly(expr) is costly


@pytest.mark.parametrize("expr, shape", [
    ("x = 3", {"=": 1}),
    ("\\sqrt{2} \\lor 1", {"\\lor": 1}),      # whitelisted commands are value-forming, others count
    ("1 or 2", {"or": 1}),                    # words of two letters or more count
    ("1 . . 2", {"...": 1}),                  # an ellipsis between values
    ("(1, 2), 3", {",": 1}),                  # a comma inside brackets is the tuple's own
    ("(1, 2) = 3", {"=": 1}),
    ("x \u2264 3", {"\u2264": 1}),
    ("1 OR 2 or 3", {"or": 2}),               # counted, in any case
    ("1 \\lor 2 \\lor 3", {"\\lor": 2}),
    ("1 = 2 = 3", {"=": 2}),
    ("X, 1", {",": 1}), ("(1 X, 2)", {}),     # a letter is no bracket
    ("((1), 2)", {}),                         # nested brackets: the comma is still inside
])
def test_shape_of_an_expression(expr, shape):
    from collections import Counter

    assert rr._shape(expr) == Counter(shape)


@pytest.mark.parametrize("ans, gold, one", [
    ("x = 3", "x = 2", True),           # the gold has a relation: so may the answer
    ("(1, 2)", "(1)", False),           # more list items than the gold
    ("(1, 2)", "(3, 4)", True),
    ("1 or \\sqrt{2}", "\\sqrt{2}", False),
])
def test_one_expression(ans, gold, one):
    assert rr._one_expression(ans, gold) is one


@pytest.mark.parametrize("text, mathy", [("\\pi", True), ("\\Delta", True), ("x^2", True), ("Paris", False)])
def test_looks_mathy(text, mathy):
    assert rr._looks_mathy(text) is mathy


@pytest.mark.parametrize("a, b, one", [
    ("abc`def", "abc def", False),        # the changed character is a space (XOR 0x40, the lowest bit 6)
    ("abc`def", "abc!def", True),
    ("a" + "x" * 22 + "ab", "!" + "x" * 22 + "!b", True),   # first to last difference: 23 apart
    ("a" + "x" * 23 + "ab", "!" + "x" * 23 + "!b", False),  # 24 apart: more than one word's change
])
def test_one_change_at_its_limits(a, b, one):
    from test_rewards_fast_paths import _one_change_by_characters

    head = "so "
    text = head + a + b + " end"
    x, y, end = len(head), len(head) + len(a), len(head) + len(a) + len(b)
    raw = text.encode("ascii")
    assert _one_change_by_characters(a, b) is one
    assert rr._one_change(text, text.translate(rr._FOLD_DIGITS), raw, 1, x, y, end) is one


# -- the deadline on symbolic parses -----------------------------------------------------------
def _sleeping(seconds: float):
    import time

    def fn():
        # 50 ms naps: few wake-ups, so the CPU time stays far below any budget even under a tracer
        # (mutmut's stats run: 5 ms naps used up a 10 ms CPU budget in 0.86 s there)
        stop = time.monotonic() + seconds
        while (left := stop - time.monotonic()) > 0:
            time.sleep(min(0.05, left))
        return "done"
    return fn


def _burning(seconds: float):
    import time

    def fn():
        stop = time.monotonic() + seconds
        n = 0
        while time.monotonic() < stop:
            n += 1
        return "done"
    return fn


def _timed(fn, *args, **kw):
    import time

    t0 = time.monotonic()
    try:
        return fn(*args, **kw), time.monotonic() - t0
    except rr._Deadline:
        return "deadline", time.monotonic() - t0


def test_deadline_counts_cpu_time_not_sleep():
    # 0.3 s asleep uses no CPU: within a 0.05 s CPU budget (and under the 1 s wall ceiling)
    assert _timed(rr._call_with_deadline, _sleeping(0.3), 0.05)[0] == "done"
    # burning CPU is stopped soon after 0.05 s of it (the watchdog looks every 5 ms)
    got, took = _timed(rr._call_with_deadline, _burning(5.0), 0.05)
    assert got == "deadline" and took < 0.8


def test_deadline_wall_ceiling():
    # a call that sleeps is ended by the wall-clock ceiling: max(1 s, 50 x the CPU budget) ...
    got, took = _timed(rr._call_with_deadline, _sleeping(10.0), 0.01)
    assert got == "deadline" and 0.9 < took < 1.8
    # ... or the one given
    got, took = _timed(rr._call_with_deadline, _sleeping(10.0), 0.01, wall_seconds=0.1)
    assert got == "deadline" and took < 0.7


def test_deadline_without_a_thread_cpu_clock_is_wall_time(monkeypatch):
    monkeypatch.setattr(rr, "_thread_cpu_clock", lambda: None)
    assert _timed(rr._call_with_deadline, _sleeping(0.02), 1.0)[0] == "done"
    got, took = _timed(rr._call_with_deadline, _sleeping(10.0), 0.05)
    assert got == "deadline" and took < 0.7


def test_deadline_watchdog_is_a_named_daemon_thread():
    import threading

    def look():
        return [(t.name, t.daemon) for t in threading.enumerate() if t.name == "reward-deadline"]

    assert rr._call_with_deadline(look, 1.0) == [("reward-deadline", True)]
    assert not [t for t in threading.enumerate() if t.name == "reward-deadline"]  # joined on return
