"""The start screen: hardware, presets with the planner's verdicts, knobs, recent runs.

Everything slow happens in thread workers that post the typed messages below
(``Surveyed``, ``RunsScanned``, ``Audited``, ``Launched``, ``LaunchFailed``); handlers only
update widgets. The first frame is what a user over SSH waits for (bench/first_frame.py): it has
no table and no knobs, and what only they need (DataTable, core.settings.config, the run index) is imported
when they are made. The selected preset's reward audit runs `grpo-tui rewards audit` in a
subprocess (tui.reward_audit) and shows its verdict on one line. The planner runs on every keystroke in a knob: it is arithmetic.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, get_type_hints

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widgets import Footer, Input, Label, Static

from ...core.settings.config_error import ConfigError
from ..widgets.memory_bar import BarData, MemoryBar
from ..widgets.tables import fill_table

if TYPE_CHECKING:  # pragma: no cover
    from textual.strip import Strip
    from textual.widgets import DataTable

    from ... import launcher
    from ...core.settings.config import RunConfig
    from ...core.planning.hardware import Hardware
    from ...core.planning.planner import Plan
    from ...core.planning.presets import Preset
    from ...core.run.rundir import RunDir, RunSummary
    from ..runs_index import RunsIndex

# (RunConfig field, label, Input type)
KNOBS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "text"),
    ("max_steps", "max steps", "integer"),
    ("num_generations", "generations", "integer"),
    ("max_completion_length", "completion len", "integer"),
    ("lora_rank", "LoRA rank", "integer"),
    ("gpu_memory_utilization", "vLLM share", "number"),
)
KNOB_NAMES = tuple(k for k, _, _ in KNOBS)
VERDICT_TEXT = {"fits": ("fits", "green"), "tight": ("tight", "yellow"), "no": ("no", "red"),
                "cpu": ("fits CPU", "green"), "no-gpu": ("no GPU", "red")}
RUNS_SHOWN = 50
TALL_ROWS = 32  # from this height on, presets and runs share the screen
RUNS_REFRESH_S = 5.0


# (key, label, minimum width, slack): widths are computed from the data (see fill_table);
# slack leaves room for what editing a knob can add (the preset's "*" edited mark).
PRESET_COLUMNS = (("mark", "", 1, 0), ("preset", "preset", 8, 1), ("model", "model", 16, 0), ("lora", "r", 3, 0),
                  ("G", "G", 2, 0), ("len", "len", 4, 0), ("gib", "GiB", 5, 0), ("verdict", "verdict", 8, 0))
RUN_COLUMNS = (("run", "run", 12, 0), ("state", "state", 9, 0), ("step", "step", 5, 0), ("reward", "reward", 6, 0),
               ("eval", "eval", 4, 0), ("model", "model", 8, 0))


def _short_eval(summary: "RunSummary") -> str:
    """The last two held-out accuracies in a few cells ('21→43%'), or '–' for runs that do not
    evaluate (the dashboard header has the full line)."""
    found = summary.accuracies()
    if any(when == "after" for when, _ in found):  # before -> after, not the format warm start's -> after
        found = [(when, acc) for when, acc in found if when != "warmstart"]
    accs = [acc for _when, acc in found][-2:]
    return "→".join(f"{100 * a:.0f}" for a in accs) + "%" if accs else "–"


def _short_model(model: str) -> str:
    return model.split("/", 1)[1] if model.startswith("unsloth/") else model


def verdict_text(verdict: str) -> Text:
    word, colour = VERDICT_TEXT.get(verdict, (verdict, "red"))
    return Text(word, style=colour)


# -- messages from workers ----------------------------------------------------------------
@dataclass
class Surveyed(Message):
    """Hardware detected, presets loaded and planned."""

    hardware: "Hardware"
    presets: "dict[str, Preset]"
    plans: "dict[str, Plan]"
    recommended: str | None
    reason: str


@dataclass
class RunsScanned(Message):
    summaries: "list[RunSummary]"


@dataclass
class Audited(Message):
    """The reward audit of one preset finished (tui.reward_audit)."""

    preset: str
    text: str
    ok: bool | None


@dataclass
class Launched(Message):
    run: "RunDir"


@dataclass
class LaunchFailed(Message):
    error: str
    field: str = ""


@lru_cache(maxsize=1)
def _field_types() -> dict[str, Any]:
    # core.settings.config is imported here, when the knobs are made (after the first frame): its big
    # dataclass costs the first frame ~5 ms (bench/first_frame.py)
    from ...core.settings.config import RunConfig

    return get_type_hints(RunConfig)  # slow-ish (evaluates every annotation): once per process


class KnobValidator(Validator):
    """Per-field check (type, non-empty) as you type; cross-field rules come from RunConfig.validate."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.hint = _field_types()[name]

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.failure(f"{self.name}: needs a value")
        from ...core.settings.config import coerce

        try:
            coerce(self.name, value, self.hint)
        except ConfigError as exc:
            return self.failure(str(exc))
        return self.success()


def fit_middle(value: str, width: int) -> str:
    """``value`` in ``width`` cells: whole, or cut with an ellipsis in the middle so that a model id
    keeps its start and its name ('HuggingFa…SmolLM2-135M-Instruct'), else at the right."""
    if len(value) <= width or width < 2:
        return value[:max(width, 0)]
    name = value.rpartition("/")[2]
    if "/" in value and len(name) + 4 <= width:
        return value[:width - 1 - len(name)] + "…" + name
    return value[:width - 1] + "…"


class KnobInput(Input):
    """A knob's Input: unfocused, a value too long for it is shown cut in the middle with an
    ellipsis (fit_middle), not scrolled to its end; focused, it edits as any Input."""

    def render_line(self, y: int) -> "Strip":
        width = self.scrollable_content_region.width
        if y != 0 or self.has_focus or len(self.value) <= width:
            return super().render_line(y)
        from textual.strip import Strip

        text = Text(fit_middle(self.value, width), no_wrap=True, end="")  # literal: never markup
        strip = Strip(self.app.console.render(text, self.app.console_options.update_width(width + 1)))
        return strip.extend_cell_length(width + 1).apply_style(self.rich_style)


@dataclass
class Current:
    """What the knobs say right now."""

    config: RunConfig | None = None
    plan: "Plan | None" = None
    error: ConfigError | None = None  # the configuration is invalid: nothing can start
    plan_error: ConfigError | None = None  # valid, but the planner cannot size it (an unknown model)
    edited: dict[str, Any] = field(default_factory=dict)
    source: tuple = ()  # (preset, the knobs' text) this was built from


class StartScreen(Screen):
    HELP_NAME = "Start"
    BINDINGS = [
        Binding("enter", "start", "Start run", priority=True),
        Binding("enter", "attach", "Attach", priority=True),
        Binding("r", "runs", "Runs"),
        Binding("r,escape", "new_run", "Presets"),
        Binding("f5", "rescan", "Refresh", show=False),
        Binding("space", "mark", "Mark"),  # in the run list: mark runs to compare
        Binding("c", "compare", "Compare"),
    ]
    # Below 32 rows the run list and the new-run panel share the space: `r` flips between them.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (TALL_ROWS, "-tall")]
    DEFAULT_CSS = """
    StartScreen {
        layout: vertical;
    }
    StartScreen #hw {
        height: auto;
        max-height: 2;
        padding: 0 1;
        background: $boost;
    }
    StartScreen .section {
        padding: 0 1;
        color: $text-accent;
        text-style: bold;
        width: 1fr;
    }
    StartScreen #new-run {
        height: auto;
    }
    StartScreen #presets {
        height: auto;
        max-height: 10;
        margin: 0 1;
    }
    StartScreen.-tall #presets {
        max-height: 40vh;  /* every shipped preset at 120x40, the run list keeps the rest */
    }
    StartScreen #bar {
        margin: 1 1 0 1;
    }
    StartScreen #knobs {
        grid-size: 3;
        grid-columns: 1fr 1fr 1fr;
        grid-rows: 1;
        grid-gutter: 0 2;
        height: 2;
        margin: 1 1 0 1;
    }
    StartScreen .knob {
        height: 1;
    }
    StartScreen .knob-label {
        width: auto;
        padding-right: 1;
        color: $text-muted;
    }
    StartScreen .knob Input {
        width: 1fr;
        background: $primary 15%;
    }
    StartScreen .knob Input:focus {
        background: $primary 35%;
    }
    StartScreen .knob Input.-invalid-config {
        background: $error 30%;
    }
    StartScreen #knob-error {
        height: auto;
        max-height: 2;
        padding: 0 1;
    }
    StartScreen #knob-error.-error {
        text-style: bold;
    }
    StartScreen #audit {
        height: 1;
        padding: 0 1;
    }
    StartScreen #runs-panel {
        height: 1fr;
        margin-top: 1;
    }
    StartScreen #runs {
        height: 1fr;
        margin: 0 1;
    }
    StartScreen #runs-hint {
        display: none;
        padding: 0 1;
        margin-top: 1;
        color: $text-muted;
    }
    StartScreen.-short #runs-hint {
        display: block;
    }
    StartScreen #runs-empty {
        padding: 0 2;
        color: $text-muted;
    }

    /* Short terminals (< 32 rows): one panel at a time, `r` flips to the run list. */
    StartScreen.-short #bar {
        margin: 0 1;
    }
    StartScreen.-short #runs-panel {
        display: none;
    }
    StartScreen.-short.-show-runs #new-run {
        display: none;
    }
    StartScreen.-short.-show-runs #runs-panel {
        display: block;
        margin-top: 0;
    }
    """

    def __init__(self, preset: str | None = None) -> None:
        super().__init__()
        self.requested_preset = preset
        self.hardware: Hardware | None = None
        self.presets: dict[str, Preset] = {}
        self.plans: dict[str, Plan] = {}
        self.recommended: str | None = None
        self.selected: str | None = None
        self.current = Current()
        self.summaries: list[RunSummary] = []
        # Made by the first scan, in its worker thread: runs_index pulls in the run-folder code
        # (core.run.rundir, json, tomllib, statistics), ~9 ms the first frame need not wait for.
        self.runs_index: RunsIndex | None = None
        self._runs_index_made = threading.Lock()  # two scan threads may overlap (exclusive cannot stop a thread)
        self._workers_started = False  # the first paint has happened and the workers run
        self._survey_started = False
        self.marked: set[str] = set()  # run ids marked (space) for the compare screen
        self._audits: dict[str, Text] = {}  # preset -> its reward audit line
        self._auditing: set[str] = set()  # presets whose audit subprocess is running (one at a time)
        self._audit_wanted: str | None = None  # selected while another audit ran: audited next
        self.launching = False
        self._survey: Surveyed | None = None
        # The breakpoint class the first resize would add: set now, so the first frame is styled
        # once (adding it after mount restyles every widget on the screen).
        try:
            self.add_class("-short" if self.app.size.height < TALL_ROWS else "-tall")
        except Exception:  # no running app (constructed outside one)
            pass

    # -- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("detecting hardware…", id="hw")
        with Vertical(id="new-run"):
            yield Label("Presets  [dim](↑↓ pick · ★ recommended · Enter starts)[/]", classes="section")
            # The presets table is mounted when the survey lands (there is nothing to list before):
            # a DataTable's styling and first render cost the first frame about 15% (bench/first_frame.py).
            yield MemoryBar(id="bar")
            # The knobs hold the selected preset's values: mounted when the survey has picked one
            # (and the first frame comes sooner without them). The grid keeps their place.
            yield Grid(id="knobs")
            yield Static("", id="knob-error")
            yield Static("", id="audit")  # the selected preset's reward audit verdict
            yield Static("", id="runs-hint")  # short terminals: the run list is one key away
        with Vertical(id="runs-panel"):
            yield Label("Recent runs  [dim](live first · Enter attaches)[/]", classes="section")
            yield Static("scanning runs…", id="runs-empty")
            # the run table itself is mounted by the first scan: nothing to show before, and the
            # first frame is faster without it
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#bar", MemoryBar).message = "planning…"
        # Paint first, then survey: worker threads would otherwise compete with the first frame.
        self.call_after_refresh(self._start_workers)

    def _start_workers(self) -> None:
        self._workers_started = True
        if self.is_active:  # under a dashboard opened at start, the survey waits for this screen
            self._start_survey()  # (NVML, presets, planning: GIL time the dashboard's first frame needs)
        self._periodic_scan()  # not under a dashboard opened at start (`grpo-tui attach`): it would
        # fold every run's log while the dashboard reads its own; on_screen_resume scans later
        self.set_interval(RUNS_REFRESH_S, self._periodic_scan, name="runs-refresh")

    def _periodic_scan(self) -> None:
        # Not while another screen (the dashboard) is on top: Textual repaints the top screen wherever
        # this one changes, so a hidden run-list refresh cost ~88 KB of terminal output every 5 s.
        # on_screen_resume rescans when this screen is shown again.
        if self.is_active:
            self.scan_runs()

    def on_screen_resume(self) -> None:
        # The first resume comes before the first paint: _start_workers scans after it (a scan
        # thread started here competed with the first frame for the GIL, and its table was mounted
        # before that frame).
        if self._workers_started:
            if not self._survey_started:
                self._start_survey()
            self.scan_runs()

    def _start_survey(self) -> None:
        self._survey_started = True
        self.survey()

    # -- workers ----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="survey")
    def survey(self) -> None:
        from ...core.planning import planner

        app = self.app
        hw = app.detect_hardware()
        presets = app.load_presets()
        ok = {n: p for n, p in presets.items() if p.ok}
        ram = hw.host.ram_available_gb
        rec = planner.recommend(ok, hw, ram_gb=ram)
        self.post_message(Surveyed(hw, presets, dict(rec.plans), rec.name, rec.reason))

    @work(thread=True, group="audit")
    def audit_rewards(self, name: str) -> None:
        # Not exclusive: a cancelled worker would leave its subprocess running anyway; each preset
        # is audited once (reward_audit caches) and on_audited ignores a preset no longer selected.
        from .. import reward_audit

        preset = self.presets.get(name)
        try:
            line = reward_audit.audit(name, preset.path if preset is not None else None)
        finally:
            self._auditing.discard(name)
        self.post_message(Audited(name, line.text, line.ok))

    def on_audited(self, msg: Audited) -> None:
        style = "green" if msg.ok else "bold red" if msg.ok is False else "yellow"
        text = Text(msg.text, style=style)  # from a subprocess: shown literally, never as markup
        if msg.ok is False:
            text.append(f" — see `grpo-tui rewards audit --preset {msg.preset}`", style="not bold")
        if msg.ok is not None:
            self._audits[msg.preset] = text
        if msg.preset == self.selected:
            self.query_one("#audit", Static).update(text)
        wanted, self._audit_wanted = self._audit_wanted, None
        if wanted is not None and wanted == self.selected:
            self._request_audit(wanted)

    def _request_audit(self, name: str) -> None:
        """Audit a preset unless known; one subprocess at a time (scrolling through the presets
        on a 2-core box must not start one per row): the last one asked for waits its turn."""
        if name in self._audits or name in self._auditing:
            return
        if self._auditing:
            self._audit_wanted = name
            return
        self._auditing.add(name)
        self.audit_rewards(name)

    @work(thread=True, exclusive=True, group="runs")
    def scan_runs(self) -> None:
        with self._runs_index_made:
            if self.runs_index is None:
                from ..runs_index import RunsIndex

                self.runs_index = RunsIndex()
        summaries = self.runs_index.refresh()
        # live first, then newest (list_runs is newest first; sort is stable)
        summaries.sort(key=lambda s: not s.live)
        self.post_message(RunsScanned(summaries[:RUNS_SHOWN]))

    # -- hardware + presets -----------------------------------------------------------
    @staticmethod
    def _knob_cells() -> list[Horizontal]:
        return [Horizontal(Label(label, classes=f"knob-label knob-{name}"),
                           KnobInput(id=f"knob-{name}", type=typ, compact=True, validators=[KnobValidator(name)],
                                     validate_on=["changed"], select_on_focus=False),
                           classes="knob")
                for name, label, typ in KNOBS]

    async def on_surveyed(self, msg: Surveyed) -> None:
        # DataTable is imported where it is used: the first frame has no table (module docstring)
        from textual.widgets import DataTable

        if not self.is_attached:  # the app is closing (q as the survey landed): nothing to mount into
            return
        grid = self.query_one("#knobs", Grid)
        if not grid.children:
            await grid.mount_all(self._knob_cells())
        self.hardware, self.presets, self.plans = msg.hardware, msg.presets, msg.plans
        self.recommended = msg.recommended
        self._survey = msg
        self.query_one("#hw", Static).update(self._hardware_text(msg))
        found = self.query("#presets")
        if found:
            table = found.first(DataTable)
        else:
            table = DataTable(id="presets", cursor_type="row", zebra_stripes=False)
            await self.query_one("#new-run").mount(table, before="#bar")
            if self.app.focused is None:  # the user may have gone to the run list meanwhile
                table.focus()
        broken, rows = [], []
        for name, preset in self.presets.items():
            if not preset.ok:
                broken.append(preset.error or name)
                continue
            cfg = preset.config
            plan = self.plans.get(name)
            rows.append((name, [
                Text("★", style="bold") if name == self.recommended else "",
                name, _short_model(cfg.model), str(cfg.lora_rank), str(cfg.num_generations),
                str(cfg.max_completion_length), f"{plan.total:.1f}" if plan else "?",
                verdict_text(plan.verdict) if plan else Text("?"),
            ]))
        fill_table(table, PRESET_COLUMNS, rows)
        if broken:
            self.app.notify("\n".join(broken[:3]), title="presets that could not load", severity="warning")
        if self.selected in self.plans:  # a rescan (F5): keep the user's preset and edits
            table.move_cursor(row=table.get_row_index(self.selected))
            self.recompute()
            return
        want = self.requested_preset or self.recommended
        if self.requested_preset and self.requested_preset not in self.plans:
            self.app.notify(f"no preset {self.requested_preset!r}; showing the recommended one", severity="warning")
            want = self.recommended
        if want is None and table.row_count:
            want = next(iter(self.plans), None)
        if want is not None and want in self.plans:
            idx = table.get_row_index(want)
            table.move_cursor(row=idx)
            self.select_preset(want)
        elif not table.row_count:
            self.query_one("#bar", MemoryBar).message = "no presets found (see `grpo-tui presets`)"

    def _hardware_text(self, msg: Surveyed) -> Text:
        """Two lines, each cut with an ellipsis rather than wrapped: the GPU, then the recommendation."""
        hw = msg.hardware
        gpu = Text(no_wrap=True, overflow="ellipsis")
        g = hw.best_gpu
        if g is None:
            gpu.append("no NVIDIA GPU — CPU preset", style="bold")
            gpu.append(f"  ({hw.no_gpu_reason})", style="dim")
        else:
            gpu.append("GPU ", style="dim")
            gpu.append(g.name, style="bold")
            mem = f"{g.total_gb:.1f} GiB" if g.total_gb is not None else f"memory N/A ({g.reason('memory')})"
            gpu.append(f" · {mem}")
            if g.mig_enabled and g.plannable_gb:
                gpu.append(f" · MIG (plans for {g.plannable_gb:.1f} GiB)")
            if hw.driver_version:
                gpu.append(f" · driver {hw.driver_version}")
            if hw.cuda_driver_version:
                gpu.append(f" · CUDA {hw.cuda_driver_version}")
            if len(hw.gpus) > 1:
                gpu.append(f" · +{len(hw.gpus) - 1} more")
            if hw.fake:
                gpu.append(" (simulated)", style="dim italic")
        rec = Text(no_wrap=True, overflow="ellipsis")
        rec.append("★ ", style="bold")
        rec.append(f"{msg.recommended or 'no preset'}: ", style="bold")
        reason = msg.reason or ""
        if g is None and hw.no_gpu_reason:  # the line above gives it: said once
            reason = reason.replace(f" ({hw.no_gpu_reason})", "")
        rec.append(reason, style="dim")
        width = max(20, self.size.width - 2)  # cut, not wrapped: re-cut on resize (on_resize)
        gpu.truncate(width, overflow="ellipsis")
        rec.truncate(width, overflow="ellipsis")
        return Text("\n").join([gpu, rec])

    def on_resize(self) -> None:
        if self._survey is not None:
            self.query_one("#hw", Static).update(self._hardware_text(self._survey))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # a named handler: @on(DataTable.RowHighlighted, "#presets") would import DataTable with this module
        if event.data_table.id != "presets":
            return
        if event.cursor_row != event.data_table.cursor_row:
            return  # overtaken by a later move: filling the table highlights row 0 before the survey's pick
        name = event.row_key.value
        if name and name != self.selected:
            self.select_preset(name)

    def select_preset(self, name: str) -> None:
        """Fill the knobs with the preset's values (discarding edits of another preset)."""
        if name != self.selected:
            shown = self._audits.get(name)
            self.query_one("#audit", Static).update(shown or Text("rewards: auditing…", style="dim"))
            if shown is None:
                self._request_audit(name)
        self.selected = name
        cfg = self.presets[name].config
        for knob in KNOB_NAMES:
            inp = self.query_one(f"#knob-{knob}", Input)
            inp.value = str(getattr(cfg, knob))
            inp.cursor_position = len(inp.value)
        from ...core.planning.planner import vllm_share_applies

        # no vLLM on a GPU (CPU presets, vLLM's CPU build, transformers generation): no share to set
        self.query_one("#knob-gpu_memory_utilization", Input).parent.display = vllm_share_applies(cfg)
        self.recompute()

    # -- knobs ------------------------------------------------------------------------
    @on(Input.Changed, "#knobs Input")
    def _knob_changed(self, event: Input.Changed) -> None:
        self.recompute()

    def knob_values(self) -> dict[str, str]:
        return {k: self.query_one(f"#knob-{k}", Input).value for k in KNOB_NAMES}

    def recompute(self) -> Current:
        """Config from preset + knobs -> validate -> plan -> bar, verdict, error line."""
        from ...core.planning import planner

        if self.selected is None:
            return self.current
        base = self.presets[self.selected].config
        values = self.knob_values()
        cur = Current(edited={k: v for k, v in values.items() if v != str(getattr(base, k))},
                      source=(self.selected, values))
        for knob in KNOB_NAMES:
            self.query_one(f"#knob-{knob}", Input).remove_class("-invalid-config")
        try:
            for k, v in values.items():
                if not v.strip():
                    raise ConfigError(k, "needs a value")
            cur.config = base.with_overrides(values).validate()
        except ConfigError as exc:
            cur.error = exc
        if cur.config is not None:
            hw = self.hardware
            try:
                cur.plan = planner.plan(cur.config, hw.vram_gb if hw else None,
                                        ram_gb=hw.host.ram_available_gb if hw else None)
            except ConfigError as exc:
                cur.plan_error = exc
        self.current = cur
        self._show_current()
        return cur

    def _show_current(self) -> None:
        from textual.widgets import DataTable

        cur, name = self.current, self.selected
        err = self.query_one("#knob-error", Static)
        bar = self.query_one("#bar", MemoryBar)
        table = self.query_one("#presets", DataTable)
        if cur.error is not None:
            field_name = cur.error.field.split(".")[-1]
            if field_name in KNOB_NAMES:
                self.query_one(f"#knob-{field_name}", Input).add_class("-invalid-config")
            msg = Text("✗ ", style="bold red")  # reason and fix; up to two lines (DEFAULT_CSS)
            msg.append(f"{cur.error.field}: {cur.error.reason}".splitlines()[0])
            if cur.error.fix:
                msg.append(f" — {cur.error.fix}", style="not bold")
            err.update(msg)
            err.add_class("-error")
        else:
            err.remove_class("-error")
            if cur.plan_error is not None:
                err.update(Text(f"not planned: {str(cur.plan_error).splitlines()[0]}", style="yellow"))
            elif cur.plan is not None and cur.plan.reasons:
                err.update(Text(cur.plan.reasons[0], style="yellow"))
            elif cur.plan is not None and cur.plan.notes:
                err.update(Text(cur.plan.notes[0], style="dim"))
            else:
                err.update("")
        plan = cur.plan if cur.error is None else None
        if plan is not None:
            hw = self.hardware
            if plan.device == "cpu":
                cap = hw.host.ram_available_gb if hw else None
                bar.data = BarData(plan.groups() if cap else {**plan.groups(), "headroom": 0.0}, cap, plan.verdict,
                                   where="free RAM" if cap else "RAM")
            else:
                bar.data = BarData(plan.groups(), plan.vram, plan.verdict, where="GPU")
            if name is not None:
                table.update_cell(name, "gib", Text(f"{plan.total:.1f}"))
                table.update_cell(name, "verdict", verdict_text(plan.verdict))
        else:
            bar.data = None
            bar.message = ("fix the knob above to see the memory plan" if cur.error
                           else "no memory plan for this model: it starts unchecked")
            if name is not None:
                table.update_cell(name, "verdict", Text("invalid", style="red") if cur.error else Text("?"))
                table.update_cell(name, "gib", Text("?"))
        if name is not None:
            cfg = self.presets[name].config
            table.update_cell(name, "preset", Text(f"{name}*" if cur.edited else name))
            for col, knob in (("model", "model"), ("lora", "lora_rank"), ("G", "num_generations"),
                              ("len", "max_completion_length")):
                value = self.current.config and getattr(self.current.config, knob)
                shown = value if value is not None else getattr(cfg, knob)
                table.update_cell(name, col, Text(_short_model(str(shown)) if knob == "model" else str(shown)))
        self.refresh_bindings()

    # -- runs list --------------------------------------------------------------------
    async def on_runs_scanned(self, msg: RunsScanned) -> None:
        from textual.widgets import DataTable

        if not self.is_attached:  # the app is closing: see on_surveyed
            return
        self.summaries = msg.summaries
        found = self.query("#runs")
        if found:
            table = found.first(DataTable)
        else:
            table = DataTable(id="runs", cursor_type="row")
            await self.query_one("#runs-panel").mount(table)
        keep = table.cursor_row
        rows = []
        for s in msg.summaries:
            state = Text(s.state, style="bold green" if s.live else ("red" if s.state in ("failed", "crashed")
                                                                       else ""))
            if s.stalled_since is not None:  # core.run.stall
                state = Text(s.stall_line.split(' (')[0], style="bold red")
            step = f"{s.step}/{s.max_steps}" if s.max_steps else str(s.step)
            reward = f"{s.last_reward:.3f}" if s.last_reward is not None else "–"
            run_cell = Text.assemble(("✓ ", "bold"), s.id) if s.id in self.marked else Text(s.id)
            if s.fork_of:  # lineage (`grpo-tui run --fork`): the parent's id tail and the step it forked at
                parent, _, at = s.fork_of.rpartition("@")
                run_cell.append(f" ← …{parent[-4:]}@{at}", style="dim")
            rows.append((s.id, [run_cell, state, step, reward, _short_eval(s), _short_model(s.model)]))
        fill_table(table, RUN_COLUMNS, rows)
        live = sum(1 for s in msg.summaries if s.live)
        hint = Text.assemble(("Recent runs: ", "bold"), f"{len(msg.summaries)}",
                             (f" ({live} live)" if live else ""), "  ·  press ", ("r", "bold"), " to list them")
        self.query_one("#runs-hint", Static).update(hint if msg.summaries else "")
        empty = self.query_one("#runs-empty", Static)
        empty.display = not msg.summaries
        table.display = bool(msg.summaries)  # not an empty header under "no runs yet"
        empty.update("no runs yet — pick a preset and press Enter")
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        self.refresh_bindings()

    # -- actions ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        runs_focused = self.focused is not None and self.focused.id == "runs"
        if action == "start":
            return not runs_focused
        if action == "attach":
            return runs_focused and bool(self.summaries)
        if action in ("mark", "compare"):
            return runs_focused and bool(self.summaries)
        if action == "runs":
            return not (runs_focused or self.has_class("-show-runs"))
        if action == "new_run":  # back to the preset table, from the run list or a knob
            return runs_focused or self.has_class("-show-runs") or isinstance(self.focused, Input)
        return True

    def action_start(self) -> None:
        if self.launching:
            self.app.notify("a run is already starting…")
            return
        if self.selected is None:
            self.app.notify("still detecting hardware and presets…")
            return
        cur = self.current  # built as the knobs changed; built again only if stale
        if cur.source != (self.selected, self.knob_values()):
            cur = self.recompute()
        if cur.error is not None or cur.config is None:
            field_name = cur.error.field if cur.error else ""
            if field_name in KNOB_NAMES:
                self.query_one(f"#knob-{field_name}", Input).focus()
            self.app.notify(str(cur.error), title="cannot start", severity="error")
            return
        try:
            from ... import launcher
        except ImportError as exc:  # pragma: no cover - the launcher ships with core
            self.app.notify(f"the launcher is not available ({exc})", title="cannot start", severity="error")
            return
        try:  # the launch's one resolution: the checks here and in the worker, and run.json, read it
            resolved = launcher.resolve(cur.config)
        except ConfigError as exc:
            self.app.notify(str(exc), title="cannot start", severity="error")
            return
        try:
            from ...core.planning import planner

            if cur.plan is not None:  # a model the planner cannot size starts unchecked, as from the CLI
                planner.check_launch(resolved.config, self.hardware)
        except ConfigError as exc:
            first = str(exc.reason).splitlines()[0]
            self.app.notify(f"{exc.field}: {first}" + (f"\n{exc.fix}" if exc.fix else ""), title="will not fit",
                        severity="error", timeout=10)
            return
        self.launching = True
        self.app.notify(f"starting {cur.config.name}…", title="new run")
        self.launch(resolved)

    @work(thread=True, exclusive=True, group="launch")
    def launch(self, resolved: "launcher.Resolved") -> None:
        """The launcher's pre-flight (reward files imported, the dataset read), the run directory and
        the trainer, in a worker: all from the one resolved config."""
        from ... import launcher

        try:
            launched = launcher.launch(resolved)
        except ConfigError as exc:
            self.post_message(LaunchFailed(str(exc), exc.field))
            return
        except Exception as exc:  # a launch failure must not kill the app
            self.post_message(LaunchFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(Launched(launched.run))

    def on_launched(self, msg: Launched) -> None:
        self.launching = False
        self.scan_runs()
        self.app.open_run(msg.run)

    def on_launch_failed(self, msg: LaunchFailed) -> None:
        self.launching = False
        self.app.notify(msg.error, title="the run did not start", severity="error", timeout=15)

    def action_attach(self) -> None:
        from textual.widgets import DataTable

        found = self.query("#runs")
        if not found or not found.first(DataTable).row_count:
            return
        table = found.first(DataTable)
        from ...core.run.rundir import RunDir

        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        match = next((s for s in self.summaries if s.id == key), None)
        if match is not None:
            self.app.open_run(RunDir(match.path))

    def _cursor_run(self) -> "str | None":
        from textual.widgets import DataTable

        found = self.query("#runs")
        if not found or not found.first(DataTable).row_count:
            return None
        table = found.first(DataTable)
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    async def action_mark(self) -> None:
        """Mark / unmark the run under the cursor for comparison, then move to the next row."""
        from textual.widgets import DataTable

        key = self._cursor_run()
        if key is None:
            return
        self.marked ^= {key}
        await self.on_runs_scanned(RunsScanned(self.summaries))
        table = self.query_one("#runs", DataTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_compare(self) -> None:
        from ...core.run.rundir import RunDir
        from .compare import CompareScreen

        runs = [RunDir(s.path) for s in self.summaries if s.id in self.marked]
        if len(runs) < 2:
            self.app.notify("mark two or more runs with space, then press c", title="compare")
            return
        self.app.push_screen(CompareScreen(runs))

    def action_runs(self) -> None:
        """Show / focus the run list (on short terminals it replaces the new-run panel)."""
        self.add_class("-show-runs")
        for table in self.query("#runs"):  # absent until the first scan
            table.focus()

    def action_new_run(self) -> None:
        self.remove_class("-show-runs")
        for table in self.query("#presets"):  # absent until the survey lands
            table.focus()
        self.refresh_bindings()

    def action_rescan(self) -> None:
        self._start_survey()
        self.scan_runs()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()
