"""Overhead of ``grpo_tui.watch(trainer)`` on a user's own plain-TRL script (the tiny model, the CPU).

One process, alternating (ABBA) runs of the same GRPOTrainer set-up as tests/scripts/user_grpo.py:
unwatched (only TRL's CPU log-prob fallback, which any CPU script needs) and watched (``watch(trainer)``:
events.jsonl, samples.jsonl, alerts, command polling). TRL's own console printer and progress bar stay in
both, as in a user's script. Prints steps/s of wall and of process CPU time (steps 6..N), their ratio, and
the direct figures: time spent inside watch's callback and sample capture as a share of the run's wall and CPU
time. Target: overhead < 3%.

    .venv/bin/python bench/watch_overhead.py [--steps 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _abba import Figures, HookTimer, abba, medians, step_clock  # noqa: E402  (bench/_abba.py)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-samples", action="store_true", help="watch(trainer, capture_samples=False)")
    ap.add_argument("--aa", action="store_true", help="both sides unwatched: how much the figures move by themselves")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="grpo-bench-watch-")
    os.environ["GRPO_TUI_HOME"] = tmp
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from grpo_tui import watch
    from grpo_tui.core.settings.config import RunConfig
    from grpo_tui.trainer.compat import install_cpu_logprob_fallback
    from grpo_tui.trainer.tiny import ensure_tiny

    install_cpu_logprob_fallback()
    model_dir = ensure_tiny(RunConfig())
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    base_model = AutoModelForCausalLM.from_pretrained(model_dir)
    rng = random.Random(0)
    rows = [{"prompt": f"{x}+{y}=", "answer": str(x + y)}
            for x, y in ((rng.randint(0, 4), rng.randint(0, 4)) for _ in range(256))]
    dataset = Dataset.from_list(rows)

    def format_reward(completions, **kw):
        return [1.0 if re.search(r"<answer>\d+</answer>", c) else 0.0 for c in completions]

    def correctness_reward(completions, answer, **kw):
        return [1.0 if f"<answer>{x}</answer>" in c else 0.0 for c, x in zip(completions, answer)]

    hooks = HookTimer()
    runs = [0]

    def one(watched: bool) -> Figures:
        runs[0] += 1
        i = runs[0]
        args = GRPOConfig(output_dir=os.path.join(tmp, f"out-{i}"), max_steps=a.steps, per_device_train_batch_size=8,
                          num_generations=4, max_completion_length=8, learning_rate=1e-4, logging_steps=1,
                          save_strategy="no", report_to="none", use_cpu=True, bf16=False, seed=1)
        trainer = GRPOTrainer(model=copy.deepcopy(base_model), processing_class=tok,
                              reward_funcs=[format_reward, correctness_reward], args=args, train_dataset=dataset)
        clock = step_clock(hooks)
        trainer.add_callback(clock)
        if watched and not a.aa:
            with contextlib.redirect_stderr(io.StringIO()):
                w = watch(trainer, name="bench", capture_samples=not a.no_samples)
            hooks.instrument(w.callback)
        hooks.reset()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            trainer.train()
        return (*clock.rates(), *clock.shares())

    def after_round(r: int, b: Figures, h: Figures) -> None:
        print(f"round {r}: unwatched {b[0]:.2f} steps/s wall, {b[1]:.2f} CPU; watched "
              f"{h[0]:.2f} wall, {h[1]:.2f} CPU; time inside watch's hooks {h[3] * 100:.2f}% of wall, {h[2] * 100:.2f}% of CPU", flush=True)

    base, hooked = abba(a.rounds, one, after_round)
    (bw, bc), (hw, hc) = medians(base), medians(hooked)
    share = statistics.median(x[2] for x in hooked)
    wall_share = statistics.median(x[3] for x in hooked)
    print(f"median wall steps/s: unwatched {bw:.2f}, watched {hw:.2f}, ratio {hw / bw:.3f} (noisy on a shared box)")
    print(f"median CPU steps/s: unwatched {bc:.2f}, watched {hc:.2f}, overhead {(1 - hc / bc) * 100:+.1f}%")
    print(f"time inside watch's callback + capture: {wall_share * 100:.2f}% of the run's wall time, "
          f"{share * 100:.2f}% of its CPU time (target < 3%)")
    print(f"{a.steps} steps a run, 8 completions a step, {os.cpu_count()} CPUs visible")
    return 0


if __name__ == "__main__":
    sys.exit(main())
