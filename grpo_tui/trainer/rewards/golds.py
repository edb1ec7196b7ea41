"""The gold-answer column checked at launch, before any run directory exists.

A malformed gold is never a silent wrong reward: NaN read as the text "nan" would pay
``<answer>nan</answer>``; a missing value would score every completion 0. For a local
``.jsonl`` / ``.json`` / ``.csv`` file the launcher reads the answer column with the
standard library (no ``datasets`` import) and refuses the first bad row, naming the column
and the row. Hub datasets and parquet files are checked by the correctness reward itself
(``reward_rules.check_golds`` raises ``GoldError`` naming the column on its first call).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator

from ...core.settings.config import ConfigError, RunConfig
from .. import reward_rules as rules

ANSWER_COLUMNS = ("answer", "solution", "target", "output", "label")  # datasets.ANSWER_COLUMNS, in order
MAX_ROWS_CHECKED = 200_000


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    yield row if isinstance(row, dict) else {}
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if isinstance(data, list):
            yield from (r if isinstance(r, dict) else {} for r in data)
        elif isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
            n = max((len(v) for v in data.values()), default=0)
            for i in range(n):
                yield {k: (v[i] if i < len(v) else None) for k, v in data.items()}
    elif suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            yield from csv.DictReader(f)


def check_local_golds(cfg: RunConfig) -> None:
    """ConfigError naming the answer column and the row when a local dataset's gold is bad."""
    if "correctness" not in cfg.rewards:
        return
    path = Path(cfg.dataset).expanduser()
    if not path.is_file() or path.suffix.lower() not in (".jsonl", ".json", ".csv"):
        return
    column = None
    try:
        for i, row in enumerate(_rows(path)):
            if i >= MAX_ROWS_CHECKED:
                break
            if column is None:
                column = next((c for c in ANSWER_COLUMNS if c in row), None)
                if column is None:
                    return  # no gold column: datasets.build_dataset reports what it needs
            value = row.get(column)
            if isinstance(value, str) and value.strip() == "" and path.suffix.lower() == ".csv":
                value = None  # an empty CSV cell is a missing value
            if value is None:
                raise rules.GoldError(column, f"row {i + 1} has no gold answer",
                                      "fill or drop rows without an answer")
            rules.gold_text(value, column, i + 1)
    except rules.GoldError as exc:
        raise ConfigError(f"dataset column {exc.column!r}", f"{cfg.dataset}: {exc.reason}", exc.fix) from None
    except (OSError, ValueError, UnicodeDecodeError):
        return  # unreadable here: the trainer's loader reports it with its own words
