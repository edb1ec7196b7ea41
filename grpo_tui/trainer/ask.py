"""Answer an ``ask`` command with the live policy while the run is paused (core.run.asks has the flow).

What an ask must never do is change training: it runs only while paused (between two steps), in
``torch.no_grad``, with the model switched to eval mode and back, and inside a forked RNG (torch,
CUDA, Python's and NumPy's), so a resumed run trains exactly as it would have. It does not touch
the optimizer, the step counter or TRL's logs.

Generators:
  * ``HfAsker``: transformers' ``generate`` on the trainer's model (the trl backend, CPU or CUDA;
    also a watched user script). A stop asked for during generation ends it early (a stopping
    criterion that looks for a stop command or SIGTERM), and the ask is answered as cancelled.
  * ``VllmAsker``: Unsloth's ``fast_generate`` on the colocated vLLM engine, with the adapter as it
    is now saved with ``save_lora`` and passed as a LoRA request (the way Unsloth's notebooks test
    a GRPO adapter); prompts go in as token ids so vLLM adds no second BOS. vLLM cannot be
    interrupted mid-request: a stop waits for it (bounded by ``max_tokens``).
Scoring uses the run's own reward functions, called the way TRL calls them, when a gold answer is
known (typed by the user, or the held-out row's).
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..core.run import events as ev
from ..core.run.asks import AskError, AskRequest, check_request
from .capture import prompt_text
from .rewards import completion_text

CANCEL_POLL_S = 0.25


class AskCancelled(Exception):
    """A stop arrived while the ask was generating."""


@dataclass
class Completion:
    text: str
    ids: list[int]
    truncated: bool

    @property
    def length(self) -> int:
        return len(self.ids)


@contextlib.contextmanager
def preserved_rng():
    """Every random stream training uses, put back as it was (generation samples from them)."""
    import torch

    py_state = random.getstate()
    try:
        import numpy as np

        np_state = np.random.get_state()
    except ImportError:  # pragma: no cover - numpy comes with torch
        np, np_state = None, None
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() and torch.cuda.is_initialized() \
        else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            if np is not None:
                np.random.set_state(np_state)


def sampling(trainer: Any, req: AskRequest, cfg: Any) -> dict[str, Any]:
    """The run's sampling settings unless the ask overrides them; temperature 0 means greedy."""
    temperature = req.temperature if req.temperature is not None else float(getattr(trainer, "temperature", 1.0))
    return {
        "temperature": temperature,
        "top_p": float(getattr(trainer, "top_p", 1.0) or 1.0),
        "top_k": getattr(trainer, "top_k", None),
        "min_p": getattr(trainer, "min_p", None),
        "repetition_penalty": float(getattr(trainer, "repetition_penalty", 1.0) or 1.0),
        "max_tokens": req.max_tokens or int(cfg.max_completion_length),
    }


class HfAsker:
    def __init__(self, trainer: Any):
        self.trainer = trainer

    @property
    def tokenizer(self) -> Any:
        return self.trainer.processing_class

    def model(self) -> Any:
        tr = self.trainer
        return tr.accelerator.unwrap_model(tr.model) if hasattr(tr, "accelerator") else tr.model

    def max_positions(self) -> int | None:
        cfg = getattr(self.model(), "config", None)
        n = getattr(cfg, "max_position_embeddings", None)
        return int(n) if isinstance(n, int) and n > 0 else None

    def prompt_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompt: str, n: int, params: dict[str, Any], should_stop: Callable[[], bool]
                 ) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

        tok = self.tokenizer
        model = self.model()
        eos = list(getattr(self.trainer, "eos_token_ids", None) or [tok.eos_token_id])
        greedy = params["temperature"] <= 0.0
        kw: dict[str, Any] = {"max_new_tokens": params["max_tokens"], "do_sample": not greedy,
                              "num_return_sequences": n, "eos_token_id": eos, "pad_token_id": tok.pad_token_id,
                              "repetition_penalty": params["repetition_penalty"]}
        if not greedy:
            kw.update(temperature=params["temperature"], top_p=params["top_p"])
            if params["top_k"]:
                kw["top_k"] = params["top_k"]
            if params["min_p"]:
                kw["min_p"] = params["min_p"]
        gen_cfg = GenerationConfig(**kw)
        cancelled = {"yes": False}

        class _Cancel(StoppingCriteria):
            last = 0.0

            def __call__(self, input_ids, scores, **kwargs):
                now = time.monotonic()
                if now - self.last >= CANCEL_POLL_S:
                    self.last = now
                    if should_stop():
                        cancelled["yes"] = True
                return torch.full((input_ids.shape[0],), cancelled["yes"], dtype=torch.bool,
                                  device=input_ids.device)

        device = next(model.parameters()).device
        ids = torch.tensor([self.prompt_ids(prompt)], device=device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gen_cfg,
                                     stopping_criteria=StoppingCriteriaList([_Cancel()]))
        finally:
            if was_training:
                model.train()
        if cancelled["yes"]:
            raise AskCancelled("cancelled by a stop")
        new = out[:, ids.shape[1]:].tolist()
        result = []
        for row in new:
            end = next((i + 1 for i, t in enumerate(row) if t in eos), None)
            toks = row[:end] if end is not None else [t for t in row if t != tok.pad_token_id]
            text = tok.decode(toks, skip_special_tokens=True)
            result.append(Completion(text=text, ids=toks,
                                     truncated=end is None and len(toks) >= params["max_tokens"]))
        return result


class VllmAsker(HfAsker):
    """Through Unsloth's colocated vLLM engine (``model.fast_generate``) with the current adapter."""

    def generate(self, prompt: str, n: int, params: dict[str, Any], should_stop: Callable[[], bool]
                 ) -> list[Completion]:
        from vllm import SamplingParams

        model = self.model()
        kw: dict[str, Any] = {"n": n, "temperature": max(0.0, params["temperature"]), "top_p": params["top_p"],
                              "max_tokens": params["max_tokens"],
                              "repetition_penalty": params["repetition_penalty"]}
        if params["top_k"]:
            kw["top_k"] = int(params["top_k"])
        if params["min_p"]:
            kw["min_p"] = float(params["min_p"])
        sp = SamplingParams(**kw)
        with tempfile.TemporaryDirectory(prefix="grpo-tui-ask-") as tmp:
            model.save_lora(tmp)  # the adapter as it is at this step boundary
            lora = model.load_lora(tmp)
            outputs = model.fast_generate([{"prompt_token_ids": self.prompt_ids(prompt)}], sampling_params=sp,
                                          lora_request=lora, use_tqdm=False)
        result = []
        for out in outputs[:1]:
            for o in out.outputs:
                ids = list(getattr(o, "token_ids", None) or [])
                result.append(Completion(text=o.text, ids=ids,
                                         truncated=getattr(o, "finish_reason", None) == "length"))
        return result


# -- the ask -----------------------------------------------------------------------------------------
def _questions(req: AskRequest, cfg: Any, tokenizer: Any) -> list[tuple[Any, str | None]]:
    """(prompt as the dataset holds it, gold) for each question of the ask."""
    from .datasets import prompts_are_chat

    chat = prompts_are_chat(cfg, tokenizer)  # the same form the training prompts have
    if req.heldout:
        from .evaluate import eval_rows

        _, _, rows = eval_rows(cfg, req.heldout, chat=chat)
        return [(r["prompt"], None if r.get("answer") is None else str(r["answer"])) for r in rows]
    from .datasets import to_prompt

    return [(to_prompt(req.prompt, cfg, chat), req.gold)]


def _render(prompt: Any, tokenizer: Any, trainer: Any) -> str:
    if isinstance(prompt, list):
        kwargs = getattr(trainer, "chat_template_kwargs", None) or {}
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True, **kwargs)
    return str(prompt)


def _score(trainer: Any, prompt: Any, comps: Sequence[Completion], gold: str | None
           ) -> tuple[list[dict[str, float | None]], list[float | None]]:
    """Each reward function's score and the weighted total per completion, called as TRL calls them."""
    n = len(comps)
    names = list(getattr(trainer, "reward_func_names", []) or [])
    funcs = list(getattr(trainer, "reward_funcs", []) or [])
    if gold is None or not funcs:
        return [{} for _ in comps], [None] * n
    weights_t = getattr(trainer, "reward_weights", None)
    weights = [float(w) for w in weights_t.tolist()] if weights_t is not None else [1.0] * len(funcs)
    conversational = isinstance(prompt, list)
    completions = [[{"role": "assistant", "content": c.text}] for c in comps] if conversational \
        else [c.text for c in comps]
    per: list[dict[str, float | None]] = [{} for _ in comps]
    for func, name in zip(funcs, names):
        if not callable(func) or hasattr(func, "forward"):  # reward models: not scored here
            continue
        out = func(prompts=[prompt] * n, completions=completions, completion_ids=[c.ids for c in comps], answer=[gold] * n,
                   trainer_state=getattr(trainer, "state", None), log_extra=lambda *a, **k: None,
                   log_metric=lambda *a, **k: None)
        for i in range(n):
            v = out[i] if i < len(out) else None
            per[i][name] = float(v) if isinstance(v, (int, float)) and v == v else None
    totals: list[float | None] = []
    for scores in per:
        valid = [(scores.get(nm), w) for nm, w in zip(names, weights) if scores.get(nm) is not None]
        totals.append(sum(s * w for s, w in valid) if valid else None)
    return per, totals


def _advantages(totals: list[float | None]) -> list[float | None]:
    """Group-relative advantages as TRL computes them (mean-centred, scaled by the group's std)."""
    vals = [t for t in totals if t is not None]
    if len(vals) < 2 or len(vals) != len(totals):
        return [None] * len(totals)
    mean = sum(vals) / len(vals)
    std = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5
    return [(v - mean) / (std + 1e-4) for v in vals]


def token_budget(cfg: Any) -> int:
    """Tokens the run's own generation holds at once (its generation batch x prompt + completion
    caps): an ask stays inside it, so it fits the memory the planner gave training."""
    batch = int(getattr(cfg, "generation_batch_size", 0) or cfg.per_device_train_batch_size)
    return max(1, batch) * (int(cfg.max_prompt_length) + int(cfg.max_completion_length))


def answer(ctx: Any, cmd: dict[str, Any], asker: Any) -> dict[str, Any]:
    """Run one ask; writes the ``ask`` event and returns the acknowledgement's payload."""
    from .evaluate import score as correct

    req = check_request(cmd)
    trainer = asker.trainer
    cfg = ctx.cfg
    tok = asker.tokenizer
    params = sampling(trainer, req, cfg)
    questions = _questions(req, cfg, tok)
    limit = asker.max_positions()
    rendered = [_render(p, tok, trainer) for p, _ in questions]
    if limit is not None:
        longest = max(len(asker.prompt_ids(r)) for r in rendered)
        if longest + params["max_tokens"] > limit:
            raise AskError(f"the prompt is {longest} tokens and max_tokens {params['max_tokens']}: "
                           f"the model takes at most {limit} tokens in all")

    budget = token_budget(cfg)
    n_gen = 1 if params["temperature"] <= 0.0 else req.n
    longest = max(len(asker.prompt_ids(r)) for r in rendered)
    if n_gen * (longest + params["max_tokens"]) > budget:
        raise AskError(f"this ask needs {n_gen} x ({longest} + {params['max_tokens']}) tokens at once; the run "
                       f"plans memory for {budget} (its generation batch): ask for fewer completions or tokens")

    def should_stop() -> bool:
        if ctx.stop_requested.is_set():
            return True
        return any(c.get("command") == "stop" for c in ctx.run.pending_commands())

    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    first_ok: list[bool] = []
    with preserved_rng():
        for g, ((prompt, gold), text) in enumerate(zip(questions, rendered)):
            n = 1 if params["temperature"] <= 0.0 else req.n  # greedy: one answer, n copies would say nothing
            comps = asker.generate(text, n, params, should_stop)
            scores, totals = _score(trainer, prompt, comps, gold)
            advantages = _advantages(totals)
            if gold is not None and comps:
                first_ok.append(correct([comps[0].text], [gold], cfg)[0])
            for c, s, total, adv in zip(comps, scores, totals, advantages):
                row = {"prompt": prompt_text(prompt), "completion": completion_text(c.text), "rewards": s,
                       "reward": total, "advantage": adv, "group": g, "length": c.length,
                       "truncated": c.truncated}
                if gold is not None:
                    row["answer"] = gold
                rows.append(row)
    seconds = time.perf_counter() - t0
    accuracy = (sum(first_ok) / len(first_ok)) if first_ok else None
    ctx.samples.emit(ev.ASK, ctx.step, id=cmd.get("id"), request=req.payload(), rows=rows,
                     accuracy=accuracy, seconds=round(seconds, 2), sampling=params)
    return {"answered": len(rows), "accuracy": accuracy, "seconds": round(seconds, 2)}
