"""Built-in reward components. Pure Python (no torch): cheap and testable.

Each ``make_*`` takes the RunConfig (for the tags) and returns a function with
TRL's reward signature.
"""

from __future__ import annotations

import re
from typing import Any

from ...core.config import RunConfig

FORMAT_MAX = 1.0
CORRECTNESS_MAX = 1.0


def completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}, ...]
        parts = []
        for msg in completion:
            if isinstance(msg, dict):
                reasoning = msg.get("reasoning_content") or msg.get("thinking")
                if reasoning:
                    parts.append(str(reasoning))
                content = msg.get("content")
                if isinstance(content, list):  # typed content blocks
                    content = "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
                parts.append(str(content or ""))
        return "".join(parts)
    return str(completion)


def solution_pattern(cfg: RunConfig) -> re.Pattern[str]:
    return re.compile(re.escape(cfg.solution_start) + r"(.*?)" + re.escape(cfg.solution_end), re.DOTALL)


def extract_answer(text: str, cfg: RunConfig) -> str | None:
    """The text inside the last solution block, stripped; None without one."""
    found = solution_pattern(cfg).findall(text)
    return found[-1].strip() if found else None


def make_format(cfg: RunConfig):
    start, end = cfg.solution_start, cfg.solution_end
    exact = re.compile(
        r"^\s*(?:" + re.escape(cfg.reasoning_start) + r".*?" + re.escape(cfg.reasoning_end) + r"\s*)?"
        + re.escape(start) + r"[^<>]+?" + re.escape(end) + r"\s*$",
        re.DOTALL,
    )

    def format(prompts, completions, completion_ids=None, **kwargs):  # noqa: A001 - TRL logs the name
        """1.0 for exactly one well-formed solution block (optionally after a reasoning block);
        otherwise 0.25 per tag present once, so a half-learnt format still gets a gradient."""
        out = []
        for c in completions:
            text = completion_text(c)
            if exact.match(text):
                out.append(FORMAT_MAX)
            else:
                out.append(0.25 * ((text.count(start) == 1) + (text.count(end) == 1)))
        return out

    return format


def _normalise(ans: str) -> str:
    s = ans.strip().replace(",", "")
    try:
        f = float(s)
        return str(int(f)) if f.is_integer() else repr(f)
    except ValueError:
        return s.lower()


def make_correctness(cfg: RunConfig):
    def correctness(prompts, completions, completion_ids=None, answer=None, **kwargs):
        """1.0 when the solution block's text equals the gold ``answer`` column, else 0.0.
        None (unscored) for rows without a gold answer."""
        out: list[float | None] = []
        golds = answer if answer is not None else [None] * len(completions)
        for c, gold in zip(completions, golds):
            if gold is None:
                out.append(None)
                continue
            got = extract_answer(completion_text(c), cfg)
            out.append(CORRECTNESS_MAX if got is not None and _normalise(got) == _normalise(str(gold)) else 0.0)
        return out

    return correctness
