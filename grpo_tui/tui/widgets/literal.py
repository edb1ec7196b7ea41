"""Untrusted text (model output, prompts, names from logs) as inert rich Text.

Never parsed as Rich/Textual markup (a ``rich.text.Text`` is taken as it is), and
every character that could act on a terminal is replaced by a visible stand-in:
C0 controls (ESC included, so ``\\x1b[31m`` shows as ``␛[31m``) become Control
Pictures (U+2400 block), DEL becomes ``␡``, C1 controls and bidi / zero-width format
characters become ``<U+XXXX>``. Newlines and tabs are kept (tabs as spaces).
"""

from __future__ import annotations

from rich.text import Text

from ...core.sanitize import BIDI_CONTROLS

_TABLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x0A,)}
_TABLE[0x09] = "    "
_TABLE[0x7F] = "\u2421"
_TABLE.update({c: f"<U+{c:04X}>" for c in range(0x80, 0xA0)})
_TABLE.update({ord(ch): f"<U+{ord(ch):04X}>" for ch in BIDI_CONTROLS | set("\u200b\u200c\u200d\u2060\ufeff")})
_TABLE[0x2028] = "\n"
_TABLE[0x2029] = "\n"
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
