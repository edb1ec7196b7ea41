"""``grpo-tui export RUN --metrics csv``: every logged metric, one row per step.

Columns: ``step``, ``timestamp`` (ISO 8601, UTC), then every metric under TRL's own names (and
``memory/*``), in the order they first appear. A step logged twice (a resumed run replays the steps
after its checkpoint) keeps its newer values. pandas (``read_csv``) and trackio's CSV import
(``trackio.import_csv``: a ``step`` column, an optional ``timestamp`` column, every other column a
metric) read the file as it is. Written like sample exports: a temporary file, fsynced, renamed.
"""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from ..run import events as ev
from .export import ExportError, _reason
from ..run.rundir import RunDir, atomic_write, private_dir


def default_path(run: RunDir) -> Path:
    return run.exports / f"metrics-{time.strftime('%Y%m%d-%H%M%S')}.csv"


def rows(run: RunDir) -> tuple[list[str], list[dict]]:
    """(metric names in first-seen order, one dict per step in step order)."""
    names: dict[str, None] = {}
    by_step: dict[int, dict] = {}
    reader = ev.EventReader(run.events, types=[ev.METRICS], max_line_bytes=ev.MAX_EVENT_LINE)
    while True:
        before = reader.offset
        events = reader.read_new(4 * 2**20)
        if not events and reader.offset == before:
            break
        for e in events:
            metrics = e.get("metrics") or {}
            step = e.get("step")
            if not isinstance(step, int):
                continue
            for k in metrics:
                names.setdefault(k, None)
            row = {"step": step, "timestamp": _iso(e.get("ts"))}
            row.update(metrics)
            by_step[step] = row
    return list(names), [by_step[s] for s in sorted(by_step)]


def _iso(ts) -> str:
    if not isinstance(ts, (int, float)):
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


def export_metrics(run: RunDir, path: str | os.PathLike[str] | None = None) -> tuple[Path, int]:
    """Write the CSV; returns (path, rows written). ExportError (one line) when it cannot be written."""
    if path is None:
        private_dir(run.exports)
        target = default_path(run)
    else:
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / default_path(run).name
    names, table = rows(run)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["step", "timestamp", *names], restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    try:
        atomic_write(target, buf.getvalue())  # nothing half-written: a temporary file, then a rename
    except OSError as exc:
        raise ExportError(_reason(exc, target)) from None
    return target, len(table)
