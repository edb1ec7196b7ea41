"""`?`: the keys of the screen underneath, then the app's, then how screens connect."""

from __future__ import annotations

import re

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

GUIDE = (
    ("Start", "pick a preset (arrows), edit knobs in place (Tab), Enter starts the run; r: runs to attach; "
              "space marks runs there and c compares them"),
    ("Compare", "marked runs overlaid, one colour each: s smoothing on/off, x step / wall time, Esc back"),
    ("Dashboard", "live run: p pause, r resume, s samples, e export, c checkpoint, x stop, Esc back"),
    ("Samples", "browse captured steps and groups; Enter opens a completion; while paused, a asks the model "
                "a question and h asks it held-out ones"),
    ("Quit", "q leaves the app; the run keeps training. Come back: grpo-tui attach RUN"),
)


def screen_name(screen: Screen) -> str:
    """What the user calls a screen: its ``HELP_NAME``, else its class name in words
    (``SampleBrowserScreen`` -> ``sample browser``), never the class name run together."""
    name = getattr(screen, "HELP_NAME", None) or type(screen).__name__.removesuffix("Screen")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def _key_label(app, binding: Binding) -> str:
    try:
        return app.get_key_display(binding)
    except Exception:  # pragma: no cover - display names are cosmetic
        return binding.key_display or binding.key


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    HelpScreen .help-title { text-style: bold; color: $text-accent; margin-top: 1; }
    """

    def __init__(self, under: Screen) -> None:
        super().__init__()
        # Read now: once this modal is on top, the screen below has no active bindings.
        self.rows = self._rows(under)
        self.under_name = screen_name(under)

    def _rows(self, under: Screen) -> list[tuple[str, str, bool]]:
        """The screen's and the app's own keys (not every widget's cursor keys), keys merged per action."""
        from textual.app import App

        merged: dict[tuple[str, str], list] = {}
        for _key, active in under.active_bindings.items():
            b = active.binding
            if not b.description or not isinstance(active.node, (Screen, App)):
                continue
            entry = merged.setdefault((b.action, b.description), [[], active.enabled])
            label = _key_label(self.app, b)
            if label not in entry[0]:
                entry[0].append(label)
            entry[1] = entry[1] or active.enabled
        return [(", ".join(sorted(keys, key=len)), desc, enabled)
                for (_action, desc), (keys, enabled) in merged.items()]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(f"Keys on the {self.under_name} screen", classes="help-title")
            keys = Table.grid(padding=(0, 2))
            keys.add_column(style="bold", min_width=8)
            keys.add_column()
            for key, desc, enabled in self.rows:
                keys.add_row(Text(key), Text(desc, style="" if enabled else "dim"))
            yield Static(keys)
            yield Static("Screens", classes="help-title")
            guide = Table.grid(padding=(0, 2))
            guide.add_column(style="bold", min_width=10)
            guide.add_column()
            for name, text in GUIDE:
                guide.add_row(name, text)
            yield Static(guide)
            yield Static("Other keys", classes="help-title")
            yield Static(Text("Tab moves between panels; Esc or ? closes this help. Over SSH everything works by keyboard."))

    def action_close(self) -> None:
        self.dismiss(None)
