"""Regenerate screenshots/*.svg: every screen of the app, from a real training run.

    .venv/bin/python scripts/make_screenshots.py                 # trains cpu-smollm2 for real, shoots while it trains
    .venv/bin/python scripts/make_screenshots.py --preset cpu-tiny --steps 40   # the tiny model (a minute)
    .venv/bin/python scripts/make_screenshots.py --from RUN_DIR  # use a run you already have
    .venv/bin/python scripts/make_screenshots.py --live RUN_DIR  # a run training now: shot live, then stopped
    .venv/bin/python scripts/make_screenshots.py --live RUN_DIR --keep-training  # ... and left training
    .venv/bin/python scripts/make_screenshots.py --png           # also PNGs (needs rsvg-convert)

Everything happens in a temporary GRPO_TUI_HOME (your own runs are not
touched; --from copies the run in). The GPU in the start screen is a simulated
RTX 4090 (``GRPO_TUI_FAKE_GPUS``), shown as "(simulated)", so the planner's
table looks like it does on a GPU box; the run itself trained on this CPU.

Screens are reached the way a user reaches them (keys through Textual's
Pilot) and each is saved with ``App.save_screenshot``. A screen that is not
in this build yet (its key does nothing) is skipped with a note, so the
script keeps working while screens are being added.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "screenshots"
BIG, SMALL = (120, 40), (80, 24)
FAKE_GPU = "RTX 4090"


def start_run(preset: str, steps: int):
    """A real run of ``preset``, started as `grpo-tui run` starts it (detached trainer process).
    cpu-smollm2 (the default) is a real pretrained model, so the samples panel and the sample
    browser show real reasoning text; it takes ~30 s a step on 2 idle cores."""
    from grpo_tui import launcher as launch
    from grpo_tui.core.planning.presets import load_preset

    _stop_simulating_gpu()  # the run's own hardware snapshot must say what it trained on
    # eval_size: held-out accuracy before and after, as the GPU presets measure it
    over = {"max_steps": steps, "save_steps": steps}
    if preset == "cpu-tiny":
        over["eval_size"] = 32  # held-out accuracy before and after (cheap on the tiny model)
    cfg = load_preset(preset).with_overrides(over)
    launched = launch.launch(cfg)
    print(f"training {launched.run.id} ({steps} steps, {preset})...", flush=True)
    return launched


async def until_finished(pilot, run_dir: Path, timeout: float = 3600) -> None:
    from grpo_tui.core.run.rundir import RunDir, summarize

    run = RunDir(run_dir)
    deadline = time.monotonic() + timeout
    while summarize(run).live:
        if time.monotonic() > deadline:
            raise SystemExit(f"the run took more than {timeout / 60:.0f} minutes; giving up")
        await pilot.pause(1.0)
    s = summarize(run)
    if s.state not in ("completed", "stopped"):
        raise SystemExit(f"the run ended {s.state}: {run.log_tail(20)}")
    print(f"trained: {s.step} steps, reward {s.first_window_reward:.3f} -> {s.last_window_reward:.3f}", flush=True)


async def until_step(pilot, run_dir: Path, step: int) -> None:
    from grpo_tui.core.run.rundir import RunDir, summarize

    run = RunDir(run_dir)
    while summarize(run).step < step and summarize(run).live:
        await pilot.pause(0.5)


def link_run(src: Path) -> Path:
    """A run that is training now, shown where it is (linked into the throw-away home, not copied)."""
    from grpo_tui.core.run.rundir import private_dir, runs_root

    dest = private_dir(runs_root()) / src.name
    dest.symlink_to(src, target_is_directory=True)
    return dest


def import_run(src: Path) -> Path:
    from grpo_tui.core.run.rundir import private_dir, runs_root

    dest = private_dir(runs_root()) / src.name
    shutil.copytree(src, dest)
    return dest


class Shooter:
    def __init__(self, out: Path, png: bool):
        self.out, self.png, self.saved, self.skipped = out, png, [], []

    async def settle(self, pilot, seconds: float = 0.6) -> None:
        from textual.widgets import Input

        await pilot.pause(seconds)  # not wait_for_complete: the dashboard's log tail never completes
        for inp in pilot.app.screen.query(Input):
            inp.cursor_blink = False
        await pilot.pause()

    async def save(self, pilot, name: str) -> None:
        await self.settle(pilot)
        w, h = pilot.app.size
        filename = f"{name}-{w}x{h}.svg"
        pilot.app.save_screenshot(filename=filename, path=str(self.out))
        self.saved.append(filename)
        print(f"  saved screenshots/{filename}", flush=True)

    async def press_to(self, pilot, key: str, name: str, *, wait: float = 1.0) -> bool:
        """Press ``key``; save if it opened another screen. Returns whether it did."""
        before = pilot.app.screen
        await pilot.press(key)
        await pilot.pause(wait)
        if pilot.app.screen is before:
            self.skipped.append(f"{name} ({key!r} opened nothing in this build)")
            print(f"  skipped {name}: {key!r} opened nothing", flush=True)
            return False
        await self.save(pilot, name)
        return True


async def session(shooter: Shooter, run_dir: Path, size: tuple[int, int], full: bool,
                  live_at: int | None = None, finish: str = "wait") -> None:
    """One app at one size. With ``live_at`` the run is still training: the start screen and a
    dashboard are shot while it trains (at that step), the rest once it has finished."""
    from grpo_tui.core.run.rundir import RunDir
    from grpo_tui.tui.app import GrpoApp

    app = GrpoApp()
    async with app.run_test(size=size) as pilot:
        for _ in range(200):  # the hardware survey and the run list
            if getattr(app.screen, "selected", None) and app.screen.summaries:
                break
            await pilot.pause(0.05)
        if live_at is not None:  # show the run training in the list, not still launching
            await until_step(pilot, run_dir, 3)
            app.screen.scan_runs()
            await pilot.pause(0.5)
        await shooter.save(pilot, "start")
        if full:
            await pilot.press("r")
            await shooter.save(pilot, "start-runs")
            await pilot.press("escape")
            if await shooter.press_to(pilot, "question_mark", "help"):
                await pilot.press("escape")
        start = app.screen
        # The start screen showed a simulated GPU to show the planner; the run trained on this CPU,
        # so its dashboard reads the real (absent) GPU and shows the trainer's RAM, as it would here.
        _stop_simulating_gpu()
        app.open_run(RunDir(run_dir))
        await pilot.pause(2.0)  # the dashboard's watcher reads the log
        if app.screen is start:
            shooter.skipped.append("dashboard (not in this build)")
            return
        if live_at is not None:
            await until_step(pilot, run_dir, live_at)
            await shooter.save(pilot, "dashboard-live")
            if finish == "stop":  # --live: a long run is stopped (adapter saved) rather than waited for
                RunDir(run_dir).send_command("stop")
            if finish != "none":  # --live --keep-training: the rest is shot while it trains on
                await until_finished(pilot, run_dir)
            await pilot.pause(2.0)
        await shooter.save(pilot, "dashboard")
        if not full:
            return
        dashboard = app.screen
        if await shooter.press_to(pilot, "s", "samples", wait=1.5):
            if await shooter.press_to(pilot, "enter", "viewer"):
                await pilot.press("escape")
                await pilot.pause(0.3)
            while app.screen is not dashboard and len(app.screen_stack) > 1:
                await pilot.press("escape")
                await pilot.pause(0.3)
        if await shooter.press_to(pilot, "e", "export"):
            await pilot.press("escape")


def _stop_simulating_gpu() -> None:
    from grpo_tui.core.planning import hardware

    os.environ.pop("GRPO_TUI_FAKE_GPUS", None)
    hardware.set_backend(None)  # forget the fake NVML and its initialisation


def _simulate_gpu() -> None:
    from grpo_tui.core.planning import hardware

    os.environ["GRPO_TUI_FAKE_GPUS"] = FAKE_GPU
    hardware.set_backend(None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="src", type=Path, help="an existing run directory to show")
    ap.add_argument("--live", type=Path, help="a run directory training now: shot at its next step, then stopped")
    ap.add_argument("--keep-training", action="store_true", help="with --live: shoot it training, do not stop it")
    ap.add_argument("--preset", default="cpu-smollm2", help="preset of the fresh run (default cpu-smollm2)")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps of the fresh run (default 6 for cpu-smollm2, 40 for cpu-tiny)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--png", action="store_true", help="also write PNGs next to the SVGs (rsvg-convert)")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    from grpo_tui.trainer.gguf import model_cache_root

    # the real model cache (fetched and converted models), not the throw-away home's
    os.environ.setdefault("GRPO_TUI_MODEL_CACHE", str(model_cache_root()))
    home = tempfile.mkdtemp(prefix="grpo-shots-")
    os.environ["GRPO_TUI_HOME"] = home
    os.environ.setdefault("GRPO_TUI_THEME", "dark")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    try:
        launched = None
        live_now = None
        if args.live:
            from grpo_tui.core.run.rundir import RunDir, summarize

            run_dir = link_run(args.live.resolve())
            live_now = summarize(RunDir(run_dir)).step
        elif args.src:
            run_dir = import_run(args.src.resolve())
        else:
            args.steps = args.steps or (40 if args.preset == "cpu-tiny" else 6)
            launched = start_run(args.preset, args.steps)
            run_dir = launched.run.path
        args.out.mkdir(parents=True, exist_ok=True)
        shooter = Shooter(args.out, args.png)
        for size, full in ((BIG, True), (SMALL, False)):
            _simulate_gpu()
            live_at = args.steps // 2 if launched is not None and full else None
            if live_now is not None and full:
                live_at = live_now + 1
            finish = "wait" if live_now is None else "none" if args.keep_training else "stop"
            asyncio.run(session(shooter, run_dir, size, full=full, live_at=live_at, finish=finish))
    finally:
        if launched is not None and launched.proc.poll() is None:
            launched.proc.kill()
        shutil.rmtree(home, ignore_errors=True)
    if args.png:
        conv = shutil.which("rsvg-convert")
        if conv is None:
            print("rsvg-convert not found (apt-get install librsvg2-bin): no PNGs", file=sys.stderr)
        else:
            for name in shooter.saved:
                svg = args.out / name
                subprocess.run([conv, str(svg), "-o", str(svg.with_suffix(".png"))], check=True)
    print(f"{len(shooter.saved)} screenshots in {args.out}")
    for note in shooter.skipped:
        print(f"  not shot: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
