"""Quit confirmation: leaving the app never stops the run, and says so."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitScreen(ModalScreen[bool]):
    """'Detach from RUN?' -- the trainer keeps going either way."""

    BINDINGS = [
        Binding("q,y,d", "confirm", "Detach", show=True),
        Binding("escape,n", "cancel", "Stay"),
    ]
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 64; max-width: 100%; height: auto;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    QuitScreen #quit-text { margin-bottom: 1; }
    QuitScreen Horizontal { height: auto; align-horizontal: right; }
    QuitScreen Button { margin-left: 2; }
    """

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        from rich.text import Text

        text = Text.assemble(
            ("Detach from this run?\n\n", "bold"),
            f"Run {self.run_id} keeps training in the background; nothing is lost.\n"
            "Come back with ", (f"grpo-tui attach {self.run_id}", "bold"),
            " or from the start screen's run list.",
        )
        with Vertical():
            yield Static(text, id="quit-text")
            with Horizontal():
                yield Button("Stay", id="stay")
                yield Button("Detach (q)", id="detach", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#detach", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "detach")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
