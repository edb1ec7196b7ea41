"""Supervised warm start of the tiny model (preset field ``warm_start_steps``).

A few optimiser steps of plain next-token training on
``prompt -> <answer>X</answer><eos>`` with the task's correct answers, run
before GRPO (shown as the ``warm_start`` phase). It is kept short on purpose:
the model leaves it with the output format half learnt and answering barely
above chance, and GRPO does the rest.

Why not teach the format only (random X), so correctness starts exactly at
chance? Measured on cpu-tiny: from chance the tiny policy collapses onto one
answer per prompt within ~50 steps (every completion in a group alike, so no
group variance and no signal) and correctness stays near 0.1 for 300 steps.
GRPO sharpens a policy that sometimes gets it right; it does not discover
addition from nothing at this scale. Only used for built-in tasks.
"""

from __future__ import annotations

from typing import Callable

from ..core.config import RunConfig
from .datasets import warm_start_texts


def warm_start(model, tokenizer, cfg: RunConfig, progress: Callable[[int, int, float], None] | None = None,
               batch_size: int = 32, lr: float = 3e-3) -> float:
    """Train in place; returns the last loss."""
    import torch

    steps = cfg.warm_start_steps
    pairs = warm_start_texts(cfg, steps * batch_size, cfg.seed)
    eos = tokenizer.eos_token
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss_val = float("nan")
    for step in range(steps):
        chunk = pairs[step * batch_size:(step + 1) * batch_size]
        prompts = [p for p, _ in chunk]
        full = [p + c + eos for p, c in chunk]
        enc = tokenizer(full, return_tensors="pt", padding=True, add_special_tokens=False)
        plen = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = -100
        width = labels.shape[1]
        for i, n in enumerate(plen):  # left padding: prompt tokens sit after the pads
            pads = width - int(enc["attention_mask"][i].sum())
            labels[i, : pads + n] = -100
        enc = {k: v.to(model.device) for k, v in enc.items()}
        out = model(**enc, labels=labels.to(model.device))
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss_val = float(out.loss.detach())
        if progress:
            progress(step + 1, steps, loss_val)
    model.eval()
    return loss_val
