"""Runs side by side: ``CompareScreen(runs)``.

One colour per run (the legend under the title), overlaid on every chart: total reward, each reward
component, the main reward (correctness), mean completion length, clipped ratio and held-out
accuracy. Above the charts, the summary table; below them, the config keys that differ.

Keys: ``s`` smoothing on/off (TensorBoard's debiased EMA), ``x`` x by step / by wall time, Esc back.

Data flow as in the dashboard: a thread worker reads the tail of each log first (the table shows the
newest step at once), then folds the histories (``core.reading.compare``), posting a data-free ``Loaded``
message after each run; while any run is live it polls every ``POLL_S`` seconds.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ...core.reading import compare as cmp
# The charts (textual-plot) pull in numpy: imported after the first frame, when the first data lands.
# One colour per run: the charts' palette (tests/test_compare.py checks they stay the same).
PALETTE = ("cyan", "magenta", "yellow", "green", "blue", "red", "bright_cyan", "bright_magenta")
from ..widgets.literal import literal, visible
from ..widgets.tables import fill_table

if TYPE_CHECKING:  # pragma: no cover
    from ...core.run.rundir import RunDir

POLL_S = 2.0
SUMMARY_COLUMNS = ("run", "state", "steps", "best reward", "first-30 → last-30", "eval before → after",
                   "peak VRAM", "steps/s")


class Loaded(Message):
    """The comparison has news; read it. Bursts coalesce."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Loaded)


class ChartPanel(Vertical):
    DEFAULT_CSS = """
    ChartPanel { border: round $primary 60%; border-title-color: $text; padding: 0 1; height: 12; }
    """

    def __init__(self, key: str, title: str) -> None:
        super().__init__(classes="compare-chart")
        self.key = key
        self.title = title
        self.border_title = visible(title, one_line=True, limit=60)

    @property
    def chart(self):
        """The LineChart (mounted by CompareScreen._charts after the first frame), or None."""
        found = self.children
        return found[0] if found else None


class CompareScreen(Screen):
    HELP_NAME = "Compare"
    BINDINGS = [
        Binding("s", "smooth", "Smoothing"),
        Binding("x", "xaxis", "x: step/time"),
        Binding("escape", "back", "Back"),
    ]

    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen #compare-head { height: auto; padding: 0 1; background: $panel; }
    CompareScreen #compare-legend { height: auto; padding: 0 1; }
    CompareScreen #compare-body { height: 1fr; scrollbar-size-vertical: 1; }
    CompareScreen #compare-summary { height: auto; max-height: 12; }
    CompareScreen #compare-charts { grid-size: 2; grid-columns: 1fr 1fr; grid-rows: 12; height: auto; }
    CompareScreen.narrow #compare-charts { grid-size: 1; grid-columns: 1fr; }
    CompareScreen .section { padding: 0 1; text-style: bold; margin-top: 1; }
    CompareScreen #compare-config { height: auto; }
    """

    NARROW_WIDTH = 110

    def __init__(self, runs: "list[RunDir]", *, poll: bool = True) -> None:
        super().__init__()
        self.comparison = cmp.Comparison(runs)
        self.smooth = False
        self.x = "step"
        self.poll = poll
        self.done = threading.Event()  # every history read (tests wait on it, never on time)
        self._stop = threading.Event()
        self.rendered = 0  # renders after everything was read (for tests)

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="compare-head")
        yield Static(id="compare-legend")
        with VerticalScroll(id="compare-body"):
            yield DataTable(id="compare-summary", cursor_type="none", zebra_stripes=False)
            # the fixed charts from the first frame (the layout, scrollbar included, never jumps);
            # reward components are mounted before "main" as the logs name them
            yield Grid(*[ChartPanel(k, t) for k, t in cmp.FIXED_CHARTS], id="compare-charts")
            yield Static("Config: keys that differ", classes="section")
            yield DataTable(id="compare-config", cursor_type="none", zebra_stripes=False)
        yield Footer()

    def on_mount(self) -> None:
        self.set_class(self.app.size.width < self.NARROW_WIDTH, "narrow")
        ids = [r.run.id for r in self.comparison.runs]
        legend = Text()
        for n, i in enumerate(ids):
            legend.append("  " if n else "")
            legend.append("━━ ", style=self.colour(n))
            legend.append(visible(i, one_line=True, limit=40))
        self.query_one("#compare-legend", Static).update(legend)
        self._head()
        self.query_one("#compare-body").focus()
        # Paint first, then read: the reading thread would otherwise compete with the first frame.
        self.call_after_refresh(self.read)

    def on_unmount(self) -> None:
        self._stop.set()

    def on_resize(self) -> None:
        self.set_class(self.app.size.width < self.NARROW_WIDTH, "narrow")

    @staticmethod
    def colour(n: int) -> str:
        return PALETTE[n % len(PALETTE)]

    # -- reading ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="compare-read")
    def read(self) -> None:
        c = self.comparison
        c.preview()
        self.post_message(Loaded())
        for r in c.runs:
            r.catch_up()
            r.check_alive()
            self.post_message(Loaded())
        self.done.set()
        self.post_message(Loaded())
        while self.poll and any(r.snapshot(series=()).live for r in c.runs):
            if self._stop.wait(POLL_S):
                return
            changed = False
            for r in c.runs:
                changed = r.poll() or changed
                changed = r.check_alive() or changed
            if changed:
                self.post_message(Loaded())

    async def on_loaded(self, message: Loaded) -> None:
        await self._redraw()

    # -- drawing ------------------------------------------------------------------------------
    def _head(self) -> None:
        c = self.comparison
        t = Text()
        t.append(f"Comparing {len(c.runs)} runs", style="bold")
        t.append("   x: ", style="dim")
        t.append("step" if self.x == "step" else "wall time (minutes)")
        t.append("   smoothing: ", style="dim")
        t.append(f"on (EMA {cmp.DEFAULT_SMOOTHING})" if self.smooth else "off")
        progress = c.progress()
        if progress < 1.0 or not self.done.is_set():
            t.append(f"   reading history {100 * progress:.0f}%", style="italic cyan")
        self.query_one("#compare-head", Static).update(t)

    async def _redraw(self) -> None:
        self._head()
        self._summary()
        await self._charts()
        self._config()
        if self.done.is_set():
            self.rendered += 1

    def _summary(self) -> None:
        rows = []
        for n, r in enumerate(self.comparison.rows()):
            cells = cmp.row_cells(r)
            rows.append((f"run-{n}", [literal(cells[col], self.colour(n) if col == "run" else
                                              ("bold red" if col == "state" and "stalled" in cells[col] else ""),
                                              one_line=True, limit=60) for col in SUMMARY_COLUMNS]))
        self._fill("#compare-summary", [(c, c, len(c), 0) for c in SUMMARY_COLUMNS], rows)

    def _fill(self, selector: str, columns, rows) -> None:
        """Refill a table only when its contents changed, with widths fixed from the data (as the run
        list does): every refill repaints it, and auto widths settle a frame late."""
        key = (tuple(c[1] if isinstance(c[1], str) else c[1].plain for c in columns),
               tuple((k, tuple(c.plain if isinstance(c, Text) else str(c) for c in cells)) for k, cells in rows))
        table = self.query_one(selector, DataTable)
        if getattr(table, "_shown_key", None) == key:
            return
        table._shown_key = key  # type: ignore[attr-defined]
        fill_table(table, columns, rows)

    async def _charts(self) -> None:
        grid = self.query_one("#compare-charts", Grid)
        have = {p.key for p in self.query(ChartPanel)}
        new = [ChartPanel(k, title) for k, title in self.comparison.charts() if k not in have]
        if new:  # reward components became known: they go before the main reward's chart
            main = next(p for p in self.query(ChartPanel) if p.key == "main")
            await grid.mount_all(new, before=main)
        bare = [p for p in self.query(ChartPanel) if p.chart is None]
        if bare:
            from ..widgets.charts import LineChart

            for p in bare:
                await p.mount(LineChart())
        self._draw_charts()

    def _draw_charts(self) -> None:
        c = self.comparison
        smooth = cmp.DEFAULT_SMOOTHING if self.smooth else None
        for panel in self.query(ChartPanel):
            curves = c.curves(panel.key, x="time" if self.x == "time" else "step", smooth=smooth)
            lines = []
            for n, (xs, ys) in enumerate(curves):
                if xs:
                    if self.x == "time":
                        xs = [v / 60.0 for v in xs]
                    lines.append((xs, ys, self.colour(n)))
            if panel.chart is not None:
                panel.chart.set_lines(lines)

    def _config(self) -> None:
        diff = self.comparison.config_diff()
        ids = [r.run.id for r in self.comparison.runs]
        columns = [("key", "key", 3, 0)] + [(f"run-{n}", visible(i, one_line=True, limit=28), 4, 0)
                                            for n, i in enumerate(ids)]
        rows = [(k, [literal(k, one_line=True)] + [literal(cmp.value_text(v), one_line=True, limit=40) for v in vals])
                for k, vals in diff]
        if not diff:
            rows = [("same", [Text("(every key is the same)", style="dim")] + [""] * len(ids))]
        self._fill("#compare-config", columns, rows)

    # -- actions ----------------------------------------------------------------------------------
    def action_smooth(self) -> None:
        self.smooth = not self.smooth
        self._head()
        self._draw_charts()

    def action_xaxis(self) -> None:
        self.x = "time" if self.x == "step" else "step"
        self._head()
        self._draw_charts()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
