"""The format warm start: a short supervised pass before GRPO (``warmstart_*`` fields).

GRPO only sharpens what a policy already does now and then. A small model that never writes
the task's format (SmolLM2-135M used the tags in 2 completions of 8 before training, and after
28 GRPO steps on 2 cores format_strict was still ~0: docs/trainer.md) gives GRPO nothing to
compare, so the run starts with ``warmstart_steps`` optimiser steps of plain next-token training
on examples written in the task's exact format -- the worked steps inside the reasoning tags, the
gold number inside the answer tags -- as Unsloth's Qwen3 GRPO notebook does with its SFT stage.

Where the examples come from (``warmstart_dataset``, else the training set):
  * a built-in task: fresh draws (another seed than the GRPO rows); ``word_problems`` rows carry
    their worked steps; tasks without steps (``arith``: the tiny model) get the answer tags only;
  * a hub or local dataset: rows whose gold answer comes with a worked solution -- GSM8K's
    ``steps #### 42`` (calculator notes ``<<6*7=42>>`` dropped), or a ``reasoning`` / ``rationale``
    / ``explanation`` / ``steps`` column; rows without one are left out (a bare answer would
    teach the format without the reasoning that format_strict asks for).

The prompt is the one GRPO will show (the model's chat template with the system prompt); the
loss is on the completion's tokens only, which end with the template's end-of-turn token, so the
model also learns to stop. ``warmstart_examples`` distinct examples are cycled over
(0 = a new one every time), ``warmstart_batch_size`` a step, AdamW at ``warmstart_learning_rate``.
The model trained is the one GRPO continues: LoRA weights for a LoRA run (the backends attach the
adapter first), every weight with ``full_finetuning``. Backend-agnostic on purpose: the trl and
unsloth backends both call ``warm_start``.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from ..core.settings.config import RunConfig
from .sources import classify

# OpenMathReasoning (Unsloth's SFT stage): generated_solution is the worked text, expected_answer the gold
WORKED_COLUMNS = ("reasoning", "rationale", "explanation", "steps", "worked_solution", "generated_solution")
EXTRA_ANSWER_COLUMNS = ("expected_answer",)
_THINK_TAGS = re.compile(r"</?think>")  # a worked solution's own tags: the example wraps it in the task's
_CALC_NOTE = re.compile(r"<<[^<>]*>>")  # GSM8K's calculator annotations
SEED_OFFSET = 2  # another draw than the GRPO rows (seed) and the held-out rows (evaluate)

Progress = Callable[[int, int, float], None]


class NoWarmstartExamples(ValueError):
    """The dataset has no example with a worked solution; the message is one line."""


def completion_text(cfg: RunConfig, answer: str, steps: str | None) -> str:
    """The target completion: ``<think>steps</think><answer>X</answer>`` (answer tags alone without steps)."""
    reasoning = f"{cfg.reasoning_start}{steps.strip()}{cfg.reasoning_end}" if steps and steps.strip() else ""
    return f"{reasoning}{cfg.solution_start}{answer}{cfg.solution_end}"


def worked_steps(row: dict[str, Any], answer_column: str | None) -> str | None:
    """A row's worked solution: the text before GSM8K's ``####``, or a worked-solution column."""
    if answer_column and isinstance(row.get(answer_column), str) and "####" in row[answer_column]:
        text = row[answer_column].split("####", 1)[0]
    else:
        text = next((row[c] for c in WORKED_COLUMNS if isinstance(row.get(c), str) and row[c].strip()), "")
    # the notebooks strip only the ends (thoughts.strip()): a solution's line breaks are kept
    text = _THINK_TAGS.sub("", _CALC_NOTE.sub("", text)).strip()
    return text or None


# what pandas.to_numeric(errors="coerce") keeps (checked against pandas 2): ASCII digits with an optional sign,
# point and exponent, ASCII spaces around; inf / infinity without spaces. Not float()'s "1_000", "１２", "nan".
_PANDAS_NUMBER = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\n\r\f\v]*"
                            r"|[+-]?(?:inf|infinity)", re.IGNORECASE)


def numeric(answer: Any) -> bool:
    """A number as pandas.to_numeric reads one ("14", "-2", "3.5", "1e3", "inf"; not "1,000", "1_000" or
    "\\frac{1}{2}"), as the notebooks' SFT stage keeps its rows."""
    return _PANDAS_NUMBER.fullmatch(str(answer)) is not None


def source_config(cfg: RunConfig) -> RunConfig:
    if not cfg.warmstart_dataset:
        return cfg
    return cfg.with_overrides({"dataset": cfg.warmstart_dataset, "dataset_config": cfg.warmstart_dataset_config,
                               "dataset_split": cfg.warmstart_dataset_split or "train"})


def example_rows(cfg: RunConfig, chat: bool, tokenizer: Any = None) -> tuple[Iterator[dict[str, Any]], int | None]:
    """Endless ``{"prompt", "completion"}`` rows and how many distinct ones there are (None: fresh
    ones without end): ``warmstart_examples`` distinct ones cycled, or fresh ones (built-in tasks) /
    the dataset's rows in a shuffled cycle, each pass one epoch (hub, local)."""
    from .datasets import TASKS, to_prompt

    src = source_config(cfg)
    rng = random.Random(cfg.seed + SEED_OFFSET)
    if classify(src.dataset) == "builtin":
        task = TASKS[src.dataset.split(":", 1)[1]]
        fresh = (r for _ in itertools.count() for r in task(rng, 64))
        rows = ({"prompt": to_prompt(r["question"], cfg, chat),
                 "completion": completion_text(cfg, r["answer"], r.get("steps"))} for r in fresh
                if not cfg.warmstart_numeric_answers or numeric(r["answer"]))
        if cfg.warmstart_max_tokens and tokenizer is not None:
            rows = (r for r in rows if fits(tokenizer, r, cfg.warmstart_max_tokens))
        if cfg.warmstart_examples:
            return itertools.cycle(list(itertools.islice(rows, cfg.warmstart_examples))), cfg.warmstart_examples
        return rows, None
    pool = dataset_examples(cfg, src, chat, tokenizer)
    if cfg.warmstart_examples:
        pool = pool[:cfg.warmstart_examples]

    def cycle() -> Iterator[dict[str, Any]]:
        while True:
            yield from pool
            rng.shuffle(pool)

    return cycle(), len(pool)


def fits(tokenizer: Any, example: dict[str, Any], max_tokens: int) -> bool:
    return len(encode(tokenizer, example["prompt"], example["completion"])[0]) <= max_tokens


def dataset_examples(cfg: RunConfig, src: RunConfig, chat: bool, tokenizer: Any = None) -> list[dict[str, Any]]:
    """Rows of a hub or local dataset that have a worked solution (and pass the warm start's
    filters: a numeric gold answer, at most ``warmstart_max_tokens``), as warm-start examples."""
    from .datasets import ANSWER_COLUMNS, PROMPT_COLUMNS, _gold, load_rows_hub_or_local, local_holdout, to_prompt

    if classify(src.dataset) == "local":  # a notebook's own path (/content/...) that is not on this machine
        p = Path(src.dataset).expanduser()
        if not p.exists() or not (p.is_dir() or p.suffix.lower() in (".jsonl", ".json", ".parquet", ".csv")):
            raise NoWarmstartExamples(f"warm start: {src.dataset} is not a folder or a .jsonl/.json/.parquet/.csv "
                                      "file on this machine")
    ds = load_rows_hub_or_local(src)
    held = local_holdout(src, len(ds)) if src.dataset == cfg.dataset else 0
    if held:  # the held-out rows evaluation reads are never trained on, here either
        ds = ds.select(range(len(ds) - held))
    cols = ds.column_names
    q_col = next((c for c in PROMPT_COLUMNS if c in cols), None)
    a_col = next((c for c in ANSWER_COLUMNS + EXTRA_ANSWER_COLUMNS if c in cols), None)
    out = []
    for row in ds:
        steps = worked_steps(row, a_col)
        if q_col is None or a_col is None or steps is None or row.get(a_col) in (None, ""):
            continue
        gold = _gold(row[a_col])
        if cfg.warmstart_numeric_answers and not numeric(gold):
            continue
        q = row[q_col]
        example = {"prompt": q if isinstance(q, list) else to_prompt(str(q), cfg, chat),
                   "completion": completion_text(cfg, gold, steps)}
        if cfg.warmstart_max_tokens and tokenizer is not None and not fits(tokenizer, example, cfg.warmstart_max_tokens):
            continue
        out.append(example)
        if cfg.warmstart_examples and len(out) >= cfg.warmstart_examples:
            break
    if not out:
        kept = "".join([" with a numeric answer" if cfg.warmstart_numeric_answers else "",
                        f" of at most {cfg.warmstart_max_tokens} tokens" if cfg.warmstart_max_tokens else ""])
        raise NoWarmstartExamples(
            f"warm start: {Path(src.dataset).name if classify(src.dataset) == 'local' else src.dataset} has "
            f"no rows with a worked solution{kept} (GSM8K's '... #### 42', or a column {', '.join(WORKED_COLUMNS)})")
    return out


def planned_steps(cfg: RunConfig, distinct: int | None) -> int:
    """``warmstart_steps``, else ``warmstart_epochs`` passes over the distinct rows (as TRL counts an
    epoch: ceil(rows / batch) steps)."""
    if cfg.warmstart_steps:
        return cfg.warmstart_steps
    if not distinct:
        raise NoWarmstartExamples("warmstart_epochs: the built-in task draws a fresh example every time; "
                                  "set warmstart_examples (the rows an epoch covers) or warmstart_steps")
    return max(1, math.ceil(cfg.warmstart_epochs * math.ceil(distinct / cfg.warmstart_batch_size)))


def encode(tokenizer: Any, prompt: Any, completion: str) -> tuple[list[int], int]:
    """Token ids of prompt + completion + end of turn, and how many of them are the prompt's."""
    if isinstance(prompt, list):
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    else:
        text = str(prompt)
    p_ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    c_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        c_ids.append(int(tokenizer.eos_token_id))
    return p_ids + c_ids, len(p_ids)


LOGITS_BUDGET = 2**25  # logits held at once (128 MB in float32): SmolLM2's 49k vocabulary x ~300 tokens is 15M a row


def example_tensors(tokenizer: Any, examples: list[dict[str, Any]], max_len: int) -> tuple[Any, Any, Any]:
    """Right-padded input ids, attention mask and labels (-100 on prompt and padding)."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    encoded = [encode(tokenizer, e["prompt"], e["completion"]) for e in examples]
    encoded = [(ids[:max_len], n) for ids, n in encoded]
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    for i, (ids, n) in enumerate(encoded):
        t = torch.tensor(ids, dtype=torch.long)
        input_ids[i, :len(ids)] = t
        mask[i, :len(ids)] = 1
        labels[i, n:len(ids)] = t[n:]
    return input_ids, mask, labels


def micro_batches(examples: list[Any], row_logits: int) -> list[list[Any]]:
    """The step's examples in groups whose logits fit LOGITS_BUDGET (all at once for a small vocabulary)."""
    k = max(1, LOGITS_BUDGET // max(1, row_logits))
    return [examples[i:i + k] for i in range(0, len(examples), k)]


def warm_start(model: Any, tokenizer: Any, cfg: RunConfig, progress: Progress | None = None) -> list[float]:
    """Train ``model`` in place for ``cfg.warmstart_steps`` steps; returns the loss of each step (the
    mean over the completion tokens of its examples).

    A step's examples go through the model in micro-batches whose gradients add up, each weighted
    by its share of the step's completion tokens (the same loss and gradient as one padded batch):
    a batch's logits over a 49k vocabulary at once would cost GBs of RAM on a CPU machine."""
    import torch

    from .datasets import prompts_are_chat

    rows, distinct = example_rows(cfg, prompts_are_chat(cfg, tokenizer), tokenizer)  # the GRPO prompts' form
    steps = planned_steps(cfg, distinct)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("warmstart_steps: the model has no trainable weights (attach LoRA first)")
    opt = torch.optim.AdamW(params, lr=cfg.warmstart_learning_rate, weight_decay=0.0)
    device = next(model.parameters()).device
    vocab = int(getattr(model.config, "vocab_size", 0) or len(tokenizer))
    losses: list[float] = []
    model.train()
    for step in range(steps):
        examples = list(itertools.islice(rows, cfg.warmstart_batch_size))
        parts = [example_tensors(tokenizer, chunk, cfg.max_seq_length)
                 for chunk in micro_batches(examples, vocab * cfg.max_seq_length)]
        tokens = sum(int((labels[:, 1:] != -100).sum()) for _, _, labels in parts) or 1
        total = 0.0
        for ids, mask, labels in parts:
            n = int((labels[:, 1:] != -100).sum())
            if not n:
                continue
            out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
            (out.loss * (n / tokens)).backward()  # out.loss: the mean over this micro-batch's n tokens
            total += float(out.loss.detach()) * n / tokens
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(total)
        if progress:
            progress(step + 1, steps, losses[-1])
    model.eval()
    return losses


def wanted(cfg: RunConfig, ctx: Any) -> bool:
    """Whether this run warm-starts: ``warmstart_steps`` > 0 and not a resume (the checkpoint
    holds what the warm start taught)."""
    return cfg.warmstart_on and ctx.resume_from is None


def run_phase(ctx: Any, model: Any, tokenizer: Any) -> list[float] | None:
    """The ``warm_start`` phase of a run (both backends): progress and loss in the event log.
    Skipped on resume (the checkpoint holds what it taught) and when ``warmstart_steps`` is 0."""
    from .context import Throttle

    cfg = ctx.cfg
    if not wanted(cfg, ctx):
        return None
    throttle = Throttle(0.3)

    def progress(step: int, total: int, loss: float) -> None:
        if throttle.ready(step == total):
            ctx.phase("warm_start", f"format warm start, loss {loss:.3f}", progress=step / total,
                      current=step, total=total)

    planned = f"{cfg.warmstart_steps} supervised steps" if cfg.warmstart_steps else \
        f"{cfg.warmstart_epochs:g} epoch(s) of supervised steps"
    ctx.phase("warm_start", f"format warm start: {planned} of {cfg.warmstart_batch_size} examples",
              progress=0.0, current=0, total=cfg.warmstart_steps or None)
    try:
        losses = warm_start(model, tokenizer, cfg, progress)
    except NoWarmstartExamples as exc:
        ctx.log(f"{exc}; warm start skipped", "warning")
        return None
    shown = ", ".join(f"{x:.3f}" for x in _every(losses, 10))
    ctx.log(f"format warm start: {len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f} (by step: {shown})")
    return losses


def _every(values: list[float], n: int) -> list[float]:
    """At most ``n`` values spread over the list, the last one included."""
    if len(values) <= n:
        return values
    idx = sorted({round(i * (len(values) - 1) / (n - 1)) for i in range(n)})
    return [values[i] for i in idx]
