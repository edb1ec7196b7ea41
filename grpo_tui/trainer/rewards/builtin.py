"""Built-in reward components. Pure Python (no torch): cheap and testable.

Each ``make_*`` takes the RunConfig (for the tags and lengths) and returns a
function with TRL's reward signature. The rules themselves (and their
adversarial tests) live in ``grpo_tui.trainer.reward_rules``; ``format`` is the
lenient original kept for the cpu-tiny preset, whose tuning relies on it.
"""

from __future__ import annotations

import re
from typing import Any

from ...core.settings.config import RunConfig
from ...core.run.messages import chat_text
from .. import reward_rules as rules

FORMAT_MAX = 1.0
CORRECTNESS_MAX = rules.CORRECTNESS_MAX


def completion_text(completion: Any) -> str:
    """A completion as the rewards read it: reasoning then content, run together (core.run.messages)."""
    return chat_text(completion, joiner="")


def make_format(cfg: RunConfig):
    start, end = cfg.solution_start, cfg.solution_end
    tags = rules.Tags.from_config(cfg)
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
            text = rules._with_reasoning_block(c, tags)  # reasoning_content / a pre-filled tag count
            if exact.match(text):
                out.append(FORMAT_MAX)
            else:
                out.append(0.25 * ((text.count(start) == 1) + (text.count(end) == 1)))
        return out

    return format


def make_correctness(cfg: RunConfig):
    """The single solution block equals the gold ``answer`` (numbers by value, LaTeX via
    math-verify, words case-insensitively); None for rows without a gold. See reward_rules."""
    return rules.make_correctness(rules.Tags.from_config(cfg))


def make_format_strict(cfg: RunConfig):
    return rules.make_format_strict(rules.Tags.from_config(cfg), min_reasoning_chars=cfg.min_reasoning_chars)


def make_format_soft(cfg: RunConfig):
    return rules.make_format_soft(rules.Tags.from_config(cfg), min_reasoning_chars=cfg.min_reasoning_chars)


def make_overlong_penalty(cfg: RunConfig):
    return rules.make_overlong_penalty(cfg.max_completion_length, cfg.overlong_buffer or None)


def make_repetition_penalty(cfg: RunConfig):
    return rules.make_repetition_penalty(max_penalty=-1.0)
