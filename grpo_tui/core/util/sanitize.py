"""Make untrusted model text safe to show: in a terminal, in Markdown, in HTML.

Model output (and dataset prompts) can contain anything: ANSI/OSC escape
sequences that recolour a terminal, set its title or write hyperlinks; control
characters; Unicode bidi overrides that make text read differently from what
it is ("Trojan Source", CVE-2021-42574); Markdown or HTML that a viewer would
render. These helpers never interpret it; they remove or make visible.

API (headless, stdlib only):

``clean(text)``            escapes stripped, other control chars and bidi controls
                           made visible (``\\x07`` -> ``␇``, U+202E -> ``<U+202E>``);
                           newlines and tabs kept. Use before rich.text.Text too.
``md_inline(text)``        for a Markdown table cell / inline span: clean(), then
                           Markdown and HTML specials escaped, newlines -> ``⏎``.
``md_block(text)``         a fenced code block showing the text literally (the fence
                           is longer than any backtick run inside).
``html(text)``             clean() + HTML escaping.
``visible(text)``          nothing removed: every control made visible (``\x1b[31m`` -> ``␛[31m``, C1 and
                           bidi / zero-width characters -> ``<U+XXXX>``); the TUI's ``literal`` and
                           ``html_literal`` use it, so a page shows what the app shows.
``html_literal(text)``     visible() + HTML escaping: model text in the HTML report.
``truncate(text, n)``      at most n characters, with an ellipsis marker.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata

# ESC-based sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC
# (ESC P|X|^|_ ... ST), and two-character escapes (ESC + one char). C1 forms of CSI/OSC too.
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]          # CSI
  | \x9b[0-?]*[ -/]*[@-~]            # C1 CSI
  | (?:\x1b\]|\x9d).*?(?:\x07|\x1b\\|\x9c|$)      # OSC ... BEL/ST (or to the end)
  | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f]).*?(?:\x1b\\|\x9c|$)  # DCS/SOS/PM/APC ... ST
  | \x1b[ -/]*[0-~]?                 # other ESC sequences (and a lone ESC)
    """,
    re.VERBOSE | re.DOTALL,
)

# Bidi controls (embedding/override/isolate marks) and other invisible format characters
# that change how text reads without being seen.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff") | BIDI_CONTROLS

# Characters that start emphasis, code, links, tables or strikethrough anywhere in a line.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# Characters that only matter at the start of a line (headings, lists, quotes).
_MD_LEADING = re.compile(r"^(\s*)(#{1,6}(?=\s|$)|>|[+\-*](?=\s|$)|=+\s*$|\d{1,9}[.)](?=\s|$))")


def strip_escapes(text: str) -> str:
    """Remove terminal escape sequences (CSI, OSC, DCS, ...)."""
    return _ESCAPES.sub("", text)


def _visible(ch: str) -> str:
    o = ord(ch)
    if o < 0x20:
        return chr(0x2400 + o)  # Control Pictures block: ␀..␟
    if o == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{o:04X}>"


def clean(text: object) -> str:
    """Strip escapes; make control, bidi and invisible format characters visible."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = strip_escapes(text)
    text = text.replace("\r\n", "\n")
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch)
        elif ch in _INVISIBLE:
            out.append(_visible(ch))
        else:
            cat = unicodedata.category(ch)
            if cat == "Cc" or cat in ("Cs", "Co"):  # controls, lone surrogates, private use
                out.append(_visible(ch))
            elif ch in ("\u2028", "\u2029"):  # line/paragraph separators
                out.append("\n")
            else:
                out.append(ch)
    return "".join(out)


def md_inline(text: object, limit: int | None = None) -> str:
    """Literal text for a Markdown inline context (table cells, list items)."""
    s = clean(text)
    if limit is not None:
        s = truncate(s, limit)
    s = s.replace("\t", " ").replace("\n", " \u23ce ")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = _MD_LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), s)
    return s.replace("&", "&amp;").replace("<", "&lt;")


def md_block(text: object, limit: int | None = None, info: str = "text") -> str:
    """A fenced code block: Markdown and HTML inside it are never rendered."""
    s = clean(text)
    if limit is not None:
        s = truncate(s, limit)
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{s}\n{fence}"


def html(text: object) -> str:
    return _html.escape(clean(text), quote=True)


# Every character that could act on a terminal or change how text reads, and its visible stand-in:
# C0 controls (ESC included) -> Control Pictures, DEL -> ␡, C1 controls and bidi / zero-width format
# characters -> <U+XXXX>; newlines kept, tabs as four spaces, line / paragraph separators as newlines.
VISIBLE_TABLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c != 0x0A}
VISIBLE_TABLE[0x09] = "    "
VISIBLE_TABLE[0x7F] = "\u2421"
VISIBLE_TABLE.update({c: f"<U+{c:04X}>" for c in range(0x80, 0xA0)})
VISIBLE_TABLE.update({ord(ch): f"<U+{ord(ch):04X}>" for ch in _INVISIBLE})
VISIBLE_TABLE[0x2028] = "\n"
VISIBLE_TABLE[0x2029] = "\n"


def visible(text: object) -> str:
    """The text with every active character shown as a visible stand-in (nothing removed)."""
    s = text if isinstance(text, str) else ("" if text is None else str(text))
    return s.translate(VISIBLE_TABLE)


def html_literal(text: object) -> str:
    """Model text for an HTML page: ``visible`` (escape sequences shown, not obeyed), then escaped."""
    return _html.escape(visible(text), quote=True)


def truncate(text: str, n: int) -> str:
    if n <= 0 or len(text) <= n:
        return text
    return text[: max(0, n - 1)] + "\u2026"
