"""Untrusted text (model output, prompts, names from logs) as inert rich Text.

Never parsed as Rich/Textual markup (a ``rich.text.Text`` is taken as it is), and
every character that could act on a terminal is replaced by a visible stand-in:
C0 controls (ESC included, so ``\\x1b[31m`` shows as ``␛[31m``) become Control
Pictures (U+2400 block), DEL becomes ``␡``, C1 controls and bidi / zero-width format
characters become ``<U+XXXX>``. Newlines and tabs are kept (tabs as spaces).
"""

from __future__ import annotations

from rich.text import Text

from ...core.util.sanitize import VISIBLE_TABLE

_TABLE = VISIBLE_TABLE  # one table for the app and the HTML report (core.util.sanitize.visible)
_ONE_LINE = dict(_TABLE)
_ONE_LINE[0x0A] = "\u23ce"  # ⏎


def visible(text: object, *, one_line: bool = False, limit: int | None = None) -> str:
    """The text with every active character made visible (a plain str)."""
    s = text if isinstance(text, str) else ("" if text is None else str(text))
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "\u2026"
    return s.translate(_ONE_LINE if one_line else _TABLE)


def literal(text: object, style: str = "", *, one_line: bool = False, limit: int | None = None) -> Text:
    """A rich Text showing ``text`` literally (see the module docstring)."""
    return Text(visible(text, one_line=one_line, limit=limit), style=style, no_wrap=False)
