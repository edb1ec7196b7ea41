"""Accuracy on a held-out split, before and after training and on `grpo-tui eval RUN`.

The held-out rows:
  * GSM8K (and any hub dataset): the ``eval_split`` split (GSM8K: ``test``);
  * a local file: ``eval_split`` may name a second file; otherwise the last
    ``n`` rows of the training file, which training leaves out when
    ``eval_size`` is set (``datasets.local_holdout``): named
    ``<file>[last n, held out]``, or ``<file>[last n]`` (split "training
    file") when they were trained on, so nobody mistakes that for a held-out score;
  * a built-in task: fresh draws from another seed (the tasks are small, so
    these overlap the training facts: it measures the skill, not generalisation).

Generation is greedy (temperature 0), ``max_completion_length`` new tokens:
  * ``VllmGenerator``: Unsloth's ``model.fast_generate`` (the colocated vLLM
    engine) with the trained adapter as a LoRA request (``model.load_lora``);
  * ``HfGenerator``: transformers' ``generate`` (the trl backend, CPU or CUDA), so
    `grpo-tui eval` works on the tiny CPU run too.
A completion is correct when its single solution block matches the gold answer
under the same rule the correctness reward uses (``reward_rules.answers_match``).

Results are ``eval`` events: name, accuracy, n, when (before / after / manual),
plus correct and split. `grpo-tui eval RUN` loads the model in ``trainer.eval_run``
(this module imports no backend: the backends call it during a run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..core.run import events as ev
from ..core.settings.config import RunConfig
from . import gsm8k
from .reward_rules import Tags, answers_match, extract_answer

BUILTIN_EVAL_SEED_OFFSET = 7919  # another seed than training's draws

Generate = Callable[[list[str]], list[str]]


@dataclass
class EvalResult:
    name: str
    accuracy: float
    n: int
    correct: int
    when: str
    split: str
    seconds: float
    completions: list[str]

    def payload(self) -> dict[str, Any]:
        return {"name": self.name, "accuracy": self.accuracy, "n": self.n, "when": self.when,
                "correct": self.correct, "split": self.split, "seconds": round(self.seconds, 2)}


# -- rows ------------------------------------------------------------------------------------
def eval_rows(cfg: RunConfig, n: int, *, chat: bool, split: str | None = None) -> tuple[str, str, list[dict]]:
    """(name, split, rows) of held-out rows with ``prompt`` and ``answer``."""
    from .datasets import builtin_rows, classify, load_rows_hub_or_local, local_holdout, to_prompt

    cfg = gsm8k.apply_defaults(cfg)
    kind = classify(cfg.dataset)
    if kind == "builtin":
        task = cfg.dataset.split(":", 1)[1]
        rows = builtin_rows(task, n, cfg.seed + BUILTIN_EVAL_SEED_OFFSET)
        return cfg.dataset, "fresh draws", [{"prompt": to_prompt(r["question"], cfg, chat), "answer": r["answer"]}
                                            for r in rows]
    split = split or cfg.eval_split
    if kind == "local":
        if split and Path(split).expanduser().is_file():
            ds = load_rows_hub_or_local(cfg.with_overrides({"dataset": str(Path(split).expanduser())}))
            name, split_name, tail = Path(split).name, "file", False
        else:
            ds = load_rows_hub_or_local(cfg)
            name, split_name, tail = f"{Path(cfg.dataset).name}[last {n}]", "training file", True
    else:
        if not split:
            split = "test"
        ds = load_rows_hub_or_local(cfg.with_overrides({"dataset_split": split}))
        name, split_name, tail = f"{cfg.dataset}/{split}", split, False
    total = len(ds)
    if tail and 0 < n <= local_holdout(cfg, total):
        name, split_name = f"{Path(cfg.dataset).name}[last {n}, held out]", "held out"
    idx = range(max(0, total - n), total) if tail else range(min(n, total))
    sub = ds.select(list(idx))
    rows = []
    for row in sub:
        q = row.get("prompt", row.get("question", row.get("problem")))
        gold = row.get("answer", row.get("solution"))
        prompt = q if isinstance(q, list) else (gsm8k.to_messages(q, cfg) if chat else str(q))
        rows.append({"prompt": prompt, "answer": gsm8k.gold_answer(gold) if gold is not None else None})
    return name, split_name, rows


def prompt_strings(prompts: Sequence[Any], tokenizer: Any) -> list[str]:
    """Chat message lists -> text with the model's chat template (generation prompt added)."""
    out = []
    for p in prompts:
        if isinstance(p, list):
            out.append(tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True))
        else:
            out.append(str(p))
    return out


def score(completions: Sequence[str], answers: Sequence[Any], cfg: RunConfig,
          questions: Sequence[Any] | None = None) -> list[bool]:
    """Each completion right or not, by the correctness reward's rule (``questions``: the prompts, which
    decide whether a percent answer or "$5 more" answers them, as in training)."""
    tags = Tags.from_config(cfg)
    out = []
    qs = questions if questions is not None else [None] * len(completions)
    for c, gold, q in zip(completions, answers, qs):
        got = extract_answer(c, tags)
        out.append(bool(got is not None and gold not in (None, "") and answers_match(got, str(gold), q)))
    return out


# -- generators ----------------------------------------------------------------------------------
class HfGenerator:
    """Greedy batched generation with transformers (left padding)."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int, batch_size: int = 16):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    def __call__(self, prompts: list[str]) -> list[str]:
        import torch

        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        device = next(self.model.parameters()).device
        out: list[str] = []
        self.model.eval()
        for i in range(0, len(prompts), self.batch_size):
            batch = prompts[i:i + self.batch_size]
            enc = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                gen = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                          pad_token_id=tok.pad_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            out.extend(tok.batch_decode(new, skip_special_tokens=True))
        return out


class VllmGenerator:
    """Greedy generation through Unsloth's colocated vLLM engine, with a LoRA request.

    Prompts go in as token ids made without special tokens, as ``HfGenerator`` makes them: vLLM
    tokenizes a text prompt with ``add_special_tokens=True``, and a chat-templated prompt already
    starts with BOS (a second one for Llama)."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int, lora_request: Any = None):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.lora_request = max_new_tokens, lora_request

    def __call__(self, prompts: list[str]) -> list[str]:
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=self.max_new_tokens)
        inputs = [{"prompt_token_ids": list(self.tokenizer(p, add_special_tokens=False)["input_ids"])}
                  for p in prompts]
        outputs = self.model.fast_generate(inputs, sampling_params=params, lora_request=self.lora_request,
                                           use_tqdm=False)
        return [o.outputs[0].text if o.outputs else "" for o in outputs]


# -- the flow ------------------------------------------------------------------------------------
def evaluate(cfg: RunConfig, tokenizer: Any, generate: Generate, *, n: int, when: str,
             split: str | None = None, emit: Callable[..., Any] | None = None,
             phase: Callable[..., Any] | None = None) -> EvalResult:
    """Generate for ``n`` held-out rows, score them, and emit an ``eval`` event."""
    from .datasets import prompts_are_chat

    chat = prompts_are_chat(cfg, tokenizer)  # the same form the training prompts have
    name, split_name, rows = eval_rows(cfg, n, chat=chat, split=split)
    if phase:
        phase("evaluating", f"accuracy on {name} ({len(rows)} rows, {when} training)", current=0, total=len(rows))
    t0 = time.perf_counter()
    completions = generate(prompt_strings([r["prompt"] for r in rows], tokenizer)) if rows else []
    ok = score(completions, [r["answer"] for r in rows], cfg, [r["prompt"] for r in rows])
    correct = sum(ok)
    result = EvalResult(name=name, accuracy=(correct / len(rows)) if rows else 0.0, n=len(rows), correct=correct,
                        when=when, split=split_name, seconds=time.perf_counter() - t0, completions=completions)
    if emit:
        emit(ev.EVAL, **result.payload())
    return result


def hf_eval(ctx: Any, model: Any, tokenizer: Any, when: str) -> EvalResult | None:
    """Before/after evaluation for a transformers model inside a trainer process (the trl backend);
    a no-op when the config asks for none (``eval_size`` 0)."""
    cfg = ctx.cfg
    if cfg.eval_size <= 0:
        return None
    gen = HfGenerator(model, tokenizer, cfg.max_completion_length)
    return evaluate(cfg, tokenizer, gen, n=cfg.eval_size, when=when, emit=ctx.emit, phase=ctx.phase)
