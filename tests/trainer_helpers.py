"""Helpers for tests that launch the real trainer process on the tiny preset."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from grpo_tui.core.run import events as ev
from grpo_tui import launcher as launch
from grpo_tui.core.planning.presets import load_preset

# Small and fast: 2 prompts x 4 completions a step, a few steps.
SMALL = {
    "num_generations": 4,
    "per_device_train_batch_size": 8,
    "warmstart_steps": 2,
    "max_completion_length": 8,
    "save_steps": 1000,
}


def start(**overrides: Any) -> launch.Launched:
    cfg = load_preset("cpu-tiny").with_overrides({**SMALL, **overrides})
    return launch.launch(cfg)


def events(run) -> list[dict]:
    return ev.read_all(run.events)[0]


def wait_for(run, pred: Callable[[dict], bool], timeout: float = 120.0, proc=None,
             tail: Callable[[], object] | None = None) -> dict:
    """The first event satisfying pred; fails on timeout or when the process exits first, showing
    ``tail()`` (default: the run's trainer.log tail)."""
    tail = tail or (lambda: run.log_tail(30))
    reader = ev.EventReader(run.events)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in reader.read_new():
            if pred(e):
                return e
        if proc is not None and proc.poll() is not None:
            for e in reader.read_new():
                if pred(e):
                    return e
            raise AssertionError(f"process exited ({proc.returncode}) first; log tail: {tail()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting; log tail: {tail()}")


def wait_exit(proc, timeout: float = 180.0) -> int:
    try:
        return proc.wait(timeout=timeout)
    except Exception:
        proc.kill()
        proc.wait()
        raise


def kill(proc) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


@contextmanager
def training(until_step: int = 2, **overrides: Any) -> Iterator[launch.Launched]:
    """A tiny run launched (``start(**overrides)``) and past logged step ``until_step``; killed on the way out."""
    launched = start(**overrides)
    try:
        wait_for(launched.run, lambda e: e["type"] == ev.METRICS and e["step"] >= until_step, proc=launched.proc)
        yield launched
    finally:
        kill(launched.proc)
