"""The run report as one self-contained HTML file: charts, samples and verdicts, for sharing.

``build(run)`` reads a run directory once through ``ReportRun`` -- the dashboard's own
``core.reading.monitor.RunMonitor``, so every chart draws the series the dashboard panels declare
(``core.run.metric_names``: ``reward_series``, ``LENGTH_SERIES``, ``HEALTH_SERIES``, ``MEMORY_SERIES``) from
the same bounded, min/max-bucketed ``Series`` -- plus what only a report marks: every alert, every
``settings_changed`` event, the stalls the history shows (gaps between steps longer than
``core.run.stall``'s allowance) and the run's clock (steps against wall time). ``to_html(report)`` renders
it; ``compare_html`` overlays several runs (``core.reading.compare``'s model, the same marks) with their config
diff.

The page needs no network and no script: inline CSS (light and dark follow the reader's
``prefers-color-scheme``), inline SVG (``core.reading.svg_chart``), and a Content-Security-Policy that forbids
scripts and remote loads outright. Every string from the run -- completions, prompts, reward and alert
names, config values, errors -- goes through ``core.util.sanitize.html_literal`` (every control, escape and
bidi character shown as a visible stand-in, as the app shows it, then HTML-escaped): hostile model text is
shown, never obeyed.

Size stays bounded however long the run: a series is at most ``svg_chart.MAX_POINTS`` points per line
(buckets keep their min and max as a band), completions are cut at ``TEXT_LIMIT`` characters.
"""

from __future__ import annotations

import math
import os
import stat
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import orjson

from ..run import events as ev
from ..run import metric_names as M
from . import report as rp
from ..run import stall
from . import svg_chart as sc
from .compare import CompareRun, Comparison, row_cells, value_text
from .monitor import SAMPLES_MAX_LINE, RunMonitor, Series
from ..util.formatting import duration, percent, scaled
from ..util.numbers import finite
from ..run.rundir import LIVE_STATES, RunDir
from ..run.sample_columns import event_rows
from ..util.sanitize import html_literal as esc
from ..util.sanitize import truncate

TEXT_LIMIT = 2000  # characters of one completion or prompt shown
EVENT_ROWS = 400  # rows of the alerts / stalls / settings table at most
SETTINGS_CHANGED = getattr(ev, "SETTINGS_CHANGED", "settings_changed")


@dataclass
class Gap:
    """A stretch without progress while training: from the event at ``since_step`` to the next step."""

    since_step: int
    step: int
    seconds: float
    ts: float


class _Marks:
    """What the report marks on its charts' step axis, folded from the events a monitor reads:
    every alert, every settings change, the gaps between steps (stalls), evals, a stop command.
    Mixed in before a RunMonitor: it folds each batch under the monitor's lock, after the monitor."""

    def __init__(self, run: RunDir, **kwargs: Any) -> None:
        super().__init__(run, **kwargs)
        self._init_marks()

    def feed(self, events: list[ev.Event]) -> None:
        with self.lock:
            super().feed(events)
            self._fold_marks(events)

    def _init_marks(self) -> None:
        self.all_alerts: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self.gaps: list[Gap] = []
        self.step_seconds: list[float] = []  # seconds per step between consecutive metrics events
        self.eval_points: list[tuple[int, float, str]] = []  # (step, accuracy, when)
        self.stop_command: dict[str, Any] | None = None
        self._progress: tuple[float, int] | None = None  # (ts, step) of the last sign of progress
        self._paused = False
        self.wall = Series()  # x: seconds since the first step, y: the step (bounded, like every series)
        self.t0: float | None = None
        self.policy = stall.StallPolicy.load()

    def _fold_marks(self, events: list[ev.Event]) -> None:
        METRICS, gaps, secs = ev.METRICS, self.gaps, self.step_seconds
        cx: list[float] = []
        cy: list[float] = []
        floor = self.policy.after_s  # no allowance is shorter: a shorter gap is never a stall
        for e in events:
            t = e["type"]
            ts = e.get("ts")
            step = e.get("step")
            if not isinstance(step, int):
                step = 0
            if t == METRICS:  # the hot path: one per step
                if isinstance(ts, (int, float)):
                    pr = self._progress
                    if pr is not None and not self._paused:
                        dt = ts - pr[0]
                        if step > pr[1]:
                            secs.append(dt / (step - pr[1]))
                        if dt > floor:
                            gaps.append(Gap(pr[1], step, dt, pr[0]))
                    self._progress = (ts, step)
                    if self.t0 is None:
                        self.t0 = float(ts)
                    cx.append(ts - self.t0)
                    cy.append(step)
                continue
            if t == ev.ALERT:
                self.all_alerts.append({k: e.get(k) for k in
                                        ("code", "severity", "message", "hint", "since_step", "step", "ts")})
            elif t == SETTINGS_CHANGED:
                if e.get("resumed"):  # settings re-applied as a run resumes: no change at that step
                    continue
                ch = e.get("changes")
                self.changes.append({"step": step, "ts": ts, "changes": ch if isinstance(ch, dict) else {}})
            elif t == ev.EVAL:
                acc = finite(e.get("accuracy"))
                if acc is not None:
                    self.eval_points.append((step, acc, str(e.get("when") or "")))
            elif t == ev.CONTROL:
                self._paused = e.get("state") == "paused"
                if e.get("command") == "stop":
                    self.stop_command = {"step": step, "ts": ts}
            if t in (ev.CONTROL, ev.PHASE, ev.EVAL, ev.CHECKPOINT, ev.RUN_STARTED) and isinstance(ts, (int, float)):
                self._progress = (float(ts), step)
        if cx:
            self.wall.extend(cx, cy)
        if len(gaps) > 4096:  # a pathological log: keep the longest
            gaps.sort(key=lambda g: -g.seconds)
            del gaps[1024:]

    def stalls(self) -> list[Gap]:
        """Gaps longer than what core.run.stall allows a training run (its median step time x factor,
        at least ``after_s``): the stalls the history shows, oldest first."""
        policy = self.policy
        med = statistics.median(self.step_seconds) if self.step_seconds else None
        allow = policy.allowance("training", med)
        if allow is None:
            return []
        return sorted((g for g in self.gaps if g.seconds > allow), key=lambda g: g.step)


class ReportRun(_Marks, RunMonitor):
    """The dashboard's run model (RunMonitor: the same series, the same buckets) plus the marks."""


class CompareReportRun(_Marks, CompareRun):
    """compare's run model (RunMonitor + the clock and first/last rewards) plus the marks."""


def load(run: RunDir) -> ReportRun:
    r = ReportRun(run)
    r.catch_up()
    r.check_alive()
    return r


# -- samples ----------------------------------------------------------------------------------
def _groups_of(e: ev.Event) -> list[rp._Group]:
    step = int(e.get("step") or 0)
    groups: dict[Any, rp._Group] = {}
    for row in event_rows(e):
        if isinstance(row, dict):
            g = row.get("group")
            key = g if isinstance(g, (int, str)) else -1
            groups.setdefault(key, rp._Group(step, key)).rows.append(row)
    return [g for g in groups.values() if math.isfinite(g.mean)]


def _line_start_at_or_after(fh, pos: int) -> int | None:
    """Byte offset of the first line that starts at ``pos`` or later (None: none does)."""
    if pos <= 0:
        return 0
    fh.seek(pos - 1)
    at = pos - 1
    while True:
        chunk = fh.read(1 << 16)
        if not chunk:
            return None
        i = chunk.find(b"\n")
        if i >= 0:
            return at + i + 1
        at += len(chunk)


def _samples_event_in(fh, pos: int, end: int) -> tuple[ev.Event, int, int] | None:
    """(event, line start, next line start) of the first complete samples event whose line starts in
    [pos, end); other lines (ask events, corrupt or torn ones) are stepped over."""
    start = _line_start_at_or_after(fh, pos)
    while start is not None and start < end:
        fh.seek(start)
        line = fh.readline(SAMPLES_MAX_LINE + 1)
        if not line.endswith(b"\n"):
            if len(line) <= SAMPLES_MAX_LINE:
                return None  # a torn last line: not written yet
            nxt = _line_start_at_or_after(fh, start + len(line))  # oversized: skip it
        else:
            nxt = start + len(line)
            try:
                e = orjson.loads(line)
            except orjson.JSONDecodeError:
                e = None
            if (isinstance(e, dict) and e.get("type") == ev.SAMPLES and isinstance(e.get("v"), int)
                    and e["v"] <= ev.SCHEMA_VERSION):
                return e, start, nxt
        start = nxt
    return None


def _nearest_samples(fh, size: int, want: int) -> ev.Event | None:
    """The samples event whose step is nearest ``want``, by bisecting the file's byte offsets (steps
    grow along samples.jsonl): a few line reads however big the file, never a scan of it."""
    lo, hi = 0, size
    best: tuple[int, int, ev.Event] | None = None  # (distance, step, event)
    while lo < hi:
        mid = (lo + hi) // 2
        got = _samples_event_in(fh, mid, hi)
        if got is None:
            hi = mid
            continue
        e, start, nxt = got
        st = int(e.get("step") or 0)
        cand = (abs(st - want), st, e)
        if best is None or cand[:2] < best[:2]:
            best = cand
        if st == want:
            break
        if st < want:
            lo = nxt
        else:
            hi = start
    return best[2] if best else None


def chosen_groups(run: RunDir, steps: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The best and the worst group at each chosen step (the sampled step nearest each; default: the
    first and the last sampled step). Each is found by bisecting samples.jsonl (``_nearest_samples``),
    so a long run's hundreds of MB of completions cost a few reads."""
    wanted = list(dict.fromkeys(int(s) for s in steps)) if steps else [-1, 2**62]
    try:
        with open(run.samples, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            found = [_nearest_samples(fh, size, w) for w in wanted] if stat.S_ISREG(
                os.fstat(fh.fileno()).st_mode) else []
    except OSError:
        found = []
    picked = sorted({id(e): e for e in found if e is not None}.values(), key=lambda e: int(e.get("step") or 0))
    out = []
    for e in picked:
        gs = _groups_of(e)
        if not gs:
            continue
        best = max(gs, key=lambda g: g.mean)
        worst = min(reversed(gs), key=lambda g: g.mean)  # on a tie, another group than the best
        out.append({"step": int(e.get("step") or 0), "groups": len(gs), "best": best.to_dict(),
                    "worst": worst.to_dict() if worst is not best else None})
    return out


# -- the report's data --------------------------------------------------------------------------
@dataclass
class Chart:
    title: str
    svg: str
    legend: str = ""
    note: str = ""


@dataclass
class HtmlReport:
    title: str
    header: list[tuple[str, str]]
    verdict: str
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, inner HTML)


def _series_line(r: RunMonitor, key: str, label: str, colour: int, *, bold: bool = False,
                 dashed: bool = False) -> sc.Line | None:
    s = r.series.get(key)
    if s is None or not len(s):
        return None
    xs, ys = s.points()
    _, lo = s.points("min")
    _, hi = s.points("max")
    xs, ys, lo, hi = sc.downsample(xs, ys, lo, hi)
    return sc.Line(label, xs, ys, lo, hi, colour=colour, bold=bold, dashed=dashed)


def _marks(r: _Marks, stalls: list[Gap], prefix: str = "") -> list[sc.Mark]:
    out: list[sc.Mark] = []
    for g in stalls:
        out.append(sc.Mark(g.since_step, "stall", f"{prefix}stall: no progress for {duration(g.seconds)} "
                                                  f"(step {g.since_step} → {g.step})", x_end=g.step))
    for a in r.all_alerts:
        step = finite(a.get("step"))
        if step is None:
            continue
        sev = "critical" if a.get("severity") == "critical" else "warning"
        out.append(sc.Mark(step, f"alert-{sev}", f"{prefix}step {int(step)} {sev}: {a.get('code')}: "
                                                 f"{a.get('message') or ''}"))
    for c in r.changes:
        out.append(sc.Mark(float(c["step"]), "settings", f"{prefix}step {c['step']} settings: {_changes_text(c)}"))
    return out


def _changes_text(c: dict[str, Any]) -> str:
    parts = []
    for k, v in (c.get("changes") or {}).items():
        if isinstance(v, dict):
            parts.append(f"{k} {value_text(v.get('old'))} → {value_text(v.get('new'))}")
        else:
            parts.append(f"{k} → {value_text(v)}")
    return ", ".join(parts) or "(no keys)"


def _chart(title: str, lines: list[sc.Line | None], marks: Sequence[sc.Mark], *, values: Sequence[str] = (),
           hlines: Sequence[sc.HLine] = (), ylimits=None, note: str = "", small: bool = False,
           xlabel: str = "step", empty: str = "not recorded") -> Chart:
    kept = [ln for ln in lines if ln is not None]
    vals = [v for ln, v in zip(lines, list(values) + [""] * len(lines)) if ln is not None]
    size = {"width": 420, "height": 180} if small else {}  # drawn at the size it is shown: legible ticks
    return Chart(title, sc.line_chart(kept, title=title, marks=marks, hlines=hlines, ylimits=ylimits,
                                      xlabel=xlabel, empty=empty, **size),
                 sc.legend(kept, vals), note)


def _first_last(s) -> str:
    """'first → last' of a series: its first and newest values (the dashboard's latest)."""
    if s is None or not len(s):
        return ""
    _xs, ys = s.points()
    return f"{scaled(ys[0])} → {scaled(s.last)}"


def _planned_mb(r: ReportRun) -> tuple[float | None, str]:
    plan = rp._planned_memory(r.info)
    mb = rp._planned_total_mb(plan)
    return mb, str((plan or {}).get("device") or "")


def _gpu_line(hw: dict[str, Any]) -> str:
    gpus = [g for g in hw.get("gpus") or [] if isinstance(g, dict)]
    if not gpus:
        return "none (CPU)" if hw else "not recorded"
    names = [f"{g.get('name', '?')}" + (f" {g['total_gb']:.0f} GiB" if isinstance(g.get("total_gb"), (int, float))
                                         else "") for g in gpus]
    return ", ".join(names)


def _stop_reason(r: ReportRun) -> str:
    s = r.folder.summary
    if s.state == ev.COMPLETED:
        return f"completed: reached step {s.step}" + (f" of {s.max_steps}" if s.max_steps else "")
    if s.state == ev.STOPPED:
        by = " by a stop command" if r.stop_command else ""
        return f"stopped{by} at step {s.step}" + (f" of {s.max_steps}" if s.max_steps else "")
    if s.state == ev.FAILED:
        return "failed: " + (s.error or "see the trainer log below")
    if s.state == "crashed":
        return "crashed: the trainer process is gone and wrote no finished event"
    if s.stall_line:
        return s.stall_line
    if s.state in LIVE_STATES:
        return f"still {s.state} (report taken at step {s.step})"
    return s.state


def _ts(t: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t)) if isinstance(t, (int, float)) and t > 0 else "–"


def build(run: RunDir, *, steps: Sequence[int] | None = None, loaded: ReportRun | None = None) -> HtmlReport:
    """Read ``run`` and lay its report out (``to_html`` writes the page)."""
    r = loaded or load(run)
    s = r.folder.summary
    snap = r.snapshot(series=())
    cfg = r.info.get("config") or {}
    hw = r.info.get("hardware") or {}
    stalls = r.stalls()
    marks = _marks(r, stalls)
    if s.stalled_since is not None:  # a live run stalled right now: from its last progress to the end
        marks.append(sc.Mark(float(s.step), "stall", s.stall_line, x_end=float(s.step)))

    start = s.started or s.created or None
    end = s.ended or (time.time() if s.live else s.last_ts)
    header = [
        ("preset", s.preset or "–"), ("model", s.model or "–"), ("backend", s.backend or "–"),
        ("GPU", _gpu_line(hw)),
        ("steps", f"{s.step}" + (f" of {s.max_steps}" if s.max_steps else "")),
        ("time", f"{duration(end - start if start and end and end >= start else None, full=True)}"
                 f" ({_ts(start)} → {_ts(s.ended)})"),
        ("stop reason", _stop_reason(r)),
        ("source", {"": "launched by grpo-tui", "watched": "a script under grpo_tui.watch()",
                    "trl-folder": "a plain TRL output folder (grpo-tui open)"}.get(s.source, s.source)),
    ]
    if s.eval_line():
        header.append(("held-out accuracy", s.eval_line().replace(" -> ", " → ")))
    rep = HtmlReport(title=f"grpo-tui run report: {s.id}", header=header, verdict=_stop_reason(r))

    # rewards: the dashboard's rewards panel, one chart with every component and the total
    comps = list(r.reward_components)
    lines = [_series_line(r, M.reward_mean(c), c, i) for i, c in enumerate(comps)]
    vals = [_first_last(r.series.get(M.reward_mean(c))) for c in comps]
    total = _series_line(r, M.REWARD, "total", len(comps), bold=True)
    mx = finite(r.info.get("max_reward"))
    charts = [_chart("reward: every component and the total", lines + [total], marks,
                     values=vals + [_first_last(r.series.get(M.REWARD))],
                     hlines=[sc.HLine(mx, f"max {scaled(mx)}", "cap")] if mx else ())]
    charts.append(_chart(f"{M.REWARD_STD} (spread within a group)", [_series_line(r, M.REWARD_STD, M.REWARD_STD, 1)],
                         marks, values=[_first_last(r.series.get(M.REWARD_STD))]))
    rep.sections.append(("Rewards", _charts_html(charts)))

    # lengths against the cap, and the clipped ratio
    cap = finite(cfg.get("max_completion_length")) or finite(snap.max_completion_length)
    len_lines = [_series_line(r, M.MAX_LENGTH, "max", 3), _series_line(r, M.MEAN_LENGTH, "mean", 0, bold=True),
                 _series_line(r, M.MIN_LENGTH, "min", 2)]
    len_vals = [_first_last(r.series.get(k)) for k in (M.MAX_LENGTH, M.MEAN_LENGTH, M.MIN_LENGTH)]
    charts = [_chart("completion length (tokens) against the cap", len_lines, marks, values=len_vals,
                     hlines=[sc.HLine(cap, f"cap {int(cap)}", "cap")] if cap else (), ylimits=(0.0, None))]
    charts.append(_chart("clipped ratio (completions cut at the cap)",
                         [_series_line(r, M.CLIPPED_RATIO, "clipped ratio", 3)], marks,
                         values=[_first_last(r.series.get(M.CLIPPED_RATIO))], ylimits=(0.0, None)))
    rep.sections.append(("Completion lengths", _charts_html(charts)))

    # health: the dashboard's health panel, one small chart per series
    beta = finite(cfg.get("beta"))
    charts = [_chart(label, [_series_line(r, key, label, i)], marks, values=[_first_last(r.series.get(key))],
                     small=True, empty="not logged: TRL logs kl only when beta > 0" if key == M.KL and beta == 0
                     else "not recorded")
              for i, (key, label) in enumerate(M.HEALTH_SERIES) if key != M.CLIPPED_RATIO]
    rep.sections.append(("Health", _charts_html(charts, small=True)))

    # memory against the planner's figure
    planned, device = _planned_mb(r)
    if any(k in r.series for k in (M.CUDA_RESERVED_MB, M.CUDA_MAX_ALLOCATED_MB, M.CUDA_ALLOCATED_MB)):
        mem_lines = [_series_line(r, M.CUDA_RESERVED_MB, "torch reserved", 0),
                     _series_line(r, M.CUDA_MAX_ALLOCATED_MB, "torch peak allocated", 1),
                     _series_line(r, M.CUDA_ALLOCATED_MB, "torch allocated", 2)]
        vllm = snap.peaks.get(M.VLLM_RESERVED_MB)
        title = "GPU memory (MB) against the plan"
        hl = [sc.HLine(vllm, f"vLLM pool {vllm:.0f} MB", "info")] if vllm else []
    else:
        mem_lines = [_series_line(r, k, "trainer RAM (RSS)", 0) for k in M.MEMORY_SERIES]
        title = "trainer memory (MB) against the plan" if device == "cpu" else "trainer RAM (MB); no GPU figures"
        hl = []
    if planned is not None and (device != "cpu" or title.startswith("trainer memory")):
        hl.append(sc.HLine(planned, f"planned {planned:.0f} MB", "plan"))
    peak = rp._peak_gpu_mb(snap.peaks)
    note = ""
    if planned is not None and peak is not None:
        note = f"peak GPU use (torch + vLLM pool) {peak:.0f} MB, {peak / planned:.0%} of the planned {planned:.0f} MB"
    elif planned is not None and snap.peaks.get(M.RSS_MB) is not None:
        rss = snap.peaks[M.RSS_MB]
        note = (f"peak trainer RAM {rss:.0f} MB, {rss / planned:.0%} of the planned {planned:.0f} MB"
                + (f" ({device})" if device else ""))
    elif planned is None:
        note = "no planned figure for this run"
    rep.sections.append(("Memory", _charts_html([_chart(title, mem_lines, marks, hlines=hl, ylimits=(0.0, None),
                                                        note=note)])))

    rep.sections.append(("Events on the time axis", _charts_html([_timeline(r, stalls)]) + _events_html(r, stalls)))
    rep.sections.append(("Evaluation", _eval_html(r)))
    rep.sections.append(("Sampled completions", _samples_html(run, steps)))
    if s.error or s.log_tail and s.state in (ev.FAILED, "crashed"):
        tail = "\n".join(map(str, s.log_tail[-20:]))
        rep.sections.append(("What went wrong", (f"<p>{esc(s.error)}</p>" if s.error else "")
                             + (f"<pre>{esc(tail)}</pre>" if tail else "")))
    rep.sections.append(("Config", _kv_table(sorted(cfg.items()))))
    hw_rows = rp._hardware_rows(hw) if isinstance(hw, dict) and hw else []
    if hw_rows:
        rep.sections.append(("Hardware", _kv_table(hw_rows)))
    probs = snap.problems
    if probs:
        rep.sections.append(("Reading problems", f"<p>{esc(probs)}</p>"))
    return rep


def _timeline(r: _Marks, stalls: list[Gap], colour: int = 0, label: str = "step") -> Chart:
    """Steps against wall time since the first step, with the alerts, stalls and settings changes at
    the time they happened: a stall is a flat stretch under its band."""
    secs, steps = r.wall.points()
    span = secs[-1] if secs else 0.0
    unit, name = (3600.0, "hours") if span > 3 * 3600 else (60.0, "minutes")
    t0 = r.t0 or 0.0
    xs = [x / unit for x in secs]
    ys = [float(y) for y in steps]
    xs, ys, lo, hi = sc.downsample(xs, ys)
    marks = []
    for g in stalls:
        marks.append(sc.Mark((g.ts - t0) / unit, "stall", f"stall: no progress for {duration(g.seconds)} "
                             f"(step {g.since_step} → {g.step})", x_end=(g.ts + g.seconds - t0) / unit))
    for a in r.all_alerts:
        ts = finite(a.get("ts"))
        if ts is not None:
            sev = "critical" if a.get("severity") == "critical" else "warning"
            marks.append(sc.Mark((ts - t0) / unit, f"alert-{sev}", f"step {a.get('step')} {sev}: {a.get('code')}: "
                                                                   f"{a.get('message') or ''}"))
    for c in r.changes:
        ts = finite(c.get("ts"))
        if ts is not None:
            marks.append(sc.Mark((ts - t0) / unit, "settings", f"step {c['step']} settings: {_changes_text(c)}"))
    line = sc.Line(label, xs, ys, colour=colour) if xs else None
    return _chart(f"steps over time ({name} since the first step)", [line], marks, ylimits=(0.0, None),
                  xlabel=name)


# -- HTML pieces ------------------------------------------------------------------------------
def _charts_html(charts: list[Chart], small: bool = False) -> str:
    out = [f'<div class="grid{" small" if small else ""}">']
    for c in charts:
        out.append(f'<figure><figcaption>{esc(c.title)}</figcaption>{c.svg}{c.legend}'
                   + (f'<p class="note">{esc(c.note)}</p>' if c.note else "") + "</figure>")
    out.append("</div>")
    return "".join(out)


def _kv_table(rows: Iterable[tuple[Any, Any]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(value_text(v) if not isinstance(v, dict) else v)}</td></tr>"
                   for k, v in rows)
    return f'<table class="kv">{body}</table>' if body else "<p>Not recorded.</p>"


def _events_html(r: ReportRun, stalls: list[Gap]) -> str:
    rows = []
    for a in r.all_alerts:
        sev = "critical" if a.get("severity") == "critical" else "warning"
        hint = f'<br><span class="hint">{esc(_short(a.get("hint"), 400))}</span>' if a.get("hint") else ""
        rows.append((finite(a.get("step")) or 0, f'<tr class="ev-{sev}"><td>{esc(a.get("step"))}</td>'
                     f'<td>{"✖" if sev == "critical" else "▲"} {sev} alert</td>'
                     f'<td><b>{esc(_short(a.get("code"), 80))}</b>: {esc(_short(a.get("message"), 400))}{hint}</td></tr>'))
    for g in stalls:
        rows.append((g.since_step, f'<tr class="ev-stall"><td>{g.since_step}–{g.step}</td><td>■ stall</td>'
                     f"<td>no progress for {esc(duration(g.seconds, full=True))} (from {esc(_ts(g.ts))})</td></tr>"))
    for c in r.changes:
        rows.append((c["step"], f'<tr class="ev-settings"><td>{esc(c["step"])}</td><td>◆ settings changed</td>'
                     f"<td>{esc(_changes_text(c))}</td></tr>"))
    if not rows:
        return "<p>No alerts, stalls or settings changes.</p>"
    rows.sort(key=lambda t: t[0])
    more = ""
    if len(rows) > EVENT_ROWS:  # a pathological run: its first and last events, and how many between
        half = EVENT_ROWS // 2
        more = f'<tr><td colspan="3">… {len(rows) - 2 * half} more, not listed here</td></tr>'
        rows = rows[:half] + [(0, more)] + rows[-half:]
    return ('<p class="note">Marked on every chart (by step; above, by time): ▲ warnings and ✖ critical alerts '
            "(lines), ■ stalls (bands), ◆ settings changes (dashed lines).</p><table><tr><th>step</th><th>what</th><th>detail</th></tr>"
            + "".join(row for _s, row in rows) + "</table>")


def _short(v: Any, n: int) -> str:
    return truncate("" if v is None else str(v), n)


def _eval_html(r: ReportRun) -> str:
    s = r.folder.summary
    accs = s.accuracies()
    if not accs:
        return "<p>No evaluation recorded.</p>"
    name, n = s.eval_source()
    head = " → ".join(f"{esc(when)} <b>{percent(acc)}</b>" for when, acc in accs)
    rows = "".join(f"<tr><td>{esc(when)}</td><td>{step}</td><td>{percent(acc)}</td></tr>"
                   for step, acc, when in sorted(r.eval_points))
    bars = "".join(
        f'<div class="bar"><span>{esc(when)}</span><svg width="300" height="14"><rect class="barbg" width="300" '
        f'height="14"/><rect class="barfg" width="{300 * max(0.0, min(1.0, acc)):.1f}" height="14"/></svg>'
        f"<b>{percent(acc)}</b></div>" for when, acc in accs)
    src = f" on {esc(name)}" if name else ""
    src += f" (n {esc(n)})" if n is not None else ""
    return (f'<p class="big">{head}</p><p class="note">held-out accuracy{src}</p>{bars}'
            f"<table><tr><th>when</th><th>step</th><th>accuracy</th></tr>{rows}</table>")


def _text(v: Any) -> str:
    if isinstance(v, list):  # chat messages
        return "\n".join(f"[{m.get('role', '?')}] {m.get('content', '')}" if isinstance(m, dict) else str(m)
                         for m in v)
    return "" if v is None else str(v)


def _cut(t: str) -> str:
    return t if len(t) <= TEXT_LIMIT else t[:TEXT_LIMIT] + f"\n… ({len(t) - TEXT_LIMIT} more characters)"


def _group_html(g: dict[str, Any], kind: str) -> str:
    out = [f'<div class="group {kind}"><h4>{kind} group {esc(g.get("group"))} at step {esc(g.get("step"))}: mean '
           f"reward {esc(scaled(g.get('mean_reward')))}"
           + (f", gold answer <code>{esc(_cut(_text(g.get('answer'))))}</code>" if g.get("answer") is not None else "")
           + "</h4>"]
    if g.get("prompt") is not None:
        out.append(f'<details><summary>prompt</summary><pre class="model">{esc(_cut(_text(g["prompt"])))}</pre>'
                   "</details>")
    for c in g.get("completions") or []:
        meta = [f"reward {scaled(c.get(M.SAMPLE_REWARD))}"]
        rw = c.get("rewards")
        if isinstance(rw, dict) and rw:
            meta.append(", ".join(f"{k} {scaled(v)}" for k, v in rw.items()))
        if finite(c.get("advantage")) is not None:
            meta.append(f"advantage {scaled(c.get('advantage'))}")
        if finite(c.get("length")) is not None:
            meta.append(f"{int(finite(c.get('length')) or 0)} tokens")
        if c.get("truncated"):
            meta.append("truncated at the cap")
        out.append(f'<div class="completion"><div class="meta">{esc("; ".join(meta))}</div>'
                   f'<pre class="model">{esc(_cut(_text(c.get("completion"))))}</pre></div>')
    out.append("</div>")
    return "".join(out)


def _samples_html(run: RunDir, steps: Sequence[int] | None) -> str:
    chosen = chosen_groups(run, steps)
    if not chosen:
        return "<p>No samples recorded.</p>"
    out = ['<p class="note">Model text is shown literally (escaped): nothing in it is rendered or run.</p>']
    for c in chosen:
        out.append(f"<h3>step {c['step']} ({c['groups']} groups): best and worst</h3>")
        out.append(_group_html(c["best"], "best"))
        if c["worst"]:
            out.append(_group_html(c["worst"], "worst"))
    return "".join(out)


CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--dim:#57606a;--grid:#d8dee4;--frame:#8c959f;--card:#f6f8fa;
--c0:#0969da;--c1:#bf3989;--c2:#1a7f37;--c3:#bc4c00;--c4:#8250df;--c5:#0a7a7a;--c6:#9a6700;--c7:#1b1f24;
--warn:#bf8700;--crit:#cf222e;--stall:#cf222e;--set:#8250df;--cap:#cf222e;--plan:#1a7f37}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--dim:#9198a1;--grid:#30363d;--frame:#6e7681;
--card:#161b22;--c0:#58a6ff;--c1:#f778ba;--c2:#3fb950;--c3:#ffa657;--c4:#bc8cff;--c5:#39c5cf;--c6:#e3b341;
--c7:#e6edf3;--warn:#d29922;--crit:#f85149;--stall:#f85149;--set:#bc8cff;--cap:#f85149;--plan:#3fb950}}
body{background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;
margin:0 auto;max-width:1340px;padding:16px 24px}
h1{font-size:22px;margin:0 0 8px;word-break:break-all}h2{font-size:18px;border-bottom:1px solid var(--grid);
padding-bottom:4px;margin-top:28px}h3{font-size:15px}h4{font-size:14px;margin:6px 0}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid var(--grid);padding:3px 8px;text-align:left;
vertical-align:top}th{background:var(--card)}table.kv th{font-weight:600;white-space:nowrap}
.header td{word-break:break-word}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
.grid.small{grid-template-columns:repeat(auto-fill,minmax(400px,1fr))}
figure{margin:0;background:var(--card);border:1px solid var(--grid);border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}svg.chart{width:100%;height:auto;display:block}
.frame{fill:none;stroke:var(--frame);stroke-width:1}.grid path,.grid{}path.grid{stroke:var(--grid);stroke-width:.6}
.tick{fill:var(--dim);font-size:10px}.empty{fill:var(--dim);font-size:14px}
path.line{fill:none;stroke-width:1.5;stroke-linejoin:round}path.line.bold{stroke-width:2.4}
path.line.dashed{stroke-dasharray:5 3}path.band{stroke:none;opacity:.16}
.s0{stroke:var(--c0);fill:var(--c0)}.s1{stroke:var(--c1);fill:var(--c1)}.s2{stroke:var(--c2);fill:var(--c2)}
.s3{stroke:var(--c3);fill:var(--c3)}.s4{stroke:var(--c4);fill:var(--c4)}.s5{stroke:var(--c5);fill:var(--c5)}
.s6{stroke:var(--c6);fill:var(--c6)}.s7{stroke:var(--c7);fill:var(--c7)}path.line.s0,path.line.s1,path.line.s2,
path.line.s3,path.line.s4,path.line.s5,path.line.s6,path.line.s7{fill:none}
path.mark{stroke-width:1.2;opacity:.8}.m-alert-warning{stroke:var(--warn)}.m-alert-critical{stroke:var(--crit);
stroke-width:1.6}.m-settings{stroke:var(--set);stroke-dasharray:4 2}rect.span.m-stall{fill:var(--stall);opacity:.18}
path.m-stall{stroke:var(--stall)}path.hline{stroke-width:1.2;stroke-dasharray:6 3}.h-cap{stroke:var(--cap);fill:var(--cap)}
.h-plan{stroke:var(--plan);fill:var(--plan)}.h-info{stroke:var(--dim);fill:var(--dim)}text.hlabel{stroke:none;font-size:10px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin-top:4px}.key{white-space:nowrap}
.key svg{vertical-align:middle;margin-right:4px}.fig{color:var(--dim)}.note{color:var(--dim);font-size:12px;margin:4px 0}
.verdict{font-size:16px;font-weight:600;margin:6px 0 12px}.big{font-size:18px}
.bar{display:flex;align-items:center;gap:8px;margin:2px 0}.bar span{width:90px}.barbg{fill:var(--grid)}
.barfg{fill:var(--c2)}pre{white-space:pre-wrap;word-break:break-word;background:var(--card);border:1px solid var(--grid);
border-radius:4px;padding:6px 8px;margin:4px 0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;
max-height:28em;overflow:auto}.group{border-left:4px solid var(--grid);padding-left:10px;margin:10px 0}
.group.best{border-color:var(--c2)}.group.worst{border-color:var(--crit)}.meta{font-size:12px;color:var(--dim)}
tr.ev-critical td:nth-child(2){color:var(--crit)}tr.ev-warning td:nth-child(2){color:var(--warn)}
tr.ev-stall td:nth-child(2){color:var(--stall)}tr.ev-settings td:nth-child(2){color:var(--set)}.hint{color:var(--dim)}
footer{color:var(--dim);font-size:12px;margin-top:32px}
"""

# No script, no remote anything: even markup that slipped through could neither run nor fetch.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def page(title: str, body: str) -> str:
    try:
        from importlib.metadata import version

        ver = version("grpo-tui")
    except Exception:  # not installed (a source checkout)
        ver = "?"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light dark">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
            f"<footer>grpo-tui {esc(ver)} · written {esc(_ts(time.time()))} · "
            "one file, no script, no network</footer></body></html>\n")


def to_html(rep: HtmlReport) -> str:
    head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rep.header)
    toc = " · ".join(f'<a href="#s{i}">{esc(h)}</a>' for i, (h, _b) in enumerate(rep.sections))
    body = [f"<h1>{esc(rep.title)}</h1>", f'<table class="kv header">{head}</table>', f"<nav>{toc}</nav>"]
    for i, (h, inner) in enumerate(rep.sections):
        body.append(f'<section id="s{i}"><h2>{esc(h)}</h2>{inner}</section>')
    return page(rep.title, "".join(body))


def report_html(run: RunDir, *, steps: Sequence[int] | None = None) -> str:
    return to_html(build(run, steps=steps))


# -- compare ----------------------------------------------------------------------------------
HEALTH_COMPARED = [(k, label) for k, label in M.HEALTH_SERIES if k != M.CLIPPED_RATIO]


def compare_html(runs: Sequence[RunDir]) -> str:
    """Several runs overlaid (one colour each), the summary table and the config keys that differ."""
    c = Comparison([])
    c.runs = [CompareReportRun(r) for r in runs]
    c.load()
    ids = [r.run.id for r in c.runs]
    marks: list[sc.Mark] = []
    for r in c.runs:
        marks += _marks(r, r.stalls(), prefix=f"{r.run.id}: ")  # type: ignore[attr-defined]
    charts = []
    keys = c.charts() + [(k, label) for k, label in HEALTH_COMPARED]
    for key, title in keys:
        lines: list[sc.Line | None] = []
        vals: list[str] = []
        for i, (r, (xs, ys)) in enumerate(zip(c.runs, c.curves(key))):
            if key in ("eval", "main") or not xs:
                if not xs:
                    lines.append(None)
                    vals.append("")
                    continue
                xs2, ys2, lo, hi = sc.downsample(xs, ys)
                lines.append(sc.Line(r.run.id, xs2, ys2, colour=i))
                vals.append(f"{scaled(ys[0])} → {scaled(ys[-1])}")
            else:
                lines.append(_series_line(r, key, r.run.id, i))
                vals.append(_first_last(r.series.get(key)))
        if not any(lines):
            continue
        charts.append(_chart(title, lines, marks if key != "eval" else (), values=vals,
                             ylimits=(0.0, None) if key in (M.MEAN_LENGTH, M.CLIPPED_RATIO, "eval") else None))
    rows = [row_cells(x) for x in c.rows()]
    table = ""
    if rows:
        head = list(rows[0])
        def cell(h: str, text: str, i: int) -> str:
            swatch = (f'<svg width="18" height="8"><path class="line s{i % sc.COLOURS}" d="M1,4H17"/></svg> '
                      if h == "run" else "")
            return f"<td>{swatch}{esc(text)}</td>"

        table = ("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"
                 + "".join("<tr>" + "".join(cell(h, r[h], i) for h in head) + "</tr>" for i, r in enumerate(rows))
                 + "</table>")
    diff = c.config_diff()
    if diff:
        dt = ("<table><tr><th>key</th>" + "".join(f"<th>{esc(i)}</th>" for i in ids) + "</tr>"
              + "".join(f"<tr><th>{esc(k)}</th>" + "".join(f"<td>{esc(value_text(v))}</td>" for v in vals) + "</tr>"
                        for k, vals in diff) + "</table>")
    else:
        dt = "<p>Every config key is the same.</p>"
    changes = []
    for r in c.runs:
        for ch in r.changes:  # type: ignore[attr-defined]
            changes.append(f"<tr><td>{esc(r.run.id)}</td><td>{esc(ch['step'])}</td><td>{esc(_changes_text(ch))}</td></tr>")
    sections = [("Runs", table), ("Charts", _charts_html(charts)), ("Config: keys that differ", dt)]
    if changes:
        sections.append(("Settings changed during the runs",
                         "<table><tr><th>run</th><th>step</th><th>changes</th></tr>" + "".join(changes) + "</table>"))
    title = f"grpo-tui: {len(ids)} runs compared"
    body = [f"<h1>{esc(title)}</h1>"]
    for i, (h, inner) in enumerate(sections):
        body.append(f'<section id="s{i}"><h2>{esc(h)}</h2>{inner}</section>')
    return page(title, "".join(body))
