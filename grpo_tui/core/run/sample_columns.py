"""A ``samples`` event's two forms, and the rows every reader works with.

The trainer writes the step's completions as columns (schema v2): one list per field, each
distinct prompt once. Rows (v1) repeated every key per completion and every prompt G times: on the
tiny preset's 128 completions a step, building and encoding those row dicts was most of what our
hooks cost the training loop, and a GSM8K run's file held each prompt eight times. Runs written
before, and the events made from an imported TRL folder, hold rows; readers take either form
through ``event_rows`` (whole rows) or ``event_completions`` (the texts only: the health checks).

Columns payload (v2)::

    prompts  [text]                     each distinct prompt of the step, in order of first use
    weights  {fn: float}                the reward weights: a row's total reward (``reward``) is
                                        the weighted sum of its scores, as TRL adds them up
    columns  {"prompt":    [int]        index into prompts
              "completion": [text]
              "rewards":   {fn: [float|null]}
              "advantage": [float|null]
              "group":     [int]        the prompt group within the step
              "length":    [int|null]   completion tokens; null: not known
              "truncated": [bool|null]
              "answer":    [any|null]}  gold answer; null: none in the dataset

The file is untrusted input to readers: a column that is missing, not a list or shorter than
``completion`` gives None where it has no value, a score that is not a finite number is no
score, a function without a weight counts once (TRL's default); nothing here raises on a
malformed event.
"""

from __future__ import annotations

from typing import Any

from .metric_names import SAMPLE_REWARD
from ..util.numbers import finite

Row = dict[str, Any]

# The per-completion facts a row leaves out when they are not known (a null in their column).
OPTIONAL = ("length", "truncated", "answer")


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _at(column: list, i: int) -> Any:
    return column[i] if i < len(column) else None


def expand(event: dict[str, Any]) -> list[Row]:
    """The rows of a columns-form event, with the keys and order a v1 row has."""
    cols = event.get("columns")
    if not isinstance(cols, dict):
        return []
    completions = _list(cols.get("completion"))
    prompts = _list(event.get("prompts"))
    index = _list(cols.get("prompt"))
    rewards = cols.get("rewards")
    rewards = {str(k): _list(v) for k, v in rewards.items()} if isinstance(rewards, dict) else {}
    weights = event.get("weights")
    weights = weights if isinstance(weights, dict) else {}
    weighted = [(name, col, finite(weights.get(name)) if name in weights else 1.0) for name, col in rewards.items()]
    advantage, group = _list(cols.get("advantage")), _list(cols.get("group"))
    optional = [(k, _list(cols.get(k))) for k in OPTIONAL]
    rows = []
    for i, completion in enumerate(completions):
        p = _at(index, i)
        scores, total = {}, None
        for name, col, w in weighted:
            sc = scores[name] = finite(_at(col, i))
            if sc is not None and w is not None:  # TRL's total is a weighted nansum: no score, no term
                total = 0.0 + sc * w if total is None else total + sc * w  # 0.0 +: no -0.0
        row = {
            "prompt": prompts[p] if type(p) is int and 0 <= p < len(prompts) else "",
            "completion": completion,
            "rewards": scores,
            SAMPLE_REWARD: total,
            "advantage": finite(_at(advantage, i)),
            "group": _at(group, i),
        }
        for key, col in optional:
            value = _at(col, i)
            if value is not None:
                row[key] = value
        rows.append(row)
    return rows


def to_columns(rows: list[Row], weights: dict[str, float]) -> dict[str, Any]:
    """The columns payload of rows whose total reward is the ``weights``-weighted sum of their
    scores (the inverse of ``expand``: synthetic runs and tests write what the trainer writes)."""
    seen: dict[str, int] = {}  # prompt -> its index, in order of first use
    index = [seen.setdefault(r["prompt"], len(seen)) for r in rows]
    names = list(dict.fromkeys(name for r in rows for name in r.get("rewards", {})))
    cols: dict[str, Any] = {
        "prompt": index, "completion": [r["completion"] for r in rows],
        "rewards": {name: [r.get("rewards", {}).get(name) for r in rows] for name in names},
        "advantage": [r.get("advantage") for r in rows], "group": [r.get("group") for r in rows],
    }
    for key in OPTIONAL:
        cols[key] = [r.get(key) for r in rows]
    return {"prompts": list(seen), "weights": {name: weights.get(name, 1.0) for name in names}, "columns": cols}


def has_samples(event: dict[str, Any]) -> bool:
    """Whether the event holds completions in either form (rows or columns)."""
    return isinstance(event.get("rows"), list) or isinstance(event.get("columns"), dict)


def event_rows(event: dict[str, Any]) -> list[Any]:
    """A samples (or ask) event's rows, from either form; the items of a rows-form event as they are
    (readers skip what is not a dict)."""
    rows = event.get("rows")
    if isinstance(rows, list):
        return rows
    return expand(event)


def event_completions(event: dict[str, Any]) -> list[Any]:
    """The completions of a samples event in order, without building rows (None for a row that is
    not a dict)."""
    rows = event.get("rows")
    if isinstance(rows, list):
        return [r.get("completion") if isinstance(r, dict) else None for r in rows]
    cols = event.get("columns")
    return list(_list(cols.get("completion"))) if isinstance(cols, dict) else []
