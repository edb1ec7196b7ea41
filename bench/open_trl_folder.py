"""`grpo-tui open` on a big plain TRL output folder: time to first frame of the dashboard and memory.

Builds a folder shaped like TRL 1.15's (``checkpoint-10000/trainer_state.json`` with 10,000 logged steps
under TRL's metric names, and 1,000 ``completions/completions_<step>.parquet`` files of 16 rows each,
written with pandas ``to_parquet`` as TRL does), then, in fresh interpreters (imports included, as a
user pays them), runs what ``grpo-tui open PATH`` runs -- ``open_folder`` (metrics mirrored) and the
``Follower`` thread (completions files) -- under the real app with Textual's headless driver:

* time from spawn to the dashboard's first frame showing the last step, on a cold mirror (first open)
  and a warm one (opened before);
* the app process's peak RSS once every completions file has been mirrored (targets: < 1 s, < 200 MB).

    .venv/bin/python bench/open_trl_folder.py [--steps 10000] [--files 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHILD = r"""
import resource, sys, time
from pathlib import Path
from grpo_tui.core.run.trl_folder import Follower, open_folder

opened = open_folder(Path(sys.argv[1]), samples_budget=0)   # what `grpo-tui open` does first
follower = Follower(opened).start()
from grpo_tui.tui.app import GrpoApp
from grpo_tui.tui.screens.dashboard import DashboardScreen

LAST = int(sys.argv[2])

class Timed(GrpoApp):
    framed = caught = False
    def on_mount(self):
        self.set_interval(0.01, self.poll)
    def poll(self):
        scr = self.screen
        if not isinstance(scr, DashboardScreen):
            return
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu = ru.ru_utime + ru.ru_stime
        # first frame: a snapshot showing the folder's last step is on screen (the history may still be read)
        if not self.framed and scr.snap is not None and scr.rendered_version >= 0 and scr.snap.summary.step == LAST:
            self.framed = True
            print(f"FRAME {time.time()} step {scr.snap.summary.step} cpu {cpu:.3f}", flush=True)
        if self.framed and not self.caught and scr.loaded:
            self.caught = True
            print(f"CAUGHT {time.time()} cpu {cpu:.3f}", flush=True)
        if self.caught and opened.samples_left == 0 and opened.run.samples.exists():
            time.sleep(0.5)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"MIRRORED {time.time()} peak_rss_mb {rss:.0f}", flush=True)
            self.exit()

Timed(attach=opened.run).run(headless=True, size=(120, 40))
follower.stop()
"""

MINIMAL = r"""
import resource, time
from textual.app import App
from textual.widgets import Static

class Minimal(App):
    def compose(self):
        yield Static("hello")
    def on_mount(self):
        self.call_after_refresh(self.done)
    def done(self):
        ru = resource.getrusage(resource.RUSAGE_SELF)
        print(f"FRAME {time.time()} step 0 cpu {ru.ru_utime + ru.ru_stime:.3f}", flush=True)
        self.exit()

Minimal().run(headless=True, size=(120, 40))
"""

KEYS = ["loss", "grad_norm", "learning_rate", "num_tokens", "completions/mean_length", "completions/min_length",
        "completions/max_length", "completions/clipped_ratio", "completions/mean_terminated_length",
        "completions/min_terminated_length", "completions/max_terminated_length",
        "rewards/format_reward/mean", "rewards/format_reward/std", "rewards/correctness_reward/mean",
        "rewards/correctness_reward/std", "reward", "reward_std", "frac_reward_zero_std", "entropy",
        "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "clip_ratio/low_min",
        "clip_ratio/high_max", "step_time", "epoch"]


def build(folder: Path, steps: int, files: int) -> None:
    import pandas as pd

    rng = random.Random(0)
    history = [{**{k: rng.random() for k in KEYS}, "step": s} for s in range(1, steps + 1)]
    cp = folder / f"checkpoint-{steps}"
    cp.mkdir(parents=True)
    (cp / "trainer_state.json").write_text(json.dumps(
        {"global_step": steps, "max_steps": steps, "logging_steps": 1, "log_history": history}, indent=2,
        sort_keys=True))
    comp = folder / "completions"
    comp.mkdir()
    every = max(1, steps // files)
    for i in range(files):
        step = (i + 1) * every
        n = 16
        pd.DataFrame({
            "step": [step] * n,
            "prompt": [f"question {step}-{j // 4}: {'lorem ipsum ' * 8}" for j in range(n)],
            "completion": [f"<think>{'reasoning ' * rng.randint(20, 80)}</think><answer>{j}</answer>"
                           for j in range(n)],
            "format_reward": [float(rng.random() < 0.5) for _ in range(n)],
            "correctness_reward": [float(rng.random() < 0.3) for _ in range(n)],
            "advantage": [rng.gauss(0, 1) for _ in range(n)],
        }).to_parquet(comp / f"completions_{step:05d}.parquet")


def one(folder: Path, home: str, last: int) -> tuple[float, float, int, float, float, float, float]:
    env = dict(os.environ, GRPO_TUI_HOME=home)
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(last)], env=env, capture_output=True,
                         text=True, timeout=600)
    frame = mirrored = rss = step = cpu = caught = caught_cpu = None
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "FRAME":
            frame, step, cpu = float(parts[1]) - t0, int(parts[3]), float(parts[5])
        elif parts and parts[0] == "CAUGHT":
            caught, caught_cpu = float(parts[1]) - t0, float(parts[3])
        elif parts and parts[0] == "MIRRORED":
            mirrored, rss = float(parts[1]) - t0, float(parts[3])
    if frame is None or mirrored is None:
        raise SystemExit(f"child failed (rc {out.returncode}): {out.stdout[-1500:]} {out.stderr[-2000:]}")
    return frame, mirrored, step, rss, cpu, caught, caught_cpu


def minimal() -> tuple[float, float]:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", MINIMAL], capture_output=True, text=True, timeout=120)
    parts = out.stdout.split()
    return float(parts[1]) - t0, float(parts[5])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--files", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="grpo-bench-trl-"))
    try:
        folder = tmp / "trl-out"
        t = time.perf_counter()
        build(folder, a.steps, a.files)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
        print(f"built a TRL folder: {a.steps} logged steps, {a.files} completions files, {size:.1f} MB "
              f"({time.perf_counter() - t:.1f} s)")
        cold, warm = [], []
        for r in range(a.runs):
            home = str(tmp / f"home-{r}")
            cold.append(one(folder, home, a.steps))  # a fresh GRPO_TUI_HOME: the mirror is built from nothing
            warm.append(one(folder, home, a.steps))  # the same home again: the mirror is current
            print(f"run {r + 1}: cold first frame {cold[-1][0]:.2f} s wall / {cold[-1][4]:.2f} s CPU (step "
                  f"{cold[-1][2]}), all completions mirrored at {cold[-1][1]:.2f} s, peak RSS {cold[-1][3]:.0f} MB; "
                  f"warm first frame {warm[-1][0]:.2f} s wall / {warm[-1][4]:.2f} s CPU, peak RSS "
                  f"{warm[-1][3]:.0f} MB", flush=True)
        med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
        print(f"median time to first frame: cold {med(cold, 0):.2f} s, warm {med(warm, 0):.2f} s wall; "
              f"cold {med(cold, 4):.2f} s, warm {med(warm, 4):.2f} s CPU of the app process (target < 1 s; "
              f"on a loaded machine the CPU figure is the one to trust)")
        base = [minimal() for _ in range(a.runs)]
        print(f"reference, a minimal Textual app (one Static): first frame {statistics.median(b[0] for b in base):.2f} s "
              f"wall / {statistics.median(b[1] for b in base):.2f} s CPU")
        print(f"median time until the whole history is read (dashboard 'loaded'): cold {med(cold, 5):.2f} s "
              f"wall / {med(cold, 6):.2f} s CPU, warm {med(warm, 5):.2f} s wall / {med(warm, 6):.2f} s CPU")
        print(f"median time until all {a.files} completions files are mirrored (cold): {med(cold, 1):.2f} s")
        print(f"median peak RSS of the app: cold {med(cold, 3):.0f} MB, warm {med(warm, 3):.0f} MB "
              f"(target < 200 MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
