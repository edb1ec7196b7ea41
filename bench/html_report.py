"""The HTML report of a long run: build time and file size (issue 30: a 100k-step run's report under
2 MB, built in under 2 s).

For a synthetic run (core.run.synthetic: TRL's metric names, GPU memory figures, a planner figure, an alert
every 5,000 steps, a samples event every step as the trainer writes them: ~270 MiB of completions), in
this one process:

* monitor   core.reading.monitor.RunMonitor.catch_up(): the dashboard's own read of the same log (the floor:
            the report reads through it, so the charts are the dashboard's series)
* report    core.reading.report_html.report_html(): read + samples scan + layout + SVG, the whole file
* size      bytes of the page, and the longest path in it (points per line are capped)

Wall seconds are best of --repeat; CPU seconds (process time) move less on a shared machine.

    .venv/bin/python bench/html_report.py [--steps 100000] [--repeat 3] [--samples-every 1]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn, repeat: int) -> tuple[float, float, object]:
    wall, cpu, out = [], [], None
    for _ in range(repeat):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--samples-every", type=int, default=1, help="a samples event every N steps (default 1)")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="grpo-bench-html-")
    os.environ["GRPO_TUI_HOME"] = home
    try:
        return bench(args)
    finally:
        shutil.rmtree(home, ignore_errors=True)  # a 100k-step run with samples is hundreds of MB


def bench(args) -> int:

    from grpo_tui.core.reading import report_html as rh
    from grpo_tui.core.reading import svg_chart as sc
    from grpo_tui.core.reading.monitor import RunMonitor
    from grpo_tui.core.run.synthetic import make_run

    t = time.perf_counter()
    run = make_run(steps=args.steps, samples_every=args.samples_every, cuda=True, plan=True, fast=True,
                   alerts=[(s, "no_signal", "warning", "zero std") for s in range(5000, args.steps, 5000)])
    log_mb = os.path.getsize(run.events) / 2**20
    print(f"synthetic run: {args.steps} steps, events.jsonl {log_mb:.1f} MiB, samples.jsonl "
          f"{os.path.getsize(run.samples) / 2**20:.1f} MiB (written in {time.perf_counter() - t:.1f} s)")

    def monitor():
        m = RunMonitor(run)
        m.catch_up()
        return m

    mw, mc, _ = timed(monitor, args.repeat)
    rw, rc, text = timed(lambda: rh.report_html(run), args.repeat)
    size = len(text.encode())
    longest = max((d.count("L") + 1 for d in re.findall(r'class="line[^"]*" d="([^"]+)"', text)), default=0)
    charts = text.count('<svg class="chart"')
    print(f"monitor (dashboard read)  wall {mw:6.2f} s  cpu {mc:6.2f} s")
    print(f"html report (whole file)  wall {rw:6.2f} s  cpu {rc:6.2f} s  ({rw / mw:.2f}x the dashboard's read)")
    print(f"size {size / 2**20:.2f} MiB ({size:,} bytes), {charts} charts, longest line {longest} points "
          f"(cap {sc.MAX_POINTS})")
    ok_size, ok_time = size < 2 * 2**20, rw < 2.0
    print(f"target: < 2 MiB {'OK' if ok_size else 'MISSED'}; < 2 s {'OK' if ok_time else 'MISSED'}"
          f" (wall; on a loaded machine compare the cpu figure)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
