"""The event log: grpo-tui's spine.

A run directory holds two append-only JSON Lines streams written by the trainer:

``events.jsonl``  the small stream: everything but completions. Attaching to a
                  10,000-step run reads only this file.
``samples.jsonl`` the big stream: one ``samples`` event per step with every
                  completion of that step. Read on demand (sample browser,
                  export, report).

Every line is one JSON object with these keys:

``v``     schema version of the line's type (int): 2 for ``samples`` (columns), 1 for
          the rest. Readers accept ``v <= SCHEMA_VERSION``; a line from a newer schema
          is skipped and counted in ``ReadStats.newer_schema``, so an older grpo-tui
          reading a newer run skips only the types that changed.
``type``  one of ``EVENT_TYPES`` below. Unknown types are skipped and counted
          (a newer trainer may add types without breaking older readers).
``ts``    wall-clock time, seconds since the epoch (float).
``step``  the trainer's global step when the event was written (int, 0 before
          the first step).

Payload keys per type (all optional keys may be absent):

``run_started``  pid, pid_create_time, config (the resolved RunConfig dict),
                 hardware (snapshot dict; a CPU run adds torch_threads, load_at_launch,
                 load_measured ("runnable now" or "load average"), threads_by_user), resumed_from (checkpoint path or None), max_steps,
                 expected_step_s (a CPU run of a measured model: the step time
                 expected at launch, core.planning.cpu_speed; readers' stall allowance until a
                 step is measured).
``phase``        name (``loading_model``, ``building_model``, ``warm_start``,
                 ``loading_dataset``, ``building_vllm``, ``training``, ``saving``,
                 ``evaluating``...), message, progress (0..1 or None),
                 current, total.
``metrics``      metrics: {name: float} -- every scalar the trainer logged at this
                 step under TRL's own names (reward, reward_std,
                 rewards/<fn>/mean, completions/mean_length, kl, entropy, ...),
                 plus step_time, and memory figures (memory/rss_mb,
                 memory/cuda_allocated_mb, ...).
``samples``      (samples.jsonl only; v2) prompts and columns: the step's
                 completions as one list per field (core.run.sample_columns),
                 which readers turn into rows: dicts with keys prompt,
                 completion, rewards ({fn: float|None}), reward, advantage,
                 length (completion tokens), truncated (bool), group (index
                 of the prompt group within the step), answer (gold answer,
                 when the dataset has one). v1 events hold those rows
                 (``rows``); readers take both.
``ask``          (samples.jsonl only) id (the ask command's id), request (what was
                 asked: prompt or heldout, gold, n, temperature, max_tokens),
                 rows (as for ``samples``; ``group`` is the question), accuracy
                 (share of questions whose first completion is correct, when a
                 gold answer is known), seconds. Written by a paused trainer.
``control``      command (pause/resume/stop/checkpoint/ask/set), id (the command file's
                 id), state (the trainer state after honouring it: paused /
                 training / stopping); for ``ask``: answered (row count) or error;
                 for ``set``: changes (as in ``settings_changed``) or error.
``checkpoint``   path, kind (checkpoint / adapter).
``eval``         name, accuracy, n, when (before / after / manual).
``alert``        code, severity (warning / critical), message, hint, since_step.
``log``          level, message (notable trainer log lines).
``finished``     status (completed / stopped / failed), error, traceback,
                 log_tail (last lines of trainer.log), adapter_path.
``settings_changed``  changes ({key: {old, new}}): settings the trainer applied from this
                 step on (a run steered while it trains; readers mark the step); id (the
                 ``set`` command's id); resumed (true: re-applied from settings.json
                 when a run resumes).

Writers emit one ``os.write`` per line (or per group of held lines) on an
O_APPEND descriptor so concurrent readers never see interleaved bytes; a writer killed mid-line leaves a torn
last line, which readers treat as "not yet written" (never as an error).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

SCHEMA_VERSION = 2  # the newest a reader here understands

RUN_STARTED = "run_started"
PHASE = "phase"
METRICS = "metrics"
SAMPLES = "samples"
ASK = "ask"
CONTROL = "control"
CHECKPOINT = "checkpoint"
EVAL = "eval"
ALERT = "alert"
LOG = "log"
FINISHED = "finished"
SETTINGS_CHANGED = "settings_changed"

EVENT_TYPES = frozenset(
    {RUN_STARTED, PHASE, METRICS, SAMPLES, ASK, CONTROL, CHECKPOINT, EVAL, ALERT, LOG, FINISHED,
     SETTINGS_CHANGED}
)

# The version each type is written with: a type's number moves only when its payload changes.
TYPE_VERSIONS = {SAMPLES: 2}  # v2: columns instead of rows


def version_of(type_: str) -> int:
    """The schema version an event of this type is written with."""
    return TYPE_VERSIONS.get(type_, 1)

# Final statuses carried by ``finished`` events.
COMPLETED = "completed"
STOPPED = "stopped"
FAILED = "failed"

READ_CHUNK = 64 * 1024
# A sane cap for one line of events.jsonl (the small stream) for readers that fold it: a foreign or
# corrupt file with no newlines is then skipped in bounded memory instead of buffered whole.
MAX_EVENT_LINE = 16 * 2**20

Event = dict[str, Any]


def make_event(type_: str, step: int = 0, **payload: Any) -> Event:
    """Build an event dict with the envelope keys filled in."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    return {"v": version_of(type_), "type": type_, "ts": time.time(), "step": int(step), **payload}


def encode(event: Event) -> bytes:
    """One JSON line. Non-finite floats become null (JSON has no NaN)."""
    return orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS) + b"\n"


class EventWriter:
    """Appends events to a JSON Lines file, one write per call.

    ``hold`` keeps an event to go out with the next write or ``flush`` (group commit: a trainer
    making 20 steps a second writes its per-step events a few times a second instead of at every
    step, each write a syscall with cold caches). Every write sends what was held first, so the
    file keeps the order the events were made in."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()  # the trainer's loading watch writes from a second thread
        self._held: list[Event] = []
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, event: Event) -> None:
        self._append([event])

    def hold(self, type_: str, step: int = 0, **payload: Any) -> Event:
        """Make an event now (its ``ts`` is now) and write it with the next write or flush."""
        event = make_event(type_, step, **payload)
        with self._lock:
            self._held.append(event)
        return event

    def flush(self) -> None:
        """Write the held events."""
        self._append([])

    def _append(self, events: list[Event]) -> None:
        with self._lock:  # a line split over partial writes must not interleave with another
            held, self._held = self._held, []
            lines = []
            for e in held:
                try:
                    lines.append(encode(e))
                except TypeError:  # (orjson's error is one) it could never be written: not a reason to lose the rest
                    pass
            try:
                lines.extend(encode(e) for e in events)  # a bad new event raises, as before, after the held go out
            finally:
                view = memoryview(b"".join(lines))
                while view:  # os.write may be partial for very large lines
                    n = os.write(self._fd, view)
                    view = view[n:]

    def emit(self, type_: str, step: int = 0, **payload: Any) -> Event:
        event = make_event(type_, step, **payload)
        self.write(event)
        return event

    def close(self) -> None:
        if self._fd >= 0 and self._held:
            self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ReadStats:
    """What a reader skipped. ``first_error`` is reported once, not per line."""

    lines: int = 0
    unknown_types: int = 0
    corrupt: int = 0
    newer_schema: int = 0
    oversized: int = 0
    first_error: str | None = None
    unreadable: str | None = None  # the file exists but cannot be read (a directory, no permission, EIO)
    unknown_names: set[str] = field(default_factory=set)

    def problems(self) -> str | None:
        """A one-line summary of what was skipped, or None when nothing was."""
        parts = []
        if self.unreadable:
            parts.append(f"cannot read the log: {self.unreadable}")
        if self.corrupt:
            parts.append(f"{self.corrupt} corrupt line(s) skipped (first: {self.first_error})")
        if self.newer_schema:
            parts.append(
                f"{self.newer_schema} event(s) from a newer schema than v{SCHEMA_VERSION} skipped"
                " -- upgrade grpo-tui to read them"
            )
        if self.unknown_types:
            names = ", ".join(sorted(self.unknown_names)[:5])
            parts.append(f"{self.unknown_types} event(s) of unknown type skipped ({names})")
        if self.oversized:
            parts.append(f"{self.oversized} oversized line(s) skipped")
        return "; ".join(parts) or None


class EventReader:
    """Incremental reader of a growing JSON Lines event file.

    ``read_new()`` returns the complete events appended since the last call. A
    trailing partial line is kept in a buffer until its newline arrives, so a
    torn last line is never an error. Missing files read as empty (the trainer
    may not have created them yet). Not thread-safe: one reader per consumer.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_line_bytes: int | None = None,
        types: Iterable[str] | None = None,
    ):
        self.path = Path(path)
        self.offset = 0
        self.stats = ReadStats()
        self._buf = b""
        self._skipping = False  # inside an oversized line, discarding until newline
        self._max_line = max_line_bytes
        self._types = frozenset(types) if types is not None else None
        self._inode: int | None = None

    def read_new(self, max_bytes: int | None = None) -> list[Event]:
        """Read what has been appended since the last call (at most ``max_bytes``)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        except OSError as exc:  # someone else's file, EIO...: say so, never crash a reader
            self.stats.unreadable = exc.strerror or str(exc)
            return []
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # a directory or a device where the log should be
                self.stats.unreadable = "not a regular file"
                return []
            if self._inode is not None and (st.st_ino != self._inode or st.st_size < self.offset):
                # Replaced or truncated underneath us: start over.
                self.offset, self._buf, self._skipping = 0, b"", False
            self._inode = st.st_ino
            budget = st.st_size - self.offset if max_bytes is None else max_bytes
            chunks = []
            while budget > 0:
                data = os.pread(fd, min(READ_CHUNK * 16, budget), self.offset)
                if not data:
                    break
                self.offset += len(data)
                budget -= len(data)
                chunks.append(data)
        finally:
            os.close(fd)
        if not chunks:
            return []
        return self._parse(b"".join(chunks))

    def _parse(self, data: bytes) -> list[Event]:
        buf = self._buf + data if self._buf else data
        out: list[Event] = []
        start = 0
        if self._skipping:
            nl = buf.find(b"\n")
            if nl < 0:
                self._buf = b""
                return out
            self._skipping = False
            start = nl + 1
        end = buf.rfind(b"\n")
        if end < start:
            self._buf = buf[start:]
            self._check_oversized()
            return out
        self._buf = buf[end + 1 :]
        self._check_oversized()
        for line in buf[start:end].split(b"\n"):
            if not line.strip():
                continue
            event = self._decode(line)
            if event is not None:
                out.append(event)
        return out

    def _check_oversized(self) -> None:
        if self._max_line is not None and len(self._buf) > self._max_line:
            self.stats.oversized += 1
            self._buf = b""
            self._skipping = True

    def _decode(self, line: bytes) -> Event | None:
        st = self.stats
        st.lines += 1
        if self._max_line is not None and len(line) > self._max_line:
            st.oversized += 1
            return None
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return self._corrupt(f"invalid JSON at byte {self.offset}: {exc}")
        if not isinstance(event, dict):
            return self._corrupt("line is not a JSON object")
        v = event.get("v")
        type_ = event.get("type")
        if not isinstance(v, int) or not isinstance(type_, str):
            return self._corrupt("line has no schema version or type (not a grpo-tui event)")
        if v > SCHEMA_VERSION:
            st.newer_schema += 1
            return None
        if type_ not in EVENT_TYPES:
            st.unknown_types += 1
            st.unknown_names.add(type_[:40])
            return None
        if self._types is not None and type_ not in self._types:
            return None
        return event

    def _corrupt(self, reason: str) -> None:
        self.stats.corrupt += 1
        if self.stats.first_error is None:
            self.stats.first_error = reason
        return None

    def __iter__(self) -> Iterator[Event]:
        """Everything currently in the file (complete lines only)."""
        yield from self.read_new()


def read_all(path: str | os.PathLike[str], **kwargs: Any) -> tuple[list[Event], ReadStats]:
    """Read a whole event file once."""
    reader = EventReader(path, **kwargs)
    events = reader.read_new()
    return events, reader.stats
