"""Run by tests/trainer/test_vllm_cpu.py in its own process (one vLLM engine a process): GRPO steps on
SmolLM2 + LoRA with TRL's colocated vLLM on the CPU, through grpo-tui's trl backend pieces. After every
weight sync it asks the engine for a fixed text's prompt log-probs and computes the same with the
trained policy (LoRA merged, as TRL syncs it); prints one JSON line per sync.

argv: converted model folder, steps."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

PROBE = "Tom has 3 bags of 5 apples and eats 2. How many apples are left? He has 15 - 2 = 13 apples."


def policy_logprobs(model, ids):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].float()
        return torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:]).unsqueeze(-1)).squeeze(-1).tolist()


def engine_logprobs(llm, ids):
    from vllm import SamplingParams

    out = llm.generate([{"prompt_token_ids": ids}], SamplingParams(max_tokens=1, prompt_logprobs=0),
                       use_tqdm=False)[0]
    return [lp[tok].logprob for lp, tok in zip(out.prompt_logprobs[1:], ids[1:])]


def main(folder: str, steps: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOTrainer

    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.trainer.backends.base import lora_config
    from grpo_tui.trainer.compat import install_cpu_logprob_fallback
    from grpo_tui.trainer.datasets import build_dataset
    from grpo_tui.trainer.grpo_args import build_grpo_config
    from grpo_tui.trainer.rewards import build_reward_funcs
    from grpo_tui.trainer.vllm_cpu import cpu_engine

    cfg = load_preset("cpu-smollm2").with_overrides({
        "model": folder, "use_vllm": True, "max_steps": steps, "num_generations": 4,
        "per_device_train_batch_size": 4, "max_completion_length": 24, "learning_rate": 2e-3,
        "save_steps": 1000, "temperature": 1.0,
    })
    install_cpu_logprob_fallback()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    funcs, weights = build_reward_funcs(cfg)
    # Every completion gets a different reward, so every step has a gradient to follow.
    funcs = [lambda completions, **kw: [float(len(str(c))) for c in completions]]
    args = build_grpo_config(cfg, "/tmp/grpo-tui-vllm-sync", "cpu", reward_weights=[1.0])
    phases = []
    ctx = SimpleNamespace(cfg=cfg, phase=lambda name, msg="", **kw: phases.append(name),
                          log=lambda msg, level="info": print(msg, file=sys.stderr))
    with cpu_engine(ctx, "cpu") as attach:
        trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=funcs, args=args,
                              train_dataset=build_dataset(cfg, tokenizer), peft_config=lora_config(cfg))
    attach(trainer)
    gen = trainer.vllm_generation
    ids = tokenizer(PROBE)["input_ids"]
    synced = gen.sync_weights

    def sync_and_compare():
        synced()
        policy = trainer.model
        policy.eval()
        with torch.no_grad():
            policy.merge_adapter()
            try:
                want = policy_logprobs(policy, ids)
            finally:
                policy.unmerge_adapter()
        got = engine_logprobs(gen.llm, ids)
        policy.train()
        print("RESULT", json.dumps({"step": trainer.state.global_step, "policy": want, "engine": got}), flush=True)

    gen.sync_weights = sync_and_compare

    class FinalSync(TrainerCallback):  # the weights after the last step: synced once more and compared
        def on_train_end(self, *a, **k):
            sync_and_compare()

    trainer.add_callback(FinalSync())
    before = engine_logprobs(gen.llm, ids)  # the engine as built from the folder, before any sync
    print("RESULT", json.dumps({"step": -1, "policy": policy_logprobs(model, ids), "engine": before}), flush=True)
    trainer.train()
    print("RESULT", json.dumps({"phases": phases, "metrics": sorted(k for h in trainer.state.log_history for k in h)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
