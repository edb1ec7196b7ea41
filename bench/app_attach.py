"""The app under a pseudo-terminal: memory after attaching to a long run, and the SSH cost.

1. Memory: the real app (``GrpoApp(attach=run)``) attaches to a 100,000-step
   synthetic run (samples every step); once the dashboard has read the whole log
   its RSS is taken (target < 200 MB), beside the RSS of a minimal Textual app
   (one Static) under the same pty.
2. Terminal bytes/s at 120x40 while a run is live: a synthetic writer appends steps
   (a typical GPU pace, 0.5 steps/s, and a burst, 20 steps/s) while the app shows
   the dashboard; every byte the app writes to the pty is counted over a window.
   Repeated for several redraw caps (``GRPO_TUI_FPS``) to show how it scales.

    .venv/bin/python bench/app_attach.py [--steps 100000] [--seconds 10] [--fps 1 2 4 8]

Every child process is started and stopped here (ctrl+q, then SIGKILL after 5 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _pty import PtyChild  # noqa: E402  (bench/_pty.py, beside this script)


# -- child side -----------------------------------------------------------------------------
def child(mode: str, run_path: str, marker: str) -> int:
    if mode == "minimal":
        from textual.app import App
        from textual.widgets import Static

        class Minimal(App):
            def compose(self):
                yield Static("minimal Textual app")

            def on_mount(self):
                self.set_timer(0.5, lambda: Path(marker).write_text(str(time.time())))

        Minimal().run()
        return 0

    from grpo_tui.core.run.rundir import RunDir
    from grpo_tui.tui.screens.dashboard import DashboardScreen

    if mode == "dashboard":  # the dashboard alone, without the app shell
        from textual.app import App

        class DashOnly(App):
            def on_mount(self) -> None:
                self.push_screen(DashboardScreen(RunDir(Path(run_path))))
                self.set_interval(0.1, self._check)

            def _check(self) -> None:
                if isinstance(self.screen, DashboardScreen) and self.screen.loaded:
                    Path(marker).write_text(str(time.time()))

        DashOnly().run()
        return 0

    from grpo_tui.tui.app import GrpoApp

    class BenchApp(GrpoApp):
        def on_mount(self) -> None:
            # No super().on_mount(): Textual calls GrpoApp.on_mount itself (handlers run for each class
            # in the MRO); calling it here too pushed a second dashboard and doubled RSS and redraws.
            self._marked = False
            self.set_interval(0.1, self._check)

        def _check(self) -> None:
            if not self._marked and isinstance(self.screen, DashboardScreen) and self.screen.loaded:
                self._marked = True
                Path(marker).write_text(str(time.time()))

    BenchApp(attach=RunDir(Path(run_path))).run()
    return 0


# -- parent side ----------------------------------------------------------------------------
class PtyApp(PtyChild):
    """The app (this script's ``--child MODE RUN MARKER``) on a pty; the child writes MARKER once attached."""

    def __init__(self, mode: str, run_path: str, size=(120, 40), env_extra: dict | None = None,
                 needle: bytes | None = None):
        self.marker = Path(tempfile.mktemp(prefix="grpo-bench-marker-"))
        super().__init__([__file__, "--child", mode, run_path, str(self.marker)], size, env_extra,
                         needles=[needle] if needle else ())

    @property
    def needle_at(self) -> float | None:  # time until the needle first appeared on the terminal
        return self.seen_at

    def wait_marker(self, timeout: float) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.marker.exists() and self.marker.read_text():
                return time.monotonic() - self.t0
            self.check_alive()
            time.sleep(0.05)
        raise TimeoutError("the app did not finish attaching in time")

    def close(self) -> None:
        super().close()
        self.marker.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("MODE", "RUN", "MARKER"), help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--samples-every", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring window per live setting")
    ap.add_argument("--fps", type=float, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--live-only", action="store_true", help="skip the long-run memory part")
    args = ap.parse_args()
    if args.child:
        return child(*args.child)

    home = tempfile.mkdtemp(prefix="grpo-bench-")
    os.environ["GRPO_TUI_HOME"] = home
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (shared); terminal 120x40 (pty)")
    if not args.live_only:
        memory(args)
    live(args)
    return 0


def memory(args) -> None:
    """1. memory after attaching to a long run"""
    from grpo_tui.core.run.synthetic import make_run

    t = time.perf_counter()
    run = make_run(args.steps, samples_every=args.samples_every, fast=True)
    print(f"\n{args.steps:,}-step run: events {run.events.stat().st_size / 2**20:.0f} MiB, samples "
          f"{run.samples.stat().st_size / 2**20:.0f} MiB (generated in {time.perf_counter() - t:.1f} s)")
    base = PtyApp("minimal", str(run.path))
    try:
        base.wait_marker(60)
        time.sleep(0.5)
        base_rss = base.rss_mb()
    finally:
        base.close()
    needle = f"step {args.steps}/{args.steps}".encode()
    app = PtyApp("attach", str(run.path), needle=needle)
    try:
        took = app.wait_marker(180)
        time.sleep(1.0)
        rss = app.rss_mb()
        first = app.needle_at
    finally:
        app.close()
    print(f"  app RSS after attaching: {rss:.0f} MB (target < 200 MB); minimal Textual app: {base_rss:.0f} MB "
          f"(ratio {rss / base_rss:.2f})")
    print(f"  app: process start -> last step on screen {_s(first)}, -> whole history read and drawn {took:.1f} s")

    dash = PtyApp("dashboard", str(run.path), needle=needle)
    try:
        took_d = dash.wait_marker(180)
        time.sleep(1.0)
        rss_d = dash.rss_mb()
        first_d = dash.needle_at
    finally:
        dash.close()
    print(f"  DashboardScreen alone (no start screen below): {rss_d:.0f} MB; last step on screen "
          f"{_s(first_d)}, whole history {took_d:.1f} s")


def _s(t: float | None) -> str:
    return "n/a" if t is None else f"{t:.2f} s"


def live(args) -> None:
    """2. terminal bytes per second while a run is live"""
    from grpo_tui.core.run.synthetic import SyntheticWriter

    os.environ["GRPO_TUI_HOME"] = tempfile.mkdtemp(prefix="grpo-bench-live-")  # only the live runs listed
    print(f"\nterminal output while live (window {args.seconds:.0f} s after attaching):")
    print(f"  {'':>9}  {'pace':>15}  {'fps cap':>7}  {'bytes/s':>9}  {'KiB/s':>7}")
    print("  app = grpo-tui (start screen below the dashboard); dashboard = DashboardScreen alone")
    settings = [("app", 0.5, 4.0), ("app", 0.0, 4.0), ("dashboard", 0.5, 4.0), ("dashboard", 0.0, 4.0)]
    settings += [("dashboard", 20.0, f) for f in args.fps]
    for mode, pace, fps in settings:
        w = SyntheticWriter.create(max_steps=1_000_000, t0=time.time(), step_time=max(0.05, 1 / pace) if pace else 2)
        w.start(pid=os.getpid())
        w.steps(20)
        stop = threading.Event()

        def feed(writer=w, pace=pace):
            while pace and not stop.wait(1.0 / pace):
                writer.step()

        app = PtyApp("attach" if mode == "app" else "dashboard", str(w.run.path),
                     env_extra={"GRPO_TUI_FPS": str(fps)})
        try:
            app.wait_marker(60)
            time.sleep(1.0)
            th = threading.Thread(target=feed, daemon=True)
            th.start()
            time.sleep(1.0)  # let the pace settle
            b0, t0 = app.count(), time.monotonic()
            time.sleep(args.seconds)
            b1, t1 = app.count(), time.monotonic()
            stop.set()
            th.join(2)
        finally:
            app.close()
            w.close()
        rate = (b1 - b0) / (t1 - t0)
        label = f"{pace:g} steps/s" if pace else "idle (no steps)"
        print(f"  {mode:>9}  {label:>15}  {fps:>7g}  {rate:9,.0f}  {rate / 1024:7.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
