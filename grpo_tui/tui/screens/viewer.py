"""One completion, whole: the prompt, the chain-of-thought and the answer, read-only.

Model text is untrusted: it goes through ``widgets.literal`` (a rich Text, never
markup; escapes and bidi overrides shown as visible stand-ins)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..widgets.literal import literal


def breakdown(row: dict) -> Text:
    """'reward 1.5 (format 1 · correctness 0.5)  adv +0.71  len 12  truncated' as styled Text."""
    t = Text()
    t.append(f"reward {_n(row.get('reward'))}", style="bold")
    parts = list((row.get("rewards") or {}).items())
    if parts:
        t.append(" (")
        for i, (name, value) in enumerate(parts):
            if i:
                t.append(" · ", style="dim")
            t.append(literal(name, one_line=True, limit=30))
            t.append(f" {_n(value)}")
        t.append(")")
    adv = row.get("advantage")
    if isinstance(adv, (int, float)):
        t.append(f"  adv {adv:+.2f}", style="green" if adv > 0 else "red" if adv < 0 else "")
    t.append(f"  len {row.get('length', '?')}")
    if row.get("truncated"):
        t.append("  truncated", style="bold yellow")
    return t


def _n(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"


class CompletionViewerScreen(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    CompletionViewerScreen VerticalScroll { padding: 0 1; }
    CompletionViewerScreen .label { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, row: dict, title: str = "") -> None:
        super().__init__()
        self.row = row
        self.title_text = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="viewer"):
            yield Static(Text(self.title_text, style="bold"), id="viewer-title")
            yield Static(breakdown(self.row), id="viewer-breakdown")
            yield Static("Prompt", classes="label")
            yield Static(literal(self.row.get("prompt", "")), id="viewer-prompt")
            if self.row.get("answer") not in (None, ""):
                yield Static(Text.assemble(("gold answer ", "dim"), literal(self.row.get("answer"), one_line=True)))
            yield Static("Completion", classes="label")
            yield Static(literal(self.row.get("completion", "")), id="viewer-completion")
            if self.row.get("truncated_text"):
                yield Static(Text("(text cut for display; the full text is in samples.jsonl)", style="dim"))
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#viewer").focus()
