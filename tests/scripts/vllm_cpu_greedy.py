"""Run by tests/trainer/test_vllm_cpu.py in its own process (one vLLM engine a process).

1. The converted GGUF folder (argv[1]) in vLLM's CPU engine and in transformers, both float32: the
   greedy token ids of the same chat prompt. Prints {"vllm": [...], "hf": [...], "text": "..."}.
2. ``LLM.generate`` calls the vllm stand-in (tests/standins/vllm) accepts or refuses, made on the real
   engine: prints {"generate": {case: [real refused?, stand-in refused?, real error]}}.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
TOKENS = 24
STANDIN = Path(__file__).resolve().parent.parent / "standins" / "vllm" / "__init__.py"


def standin():
    spec = importlib.util.spec_from_file_location("standin_vllm", STANDIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(folder: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from vllm import LLM, SamplingParams

    tok = AutoTokenizer.from_pretrained(folder)
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France? Answer in one "
                                                                  "sentence."}], tokenize=False,
                                     add_generation_prompt=True)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    hf = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    with torch.no_grad():
        out = hf.generate(torch.tensor([ids]), max_new_tokens=TOKENS, do_sample=False)
    want = out[0, len(ids):].tolist()
    del hf

    llm = LLM(model=folder, dtype="float32", enforce_eager=True, max_model_len=512, seed=0)
    got = llm.generate([{"prompt_token_ids": ids}], SamplingParams(temperature=0.0, max_tokens=TOKENS),
                       use_tqdm=False)[0].outputs[0]
    print("RESULT", json.dumps({"vllm": list(got.token_ids), "hf": want, "text": got.text}), flush=True)

    fake = standin()
    real_params, fake_params = SamplingParams(max_tokens=2), fake.SamplingParams(max_tokens=2)
    cases = {
        "text prompt": lambda sp: ("hello", sp, None),
        "token ids prompt": lambda sp: ({"prompt_token_ids": ids[:8]}, sp, None),
        "list of prompts": lambda sp: (["a", {"prompt": "b"}], sp, None),
        "dict without a prompt": lambda sp: ({"text": "hello"}, sp, None),
        "a list of ints is one tokens prompt": lambda sp: ([7, 8], sp, None),
        "a list of token lists": lambda sp: ([[7, 8], [9]], sp, None),
        "a token list with a str": lambda sp: ([[7, "x"]], sp, None),
        "an int among prompts": lambda sp: (["a", 7], sp, None),
        "sampling params as a dict": lambda sp: ("hello", {"max_tokens": 2}, None),
        "lora request as a string": lambda sp: ("hello", sp, "adapter"),
    }
    results = {}
    for name, make in cases.items():
        prompts, sp, lora = make(real_params)
        try:
            llm.generate(prompts, sp, lora_request=lora, use_tqdm=False)
            real = None
        except Exception as exc:  # noqa: BLE001 - recorded, compared below
            real = f"{type(exc).__name__}: {str(exc)[:120]}"
        prompts, sp, lora = make(fake_params)
        try:
            fake.LLM.check_generate_args(prompts, sp, lora)
            fake_refused = False
        except (TypeError, ValueError):
            fake_refused = True
        results[name] = [real is not None, fake_refused, real]
    print("RESULT", json.dumps({"generate": results}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
