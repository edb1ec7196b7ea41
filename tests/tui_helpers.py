"""Fixed hardware, fixed presets and synthetic run directories for the app's tests."""

from __future__ import annotations

import os
from pathlib import Path

from grpo_tui.core.run import events as ev
from grpo_tui.core.planning import fakenvml, hardware
from grpo_tui.core.settings.config import RunConfig
from grpo_tui.core.planning.presets import Preset, parse_preset
from grpo_tui.core.run.rundir import RunDir, create_run

DATA = Path(__file__).resolve().parent / "data"
GIB = 1024**3


def fixed_hardware(spec: str = "RTX 4090"):
    """What detect() returns with a fake NVML, and a fixed host (RAM varies between machines)."""
    hardware.set_backend(fakenvml.from_spec(spec))
    try:
        hw = hardware.detect(processes=False)
    finally:
        hardware.set_backend(None)
    hw.host = hardware.Host(cpu_name="Test CPU", cpu_count=8, ram_total_bytes=32 * GIB,
                            ram_available_bytes=24 * GIB, os="Linux", python="3.11")
    return hw


def fixed_presets() -> dict[str, Preset]:
    out = {}
    for path in sorted((DATA / "snapshot_presets").glob("*.toml")):
        p = parse_preset(path, "shipped")
        out[p.name] = p
    return out


def make_app(spec: str = "RTX 4090", **kw):
    from grpo_tui.tui.app import GrpoApp

    hw = fixed_hardware(spec)
    return GrpoApp(detect_hardware=lambda: hw, load_presets=fixed_presets, **kw)


def _pid_create_time() -> float | None:
    try:
        import psutil

        return psutil.Process(os.getpid()).create_time()
    except Exception:
        return None


def synthetic_run(run_id: str, *, state: str = "completed", steps: int = 5, max_steps: int = 20,
                  preset: str = "cpu-tiny", reward0: float = 0.1,
                  evals: dict[str, float] | None = None) -> RunDir:
    """A run directory written through the real writer. ``state``: completed | failed | live.

    A live run names this test process as its trainer, so liveness checks see it alive.
    """
    cfg = RunConfig(name=preset, max_steps=max_steps).to_dict()
    run = create_run(cfg, run_id=run_id)
    with ev.EventWriter(run.events) as w:
        w.emit(ev.RUN_STARTED, pid=os.getpid(), pid_create_time=_pid_create_time(), config=cfg,
               max_steps=max_steps)
        w.emit(ev.PHASE, name="training", message="training")
        for step in range(1, steps + 1):
            w.emit(ev.METRICS, step=step, metrics={"reward": reward0 + 0.05 * step, "reward_std": 0.2})
        for when, acc in (evals or {}).items():  # held-out accuracy, e.g. {"before": 0.2, "after": 0.4}
            w.emit(ev.EVAL, step=steps, name="demo/test", accuracy=acc, n=50, when=when)
        if state in ("completed", "failed", "stopped"):
            w.emit(ev.FINISHED, step=steps, status=state, error="boom" if state == "failed" else None)
    return run


async def until(pilot, cond, timeout: float = 10.0, what: str = "condition") -> float:
    """Let the app run until ``cond()`` holds (checked every 0.02 s); returns the seconds it took;
    fails after ``timeout`` seconds, saying ``what``."""
    import asyncio

    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < timeout:
        if cond():
            return loop.time() - start
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")
