"""Reward rules that are hard to game. Pure Python (no torch): cheap, testable, and
usable by the launcher to validate a preset before any model is built.

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
correctness            {0, 1} or None   the single answer block equals the gold answer
overlong_penalty       [-1, 0]          DAPO soft overlong punishment (Eq. 13)
repetition_penalty     [-1, 0]          share of repeated n-grams (TRL / Yeo et al. 2025)
=====================  ===============  ==============================================
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Callable, Sequence

FORMAT_STRICT_MAX = 0.5
FORMAT_SOFT_MAX = 0.5
CORRECTNESS_MAX = 1.0
MAX_ANSWER_CHARS = 128  # longer "answers" are a dump, not an answer: scored 0 without parsing
MAX_EXPONENT = 1000  # |exponent| above this is not a real answer (and would build huge ints)

RewardFunc = Callable[..., list]


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
            c = msg.get("content")
            if isinstance(c, list):  # typed content blocks
                c = "".join(str(b.get("text", "")) for b in c if isinstance(b, dict))
            content.append("" if c is None else str(c))
        return "\n".join(reasoning), "".join(content)
    return "", "" if completion is None else str(completion)


def answer_blocks(content: str, tags: Tags) -> list[str]:
    pat = re.compile(re.escape(tags.solution_start) + r"(.*?)" + re.escape(tags.solution_end), re.DOTALL)
    return pat.findall(content)


def extract_answer(completion: Any, tags: Tags) -> str | None:
    """The text of the single answer block in the content; None when there is none or several
    (listing several answers is hedging, not answering), counting unclosed and stray tags."""
    _, content = split_completion(completion)
    if content.count(tags.solution_start) != 1 or content.count(tags.solution_end) != 1:
        return None  # a second (even unclosed) answer, or stray closing tags: not one clear answer
    blocks = answer_blocks(content, tags)
    if len(blocks) != 1:
        return None
    if any(t in blocks[0] for t in (tags.solution_start, tags.reasoning_start, tags.reasoning_end)):
        return None  # "<answer><answer>12</answer></answer>": nested tags are not an answer
    return blocks[0].strip()


# -- format -------------------------------------------------------------------------------------
def _with_reasoning_block(completion: Any, tags: Tags) -> str:
    """The completion as text with its reasoning block made explicit: reasoning that a chat
    template moved to ``reasoning_content`` is put back in tags, and a completion whose opening
    reasoning tag was pre-filled by the template (it starts inside the reasoning: ``...</think>``)
    gets that tag back."""
    reasoning, content = split_completion(completion)
    if tags.reasoning_start in content:
        return content
    if reasoning.strip():
        return f"{tags.reasoning_start}{reasoning}{tags.reasoning_end}{content}"
    end, answer = content.find(tags.reasoning_end), content.find(tags.solution_start)
    if content.count(tags.reasoning_end) == 1 and (answer < 0 or end < answer):
        return tags.reasoning_start + content
    return content


def make_format_strict(tags: Tags, *, require_reasoning: bool = True) -> RewardFunc:
    all_tags = (tags.reasoning_start, tags.reasoning_end, tags.solution_start, tags.solution_end)

    def layout_ok(text: str) -> bool:
        # Procedural on purpose: a regex with lazy bodies around the tags backtracks
        # quadratically on long near-misses (seconds per completion at a few thousand tokens).
        if any(text.count(t) != 1 for t in all_tags if require_reasoning or t in text):
            return False
        s = text.strip()
        if tags.reasoning_start in s:
            if not s.startswith(tags.reasoning_start):
                return False
            r_end = s.find(tags.reasoning_end)
            if r_end < 0 or not s[len(tags.reasoning_start):r_end].strip():
                return False
            s = s[r_end + len(tags.reasoning_end):].lstrip()
        elif tags.reasoning_end in s:
            return False
        if not (s.startswith(tags.solution_start) and s.endswith(tags.solution_end)):
            return False
        return bool(s[len(tags.solution_start):len(s) - len(tags.solution_end)].strip())

    def format_strict(prompts, completions, completion_ids=None, **kwargs):
        out = []
        for c in completions:
            out.append(FORMAT_STRICT_MAX if layout_ok(_with_reasoning_block(c, tags)) else 0.0)
        return out

    format_strict.__doc__ = (f"{FORMAT_STRICT_MAX} for exactly {tags.reasoning_start}...{tags.reasoning_end}"
                             f"{tags.solution_start}...{tags.solution_end} and nothing else; else 0")
    return format_strict


def make_format_soft(tags: Tags) -> RewardFunc:
    all_tags = (tags.reasoning_start, tags.reasoning_end, tags.solution_start, tags.solution_end)
    per_tag = FORMAT_SOFT_MAX / len(all_tags)

    def format_soft(prompts, completions, completion_ids=None, **kwargs):
        out = []
        for c in completions:
            text = _with_reasoning_block(c, tags)
            out.append(sum(per_tag for t in all_tags if text.count(t) == 1))
        return out

    format_soft.__doc__ = f"{per_tag} for each tag that appears exactly once (max {FORMAT_SOFT_MAX})"
    return format_soft


# -- correctness --------------------------------------------------------------------------------
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_FRAC = re.compile(r"^\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(-?\d+)\s*\}$")
_SIMPLE_FRAC = re.compile(r"^(-?\d+)\s*/\s*(-?\d+)$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_UNIT_TAIL = re.compile(r"^(.*?\d\.?)\s*(?:\\?%|\\text\{[^{}]*\}|\\mathrm\{[^{}]*\}|[a-zA-Z]{1,12}\.?"
                        r"(?:\s*(?:/|per)\s*[a-zA-Z]{1,12})?|°[CF]?)$")
_HEDGE_SPLIT = re.compile(r"\s*(?:;|\bor\b|\band\b|\n|,(?!\d{3}\b))\s*")


def _unbox(s: str) -> str:
    """The content of the last \\boxed{...} (balanced braces), else s."""
    last = None
    for m in _BOXED.finditer(s):
        depth, i = 1, m.end()
        while i < len(s) and depth:
            depth += {"{": 1, "}": -1}.get(s[i], 0)
            i += 1
        if depth == 0:
            last = s[m.end(): i - 1]
    return last if last is not None else s


def normalize_answer(ans: str) -> str:
    """Canonical text of an answer: ASCII digits, no LaTeX wrappers, units, currency,
    thousands separators or trailing punctuation."""
    s = "".join(str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in ans)
    s = s.replace("\u2212", "-").replace("\u00a0", " ").replace("\u2009", " ").strip()
    s = _unbox(s)
    for a, b in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\ ", " "),
                 ("\\$", "$"), ("\\%", "%"), ("dfrac", "frac"), ("tfrac", "frac")):
        s = s.replace(a, b)
    s = re.sub(r"\\(?:text|mathrm|textbf|mathbf|textrm)\s*\{([^{}]*)\}", r"\1", s).strip()
    for pre, post in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) >= len(pre) + len(post) and s.startswith(pre) and s.endswith(post):
            s = s[len(pre): len(s) - len(post)].strip()
    s = _unbox(s).strip()
    s = s.rstrip(".。 ").strip()
    s = re.sub(r"^(?:[a-zA-Z]\s*=\s*)", "", s)  # "x = 42"
    s = re.sub(r"^(?:\$|€|£|¥|USD\s*)", "", s).strip()
    m = _UNIT_TAIL.match(s)
    if m and _number_value(m.group(1).rstrip(".")) is not None:
        s = m.group(1).rstrip(".")
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    return s.strip()


def _number_value(s: str) -> Fraction | None:
    """Exact value of a plain number or simple fraction; None otherwise."""
    s = s.strip()
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    m = _SIMPLE_FRAC.match(s) or _FRAC.match(s)
    if m:
        num, den = int(m.group(1)), int(m.group(2))
        return Fraction(num, den) if den else None
    if not _NUMBER.match(s) or len(s) > MAX_ANSWER_CHARS:
        return None
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite() or abs(d.adjusted()) > MAX_EXPONENT:
        return None
    return Fraction(d)


def _is_hedge(ans: str, gold: str) -> bool:
    """Several candidate values in one answer ("41 or 42", "41, 42")."""
    if _HEDGE_SPLIT.search(gold):
        return False  # the gold itself is a list/tuple: leave it to the verifier
    parts = [p for p in _HEDGE_SPLIT.split(ans) if p and re.search(r"\d", p)]
    return len(parts) > 1


# Expressions that make a CAS build astronomically large numbers (10^{99999999}, 99999!).
_HUGE_EXPR = re.compile(r"(?:\^|\*\*)\s*\{?\s*\(?\s*[-+]?\d{4,}|\d{4,}\s*!")


def _looks_mathy(s: str) -> bool:
    return bool(re.search(r"\d|\\[a-zA-Z]+|[\^_=]", s))


def _text_key(s: str) -> str:
    return " ".join(s.casefold().split()).strip(" .!?;:")


_math_verify_lock = threading.Lock()


def _math_verify(gold: str, ans: str) -> bool:
    if _HUGE_EXPR.search(ans):
        return False
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    main = threading.current_thread() is threading.main_thread()  # its timeouts use SIGALRM
    pt, vt = (2, 2) if main else (None, None)
    cfg = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    wrap = lambda s: s if "$" in s or "\\(" in s or "\\[" in s else f"${s}$"  # noqa: E731
    try:
        with _math_verify_lock:
            g = parse(wrap(gold), extraction_config=cfg, parsing_timeout=pt)
            a = parse(wrap(ans), extraction_config=cfg, parsing_timeout=pt)
            return bool(g) and bool(a) and bool(verify(g, a, timeout_seconds=vt))
    except Exception:  # a verifier failure is a wrong answer, never a crashed step
        return False


def answers_match(ans: str, gold: str) -> bool:
    """Does the extracted answer equal the gold answer? Numbers compare exactly by value
    (fast path); LaTeX/expressions go to math-verify; plain words compare case-insensitively."""
    if len(ans) > MAX_ANSWER_CHARS:
        return False
    a, g = normalize_answer(ans), normalize_answer(gold)
    if not a:
        return False
    ga, av = _number_value(g), _number_value(a)
    if ga is not None:
        if av is not None:
            return av == ga
        if _is_hedge(a, g) or not _looks_mathy(a):
            return False
        return _math_verify(g, a)
    if _looks_mathy(g):
        if a == g:
            return True
        if _is_hedge(a, g):
            return False
        return _math_verify(g, a)
    return _text_key(a) == _text_key(g)


def make_correctness(tags: Tags) -> RewardFunc:
    def correctness(prompts, completions, completion_ids=None, answer=None, **kwargs):
        golds = answer if answer is not None else kwargs.get("solution")
        if golds is None:
            golds = [None] * len(completions)
        out: list[float | None] = []
        for c, gold in zip(completions, golds):
            if gold is None or str(gold).strip() == "":
                out.append(None)  # unscored: TRL skips None in the weighted sum
                continue
            got = extract_answer(c, tags)
            out.append(CORRECTNESS_MAX if got is not None and answers_match(got, str(gold)) else 0.0)
        return out

    correctness.__doc__ = (f"{CORRECTNESS_MAX} when the single {tags.solution_start} block equals the gold "
                           "answer (numbers by value, LaTeX via math-verify), else 0; None without a gold")
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
    if len(seq) < n:
        return 0.0
    grams = list(zip(*(seq[i:] for i in range(n))))
    return 1.0 - len(set(grams)) / len(grams)


def make_repetition_penalty(ngram_size: int = 3, max_penalty: float = -1.0) -> RewardFunc:
    """-share of repeated n-grams times |max_penalty| (the measure of TRL's
    get_repetition_penalty_reward, from Yeo et al. 2025 "Demystifying Long CoT", App. C.2),
    on token ids when TRL passes them, else on words."""
    if max_penalty > 0:
        raise ValueError("max_penalty must be <= 0")

    def repetition_penalty(prompts, completions, completion_ids=None, **kwargs):
        seqs = completion_ids if completion_ids is not None else [
            split_completion(c)[1].split() for c in completions]
        return [repeated_ngram_share(list(s), ngram_size) * max_penalty + 0.0 for s in seqs]

    return repetition_penalty


def is_truncated(length: int, max_completion_length: int) -> bool:
    """A completion that used the whole budget did not end on its own (TRL keeps the EOS in
    completion_ids, so an answer that ended exactly at the cap is counted as truncated too)."""
    return length >= max_completion_length


def zero_if_truncated(func: RewardFunc, max_completion_length: int) -> RewardFunc:
    """Wrap a reward so completions cut off at the cap score 0 (the preset's
    ``zero_truncated_reward``): a truncated answer must never pay."""

    def wrapped(prompts, completions, completion_ids=None, **kwargs):
        scores = func(prompts, completions, completion_ids=completion_ids, **kwargs)
        if completion_ids is None:
            return scores
        return [0.0 if s is not None and is_truncated(len(ids), max_completion_length) else s
                for s, ids in zip(scores, completion_ids)]

    wrapped.__name__ = getattr(func, "__name__", "reward")
    wrapped.__doc__ = func.__doc__
    return wrapped
