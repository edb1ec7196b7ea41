"""The dashboard's run model: everything a live view needs, in bounded memory.

``RunMonitor(run)`` is fed with events (``poll()`` tails ``events.jsonl`` and the
newest line of ``samples.jsonl``; ``feed(events)`` takes events you already have)
and keeps, however long the run:

* one ``Series`` per metric: older history folded into at most ``max_buckets``
  min/max/mean buckets (pairs merge when full, so the bucket width doubles), the
  most recent ``tail``..``2*tail`` points at full resolution. 100,000 steps of 30
  metrics cost a few hundred KB;
* the run state from ``core.run.rundir.RunSummarizer`` (loading / training / paused /
  stopping / completed / stopped / failed / crashed; ``check_alive()`` turns a
  live-looking run whose trainer pid is gone into ``crashed``);
* header figures: step / max_steps, elapsed, ETA, steps/s and tokens/s over a
  recent window of metrics events (``num_tokens`` is cumulative in TRL);
* reward component names (from ``rewards/<fn>/mean`` keys, in first-seen order);
* the newest samples step only (rows, completion text capped); attaching seeks
  to the last line of samples.jsonl instead of reading the whole file;
* alerts (last 200, plus a running count), phases, control acks, checkpoints,
  log lines, the finished event's traceback, memory/* latest and peak, and the
  planner's prediction from run.json ("plan"), when there is one;
* reader problems (corrupt lines, newer schema) as one message.

Thread use: one thread calls ``poll()`` / ``check_alive()`` (the TUI's watcher);
any thread may call ``snapshot()``, which copies what a frame needs under the lock.
Headless: no textual, no torch.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Callable

import orjson

from ..run import events as ev
from ..run import metric_names as M
from ..util.numbers import finite
from ..run.rundir import CRASHED, LIVE_STATES, PAUSED, RunDir, RunSummarizer, RunSummary
from ..run.sample_columns import event_rows, has_samples

MAX_BUCKETS = 512
TAIL = 256
SAMPLE_TEXT_CAP = 20_000  # characters of one completion kept for the dashboard
EVENTS_MAX_LINE = 16 * 2**20
SAMPLES_MAX_LINE = 64 * 2**20  # a samples line up to this is decoded and its texts capped; bigger: skipped, reported
READ_CHUNK = 4 * 2**20  # bytes of events parsed per poll: bounds the transient memory of a big attach
RATE_WINDOW = 32  # metrics events used for steps/s and tokens/s


class Series:
    """A bounded, downsampled (x, y) series.

    Old points live in buckets of ``width`` consecutive points keeping count, sum of
    x, sum of y, min and max; the newest ``tail``..``2*tail`` points are raw. When
    more than ``max_buckets`` buckets exist, neighbours merge pairwise and the width
    doubles: O(1) amortised per point, memory O(max_buckets + tail).
    """

    __slots__ = ("max_buckets", "tail", "width", "bn", "bsx", "bsy", "bmin", "bmax",
                 "rx", "ry", "count", "last", "lo", "hi", "_open")

    def __init__(self, max_buckets: int = MAX_BUCKETS, tail: int = TAIL):
        self.max_buckets = max(2, int(max_buckets))
        self.tail = max(1, int(tail))
        self.width = 1
        self.bn: list[int] = []
        self.bsx: list[float] = []
        self.bsy: list[float] = []
        self.bmin: list[float] = []
        self.bmax: list[float] = []
        self.rx: list[float] = []
        self.ry: list[float] = []
        self.count = 0  # points ever added
        self.last: float | None = None
        self.lo: float | None = None  # all-time min / max
        self.hi: float | None = None
        self._open = False  # the last bucket is still filling

    def append(self, x: float, y: float) -> None:
        self.extend([x], [y])

    def extend(self, xs: list[float], ys: list[float]) -> None:
        if not ys:
            return
        self.rx.extend(xs)
        self.ry.extend(ys)
        self.count += len(ys)
        self.last = ys[-1]
        lo, hi = min(ys), max(ys)
        self.lo = lo if self.lo is None or lo < self.lo else self.lo
        self.hi = hi if self.hi is None or hi > self.hi else self.hi
        if len(self.rx) > 2 * self.tail:
            self._fold(len(self.rx) - self.tail)

    def _fold(self, n: int) -> None:
        """Move the oldest n raw points into buckets."""
        rx, ry = self.rx, self.ry
        # A big batch (attaching to a long run): widen the buckets first, so the loop below runs
        # about max_buckets times instead of once per point.
        while len(self.bn) + (n + self.width - 1) // self.width > self.max_buckets:
            if self.bn:
                self._merge()
            else:
                self.width *= 2
        i = 0
        while i < n:
            if self._open:
                room = self.width - self.bn[-1]
                take = min(room, n - i)
                xs, ys = rx[i:i + take], ry[i:i + take]
                self.bn[-1] += take
                self.bsx[-1] += sum(xs)
                self.bsy[-1] += sum(ys)
                self.bmin[-1] = min(self.bmin[-1], min(ys))
                self.bmax[-1] = max(self.bmax[-1], max(ys))
            else:
                take = min(self.width, n - i)
                xs, ys = rx[i:i + take], ry[i:i + take]
                self.bn.append(take)
                self.bsx.append(sum(xs))
                self.bsy.append(sum(ys))
                self.bmin.append(min(ys))
                self.bmax.append(max(ys))
            i += take
            self._open = self.bn[-1] < self.width
            if len(self.bn) > self.max_buckets:
                self._merge()
        del rx[:n]
        del ry[:n]

    def _merge(self) -> None:
        """Halve the bucket count by merging neighbours (the width doubles)."""
        def pairs(v: list, op: Callable) -> list:
            out = [op(v[j], v[j + 1]) for j in range(0, len(v) - 1, 2)]
            if len(v) % 2:
                out.append(v[-1])
            return out

        def add(a, b):
            return a + b

        self.bn = pairs(self.bn, add)
        self.bsx = pairs(self.bsx, add)
        self.bsy = pairs(self.bsy, add)
        self.bmin = pairs(self.bmin, min)
        self.bmax = pairs(self.bmax, max)
        self.width *= 2
        self._open = self.bn[-1] < self.width

    def rewind(self, x: float) -> None:
        """Forget points at x or later (a run resumed from an earlier checkpoint steps over them again).

        Raw points go exactly; buckets whose mean x is at or after x go whole (approximate, and only
        reached when the rewind is longer than the raw tail)."""
        while self.rx and self.rx[-1] >= x:
            self.rx.pop()
            self.ry.pop()
        if not self.rx:
            while self.bn and self.bsx[-1] / self.bn[-1] >= x:
                for v in (self.bn, self.bsx, self.bsy, self.bmin, self.bmax):
                    v.pop()
            self._open = bool(self.bn) and self.bn[-1] < self.width
        ys = self.ry or [sy / n for sy, n in zip(self.bsy[-1:], self.bn[-1:])]
        self.last = ys[-1] if ys else None

    def __len__(self) -> int:
        """Points held (buckets + raw), bounded by max_buckets + 1 + 2*tail."""
        return len(self.bn) + len(self.rx)

    def points(self, mode: str = "mean") -> tuple[list[float], list[float]]:
        """(xs, ys) for a chart: one point per bucket (its mean x; mean/min/max y) then the raw tail."""
        xs = [sx / n for sx, n in zip(self.bsx, self.bn)]
        if mode == "min":
            ys = list(self.bmin)
        elif mode == "max":
            ys = list(self.bmax)
        else:
            ys = [sy / n for sy, n in zip(self.bsy, self.bn)]
        return xs + self.rx, ys + self.ry

    def recent(self, n: int) -> list[float]:
        """The last n values at full resolution (n <= tail), for sparklines."""
        return self.ry[-n:] if n <= len(self.ry) else self.points()[1][-n:]

    def mean(self) -> float | None:
        total = sum(self.bsy) + sum(self.ry)
        n = sum(self.bn) + len(self.ry)
        return total / n if n else None


_num = finite  # a finite float or None (core.util.numbers)


@dataclass
class Snapshot:
    """What one dashboard frame shows: plain copies, safe to use on the UI thread."""

    version: int
    metrics_version: int
    summary: RunSummary
    latest: dict[str, float]
    history: float  # fraction of events.jsonl read so far (1.0: caught up)
    peaks: dict[str, float]
    reward_components: list[str]
    elapsed: float | None
    eta: float | None
    steps_per_s: float | None
    tokens_per_s: float | None
    phase: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    alert_count: int
    last_control: dict[str, Any] | None
    last_checkpoint: dict[str, Any] | None
    checkpoints: int
    logs: list[dict[str, Any]]
    traceback: str | None
    samples_step: int | None
    samples: list[dict[str, Any]]
    plan: dict[str, Any] | None
    problems: str | None
    max_completion_length: int | None
    gone: bool
    now: float = 0.0  # the monitor's clock when the snapshot was taken
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    settings_changes: list[dict[str, Any]] = field(default_factory=list)  # {step, changes, ts, resumed}

    @property
    def state(self) -> str:
        return self.summary.state

    @property
    def live(self) -> bool:
        return self.summary.state in LIVE_STATES


class RunMonitor:
    def __init__(self, run: RunDir, *, max_buckets: int = MAX_BUCKETS, tail: int = TAIL,
                 clock: Callable[[], float] = time.time):
        self.run = run
        self.clock = clock
        self.max_buckets, self.tail = max_buckets, tail
        self.lock = threading.RLock()
        self.folder = RunSummarizer(run)
        self.info: dict[str, Any] = {}
        self.info_error: str | None = None
        try:
            self.info = run.info()
        except FileNotFoundError:
            self.info_error = f"{run.path} is not a grpo-tui run directory (no run.json)"
        except (OSError, ValueError) as exc:
            self.info_error = f"run.json cannot be read: {exc}"
        cfg = self.info.get("config") or {}
        self.max_completion_length = _int(cfg.get("max_completion_length"))
        self.events_reader = ev.EventReader(run.events, max_line_bytes=EVENTS_MAX_LINE)
        self.samples_max_line = SAMPLES_MAX_LINE
        self.samples_reader = ev.EventReader(run.samples, max_line_bytes=SAMPLES_MAX_LINE,
                                             types=(ev.SAMPLES,))
        self._samples_positioned = False
        self.series: dict[str, Series] = {}
        self.latest: dict[str, float] = {}
        self.peaks: dict[str, float] = {}
        self.reward_components: list[str] = []
        self._rate: deque[tuple[float, int, float | None]] = deque(maxlen=RATE_WINDOW)
        self.phase: dict[str, Any] | None = None
        self.phases: deque[dict[str, Any]] = deque(maxlen=50)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=200)
        self.alert_count = 0
        self.last_control: dict[str, Any] | None = None
        self.last_checkpoint: dict[str, Any] | None = None
        self.checkpoints = 0
        self.logs: deque[dict[str, Any]] = deque(maxlen=50)
        self.settings_changes: list[dict[str, Any]] = []  # `grpo-tui set` as applied: the charts mark the step
        self.traceback: str | None = None
        self.samples_step: int | None = None
        self.samples: list[dict[str, Any]] = []
        self.samples_count = 0
        self.version = 0
        self.metrics_version = 0
        self.events_seen = 0
        self.gone = False
        self._preview: dict[str, Any] | None = None
        self._caught_up = False  # the history has been read to the end once (poll)

    # -- ingest -----------------------------------------------------------------------------
    def preview(self, nbytes: int = 256 * 1024) -> bool:
        """Read only the end of events.jsonl: the newest step, metrics and state, at once.

        Attaching to a 100,000-step run then shows its last step in milliseconds while
        ``catch_up()`` reads the full history (``Snapshot.history`` says how far it got)."""
        try:
            with open(self.run.events, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - nbytes))
                data = fh.read(nbytes)
        except OSError:
            return False
        lines = data.split(b"\n")
        lines = lines[1:-1] if size > nbytes else lines[:-1]  # drop a cut first line and a torn last one
        state, step, latest = None, 0, {}
        for line in lines:
            try:
                e = orjson.loads(line)
                t, st = e["type"], int(e.get("step") or 0)
            except Exception:
                continue
            step = max(step, st)
            if t == ev.METRICS and isinstance(e.get("metrics"), dict):
                latest = e["metrics"]
                state = state if state in (PAUSED,) else "training"
            elif t == ev.CONTROL and e.get("state"):
                state = e["state"]
            elif t == ev.FINISHED:
                state = e.get("status") or ev.FAILED
            elif t == ev.RUN_STARTED:
                state = "loading"
        with self.lock:
            self._preview = {"step": step, "state": state,
                             "latest": {k: v for k, v in latest.items() if _num(v) is not None}}
            self.version += 1
        return True

    def behind(self) -> int:
        """Bytes of events.jsonl not read yet."""
        if self.events_reader.stats.unreadable:  # e.g. a directory: its size is no backlog to wait for
            return 0
        try:
            return max(0, os.path.getsize(self.run.events) - self.events_reader.offset)
        except OSError:
            return 0

    def catch_up(self, chunk: int = READ_CHUNK) -> bool:
        """poll() until the events read so far reach the file's size at the call (bounded memory)."""
        changed = False
        while True:
            changed = self.poll(chunk) or changed
            if self.behind() == 0:
                return changed

    def poll(self, max_bytes: int | None = READ_CHUNK) -> bool:
        """Read (at most ``max_bytes`` of) what the trainer appended; True when anything changed.

        Reading and JSON decoding happen outside the lock (only the polling thread touches the
        readers), so a frame's ``snapshot()`` never waits for a 4 MiB parse."""
        events = self.events_reader.read_new(max_bytes)
        newest = self._read_samples()
        gone = not self.run.path.exists()
        caught_up = not self._caught_up and self.behind() == 0
        with self.lock:
            changed = bool(events)
            if events:
                self.feed(events)
            if caught_up:
                # The whole history is read: from here the log is followed, and the preview (the
                # newest step and state at attach time) must not stand in for the state any more:
                # a fast run always has a few bytes unread at a frame, and would read as loading.
                self._caught_up, self._preview = True, None
                changed = True
            if newest is not None:
                self._take_samples(newest[0])
                self.samples_count += newest[1]
                changed = True
            if gone != self.gone:
                self.gone = gone
                changed = True
            if changed:
                self.version += 1
            return changed

    def feed(self, events: list[ev.Event]) -> None:
        with self.lock:
            # RunSummarizer needs every event but metrics only for the state and the newest step: a run of
            # consecutive metrics events is folded through its last one (far less per-event work).
            folded: list[ev.Event] = []
            steps: list[int] = []
            rows: list[dict[str, Any]] = []
            METRICS = ev.METRICS
            prev_metrics = False
            for e in events:
                t = e["type"]
                if t == METRICS:
                    m = e.get("metrics")
                    if isinstance(m, dict):
                        steps.append(e.get("step", 0))
                        rows.append(m)
                    if prev_metrics:
                        folded[-1] = e
                    else:
                        folded.append(e)
                    prev_metrics = True
                    continue
                prev_metrics = False
                folded.append(e)
                if t == ev.PHASE:
                    self.phase = {k: e.get(k) for k in ("name", "message", "progress", "current", "total", "ts")}
                    self.phases.append(self.phase)
                elif t == ev.ALERT:
                    self.alerts.append({k: e.get(k) for k in
                                        ("code", "severity", "message", "hint", "since_step", "step", "ts")})
                    self.alert_count += 1
                elif t == ev.CONTROL:
                    self.last_control = {k: e.get(k) for k in ("command", "id", "state", "error", "step", "ts")}
                elif t == ev.CHECKPOINT:
                    self.last_checkpoint = {k: e.get(k) for k in ("path", "kind", "step", "ts")}
                    self.checkpoints += 1
                elif t == ev.LOG:
                    self.logs.append({k: e.get(k) for k in ("level", "message", "step", "ts")})
                elif t == ev.SETTINGS_CHANGED:
                    self._take_settings(e)
                elif t == ev.FINISHED:
                    self.traceback = e.get("traceback")
                elif t == ev.RUN_STARTED:
                    if rows:  # a resumed run may repeat steps: ingest what came before it first
                        self._ingest_metrics(steps, rows)
                        steps, rows = [], []
                    self.traceback = None
                    cfg = e.get("config") or {}
                    if cfg.get("max_completion_length"):
                        self.max_completion_length = _int(cfg.get("max_completion_length"))
                elif t == ev.SAMPLES:  # tolerate samples written into the main stream
                    self._take_samples(e)
            self.folder.feed(folded)
            self.events_seen += len(events)
            if rows:
                for e in [e for e in events[-4 * RATE_WINDOW:] if e["type"] == METRICS][-RATE_WINDOW:]:
                    m = e.get("metrics") or {}
                    self._rate.append((float(e.get("ts") or 0.0), int(e.get("step") or 0), _num(m.get(M.NUM_TOKENS))))
                self._ingest_metrics(steps, rows)

    def _take_settings(self, e: ev.Event) -> None:
        changes = e.get("changes")
        if not isinstance(changes, dict):
            return
        self.settings_changes.append({"step": _int(e.get("step")) or 0, "changes": changes, "ts": e.get("ts"),
                                      "resumed": bool(e.get("resumed"))})
        cap = changes.get("max_completion_length")
        if isinstance(cap, dict) and _int(cap.get("new")):
            self.max_completion_length = _int(cap.get("new"))  # lengths are charted against the cap in force

    def _ingest_metrics(self, steps: list[int], rows: list[dict[str, Any]]) -> None:
        """Columnar: transpose the batch once (C-level when rows share their keys), then one
        ``Series.extend`` per metric -- far cheaper than a Python call per point."""
        for keys, cols in _columns(rows):
            for k, ys in zip(keys, cols):
                xs: list = steps
                if None in ys or not all(isinstance(y, (int, float)) for y in (ys[0], ys[-1])):
                    pairs = [(x, f) for x, y in zip(steps, ys) if (f := _num(y)) is not None]
                    if not pairs:
                        continue
                    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
                s = self.series.get(k)
                if s is None:
                    s = self.series[k] = Series(self.max_buckets, self.tail)
                    if (comp := M.component_of(k)) is not None:
                        self.reward_components.append(comp)
                elif s.rx and xs[0] <= s.rx[-1]:  # resumed from an earlier checkpoint: steps repeat
                    s.rewind(xs[0])
                try:
                    s.extend(xs, ys)
                except TypeError:  # a non-number slipped through: filter point by point
                    pairs = [(x, f) for x, y in zip(xs, ys) if (f := _num(y)) is not None]
                    if not pairs:
                        continue
                    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
                    s.extend(xs, ys)
                self.latest[k] = ys[-1]
                if k.startswith(M.MEMORY_PREFIX):
                    top = max(ys)
                    if k not in self.peaks or top > self.peaks[k]:
                        self.peaks[k] = top
        self.metrics_version += 1

    def _read_samples(self) -> tuple[ev.Event, int] | None:
        """(the newest samples event appended since the last call, how many arrived), or None."""
        r = self.samples_reader
        if not self._samples_positioned:
            self._samples_positioned = True
            start = _last_line_start(r.path, self.samples_max_line)
            if start is not None:
                r.offset = start
        try:
            size = os.path.getsize(r.path)
        except OSError:
            return None
        if size - r.offset > 8 * 2**20:  # far behind (a burst, or a huge backlog): jump to the newest line
            start = _last_line_start(r.path, self.samples_max_line)
            if start is not None and start > r.offset:
                r.offset, r._buf, r._skipping = start, b"", False
        found = r.read_new()
        return (found[-1], len(found)) if found else None

    def _poll_samples(self) -> bool:
        newest = self._read_samples()
        if newest is None:
            return False
        with self.lock:
            self._take_samples(newest[0])
            self.samples_count += newest[1]
        return True

    def _take_samples(self, e: ev.Event) -> None:
        if not has_samples(e):
            return  # neither form: keep the samples shown
        kept = []
        for row in event_rows(e):
            if not isinstance(row, dict):
                continue
            row = dict(row)
            for key in ("completion", "prompt"):
                v = row.get(key)
                if isinstance(v, str) and len(v) > SAMPLE_TEXT_CAP:
                    row[key] = v[:SAMPLE_TEXT_CAP]
                    row[f"{key}_cut"] = len(v)
            kept.append(row)
        self.samples_step = _int(e.get("step"))
        self.samples = kept

    gpu_idle_since: float | None = None  # set by a reader that samples the GPU (core.run.stall.GpuIdle)

    def check_alive(self) -> bool:
        """Crash and stall detection (pid gone while the log says live; no progress for longer than
        core.run.stall allows); True when the state or the stall verdict changed."""
        with self.lock:
            s = self.folder.summary
            before = (s.state, s.stalled_since)
            if self.info_error:
                return False
            self.folder.check_alive(self.clock(), self.gpu_idle_since)
            changed = (s.state, s.stalled_since) != before
            if changed:
                self.version += 1
            return changed

    # -- figures ---------------------------------------------------------------------------
    def rates(self) -> tuple[float | None, float | None]:
        """(steps/s, tokens/s) over the recent window of metrics events."""
        w = self._rate
        if len(w) >= 2:
            (t0, s0, k0), (t1, s1, k1) = w[0], w[-1]
            dt = t1 - t0
            if dt > 0:
                sps = (s1 - s0) / dt
                tps = (k1 - k0) / dt if k0 is not None and k1 is not None else None
                return sps, tps
        st = self.latest.get(M.STEP_TIME)
        if st and st > 0:
            return 1.0 / st, None
        return None, None

    def elapsed(self) -> float | None:
        s = self.folder.summary
        if s.started is None:
            return None
        if s.state in LIVE_STATES:
            end = self.clock()
        else:
            end = s.ended or s.last_ts or s.started
        return max(0.0, end - s.started)

    def snapshot(self, series: tuple[str, ...] | None = None) -> Snapshot:
        """A consistent copy for one frame; ``series`` names the metrics to include (None: all)."""
        with self.lock:
            s = self.folder.summary
            summary = RunSummary(**{k: getattr(s, k) for k in s.__dataclass_fields__ if k != "rewards_seen"})
            summary.log_tail = list(s.log_tail)
            reward = self.series.get(M.REWARD)
            if reward is not None:
                summary.best_reward = reward.hi
            sps, tps = self.rates()
            eta = None
            if s.state in LIVE_STATES and s.state != PAUSED and sps and sps > 0 and s.max_steps:
                eta = max(0, s.max_steps - s.step) / sps
            history = 1.0
            latest = dict(self.latest)
            if not self._caught_up:  # after that, what is unread is the newest step, not history
                try:
                    size = os.path.getsize(self.run.events)
                    history = min(1.0, self.events_reader.offset / size) if size else 1.0
                except OSError:
                    pass
            if history < 1.0 and self._preview:  # still reading the history: show the newest figures now
                pv = self._preview
                summary.step = max(summary.step, pv["step"])
                if pv["state"]:
                    summary.state = pv["state"]
                latest.update(pv["latest"])
            names = self.series.keys() if series is None else [k for k in series if k in self.series]
            problems = [p for p in (self.info_error, _problems(self.events_reader.stats),
                                    _prefix("samples.jsonl: ", _problems(self.samples_reader.stats))) if p]
            return Snapshot(
                version=self.version, metrics_version=self.metrics_version, summary=summary,
                latest=latest, history=history, peaks=dict(self.peaks),
                reward_components=list(self.reward_components), elapsed=self.elapsed(), eta=eta,
                steps_per_s=sps, tokens_per_s=tps, phase=dict(self.phase) if self.phase else None,
                alerts=list(self.alerts), alert_count=self.alert_count,
                last_control=self.last_control, last_checkpoint=self.last_checkpoint,
                checkpoints=self.checkpoints, logs=list(self.logs), traceback=self.traceback,
                samples_step=self.samples_step, samples=list(self.samples), plan=self.plan(),
                problems="; ".join(problems) or None, max_completion_length=self.max_completion_length,
                gone=self.gone, now=self.clock(), series={k: self.series[k].points() for k in names},
                settings_changes=[dict(c) for c in self.settings_changes],
            )

    def plan(self) -> dict[str, Any] | None:
        p = self.info.get("plan")
        return dict(p) if isinstance(p, dict) else None

    @property
    def state(self) -> str:
        return self.folder.summary.state

    @property
    def crashed(self) -> bool:
        return self.folder.summary.state == CRASHED


def _columns(rows: list[dict[str, Any]]) -> list[tuple[list[str], list[list[Any]]]]:
    """Transpose metric dicts into (keys, columns); columns hold None where a row lacks a key."""
    keys = list(rows[0])
    n = len(keys)
    if n and all(len(m) == n for m in rows):
        try:
            get = itemgetter(*keys)
            if n == 1:
                return [(keys, [[get(m) for m in rows]])]
            return [(keys, [list(c) for c in zip(*map(get, rows))])]
        except KeyError:
            pass
    allkeys: dict[str, None] = {}
    for m in rows:
        allkeys.update(dict.fromkeys(m))
    ks = list(allkeys)
    return [(ks, [[m.get(k) for m in rows] for k in ks])]


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _problems(stats: ev.ReadStats) -> str | None:
    """stats.problems() from another thread: the reader may be adding to it right now."""
    for _ in range(3):
        try:
            return stats.problems()
        except RuntimeError:  # a set changed size while being read
            continue
    return None


def _prefix(p: str, s: str | None) -> str | None:
    return p + s if s else None


def _last_line_start(path: os.PathLike[str] | str, limit: int) -> int | None:
    """Byte offset where the last complete line of a file starts (None: empty / missing).

    Reads backwards in 1 MiB chunks, at most ``limit`` bytes; a last line longer than
    that starts at the returned offset anyway (the reader then skips it as oversized)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        size = st.st_size
        if size == 0 or not stat.S_ISREG(st.st_mode):  # empty, or a directory where the log should be
            return None
        tail = b""
        pos = size
        end_nl = None  # index (absolute) of the newline that ends the last complete line
        chunk = 2**20
        while pos > 0 and size - pos <= limit + chunk:
            start = max(0, pos - chunk)
            tail = os.pread(fd, pos - start, start) + tail
            pos = start
            if end_nl is None:
                i = tail.rfind(b"\n")
                if i < 0:
                    continue
                end_nl = pos + i
            j = tail.rfind(b"\n", 0, end_nl - pos)
            if j >= 0:
                return pos + j + 1
        return 0 if end_nl is not None and pos == 0 else (end_nl + 1 if end_nl is not None else None)
    finally:
        os.close(fd)
