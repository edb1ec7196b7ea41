"""Export sampled completions to JSONL or Markdown, atomically.

JSONL: one row per completion with every field plus ``step`` -- non-ASCII as ``\\u``
escapes, so bidi and control characters stay inert when the file is printed.
Markdown: grouped by step and prompt, model text through core.util.sanitize (fenced,
escapes stripped, controls and bidi overrides made visible), so nothing in a
completion renders as Markdown/HTML or acts on a terminal.

The file is streamed into a temporary file beside the destination, fsynced and
renamed into place; on any error (disk full, file too large, unwritable place) the
temporary file is removed and ``ExportError`` carries a one-line message. Works on a
running, paused or finished run: it exports what has been written so far.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import time
from pathlib import Path
from typing import IO, Iterable

from ..util import sanitize
from ..run import metric_names as M
from ..util.formatting import short
from ..run.rundir import RunDir, private_dir
from ..run.samples import Row, SampleFilter, SampleStore

FORMATS = ("jsonl", "md")


class ExportError(OSError):
    """An export that could not be written (the message is one line)."""


def default_path(run: RunDir, fmt: str) -> Path:
    return run.exports / f"samples-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}"


def export(run: RunDir, fmt: str = "jsonl", path: str | os.PathLike[str] | None = None,
           flt: SampleFilter | None = None, rows: Iterable[Row] | None = None) -> tuple[Path, int]:
    """Write the rows (default: every row of the run matching ``flt``); returns (path, count)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use jsonl or md")
    if path is None:
        private_dir(run.exports)
        target = default_path(run, fmt)
    else:
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / default_path(run, fmt).name
    if rows is None:
        store = SampleStore(run)
        store.refresh()
        rows = store.iter_rows(flt)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ExportError(_reason(exc, target)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            count = (_write_jsonl if fmt == "jsonl" else _write_md)(fh, rows, run)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(_reason(exc, target)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target, count


def _reason(exc: OSError, target: Path) -> str:
    what = {
        errno.ENOSPC: "no space left on the disk",
        errno.EFBIG: "file too large for this disk or limit",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied (read-only place?)",
        errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system",
        errno.ENOTDIR: f"{target.parent} is not a directory",
        errno.ENOENT: f"{target.parent} does not exist",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return f"cannot export to {target}: {what}; nothing was written"


def _write_jsonl(fh: IO[bytes], rows: Iterable[Row], run: RunDir) -> int:
    n = 0
    for row in rows:
        # orjson has no ASCII-only mode: the stdlib escapes non-ASCII (inert in a terminal).
        fh.write(json.dumps(row, ensure_ascii=True, default=str).encode() + b"\n")
        n += 1
    return n


def _write_md(fh: IO[bytes], rows: Iterable[Row], run: RunDir) -> int:
    def w(text: str) -> None:
        fh.write(text.encode("utf-8"))

    w(f"# Samples of run {sanitize.md_inline(run.id)}\n")
    n = 0
    last: tuple[int, object, str] | None = None
    for row in rows:
        key = (row.get("step", 0), row.get("group"), row.get("prompt", ""))
        if key[:2] != (last[:2] if last else None):
            if last is None or key[0] != last[0]:
                w(f"\n## Step {int(key[0])}\n")
            w(f"\n### Group {sanitize.md_inline(key[1])}\n\n**Prompt**\n\n{sanitize.md_block(key[2])}\n")
            if row.get("answer") not in (None, ""):
                w(f"\nGold answer: {sanitize.md_inline(row.get('answer'), 200)}\n")
        last = key
        n += 1
        parts = ", ".join(f"{sanitize.md_inline(k, 40)} {short(v)}" for k, v in (row.get("rewards") or {}).items())
        flags = " · truncated" if row.get("truncated") else ""
        w(f"\n**Completion {n}** — reward {short(row.get(M.SAMPLE_REWARD))} ({parts}) · advantage "
          f"{short(row.get('advantage'))} · {row.get('length', '?')} tokens{flags}\n\n")
        w(sanitize.md_block(row.get("completion", "")) + "\n")
    if n == 0:
        w("\nNo samples matched.\n")
    return n
