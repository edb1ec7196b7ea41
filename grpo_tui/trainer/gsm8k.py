"""GSM8K, the default dataset of the GPU presets, and the tag format it is trained in.

GSM8K (``openai/gsm8k``, config ``main``: 7,473 train and 1,319 test grade-school
word problems) writes its gold answers as a worked solution ending in
``#### 42``; the number after ``####`` (thousands separators removed) is what the
correctness reward compares with. The ``test`` split is the held-out split the
evaluation uses.

The model is asked to reason between the reasoning tags and to put only the
final answer between the solution tags; the system prompt below says so in the
preset's own tags, so changing the tags in a preset changes the prompt with them.
Prompts are chat message lists (system + user): TRL applies the model's own chat
template, so the same rows work for any instruct model.

Local files work the same way: a ``.jsonl`` / ``.parquet`` file with ``prompt`` and
``answer`` columns (``question`` / ``solution`` are accepted too, see
``trainer.datasets``); answers in GSM8K's ``####`` form are reduced the same way.

Import-light (no ``datasets`` at module level): the launcher's pre-flight uses
``apply_defaults``.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.settings.config import RunConfig

DATASET = "openai/gsm8k"
CONFIG = "main"
EVAL_SPLIT = "test"
ALIASES = {"openai/gsm8k", "gsm8k", "openai/gsm8k:main"}

_GOLD = re.compile(r"####\s*(.+?)\s*$", re.DOTALL)


def is_gsm8k(dataset: str) -> bool:
    return dataset.strip().lower() in ALIASES


def gold_answer(text: Any) -> str:
    """The final answer of a GSM8K solution (the text after ``####``, without thousands
    separators); text without ``####`` is returned stripped (already a bare answer)."""
    s = "" if text is None else str(text).strip()
    m = _GOLD.search(s)
    if not m:
        return s
    return m.group(1).strip().replace(",", "")


def system_prompt(cfg: RunConfig) -> str:
    """The instruction that matches the preset's reasoning / solution tags."""
    if cfg.system_prompt:
        return cfg.system_prompt
    return (
        "You are given a math word problem. Work it out step by step between "
        f"{cfg.reasoning_start} and {cfg.reasoning_end}. Then write only the final number between "
        f"{cfg.solution_start} and {cfg.solution_end}, with no units and no other text."
    )


def to_messages(question: str, cfg: RunConfig) -> list[dict[str, str]]:
    return [{"role": "system", "content": system_prompt(cfg)}, {"role": "user", "content": str(question)}]


def defaults(cfg: RunConfig) -> dict[str, Any]:
    """What GSM8K needs and a preset may leave out, as field changes: the ``main`` config, the
    ``test`` split for evaluation, the matching system prompt. Nothing for other datasets."""
    if not is_gsm8k(cfg.dataset):
        return {}
    over: dict[str, Any] = {"dataset": DATASET}
    if not cfg.dataset_config:
        over["dataset_config"] = CONFIG
    if not cfg.eval_split:
        over["eval_split"] = EVAL_SPLIT
    if not cfg.system_prompt:
        over["system_prompt"] = system_prompt(cfg)
    return over


def apply_defaults(cfg: RunConfig) -> RunConfig:
    """``cfg`` with ``defaults`` applied (returned as is for other datasets)."""
    over = defaults(cfg)
    return cfg.with_overrides(over) if over else cfg


def convert_row(row: dict[str, Any], cfg: RunConfig, chat: bool = True) -> dict[str, Any]:
    """A GSM8K row (question, answer) -> our row (prompt, answer)."""
    q = row.get("question", row.get("prompt"))
    prompt = q if isinstance(q, list) else (to_messages(q, cfg) if chat else str(q))
    return {"prompt": prompt, "answer": gold_answer(row.get("answer"))}
