"""Costs of the hardware / planner layer that the app pays on the start screen and
every second while a run is shown.

Prints: detect() latency (real NVML here, and a fake T4 / two-GPU machine), one
GpuSampler reading, the CPU share of a 1 Hz sampler over a few seconds, plan() per
call (the start screen re-plans on every keystroke) and recommend() over all presets.

    .venv/bin/python bench/hardware_planner.py
"""

from __future__ import annotations

import os
import time

from grpo_tui.core.planning import fakenvml, hardware, planner
from grpo_tui.core.planning.presets import discover


def per_call(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def main() -> None:
    hardware.set_backend(None)
    t = time.perf_counter()
    hw = hardware.detect()
    print(f"detect() real NVML, first call: {1e3 * (time.perf_counter() - t):.2f} ms  [{hw.summary()}]")
    print(f"detect() real NVML, warm:       {1e3 * per_call(hardware.detect, 50):.3f} ms")
    for spec in ("T4", "RTX 4090,H100"):
        hardware.set_backend(fakenvml.from_spec(spec))
        print(f"detect() fake {spec!r}:  {1e3 * per_call(hardware.detect, 200):.3f} ms; "
              f"sampler reading: {1e3 * per_call(hardware.GpuSampler(pids=[os.getpid()]).sample_once, 200):.3f} ms")

    s = hardware.GpuSampler(pids=[os.getpid()])  # the app's watcher reads it once a second
    c0, w0, n = time.process_time(), time.perf_counter(), 0
    while time.perf_counter() - w0 < 5:
        s.sample_once()
        n += 1
        time.sleep(max(0.0, n - (time.perf_counter() - w0)))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    print(f"1 Hz sampler: {n} readings in {wall:.1f} s, CPU {100 * cpu / wall:.3f}% of one core")

    presets = discover()
    cfg = presets["gpu-16gb"].config
    print(f"plan() one preset:        {1e6 * per_call(lambda: planner.plan(cfg, 15.0), 2000):.1f} us")
    print(f"recommend() all {len(presets)} presets: {1e3 * per_call(lambda: planner.recommend(presets, 24.0), 200):.3f} ms")
    hardware.set_backend(None)


if __name__ == "__main__":
    main()
