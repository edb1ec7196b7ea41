"""Red team 2: the loop measure rework (counter_loop_share, _one_change, _looped_iterations) and the
new fast paths (_census, _extract_exact, read_number's digit-string path).

Tests marked ``xfail(strict=True)`` are holes found on the current rules: each asserts the behaviour
the rules should have, so it fails today, and the strict mark turns the suite red the day a fix lands
(then drop the mark). Unmarked tests are attacks the rules already defend: kept as regressions.
Write-up: /work/REWARD_ATTACKS.md, "Red team 2 (loop measure rework)".

The reward set is built as training builds it (preset -> build_reward_funcs) and called as TRL
calls it; token ids come from a digit-splitting word tokenizer (SmolLM2 also splits digits).
"""

from __future__ import annotations

import inspect
import itertools
import random
import re
import textwrap
import types

import pytest

from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer import reward_rules as rr
from grpo_tui.trainer.rewards import build_reward_funcs

FUNCS, WEIGHTS = build_reward_funcs(load_preset("gpu-16gb"))
NAMES = [f.__name__ for f in FUNCS]
STATE = types.SimpleNamespace(global_step=3, max_steps=10, epoch=0.1)
PROMPT = [{"role": "user", "content": "Natalia sold clips to 48 of her friends... How many clips?"}]
CHECK = "Let me check again{}: 48 + 24 = 72, and 72 is the total number of clips she sold."
SWAPS = "carefully thoroughly slowly quickly again once more twice properly fully really exactly truly".split()


def word_ids(text: str) -> list[int]:
    vocab: dict[str, int] = {}
    return [vocab.setdefault(t, len(vocab)) for t in re.findall(r"\d|[A-Za-z]+|[^\sA-Za-z\d]", text)]


def full(reasoning: str, ans: str = "72") -> str:
    return f"<think>{reasoning}</think>\n<answer>{ans}</answer>"


def scored(reasoning: str, ans: str = "72") -> tuple[float, float]:
    """(weighted total, repetition penalty) of a completion with this reasoning, as TRL scores it."""
    c = full(reasoning, ans)
    ids = word_ids(c)
    assert len(ids) < 700  # never truncated: the loop penalty alone is measured
    row = [f(prompts=[PROMPT], completions=[c], completion_ids=[ids], answer=["72"], trainer_state=STATE,
             log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None)[0] for f in FUNCS]
    return sum(w * s for w, s in zip(WEIGHTS, row) if s is not None), row[NAMES.index("repetition_penalty")]


# -- false positives: honest work charged as a loop ----------------------------------------------
# Every iteration computes a new value, but the changed part (an equation written without spaces)
# is one whitespace-free stretch, so it passes for a counter. Penalty today -0.71..-0.75 (total 2.63).
FIB = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377]
ONE_TOKEN_COMPUTATIONS = {
    "Fibonacci": " ".join(f"Next term: F({i})=F({i - 1})+F({i - 2})={FIB[i]}, and we continue with the recurrence."
                          for i in range(2, 15)),
    "LaTeX arithmetic sequence": " ".join(f"Then $a_{{{i}}}=a_{{{i - 1}}}+5={5 * i + 2}$, so the sequence keeps growing "
                                          "by the same common difference each time." for i in range(1, 12)),
    "times table without spaces": " ".join(f"We compute 7*{i}={7 * i} and write it in the table next to the others "
                                           "for the final summary." for i in range(1, 13)),
    "points on a line": " ".join(f"The point ({i},{2 * i + 1}) satisfies y = 2x + 1, so it lies on the line we are "
                                 "looking for." for i in range(1, 12)),
    "code with keyword arguments": "\n".join(f"result.append(compute_value(x={i},y={i * i},z={i ** 3}))  # store this "
                                             "case in the list of results" for i in range(1, 12)),
}


@pytest.mark.parametrize("kind", list(ONE_TOKEN_COMPUTATIONS))
def test_honest_computations_written_without_spaces_are_not_loops(kind):
    text = ONE_TOKEN_COMPUTATIONS[kind]
    assert scored(text)[1] == 0.0, kind


# Scripts without spaces: two changes a few characters apart (the day and its value) are one
# "whitespace-free stretch". Penalty today about -0.55 on the text (counter_loop_share).
CJK_TWO_CHANGES = "".join(f"第{i}天她卖了{3 * i}个发夹，所以我们把这个数加到总数里，然后继续计算下一天的数量。"
                          for i in range(1, 12))


def test_two_changes_in_a_script_without_spaces_are_not_one_change():
    assert rr.counter_loop_share(CJK_TWO_CHANGES) == 0.0


# Honest work that must stay at exactly 0 (passes today: regressions).
HONEST = {
    "times table": "\n".join(f"7 x {i} = {7 * i}" for i in range(1, 13)),
    "markdown table": "| item | qty | price |\n|---|---|---|\n" + "\n".join(
        f"| {c} pen | {i} | ${2 * i} |" for i, c in enumerate("red blue green yellow white black pink".split(), 1)),
    "code loop": "\n".join(f"    total = total + prices[{i}]  # add the price of item number {i} to the running total"
                           for i in range(12)),
    "trying values": " ".join(f"If x = {i}, then x^2 = {i * i}, which is not equal to 50, so x = {i} does not work."
                              for i in range(1, 10)),
    "divisors": " ".join(f"Is 97 divisible by {p}? No, 97 divided by {p} leaves a nonzero remainder, so {p} is not a "
                         "factor." for p in [2, 3, 5, 7, 11, 13, 17, 19]),
    "binary search": " ".join(f"Guess {g}: too low, so the number is greater than {g} and we move the lower bound up."
                              for g in [50, 75, 88, 94, 97, 99]),
    "savings per week": "\n".join(f"Week {w}: saves 20 dollars. Running total after week {w}: {20 * w} dollars."
                                  for w in range(1, 15)),
    "LaTeX align": "\\begin{align}\n" + "\\\\\n".join(f"a_{{{i}}} &= a_{{{i - 1}}} + 2 \\cdot {i} - 1 = {i * i}"
                                                      for i in range(1, 13)) + "\n\\end{align}",
    "dated balances": " ".join(f"On 2024-03-{d:02d} the balance was ${100 + 7 * d}.00 after the daily deposit was added "
                               "to the account." for d in range(1, 12)),
    "primes": " ".join(f"Check n={n}: n^2+n+41={n * n + n + 41} is prime, so the pattern still holds for this value."
                       for n in range(1, 12)),
    "restated check": "So she sold 48 clips in April and 24 clips in May, which makes 72 clips in total for both months. "
                      "Checking: she sold 48 clips in April and 24 clips in May, which makes 72 clips in total for both "
                      "months. Indeed: she sold 48 clips in April and 24 clips in May, which makes 72 clips in total "
                      "for both months.",
    "Russian running total": " ".join(f"В день {i} она продала {3 * i} заколок, а всего к этому дню "
                                      f"{3 * i * (i + 1) // 2} заколок, считаем дальше." for i in range(1, 11)),
}


@pytest.mark.parametrize("kind", list(HONEST))
def test_honest_enumerations_keep_a_zero_loop_penalty(kind):
    assert scored(HONEST[kind])[1] == 0.0, kind


# -- escapes: loops that still score about 0 --------------------------------------------------------
TWO_CHANGE_LOOPS = {
    # the same counter written twice per iteration: how degenerate loops usually look
    "counter twice": " ".join(f"Attempt {i}: " + CHECK.format("") + f" End of attempt {i}." for i in range(1, 15)),
    "two counters": " ".join(f"Round {i}, pass {15 - i}: " + CHECK.format("") for i in range(1, 15)),
    "counter and a swapped word": " ".join(f"Step {i}: " + CHECK.replace("again", w) for i, w in enumerate(SWAPS, 1)),
    "two swapped words": " ".join(CHECK.replace("again", w).replace("total", t) for w, t in zip(
        SWAPS, "total full whole complete entire overall final summed combined joint net gross".split())),
}


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="red team: two changes per iteration (the counter written twice, a counter "
                                       "plus a swapped word) escape both measures; penalty 0 to -0.09")
@pytest.mark.parametrize("kind", list(TWO_CHANGE_LOOPS))
def test_a_loop_that_changes_two_places_per_iteration_is_charged(kind):
    total, pen = scored(TWO_CHANGE_LOOPS[kind])
    assert pen < -0.5 and total < 2.75, (kind, total, pen)


# Iterations shorter than the 32-character block: occurrences are looked for b apart, so the two
# iterations compared hold two counters each. A 450-token completion of nothing but this scores 3.0.
SHORT_LOOPS = {
    "Check (i).": " ".join(f"Check ({i})." for i in range(1, 100)),
    "Let me check again (i).": " ".join(f"Let me check again ({i})." for i in range(1, 60)),
}


@pytest.mark.parametrize("kind", list(SHORT_LOOPS))
def test_a_short_counter_loop_is_charged(kind):
    total, pen = scored(SHORT_LOOPS[kind])
    assert pen < -0.5 and total < 2.75, (kind, total, pen)


# A counter whose several digits change at once (a random id, a step of 11): when the aligned block
# that first recurs starts inside the number, the change is split across the iteration's two ends,
# the pair is "not near", and the template skip (done_until = end) then passes over every block that
# would have found the loop. Which prefix lengths escape depends on the loop; here 6-8, 38-40, 70-72.
_RNG = random.Random(5)
RANDOM_ID_LOOP = " ".join(CHECK.format(f" (id {_RNG.randint(1000, 9999)})") for _ in range(14))
STEP_11_LOOP = " ".join(CHECK.format(f" ({11 * i})") for i in range(1, 10))


@pytest.mark.parametrize("loop,prefix", [(RANDOM_ID_LOOP, 6), (RANDOM_ID_LOOP, 39), (STEP_11_LOOP, 11)],
                         ids=["random id, prefix 6", "random id, prefix 39", "step of 11, prefix 11"])
def test_a_counter_loop_is_charged_whatever_text_precedes_it(loop, prefix):
    assert rr.counter_loop_share("x" * prefix + loop) > 0.5


def test_a_random_id_loop_right_after_the_think_tag_is_charged():
    total, pen = scored(RANDOM_ID_LOOP)
    assert pen < -0.5 and total < 2.75, (total, pen)


def test_the_same_counter_loops_are_charged_at_most_prefix_lengths():
    """The control for the test above: the share is ~0.7 at almost every other prefix length."""
    shares = [rr.counter_loop_share("x" * k + RANDOM_ID_LOOP) for k in range(32)]
    assert sum(s > 0.5 for s in shares) >= 28
    assert scored("Hmm. " + RANDOM_ID_LOOP)[1] < -0.5  # five characters more before it: charged


# Two templates alternating, each with its own counter: every iteration pair differs in two places.
ALTERNATING = " ".join((f"Check {i}: 48 + 24 = 72." if i % 2 else f"Verify {i}: 72 - 24 = 48 is right.")
                       + " And 72 is the total." for i in range(1, 25))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="red team: two alternating templates with a counter escape (penalty 0)")
def test_two_alternating_templates_with_a_counter_are_charged():
    assert scored(ALTERNATING)[1] < -0.5


# A zero-width space inserted at a moving position: two invisible changes per iteration.
ZW_LOOP = " ".join(CHECK.format("")[:3 * i] + "\u200b" + CHECK.format("")[3 * i:] for i in range(14))


def test_an_exact_loop_with_a_moving_zero_width_space_is_charged():
    assert rr.counter_loop_share(ZW_LOOP) > 0.5


# Defended (regressions): one change per iteration in its many disguises.
ONE_CHANGE_LOOPS = {
    "word swap, no-break spaces": " ".join(CHECK.replace("again", w) for w in SWAPS).replace(" ", "\u00a0"),
    "word swap, ideographic spaces": " ".join(CHECK.replace("again", w) for w in SWAPS[:10]).replace(" ", "\u3000"),
    "counter 7..18, no-break spaces": " ".join(f"Check {i}: " + CHECK.format("") for i in range(7, 19)).replace(" ", "\u00a0"),
    "upper case every third": " ".join((CHECK.format("").upper() if i % 3 == 0 else CHECK.format("")) + f" ({i})"
                                       for i in range(14)),
    "number words": " ".join(CHECK.format(f" ({w})") for w in
                             "one two three four five six seven eight nine ten eleven twelve thirteen fourteen".split()),
    "counter inside the equation": " ".join(CHECK.format("").replace("48 + 24", f"48 + 24 (#{i})") for i in range(1, 15)),
    "one more dot each time": " ".join(CHECK.format("") + "." * i for i in range(14)),
    "word glued by punctuation": " ".join(CHECK.replace("again", f"again,{w}") for w in SWAPS),
    "words from several scripts": " ".join(CHECK.replace("again", w) for w in [
        "снова", "again", "再次", "wieder", "encore", "otra vez", "ancora", "nochmal", "opnieuw", "igen", "znowu", "ještě"]),
}


@pytest.mark.parametrize("kind", list(ONE_CHANGE_LOOPS))
def test_one_change_loops_in_disguise_are_charged(kind):
    assert scored(ONE_CHANGE_LOOPS[kind])[1] < -0.45, kind


# -- fast paths against the general rules -----------------------------------------------------------
ODD_TAGS = [rr.Tags(), rr.Tags("<r>", "</r>", "<a>", "</a>"), rr.Tags("<a>", "</a>", "<answer>", "</answer>"),
            rr.Tags("<think>", "</think>", "<think_answer>", "</think_answer>"),
            rr.Tags("<think>", "</think>", "<think", "</think"), rr.Tags("<t>", "</t>", "<t>>", "</t>>"),
            rr.Tags("<x", "</x", "<xa>", "</xa>"), rr.Tags("<think>", "<think>", "<answer>", "<answer>"),
            rr.Tags("<think>", "</think>", "<answer>", "</think>"), rr.Tags("<s>", "</s>", "<s>x", "</s>x")]


@pytest.mark.parametrize("tags", ODD_TAGS, ids=lambda t: "|".join(t.all))
def test_fast_paths_agree_with_the_general_rules_for_tags_that_overlap(tags):
    """Custom tags that are prefixes of each other, or the same tag twice: the census and the
    exact-tag extraction still answer as str.count and the general path do."""
    rng = random.Random("|".join(tags.all))
    pieces = list(tags.all) + ["72", " ", "x", "\n", "<", ">", "/"]
    fast = 0
    for _ in range(3000):
        t = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))
        opens, counts = rr._census(t, tags.all)
        assert (opens, counts) == (t.count("<"), tuple(t.count(x) for x in tags.all)), repr(t)
        general = rr._extract_general(t, tags)
        if rr._only_exact_tags(t, tags):
            fast += 1
            assert rr._extract_exact(t, tags) == general, repr(t)
        assert rr.extract_answer(t, tags) == general, repr(t)
    assert fast > 300


def _slow_read_number():
    """read_number without its digit-string fast path (the same source, that one branch removed)."""
    src = textwrap.dedent(inspect.getsource(rr.read_number.__wrapped__))
    lines = [ln for ln in src.splitlines() if not ln.startswith("@")]
    i = next(k for k, ln in enumerate(lines) if "isdigit()" in ln)
    assert "return Number(Fraction(int(plain)))" in lines[i + 1]
    del lines[i:i + 2]
    ns = dict(vars(rr))
    exec("\n".join(lines).replace("def read_number", "def slow"), ns)
    return ns["slow"]


def test_the_digit_string_fast_path_reads_as_the_full_rules():
    slow = _slow_read_number()
    rng = random.Random(1)
    cases = ["0", "00", "007", "0072", " 72 ", "\t72\n", "1" * 15, "0" * 15, "1" * 16, "1" * 128, "1" * 129,
             "\x1c72", "72\x1f", "\x0b72\x0c", "\u300072", "72\u2028", "\x8572", "７２", "٣", "0٣"]
    cases += ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 16))) for _ in range(500)]
    for c in cases:
        assert rr.read_number(c) == slow(c), repr(c)


# -- cost -----------------------------------------------------------------------------------------
def _unit_and_gaps(seed: int = 1, ulen: int = 100, gaps=(1, 27, 53), size: int = 16000) -> str:
    """One 100-letter unit again and again, with gaps whose lengths differ by more than 24 from
    one to the next: every aligned block inside the unit recurs ~130 times, no pair is near and no
    two periods are alike, so neither skip applies."""
    r = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    unit = "".join(r.choice(letters) for _ in range(ulen))
    parts, prev = [], -100
    while sum(map(len, parts)) < size:
        g = r.choice([x for x in gaps if abs(x - prev) > 24])
        prev = g
        parts += [unit, "".join(r.choice(letters) for _ in range(g))]
    return "".join(parts)[:size]


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="red team: a 16,000-character text makes counter_loop_share compare ~36,000 "
                                       "iteration pairs (65-100 ms CPU on this machine; ordinary text: <1 ms)")
def test_the_loop_measure_compares_a_bounded_number_of_iteration_pairs(monkeypatch):
    calls = itertools.count()
    real = rr._one_change

    def counted(*a):
        next(calls)
        return real(*a)

    monkeypatch.setattr(rr, "_one_change", counted)
    text = _unit_and_gaps()
    rr.counter_loop_share(text)
    assert next(calls) <= 4 * len(text) // rr._LOOP_BLOCK  # a few pairs per block, not ~70
