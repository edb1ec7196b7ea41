"""Overhead of grpo-tui's event callback + per-completion sample capture.

Runs the tiny preset's GRPO loop in ONE process, alternating runs without our
hooks (baseline: TRL GRPOTrainer with its console printer removed) and with them
(EventCallback + SampleCapture writing events.jsonl / samples.jsonl), and prints
steps per second of wall time and of process CPU time for each, and the ratio.
Target: overhead < 1%.

On a shared machine wall time is dominated by other people's load, so the
figure to trust is the CPU-time one, and the direct one: time spent inside our
hooks (timed around every callback method and the capture) as a share of the
hooked run's CPU time.

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

    from grpo_tui.core import events as ev
    from grpo_tui.core.presets import load_preset
    from grpo_tui.core.rundir import create_run
    from grpo_tui.trainer.backends.base import attach_events
    from grpo_tui.trainer.backends.trl_backend import load_model_and_tokenizer
    from grpo_tui.trainer.compat import install_cpu_logprob_fallback
    from grpo_tui.trainer.context import TrainerContext
    from grpo_tui.trainer.datasets import build_dataset
    from grpo_tui.trainer.grpo_args import build_grpo_config
    from grpo_tui.trainer.rewards import build_reward_funcs

    install_cpu_logprob_fallback()
    from trl import GRPOTrainer
    from transformers import TrainerCallback

    cfg = load_preset(a.preset).with_overrides({"max_steps": a.steps, "save_steps": 10**6, "device": "cpu"})
    base_model, tok = load_model_and_tokenizer(cfg, "cpu")
    if cfg.warm_start_steps:
        from grpo_tui.trainer.warmstart import warm_start

        warm_start(base_model, tok, cfg)
    dataset = build_dataset(cfg, tok)
    funcs, weights = build_reward_funcs(cfg)

    class Clock(TrainerCallback):
        """Times steps 6..N (the first ones warm caches up)."""

        def __init__(self):
            self.t0 = self.t1 = self.c0 = self.c1 = None
            self.n = 0

        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 5:
                self.t0, self.c0 = time.perf_counter(), time.process_time()
            elif state.global_step > 5:
                self.t1, self.c1 = time.perf_counter(), time.process_time()
                self.n += 1

    hook_time = [0.0]

    def timed(fn):
        def wrapper(*args, **kwargs):
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                hook_time[0] += time.process_time() - t
        return wrapper

    def one(with_hooks: bool) -> float:
        run = create_run(cfg.to_dict())
        args = build_grpo_config(cfg, run.checkpoints, "cpu", reward_weights=weights, save_strategy="no")

        model = copy.deepcopy(base_model)
        peft_config = None
        if not cfg.full_finetuning:
            from grpo_tui.trainer.backends.base import lora_config

            peft_config = lora_config(cfg)
        trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=funcs, args=args,
                              train_dataset=dataset, peft_config=peft_config)
        clock = Clock()
        trainer.add_callback(clock)
        if with_hooks:
            ctx = TrainerContext(run=run, cfg=cfg, events=ev.EventWriter(run.events),
                                 samples=ev.EventWriter(run.samples))
            cb = attach_events(trainer, ctx)
            for name in ("on_train_begin", "on_log", "on_step_end", "on_save"):
                setattr(cb, name, timed(getattr(cb, name)))
            if cb.capture is not None:  # the capture's own work, around TRL's generation
                cb.capture._collect = timed(cb.capture._collect)
                cb.capture._token_facts = timed(cb.capture._token_facts)
        else:
            for cb in (PrinterCallback, ProgressCallback):
                trainer.remove_callback(cb)
        hook_time[0] = 0.0
        c_start = time.process_time()
        trainer.train()
        cpu_total = time.process_time() - c_start
        return clock.n / (clock.t1 - clock.t0), clock.n / (clock.c1 - clock.c0), hook_time[0] / cpu_total

    base, hooked, share = [], [], []
    for r in range(a.rounds):
        # ABBA order: the later run of a round is systematically slower (allocator / cache state), so
        # alternating which goes first keeps that out of the ratio.
        for with_hooks in ((False, True) if r % 2 == 0 else (True, False)):
            (hooked if with_hooks else base).append(one(with_hooks))
        share.append(hooked[-1][2])
        print(f"round {r + 1}: baseline {base[-1][0]:.2f} steps/s wall, {base[-1][1]:.2f} steps/s CPU; "
              f"with callback+capture {hooked[-1][0]:.2f} wall, {hooked[-1][1]:.2f} CPU; "
              f"time in our hooks {share[-1] * 100:.2f}% of CPU", flush=True)
    bw, hw = statistics.median(x[0] for x in base), statistics.median(x[0] for x in hooked)
    bc, hc = statistics.median(x[1] for x in base), statistics.median(x[1] for x in hooked)
    print(f"median wall steps/s: baseline {bw:.2f}, hooked {hw:.2f}, ratio {hw / bw:.3f} (noisy on a shared box)")
    print(f"median CPU steps/s: baseline {bc:.2f}, hooked {hc:.2f}, ratio {hc / bc:.3f} "
          f"(overhead {(1 - hc / bc) * 100:+.1f}%)")
    print(f"time inside callback + capture: {statistics.median(share) * 100:.2f}% of the run's CPU time "
          f"(target < 1%)")
    print(f"preset {a.preset}: {cfg.per_device_train_batch_size} completions/step, {a.steps} steps/run, "
          f"{os.cpu_count()} CPUs visible (shared machine: figures are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
