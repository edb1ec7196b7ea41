"""Comparing runs: curves to overlay, a summary table and a config diff (headless; the app's
compare screen and ``grpo-tui compare`` both read this).

``Comparison(runs)`` holds one ``CompareRun`` per run: a ``core.reading.monitor.RunMonitor`` (so every run
the core reader understands -- launched, watched from a user's script, an opened TRL folder's
mirror -- comes along, in bounded memory however long it is) that also keeps the run's clock
(elapsed seconds by step, for "x by wall time") and its held-out evaluations. ``preview()`` reads the
tail of each log (a first frame in milliseconds), ``load()`` / ``poll()`` fold the history.

Curves (``curves(key, x=..., smooth=...)``): the total reward, each reward component, the main
reward (``correctness`` when the run has it), mean completion length, clipped ratio and held-out
accuracy, per run, already downsampled by ``Series``. Smoothing is TensorBoard's and W&B's
debiased exponential moving average (``ema``).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..run import events as ev
from ..run import metric_names as M
from ..util.formatting import fixed, percent
from .monitor import RunMonitor, Series
from ..util.numbers import finite
from ..run.rundir import RunDir, RunSummary

DEFAULT_SMOOTHING = 0.6  # TensorBoard's default weight
CLOCK = "_clock"  # x: step, y: seconds since the run started
WINDOW = 30  # steps in "first-30 -> last-30"
MAIN_REWARDS = ("correctness", "accuracy", "accuracy_reward", "correctness_reward")

# (key, title): the fixed charts; each reward component is added after "reward"
FIXED_CHARTS = (
    (M.REWARD, "total reward"),
    ("main", "correctness (main reward)"),
    (M.MEAN_LENGTH, "mean completion length"),
    (M.CLIPPED_RATIO, "clipped ratio"),
    ("eval", "held-out accuracy"),
)


def ema(ys: Sequence[float], weight: float = DEFAULT_SMOOTHING) -> list[float]:
    """Debiased exponential moving average (TensorBoard / W&B): the first points are not pulled
    towards 0 as a plain EMA started at 0 would be; non-finite values pass through unchanged."""
    if not 0.0 <= weight < 1.0:
        raise ValueError("smoothing weight must be in [0, 1)")
    out: list[float] = []
    last, n = 0.0, 0
    for y in ys:
        if not math.isfinite(y):
            out.append(y)
            continue
        last = last * weight + (1.0 - weight) * y
        n += 1
        out.append(last / (1.0 - weight ** n))
    return out


class CompareRun(RunMonitor):
    """A RunMonitor that also keeps the run's clock and its eval points."""

    def __init__(self, run: RunDir, **kwargs: Any) -> None:
        super().__init__(run, **kwargs)
        self.clock_series = Series(self.max_buckets, self.tail)
        self.evals: list[tuple[int, float, str]] = []  # (step, accuracy, when)
        self._t0: float | None = None
        # total reward of the first and the last WINDOW steps (RunMonitor folds its summary's copy)
        self.first_rewards: list[float] = []
        self.last_rewards: deque[float] = deque(maxlen=WINDOW)

    def feed(self, events: list[ev.Event]) -> None:
        with self.lock:
            super().feed(events)
            xs: list[float] = []
            ys: list[float] = []
            for e in events:
                t = e["type"]
                if t == ev.METRICS:
                    ts = e.get("ts")
                    if isinstance(ts, (int, float)):
                        if self._t0 is None:
                            self._t0 = float(ts)
                        xs.append(e.get("step") or 0)
                        ys.append(float(ts) - self._t0)
                    r = finite((e.get("metrics") or {}).get(M.REWARD))
                    if r is not None:
                        if len(self.first_rewards) < WINDOW:
                            self.first_rewards.append(r)
                        self.last_rewards.append(r)
                elif t == ev.RUN_STARTED and self._t0 is None and isinstance(e.get("ts"), (int, float)):
                    self._t0 = float(e["ts"])
                elif t == ev.EVAL:
                    acc = finite(e.get("accuracy"))
                    if acc is not None:
                        self.evals.append((int(e.get("step") or 0), acc, str(e.get("when") or "")))
            if xs:
                if self.clock_series.rx and xs[0] <= self.clock_series.rx[-1]:
                    self.clock_series.rewind(xs[0])  # a resume repeats steps
                self.clock_series.extend(xs, ys)

    def to_seconds(self, steps: Sequence[float]) -> list[float]:
        """Steps -> seconds since the start, by interpolating the run's clock."""
        cx, cy = self.clock_series.points()
        if not cx:
            return [0.0 for _ in steps]
        out = []
        for s in steps:
            i = bisect.bisect_left(cx, s)
            if i <= 0:
                out.append(cy[0])
            elif i >= len(cx):
                out.append(cy[-1])
            else:
                x0, x1, y0, y1 = cx[i - 1], cx[i], cy[i - 1], cy[i]
                out.append(y0 + (y1 - y0) * (s - x0) / (x1 - x0) if x1 > x0 else y1)
        return out


@dataclass
class RunRow:
    """One line of the summary table."""

    id: str
    state: str
    source: str
    steps: int
    max_steps: int
    best_reward: float | None
    first_window: float | None
    last_window: float | None
    eval_before: float | None
    eval_after: float | None
    peak_vram_mb: float | None
    steps_per_s: float | None
    stall: str
    fork_of: str = ""  # "RUN@STEP": its curves start where the parent's checkpoint was
    settings_changes: list[dict[str, Any]] = field(default_factory=list)  # `grpo-tui set`: {step, changes}

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Comparison:
    def __init__(self, runs: Iterable[RunDir]) -> None:
        self.runs = [CompareRun(r) for r in runs]
        self.lock = threading.Lock()

    # -- reading ----------------------------------------------------------------------------
    def preview(self) -> None:
        for r in self.runs:
            r.preview()

    def load(self) -> None:
        """Read every run's whole log (bounded memory, 4 MiB at a time)."""
        for r in self.runs:
            r.catch_up()
            r.check_alive()

    def progress(self) -> float:
        """Fraction of the logs read (1.0: all)."""
        total = done = 0
        for r in self.runs:
            left = r.behind()
            done += r.events_reader.offset
            total += r.events_reader.offset + left
        return done / total if total else 1.0

    # -- what to chart ----------------------------------------------------------------------
    def components(self) -> list[str]:
        """Reward components of every run, in first-seen order."""
        seen: dict[str, None] = {}
        for r in self.runs:
            with r.lock:
                seen.update(dict.fromkeys(r.reward_components))
        return list(seen)

    def charts(self) -> list[tuple[str, str]]:
        """(key, title) of every chart, in display order."""
        out = [FIXED_CHARTS[0]]
        out += [(M.reward_mean(c), f"reward: {c}") for c in self.components()]
        out += list(FIXED_CHARTS[1:])
        return out

    def main_key(self, r: CompareRun) -> str:
        for name in MAIN_REWARDS:
            if name in r.reward_components:
                return M.reward_mean(name)
        return M.REWARD

    def curves(self, key: str, *, x: str = "step", smooth: float | None = None
               ) -> list[tuple[list[float], list[float]]]:
        """One (xs, ys) per run (empty lists where a run lacks the metric). ``x``: step / time
        (seconds since the run started); ``smooth``: EMA weight, None for raw."""
        out = []
        for r in self.runs:
            with r.lock:
                if key == "eval":
                    pts = sorted(r.evals)
                    xs: list[float] = [float(p[0]) for p in pts]
                    ys: list[float] = [p[1] for p in pts]
                else:
                    k = self.main_key(r) if key == "main" else key
                    s = r.series.get(k)
                    xs, ys = s.points() if s is not None else ([], [])
                if x == "time" and xs:
                    xs = r.to_seconds(xs)
            if smooth and key != "eval" and ys:
                ys = ema(ys, smooth)
            out.append((xs, ys))
        return out

    # -- tables -----------------------------------------------------------------------------
    def rows(self) -> list[RunRow]:
        from .report import _peak_gpu_mb

        out = []
        for r in self.runs:
            snap = r.snapshot(series=())
            s: RunSummary = snap.summary
            before = _eval_at(s, ("base", "before"))
            after = _eval_at(s, ("after", "manual"))
            sps = None
            if s.started and s.step:
                end = s.ended or s.last_ts
                if end and end > s.started:
                    sps = s.step / (end - s.started)
            out.append(RunRow(
                id=s.id, state=s.state, source=getattr(s, "source", "") or "", steps=s.step,
                max_steps=s.max_steps, best_reward=s.best_reward, first_window=_mean(r.first_rewards),
                last_window=_mean(r.last_rewards), eval_before=before, eval_after=after,
                peak_vram_mb=_peak_gpu_mb(snap.peaks), steps_per_s=sps, stall=s.stall_line,
                fork_of=s.fork_of, settings_changes=list(s.settings_changes),
            ))
        return out

    def config_diff(self) -> list[tuple[str, list[Any]]]:
        """(key, value per run) for every config key whose values differ (missing: None)."""
        cfgs = [(r.info.get("config") or {}) for r in self.runs]
        keys: dict[str, None] = {}
        for c in cfgs:
            keys.update(dict.fromkeys(c))
        out = []
        for k in keys:
            vals = [c.get(k) for c in cfgs]
            if any(v != vals[0] for v in vals[1:]):
                out.append((k, vals))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "runs": [row.to_dict() for row in self.rows()],
            "config_diff": {k: v for k, v in self.config_diff()},
            "charts": [k for k, _t in self.charts()],
        }


def _mean(xs: Iterable[float]) -> float | None:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else None


def _eval_at(s: RunSummary, whens: tuple[str, ...]) -> float | None:
    for when in whens:
        acc = (s.eval.get(when) or {}).get("accuracy")
        if isinstance(acc, (int, float)) and not isinstance(acc, bool):
            return float(acc)
    return None


# -- text output (grpo-tui compare) ------------------------------------------------------------
def row_cells(row: RunRow) -> dict[str, str]:
    """The summary table's cells as text (shared by the screen and the markdown output)."""
    window = "–" if row.first_window is None else f"{fixed(row.first_window)} → {fixed(row.last_window)}"
    evals = "–" if row.eval_before is None and row.eval_after is None else \
        f"{percent(row.eval_before)} → {percent(row.eval_after)}"
    state = row.state + (f" ({row.stall.split(' (')[0]})" if row.stall else "")
    return {
        "run": row.id, "state": state,
        "steps": f"{row.steps}/{row.max_steps}" if row.max_steps else str(row.steps),
        "best reward": fixed(row.best_reward), "first-30 → last-30": window, "eval before → after": evals,
        "peak VRAM": "–" if row.peak_vram_mb is None else f"{row.peak_vram_mb / 1024:.1f} GiB",
        "steps/s": "–" if row.steps_per_s is None else f"{row.steps_per_s:.2f}",
    }


def value_text(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


def to_markdown(c: Comparison) -> str:
    from ..util import sanitize as sz

    rows = [row_cells(r) for r in c.rows()]
    L = [f"# grpo-tui: {len(rows)} runs compared", ""]
    if rows:
        head = list(rows[0])
        L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        L += ["| " + " | ".join(sz.md_inline(r[h], 120) for h in head) + " |" for r in rows]
        L.append("")
    diff = c.config_diff()
    L += ["## Config: keys that differ", ""]
    if not diff:
        L += ["(every key is the same)", ""]
    else:
        ids = [r.run.id for r in c.runs]
        L += ["| key | " + " | ".join(sz.md_inline(i, 60) for i in ids) + " |", "|" + "---|" * (len(ids) + 1)]
        L += ["| " + sz.md_inline(k) + " | " + " | ".join(sz.md_inline(value_text(v), 80) for v in vals) + " |"
              for k, vals in diff]
        L.append("")
    lines = [f"| {sz.md_inline(r.id, 60)} | {c['step']} | {sz.md_inline(k)} | {sz.md_inline(v.get('old'))} | "
             f"{sz.md_inline(v.get('new'))} |" for r in c.rows() for c in r.settings_changes
             for k, v in c["changes"].items()]
    forks = [f"- {sz.md_inline(r.id, 60)} is a fork of {sz.md_inline(r.fork_of, 80)}" for r in c.rows() if r.fork_of]
    if lines or forks:
        L += ["## Changed while training", ""] + forks + ([""] if forks else [])
        if lines:
            L += ["| run | step | setting | old | new |", "|---|---|---|---|---|", *lines, ""]
    return "\n".join(L)
