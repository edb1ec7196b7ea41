"""The settings panel of a paused run: change what a live run can change, from its next step.

One field per live setting (core.run.live_settings), filled with the value in force; every keystroke is
checked with the same rule the CLI and the trainer use (``parse_changes``: a value out of range, a
completion cap above the run's ceiling), the field at fault is marked and the line says why. Apply
hands back the typed changes; the sample browser queues them as a ``set`` command and shows the
trainer's acknowledgement.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...core.run import live_settings as ls
from ...core.run.rundir import RunDir

FIELDS = ("learning_rate", "beta", "temperature", "top_p", "top_k", "min_p", "max_completion_length",
          "epsilon", "epsilon_high", "num_iterations")


def _text(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def field_id(key: str) -> str:
    return "steer-" + key.replace(".", "--")


class SteerScreen(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply")]
    DEFAULT_CSS = """
    SteerScreen { align: center middle; }
    SteerScreen > Vertical { width: 84; max-width: 95%; height: auto; max-height: 95%; border: round $accent;
                             padding: 0 1; background: $surface; }
    SteerScreen #steer-title { width: 100%; margin-bottom: 1; }
    SteerScreen VerticalScroll { height: auto; max-height: 18; }
    SteerScreen .steer-row { height: 1; }
    SteerScreen .steer-row Label { width: 30; }
    SteerScreen .steer-row Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $primary 15%; }
    SteerScreen .steer-row Input:focus { background: $primary 35%; }
    SteerScreen .steer-row Input.-invalid-config { background: $error 30%; }
    SteerScreen #steer-status { height: auto; max-height: 3; margin-top: 1; }
    SteerScreen Horizontal.buttons { height: auto; }
    """

    def __init__(self, run: RunDir) -> None:
        super().__init__()
        self.run = run
        info = run.info()
        self.hardware = info.get("hardware")
        self.watched = info.get("source") == "watched"
        self.cfg = ls.effective_config(run)
        self.overrides = ls.load_overrides(run)
        launched = info.get("source") in (None, "", "launched")
        self.has_reference = not (launched and self.cfg.full_finetuning)
        keys = [*FIELDS, *(ls.REWARD_WEIGHT + n for n in ls.reward_names(self.cfg))]
        self.current = {k: _text(ls.current_value(self.cfg, k, self.overrides)) for k in keys}
        self.changes: dict[str, Any] = {}
        self.error: ls.SettingsError | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Change {self.run.id} from its next step · Ctrl+S applies · Esc cancels",
                        id="steer-title")
            with VerticalScroll():
                for key, value in self.current.items():
                    with Horizontal(classes="steer-row"):
                        yield Label(key)
                        yield Input(value=value, id=field_id(key))
            yield Static("", id="steer-status")
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="steer-apply", variant="primary", disabled=True)
                yield Button("Cancel", id="steer-cancel")

    def on_mount(self) -> None:
        self.query_one(f"#{field_id(FIELDS[0])}", Input).focus()
        self.check()

    def edited(self) -> dict[str, str]:
        out = {}
        for key, old in self.current.items():
            value = self.query_one(f"#{field_id(key)}", Input).value.strip()
            if value != old:
                out[key] = value
        return out

    @on(Input.Changed)
    def check(self) -> None:
        """Parse what differs from the values in force; mark the field at fault and say why."""
        for key in self.current:
            self.query_one(f"#{field_id(key)}", Input).remove_class("-invalid-config")
        edited = self.edited()
        status = self.query_one("#steer-status", Static)
        self.changes, self.error = {}, None
        if not edited:
            status.update(Text("nothing changed yet", style="dim"))
        else:
            try:
                self.changes = ls.parse_changes(edited, self.cfg, hardware=self.hardware, watched=self.watched,
                                                has_reference=self.has_reference)
            except ls.SettingsError as exc:
                self.error = exc
                key = exc.field
                if key in self.current:
                    self.query_one(f"#{field_id(key)}", Input).add_class("-invalid-config")
                line = Text("✗ ", style="bold red")
                line.append(f"{exc.field}: {exc.reason}")
                if exc.fix:
                    line.append(f" — {exc.fix}", style="dim")
                status.update(line)
            else:
                status.update(Text("✓ " + ", ".join(f"{k} {self.current.get(k, '?')} → {_text(v)}"
                                                    for k, v in self.changes.items()), style="green"))
        self.query_one("#steer-apply", Button).disabled = not self.changes

    @on(Input.Submitted)
    @on(Button.Pressed, "#steer-apply")
    def action_apply(self) -> None:
        self.check()
        if self.changes:
            self.dismiss(dict(self.changes))

    @on(Button.Pressed, "#steer-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
