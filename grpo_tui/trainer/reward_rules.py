"""Reward rules that are hard to game. Pure Python (no torch): cheap, testable, and
usable by the launcher and `grpo-tui rewards audit` before any model is built.

Every ``make_*`` returns a function with TRL's reward signature
``f(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]``
and a stable ``__name__`` (TRL logs ``rewards/<__name__>/mean``, which the app
charts). Completions may be strings or chat message lists; the answer is read
from the assistant's ``content`` only, reasoning may sit in
``reasoning_content`` / ``thinking``.

Scales (the maxima are exported so presets and the registry can check that
format alone never outweighs correctness):

=====================  ===============  ==============================================
component              range            pays for
=====================  ===============  ==============================================
format_strict          {0, 0.5}         exactly <r>reasoning</r><s>answer</s>, nothing else
format_soft            [0, 0.5]         0.125 per tag present exactly once
correctness            {0, 1} or None   the single answer block, after the reasoning, is the gold
overlong_penalty       [-1, 0]          DAPO soft overlong punishment (Eq. 13)
repetition_penalty     [-1, 0]          share of the text that loops (0 on ordinary text)
=====================  ===============  ==============================================

The hack classes each rule closes are listed in docs/rewards.md with the tests
that prove them (tests/test_rewards_hacks.py).
"""

from __future__ import annotations

import ctypes
import functools
import html
import importlib.util
import logging
import math
import re
import threading
import time
import unicodedata
from array import array
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Callable, Sequence

from ..core.run.messages import content_text

FORMAT_STRICT_MAX = 0.5
FORMAT_SOFT_MAX = 0.5
CORRECTNESS_MAX = 1.0
MAX_ANSWER_CHARS = 128  # longer "answers" are a dump, not an answer: scored 0 without parsing
MAX_EXPONENT = 1000  # |exponent| above this is not a real answer (and would build huge ints)
DEFAULT_MIN_REASONING_CHARS = 10  # letters/digits in the reasoning block for it to count as reasoning
MATH_VERIFY_DEADLINE_S = 0.08  # CPU seconds per symbolic answer, on any thread (see _call_with_deadline)

RewardFunc = Callable[..., list]


class GoldError(ValueError):
    """The gold column handed to the correctness reward is malformed (names the column)."""

    def __init__(self, column: str, reason: str, fix: str = ""):
        self.column, self.reason, self.fix = column, reason, fix
        super().__init__(f"{column}: {reason}" + (f" ({fix})" if fix else ""))


@dataclass(frozen=True)
class Tags:
    reasoning_start: str = "<think>"
    reasoning_end: str = "</think>"
    solution_start: str = "<answer>"
    solution_end: str = "</answer>"

    @classmethod
    def from_config(cls, cfg: Any) -> "Tags":
        get = cfg.get if isinstance(cfg, dict) else lambda k, d=None: getattr(cfg, k, d)
        return cls(*(str(get(k) or d) for k, d in (
            ("reasoning_start", "<think>"), ("reasoning_end", "</think>"),
            ("solution_start", "<answer>"), ("solution_end", "</answer>"))))

    @functools.cached_property  # asked a dozen times per completion: computed once per Tags
    def all(self) -> tuple[str, str, str, str]:
        return (self.reasoning_start, self.reasoning_end, self.solution_start, self.solution_end)

    @functools.cached_property
    def angle_only(self) -> bool:
        """Every tag starts with '<' and has no other: then a text in which every '<' opens an
        exact tag can hold no other spelling of one."""
        return _angle_only(self.all)


@functools.lru_cache(maxsize=64)  # asked by every _census miss: once per tag tuple
def _angle_only(tags: tuple[str, ...]) -> bool:
    return all(t.startswith("<") and t.count("<") == 1 for t in tags)


# -- reading completions ------------------------------------------------------------------------
def split_completion(completion: Any) -> tuple[str, str]:
    """(reasoning, content) of a completion: a string is all content; for chat messages the
    assistant messages' ``content`` is the content and ``reasoning_content``/``thinking`` the
    reasoning (kept apart so an answer tag hidden in the reasoning never counts)."""
    if isinstance(completion, str):
        return "", completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        reasoning, content = [], []
        for msg in completion:
            if not isinstance(msg, dict) or msg.get("role", "assistant") != "assistant":
                continue
            r = msg.get("reasoning_content") or msg.get("thinking") or msg.get("reasoning")
            if r:
                reasoning.append(str(r))
            content.append(content_text(msg.get("content")))  # a string, or typed blocks
        return "\n".join(reasoning), "".join(content)
    return "", "" if completion is None else str(completion)


@functools.lru_cache(maxsize=64)
def _loose_tag(tag: str) -> re.Pattern:
    """Every spelling a reader would take for ``tag``: any case, inner spaces, attributes
    (``<ANSWER>``, ``< answer >``, ``<Answer id=1>``). A decoy variant is never ignored: the
    rules count these and insist that the only one present is the exact tag."""
    m = re.fullmatch(r"<\s*(/?)\s*([A-Za-z][\w:.-]*)\s*>", tag)
    if not m:
        return re.compile(re.escape(tag), re.IGNORECASE)
    slash, name = m.groups()
    if slash:
        return re.compile(r"<\s*/\s*" + re.escape(name) + r"\s*>", re.IGNORECASE)
    return re.compile(r"<\s*" + re.escape(name) + r"(?:\s[^<>]{0,64})?\s*/?\s*>", re.IGNORECASE)


_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# Letters that look like Latin ones (Cyrillic, Greek, Armenian): "<\u0430nswer>" reads as <answer>.
# A small fold for tag names (a subset of Unicode's confusables), applied only where tags are counted.
_LOOKALIKES = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u0501\u051b\u051d\u04bb\u04cf\u043a"
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0423\u0406\u0408\u0405"
    "\u03b1\u03bf\u03bd\u03c1\u03ba\u03b9\u03c5\u03c7\u03b5"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7"
    "\u0585\u0578\u057d",
    "aeopcyxijsdqwhlk"
    "ABEKMHOPCTXYIJS"
    "aovpkiuxe"
    "ABEZHIKMNOPTYX"
    "onu")


@functools.lru_cache(maxsize=512)
def _tag_view(text: str) -> str:
    """The text as a reader sees its tags: HTML entities decoded, compatibility forms folded
    (full-width letters and brackets), invisible format characters (zero-width space, soft hyphen,
    bidi marks) dropped -- so a decoy spelled with them is still counted. Plain ASCII is as is."""
    if text.isascii() and "&" not in text:
        return text
    if "&" in text:
        text = html.unescape(text)
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).translate(_LOOKALIKES)


@functools.lru_cache(maxsize=2048)
def _census(text: str, tags: tuple[str, ...]) -> tuple[int, tuple[int, ...]]:
    """('<' count, each tag's exact count) of a text: the numbers every rule asks of the same
    completion, counted once (each count is a pass over the text; the rules asked ~14 each).
    A completion holds a handful of '<': one find per '<' is one pass in all, and a tag that
    starts with '<' (and has no other) occurs exactly where one of them opens it."""
    if _angle_only(tags):
        counts = [0] * len(tags)
        opens, i = 0, text.find("<")
        while i >= 0 and opens < 64:
            opens += 1
            for k, t in enumerate(tags):
                if text.startswith(t, i):
                    counts[k] += 1
            i = text.find("<", i + 1)
        if i < 0:
            return opens, tuple(counts)
    return text.count("<"), tuple(text.count(t) for t in tags)  # tag spam: counts beat a Python loop


def _exact_count(text: str, tag: str, tags: "Tags | None" = None) -> int:
    """text.count(tag), from the census when the tag is one of ``tags``."""
    if tags is not None:
        all_tags = tags.all
        if tag in all_tags:
            return _census(text, all_tags)[1][all_tags.index(tag)]
    return text.count(tag)


def _count(text: str, tag: str, tags: "Tags | None" = None) -> int:
    """Occurrences of the tag in any spelling (see _loose_tag); equals text.count(tag) when
    every occurrence is the exact tag. Fast path: when every '<' in the text opens one of the
    exact tags, no other spelling can be there (counts instead of a regex scan)."""
    view = _tag_view(text)
    if tags is not None and _only_exact_tags(view, tags):
        return _exact_count(view, tag, tags)
    return len(_loose_tag(tag).findall(view))


def _only_exact_tags(text: str, tags: "Tags") -> bool:
    """Every '<' in the text opens one of the exact tags (so no decoy spelling is present)."""
    if not tags.angle_only:
        return False
    opens, counts = _census(text, tags.all)
    return opens == sum(counts)


def _plain_counts(text: str, tags: "Tags") -> tuple[int, ...] | None:
    """Each tag's count in any spelling, read from the census in one step, when the text is plain
    ASCII without '&' (its tag view is itself) and every '<' opens an exact tag (so every spelling
    present is the exact one); None otherwise (the callers then ask _count per tag)."""
    if text.isascii() and "&" not in text and tags.angle_only:
        opens, counts = _census(text, tags.all)
        if opens == sum(counts):
            return counts
    return None


def _exactly_once(text: str, tag: str, tags: "Tags | None" = None) -> bool:
    return _exact_count(text, tag, tags) == 1 and _count(text, tag, tags) == 1


def answer_region(content: str, tags: Tags) -> str | None:
    """The part of the content where an answer may sit: after the reasoning. When reasoning
    tags appear in the content (plain decoding, or a template that pre-filled the opening tag),
    that is what follows the last closing reasoning tag, and the reasoning must be closed; an
    answer tag before it is inside (or before) the reasoning. None when no answer can count."""
    if _only_exact_tags(content, tags):
        i = content.rfind(tags.reasoning_end)
        last_span = (i, i + len(tags.reasoning_end)) if i >= 0 else None
    else:
        ends = list(_loose_tag(tags.reasoning_end).finditer(content))
        last_span = ends[-1].span() if ends else None
    if last_span is None:
        if not _count(content, tags.reasoning_start, tags):
            return content
        return None  # an unclosed reasoning block: everything after its opening is reasoning
    tail = content[last_span[1]:]
    if _count(tail, tags.reasoning_start, tags):
        return None  # a new reasoning block was opened after the last one closed
    head = content[: last_span[0]]
    if _count(head, tags.solution_start, tags) or _count(head, tags.solution_end, tags):
        return None  # an answer tag inside (or before) the reasoning
    return tail


# Characters a tag can start with once a reader's view is taken (_tag_view folds the full-width and
# small less-than signs to '<' and decodes '&lt;'): inside the reasoning they become harmless text.
_QUOTE_FREE = str.maketrans({"<": "[", "\uff1c": "[", "\ufe64": "[", "&": "+"})


def _unquote(text: str, tags: Tags) -> str:
    """A reasoning's text with every tag it quotes dropped (as '[]': a quoted tag's letters are not
    reasoning, so ``<think><think></think></think>`` stays an empty reasoning) and any other '<'
    made plain text: a model restating its instructions ("... between <answer> and </answer>")
    names the tags without opening them."""
    if "<" in text:
        for t in tags.all:
            text = _loose_tag(t).sub("[]", text)
    return text.translate(_QUOTE_FREE)


def mask_reasoning(content: str, tags: Tags) -> str:
    """The content with the tags quoted inside its one reasoning block made plain text. The block
    is found by nesting: an opening reasoning tag inside it opens a quote that a closing one ends
    ("reason between <think> and </think>"), so the block closes where the depth returns to 0.
    A content that does not open with its reasoning (the template pre-filled the opening tag) starts
    at depth 1 when it closes one more block than it opens. Anything else -- a stray closing tag, a
    block left open, two blocks (a decoy ``</think><think x></think>``) -- is left as it is, for
    the rules that refuse it."""
    return _masked(content, tags.all)


@functools.lru_cache(maxsize=1024)  # the format, soft and answer rules ask it of the same content
def _masked(content: str, all_tags: tuple[str, str, str, str]) -> str:
    rs, re_ = all_tags[0], all_tags[1]
    last = content.rfind(re_)
    if last < 0:
        return content  # no exact closing tag: nothing closed (or only a decoy spelling)
    first = content.find(rs)
    body_from = first + len(rs) if 0 <= first < last else 0
    if content.find("<", body_from, last) < 0 and content.find("&", body_from, last) < 0 and (
            content.isascii() or not any(content.find(c, body_from, last) >= 0 for c in "\uff1c\ufe64")):
        return content  # nothing quoted (the common case)
    tags = Tags(*all_tags)
    starts = [(m.start(), m.end(), 1) for m in _loose_tag(rs).finditer(content)]
    ends = [(m.start(), m.end(), -1) for m in _loose_tag(re_).finditer(content)]
    prefilled = len(ends) == len(starts) + 1 and not _loose_tag(rs).match(content.lstrip())
    depth, opened, blocks = (1, 0, []) if prefilled else (0, -1, [])
    for a, b, step in sorted(starts + ends):
        if step > 0 and depth == 0:
            opened = b
        depth += step
        if depth < 0:
            return content  # a stray closing tag
        if step < 0 and depth == 0:
            blocks.append((opened, a))
    if depth != 0 or len(blocks) != 1:
        return content
    a, b = blocks[0]
    return content[:a] + _unquote(content[a:b], tags) + content[b:]


def extract_answer(completion: Any, tags: Tags) -> str | None:
    """The text of the single answer block, after the reasoning; None when there is none or
    several (listing several answers is hedging, not answering), counting unclosed, stray and
    differently-spelled tags. Tags quoted inside the reasoning are its text, not a block."""
    _, content = split_completion(completion)
    if content.isascii() and "&" not in content and _only_exact_tags(content, tags):
        return _extract_exact(content, tags)
    return _extract_general(content, tags)


def _extract_general(content: str, tags: Tags) -> str | None:
    region = answer_region(mask_reasoning(content, tags), tags)  # tags quoted in the reasoning are its text
    if region is None:
        return None
    if not (_exactly_once(region, tags.solution_start, tags) and _exactly_once(region, tags.solution_end, tags)):
        return None
    i = region.find(tags.solution_start) + len(tags.solution_start)
    j = region.find(tags.solution_end)
    if j < i:
        return None
    block = region[i:j]
    if any(_count(block, t, tags) for t in tags.all):
        return None  # "<answer><answer>12</answer></answer>": nested tags are not an answer
    return block.strip()


def _extract_exact(content: str, tags: Tags) -> str | None:
    """extract_answer for the common case, plain ASCII whose every '<' opens an exact tag (so no
    decoy spelling can be there): the same rules by positions in the one text, without the
    slices and views the general path makes (each a pass over ~2,000 characters)."""
    rs, re_, ss, se = tags.all
    content = mask_reasoning(content, tags)  # tags quoted in the reasoning are its text (still ASCII, exact)
    start = 0
    last = content.rfind(re_)
    if last < 0:
        if content.find(rs) >= 0:
            return None  # an unclosed reasoning block
    else:
        start = last + len(re_)
        if content.find(rs, start) >= 0:
            return None  # a new reasoning block after the last one closed
        if content.find(ss, 0, last) >= 0 or content.find(se, 0, last) >= 0:
            return None  # an answer tag inside (or before) the reasoning
    if content.count(ss, start) != 1 or content.count(se, start) != 1:
        return None
    i = content.find(ss, start) + len(ss)
    j = content.find(se, start)
    if j < i:
        return None  # closed before opened
    # No tag can be nested inside: a reasoning tag there would leave reasoning unclosed or start
    # the answer region after this block, and a second answer tag breaks the counts above.
    return content[i:j].strip()


# -- format -------------------------------------------------------------------------------------
def _with_reasoning_block(completion: Any, tags: Tags) -> str:
    """The completion as text with its reasoning block made explicit: reasoning that a chat
    template moved to ``reasoning_content`` is put back in tags, and a completion whose opening
    reasoning tag was pre-filled by the template (it starts inside the reasoning: ``...</think>``)
    gets that tag back."""
    reasoning, content = split_completion(completion)
    content = mask_reasoning(content, tags)  # tags quoted in the reasoning are its text
    if _count(content, tags.reasoning_start, tags):
        return content
    if reasoning.strip():  # the template's parser drew the block's bounds: any tag inside is quoted
        return f"{tags.reasoning_start}{_unquote(reasoning, tags)}{tags.reasoning_end}{content}"
    end, answer = content.find(tags.reasoning_end), content.find(tags.solution_start)
    if _count(content, tags.reasoning_end, tags) == 1 and end >= 0 and (answer < 0 or end < answer):
        return tags.reasoning_start + content
    return content


def has_reasoning(text: str, min_chars: int) -> bool:
    """At least ``min_chars`` letters/digits (a regex that stops there: a long reasoning costs nothing)."""
    if min_chars <= 0:
        return True
    return _alnum_run(min_chars).match(text) is not None


@functools.lru_cache(maxsize=16)
def _alnum_run(n: int) -> re.Pattern:
    return re.compile(r"(?:[\W_]*[^\W_]){%d}" % n)


def reasoning_text(completion: Any, tags: Tags) -> str | None:
    """The reasoning of a completion (its block, wherever the template put it); None if none."""
    return _reasoning_of(_with_reasoning_block(completion, tags), tags)


def _reasoning_of(text: str, tags: Tags) -> str | None:
    i = text.find(tags.reasoning_start)
    if i < 0:
        return None
    j = text.find(tags.reasoning_end, i)
    return text[i + len(tags.reasoning_start): j] if j >= 0 else text[i + len(tags.reasoning_start):]


def make_format_strict(tags: Tags, *, require_reasoning: bool = True,
                       min_reasoning_chars: int = DEFAULT_MIN_REASONING_CHARS) -> RewardFunc:
    def layout_ok(text: str) -> bool:
        # Procedural on purpose: a regex with lazy bodies around the tags backtracks
        # quadratically on long near-misses (seconds per completion at a few thousand tokens).
        counts = _plain_counts(text, tags)
        if counts is not None:  # the common case: exact and loose counts are the same numbers
            if any((require_reasoning or n) and n != 1 for n in counts):
                return False
        else:
            for t in tags.all:
                n = _count(text, t, tags)
                if (require_reasoning or n) and not (n == 1 and _exact_count(text, t, tags) == 1):
                    return False
        s = text.strip()
        if tags.reasoning_start in s:
            if not s.startswith(tags.reasoning_start):
                return False
            r_end = s.find(tags.reasoning_end)
            if r_end < 0:
                return False
            body = s[len(tags.reasoning_start):r_end]
            if not body.strip() or not has_reasoning(body, min_reasoning_chars):
                return False  # "<think>.</think>": a token reasoning is not the format
            s = s[r_end + len(tags.reasoning_end):].lstrip()
        elif tags.reasoning_end in s:
            return False
        if not (s.startswith(tags.solution_start) and s.endswith(tags.solution_end)):
            return False
        answer = s[len(tags.solution_start):len(s) - len(tags.solution_end)]
        # A value inside a sentence is paid by correctness; the strict layout is the bare value.
        return bool(answer.strip()) and not is_sentence_answer(answer)

    def format_strict(prompts, completions, completion_ids=None, **kwargs):
        return [FORMAT_STRICT_MAX if layout_ok(_with_reasoning_block(c, tags)) else 0.0 for c in completions]

    format_strict.__doc__ = (f"{FORMAT_STRICT_MAX} for exactly {tags.reasoning_start}...{tags.reasoning_end}"
                             f"{tags.solution_start}...{tags.solution_end} and nothing else, the reasoning at "
                             f"least {min_reasoning_chars} letters/digits, the answer not a sentence around its "
                             "value; else 0")
    return format_strict


def make_format_soft(tags: Tags, *, min_reasoning_chars: int = DEFAULT_MIN_REASONING_CHARS) -> RewardFunc:
    per_tag = FORMAT_SOFT_MAX / len(tags.all)

    def score(c: Any) -> float:
        text = _with_reasoning_block(c, tags)
        counts = _plain_counts(text, tags)
        if counts is not None:
            ok = [t for t, n in zip(tags.all, counts) if n == 1]
        else:
            ok = [t for t in tags.all if _exactly_once(text, t, tags)]
        if tags.reasoning_start in ok or tags.reasoning_end in ok:
            body = _reasoning_of(text, tags) or ""
            if not has_reasoning(body, min_reasoning_chars):  # empty reasoning tags are not reasoning
                ok = [t for t in ok if t not in (tags.reasoning_start, tags.reasoning_end)]
        return per_tag * len(ok)

    def format_soft(prompts, completions, completion_ids=None, **kwargs):
        return [score(c) for c in completions]

    format_soft.__doc__ = (f"{per_tag} for each tag that appears exactly once (max {FORMAT_SOFT_MAX}); "
                           "the reasoning tags only around a real reasoning")
    return format_soft


# -- correctness: reading one number ------------------------------------------------------------
# For a numeric gold the answer must be ONE number. The rule is a whitelist: wrappers a reader
# would strip (\boxed, $, \text, "x =", currency, a unit word, thousands commas) come off, and what
# remains must be a single number literal (integer, decimal, 7.2e1, a/b, \frac{a}{b}, m \times
# 10^{k}). Anything else -- arithmetic, a second number, a relation, any separator in any script
# -- is not one number, so no list of hedge separators is needed.
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2009\u202f\u2007\u3000\t"), " ")
_PERCENTS = "%\uff05\u066a\ufe6a\u2030\u2031"  # % full-width, Arabic, small, per mille, per 10k
_WRAPPER_CMDS = re.compile(r"\\(?:text|mathrm|textrm|textbf|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_BOX_CMD = re.compile(r"\\(?:boxed|fbox)\s*\{")
# A prefix a reader drops before the value: "answer" (with the/final/is), a label word, or one
# variable name. A whitelist: anything else with words ("not: 72", "seventy one = 72", "LXXI or: 72",
# "I guess: 72") negates, hedges or equates the value, so it is not one number.
_LABELS = ("answer|total|result|sum|solution|value|amount|number|count|cost|price|difference|product|quotient|"
           "remainder|average|mean|area|perimeter|volume|length|width|height|distance|time|speed|age|profit")
_PREFIX = re.compile(r"^(?:(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*[:=]?\s*"
                     r"|(?:the\s+)?(?:final\s+|total\s+)?(?:" + _LABELS + r")(?:\s+is\s*[:=]?|\s*[:=])\s*"
                     r"|[a-zA-Z](?:_\{?[a-zA-Z0-9]{1,3}\}?|\d{1,2})?\s*[=:]\s*)", re.IGNORECASE)
_CURRENCY = re.compile(r"^(?:€|£|¥|₹|₩|(?:USD|EUR|GBP|Rs\.?)\s*)")
_CURRENCY_TAIL = re.compile(r"(?<=\d)\s*(?:€|£|¥|₹|₩|\$)$")
# Letters a unit word may hold: Latin with accents ("18 dólares") and Cyrillic; not × or ÷.
_L = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0400-\u04ff"
_LETTER_RUN = re.compile(f"[{_L}]+")
_UNIT_WORD = f"[{_L}][{_L}.']{{0,15}}"
_POWER = r"(?:\^\{?[23]\}?|[²³])?"
_UNIT = re.compile(rf"^(?P<num>.*?)\s*(?P<unit>°\s*[CFK]?|{_UNIT_WORD}(?:\s+{_UNIT_WORD}){{0,2}}{_POWER}"
                   rf"(?:\s*(?:/|per\s)\s*[{_L}]{{1,12}}{_POWER})?"
                   # a bare rate after a currency sign: "$18/hour" ("/x" is no rate: two letters, or h)
                   rf"|(?:/|per\s)\s*(?:[{_L}]{{2,12}}|h){_POWER})$")
# Unit words that change the value: "72 thousand" is not 72, and "72 percent" is not 72.
_MAGNITUDE_WORDS = {"k", "bn", "mn", "mil", "mio", "thousand", "thousands", "million", "millions",
                    "billion", "billions", "trillion", "trillions", "hundred", "hundreds", "dozen", "dozens",
                    "lakh", "lakhs", "crore", "crores", "gross", "score", "squared", "cubed", "halves", "thirds",
                    "quarters", "tenths", "hundredths", "thousandths",
                    # the same in the languages whose unit words are read ("18 mil dólares" is 18,000)
                    "mille", "mila", "tausend", "millionen", "milliarde", "milliarden", "millón", "millon",
                    "millones", "milliard", "milliards", "milhão", "milhões", "miliardo", "milioni", "тыс",
                    "тысяча", "тысячи", "тысяч", "млн", "миллион", "миллиона", "миллионов", "млрд"}
_MAGNITUDE_UPPER = {"K", "M", "B", "G", "T"}  # 72M is 72 million; lower-case m is metres
# Words that qualify the value rather than name a unit ("72 or more", "72 at least"), in the
# languages whose unit words are read. "more"/"less"/"fewer"/"times" pass where the question asks
# "how much more ..." (question_allows).
_QUALIFIERS = {"or", "and", "to", "more", "less", "fewer", "least", "most", "than", "over", "under", "about",
               "approx", "approximately", "roughly", "around", "nearly", "almost", "not", "plus", "minus",
               "times", "ish", "maybe", "perhaps", "either", "exactly", "above", "below", "up", "upto",
               "o", "ou", "oder", "y", "und", "et", "más", "mas", "menos", "mehr", "weniger", "moins", "mais",
               "meno", "più", "piu", "circa", "ca", "etwa", "ungefähr", "environ", "aprox", "aproximadamente",
               "cerca", "или", "и", "около", "примерно", "больше", "меньше", "более", "менее", "не", "no",
               "nicht", "pas", "non"}
# A measure word or unit after a number in Chinese, Japanese or Korean ("72个", "72個のクリップ", "72개"):
# a whitelist, then at most a short noun with no character that qualifies or changes the value
# ("72个左右" is about 72, "72万" is 720,000, "72多个" is more than 72).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_TAIL = re.compile(rf"^(?P<num>.*?\d)\s*(?P<unit>[{_CJK}]{{1,8}})$")
_CJK_UNITS = sorted({
    "个", "個", "只", "隻", "件", "本", "张", "張", "人", "名", "位", "元", "块", "塊", "美元", "日元", "円", "天", "日",
    "小时", "小時", "时", "時間", "分钟", "分鐘", "分", "秒", "年", "岁", "歲", "歳", "米", "公里", "千米", "厘米",
    "公分", "克", "千克", "公斤", "斤", "辆", "輛", "台", "棵", "颗", "顆", "朵", "条", "條", "支", "枝", "头", "頭",
    "匹", "杯", "瓶", "盒", "箱", "袋", "包", "页", "頁", "次", "回", "枚", "冊", "册", "道", "题", "題", "箇", "章",
    "개", "명", "원", "마리", "권", "살", "시간", "분", "초", "달러", "점", "번", "장", "대", "병", "잔"}, key=len, reverse=True)
_CJK_NOT = set("左右上下以多或和与與及到至不没沒约約余餘几幾万萬千百亿億兆倍之零〇一二三四五六七八九十两兩半超过過"
               "少差近将將还還可能概许許吗嗎么麼呢吧약이상하정도또는천만백억")


def _cjk_unit_ok(unit: str) -> bool:
    """A CJK tail after the number names what was counted, and nothing else."""
    for u in _CJK_UNITS:
        if unit.startswith(u):
            rest = unit[len(u):]
            return len(rest) <= 4 and not any(ch in _CJK_NOT for ch in rest)
    return False


_INT = r"\d+(?:,\d{3})*"
_PLAIN = re.compile(r"^[-+]?\s*(?:" + _INT + r"(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?$")
_THOUSANDS_BAD = re.compile(r"^\d{4,},")  # "7200,000" is not a thousands grouping
_SLASH_FRAC = re.compile(r"^([-+]?)\s*(\d+)\s*/\s*(\d+)$")
_TEX_FRAC = re.compile(r"^([-+]?)\s*\\frac\s*(?:\{\s*([-+]?\d+)\s*\}\s*\{\s*(\d+)\s*\}|(\d)\s*(\d))$")
_SCI = re.compile(r"^([-+]?\s*\d(?:\.\d+)?)\s*(?:\\times|\\cdot|×|·|\*)\s*10\s*\^\s*(?:\{\s*([-+]?\d+)\s*\}|([-+]?\d))$")


def _ascii_digits(s: str) -> str:
    """Unicode decimal digits (full-width, Arabic-Indic...) to ASCII; superscripts are not
    decimal digits, so ``4²`` stays what it is."""
    if s.isascii():
        return s
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in s)


def _balanced_end(s: str, i: int) -> int:
    """Index just past the brace group whose body starts at i (s[i-1] == '{'); -1 if unclosed."""
    depth = 1
    while i < len(s) and depth:
        depth += {"{": 1, "}": -1}.get(s[i], 0)
        i += 1
    return i if depth == 0 else -1


def _unbox(s: str) -> str | None:
    """Replace the one \\boxed{...} by its content; None for two boxes (a hedge) or an unclosed one."""
    while True:  # "\\boxed{\\boxed{72}}": a box around the whole answer, boxed again, is one box
        t = s.strip()
        m = _BOX_CMD.match(t)
        if not m or _balanced_end(t, m.end()) != len(t) or not _BOX_CMD.match(t[m.end(): -1].strip()):
            break
        s = t[m.end(): -1].strip()
    boxes = list(_BOX_CMD.finditer(s))
    if not boxes:
        return s
    if len(boxes) > 1:
        return None
    m = boxes[0]
    end = _balanced_end(s, m.end())
    if end < 0:
        return None
    return s[: m.start()] + s[m.end(): end - 1] + s[end:]


def _clean(ans: str) -> str | None:
    """Text of an answer with the wrappers a reader ignores removed (LaTeX spacing, \\left/
    \\right, math delimiters, \\text{}, one \\boxed{}, markdown emphasis); None when the
    answer boxes two things."""
    s = _ascii_digits(ans).translate(_SPACES).replace("\u2212", "-")
    if "\\" in s:  # every replacement but "{,}" starts with a backslash (most answers have none)
        for a, b in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", " "), ("\\:", " "),
                     ("\\ ", " "), ("\\$", "$"), ("\\%", "%"), ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"),
                     ("{,}", ","), ("\\displaystyle", "")):
            s = s.replace(a, b)
    else:
        s = s.replace("{,}", ",")
    s = _unbox(s)
    if s is None:
        return None
    if "\\" in s:
        s = _WRAPPER_CMDS.sub(r"\1", s)
    for d in ("$", "\\(", "\\)", "\\[", "\\]", "**", "__"):  # math delimiters, markdown bold
        s = s.replace(d, " ")
    return " ".join(s.split()).strip(" *`")


def _literal_value(s: str) -> Fraction | None:
    """Exact value of one number literal, or None."""
    s = s.strip()
    m = _SLASH_FRAC.match(s)
    if m:
        num, den = int(m.group(2)), int(m.group(3))
        return Fraction(-num if m.group(1) == "-" else num, den) if den else None
    m = _TEX_FRAC.match(s)
    if m:
        num, den = (m.group(2), m.group(3)) if m.group(2) is not None else (m.group(4), m.group(5))
        v = Fraction(int(num), int(den)) if int(den) else None
        return -v if v is not None and m.group(1) == "-" else v
    m = _SCI.match(s)
    if m:
        mant = _literal_value(m.group(1).replace(" ", ""))
        exp = int(m.group(2) or m.group(3))
        if mant is None or not (1 <= abs(mant) < 10) or abs(exp) > MAX_EXPONENT:
            return None
        return mant * Fraction(10) ** exp
    if not _PLAIN.match(s) or _THOUSANDS_BAD.match(s.lstrip("-+ ")):
        return None
    try:
        d = Decimal(s.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        return None
    if not d.is_finite() or abs(d.adjusted()) > MAX_EXPONENT:
        return None
    return Fraction(d)


@dataclass(frozen=True)
class Number:
    value: Fraction
    percent: bool = False
    sentence: bool = False  # read from a sentence around the value ("She sold 72 clips.")


@functools.lru_cache(maxsize=4096)  # golds repeat every step, answers within a group
def read_number(ans: str, allow: frozenset = frozenset()) -> Number | None:
    """The single number an answer states, or None when it states anything else (arithmetic,
    several numbers, a relation, a magnitude word, a hedge). Percent is kept apart: 72% is not 72.
    ``allow``: qualifier words the question itself asks for ("how much more" -> {"more"}; see
    question_allows). A bare value with wrappers is read first; failing that, a short sentence
    holding exactly one value (_read_sentence)."""
    if len(ans) > MAX_ANSWER_CHARS:
        return None
    plain = ans.strip()
    if plain.isascii() and plain.isdigit() and len(plain) <= 15:  # most golds and answers: no rule to apply
        return Number(Fraction(int(plain)))
    s = _clean(ans)
    if not s or len(s) > MAX_ANSWER_CHARS:
        return None
    if "!" in s:
        s = _BANG_AFTER_WORD.sub("", s)  # "72 clips!" (a "!" after a digit is a factorial)
    s = s.rstrip(".。 ").strip()
    if s.startswith("#"):
        s = _HASHES.sub("", s)  # "#### 72": GSM8K's own answer line (and a markdown heading)
    got = _read_bare(s, allow)
    if got is None and _A_LETTER.search(s):
        got = _read_sentence(s, allow)
    return got


# Patterns of read_number and _read_bare, compiled once (each call looked them up by string).
_BANG_AFTER_WORD = re.compile(rf"(?<=[{_L}{_CJK}])!+$")
_HASHES = re.compile(r"^#{1,6}\s*")
_A_LETTER = re.compile(rf"[{_L}{_CJK}]")
_PAREN_WORDS = re.compile(r"\s*\(([a-zA-Z][a-zA-Z ]{0,30})\)$")
_PAREN_NUMBER = re.compile(r"\(\s*([-+]?\s*[\d.,]+)\s*\)")
_SI_GROUPED = re.compile(r"[-+]?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?")
_ENDS_IN_DIGIT = re.compile(r"\d$")


def _read_bare(s: str, allow: frozenset) -> Number | None:
    s = _PREFIX.sub("", s, count=1).strip()
    s = _CURRENCY.sub("", s).strip()
    s = _CURRENCY_TAIL.sub("", s).strip()  # "72 €"
    if ")" in s:
        s = _PAREN_WORDS.sub(r" \1", s)  # "72 (clips)"
        m = _PAREN_NUMBER.fullmatch(s)  # "(-5)"
        if m:
            s = m.group(1)
    if " " in s and _SI_GROUPED.fullmatch(s):  # "1 818" (SI grouping)
        s = s.replace(" ", "")
    percent = False
    if s and s[-1] in _PERCENTS:
        percent, s = True, s[:-1].strip()
    elif s and (m := _CJK_TAIL.match(s)):
        if not _cjk_unit_ok(m.group("unit")):
            return None  # "72万", "72个左右": another value, or a hedge
        s = m.group("num").strip()
    elif s:
        m = _UNIT.match(s)
        if m and m.group("num") and _ENDS_IN_DIGIT.search(m.group("num")):
            unit = m.group("unit").strip()
            words = _LETTER_RUN.findall(unit.lower())
            joined = "".join(words)
            if joined.startswith(("percent", "pct")) or words[:2] == ["per", "cent"]:
                percent = True
            elif unit in _MAGNITUDE_UPPER or (words and words[0] in _MAGNITUDE_WORDS):
                return None  # "72 thousand", "72k", "72 squared": another value
            elif _REFUSED_WORDS.intersection(words) - allow:
                return None  # "72 or more": a range, not a number; "72 is wrong": a negation
            s = m.group("num").strip()
            if s and s[-1] in _PERCENTS:
                return None  # "72% apples"
    s = _CURRENCY.sub("", s).strip()
    m = _MIXED.fullmatch(s)  # "2 1/2": a whole number and a proper fraction are one value
    if m and 0 < int(m.group(3)) < int(m.group(4)):
        whole = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
        return Number(-whole if m.group(1) == "-" else whole, percent)
    v = _literal_value(s)
    return Number(v, percent) if v is not None else None


_MIXED = re.compile(r"([-+]?)\s*(\d{1,9})\s+(\d{1,9})\s*/\s*(\d{1,9})")


# -- a sentence around the value ------------------------------------------------------------------
# "She sold 72 clips.", "Therefore, the answer is 18.", "Total clips: 72", "La respuesta es 72." hold
# exactly one value: an honest answer (issue 25 measured how often small models write them). What
# makes such a sentence a hedge or another value is refused: a second value in any form (digits,
# spelled out, Roman numerals), a negation, a hedge or range word, a magnitude after the value, and
# any character beyond letters, digits and plain punctuation (a relation, a separator, "~", "+", "?").
# A missed hedge word cannot buy reward: one value is read, and it alone must equal the gold.
_SENTENCE_CHARS = re.compile(r"[\w\s.,:;'’\"()%％٪/\-€£¥₹₩，。：]*")
_SENTENCE_VALUE = re.compile(r"\d+(?:[.,]\d+)*(?:/\d+)?")
_SENTENCE_NOT = _QUALIFIERS - {"and", "to", "up", "exactly", "y", "und", "et", "и"} | {
    "no", "nor", "never", "none", "neither", "nope", "wrong", "incorrect", "false", "untrue", "except", "unless",
    "probably", "possibly", "likely", "unlikely", "guess", "guessing", "guessed", "unsure", "uncertain", "assume",
    "assuming", "suppose", "supposing", "might", "could", "would", "if", "whether", "estimate", "estimated", "some",
    "several", "between", "range", "beyond", "exceeds", "exceeding", "within", "cannot", "close", "nearest",
    "rounded", "odd", "ni", "nie", "нет", "ни", "nunca", "jamás", "jamais", "kein", "keine", "keinen", "quizás",
    "quizá", "quiza", "vielleicht", "forse", "talvez", "peut", "либо", "может"}
_REFUSED_WORDS = _QUALIFIERS | _SENTENCE_NOT  # after a bare value ("72 is wrong") as in a sentence
_SPELLED = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty",
    "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion", "trillion", "dozen",
    "dozens", "half", "halves", "twice", "double", "triple", "thrice", "quarter", "quarters",
    "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "doce", "trece", "catorce", "quince",
    "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa", "cien", "ciento",
    "deux", "trois", "quatre", "cinq", "sept", "huit", "neuf", "dix", "douze", "treize", "quatorze", "quinze",
    "seize", "vingt", "trente", "quarante", "cinquante", "soixante", "zwei", "drei", "vier", "fünf", "sechs",
    "sieben", "acht", "neun", "zehn", "elf", "zwölf", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig",
    "siebzig", "achtzig", "neunzig", "hundert", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь",
    "девять", "десять", "сто"} | _MAGNITUDE_WORDS - {"k", "score", "gross", "mn"}
_ROMAN = re.compile(r"[IVXLCDM]{2,}")
_CJK_HEDGES = ("或", "约", "約", "左右", "以上", "以下", "多", "不", "没", "沒", "非", "可能", "大概", "也许", "也許",
               "或许", "还是", "還是", "几", "幾", "余", "餘", "超过", "超過", "至少", "最多", "接近", "将近", "將近",
               "倍", "万", "萬", "亿", "億", "약", "이상", "이하", "정도", "또는")
_SENTENCE_MAX_WORDS = 20
_CJK_NUMERALS = re.compile("[零〇一二三四五六七八九十百千万萬两兩]{2,}")


def _read_sentence(s: str, allow: frozenset) -> Number | None:
    """The one value of a short sentence (see above), or None."""
    if not _SENTENCE_CHARS.fullmatch(s) or "=" in s or re.search(rf"/(?!\d|[{_L}]{{2}}|h\b)", s):
        return None  # a relation, or "/" that divides by something ("72/x"; "18 dollars/hour" is a rate)
    values = _SENTENCE_VALUE.findall(s)
    if len(values) != 1 or len(s.split()) > _SENTENCE_MAX_WORDS:
        return None
    if any(unicodedata.category(ch) in ("No", "Nl") for ch in s if not ch.isascii()):
        return None  # "72² clips", "½", "Ⅻ": a superscript, a vulgar fraction, a numeral character
    if _CJK_NUMERALS.search(s):
        return None  # "七十一，72个": a second value in Chinese numerals (one character, as in 一共, is a word)
    low = s.lower()
    words = _LETTER_RUN.findall(low)
    if any(w in _SENTENCE_NOT and w not in allow for w in words) or re.search(r"n['’]t\b", low):
        return None
    if any(w in _SPELLED for w in words) or "may" in _LETTER_RUN.findall(s):  # "it may be 72" (not "in May")
        return None
    if any(_ROMAN.fullmatch(w) for w in _LETTER_RUN.findall(s)) or any(h in s for h in _CJK_HEDGES):
        return None
    m = _SENTENCE_VALUE.search(s)
    after = s[m.end():]
    glued = re.match(rf"[{_CJK}]+", after)
    if glued and not _cjk_unit_ok(glued.group()):
        return None  # "72万", "72千": another value
    following = _LETTER_RUN.match(after.lstrip())
    nxt = following.group() if following else ""
    if nxt in _MAGNITUDE_UPPER or nxt.lower() in _MAGNITUDE_WORDS:
        return None  # "72k", "72 thousand", "72 M"
    percent = bool(re.search(r"[%％٪]", s)) or any(w.startswith(("percent", "pct")) for w in words) \
        or "per cent" in low
    token = m.group()
    head = s[:m.start()]
    if re.search(r"(?:^|[\s(])-$", head):
        token = "-" + token  # "-5" after a space; a hyphen glued to a word ("clips-72") is not a sign
    v = _literal_value(token)
    return Number(v, percent, sentence=True) if v is not None else None


# -- what the question asks for ---------------------------------------------------------------------
# A percent answer, "$5 more" or "72 times" is the honest answer to a question that asks for a
# percentage, "how much more" or "how many times" -- and a hedge or another value anywhere else.
_ASKS_PERCENT = re.compile(
    r"\b(?:what|which)\s+(?:(?:is|was|are|were|will|would|be|the|a|an|his|her|their|its|of|this|that)\s+){0,3}"
    r"(?:percent(?:age)?|per\s+cent)\b|\bhow\s+(?:many|much)\s+(?:percent|per\s+cent)\b"
    r"|\b(?:as|in)\s+(?:a\s+)?(?:percent(?:age)?s?|per\s+cent)\b", re.IGNORECASE)
_ASKS_COMPARATIVE = re.compile(r"\bhow\s+(?:much|many)\s+(?:[a-z]+\s+)?(more|less|fewer)\b", re.IGNORECASE)
_ASKS_TIMES = re.compile(r"\bhow\s+many\s+times\b", re.IGNORECASE)
_QUESTION = re.compile(r"(?:[^.?!。？\n]|\.(?=\S))*[?？]")  # a sentence ending in '?' ("2.5" stays whole)
_CHAT_MARKUP = re.compile(r"<\|[^|<>]{1,40}\|>|<(?:start|end)_of_turn>|\[/?INST\]|<s>|</s>")


def question_text(prompt: Any) -> str:
    """The question of a prompt: the last user message of a chat, else the text."""
    if isinstance(prompt, dict):
        prompt = [prompt]
    if isinstance(prompt, (list, tuple)):
        users = [content_text(m.get("content")) for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else ""
    return "" if prompt is None else str(prompt)


@functools.lru_cache(maxsize=1024)
def question_allows(question: str) -> frozenset:
    """What the question asks for that a bare answer would otherwise refuse: "percent" (a percent
    answer to "What percentage ...?"), "more"/"less"/"fewer" ("How much more ...?"), "times"
    ("How many times ...?"). Read from its questions (sentences ending in '?') and its last sentence,
    so "If 20% of them are red, how many are red?" allows nothing."""
    text = _CHAT_MARKUP.sub("\n", question)  # a prompt rendered by a chat template: its special tokens
    parts = [p for p in re.split(r"(?<=[.!?。？])\s+|\n+", text.strip()) if p.strip()]
    asked = " ".join(_QUESTION.findall(text) + parts[-1:])
    allow = set()
    if _ASKS_PERCENT.search(asked):
        allow.add("percent")
    allow.update(w.lower() for w in _ASKS_COMPARATIVE.findall(asked))
    if _ASKS_TIMES.search(asked):
        allow.add("times")
    return frozenset(allow)


def is_sentence_answer(ans: str) -> bool:
    """The answer states its value inside a sentence (paid by correctness; format_strict withholds
    its share for the extra words)."""
    plain = ans.strip()
    if not plain or (plain.isascii() and plain.isdigit()):
        return False
    got = read_number(ans)
    return got is not None and got.sentence


# -- correctness: the symbolic path (golds that are not one number) ----------------------------
# One expression built from value-forming tokens. A relation, logic or separator character is
# accepted only as often as the gold itself uses it ("x = 3", an interval, a tuple).
_EXPR_CHARS = re.compile(r"[0-9a-zA-Z\s+\-*/^_(){}\[\].!']")
_EXPR_CMDS = {"frac", "sqrt", "pi", "cdot", "times", "div", "infty", "circ", "degree", "sin", "cos", "tan", "cot",
              "sec", "csc", "log", "ln", "exp", "alpha", "beta", "gamma", "delta", "theta", "lambda", "mu",
              "sigma", "phi", "omega", "arcsin", "arccos", "arctan", "mathbb", "mathrm", "text"}
_CMD = re.compile(r"\\([a-zA-Z]+)")
_MAX_DEPTH = 5  # 60-deep braces made the parser take 5 s
_MAX_CARETS = 2
_MAX_LITERAL_DIGITS = 20
_MAX_POWER_DIGITS = 400  # product of the exponents x the widest literal: about the digits a power builds


def _depth(s: str) -> int:
    d = best = 0
    for ch in s:
        if ch in "({[":
            d += 1
            best = max(best, d)
        elif ch in ")}]":
            d -= 1
    return best


def _too_costly(s: str) -> bool:
    """Structures whose evaluation can blow up (9^{9^{9}}, 9^{9}!, deep nesting, huge literals):
    refused before any parser sees them."""
    if _depth(s) > _MAX_DEPTH or s.count("^") > _MAX_CARETS or s.count("!") > 1:
        return True
    if any(len(d) > _MAX_LITERAL_DIGITS for d in re.findall(r"\d+", s)):
        return True
    for m in re.finditer(r"\^\s*", s):  # exponents: short and flat (no tower, no factorial)
        i = m.end()
        if i >= len(s):
            return True
        if s[i] == "{":
            end = _balanced_end(s, i + 1)
            if end < 0:
                return True
            e = s[i + 1: end - 1]
        else:
            e = s[i]
        if not e.strip() or len(e) > 8 or re.search(r"[{^!]|\d{3,}", e):
            return True
    exps = [int(e) for e in re.findall(r"\^\s*\{?\s*\(?\s*[-+]?(\d+)", s)]
    widest = max((len(d) for d in re.findall(r"\d+", s)), default=1)
    if math.prod(max(1, e) for e in exps) * widest > _MAX_POWER_DIGITS:
        return True  # (99^{99})^{99}: a 19,602-digit integer before any comparison
    for m in re.finditer(r"!", s):  # factorials: of a literal of at most 2 digits
        if not re.search(r"(?<![\d.])\d{1,2}\s*$", s[: m.start()]):
            return True
    return False


def _shape(s: str) -> Counter:
    """What an expression contains besides value-forming tokens: commands outside the
    whitelist, words of 2+ letters, and any other character (relations, separators, CJK)."""
    out: Counter = Counter()
    for m in _CMD.finditer(s):
        if m.group(1) not in _EXPR_CMDS:
            out["\\" + m.group(1)] += 1
    rest = _CMD.sub(" ", s)
    for w in re.findall(r"[a-zA-Z]{2,}", rest):
        out[w.lower()] += 1
    out["..."] += len(re.findall(r"\.\s*\.", rest))  # an ellipsis between values
    depth = 0
    for ch in rest:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == "," and depth > 0:
            continue  # a comma inside brackets belongs to a tuple/interval/set: compared by value
        if not _EXPR_CHARS.match(ch):
            out[ch] += 1
    return out


def _one_expression(ans: str, gold: str) -> bool:
    """The answer is one expression: nothing in its shape that the gold's shape lacks, and no
    more list items (commas, even inside brackets) than the gold has."""
    if ans.count(",") > gold.count(","):
        return False
    a, g = _shape(ans), _shape(gold)
    return all(g.get(k, 0) >= n for k, n in a.items())


class _Deadline(BaseException):
    """Raised inside the worker when a parse ran past its deadline (BaseException so that the
    parser's own ``except Exception`` cannot swallow it)."""


def _thread_cpu_clock() -> Callable[[], float] | None:
    """A reader of this thread's CPU time that another thread can call (Linux, macOS); None elsewhere."""
    try:
        clk = time.pthread_getcpuclockid(threading.get_ident())
        time.clock_gettime(clk)
    except (AttributeError, OSError):
        return None
    return lambda: time.clock_gettime(clk)


def _call_with_deadline(fn: Callable[[], Any], cpu_seconds: float, wall_seconds: float | None = None) -> Any:
    """Run fn on this thread under a CPU-time budget that works off the main thread too
    (math-verify's own timeout uses SIGALRM, which only the main thread can receive). A watchdog
    reads this thread's CPU clock and, past the budget, raises _Deadline in this thread at its next
    bytecode. CPU time, not wall time: the verdict must not depend on what else the machine is doing
    (a wall deadline failed honest answers on a loaded box). A wall-clock ceiling (default 50x the
    budget) still ends a call that the machine starves. Raises _Deadline on time-out."""
    tid = threading.get_ident()
    cpu = _thread_cpu_clock()
    wall = wall_seconds if wall_seconds is not None else max(1.0, 50 * cpu_seconds)
    done = threading.Event()
    lock = threading.Lock()

    def fire() -> None:
        with lock:
            if not done.is_set():
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(_Deadline))

    # The start reading is taken here, on the caller, and the caller joins the watchdog before it
    # returns: the watchdog only reads this thread's CPU clock while the thread is alive (a clock
    # of a thread that has exited is EINVAL; a short-lived reward thread used to hit that).
    start_cpu = cpu() if cpu else 0.0
    start_wall = time.monotonic()

    def watch() -> None:
        while not done.wait(0.005):
            try:
                used = (cpu() - start_cpu) if cpu else time.monotonic() - start_wall
            except OSError:  # defensive: the caller is gone, nothing left to interrupt
                return
            if used > cpu_seconds or time.monotonic() - start_wall > wall:
                fire()
                return

    watchdog = threading.Thread(target=watch, name="reward-deadline", daemon=True)
    watchdog.start()
    try:
        out = fn()
        with lock:
            done.set()
        return out
    finally:
        with lock:
            done.set()
        watchdog.join()  # prompt: done wakes it; no watchdog outlives its call


_math_verify_lock = threading.Lock()
_warmed = False


class _QuietTimeoutNotice(logging.Filter):
    """math-verify warns on every call made without its SIGALRM timeout; ours is the deadline."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


def _mv_parse(expr: str):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    cfg = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    return parse(f"${expr}$", extraction_config=cfg, parsing_timeout=None)


def _warm_up() -> None:
    """First use of sympy's paths costs 0.1-0.5 s; pay it once, outside any deadline."""
    global _warmed
    if _warmed:
        return
    from math_verify import verify

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_QuietTimeoutNotice())

    for g, a in (("\\frac{\\sqrt{3}}{2}", "\\frac{2\\sqrt{3}}{4}"), ("(1,2)", "(1, 2)"), ("x^2+1", "1+x^2"),
                 ("2\\pi", "\\pi 2"), ("\\{1,2\\}", "\\{2,1\\}"), ("[0,1)", "[0, 1)"), ("x^2-1", "(x-1)(x+1)"),
                 ("\\frac{\\sqrt{3}}{2}", "\\sin(\\pi/3)"), ("\\ln 2", "\\log(2)"), ("e^{2}", "e^2")):
        try:
            verify(_mv_parse(g), _mv_parse(a), timeout_seconds=None)
        except Exception:
            pass
    _warmed = True


@functools.lru_cache(maxsize=8192)
def _math_verify_cached(gold: str, ans: str) -> bool:
    """math-verify's verdict, cached (a group repeats answers); raises _Deadline on time-out,
    which is not cached: a slow first use of a sympy path must not fail the same answer forever."""
    from math_verify import verify

    def check() -> bool:
        g, a = _mv_parse(gold), _mv_parse(ans)
        return bool(g) and bool(a) and bool(verify(g, a, timeout_seconds=None))

    try:
        return _call_with_deadline(check, MATH_VERIFY_DEADLINE_S)
    except _Deadline:
        raise
    except Exception:  # a verifier failure is a wrong answer, never a crashed step
        return False


def _math_verify(gold: str, ans: str) -> bool:
    if importlib.util.find_spec("math_verify") is None:
        return False  # without it a symbolic answer cannot be verified: never paid
    try:
        with _math_verify_lock:  # sympy's caches are not thread-safe
            _warm_up()
            return _math_verify_cached(gold, ans)
    except _Deadline:  # (wide: a deadline that lands while leaving the call is caught here too)
        return False  # too slow to verify is a wrong answer, never a hung step


def _text_key(s: str) -> str:
    return " ".join(s.casefold().split()).strip(" .!?;:")


def _looks_mathy(s: str) -> bool:
    return bool(re.search(r"\d|\\[a-zA-Z]+|[\^_=]", s))


def answers_match(ans: str, gold: str, question: Any = None) -> bool:
    """Does the extracted answer equal the gold answer? The rule the correctness reward and
    the held-out evaluation share:

    * a numeric gold: the answer must state one number (read_number) of the same value; a
      percent only matches a percent gold, or a question that asks for a percentage (``question``:
      the prompt, a string or chat messages; see question_allows);
    * a symbolic gold (LaTeX, an interval, an expression): the answer must be one expression
      (no relation, separator or word the gold does not have), of bounded cost, equal by
      math-verify under a hard deadline;
    * words: equal case-insensitively."""
    if len(ans) > MAX_ANSWER_CHARS or not ans.strip():
        return False
    g = read_number(gold)
    if g is not None and g.sentence:
        g = None  # a gold is a value, not a sentence: "Route 66" compares as words
    if g is not None:
        a = read_number(ans)
        if a is not None and a.value == g.value and (g.percent or not a.percent):
            return True
        if question is None:
            return False
        # what the question asks for may make it an answer ("25%", "$5 more"): read only then
        allow = question_allows(question_text(question))
        a = read_number(ans, allow) if allow else a
        return a is not None and a.value == g.value and (g.percent or not a.percent or "percent" in allow)
    ca, cg = _clean(ans), _clean(gold)
    if not ca or cg is None:
        return False
    if not _looks_mathy(cg):
        return _text_key(ca) == _text_key(cg)
    if ca == cg:
        return True
    if "=" not in cg and ":" not in cg:
        ca = _PREFIX.sub("", ca, count=1).strip()  # "x = \\sqrt{2}", "Answer: \\sqrt{2}"
    if _too_costly(ca) or _too_costly(cg) or not _one_expression(ca, cg):
        return False
    return _math_verify(cg, ca)


# -- correctness: the reward --------------------------------------------------------------------
def check_golds(golds: Any, n: int, column: str = "answer") -> list[str | None]:
    """The gold column as one text (or None: unscored) per completion; GoldError naming the
    column for a malformed one: a bare string (would be read character by character), a list
    of the wrong length, NaN/inf, or a value that is not a scalar."""
    if golds is None:
        return [None] * n
    if isinstance(golds, (str, bytes)):
        raise GoldError(column, f"got one {type(golds).__name__} {str(golds)[:20]!r}, not one gold per completion",
                        "pass a list with one gold answer per completion")
    try:
        golds = list(golds)
    except TypeError:
        raise GoldError(column, f"got {type(golds).__name__}, not a list of gold answers") from None
    if len(golds) != n:
        raise GoldError(column, f"{len(golds)} gold answer(s) for {n} completions",
                        "give one gold answer per completion")
    out: list[str | None] = []
    for i, g in enumerate(golds):
        out.append(gold_text(g, column, i))
    return out


def gold_text(g: Any, column: str = "answer", row: int | None = None) -> str | None:
    """One gold value as text; None when missing; GoldError when it cannot be a gold answer."""
    where = f" (row {row})" if row is not None else ""
    item = getattr(g, "item", None)  # numpy / torch scalars
    if callable(item) and not isinstance(g, (str, bytes, int, float)):
        try:
            g = item()
        except Exception:
            pass
    if g is None:
        return None
    if isinstance(g, bool) or not isinstance(g, (str, int, float, Fraction, Decimal)):
        raise GoldError(column, f"gold answer{where} is a {type(g).__name__}, not a number or text",
                        "store one answer per row as text or a number")
    if isinstance(g, float) and not math.isfinite(g):
        raise GoldError(column, f"gold answer{where} is {g!r}", "fill or drop rows without an answer")
    s = str(g).strip()
    if isinstance(g, float) and g.is_integer():
        s = str(int(g))
    if s.lower() in ("nan", "-nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
        raise GoldError(column, f"gold answer{where} is {s!r}", "fill or drop rows without an answer")
    return s or None


def make_correctness(tags: Tags) -> RewardFunc:
    def correctness(prompts, completions, completion_ids=None, answer=None, **kwargs):
        column = "answer" if answer is not None or "solution" not in kwargs else "solution"
        golds = check_golds(answer if answer is not None else kwargs.get("solution"), len(completions), column)
        out: list[float | None] = []
        questions = prompts if prompts is not None and len(prompts) == len(completions) else [None] * len(golds)
        for c, gold, q in zip(completions, golds, questions):
            if gold is None:
                out.append(None)  # unscored: TRL skips None in the weighted sum
                continue
            got = extract_answer(c, tags)
            out.append(CORRECTNESS_MAX if got is not None and answers_match(got, gold, q) else 0.0)
        return out

    correctness.__doc__ = (f"{CORRECTNESS_MAX} when the single {tags.solution_start} block after the reasoning "
                           "states the gold answer (one number of that value, bare or in a sentence; a percent "
                           "where the question asks for one; LaTeX via math-verify), else 0; "
                           "None without a gold")
    return correctness


# -- anti length hacking -----------------------------------------------------------------------
def _lengths(completions: Sequence[Any], completion_ids: Sequence[Sequence[int]] | None) -> list[int]:
    if completion_ids is not None:
        return [len(ids) for ids in completion_ids]
    # Without token ids (direct calls, tests): whitespace words stand in for tokens.
    return [len(split_completion(c)[1].split()) for c in completions]


def default_overlong_buffer(max_completion_length: int) -> int:
    """DAPO used L_cache = 4096 of L_max = 20480 (a fifth)."""
    return max(1, max_completion_length // 5)


def make_overlong_penalty(max_completion_length: int, buffer: int | None = None) -> RewardFunc:
    """DAPO's soft overlong punishment (Yu et al. 2025, Eq. 13; same as TRL's
    get_soft_overlong_punishment): 0 up to L_max - L_cache, then linear down to -1 at L_max."""
    L = int(max_completion_length)
    C = default_overlong_buffer(L) if not buffer else min(int(buffer), L)

    def overlong_penalty(prompts, completions, completion_ids=None, **kwargs):
        out = []
        for n in _lengths(completions, completion_ids):
            if n <= L - C:
                out.append(0.0)
            elif n <= L:
                out.append((L - C - n) / C)
            else:
                out.append(-1.0)
        return out

    overlong_penalty.__doc__ = f"0 up to {L - C} tokens, linear to -1 at {L} (DAPO soft overlong punishment)"
    return overlong_penalty


def repeated_ngram_share(seq: Sequence[Any], n: int) -> float:
    """TRL's get_repetition_penalty_reward measure (Yeo et al. 2025, App. C.2): 1 - distinct/all
    n-grams. Kept for comparison: it is not 0 on ordinary text (see loop_share)."""
    if len(seq) < n:
        return 0.0
    grams = list(zip(*(seq[i:] for i in range(n))))
    return 1.0 - len(set(grams)) / len(grams)


LOOP_NGRAM_TOKENS = 32  # a span this long seen a third time is a loop, not prose
LOOP_NGRAM_WORDS = 10  # the same, counted in words when no token ids are given
LOOP_MIN_COUNT = 3


def _as_bytes(seq: Sequence[Any]) -> bytes | None:
    """Token ids as 4 bytes each, so bytes.count (C) can search n-grams; None if not uint32s."""
    try:
        return array("I", seq).tobytes()
    except (TypeError, OverflowError):
        return None


def _may_repeat(seq: Sequence[Any], n: int) -> bool:
    """A cheap necessary condition for some n-gram to occur twice: if one does (at p and q),
    the block of b = n // 2 tokens starting at the first multiple of b at or after p lies inside
    it, and that block then occurs twice without overlap (directly at q, or along the period
    q - p when the occurrences overlap), after the first, where bytes.find looks (a search of
    bytes can only find more). Ordinary text fails this in microseconds; only a candidate pays
    for the exact count."""
    if seq and not isinstance(seq[0], int):
        vocab: dict[Any, int] = {}
        seq = [vocab.setdefault(t, len(vocab)) for t in seq]
    raw = _as_bytes(seq)
    if raw is None:
        return True
    w = 4 * (n // 2)
    # The block's second occurrence lies after it: a search of the rest (half the text on
    # average) is enough, and finding an overlapping or misaligned copy only lets more through.
    return any(raw.find(raw[a:a + w], a + 1) >= 0 for a in range(0, len(raw) - w + 1, w))


def loop_share(seq: Sequence[Any], n: int, min_count: int = LOOP_MIN_COUNT) -> float:
    """Share of the n-grams that are at least the ``min_count``-th occurrence of themselves.
    Ordinary reasoning restates short phrases, so short n-grams repeat in honest text (TRL's
    3-gram measure charged -0.02..-0.17 there); a 32-token span seen three times is a loop.
    Exactly 0 unless some long span recurs; a text that loops K times scores about (K-2)/K."""
    if len(seq) < n:
        return 0.0
    if min_count >= 2 and n >= 2 and not _may_repeat(seq, n):
        return 0.0
    grams = Counter(zip(*(seq[i:] for i in range(n))))  # counted in C
    total = len(seq) - n + 1
    if len(grams) == total or max(grams.values()) < min_count:
        return 0.0  # ordinary text: no long span recurs that often
    return sum(c - min_count + 1 for c in grams.values() if c >= min_count) / total


# A loop with a counter ("Step 5:", "(attempt 3)", "for the third time") has no exact recurring
# span. counter_loop_share finds stretches that recur, each a copy of the one before except for one
# word or number (the counter, or a word swapped to dodge an exact-repeat check). Honest step-by-step
# reasoning keeps it at 0: its steps differ in several places (a worked enumeration changes the
# step number and the values it computes). On the text, in characters, with C-speed string
# searches and integer XORs (no regular expression: it cost ~100 us a completion): ordinary text
# costs a few microseconds, text that repeats a template with new numbers some tens.
LOOP_SPAN_CHARS = 128  # about 32 tokens: a stretch this long seen a third time is a loop
_LOOP_BLOCK = LOOP_SPAN_CHARS // 4  # any repeat of >= 2 blocks holds an aligned block that repeats
# Digits folded to 0 and every whitespace to a space: blocks are looked for in this form, so a
# counter of one width leaves them whole, and one find(" ") ends a word at any whitespace.
_FOLD_FROM, _FOLD_TO = "123456789\n\t\r\f\v", "000000000     "
_FOLD_DIGITS = str.maketrans(_FOLD_FROM, _FOLD_TO)
_FOLD_ASCII = bytes.maketrans(_FOLD_FROM.encode(), _FOLD_TO.encode())  # the same, for bytes.translate
_ONE_CHANGE_CHARS = 24  # the changed word or number: one whitespace-free stretch at most this long
_MIN_ITERATION = 6  # "(1). " is about the shortest iteration a counter loop can have


_DIGIT_RUN = re.compile(r"\d+")


def _a_counter(a: str, b: str) -> bool:
    """The changed stretch of two iterations is a counter (or a swapped word), not a computation:
    at most one of its numbers differs. "F(5)=F(4)+F(3)=5" -> "F(6)=F(5)+F(4)=8", written without
    spaces, is a new value worked out, and so is "第3天卖了9个" -> "第4天卖了12个"."""
    ra, rb = _DIGIT_RUN.findall(a), _DIGIT_RUN.findall(b)
    return len(ra) == len(rb) and sum(u != v for u, v in zip(ra, rb)) <= 1


def _one_change(low: str, folded: str, raw: bytes, unit: int, x: int, y: int, end: int) -> bool:
    """True when the text's stretch [y, end) is [x, y) with at most one whitespace-free stretch
    replaced (lengths may differ: "first" -> "second", "9" -> "10"), holding at most one changed
    number. ``raw`` is the text encoded ``unit`` bytes a character; the two are compared as
    integers, whose XOR's highest and lowest set bits are the first and last difference, so no
    Python loop runs over characters."""
    la, lb = y - x, end - y
    n = min(la, lb)
    d = int.from_bytes(raw[x * unit:(x + n) * unit], "big") ^ int.from_bytes(raw[y * unit:(y + n) * unit], "big")
    if d == 0 and la == lb:
        return True  # an exact repeat
    pre = n if d == 0 else (n * unit - (d.bit_length() + 7) // 8) // unit  # characters before the first difference
    word = folded.rfind(" ", x, x + pre) + 1 or x  # the changed word starts here (in both: the prefix is common)
    if la == lb:  # the differences lie between the first and the last: one word if no space is there
        last = (n * unit - 1 - ((d & -d).bit_length() - 1) // 8) // unit
        return (last - pre < _ONE_CHANGE_CHARS and folded.find(" ", x + pre, x + last + 1) < 0
                and folded.find(" ", y + pre, y + last + 1) < 0
                and _a_counter(low[word:x + last + 1], low[word - x + y:y + last + 1]))
    # lengths differ: the changed stretch runs from the first difference to the next whitespace
    ea, eb = folded.find(" ", x + pre, y), folded.find(" ", y + pre, end)
    ea, eb = (y if ea < 0 else ea), (end if eb < 0 else eb)
    return (ea - x - pre <= _ONE_CHANGE_CHARS and eb - y - pre <= _ONE_CHANGE_CHARS
            and low[ea:y] == low[eb:end] and _a_counter(low[word:ea], low[word - x + y:eb]))


def _looped_iterations(pairs: list[tuple[int, int, int, bool]], span: int, min_count: int) -> list[tuple[int, int]]:
    """The iterations, from the ``min_count``-th on, of every run of near copies long enough for a
    ``span``-character stretch to be seen a third time. Counted from the run's start, so a run
    that a change of counter width (9 -> 10) splits in two still charges both halves."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(pairs):
        if not pairs[i][3]:
            i += 1
            continue
        j = i
        while j < len(pairs) and pairs[j][3]:
            j += 1
        iterations = j - i + 1
        if iterations >= max(min_count, -(-span // pairs[i][0]) + 2):
            out.extend((start, end) for _, start, end, _ in pairs[i + min_count - 2:j])
        i = j
    return out


def counter_loop_share(text: str, span: int = LOOP_SPAN_CHARS, min_count: int = LOOP_MIN_COUNT) -> float:
    """Share of the text that is at least the ``min_count``-th occurrence of a ``span``-character
    stretch, in a run of iterations each equal to the one before except for one word or number.
    An iteration is the stretch between two occurrences of a block and must match whole, so a
    worked enumeration whose steps change a value besides the step number is not a loop. 0 on prose."""
    low = text.lower()
    if not low.isascii():
        low = _INVISIBLE.sub("", low)  # a zero-width space moved each time must not hide a loop
    size, b = len(low), _LOOP_BLOCK
    if size < span + 2 * b:
        return 0.0
    if low.isascii():  # bytes.translate is a table lookup; str.translate a dict lookup a character
        raw, unit = low.encode("ascii"), 1
        folded = raw.translate(_FOLD_ASCII).decode("ascii")
    else:
        raw, unit = low.encode("utf-32-be", "surrogatepass"), 4
        folded = low.translate(_FOLD_DIGITS)
    g = b // 2  # cheap gate (C speed): a loop repeats some aligned half-block
    if not any(folded.find(folded[a:a + g], a + 1) >= 0 for a in range(0, size - g + 1, g)):
        return 0.0
    looped: list[tuple[int, int]] = []
    done_until = -1
    for a in range(0, size - b + 1, b):
        if a < done_until:
            continue  # inside a repeat already followed
        block = folded[a:a + b]
        if folded.count(block) < 2:
            continue
        # Every occurrence, overlapping ones too: an iteration shorter than the block recurs at its
        # own spacing. Each is moved back to the start of its word, so a counter the block begins
        # inside is not split across both ends of an iteration.
        starts, k = [], folded.find(block)
        while k >= 0:
            w = folded.rfind(" ", max(0, k - _ONE_CHANGE_CHARS), k)
            starts.append(w + 1 if w >= 0 else k)
            nxt = folded.find(block, k + 1)
            if 0 <= nxt - k < _MIN_ITERATION:  # "99999...", "abab...": exact repeats (loop_share's), not a counter
                nxt = folded.find(block, k + b)
            k = nxt
        starts = sorted(set(starts))
        pairs: list[tuple[int, int, int, bool]] = []  # (period, start, end, near) of each iteration pair
        previous = None
        for i in range(len(starts) - 1):
            x, y = starts[i], starts[i + 1]
            period = y - x
            # the iteration [x, y) against the next one, which ends where the block recurs again
            # (its length may differ by the change); after the last occurrence, as long as this one
            end = starts[i + 2] if i + 2 < len(starts) else min(size, y + period)
            near = _one_change(low, folded, raw, unit, x, y, end)
            if near:
                done_until = max(done_until, end)  # a loop followed whole here
            elif previous is not None and abs(period - previous) <= _ONE_CHANGE_CHARS:
                # A template followed here (iterations of about one length): every other block
                # inside it recurs with the same iterations shifted, and a shifted window holds as
                # many changes per iteration, so those blocks cannot find what this one did not.
                # Unless a loop just broke off here: a counter that changed width (9 -> 10) moves
                # a block holding it, and a block after it may follow the loop on.
                done_until = max(done_until, y if pairs and pairs[-1][3] else end)
            previous = period
            pairs.append((period, y, end, near))
        looped.extend(_looped_iterations(pairs, span, min_count))
    if not looped:
        return 0.0
    covered, last = 0, -1
    for x, y in sorted(looped):
        covered += max(0, y - max(x, last))
        last = max(last, y)
    return min(1.0, covered / size)


def make_repetition_penalty(ngram_size: int | None = None, max_penalty: float = -1.0) -> RewardFunc:
    """-share of the completion that loops times |max_penalty|: the larger of ``loop_share`` (exact
    repeats: on token ids when TRL passes them, 32-grams, else on words, 10-grams) and
    ``counter_loop_share`` (repeats that differ only by a counter, on the text)."""
    if max_penalty > 0:
        raise ValueError("max_penalty must be <= 0")

    def repetition_penalty(prompts, completions, completion_ids=None, **kwargs):
        if completion_ids is not None:
            n = ngram_size or LOOP_NGRAM_TOKENS
            seqs = [ids if isinstance(ids, list) else list(ids) for ids in completion_ids]  # only read: no copy
        else:
            n = ngram_size or LOOP_NGRAM_WORDS
            seqs = [split_completion(c)[1].split() for c in completions]
        out = []
        for s, c in zip(seqs, completions):
            reasoning, content = split_completion(c)
            share = max(loop_share(s, n), counter_loop_share(f"{reasoning}\n{content}" if reasoning else content))
            out.append(share * max_penalty + 0.0)
        return out

    return repetition_penalty


def is_truncated(length: int, max_completion_length: int) -> bool:
    """A completion that used the whole budget did not end on its own (TRL keeps the EOS in
    completion_ids, so an answer that ended exactly at the cap is counted as truncated too)."""
    return length >= max_completion_length


def floor_if_truncated(func: RewardFunc, max_completion_length: int, floor: float | None) -> RewardFunc:
    """Wrap a reward so completions cut off at the cap score the component's floor (its lowest
    value; the preset's ``floor_truncated_reward``): every score a component gives is at least
    its floor, so a truncated completion never scores above the same text stopped earlier. For a
    component whose floor is unknown (a user's function) the positive part is withheld:
    min(score, 0). None (unscored) stays None."""

    def wrapped(prompts, completions, completion_ids=None, **kwargs):
        scores = func(prompts, completions, completion_ids=completion_ids, **kwargs)
        if completion_ids is None:
            return scores
        out = []
        for s, ids in zip(scores, completion_ids):
            if s is not None and is_truncated(len(ids), max_completion_length):
                s = floor if floor is not None else min(float(s), 0.0)
            out.append(s)
        return out

    wrapped.__name__ = getattr(func, "__name__", "reward")
    wrapped.__doc__ = func.__doc__
    return wrapped
