"""Background readers for the dashboard: the run's log, and memory (GPU or RAM).

Both follow the same shape (Toolong tails files from a thread; nvitop samples from
a thread the UI reads): a daemon thread owns the reading, keeps its results in a
model guarded by a lock, and posts a *data-free* message to the screen when
something changed. The messages coalesce (``can_replace``): however many arrive
while the UI is busy, it handles one and then reads the model once, so a burst of
10,000 events costs one redraw, and nothing is lost because the data never rode
on the message.

``RunWatcher``: ``RunMonitor.preview()`` (the newest step at once), then, once the
screen has painted it (``shown``, or after a second), the history in 4 MiB chunks, then
``poll()`` every ``interval`` seconds; ``check_alive()`` once a second (a dead trainer pid -> crashed).

``ResourceSampler``: once a second, VRAM per GPU and the trainer's own share
through ``core.planning.hardware.GpuSampler.sample_once`` (NVML), and the trainer
process family's RAM through psutil; bounded histories for the trends.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from ..core.reading.monitor import RunMonitor


SHOWN_WAIT_S = 1.0  # at most this long between the preview and reading the history


class RunChanged(Message):
    """The run model has news; read ``RunMonitor.snapshot()``. Bursts coalesce."""

    def __init__(self, version: int) -> None:
        super().__init__()
        self.version = version

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunChanged)


class ResourcesSampled(Message):
    """A new memory reading; read ``ResourceSampler.readings()``. Bursts coalesce."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ResourcesSampled)


class _Background:
    """A daemon thread running ``self._run`` until ``stop()`` (shared by the watcher and the sampler)."""

    thread_name = "grpo-tui-background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class RunWatcher(_Background):
    thread_name = "grpo-tui-run-watcher"

    def __init__(self, monitor: RunMonitor, target: MessagePump, *, interval: float = 0.25,
                 alive_every: float = 1.0):
        self.monitor = monitor
        self.target = target
        self.interval = interval
        self.alive_every = alive_every
        self.caught_up = threading.Event()
        # Set by the screen once it has painted the preview: the history is read after that, so
        # that this thread does not hold the GIL while the first frame is composed and drawn.
        self.shown = threading.Event()
        self.attach_control_id: str | None = None
        self.attach_alert_count = 0
        super().__init__()
        self.error: str | None = None

    def stop(self, timeout: float = 2.0) -> None:
        self.shown.set()  # a screen closed before its first paint: no waiting out SHOWN_WAIT_S
        super().stop(timeout)

    def _post(self) -> None:
        self.target.post_message(RunChanged(self.monitor.version))

    def _run(self) -> None:
        m = self.monitor
        try:
            m.preview()
            self._post()
            self.shown.wait(SHOWN_WAIT_S)  # a screen that never paints (hidden, headless) waits this long
            while not self._stop.is_set():
                m.poll()
                self._post()
                if m.behind() == 0:
                    break
            m.check_alive()
            with m.lock:  # the last control and the alerts in the log at attach time are history, not news
                self.attach_control_id = (m.last_control or {}).get("id")
                self.attach_alert_count = m.alert_count
            self.caught_up.set()
            self._post()
            last_alive = time.monotonic()
            while not self._stop.wait(self.interval):
                changed = m.poll()
                while m.behind() > 0 and not self._stop.is_set():  # a burst: drain it, one message
                    changed = m.poll() or changed
                now = time.monotonic()
                if now - last_alive >= self.alive_every:
                    last_alive = now
                    changed = m.check_alive() or changed
                if changed:
                    self._post()
        except Exception as exc:  # the UI shows it; never kill the app from a reader thread
            self.error = f"{type(exc).__name__}: {exc}"
            self.caught_up.set()
            self._post()


@dataclass
class GpuUse:
    index: int
    name: str
    used: int | None
    total: int | None
    own: int | None
    util: int | None = None  # % (NVML), for the stall check's "GPU idle with flat memory"


@dataclass
class Readings:
    ts: float = 0.0
    gpus: list[GpuUse] = field(default_factory=list)
    gpu_error: str | None = None
    used_history: dict[int, list[float]] = field(default_factory=dict)  # GiB per GPU
    own_peak: int | None = None  # bytes: the trainer family's highest GPU share seen
    rss: int | None = None  # bytes: the trainer family's RAM
    rss_history: list[float] = field(default_factory=list)  # MiB
    rss_peak: int | None = None
    ram_total: int | None = None


class ResourceSampler(_Background):
    """Samples memory once a second from a daemon thread (see the module docstring)."""

    thread_name = "grpo-tui-resources"

    HISTORY = 120

    def __init__(self, target: MessagePump, interval: float = 1.0):
        self.target = target
        self.interval = interval
        self._lock = threading.Lock()
        self._pid: int | None = None
        super().__init__()
        self._gpu_sampler: Any = None
        self._names: dict[int, str] = {}
        self._used: dict[int, deque[float]] = {}
        self._rss: deque[float] = deque(maxlen=self.HISTORY)
        self._r = Readings()

    def watch(self, pid: int | None) -> None:
        with self._lock:
            if pid == self._pid:
                return
            self._pid = pid
        if self._gpu_sampler is not None:
            self._gpu_sampler.watch([pid] if pid else [])

    def readings(self) -> Readings:
        with self._lock:
            r = self._r
            return Readings(r.ts, list(r.gpus), r.gpu_error, {k: list(v) for k, v in self._used.items()},
                            r.own_peak, r.rss, list(self._rss), r.rss_peak, r.ram_total)

    def _run(self) -> None:
        try:
            from ..core.planning import hardware

            hw = hardware.detect(processes=False)
            self._names = {g.index: g.name for g in hw.gpus}
            with self._lock:
                self._r.ram_total = hw.host.ram_total_bytes
                self._r.gpu_error = None if hw.gpus else hw.no_gpu_reason
            if hw.gpus:
                self._gpu_sampler = hardware.GpuSampler(pids=[self._pid] if self._pid else [])
        except Exception as exc:
            with self._lock:
                self._r.gpu_error = f"hardware detection failed: {exc}"
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:
                pass
            self.target.post_message(ResourcesSampled())
            self._stop.wait(self.interval)

    def _sample(self) -> None:
        with self._lock:
            pid = self._pid
        gpus: list[GpuUse] = []
        if self._gpu_sampler is not None:
            s = self._gpu_sampler.sample_once()
            for g in s.gpus:
                gpus.append(GpuUse(g.index, self._names.get(g.index, f"GPU {g.index}"), g.used_bytes,
                                   g.total_bytes, g.own_bytes, g.utilization))
                if g.used_bytes is not None:
                    self._used.setdefault(g.index, deque(maxlen=self.HISTORY)).append(g.used_bytes / 2**30)
        rss = _family_rss(pid) if pid else None
        with self._lock:
            r = self._r
            r.ts = time.time()
            r.gpus = gpus
            own = sum(g.own for g in gpus if g.own is not None) if any(g.own is not None for g in gpus) else None
            if own is not None and (r.own_peak is None or own > r.own_peak):
                r.own_peak = own
            r.rss = rss
            if rss is not None:
                self._rss.append(rss / 2**20)
                if r.rss_peak is None or rss > r.rss_peak:
                    r.rss_peak = rss


def _family_rss(pid: int) -> int | None:
    """RSS of a process and its children (vLLM may run an engine-core child)."""
    try:
        import psutil

        p = psutil.Process(pid)
        total = p.memory_info().rss
        for c in p.children(recursive=True):
            try:
                total += c.memory_info().rss
            except Exception:
                pass
        return int(total)
    except Exception:
        return None
