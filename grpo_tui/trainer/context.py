"""What a backend is handed: the run, its config, the event writers, control.

One ``TrainerContext`` per trainer process. Backends call ``phase()`` while
loading, hand ``ctx`` to the shared callback (``trainer.callback``) and read
``stop_requested`` / ``resume_from`` from it; the process entry point
(``trainer.__main__``) writes ``run_started`` and ``finished``.

Until the first step (``loading``), a requested stop is honoured at the next
phase boundary: ``phase()`` raises ``StoppedBeforeTraining``, so a run stopped
while its model downloads or loads ends there instead of after loading.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.run import events as ev
from ..core.settings.config import RunConfig
from ..core.run.rundir import RunDir


class StoppedBeforeTraining(BaseException):
    """A stop asked for before the first step. A BaseException, like KeyboardInterrupt, so that
    backends' ``except Exception`` (failure classification) let it through to the entry point."""


@dataclass
class TrainerContext:
    run: RunDir
    cfg: RunConfig
    events: ev.EventWriter
    samples: ev.EventWriter
    resume_from: Path | None = None
    step: int = 0
    # Set by the control handler (stop command) or SIGTERM; the callback ends training at the next step boundary.
    stop_requested: threading.Event = field(default_factory=threading.Event)
    stop_reason: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    # Model, data and trainer still being set up; the callback clears it when training begins.
    loading: bool = True
    # Whether a stop may end the run between loading phases: not with several training processes,
    # which must leave together at a step boundary (trainer.rank_sync).
    stop_while_loading: bool = True
    # The main thread's controller and the loading watch (trainer.loading_watch) both take commands.
    commands_lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, type_: str, **payload: Any) -> ev.Event:
        return self.events.emit(type_, self.step, **payload)

    def phase(self, name: str, message: str = "", *, progress: float | None = None,
              current: int | None = None, total: int | None = None) -> None:
        if self.loading and self.stop_while_loading and self.stop_requested.is_set():
            raise StoppedBeforeTraining(self.stop_reason or "stop")
        self.emit(ev.PHASE, name=name, message=message, progress=progress, current=current, total=total)

    def commit_held(self) -> None:
        """Write what the callback holds back (EventCallback.commit) before a run's last event. A
        stream that cannot take it (the samples file on a full disk) must not keep ``finished`` out."""
        callback = self.extras.get("callback")
        if callback is not None:
            try:
                callback.commit()
            except OSError:
                pass

    def log(self, message: str, level: str = "info") -> None:
        self.emit(ev.LOG, level=level, message=message)

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop_requested.set()

    @property
    def output_dir(self) -> Path:
        """Where trainer checkpoints go (``checkpoints/checkpoint-<step>``)."""
        return self.run.checkpoints

    @property
    def adapter_dir(self) -> Path:
        return self.run.adapter


class Throttle:
    """Calls at most every ``interval`` seconds (for phase progress events)."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self._last = 0.0

    def ready(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = now
            return True
        return False
