"""The dashboard's panels. Each takes a ``core.reading.monitor.Snapshot`` in ``show(snap)``.

Text that comes from the run (completions, prompts, reward names, alert messages,
tracebacks, log lines) goes through ``literal`` / ``visible``: never markup, never
an escape sequence that reaches the terminal.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import ProgressBar, Sparkline, Static

from ...core.run import metric_names as M
from ...core.util.formatting import duration, rate, scaled
from ...core.reading.monitor import Snapshot
from ..watcher import Readings
from .charts import PALETTE, Histogram, Legend, LineChart, TrendRow
from .literal import literal, visible

GIB = 2**30

STATE_STYLES = {
    "launching": "cyan", "loading": "cyan", "training": "bold green", "paused": "bold yellow",
    "stopping": "yellow", "completed": "bold green", "stopped": "bold blue", "failed": "bold red",
    "crashed": "bold red",
}


def show_text(widget: Static, text: Text) -> None:
    """Update a Static only when its text changed: every update repaints it (terminal bytes over SSH)."""
    if getattr(widget, "_shown_text", None) != text:
        widget._shown_text = text  # type: ignore[attr-defined]
        widget.update(text)


class Panel(Vertical):
    DEFAULT_CSS = """
    Panel { border: round $primary 60%; border-title-color: $text; padding: 0 1; height: 100%; }
    """

    def series(self, components: list[str]) -> list[str]:
        """The metric series this panel draws (core.run.metric_names), given the run's reward components."""
        return []

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="panel")
        self.border_title = title


# -- header ------------------------------------------------------------------------------
class RunHeader(Static):
    DEFAULT_CSS = """
    RunHeader { height: auto; max-height: 4; padding: 0 1; background: $panel; }
    """

    def show(self, snap: Snapshot, ack: Text | None = None) -> None:
        s = snap.summary
        line1 = Text()
        line1.append(visible(s.id, one_line=True, limit=48), style="bold")
        line1.append("  preset ", style="dim")
        line1.append(visible(s.preset or "–", one_line=True, limit=24))
        line1.append("  model ", style="dim")
        line1.append(visible(s.model or "–", one_line=True, limit=40))
        if s.backend:
            line1.append(f"  [{visible(s.backend, one_line=True, limit=12)}]", style="dim")
        line2 = Text()
        state = s.state
        line2.append(f"● {state.upper()}", style=STATE_STYLES.get(state, "bold"))
        if state in ("loading", "launching") and snap.phase and snap.phase.get("name"):
            ph = snap.phase
            since = f" {duration(snap.now - ph['ts'])}" if isinstance(ph.get("ts"), (int, float)) else ""
            # the phase's own clock keeps moving: a long vLLM build never looks frozen
            line2.append(f" ({visible(ph['name'], one_line=True, limit=24)}{since})", style="cyan")
        if s.stalled_since is not None:  # core.run.stall: alive, but no progress for too long
            line2.append(f"  {s.stall_line}", style="bold red")
        elif s.first_step_line():  # a slow CPU's first step: how long to expect before it could stall
            line2.append(f"  {s.first_step_line()}", style="cyan")
        total = s.max_steps
        pct = f" ({100 * s.step / total:.0f}%)" if total else ""
        line2.append(f"  step {s.step}/{total or '?'}{pct}")
        line2.append(f"  elapsed {duration(snap.elapsed)}", style="")
        if snap.eta is not None:
            line2.append(f"  ETA {duration(snap.eta)}")
        line2.append(f"  {rate(snap.steps_per_s, 'steps/s')}  {rate(snap.tokens_per_s, 'tok/s')}",
                     style="dim")
        gen = snap.latest.get(M.VLLM_GENERATE_S)
        if isinstance(gen, (int, float)):  # vLLM on the CPU (trainer.vllm_cpu): where a step's time goes
            sync = snap.latest.get(M.VLLM_SYNC_S)
            line2.append(f"  vLLM gen {gen:.1f}s" + (f" sync {sync:.1f}s" if isinstance(sync, (int, float)) else ""),
                         style="dim")
        if snap.history < 1.0:
            line2.append(f"  reading history {100 * snap.history:.0f}%", style="italic cyan")
        if ack is not None:
            line2.append("  ")
            line2.append_text(ack)
        lines = [line1, line2]
        accuracy = s.eval_line()
        if accuracy:  # a third line only for runs that evaluate (GPU presets; eval_size > 0)
            name, n = s.eval_source()
            line3 = Text("held-out accuracy ", style="dim")
            line3.append(accuracy, style="bold")
            if name:
                line3.append(f"  on {visible(str(name), one_line=True, limit=48)}", style="dim")
            if isinstance(n, int):
                line3.append(f" (n {n})", style="dim")
            lines.append(line3)
        show_text(self, Text("\n").join(lines))


# -- status: loading / errors / problems -----------------------------------------------------
class StatusBanner(Static):
    DEFAULT_CSS = """
    StatusBanner { height: auto; max-height: 14; padding: 0 1; display: none; }
    StatusBanner.-error { display: block; background: $error 15%; border-left: thick $error; }
    StatusBanner.-warning { display: block; background: $warning 12%; border-left: thick $warning; }
    """

    def show(self, snap: Snapshot, log_path: str, watcher_error: str | None = None) -> None:
        s = snap.summary
        t = Text()
        level = None
        if snap.gone:
            t.append(f"The run directory was deleted: {visible(str(s.path), one_line=True)}\n", style="bold red")
            level = "error"
        if s.state in ("crashed", "failed"):
            level = "error"
            if s.state == "crashed":
                t.append(f"CRASHED: the trainer (pid {s.pid or '?'}) is gone without finishing the run.\n",
                         style="bold red")
            else:
                t.append("FAILED: ", style="bold red")
                t.append_text(literal(s.error or "the trainer reported a failure", one_line=True, limit=300))
                t.append("\n")
            lines = _last_lines(snap.traceback, 6) if snap.traceback else list(s.log_tail)[-6:]
            for line in lines:
                t.append_text(literal(line, one_line=True, limit=200, style="dim"))
                t.append("\n")
            t.append("Full log: ", style="bold")
            t.append(visible(log_path, one_line=True))
            t.append("\n")
        if s.stalled_since is not None and s.state not in ("crashed", "failed"):
            level = level or "warning"
            t.append(f"STALLED: {s.stall_line}. The trainer (pid {s.pid or '?'}) is alive; its last lines:\n",
                     style="bold yellow")
            for line in list(s.log_tail)[-4:]:
                t.append_text(literal(line, one_line=True, limit=200, style="dim"))
                t.append("\n")
            t.append("Full log: ", style="bold")
            t.append(visible(log_path, one_line=True))
            t.append("\n")
        if snap.problems:
            level = level or "warning"
            t.append("⚠ ", style="bold yellow")
            t.append_text(literal(snap.problems, one_line=True, limit=400))
            t.append("\n")
        if watcher_error:
            level = "error"
            t.append(f"The log reader stopped: {visible(watcher_error, one_line=True)}\n", style="bold red")
        self.set_class(level == "error", "-error")
        self.set_class(level == "warning", "-warning")
        t.rstrip()
        show_text(self, t)


def _dark(widget: Any) -> bool:
    try:
        return bool(widget.app.current_theme.dark)
    except Exception:
        return True


def _last_lines(text: str, n: int) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()][-n:]


class LoadingPanel(Vertical):
    """The trainer's loading phases: name, message and a progress bar (when it reports one)."""

    DEFAULT_CSS = """
    LoadingPanel { height: auto; display: none; padding: 0 1; border: round $accent; }
    LoadingPanel.-show { display: block; }
    LoadingPanel ProgressBar { width: 100%; }
    LoadingPanel Bar { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="loading-text")
        yield ProgressBar(total=100, show_eta=False, id="loading-bar")

    def show(self, snap: Snapshot) -> None:
        live_loading = snap.state in ("launching", "loading")
        self.set_class(live_loading, "-show")
        if not live_loading:
            return
        ph = snap.phase or {}
        t = Text()
        if snap.state == "launching":
            t.append("Starting the trainer…", style="bold cyan")
        else:
            t.append(f"{visible(ph.get('name') or 'loading', one_line=True, limit=40)}", style="bold cyan")
            if ph.get("message"):
                t.append("  ")
                t.append_text(literal(ph["message"], one_line=True, limit=160))
            if ph.get("current") is not None and ph.get("total"):
                t.append(f"  ({ph['current']}/{ph['total']})", style="dim")
        show_text(self.query_one("#loading-text", Static), t)
        bar = self.query_one("#loading-bar", ProgressBar)
        progress = ph.get("progress")
        if progress is None and ph.get("current") is not None and ph.get("total"):
            try:
                progress = float(ph["current"]) / float(ph["total"])
            except (TypeError, ValueError, ZeroDivisionError):
                progress = None
        bar.display = isinstance(progress, (int, float))
        if isinstance(progress, (int, float)):
            bar.update(total=100, progress=100 * max(0.0, min(1.0, float(progress))))


# -- settings changed while training (`grpo-tui set`) -----------------------------------------------------
CHANGE_STYLE = "grey50"  # readable on dark and light backgrounds, and unlike every series colour


def change_marks(snap: Snapshot) -> list[tuple[float, str]]:
    """A vertical line at each step where the run's settings changed (a resume's re-application is no change)."""
    steps = sorted({float(c["step"]) for c in snap.settings_changes if not c.get("resumed")})
    return [(s, CHANGE_STYLE) for s in steps]


def change_legend(snap: Snapshot) -> tuple[str, str] | None:
    """'set@12: learning_rate' for the newest change (what the grey line means)."""
    changes = [c for c in snap.settings_changes if not c.get("resumed")]
    if not changes:
        return None
    last = changes[-1]
    keys = ", ".join(last["changes"])
    return (f"set@{last['step']}: {keys if len(keys) <= 40 else keys[:39] + '…'}", CHANGE_STYLE)


# -- rewards ---------------------------------------------------------------------------------
class RewardsPanel(Panel):
    def __init__(self) -> None:
        super().__init__("Rewards", id="rewards-panel")

    def compose(self) -> ComposeResult:
        yield Legend(id="rewards-legend")
        yield LineChart(id="rewards-chart")
        yield TrendRow(M.REWARD_STD, id="reward-std")

    def series(self, components: list[str]) -> list[str]:
        return M.reward_series(components)

    def show(self, snap: Snapshot) -> None:
        lines, legend = [], []
        for i, comp in enumerate(snap.reward_components):
            pts = snap.series.get(M.reward_mean(comp))
            style = PALETTE[i % len(PALETTE)]
            legend.append((f"{comp} {scaled(snap.latest.get(M.reward_mean(comp)))}", style))
            if pts:
                lines.append((pts[0], pts[1], style))
        total = snap.series.get(M.REWARD)
        ink = "bold white" if _dark(self) else "bold black"  # the total stands out on either background
        if total:
            lines.append((total[0], total[1], ink))
        legend.append((f"total {scaled(snap.latest.get(M.REWARD))}", ink))
        mark = change_legend(snap)
        if mark:
            legend.append(mark)
        self.query_one(Legend).set_items(legend)
        self.query_one(LineChart).set_lines(lines, vlines=change_marks(snap))
        std = snap.series.get(M.REWARD_STD)
        self.query_one("#reward-std", TrendRow).set_data(std[1][-120:] if std else [],
                                                         snap.latest.get(M.REWARD_STD))


# -- completion lengths ----------------------------------------------------------------------
class LengthsPanel(Panel):
    KEYS = M.LENGTH_SERIES

    def series(self, components: list[str]) -> list[str]:
        return list(self.KEYS)

    def __init__(self) -> None:
        super().__init__("Completion lengths", id="lengths-panel")

    def compose(self) -> ComposeResult:
        yield Static(id="lengths-info")
        yield LineChart(id="lengths-chart")
        yield Histogram(id="lengths-hist")

    def show(self, snap: Snapshot) -> None:
        cap = snap.max_completion_length
        lat = snap.latest
        info = Text()
        info.append("mean ", style="dim")
        info.append(scaled(lat.get(M.MEAN_LENGTH)), style="cyan")
        info.append(" min ", style="dim")
        info.append(scaled(lat.get(M.MIN_LENGTH)), style="green")
        info.append(" max ", style="dim")
        info.append(scaled(lat.get(M.MAX_LENGTH)), style="yellow")
        info.append(f"  cap {cap if cap else '?'}", style="red")
        clipped = lat.get(M.CLIPPED_RATIO)
        info.append("  clipped ", style="dim")
        info.append("–" if clipped is None else f"{100 * clipped:.0f}%",
                    style="bold red" if clipped and clipped > 0.2 else "")
        lines = []
        for key, style in ((M.MAX_LENGTH, "yellow"), (M.MEAN_LENGTH, "cyan"), (M.MIN_LENGTH, "green")):
            pts = snap.series.get(key)
            if pts:
                lines.append((pts[0], pts[1], style))
        top = max([float(cap or 0)] + [max(p[1]) for p in lines if len(p[1])])
        # from 0, so lengths read against the cap (a flat run at the cap is not a degenerate axis)
        self.query_one(LineChart).set_lines(lines, hlines=[(float(cap), "red")] if cap else [],
                                            ylimits=(0.0, top * 1.08 if top > 0 else None), vlines=change_marks(snap))
        lengths = [r.get("length") for r in snap.samples if isinstance(r.get("length"), (int, float))]
        if snap.samples_step is not None:
            info.append(f"  hist: step {snap.samples_step}", style="dim")
        show_text(self.query_one("#lengths-info", Static), info)
        hist = self.query_one(Histogram)
        hist.set_values(lengths, float(cap) if cap else None)


# -- health ----------------------------------------------------------------------------------
_HEALTH_FORMATS = {M.KL: "{:.2e}", M.ENTROPY: "{:.3f}", M.GRAD_NORM: "{:.3f}"}  # others: "{:.2f}"


class HealthPanel(Panel):
    TRENDS = tuple((key, label, _HEALTH_FORMATS.get(key, "{:.2f}")) for key, label in M.HEALTH_SERIES)

    def series(self, components: list[str]) -> list[str]:
        return [key for key, _label, _fmt in self.TRENDS]

    def __init__(self) -> None:
        super().__init__("Health", id="health-panel")

    def compose(self) -> ComposeResult:
        for key, label, fmt in self.TRENDS:
            yield TrendRow(label, fmt=fmt, id="trend-" + key.replace("/", "-").replace("_", "-"))
        yield Static(id="alerts")

    def show(self, snap: Snapshot) -> None:
        for key, _label, _fmt in self.TRENDS:
            row = self.query_one("#trend-" + key.replace("/", "-").replace("_", "-"), TrendRow)
            pts = snap.series.get(key)
            row.set_data(pts[1][-120:] if pts else [], snap.latest.get(key))
        t = Text()
        if not snap.alerts:
            t.append("no alerts", style="dim")
        else:
            t.append(f"alerts ({snap.alert_count})\n", style="bold")
            for a in snap.alerts[-4:][::-1]:
                crit = a.get("severity") == "critical"
                t.append("✖ " if crit else "▲ ", style="bold red" if crit else "bold yellow")
                t.append(f"s{a.get('step')} ", style="dim")
                t.append_text(literal(a.get("code") or "alert", one_line=True, limit=30, style="bold"))
                t.append(": ")
                t.append_text(literal(a.get("message") or "", one_line=True, limit=160))
                t.append("\n")
            t.rstrip()
        show_text(self.query_one("#alerts", Static), t)


# -- memory ----------------------------------------------------------------------------------
class MemoryPanel(Panel):
    def __init__(self) -> None:
        super().__init__("Memory", id="memory-panel")

    def series(self, components: list[str]) -> list[str]:
        return list(M.MEMORY_SERIES)

    def compose(self) -> ComposeResult:
        yield Static(id="memory-text")
        yield Sparkline([], summary_function=max, id="memory-trend")
        yield Static(id="memory-plan")

    def show(self, snap: Snapshot, res: Readings | None) -> None:
        t = Text()
        trend: list[float] = []
        plan = snap.plan or {}
        predicted = plan.get("total_gb")
        measured_peak: float | None = None
        if res is not None and res.gpus:
            self.border_title = "VRAM"
            for g in res.gpus:
                t.append(f"GPU{g.index} ", style="bold")
                t.append(visible(g.name, one_line=True, limit=28) + "\n", style="dim")
                if g.used is not None and g.total:
                    frac = g.used / g.total
                    t.append_text(_bar(frac, 24, None if predicted is None else predicted * GIB / g.total))
                    t.append(f" {g.used / GIB:.1f}/{g.total / GIB:.1f} GiB\n")
                else:
                    t.append("memory N/A\n", style="dim")
                if g.own is not None:
                    t.append(f"  trainer's share {g.own / GIB:.1f} GiB\n", style="cyan")
            trend = res.used_history.get(res.gpus[0].index, [])
            if res.own_peak is not None:
                measured_peak = res.own_peak / GIB
        else:
            self.border_title = "RAM (no GPU)" if res is None or not res.gpus else "Memory"
            rss_mb = snap.latest.get(M.RSS_MB)
            live_rss = res.rss if res is not None else None
            cur = live_rss / 2**20 if live_rss else rss_mb
            t.append("trainer RAM ", style="bold")
            t.append("–\n" if cur is None else f"{cur / 1024:.2f} GiB\n")
            if res is not None and res.ram_total and cur:
                t.append_text(_bar(cur * 2**20 / res.ram_total, 24, None))
                t.append(f" of {res.ram_total / GIB:.0f} GiB host\n")
            peak = snap.peaks.get(M.RSS_MB)
            if peak:
                t.append(f"peak {peak / 1024:.2f} GiB", style="dim")
                t.append("\n")
            pts = snap.series.get(M.RSS_MB)
            trend = res.rss_history if res is not None and res.rss_history else (pts[1][-120:] if pts else [])
            if res is not None and res.gpu_error:
                t.append_text(literal(res.gpu_error, one_line=True, limit=80, style="dim italic"))
                t.append("\n")
        cuda_peak = snap.peaks.get(M.CUDA_MAX_ALLOCATED_MB)
        if cuda_peak:
            t.append(f"torch peak allocated {cuda_peak / 1024:.2f} GiB\n", style="dim")
        t.rstrip()
        show_text(self.query_one("#memory-text", Static), t)
        self.query_one("#memory-trend", Sparkline).data = list(trend)
        p = Text()
        if predicted is not None:
            p.append("planned ", style="dim")
            p.append(f"{float(predicted):.1f} GiB", style="bold")
            if plan.get("verdict"):
                p.append(f" ({visible(plan['verdict'], one_line=True, limit=10)})", style="dim")
            p.append(" · peak ", style="dim")
            p.append("–" if measured_peak is None else f"{measured_peak:.1f} GiB", style="bold")
        show_text(self.query_one("#memory-plan", Static), p)


def _bar(frac: float, width: int, marker: float | None) -> Text:
    frac = max(0.0, min(1.0, frac))
    filled = int(round(frac * width))
    style = "red" if frac > 0.95 else "yellow" if frac > 0.85 else "green"
    t = Text()
    m = None if marker is None else min(width - 1, max(0, int(round(marker * width))))
    for i in range(width):
        if i == m:
            t.append("┃", style="bold blue")
        elif i < filled:
            t.append("█", style=style)
        else:
            t.append("░", style="dim")
    return t


# -- samples ----------------------------------------------------------------------------------
class SamplesPanel(Panel):
    # A fixed height: the text changes every step, and a panel that grew or shrank with it would move
    # the layout and repaint the whole screen (twice the terminal bytes per step). It scrolls inside.
    DEFAULT_CSS = """
    SamplesPanel { height: 18; }
    SamplesPanel > VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
    SamplesPanel #samples-text { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__("Latest samples", id="samples-panel")
        self.tags = ("<think>", "</think>", "<answer>", "</answer>")

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="samples-text")

    def set_tags(self, cfg: dict[str, Any]) -> None:
        self.tags = (str(cfg.get("reasoning_start") or "<think>"), str(cfg.get("reasoning_end") or "</think>"),
                     str(cfg.get("solution_start") or "<answer>"), str(cfg.get("solution_end") or "</answer>"))

    def show(self, snap: Snapshot) -> None:
        rows = snap.samples
        t = Text()
        if not rows:
            t.append("no samples yet", style="dim")
            show_text(self.query_one("#samples-text", Static), t)
            return
        groups = [r.get("group") for r in rows if isinstance(r.get("group"), int)]
        g = max(groups) if groups else None
        group = [r for r in rows if r.get("group") == g] if g is not None else rows
        self.border_title = f"Latest samples · step {snap.samples_step} · group {g} of {len(set(groups)) or 1}"
        t.append("prompt ", style="bold")
        t.append_text(literal(group[0].get("prompt", ""), one_line=True, limit=300))
        if group[0].get("answer") is not None:
            t.append("  gold ", style="dim")
            t.append_text(literal(group[0].get("answer"), one_line=True, limit=40, style="bold"))
        t.append("\n")
        for i, r in enumerate(group):
            t.append(f"#{i} ", style="bold")
            reward = r.get(M.SAMPLE_REWARD)
            t.append(f"reward {scaled(reward)}", style="bold")
            parts = r.get("rewards") if isinstance(r.get("rewards"), dict) else {}
            if parts:
                t.append(" (")
                for j, (name, v) in enumerate(parts.items()):
                    if j:
                        t.append(" · ")
                    t.append(visible(name, one_line=True, limit=24), style="dim")
                    t.append(f" {scaled(v) if isinstance(v, (int, float)) else '–'}")
                t.append(")")
            adv = r.get("advantage")
            if isinstance(adv, (int, float)):
                t.append(f"  adv {adv:+.2f}", style="green" if adv > 0 else "red" if adv < 0 else "dim")
            t.append(f"  len {r.get('length', '?')}", style="dim")
            if r.get("truncated"):
                t.append("  TRUNCATED", style="bold red")
            t.append("\n")
            t.append_text(self._completion(r.get("completion", "")))
            if r.get("completion_cut"):
                t.append(f" … ({r['completion_cut']} chars in all)", style="dim")
            t.append("\n")
        t.rstrip()
        show_text(self.query_one("#samples-text", Static), t)

    def _completion(self, text: Any) -> Text:
        """Reasoning dim, the answer bold; every part literal."""
        s = text if isinstance(text, str) else str(text)
        rs, re_, as_, ae = self.tags
        out = Text("▏ ", style="dim")  # a visible gutter: leading spaces alone get folded away
        i = 0
        while i < len(s):
            if s.startswith(rs, i) and (j := s.find(re_, i + len(rs))) >= 0:
                out.append_text(literal(s[i:j + len(re_)], style="italic"))
                i = j + len(re_)
            elif s.startswith(as_, i) and (j := s.find(ae, i + len(as_))) >= 0:
                out.append_text(literal(s[i:j + len(ae)], style="bold"))
                i = j + len(ae)
            else:
                nxt = [k for k in (s.find(rs, i + 1), s.find(as_, i + 1)) if k > 0]
                k = min(nxt) if nxt else len(s)
                out.append_text(literal(s[i:k]))
                i = k
        return out
