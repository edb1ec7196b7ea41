"""The sample browser: every captured step, its groups, each completion's reward breakdown.

Left, the steps (newest first); right, the selected step's completions, one group
(one prompt's G completions) after another, with each reward component, total,
advantage (coloured by sign), length and a truncation mark. Enter opens the whole
completion. Filters (step range, minimum reward, truncated only, text) apply to the
table and to export (``e``). The store (core.run.samples) reads one step at a time, in a
worker, so a long run never loads whole. Model text is shown literally.

While the run is paused, ``a`` asks the model a question and ``h`` asks it held-out questions
(core.run.asks): the answers are listed with the steps as "ask N" and read like a group.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Input, Static

from ...core.run import metric_names as M
from ...core.util.formatting import short
from ...core.run.rundir import RunDir
from ...core.run.samples import Row, SampleFilter, SampleStore, parse_steps
from ..widgets.literal import literal
from ..widgets.tables import fill_table
from .viewer import CompletionViewerScreen

PROMPT_SHOWN = 70  # characters of a prompt in a group's header row (its end: the question)
MAX_STEPS_LISTED = 5000  # newest first; a 100k-step run lists its last 5000 (filter by step for older)


def parse_filter(steps: str, min_reward: str, search: str, truncated: bool) -> SampleFilter:
    """The filter from the inputs; ValueError (one line) for what cannot be read."""
    try:
        lo, hi = parse_steps(steps)
    except ValueError as exc:
        raise ValueError(f"steps: {exc}") from None
    mr = None
    if min_reward.strip():
        try:
            mr = float(min_reward)
        except ValueError:
            raise ValueError("min reward: a number") from None
    return SampleFilter(step_min=lo, step_max=hi, min_reward=mr, truncated_only=truncated, search=search.strip())


class SampleBrowserScreen(Screen):
    HELP_NAME = "sample browser"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "export", "Export"),
        Binding("r", "resume", "Resume"),
        Binding("t", "toggle_truncated", "Truncated only"),
        Binding("a", "ask", "Ask"),
        Binding("h", "ask_heldout", "Ask held-out"),
        Binding("m", "modify_settings", "Set"),
        Binding("slash", "focus_search", "Search", show=False),
    ]
    DEFAULT_CSS = """
    SampleBrowserScreen #filters { height: 3; }
    SampleBrowserScreen #filters Input { width: 1fr; }
    SampleBrowserScreen #filters Checkbox { width: auto; }
    SampleBrowserScreen #steps { width: 12; }
    SampleBrowserScreen #rows { width: 1fr; }
    /* each list in its own titled frame: the step list never reads as the table's first column */
    SampleBrowserScreen #steps, SampleBrowserScreen #rows {
        height: 1fr; border: round $primary-darken-1; border-title-align: left; border-title-color: $text;
    }
    SampleBrowserScreen #steps:focus, SampleBrowserScreen #rows:focus { border: round $accent; }
    SampleBrowserScreen #status { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, run: RunDir) -> None:
        super().__init__()
        self.run = run
        self.store = SampleStore(run)
        self.filter = SampleFilter()
        self.step: int | str | None = None  # a step, or "ask:<i>" for the i-th answered ask
        self.rows: list[Row] = []
        self._asks: list[dict] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Input(placeholder="steps A:B", id="f-steps")
            yield Input(placeholder="min reward", id="f-reward")
            yield Input(placeholder="search text (/)", id="f-search")
            yield Checkbox("truncated only", id="f-trunc")
        yield Static(id="status")
        with Horizontal():
            yield DataTable(id="steps", cursor_type="row", show_header=False)
            yield DataTable(id="rows", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        steps = self.query_one("#steps", DataTable)
        steps.add_columns("step")
        steps.border_title = "steps"
        self.query_one("#rows", DataTable).border_title = "completions"
        self.set_interval(2.0, self._refresh_steps)  # a running run keeps growing
        self._refresh_steps()
        # The newest step is preselected: start on its completions (Enter reads one);
        # Tab / shift+Tab reach the step list and the filters.
        self.query_one("#rows", DataTable).focus()

    def on_screen_resume(self) -> None:
        """Back from the export dialog, the viewer or an ask: the keys must work at once. Focus is
        put back on the completions when it is nowhere on this screen (without a focused widget
        here the screen's keys would wait for a Tab)."""
        focused = self.focused
        if focused is None or not focused.is_attached or focused.screen is not self or not focused.focusable:
            try:
                self.query_one("#rows", DataTable).focus()
            except NoMatches:
                pass

    # -- loading ----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="index")
    def _refresh_steps(self) -> None:
        asks_before = len(self.store.ask_index)
        if self.store.refresh() or not self.store.steps or len(self.store.ask_index) != asks_before:
            self._asks = self.store.asks()
            self.app.call_from_thread(self._show_steps)

    def _show_steps(self) -> None:
        try:  # a worker's result can arrive after the screen was closed
            table = self.query_one("#steps", DataTable)
        except NoMatches:
            return
        steps = [s for s in reversed(self.store.steps) if self.filter.step_ok(s)][:MAX_STEPS_LISTED]
        keep = self.step
        table.clear()
        asks = [f"ask:{i}" for i in reversed(range(len(self._asks)))] if self.filter.asks else []
        for key in asks:
            table.add_row(Text(f"ask {int(key[4:]) + 1}", style="bold cyan"), key=key)
        for s in steps:
            table.add_row(str(s), key=str(s))
        n = len(self.store.steps)
        note = f"  ({self.store.skipped} unreadable line(s) skipped)" if self.store.skipped else ""
        self._status(f"{n} captured step(s){note}" if n else "no samples captured yet")
        listed: list[int | str] = [*asks, *steps]
        if listed:
            # A new answer is shown as it arrives; otherwise stay where the user was.
            new_ask = bool(asks) and asks[0] != getattr(self, "_newest_ask", None)
            self._newest_ask = asks[0] if asks else None
            target = asks[0] if new_ask and getattr(self, "_awaiting_ask", False) else \
                keep if keep in listed else (steps[0] if steps else listed[0])
            if new_ask:
                self._awaiting_ask = False
            table.move_cursor(row=listed.index(target))
            if target != self.step:
                self._load_step(target)

    @work(thread=True, exclusive=True, group="step")
    def _load_step(self, step: int | str) -> None:
        if isinstance(step, str):  # an answered ask
            i = int(step.split(":", 1)[1])
            rows = [r for r in self._asks[i]["rows"] if self.filter.row_ok(r)] if i < len(self._asks) else []
        else:
            groups = self.store.groups(step, self.filter)
            rows = [r for g in sorted(groups) for r in groups[g]]
        names = self.store.reward_names()
        self.app.call_from_thread(self._show_rows, step, rows, names)

    def _show_rows(self, step: int | str, rows: list[Row], names: list[str]) -> None:
        try:
            table = self.query_one("#rows", DataTable)
        except NoMatches:
            return
        self.step, self.rows = step, rows
        labels = ["grp", *[literal(n, one_line=True, limit=14).plain for n in names], "total", "adv", "len", "trunc",
                  "completion"]
        table_rows: list[tuple[str, list]] = []
        group = object()
        first_completion = None
        for i, r in enumerate(rows):
            if r.get("group") != group:  # a header row per group: what was asked, and the gold answer
                group = r.get("group")
                table_rows.append((f"g{i}", [Text(str(group if group is not None else ""), style="bold"),
                                             *[""] * (len(names) + 4), _group_line(r)]))
                first_completion = i + 1 if first_completion is None else first_completion
            adv = r.get("advantage")
            adv_t = Text(f"{adv:+.2f}" if isinstance(adv, (int, float)) else "–",
                         style="green" if isinstance(adv, (int, float)) and adv > 0 else
                         "red" if isinstance(adv, (int, float)) and adv < 0 else "")
            table_rows.append((str(i), [str(r.get("group", "")), *[short(r["rewards"].get(n)) for n in names],
                                        short(r.get(M.SAMPLE_REWARD)), adv_t, str(r.get("length", "")),
                                        Text("✂", style="yellow") if r.get("truncated") else "",
                                        literal(r.get("completion", ""), one_line=True, limit=80)]))
        # Widths from the cells (fill_table): rows filled from the loading worker's callback left
        # the table no message to go idle after, when it measures auto-width columns, so live the
        # columns stayed as narrow as their titles ("+1." for +1.11) until a key was pressed.
        fill_table(table, [(f"c{k}", label, 0, 0) for k, label in enumerate(labels)], table_rows)
        if first_completion is not None and table.cursor_row == 0:
            table.move_cursor(row=first_completion)  # start on a completion, not on the header
        shown = f"step {step}: {len(rows)} completion(s)" if not isinstance(step, str) else \
            f"ask {int(step[4:]) + 1} (at step {rows[0]['step'] if rows else '?'}): {len(rows)} completion(s)"
        if not self.filter.empty:
            shown += " matching the filter"
        table.border_title = Text(shown)  # the step these rows belong to, on their frame (literal, never markup)
        self._status(shown + " · Enter reads one · e exports")

    def _status(self, text: str) -> None:
        try:
            self.query_one("#status", Static).update(Text(text))
        except NoMatches:
            pass

    # -- events -------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#steps")
    def _step_picked(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            key = event.row_key.value
            step = key if key.startswith("ask:") else int(key)
            if step != self.step:
                self._load_step(step)

    @on(DataTable.RowSelected, "#rows")
    def _row_opened(self, event: DataTable.RowSelected) -> None:
        i = int(event.row_key.value.removeprefix("g"))  # a group's header opens its first completion
        if 0 <= i < len(self.rows):
            row = self.rows[i]
            self.app.push_screen(CompletionViewerScreen(
                row, f"{self.run.id} · step {row.get('step')} · group {row.get('group')}"))

    @on(DataTable.RowSelected, "#steps")
    def _step_entered(self) -> None:
        self.query_one("#rows", DataTable).focus()

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _filter_changed(self) -> None:
        try:
            self.filter = parse_filter(self.query_one("#f-steps", Input).value,
                                       self.query_one("#f-reward", Input).value,
                                       self.query_one("#f-search", Input).value,
                                       self.query_one("#f-trunc", Checkbox).value)
        except ValueError as exc:
            self._status(f"filter: {exc}")
            return
        self._show_steps()
        if self.step is not None:
            self._load_step(self.step)

    # -- actions ---------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_export(self) -> None:
        from .export import ExportScreen

        self.app.push_screen(ExportScreen(self.run, self.filter))

    def action_resume(self) -> None:
        try:
            self.run.send_command("resume")
        except OSError as exc:
            self.notify(f"could not send resume: {exc}", severity="error", markup=False)
            return
        self.notify("resume sent; the trainer continues at the step boundary")

    def action_ask(self) -> None:
        from .ask import AskScreen

        self.app.push_screen(AskScreen(), self._send_ask)

    def action_ask_heldout(self) -> None:
        from ...core.run.asks import DEFAULT_HELDOUT

        self._send_ask({"heldout": DEFAULT_HELDOUT})

    def _send_ask(self, payload: dict | None) -> None:
        """Queue the ask (the trainer answers only while paused, one at a time) and wait for its answer."""
        from ...core.run.rundir import PAUSED, summarize

        if payload is None:
            return
        summary = summarize(self.run)
        state = summary.state
        if getattr(summary, "source", "") == "watched":
            self.notify("a watched script's model is its own: asks work on runs grpo-tui launched",
                        severity="warning")
            return
        if state != PAUSED:
            self.notify(f"the run is {state}: asks need a paused run (p pauses it)", severity="warning")
            return
        if any(c.get("command") == "ask" for c in self.run.pending_commands()):
            self.notify("an ask is already waiting; one at a time", severity="warning")
            return
        try:
            cid = self.run.send_command("ask", **payload)
        except OSError as exc:
            self.notify(f"could not send the ask: {exc}", severity="error", markup=False)
            return
        self._awaiting_ask = True
        what = f"{payload['heldout']} held-out questions" if payload.get("heldout") else "the question"
        self._status(f"asking {what}… the paused trainer answers it")
        self._wait_answer(cid)

    @work(thread=True, group="ask")
    def _wait_answer(self, cid: str) -> None:
        from ...core.run.asks import wait_answer

        ack = wait_answer(self.run, cid, timeout=900.0)
        self.app.call_from_thread(self._answered, ack)

    def _answered(self, ack: dict | None) -> None:
        if ack is None or ack.get("error"):
            self._awaiting_ask = False
        if ack is None:
            self.notify("no answer: the trainer is gone or busy", severity="warning")
        elif ack.get("error"):
            self.notify(f"ask not answered: {ack['error']}", severity="warning", markup=False)
        else:
            self._refresh_steps()

    def action_modify_settings(self) -> None:
        """The settings panel (screens.steer): what a live run can change, from its next step."""
        from ...core.run.rundir import summarize
        from .steer import SteerScreen

        state = summarize(self.run)
        if state.source == "trl-folder" or not state.live:
            self.notify(f"the run is {state.state}: settings change only while a trainer runs "
                        "(fork it: grpo-tui run --fork RUN --set key=value)", severity="warning", markup=False)
            return
        self.app.push_screen(SteerScreen(self.run), self._send_settings)

    def _send_settings(self, changes: dict | None) -> None:
        if not changes:
            return
        try:
            cid = self.run.send_command("set", settings=changes)
        except OSError as exc:
            self.notify(f"could not send the change: {exc}", severity="error", markup=False)
            return
        self._status("settings sent; the trainer applies them at its next step boundary")
        self._wait_settings(cid)

    @work(thread=True, group="set")
    def _wait_settings(self, cid: str) -> None:
        """The trainer's acknowledgement (a paused trainer answers within a poll); the wait ends with the
        screen (a cancelled worker) or when the trainer is gone."""
        import time

        from textual.worker import get_current_worker

        from ...core.run import events as ev
        from ...core.run.rundir import summarize

        worker = get_current_worker()
        reader = ev.EventReader(self.run.events, types=[ev.CONTROL])
        checked = time.monotonic()
        while not worker.is_cancelled:
            ack = next((e for e in reader.read_new() if e.get("id") == cid), None)
            if ack is not None or (time.monotonic() - checked > 2.0 and not summarize(self.run).live):
                self.app.call_from_thread(self._settings_acked, ack)
                return
            if time.monotonic() - checked > 2.0:
                checked = time.monotonic()
            time.sleep(0.2)

    def _settings_acked(self, ack: dict | None) -> None:
        from ...core.run.live_settings import describe

        if ack is None:
            self.notify("no acknowledgement: the trainer is gone or busy", severity="warning")
        elif ack.get("error"):
            self.notify(f"settings not changed: {ack['error']}", severity="warning", markup=False)
        else:
            line = f"changed at step {ack.get('step')}: {describe(ack.get('changes') or {})}"
            self._status(line)
            self.notify(line, markup=False)

    def action_toggle_truncated(self) -> None:
        box = self.query_one("#f-trunc", Checkbox)
        box.value = not box.value

    def action_focus_search(self) -> None:
        self.query_one("#f-search", Input).focus()


def _group_line(row: Row) -> Text:
    """A group's header cell: the gold answer, then the end of its prompt (where the question is: a chat
    prompt starts with the system prompt), both literal."""
    line = Text()
    if row.get("answer") not in (None, ""):
        line.append("gold ", style="dim")
        line.append_text(literal(row.get("answer"), "bold green", one_line=True, limit=24))
        line.append("  ")
    prompt = " ".join(str(row.get("prompt") or "").split())
    if len(prompt) > PROMPT_SHOWN:
        prompt = "\u2026" + prompt[-(PROMPT_SHOWN - 1):]
    line.append("asked ", style="dim")
    line.append_text(literal(prompt or "–", one_line=True))
    return line
