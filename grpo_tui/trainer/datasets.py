"""Training data: built-in synthetic tasks and the loader for real datasets.

``dataset`` in a preset is one of
  * ``builtin:<task>`` -- generated here, deterministic from the seed (``TASKS``);
  * a local ``.jsonl`` / ``.json`` / ``.parquet`` / ``.csv`` file;
  * a hub dataset name (``openai/gsm8k``), loaded with ``datasets.load_dataset``.

Every dataset ends up with a ``prompt`` column (plain text for a tokenizer
without a chat template, else a message list) and an ``answer`` column (the
gold answer the correctness reward compares with). Hub/local rows are mapped
from common column names (question/problem/prompt, answer/solution); GSM8K's
``#### 42`` answers are reduced to the number.

``check_dataset_source`` is the light pre-flight used by the launcher (no
``datasets`` import): missing files are reported before any run directory
exists. Without network, hub names fail fast with one line naming the dataset.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, Callable

from ..core.settings.config import ConfigError, RunConfig
from .sources import LOCAL_SUFFIXES, classify  # noqa: F401 (classify: part of this module's API)
from .word_problems import instruction as word_problem_instruction, word_problems

PROMPT_COLUMNS = ("prompt", "question", "problem", "input", "query")
ANSWER_COLUMNS = ("answer", "solution", "target", "output", "label")


# -- built-in tasks ------------------------------------------------------------------
def _arith(rng: random.Random, n: int, lo: int = 0, hi: int = 4) -> list[dict[str, Any]]:
    """Single-digit addition over a small range (0..4: 25 facts, sums 0..8).

    The sum is drawn uniformly first, then a pair with that sum: every answer is
    equally likely, so "always answer the most common sum" earns nothing and the
    policy can only gain by reading the prompt (with uniform pairs, GRPO on the
    tiny model collapses onto the most frequent sum and stays there).
    """
    out = []
    for _ in range(n):
        s = rng.randint(2 * lo, 2 * hi)
        a = rng.randint(max(lo, s - hi), min(hi, s - lo))
        out.append({"question": f"{a}+{s - a}=", "answer": str(s)})
    return out


def _arith_full(rng: random.Random, n: int) -> list[dict[str, Any]]:
    return _arith(rng, n, 0, 9)


def _max(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """The larger of two different digits: the answer is in the prompt, so copying
    one of them already scores half the time and GRPO has to learn which."""
    out = []
    for _ in range(n):
        a, b = rng.sample(range(10), 2)
        out.append({"question": f"max {a} {b}=", "answer": str(max(a, b))})
    return out


def _reverse(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Reverse a 3-letter string (letters a..e)."""
    out = []
    for _ in range(n):
        s = "".join(rng.choice("abcde") for _ in range(3))
        out.append({"question": f"{s}:", "answer": s[::-1]})
    return out


TASKS: dict[str, Callable[[random.Random, int], list[dict[str, Any]]]] = {
    "arith": _arith,
    "word_problems": word_problems,
    "arith10": _arith_full,
    "max": _max,
    "reverse": _reverse,
}


def builtin_rows(task: str, n: int, seed: int) -> list[dict[str, Any]]:
    return TASKS[task](random.Random(seed), n)


# -- pre-flight (no heavy imports) ---------------------------------------------------
def check_dataset_source(cfg: RunConfig) -> None:
    kind = classify(cfg.dataset)
    if kind == "builtin":
        task = cfg.dataset.split(":", 1)[1]
        if task not in TASKS:
            raise ConfigError("dataset", f"unknown built-in task {task!r}",
                              f"use one of {', '.join('builtin:' + t for t in TASKS)}")
    elif kind == "local":
        p = Path(cfg.dataset).expanduser()
        if not p.exists():
            raise ConfigError("dataset", f"file {cfg.dataset} does not exist",
                              "give an existing .jsonl/.parquet path, a hub name, or builtin:arith")
        if p.is_file() and p.suffix.lower() not in LOCAL_SUFFIXES:
            raise ConfigError("dataset", f"{cfg.dataset}: unsupported file type {p.suffix!r}",
                              "use .jsonl, .json, .parquet or .csv")


# -- loading (trainer process) ---------------------------------------------------------
class DatasetUnavailable(RuntimeError):
    """A hub dataset could not be reached; the message is one line."""


def system_prompt(cfg: RunConfig) -> str:
    if cfg.system_prompt:
        return cfg.system_prompt
    return (f"Think about the problem between {cfg.reasoning_start} and {cfg.reasoning_end}, then give "
            f"only the final answer between {cfg.solution_start} and {cfg.solution_end}.")


def _gold(value: Any) -> str:
    s = str(value)
    m = re.search(r"####\s*(.+)$", s.strip())  # GSM8K style
    return m.group(1).strip().replace(",", "") if m else s.strip()


def to_prompt(question: str, cfg: RunConfig, chat: bool) -> Any:
    if not chat:
        return question
    if cfg.dataset == "builtin:word_problems":  # small instruct models follow the user turn, not the system's
        question = f"{question} {word_problem_instruction(cfg)}"
    return [{"role": "system", "content": system_prompt(cfg)}, {"role": "user", "content": question}]


def load_rows_hub_or_local(cfg: RunConfig):
    """A ``datasets.Dataset`` for a local file or hub name (the real loading code)."""
    from .hub import go_offline, hub_reachable

    if classify(cfg.dataset) == "hub" and not hub_reachable():
        go_offline()
    import datasets

    kind = classify(cfg.dataset)
    split = cfg.dataset_split or "train"
    if kind == "local":
        p = Path(cfg.dataset).expanduser()
        if p.is_dir():
            return datasets.load_dataset(str(p), split=split)
        return datasets.load_dataset(LOCAL_SUFFIXES[p.suffix.lower()], data_files=str(p), split="train")
    try:
        return datasets.load_dataset(cfg.dataset, cfg.dataset_config or None, split=split)
    except Exception as exc:  # offline, missing, gated...
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DatasetUnavailable(
            f"dataset {cfg.dataset!r} could not be loaded from the Hugging Face hub or its cache ({reason})"
        ) from None


def local_holdout(cfg: RunConfig, total: int) -> int:
    """Trailing rows of a local training file kept out of training for evaluation: ``eval_size``
    when evaluation is on and no separate eval file is named (``eval_split``), as long as at
    least as many rows are left to train on; else 0 (then the eval set is not held out)."""
    if cfg.eval_size <= 0 or classify(cfg.dataset) != "local":
        return 0
    if cfg.eval_split and Path(cfg.eval_split).expanduser().is_file():
        return 0
    return cfg.eval_size if total >= 2 * cfg.eval_size else 0


# The tiny model's tokenizer has no chat template; prompt_form = "chat" (a notebook's preset with
# model=builtin:tiny swapped in) gets this plain one, so TRL builds the same message-list prompts.
TINY_CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                      "{% if add_generation_prompt %}assistant: {% endif %}")


def prompts_are_chat(cfg: RunConfig, tokenizer) -> bool:
    """Whether the dataset's prompts are message lists (then TRL hands rewards message-list
    completions): prompt_form chat / text, or auto = the tokenizer has a chat template. The launch
    probe predicts the same answer from the tokenizer's files (rewards.trl_call)."""
    has = bool(getattr(tokenizer, "chat_template", None))
    if cfg.prompt_form == "text":
        return False
    if cfg.prompt_form == "chat" and not has:
        if not cfg.model.startswith("builtin:"):
            raise ConfigError("prompt_form", f"chat, but {cfg.model}'s tokenizer has no chat template",
                              "use prompt_form = \"text\", or a model with a chat template")
        tokenizer.chat_template = TINY_CHAT_TEMPLATE
        return True
    return has


def build_dataset(cfg: RunConfig, tokenizer, n_builtin: int | None = None):
    """The training dataset with ``prompt`` and ``answer`` columns."""
    import datasets

    chat = prompts_are_chat(cfg, tokenizer)
    if classify(cfg.dataset) == "builtin":
        task = cfg.dataset.split(":", 1)[1]
        n = n_builtin or max(256, cfg.max_steps * cfg.generation_batch_size // max(1, cfg.num_generations) + 64)
        rows = builtin_rows(task, n, cfg.seed)
        return datasets.Dataset.from_list(
            [{"prompt": to_prompt(r["question"], cfg, chat), "answer": r["answer"]} for r in rows])
    ds = load_rows_hub_or_local(cfg)
    held = local_holdout(cfg, len(ds))
    if held:  # evaluation reads these rows (trainer.evaluate.eval_rows): never train on them
        ds = ds.select(range(len(ds) - held))
    cols = ds.column_names
    q_col = next((c for c in PROMPT_COLUMNS if c in cols), None)
    a_col = next((c for c in ANSWER_COLUMNS if c in cols), None)
    if q_col is None:
        raise ConfigError("dataset", f"{cfg.dataset} has no prompt column (columns: {', '.join(cols)})",
                          f"name one of {', '.join(PROMPT_COLUMNS)}")

    def convert(row):
        q = row[q_col]
        prompt = q if isinstance(q, list) else to_prompt(str(q), cfg, chat)
        return {"prompt": prompt, "answer": _gold(row[a_col]) if a_col else None}

    ds = ds.map(convert, remove_columns=[c for c in cols if c not in ("prompt",)])
    return _drop_long_prompts(cfg, ds, tokenizer)


def prompt_tokens(prompt: Any, tokenizer) -> int:
    """Tokens of one training prompt as the trainer sends it (a chat prompt through the chat template
    with the generation prompt, as the notebooks measure it; a text prompt as it stands)."""
    if isinstance(prompt, list):
        ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True)
        if isinstance(ids, dict):
            ids = ids["input_ids"]
        return len(ids)
    return len(tokenizer(prompt, add_special_tokens=False)["input_ids"])


def _drop_long_prompts(cfg: RunConfig, ds, tokenizer, limit: int | None = None, why: str = "max_prompt_length"):
    # max_prompt_length is no longer a GRPOConfig field: drop long prompts here.
    limit = cfg.max_prompt_length if limit is None else limit
    kept = ds.filter(lambda row: prompt_tokens(row["prompt"], tokenizer) <= limit)
    dropped = len(ds) - len(kept)
    if dropped and len(kept) == 0:
        raise ValueError(f"max_prompt_length: all {len(ds)} prompts of {cfg.dataset} are longer than "
                         f"{limit} tokens, nothing left to train on (raise max_prompt_length)")
    if dropped:
        import logging

        logging.getLogger("grpo_tui").warning(
            "%s %d: dropped %d of %d prompts (longer than that); %d left", why, limit, dropped, len(ds), len(kept))
    return kept


def lengths_from_data(cfg: RunConfig, tokenizer, ds) -> tuple[RunConfig, int, str]:
    """``cfg.lengths_from_data`` applied to the training prompts ``ds``, as the notebooks compute it
    (Qwen3 4B: ``maximum_length = int(np.quantile(L, 0.9))``, ``max_prompt_length = maximum_length + 1``,
    ``max_completion_length = max_seq_length - max_prompt_length``): the config with both lengths set,
    the measured length (the notebooks then drop the prompts longer than it) and the line that says so."""
    import numpy as np

    from ..core.settings.config import lengths_rule

    q, plus = lengths_rule(cfg.lengths_from_data)
    lengths = [prompt_tokens(p, tokenizer) for p in ds["prompt"]]
    if not lengths:
        raise ConfigError("lengths_from_data", f"{cfg.dataset} has no prompts to measure", "check the dataset")
    maximum = int(np.quantile(lengths, q))
    prompt = maximum + plus
    completion = cfg.max_seq_length - prompt
    if completion < 1:
        raise ConfigError("lengths_from_data", f"the prompts' {cfg.lengths_from_data.split('+')[0].strip()} is "
                          f"{maximum} tokens, so max_prompt_length {prompt} leaves no completion within "
                          f"max_seq_length {cfg.max_seq_length}", "raise max_seq_length or set the lengths yourself")
    resolved = cfg.with_overrides({"max_prompt_length": prompt, "max_completion_length": completion}).validate()
    line = (f"lengths_from_data {cfg.lengths_from_data!r}: {len(lengths)} training prompts measured with the "
            f"tokenizer (shortest {min(lengths)}, longest {max(lengths)}, quantile {q:g} = {maximum} tokens); "
            f"max_prompt_length = {maximum} + {plus} = {prompt}, max_completion_length = max_seq_length "
            f"{cfg.max_seq_length} - {prompt} = {completion}")
    return resolved, maximum, line


def _unfiltered(cfg: RunConfig, tokenizer):
    return build_dataset(cfg.with_overrides({"max_prompt_length": cfg.max_seq_length - 1,
                                             "max_completion_length": 1}), tokenizer)


def resolve_lengths(cfg: RunConfig, tokenizer, log: Callable[[str], None] | None = None
                    ) -> tuple[RunConfig, int | None]:
    """``cfg.lengths_from_data`` measured on the training prompts, said through ``log`` (the run's
    events) and on stderr (trainer.log): (the config with both lengths set and the rule done, the
    measured prompt length the dataset is cut at). Called right after the tokenizer loads, so the
    evaluation and warm start before GRPO use the measured cap too; (cfg, None) without a rule."""
    if not cfg.lengths_from_data:
        return cfg, None
    import sys

    resolved, maximum, line = lengths_from_data(cfg, tokenizer, _unfiltered(cfg, tokenizer))
    print(f"grpo-tui trainer: {line}", file=sys.stderr, flush=True)  # trainer.log
    if log is not None:  # the run's events
        log(line)
    return resolved.with_overrides({"lengths_from_data": ""}), maximum


def dataset_for_run(cfg: RunConfig, tokenizer, log: Callable[[str], None] | None = None,
                    measured: int | None = None):
    """(config, dataset) for a run: ``build_dataset``, with ``lengths_from_data`` resolved first
    (``resolve_lengths``) unless it was (``measured``: the prompt length it measured)."""
    cfg, found = resolve_lengths(cfg, tokenizer, log)
    measured = found if found is not None else measured
    if measured is None:
        return cfg, build_dataset(cfg, tokenizer)
    # as the notebook does: keep the prompts no longer than the measured length
    return cfg, _drop_long_prompts(cfg, _unfiltered(cfg, tokenizer), tokenizer, measured,
                                   "lengths_from_data: prompts over")
