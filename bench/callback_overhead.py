"""Overhead of grpo-tui's event callback + per-completion sample capture.

Runs the tiny preset's GRPO loop in ONE process, alternating runs without our
hooks (baseline: TRL GRPOTrainer with its console printer removed) and with them
(EventCallback + SampleCapture writing events.jsonl / samples.jsonl), and prints
steps per second of wall time and of process CPU time for each, and the ratio.
Target: overhead < 1%.

On a shared machine the steps/s ratios move with other people's load; the direct
figures are steadier: time spent inside our hooks (timed around every callback
method and the capture) as a share of the hooked run's wall time (the loop waits
for them) and of its CPU time. On a busy box torch's own CPU time swells and
shrinks that share: quote figures from a quiet one (load < 1).

    .venv/bin/python bench/callback_overhead.py [--steps 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _abba import Figures, HookTimer, abba, medians, step_clock  # noqa: E402  (bench/_abba.py)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--preset", default="cpu-tiny")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="grpo-bench-")
    os.environ.setdefault("GRPO_TUI_HOME", tmp)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import copy

    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from grpo_tui.core.run import events as ev
    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.core.run.rundir import create_run
    from grpo_tui.trainer.backends.base import attach_events
    from grpo_tui.trainer.backends.trl_backend import load_model_and_tokenizer
    from grpo_tui.trainer.compat import install_cpu_logprob_fallback
    from grpo_tui.trainer.context import TrainerContext
    from grpo_tui.trainer.datasets import build_dataset
    from grpo_tui.trainer.grpo_args import build_grpo_config
    from grpo_tui.trainer.rewards import build_reward_funcs

    install_cpu_logprob_fallback()
    from trl import GRPOTrainer

    cfg = load_preset(a.preset).with_overrides({"max_steps": a.steps, "save_steps": 10**6, "device": "cpu"})
    base_model, tok = load_model_and_tokenizer(cfg, "cpu")
    if cfg.warmstart_steps:
        from grpo_tui.trainer.warmstart import warm_start

        warm_start(base_model, tok, cfg)
    dataset = build_dataset(cfg, tok)
    funcs, weights = build_reward_funcs(cfg)

    hooks = HookTimer()

    def one(with_hooks: bool) -> Figures:
        run = create_run(cfg.to_dict())
        args = build_grpo_config(cfg, run.checkpoints, "cpu", reward_weights=weights, save_strategy="no")

        model = copy.deepcopy(base_model)
        peft_config = None
        if not cfg.full_finetuning:
            from grpo_tui.trainer.backends.base import lora_config

            peft_config = lora_config(cfg)
        trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=funcs, args=args,
                              train_dataset=dataset, peft_config=peft_config)
        clock = step_clock(hooks)
        trainer.add_callback(clock)
        if with_hooks:
            ctx = TrainerContext(run=run, cfg=cfg, events=ev.EventWriter(run.events),
                                 samples=ev.EventWriter(run.samples))
            hooks.instrument(attach_events(trainer, ctx))
        else:
            for cb in (PrinterCallback, ProgressCallback):
                trainer.remove_callback(cb)
        hooks.reset()
        trainer.train()
        return (*clock.rates(), *clock.shares())

    def after_round(r: int, b: Figures, h: Figures) -> None:
        print(f"round {r}: baseline {b[0]:.2f} steps/s wall, {b[1]:.2f} steps/s CPU; "
              f"with callback+capture {h[0]:.2f} wall, {h[1]:.2f} CPU; "
              f"time in our hooks {h[3] * 100:.2f}% of wall, {h[2] * 100:.2f}% of CPU", flush=True)

    base, hooked = abba(a.rounds, one, after_round)
    share = [h[2] for h in hooked]
    wall_share = [h[3] for h in hooked]
    (bw, bc), (hw, hc) = medians(base), medians(hooked)
    print(f"median wall steps/s: baseline {bw:.2f}, hooked {hw:.2f}, ratio {hw / bw:.3f} (noisy on a shared box)")
    print(f"median CPU steps/s: baseline {bc:.2f}, hooked {hc:.2f}, ratio {hc / bc:.3f} "
          f"(overhead {(1 - hc / bc) * 100:+.1f}%)")
    print(f"time inside callback + capture: {statistics.median(wall_share) * 100:.2f}% of the run's wall time "
          f"(what the training loop waits for; target < 1%), {statistics.median(share) * 100:.2f}% of its CPU time "
          f"(all threads, torch's spinning workers included)")
    print(f"preset {a.preset}: {cfg.per_device_train_batch_size} completions/step, {a.steps} steps/run, "
          f"{os.cpu_count()} CPUs visible (shared machine: figures are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
