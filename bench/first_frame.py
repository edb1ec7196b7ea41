"""Time to first frame: grpo-tui's app vs a minimal Textual app, same machine, fresh processes.

    .venv/bin/python bench/first_frame.py [--runs 7] [--size 120x40]

Each measurement is a new interpreter (imports included, as a user pays them)
running the app with Textual's headless driver. The child prints the wall-clock
time at which (a) the first frame has been painted (a callback queued with
``call_after_refresh`` once the first screen is mounted) and, for grpo-tui, (b)
the start screen is usable: hardware detected (NVML), presets loaded and
planned (``StartScreen.selected`` set). The parent subtracts its own clock at
spawn. Reported: medians, and the ratio grpo-tui / minimal (target <= 1.2).
Runs go to a temporary GRPO_TUI_HOME so a big real run list does not skew it.
Children may write bytecode (PYTHONDONTWRITEBYTECODE is dropped): an installed
grpo-tui has its .pyc files, so recompiling its sources every run (a setting some
dev boxes carry) would measure the compiler, not the app. The warm-up run writes them.
Also printed: the children's CPU time (user + system), steadier than wall time on a
busy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

MINIMAL = r"""
import sys, time
from textual.app import App
from textual.widgets import Footer, Static

class Minimal(App):
    def compose(self):
        yield Static("hello")
        yield Footer()
    def on_mount(self):
        self.call_after_refresh(self.done)
    def done(self):
        print(f"FRAME {time.time()}", flush=True)
        self.exit()

Minimal().run(headless=True, size=SIZE)
"""

GRPO = r"""
import sys, time
from grpo_tui.tui.app import GrpoApp

class Timed(GrpoApp):
    def on_mount(self):
        # Textual also runs GrpoApp.on_mount (handlers run for each class in the MRO, this one
        # first): once it has pushed the start screen, wait for that screen's first paint.
        self.call_later(lambda: self.screen.call_after_refresh(self.frame))
        self.set_interval(0.01, self.poll)
    def frame(self):
        print(f"FRAME {time.time()}", flush=True)
    def poll(self):
        if getattr(self.screen, "selected", None):
            print(f"READY {time.time()}", flush=True)
            self.exit()

Timed().run(headless=True, size=SIZE)
"""


FRAME_ONLY = GRPO.replace("self.set_interval(0.01, self.poll)", "pass").replace(
    'print(f"FRAME {time.time()}", flush=True)', 'print(f"FRAME {time.time()}", flush=True); self.exit()')


def measure(code: str, size: tuple[int, int], env: dict[str, str]) -> dict[str, float]:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code.replace("SIZE", repr(size))], capture_output=True,
                         text=True, env=env, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr[-2000:]}")
    marks = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("FRAME", "READY"):
            marks[parts[0]] = float(parts[1]) - t0
    return marks


def cpu_seconds(code: str, size: tuple[int, int], env: dict[str, str]) -> float:
    """User + system CPU time of a child that exits at its first frame."""
    proc = subprocess.Popen([sys.executable, "-c", code.replace("SIZE", repr(size))], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child failed:\n{proc.stderr.read()[-2000:]!r}")
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--size", default="120x40")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    env = {**os.environ, "GRPO_TUI_HOME": tempfile.mkdtemp(prefix="grpo-bench-")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: with .pyc files (written by the warm-up)
    minimal, grpo_frame, grpo_ready, cpu_min, cpu_grpo = [], [], [], [], []
    measure(MINIMAL, (w, h), env)  # warm the OS file cache for both
    measure(GRPO, (w, h), env)
    for _ in range(args.runs):  # interleaved so machine load hits both alike
        minimal.append(measure(MINIMAL, (w, h), env)["FRAME"])
        m = measure(GRPO, (w, h), env)
        grpo_frame.append(m["FRAME"])
        grpo_ready.append(m["READY"])
        cpu_min.append(cpu_seconds(MINIMAL, (w, h), env))
        cpu_grpo.append(cpu_seconds(FRAME_ONLY, (w, h), env))
    med = statistics.median
    print(f"first frame, {args.runs} fresh processes each, {w}x{h}, headless driver")
    print(f"  minimal Textual app        median {med(minimal):.3f} s  (min {min(minimal):.3f})")
    print(f"  grpo-tui start screen      median {med(grpo_frame):.3f} s  (min {min(grpo_frame):.3f})")
    print(f"  grpo-tui usable (survey)   median {med(grpo_ready):.3f} s  (min {min(grpo_ready):.3f})")
    print(f"  ratio first frame grpo-tui / minimal: {med(grpo_frame) / med(minimal):.2f}  (target <= 1.2)")
    print(f"  CPU to first frame: minimal {med(cpu_min):.3f} s, grpo-tui {med(cpu_grpo):.3f} s, "
          f"ratio {med(cpu_grpo) / med(cpu_min):.2f}")
    print(f"  ratio usable / minimal first frame:   {med(grpo_ready) / med(minimal):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
