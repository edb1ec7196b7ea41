"""Export dialog: JSONL or Markdown, the current filter or the whole run, to the run's
exports/ or a path you type. Runs core.reading.export in a worker. On success the dialog closes itself
and a notification gives the path and count (the screen underneath has the keys again at once:
a dialog left open after ctrl+s took the user's next keys, issue 15); an error stays in the
dialog, beside the path to fix."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from ...core.run.rundir import RunDir
from ...core.run.samples import SampleFilter


class ExportScreen(ModalScreen["tuple[str, int] | None"]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("ctrl+s", "export", "Export")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1; }
    ExportScreen RadioSet { width: 100%; height: auto; }
    ExportScreen Horizontal { height: auto; align-horizontal: right; }
    ExportScreen Button { margin-left: 2; }
    ExportScreen #export-result { margin-top: 1; height: auto; }
    """

    def __init__(self, run: RunDir, flt: SampleFilter | None = None) -> None:
        super().__init__()
        self.run = run
        self.flt = flt if flt is not None and not flt.empty else None
        self.result: tuple[str, int] | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Export samples", style="bold"))
            with RadioSet(id="export-format"):
                yield RadioButton("JSONL (one row per completion, all fields)", value=True, id="fmt-jsonl")
                yield RadioButton("Markdown (readable, grouped by prompt)", id="fmt-md")
            with RadioSet(id="export-scope"):
                yield RadioButton("the current filter", value=self.flt is not None, id="scope-filter",
                                  disabled=self.flt is None)
                yield RadioButton("the whole run", value=self.flt is None, id="scope-all")
            yield Input(placeholder=f"path (empty: {self.run.exports}/)", id="export-path")
            yield Static(id="export-result")
            with Horizontal():
                yield Button("Close", id="export-close")
                yield Button("Export (ctrl+s)", id="export-go", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export-go":
            self.action_export()
        else:
            self.action_close()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_export()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_export(self) -> None:
        fmt = "md" if self.query_one("#fmt-md", RadioButton).value else "jsonl"
        use_filter = self.flt is not None and not self.query_one("#scope-all", RadioButton).value
        path = self.query_one("#export-path", Input).value.strip() or None
        self.query_one("#export-result", Static).update(Text("exporting…", style="dim"))
        self._export(fmt, path, self.flt if use_filter else None)

    @work(thread=True, exclusive=True)
    def _export(self, fmt: str, path: str | None, flt: SampleFilter | None) -> None:
        from ...core.reading.export import ExportError, export

        try:
            target, n = export(self.run, fmt, path, flt)
        except ExportError as exc:
            self.app.call_from_thread(self._show, None, str(exc))
        else:
            self.app.call_from_thread(self._show, (str(target), n), None)

    def _show(self, result: tuple[str, int] | None, error: str | None) -> None:
        self.result, self.error = result, error
        box = self.query_one("#export-result", Static)
        if error:
            box.update(Text(error, style="bold red"))
        elif result:
            box.update(Text.assemble(("✓ ", "green"), f"{result[1]} completion(s) written to ", (result[0], "bold")))
            self.notify(f"{result[1]} completion(s) written to {result[0]}", title="exported", markup=False,
                        timeout=10)
            self.dismiss(result)
