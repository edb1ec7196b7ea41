"""Where a dataset comes from: a built-in task, a local file, or the hub.

Import-light and shared by trainer.datasets (loading) and trainer.hub (whether the hub is
needed), which each used to import the other for it.
"""

from __future__ import annotations

from pathlib import Path

# local file suffix -> the `datasets` loader that reads it
LOCAL_SUFFIXES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def classify(source: str) -> str:
    """builtin | local | hub."""
    if source.startswith("builtin:"):
        return "builtin"
    p = Path(source).expanduser()
    if p.suffix.lower() in LOCAL_SUFFIXES or source.startswith((".", "/", "~")) or p.exists():
        return "local"
    return "hub"
