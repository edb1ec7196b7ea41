"""The sample store: a run's ``samples.jsonl`` read on demand.

The file holds one ``samples`` event per step (see core.run.events). A long run's file
is hundreds of MB, so the store never holds it: it keeps an index step -> (byte
offset, length), built incrementally as the file grows (a torn last line waits for
its newline), and loads one step's rows when asked, through a small LRU. Lines
longer than ``events.MAX_EVENT_LINE`` are skipped and counted, like the reader does.
Completion text is capped at ``TEXT_CAP`` characters per row for display and export
(``truncated_text`` says so); the raw file keeps everything.
"""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator

import orjson

from . import events as ev
from . import metric_names as M
from .messages import chat_text
from .rundir import RunDir
from .sample_columns import event_rows

TEXT_CAP = 200_000
CHUNK = 1 << 20
Row = dict[str, Any]


@dataclass
class SampleFilter:
    """What the browser and export select. Empty fields select everything."""

    step_min: int | None = None
    step_max: int | None = None
    min_reward: float | None = None
    max_reward: float | None = None
    truncated_only: bool = False
    search: str = ""
    asks: bool = True  # rows answered by `grpo-tui ask` (marked ``ask``), after the training steps


    def step_ok(self, step: int) -> bool:
        return (self.step_min is None or step >= self.step_min) and (self.step_max is None or step <= self.step_max)

    def row_ok(self, row: Row) -> bool:
        r = row.get(M.SAMPLE_REWARD)
        if self.min_reward is not None and not (isinstance(r, (int, float)) and r >= self.min_reward):
            return False
        if self.max_reward is not None and not (isinstance(r, (int, float)) and r <= self.max_reward):
            return False
        if self.truncated_only and not row.get("truncated"):
            return False
        if self.search:
            needle = self.search.lower()
            hay = f"{row.get('prompt', '')}\n{row.get('completion', '')}".lower()
            if needle not in hay:
                return False
        return True

    @property
    def empty(self) -> bool:
        return self == SampleFilter()


def parse_steps(spec: str | None) -> tuple[int | None, int | None]:
    """A step range as users type it (browser filter, ``export --steps``): 'A:B', 'A:', ':B' or 'A'
    -> (first, last), None for an open end; ValueError for anything else."""
    if not spec or not spec.strip():
        return None, None
    a, sep, b = spec.partition(":")
    try:
        lo = int(a) if a.strip() else None
        hi = (int(b) if b.strip() else None) if sep else lo
    except ValueError:
        raise ValueError("use A:B, A: or :B with step numbers") from None
    return lo, hi


def _text(value: Any) -> str:
    """Prompts/completions may be chat message lists (TRL >= 1.15): show their contents."""
    return chat_text(value)


def normalise_row(row: Any, step: int) -> Row | None:
    if not isinstance(row, dict):
        return None
    out = dict(row)
    out["step"] = step
    for key in ("prompt", "completion"):
        text = _text(row.get(key))
        if len(text) > TEXT_CAP:
            text = text[:TEXT_CAP]
            out["truncated_text"] = True
        out[key] = text
    if not isinstance(out.get("rewards"), dict):
        out["rewards"] = {}
    return out


class SampleStore:
    def __init__(self, run: RunDir, cache_steps: int = 16):
        self.run = run
        self.index: dict[int, tuple[int, int]] = {}
        self.skipped = 0
        self._offset = 0
        self._pending = b""
        self._cache: OrderedDict[int, list[Row]] = OrderedDict()
        self._cache_steps = cache_steps
        self.ask_index: list[tuple[int, int]] = []  # (offset, length) of each ``ask`` event, in order
        self._skipping = False  # inside an oversized line whose newline has not arrived yet

    def refresh(self) -> int:
        """Index what was appended since the last call; returns how many new steps."""
        try:
            fd = os.open(self.run.samples, os.O_RDONLY)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return 0
        added = 0
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # a directory where the file should be
                return 0
            size = st.st_size
            if size < self._offset:  # replaced: start over
                self.index.clear()
                self._cache.clear()
                self.ask_index.clear()
                self._offset, self._pending, self._skipping = 0, b"", False
            while self._offset < size:
                if self._skipping:  # the rest of an oversized line counted by an earlier read
                    self._offset, found = self._skip_to_newline(fd, size)
                    self._skipping = not found
                    continue
                data = os.pread(fd, min(CHUNK, size - self._offset), self._offset)
                if not data:
                    break
                base = self._offset - len(self._pending)
                buf = self._pending + data
                self._offset += len(data)
                start = 0
                while True:
                    nl = buf.find(b"\n", start)
                    if nl < 0:
                        break
                    added += self._index_line(buf, start, nl, base)
                    start = nl + 1
                rest = buf[start:]
                if len(rest) > ev.MAX_EVENT_LINE:
                    # an oversized line: keep only its position, skip it when its newline comes
                    self.skipped += 1
                    rest = b""
                    self._offset, found = self._skip_to_newline(fd, size)
                    self._skipping = not found
                self._pending = rest
        finally:
            os.close(fd)
        return added

    def _skip_to_newline(self, fd: int, size: int) -> tuple[int, bool]:
        """(offset just past the next newline, True), or (the end, False) when it has not come yet."""
        pos = self._offset
        while pos < size:
            data = os.pread(fd, min(CHUNK, size - pos), pos)
            if not data:
                break
            nl = data.find(b"\n")
            if nl >= 0:
                return pos + nl + 1, True
            pos += len(data)
        return pos, False

    def _index_line(self, buf: bytes, start: int, end: int, base: int) -> int:
        line = buf[start:end]
        if not line.strip():
            return 0
        if len(line) > ev.MAX_EVENT_LINE:
            self.skipped += 1
            return 0
        # The step is in the envelope; a cheap parse of the whole line keeps this simple and exact.
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.skipped += 1
            return 0
        if not isinstance(event, dict) or event.get("type") not in (ev.SAMPLES, ev.ASK) \
                or not isinstance(event.get("step"), int):
            return 0
        if event.get("v", 0) > ev.SCHEMA_VERSION:
            self.skipped += 1
            return 0
        if event["type"] == ev.ASK:
            self.ask_index.append((base + start, end - start))
            return 0
        step = event["step"]
        new = step not in self.index
        self.index[step] = (base + start, end - start)
        self._cache.pop(step, None)
        return int(new)

    @property
    def steps(self) -> list[int]:
        return sorted(self.index)

    def rows(self, step: int) -> list[Row]:
        if step in self._cache:
            self._cache.move_to_end(step)
            return self._cache[step]
        loc = self.index.get(step)
        if loc is None:
            return []
        with open(self.run.samples, "rb") as fh:
            fh.seek(loc[0])
            line = fh.read(loc[1])
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            return []
        rows = [r for r in (normalise_row(x, step) for x in event_rows(event)) if r is not None]
        self._cache[step] = rows
        if len(self._cache) > self._cache_steps:
            self._cache.popitem(last=False)
        return rows

    def groups(self, step: int, flt: SampleFilter | None = None) -> dict[int, list[Row]]:
        out: dict[int, list[Row]] = {}
        for row in self.rows(step):
            if flt is None or flt.row_ok(row):
                g = row.get("group")
                out.setdefault(g if isinstance(g, int) else 0, []).append(row)
        return out

    def iter_rows(self, flt: SampleFilter | None = None) -> Iterator[Row]:
        flt = flt or SampleFilter()
        for step in self.steps:
            if not flt.step_ok(step):
                continue
            for row in self.rows(step):
                if flt.row_ok(row):
                    yield row
        if flt.asks:
            for ask in self.asks():
                if flt.step_ok(ask["step"]):
                    yield from (row for row in ask["rows"] if flt.row_ok(row))

    def asks(self) -> list[dict[str, Any]]:
        """Every answered ask, oldest first: the event with its rows normalised and marked ``ask``
        (``ask_id`` says which ask). Few and small, so read whole each time."""
        out = []
        if not self.ask_index:
            return out
        with open(self.run.samples, "rb") as fh:
            for offset, length in self.ask_index:
                fh.seek(offset)
                try:
                    event = orjson.loads(fh.read(length))
                except orjson.JSONDecodeError:
                    continue
                rows = []
                for x in event.get("rows") or []:
                    row = normalise_row(x, event["step"])
                    if row is not None:
                        row["ask"] = True
                        row["ask_id"] = event.get("id")
                        rows.append(row)
                out.append({**event, "rows": rows})
        return out

    def reward_names(self) -> list[str]:
        for step in reversed(self.steps):
            for row in self.rows(step):
                if row["rewards"]:
                    return list(row["rewards"])
        return []
