"""The cpu-tiny preset end to end: does GRPO visibly work, and how long does it take?

Launches the real trainer (as `grpo-tui run` does) on the shipped preset, waits, and prints
the mean total reward of the first and last 30 steps against the maximum, correctness
alone, wall time (loading, training) and the trainer's CPU time. Target: gain >= 1/3 of
the maximum reward, 300 steps in < 5 minutes on 2 cores.

    .venv/bin/python bench/tiny_learning.py [--seed N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    a = ap.parse_args()
    os.environ.setdefault("GRPO_TUI_HOME", tempfile.mkdtemp(prefix="grpo-bench-"))

    from grpo_tui.core.run import events as ev
    from grpo_tui import launcher as launch
    from grpo_tui.core.settings.config import parse_overrides
    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.core.run.rundir import summarize

    cfg = load_preset("cpu-tiny")
    over = parse_overrides(a.overrides)
    if a.seed is not None:
        over["seed"] = str(a.seed)
    if over:
        cfg = cfg.with_overrides(over)
    t0 = time.time()
    launched = launch.launch(cfg)
    launched.proc.wait()
    wall = time.time() - t0
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    events = ev.read_all(launched.run.events)[0]
    s = summarize(launched.run)
    metrics = [e for e in events if e["type"] == ev.METRICS]
    train_s = metrics[-1]["ts"] - next(e["ts"] for e in events if e["type"] == ev.PHASE and e["name"] == "training")
    corr = [m["metrics"].get("rewards/correctness/mean", 0.0) for m in metrics]
    max_r = launched.run.info().get("max_reward") or 0
    gain = (s.last_window_reward or 0) - (s.first_window_reward or 0)
    print(f"state {s.state}, {s.step} steps, seed {cfg.seed}")
    print(f"mean total reward first 30: {s.first_window_reward:.3f}, last 30: {s.last_window_reward:.3f}, "
          f"max {max_r:g}: gain {gain:+.3f} = {gain / max_r:.0%} of max (target >= 33%)")
    print(f"correctness first 30: {sum(corr[:30]) / 30:.3f}, last 30: {sum(corr[-30:]) / 30:.3f}")
    print(f"wall {wall:.1f} s (training {train_s:.1f} s = {len(metrics) / train_s:.1f} steps/s); "
          f"trainer CPU {cpu.ru_utime + cpu.ru_stime:.1f} s; {os.cpu_count()} CPUs visible")
    return 0 if s.state == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
