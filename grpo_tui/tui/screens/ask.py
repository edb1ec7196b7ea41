"""The ask dialog: a prompt (and, optionally, its right answer) for the paused model.

It only collects and checks the request (core.run.asks.check_request, the same rule the CLI and the
trainer use) and hands it back; the sample browser queues it and shows the answer like a group.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...core.run.asks import DEFAULT_N, MAX_N, AskError, check_request


class AskScreen(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical { width: 76; max-width: 95%; height: auto; border: round $accent; padding: 0 1;
                           background: $surface; }
    AskScreen Label { width: 100%; margin-bottom: 1; }
    AskScreen #ask-gold { width: 1fr; }
    AskScreen #ask-error { color: $error; height: auto; }
    AskScreen Horizontal { height: auto; }
    AskScreen #ask-n { width: 15; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Ask the paused model: the run's chat template, system prompt and sampling; "
                        "a right answer scores it with the run's rewards.")
            yield Input(placeholder="e.g. What is 12 + 7?", id="ask-prompt")
            with Horizontal():
                yield Input(placeholder="e.g. 19", id="ask-gold")
                yield Input(value=str(DEFAULT_N), placeholder=f"n (1-{MAX_N})", id="ask-n", type="integer")
            yield Static("", id="ask-error")
            with Horizontal():
                yield Button("Ask", id="ask-go", variant="primary")
                yield Button("Cancel", id="ask-cancel")

    def on_mount(self) -> None:
        for wid, title in (("#ask-prompt", "question"), ("#ask-gold", "right answer (optional)"),
                           ("#ask-n", "completions")):
            self.query_one(wid, Input).border_title = title
        self.query_one("#ask-prompt", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ask-go")
    def submit(self) -> None:
        n_text = self.query_one("#ask-n", Input).value.strip()
        payload = {"prompt": self.query_one("#ask-prompt", Input).value,
                   "gold": self.query_one("#ask-gold", Input).value or None,
                   "n": int(n_text) if n_text.lstrip("-").isdigit() else DEFAULT_N}
        try:
            req = check_request(payload)
        except AskError as exc:
            self.query_one("#ask-error", Static).update(str(exc))
            return
        self.dismiss(req.payload())

    @on(Button.Pressed, "#ask-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
