"""Chart widgets for the dashboard: line charts (textual-plot), a histogram, trend rows.

``LineChart`` is textual-plot's ``PlotWidget`` made passive: not focusable and no
pan/zoom (its keys -- ``r``, arrows, ``+``/``-`` -- would shadow the dashboard's),
compact margins, and one call (``set_lines``) that replaces every series. It is
fed downsampled points (``core.reading.monitor.Series``), so a 100,000-step run draws a
few hundred points.
"""

from __future__ import annotations

from math import ceil, floor
from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Sparkline, Static
from textual_hires_canvas import Canvas, HiResMode
from textual_plot import PlotWidget
from textual_plot.axis_formatter import NumericAxisFormatter

from .literal import visible

# Distinct in 16-colour terminals and readable on light and dark backgrounds.
PALETTE = ("cyan", "magenta", "yellow", "green", "blue", "red", "bright_cyan", "bright_magenta")


class StepAxisFormatter(NumericAxisFormatter):
    """Training steps are whole numbers: no tick between two steps (1, 1.5, 2 becomes 1, 2)."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        ticks = super().get_ticks(min_, max_, max_ticks)
        if len(ticks) >= 2 and ticks[1] - ticks[0] < 1:
            ticks = [float(t) for t in range(ceil(min_), floor(max_) + 1)]
        return ticks


def padded(lo: float, hi: float, pad: float) -> tuple[float, float]:
    """A range that is not a point: one value (the first step, a flat metric) gets ``pad`` either side,
    so the axis reads 0 1 2 rather than textual-plot's 0.9999990 ... 1.0000010."""
    return (lo - pad, hi + pad) if hi <= lo else (lo, hi)


class LineChart(PlotWidget, can_focus=False):
    DEFAULT_CSS = """
    LineChart { height: 1fr; min-height: 5; }
    """

    # compact margins: no title row, one tick row under the axis, narrow y labels
    margin_top = reactive(0)
    margin_bottom = reactive(2)
    margin_left = reactive(7)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, allow_pan_and_zoom=False)
        self.set_x_formatter(StepAxisFormatter())

    def on_resize(self) -> None:
        # PlotWidget recomputes its canvas geometry only on a layout refresh; without this a
        # panel that changes size (scrollbar, narrow mode) draws past its axes.
        self.refresh(layout=True)

    def set_lines(self, lines: Sequence[tuple[Sequence[float], Sequence[float], str]],
                  hlines: Sequence[tuple[float, str]] = (), ylimits: tuple[float | None, float | None] = (None, None),
                  vlines: Sequence[tuple[float, str]] = ()) -> None:
        """Replace every series: ``lines`` = (xs, ys, style); ``hlines`` = (y, style) across the x range;
        ``vlines`` = (x, style) across the y range (a step where the run's settings changed)."""
        key = ([(tuple(xs), tuple(ys), style) for xs, ys, style in lines], tuple(hlines), tuple(ylimits),
               tuple(vlines))
        if key == getattr(self, "_shown_key", None):
            return  # unchanged: no redraw, no terminal output
        self._shown_key = key
        self._batch = True  # one redraw for the whole replacement, not one per series
        try:
            self._replace(lines, hlines, ylimits, vlines)
        finally:
            self._batch = False
        canvas = self._plot_canvas()
        if canvas is not None and canvas._canvas_size is not None and not self._needs_canvas_resize:
            # Draw into the canvases now: they repaint their own regions in this frame. Refreshing the
            # PlotWidget instead would repaint the old canvases first and the new ones a frame later
            # (twice the terminal bytes per update).
            self._render_plot()
            self._needs_rerender = False
        else:
            self.refresh()

    _batch = False

    def _rerender(self) -> None:
        self._needs_rerender = True
        if not self._batch:
            self.refresh()

    def _plot_canvas(self):
        try:
            return self.query_one("#plot", Canvas)
        except Exception:
            return None

    def _replace(self, lines, hlines, ylimits, vlines=()) -> None:
        self.clear()
        xs_all = [x for xs, _, _ in lines for x in (xs[:1] + xs[-1:] if len(xs) else [])]
        if xs_all:  # reference lines first: the data is drawn over them
            x0, x1 = min(xs_all), max(xs_all)
            for y, style in hlines:
                self.plot([x0, x1], [y, y], line_style=style, hires_mode=HiResMode.BRAILLE)
        for xs, ys, style in lines:
            if len(xs):
                self.plot(list(xs), list(ys), line_style=style, hires_mode=HiResMode.BRAILLE)
        ys_all = [y for _, ys, _ in lines for y in ys] + [y for y, _ in hlines]
        if xs_all:
            x0, x1 = padded(min(xs_all), max(xs_all), 1.0)
            self.set_xlimits(x0, x1)
        else:
            self.set_xlimits(None, None)
        lo, hi = ylimits
        if ys_all:
            y_lo = min(ys_all) if lo is None else lo
            y_hi = max(ys_all) if hi is None else hi
            if y_hi <= y_lo:
                y_lo, y_hi = padded(y_lo, y_hi, max(abs(y_lo) * 0.1, 0.5))
                lo, hi = y_lo, y_hi
        if xs_all and ys_all:  # markers last, across what the axis shows, inside the x range only
            y0 = min(ys_all) if lo is None else lo
            y1 = max(ys_all) if hi is None else hi
            for x, style in vlines:
                if min(xs_all) <= x <= max(xs_all):
                    self.plot([x, x], [y0, y1], line_style=style, hires_mode=HiResMode.BRAILLE)
        self.set_ylimits(lo, hi)


class Histogram(Static):
    """Counts of values in equal-width bins, drawn as vertical bars (block characters)."""

    BARS = " ▁▂▃▄▅▆▇█"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.values: list[float] = []
        self.cap: float | None = None

    def set_values(self, values: Sequence[float], cap: float | None = None) -> None:
        values = [float(v) for v in values]
        if values == self.values and cap == self.cap and self.values:
            return
        self.values = values
        self.cap = cap
        self.update(self._render_bars())

    def on_resize(self) -> None:
        self.update(self._render_bars())

    def _render_bars(self) -> Text:
        width = max(4, self.size.width or 40)
        height = max(1, (self.size.height or 3) - 1)
        vals = self.values
        if not vals:
            return Text("no samples yet", style="dim")
        lo = 0.0
        hi = max(max(vals), self.cap or 0.0, 1.0)
        bins = min(width, 40)
        counts = [0] * bins
        for v in vals:
            i = min(bins - 1, int((v - lo) / (hi - lo) * bins)) if hi > lo else 0
            counts[max(0, i)] += 1
        top = max(counts)
        lines = []
        for row in range(height, 0, -1):
            line = Text()
            for c in counts:
                level = c / top * height if top else 0
                frac = max(0.0, min(1.0, level - (row - 1)))
                ch = self.BARS[int(round(frac * 8))]
                line.append(ch, style="green")
            lines.append(line)
        axis = Text(f"0{' ' * max(1, bins - len(str(int(hi))) - 1)}{int(hi)}", style="dim")
        return Text("\n").join(lines + [axis])


class TrendRow(Horizontal):
    """``label  ▁▂▃▅▇  value``: one metric's recent trend with its latest value."""

    DEFAULT_CSS = """
    TrendRow { height: 1; }
    TrendRow > .trend-label { width: 14; }
    TrendRow > Sparkline { width: 1fr; height: 1; }
    TrendRow > .trend-value { width: 10; text-align: right; }
    """

    def __init__(self, label: str, *, fmt: str = "{:.3g}", id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.fmt = fmt

    def compose(self) -> ComposeResult:
        yield Static(Text(visible(self.label, one_line=True)), classes="trend-label")
        yield Sparkline([], summary_function=max)
        yield Static(Text("–", style="dim"), classes="trend-value")

    def set_data(self, values: Sequence[float], latest: float | None, style: str = "") -> None:
        self.query_one(Sparkline).data = list(values)
        text = Text("–", style="dim") if latest is None else Text(self.fmt.format(latest), style=style)
        value = self.query_one(".trend-value", Static)
        if getattr(value, "_shown_text", None) != text:
            value._shown_text = text  # type: ignore[attr-defined]
            value.update(text)


class Legend(Static):
    """A one-line legend: coloured marks and (literal) names."""

    def set_items(self, items: Sequence[tuple[str, str]]) -> None:
        t = Text()
        for i, (name, style) in enumerate(items):
            if i:
                t.append("  ")
            t.append("━━ ", style=style)
            t.append(visible(name, one_line=True, limit=40))
        if getattr(self, "_shown_text", None) != t:
            self._shown_text = t
            self.update(t)
