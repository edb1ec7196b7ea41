"""Event ingest: how fast the dashboard's reader turns a run log into its model.

For a 10,000-step and a 100,000-step synthetic run with samples (core.run.synthetic,
TRL's metric names, one samples event per step), in this one process:

* raw        orjson.loads of every line of events.jsonl (the floor: JSON decode alone)
* reader     core.run.events.EventReader over the same bytes (decode + envelope checks)
* monitor    core.reading.monitor.RunMonitor.catch_up(): reader + run state + downsampled series
* preview    time until the newest step, state and figures are known (tail read + first poll)
* samples    the newest samples step found (seek to the last line) vs decoding all of samples.jsonl

Ratios are against raw decode of the same bytes. Targets: attach to the last step < 0.5 s.

    .venv/bin/python bench/reader_throughput.py [--steps 10000 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="grpo-bench-")
    os.environ["GRPO_TUI_HOME"] = home
    from grpo_tui.core.run import events as ev
    from grpo_tui.core.reading.monitor import RunMonitor
    from grpo_tui.core.run.synthetic import make_run

    print(f"python {sys.version.split()[0]}, orjson {orjson.__version__}, {os.cpu_count()} CPUs (shared)")
    for steps in args.steps:
        t = time.perf_counter()
        run = make_run(steps, fast=True)
        gen = time.perf_counter() - t
        ev_bytes = run.events.stat().st_size
        sm_bytes = run.samples.stat().st_size
        data = run.events.read_bytes()
        n_events = data.count(b"\n")
        print(f"\n== {steps:,} steps: events.jsonl {ev_bytes / 2**20:.1f} MiB ({n_events:,} events), "
              f"samples.jsonl {sm_bytes / 2**20:.1f} MiB (generated in {gen:.1f} s)")

        raw = best(lambda: [orjson.loads(line) for line in data.splitlines()], args.repeat)
        reader = best(lambda: ev.read_all(run.events), args.repeat)

        def full():
            m = RunMonitor(run)
            m.catch_up()
            m.poll()
            assert m.folder.summary.step == steps
        monitor = best(full, args.repeat)

        def attach():
            m = RunMonitor(run)
            m.preview()
            m.poll(64 * 1024)  # first small chunk + the newest samples line
            snap = m.snapshot()
            assert snap.summary.step == steps and snap.samples_step == steps, (snap.summary.step, snap.samples_step)
        preview = best(attach, args.repeat)

        def samples_all():
            last = None
            with open(run.samples, "rb") as fh:
                for line in fh:
                    last = orjson.loads(line)
            return last
        samples_raw = best(samples_all, 1)

        def samples_tail():
            m = RunMonitor(run)
            m._poll_samples()
            assert m.samples_step == steps
        samples_tail_t = best(samples_tail, args.repeat)

        gc.collect()
        tracemalloc.start()
        m = RunMonitor(run)
        m.catch_up()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        points = sum(len(s) for s in m.series.values())

        rate = n_events / raw
        print(f"  raw orjson decode     {raw:7.3f} s  {rate:12,.0f} events/s  (1.00x)")
        print(f"  EventReader           {reader:7.3f} s  {n_events / reader:12,.0f} events/s  ({reader / raw:.2f}x raw)")
        print(f"  RunMonitor.catch_up   {monitor:7.3f} s  {n_events / monitor:12,.0f} events/s  ({monitor / raw:.2f}x raw)")
        print(f"  attach: last step     {preview * 1000:7.1f} ms  (target < 500 ms)")
        print(f"  newest samples step   {samples_tail_t * 1000:7.1f} ms  vs decoding all samples {samples_raw:.2f} s")
        print(f"  model after ingest: {len(m.series)} series, {points:,} points held "
              f"(of {steps * len(m.series):,}); peak traced memory during ingest {peak / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
