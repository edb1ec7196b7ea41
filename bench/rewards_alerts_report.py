"""Cost of the reward rules, the alert engine and the run report.

Prints, on this machine:
* reward functions: microseconds per completion (correctness on plain numbers -- the fast
  path -- vs LaTeX answers that go to math-verify; format; repetition);
* alert engine: microseconds per metrics event and per samples event (it runs in the
  trainer, once per step);
* report: seconds and peak Python memory to build a report for a synthetic long run
  (metrics every step, a samples event of 16 completions every step).

    .venv/bin/python bench/rewards_alerts_report.py [--steps 5000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def per_item_us(fn, items: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best / items * 1e6


def bench_rewards() -> None:
    from grpo_tui.trainer import reward_rules as rr

    tags = rr.Tags()
    correct, strict, rep = rr.make_correctness(tags), rr.make_format_strict(tags), rr.make_repetition_penalty()
    n = 512
    rng = random.Random(0)
    plain = [f"<think>{'step ' * 40}</think><answer>{rng.randint(0, 999)}</answer>" for _ in range(n)]
    gold_plain = [str(rng.randint(0, 999)) for _ in range(n)]
    exps = [rng.randint(1, 12) for _ in range(64)]
    latex = [f"<think>work</think><answer>2^{{{k}}}</answer>" for k in exps]  # not a plain number
    gold_latex = [str(2 ** k) for k in exps]
    ids = [[rng.randint(0, 50) for _ in range(200)] for _ in range(n)]
    print("reward rules (us per completion):")
    print(f"  correctness, plain numbers (fast path) {per_item_us(lambda: correct(None, plain, answer=gold_plain), n):9.1f}")
    print(f"  correctness, LaTeX via math-verify     {per_item_us(lambda: correct(None, latex, answer=gold_latex), 64):9.1f}")
    print(f"  format_strict                          {per_item_us(lambda: strict(None, plain), n):9.1f}")
    print(f"  repetition_penalty, 200 token ids      {per_item_us(lambda: rep(None, plain, completion_ids=ids), n):9.1f}")


def synth_run(steps: int):
    from grpo_tui.core.run import events as ev
    from grpo_tui.core.run import rundir as rd

    rng = random.Random(1)
    words = "add carry the tens digit then write down result so answer is".split()
    run = rd.create_run({"name": "bench", "model": "builtin:tiny", "device": "cpu", "max_steps": steps})
    metrics_events, samples_events = [], []
    with ev.EventWriter(run.events) as w, ev.EventWriter(run.samples) as ws:
        w.emit(ev.RUN_STARTED, 0, pid=1)
        for s in range(1, steps + 1):
            m = {"reward": rng.random(), "reward_std": 0.3, "frac_reward_zero_std": 0.3,
                 "rewards/format/mean": rng.random(), "rewards/correctness/mean": rng.random(),
                 "completions/mean_length": 100 + rng.gauss(0, 5), "completions/clipped_ratio": 0.05,
                 "kl": 0.01, "grad_norm": 0.5 + abs(rng.gauss(0, 0.05)), "entropy": 1.0, "memory/rss_mb": 900.0}
            metrics_events.append(w.emit(ev.METRICS, s, metrics=m))
            rows = [{"prompt": "q", "completion": " ".join(rng.choice(words) for _ in range(120)),
                     "reward": rng.random(), "rewards": {"format": 1.0, "correctness": 0.0},
                     "advantage": 0.0, "length": 120, "truncated": False, "group": k // 4, "answer": "1"}
                    for k in range(16)]
            samples_events.append(ws.emit(ev.SAMPLES, s, rows=rows))
        w.emit(ev.FINISHED, steps, status="completed")
    return run, metrics_events, samples_events


def bench_alerts_and_report(steps: int) -> None:
    from grpo_tui.core.reading import alerts as al
    from grpo_tui.core.reading import report as rp

    run, metrics_events, samples_events = synth_run(steps)
    engine = al.AlertEngine()
    t = time.perf_counter()
    for e in metrics_events:
        engine.feed(e)
    t_metrics = (time.perf_counter() - t) / steps * 1e6
    t = time.perf_counter()
    for e in samples_events:
        engine.feed(e)
    t_samples = (time.perf_counter() - t) / steps * 1e6
    print(f"alert engine (us per event): metrics {t_metrics:.1f}, samples of 16 completions {t_samples:.1f}")

    size = (run.events.stat().st_size + run.samples.stat().st_size) / 2**20
    tracemalloc.start()
    t = time.perf_counter()
    report = rp.build_report(run)
    t_build = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t = time.perf_counter()
    md = rp.to_markdown(report)
    t_md = time.perf_counter() - t
    print(f"report on {steps} steps ({size:.0f} MiB of logs, alerts replayed): build {t_build:.2f} s, "
          f"peak Python memory {peak / 2**20:.1f} MiB; markdown {t_md * 1e3:.0f} ms, {len(md) / 1024:.0f} KiB")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5000)
    a = ap.parse_args()
    os.environ["GRPO_TUI_HOME"] = tempfile.mkdtemp(prefix="grpo-bench-")
    bench_rewards()
    bench_alerts_and_report(a.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
