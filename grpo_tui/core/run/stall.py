"""Stalls: a live run that has stopped making progress, seen by any reader of its directory.

A hung trainer cannot write, so the verdict is a reader's: ``RunSummarizer`` remembers when the run last
made progress (a new step, a phase, a control acknowledgement, an eval, a checkpoint) and the time
its recent steps took; ``check`` says whether that silence is longer than the run's allowance:

* training (or stopping): ``max(after_s, factor x median step time)`` -- 5 minutes or ten steps;
  before a step time is measured, ``max(after_s, FIRST_STEP_MARGIN x`` the step time the trainer
  expected at launch for this config on this machine and its load (core.planning.cpu_speed; models measured
  on the CPU only), so a slow first step on a loaded CPU is not called a stall;
* loading (model download, vLLM build, warm start, eval): ``loading_s`` since the last event;
* on a GPU, utilisation ~0 with flat memory for the training allowance (``GpuIdle``, fed by a
  reader that samples NVML, e.g. the dashboard) counts as a stall even before the step allowance.

A paused run is never stalled. The policy comes from the user settings' ``[stall]`` table
(``core.settings.user_settings``) and ``GRPO_TUI_STALL_AFTER`` / ``GRPO_TUI_STALL_FACTOR`` /
``GRPO_TUI_STALL_LOADING`` (seconds; the environment wins). Headless: no textual, no torch.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from ..util.formatting import duration
from ..settings.user_settings import load_settings

ENV_AFTER = "GRPO_TUI_STALL_AFTER"
ENV_FACTOR = "GRPO_TUI_STALL_FACTOR"
ENV_LOADING = "GRPO_TUI_STALL_LOADING"

FIRST_STEP_MARGIN = 3.0  # x the expected first step: the estimate assumes the launch-time load holds
LOADING_STATES = ("launching", "loading")
STEPPING_STATES = ("training", "stopping")


@dataclass(frozen=True)
class StallPolicy:
    after_s: float = 300.0  # at least this long without a new step while training
    factor: float = 10.0  # ... or this many median step times, whichever is longer
    loading_s: float = 1800.0  # without any event while loading (hub downloads, vLLM builds)

    @classmethod
    def load(cls) -> "StallPolicy":
        """The user settings' [stall] table, then the environment variables."""
        table = load_settings().get("stall") or {}
        vals: dict[str, float] = {}
        for key, env in (("after_s", ENV_AFTER), ("factor", ENV_FACTOR), ("loading_s", ENV_LOADING)):
            raw: Any = os.environ.get(env, "").strip() or table.get(key)
            if raw is None or raw == "":
                continue
            try:
                v = float(raw)
            except (TypeError, ValueError):
                continue  # a bad value is reported by `grpo-tui doctor`-style checks, not by crashing a reader
            if v > 0:
                vals[key] = v
        return cls(**vals)

    def allowance(self, state: str, median_step_s: float | None,
                  expected_step_s: float | None = None) -> float | None:
        """Seconds of silence allowed in this state (None: this state cannot stall). ``expected_step_s``:
        the trainer's estimate, used until a step time has been measured."""
        if state in LOADING_STATES:
            return self.loading_s
        if state in STEPPING_STATES:
            if median_step_s:
                return max(self.after_s, self.factor * median_step_s)
            if expected_step_s and expected_step_s > 0:
                return max(self.after_s, FIRST_STEP_MARGIN * expected_step_s)
            return self.after_s
        return None


@dataclass(frozen=True)
class Stall:
    since: float  # wall time of the last sign of progress
    allowance: float  # seconds of silence that were allowed
    reason: str  # "no new step" / "no loading progress" / "GPU idle"

    def line(self, now: float | None = None) -> str:
        """'stalled since 14:02 (no new step for 12m)'."""
        now = time.time() if now is None else now
        return f"stalled since {hhmm(self.since)} ({self.reason} for {duration(now - self.since)})"


def check(state: str, progress_ts: float | None, median_step_s: float | None, now: float,
          policy: StallPolicy, gpu_idle_since: float | None = None,
          expected_step_s: float | None = None) -> Stall | None:
    """The stall verdict for a live run (None: making progress, or not live)."""
    allowed = policy.allowance(state, median_step_s, expected_step_s)
    if allowed is None:
        return None
    if progress_ts is not None and now - progress_ts > allowed:
        reason = "no loading progress" if state in LOADING_STATES else "no new step"
        return Stall(progress_ts, allowed, reason)
    if state in STEPPING_STATES and gpu_idle_since is not None:
        if now - gpu_idle_since > allowed:
            return Stall(gpu_idle_since, allowed, "GPU idle, memory flat")
    return None


def median(values: Any) -> float | None:
    vals = [v for v in values if v > 0]
    return statistics.median(vals) if vals else None


class GpuIdle:
    """Since when a GPU has been idle (utilisation <= ``util_max`` %) with flat memory.

    Feed it one NVML reading at a time; ``since`` is None while the GPU works or its memory moves by
    more than ``mem_tolerance`` (a fraction) from where the idle stretch began."""

    def __init__(self, util_max: float = 2.0, mem_tolerance: float = 0.01) -> None:
        self.util_max = util_max
        self.mem_tolerance = mem_tolerance
        self.since: float | None = None
        self._mem0: float | None = None

    def feed(self, ts: float, utilization: float | None, used_bytes: float | None) -> float | None:
        if utilization is None or used_bytes is None:
            return self.since  # no reading: no verdict either way
        flat = self._mem0 is not None and abs(used_bytes - self._mem0) <= self.mem_tolerance * max(self._mem0, 1)
        if utilization > self.util_max:
            self.since, self._mem0 = None, None
        elif self.since is None or not flat:
            self.since, self._mem0 = ts, used_bytes
        return self.since


def hhmm(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))
