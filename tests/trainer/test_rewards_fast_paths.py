"""The reward rules' fast paths give the general path's answers.

extract_answer reads plain ASCII completions whose every '<' opens an exact tag by positions
(reward_rules._extract_exact), everything else through views and slices (_extract_general);
the census counts tags by finding each '<'. These tests run both ways over every arrangement
of tags a model (or an attacker) can write, so a fast path can never pay what the rule refuses."""

from __future__ import annotations

import itertools
import random

import pytest

from grpo_tui.trainer import reward_rules as rr

TAGS = rr.Tags()
PIECES = ["<think>", "</think>", "<answer>", "</answer>", "72", " so ", "\n", "<", "a<b", "71 "]


def _arrangements():
    yield from ("", "72", "<answer>72</answer>", "<think>why</think><answer>72</answer>")
    for n in range(1, 5):  # every sequence of up to four pieces: tags in every order, nested, repeated
        for seq in itertools.product(PIECES, repeat=n):
            yield "".join(seq)
    rng = random.Random(11)
    for _ in range(3000):  # longer random ones
        yield "".join(rng.choice(PIECES) for _ in range(rng.randint(5, 14)))


def test_the_exact_tag_path_answers_as_the_general_path_on_every_arrangement():
    fast = 0
    for text in _arrangements():
        if rr._only_exact_tags(text, TAGS) and text.isascii():
            fast += 1
            assert rr._extract_exact(text, TAGS) == rr._extract_general(text, TAGS), repr(text)
        assert rr.extract_answer(text, TAGS) == rr._extract_general(text, TAGS), repr(text)
    assert fast > 5000  # the comparison really ran the fast path


@pytest.mark.parametrize("text", ["<think>" + "<" * 70 + "</think><answer>72</answer>",
                                  "<answer>" * 80 + "</answer>" * 80, "<" * 200, "a < b " * 100])
def test_the_census_counts_as_str_count_does_with_many_or_few_angle_brackets(text):
    opens, counts = rr._census(text, TAGS.all)
    assert opens == text.count("<")
    assert counts == tuple(text.count(t) for t in TAGS.all)


def test_the_census_counts_tags_that_do_not_start_with_an_angle_bracket():
    tags = rr.Tags("[think]", "[/think]", "[answer]", "[/answer]")
    text = "[think]a[/think][answer]72[/answer][answer]"
    assert rr._census(text, tags.all)[1] == (1, 1, 2, 1)
    assert rr.extract_answer(text, tags) is None  # two opening answer tags


def _one_change_by_characters(a: str, b: str) -> bool:
    """The rule of reward_rules._one_change, one character at a time (slow and plain): b is a with
    one whitespace-free stretch changed, and in that stretch (from its word's start) at most one
    number differs."""
    import re

    if a == b:
        return True
    pre = 0
    while pre < min(len(a), len(b)) and a[pre] == b[pre]:
        pre += 1
    word = max([i + 1 for i in range(pre) if a[i].isspace()], default=0)

    def one_number(sa, sb):
        ra, rb = re.findall(r"\d+", sa), re.findall(r"\d+", sb)
        return len(ra) == len(rb) and sum(u != v for u, v in zip(ra, rb)) <= 1

    if len(a) == len(b):
        last = max(i for i in range(len(a)) if a[i] != b[i])
        return (last - pre < rr._ONE_CHANGE_CHARS and not any(ch.isspace() for ch in a[pre:last + 1] + b[pre:last + 1])
                and one_number(a[word:last + 1], b[word:last + 1]))

    def word_end(s):
        return next((i for i in range(pre, len(s)) if s[i].isspace()), len(s))

    ea, eb = word_end(a), word_end(b)
    return (ea - pre <= rr._ONE_CHANGE_CHARS and eb - pre <= rr._ONE_CHANGE_CHARS and a[ea:] == b[eb:]
            and one_number(a[word:ea], b[word:eb]))


@pytest.mark.parametrize("alphabet", ["ab 12", "ab 12\n", "аб 12×", "a 第1"])
def test_one_change_by_integer_xor_agrees_with_a_character_by_character_reading(alphabet):
    """The XOR tricks (first difference = top set bit, last = lowest) in ASCII and in UTF-32."""
    rng = random.Random(alphabet)
    agreed = {True: 0, False: 0}
    for _ in range(4000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        b = list(a)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):  # replace, insert or delete a character or two
            i = rng.randrange(len(b) + 1)
            op = rng.choice("rid")
            if op == "r" and i < len(b):
                b[i] = rng.choice(alphabet)
            elif op == "i":
                b.insert(i, rng.choice(alphabet))
            elif op == "d" and i < len(b):
                del b[i]
        b = "".join(b)
        text = (a + b).lower()
        folded = text.translate(rr._FOLD_DIGITS)
        raw, unit = (text.encode("ascii"), 1) if text.isascii() else (text.encode("utf-32-be"), 4)
        want = _one_change_by_characters(text[:len(a)], text[len(a):])
        got = rr._one_change(text, folded, raw, unit, 0, len(a), len(text))
        assert got == want, (a, b)
        agreed[got] += 1
    assert agreed[True] > 300 and agreed[False] > 300  # both answers were exercised
