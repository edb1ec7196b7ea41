"""Yes/no questions before something the user cannot take back: one modal, two uses.

``ConfirmScreen`` holds the layout, the buttons and the answer (``dismiss(True/False)``);
each question is a small subclass that declares its keys (BINDINGS, as every screen does)
and its text:

* ``QuitScreen``: leaving the app never stops the run, and says so (q confirms).
* ``StopConfirm``: a stop ends training at the next step boundary and saves the adapter
  (y confirms; the safe button has the focus).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..widgets.literal import visible


class ConfirmScreen(ModalScreen[bool]):
    """A question, a cancel and a confirm button; subclasses set the keys and the words."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    ConfirmScreen.-danger > Vertical { border: thick $error; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmScreen Button { margin-left: 2; }
    """
    TEXT_ID = "confirm-text"
    CANCEL = ("cancel", "Cancel")  # (button id, label)
    CONFIRM = ("confirm", "OK")
    CONFIRM_VARIANT = "primary"
    FOCUS_CONFIRM = True  # which button Enter presses at first

    def question(self) -> Text:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question(), id=self.TEXT_ID)
            with Horizontal():
                yield Button(self.CANCEL[1], id=self.CANCEL[0])
                yield Button(self.CONFIRM[1], id=self.CONFIRM[0], variant=self.CONFIRM_VARIANT)

    def on_mount(self) -> None:
        self.query_one(f"#{(self.CONFIRM if self.FOCUS_CONFIRM else self.CANCEL)[0]}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == self.CONFIRM[0])

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class QuitScreen(ConfirmScreen):
    """'Detach from RUN?' -- the trainer keeps going either way."""

    BINDINGS = [
        Binding("q,y,d", "confirm", "Detach", show=True),
        Binding("escape,n", "cancel", "Stay"),
    ]
    TEXT_ID = "quit-text"
    CANCEL = ("stay", "Stay")
    CONFIRM = ("detach", "Detach (q)")

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def question(self) -> Text:
        run = visible(self.run_id, one_line=True)
        return Text.assemble(
            ("Detach from this run?\n\n", "bold"),
            f"Run {run} keeps training in the background; nothing is lost.\n"
            "Come back with ", (f"grpo-tui attach {run}", "bold"),
            " or from the start screen's run list.",
        )


class StopConfirm(ConfirmScreen):
    """Stopping ends training at the next step boundary and saves the adapter: confirm first."""

    BINDINGS = [Binding("y", "confirm", "Stop the run"), Binding("n,escape", "cancel", "Keep training")]
    TEXT_ID = "stop-text"
    CANCEL = ("keep", "Keep training (n)")
    CONFIRM = ("stop", "Stop (y)")
    CONFIRM_VARIANT = "error"
    FOCUS_CONFIRM = False

    def __init__(self, run_id: str, loading: bool = False) -> None:
        super().__init__(classes="-danger")
        self.run_id = run_id
        self.loading = loading

    def question(self) -> Text:
        run = visible(self.run_id, one_line=True)
        if self.loading:  # the trainer takes a stop between loading phases (trainer.loading_watch)
            what = (f"{run} is still loading: it ends when the current loading phase does. Nothing has "
                    "been trained yet, so nothing is saved.")
        else:
            what = (f"{run} stops at the next step boundary; the adapter is saved. This cannot be undone "
                    "(resume needs a checkpoint).")
        return Text.assemble(("Stop this run?\n\n", "bold"), what)
