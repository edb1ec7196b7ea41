"""The compare screen over long runs: first frame, time to the newest steps, memory (issue 13).

Four synthetic runs of 100,000 steps each (core.run.synthetic, buffered writing; samples every 1,000
steps: the compare screen never reads samples) are opened in the compare screen of a real Textual
app on a 120x40 pseudo-terminal, as a user over SSH has it. Measured from the child's process start
(interpreter and imports included):

* first frame: the compare screen painted (targets < 1 s);
* newest steps shown: every run's "100000/100000" is on the terminal (read from each log's tail);
* histories read: every log folded into the charts (4 x 100,000 steps) and drawn;
* RSS once everything is drawn, and the peak while reading (target < 250 MB), beside a minimal
  Textual app under the same pty.

    .venv/bin/python bench/compare_runs.py [--runs 4] [--steps 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _pty import PtyChild  # noqa: E402  (bench/_pty.py, beside this script)


def child(mode: str, marker: str, run_paths: list[str]) -> int:
    from textual.app import App
    from textual.widgets import Static

    if mode == "minimal":
        class Minimal(App):
            def compose(self):
                yield Static("minimal Textual app")

            def on_mount(self):
                self.call_after_refresh(lambda: Path(marker + ".done").write_text(f"{time.time()} {time.process_time()}"))

        Minimal().run()
        return 0

    from grpo_tui.core.run.rundir import RunDir
    from grpo_tui.tui.screens.compare import CompareScreen

    class CompareOnly(App):
        def on_mount(self) -> None:
            self.push_screen(CompareScreen([RunDir(Path(p)) for p in run_paths], poll=False))
            self.call_after_refresh(lambda: Path(marker + ".first").write_text(f"{time.time()} {time.process_time()}"))
            self.set_interval(0.05, self._check)

        def _check(self) -> None:
            s = self.screen
            if isinstance(s, CompareScreen) and s.done.is_set() and s.rendered:
                Path(marker + ".done").write_text(f"{time.time()} {time.process_time()}")

    CompareOnly().run()
    return 0


class Pty(PtyChild):
    """The compare screen (this script's ``--child MODE MARKER RUN...``) on a pty; the child writes
    MARKER.first and MARKER.done ("wall cpu" seconds) at its first frame and once everything is drawn."""

    def __init__(self, mode: str, run_paths: list[str], size=(120, 40), needles=()):
        self.marker = tempfile.mktemp(prefix="grpo-bench-compare-")
        super().__init__([__file__, "--child", mode, self.marker, *run_paths], size, needles=needles, peak_rss=True)

    def wait(self, suffix: str, timeout: float) -> tuple[float, float]:
        """(wall seconds since the process started, the child's own CPU seconds) at a marker."""
        path = Path(self.marker + suffix)
        end = time.time() + timeout
        while time.time() < end:
            if path.exists() and path.read_text().count(" ") == 1:
                wall, cpu = path.read_text().split()
                return float(wall) - self.t0_wall, float(cpu)
            self.check_alive()
            time.sleep(0.02)
        raise TimeoutError(suffix)

    def close(self) -> None:
        super().close()
        for s in (".first", ".done"):
            Path(self.marker + s).unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--home", help="keep the synthetic runs here and reuse them on the next call")
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.child[2:])

    os.environ["GRPO_TUI_HOME"] = args.home or tempfile.mkdtemp(prefix="grpo-bench-")
    from grpo_tui.core.run.rundir import RunDir, runs_root
    from grpo_tui.core.run.synthetic import make_run

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (shared); terminal 120x40 (pty)")
    t = time.perf_counter()
    runs = []
    for i in range(args.runs):
        rid = f"bench-{args.steps}-{i}"
        have = RunDir(runs_root() / rid)
        runs.append(have if (have.path / "events.jsonl").exists() else
                    make_run(args.steps, seed=i, samples_every=1000, fast=True, run_id=rid,
                             config={"learning_rate": 1e-6 * (i + 1)}))
    mib = sum(r.events.stat().st_size for r in runs) / 2**20
    print(f"{args.runs} runs of {args.steps:,} steps: {mib:.0f} MiB of events.jsonl "
          f"(generated in {time.perf_counter() - t:.1f} s)")

    base = Pty("minimal", [])
    try:
        base_first = base.wait(".done", 60)
        time.sleep(0.3)
        base_rss = base.rss_mb()
    finally:
        base.close()

    needle = f"{args.steps}/{args.steps}".encode()
    app = Pty("compare", [str(r.path) for r in runs], needles=[needle])
    try:
        first = app.wait(".first", 60)
        done = app.wait(".done", 600)
        time.sleep(0.5)
        rss = app.rss_mb()
        newest = app.seen_at
    finally:
        app.close()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall times stretch with it; "
          f"the app's own CPU seconds do not")
    print(f"first frame of the compare screen: {first[0]:.2f} s after process start, {first[1]:.2f} CPU s "
          f"(target < 1 s); minimal Textual app: {base_first[0]:.2f} s, {base_first[1]:.2f} CPU s")
    print(f"newest step of every run on screen: {newest:.2f} s" if newest else "newest step: not seen")
    print(f"every history read and drawn: {done[0]:.2f} s, {done[1]:.2f} CPU s")
    print(f"RSS once drawn: {rss:.0f} MB, peak while reading {app.peak_rss / 2**20:.0f} MB (target < 250 MB); "
          f"minimal Textual app {base_rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
