"""core.util.sanitize: untrusted model text is shown literally, never interpreted."""

from __future__ import annotations

from grpo_tui.core.util import sanitize as sz


def test_strips_terminal_escapes():
    evil = "a\x1b[31mred\x1b[0m b\x1b]0;pwned title\x07c \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ d\x1bPq#0\x1b\\e\x9b2J"
    out = sz.clean(evil)
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out
    assert out == "ared b" + "c link d" + "e"


def test_controls_and_bidi_made_visible():
    out = sz.clean("x\x00y\x08z\u202eevil\u2066\u200b\rq\tw\nnext")
    assert out == "x\u2400y\u2408z<U+202E>evil<U+2066><U+200B>\u240dq\tw\nnext"
    assert sz.clean(None) == "" and sz.clean(42) == "42"


def test_md_inline_escapes_markdown_and_html():
    out = sz.md_inline("**bold** <script>alert(1)</script> | [x](http://e) `c`\nline2 &amp;")
    assert "<script" not in out and "&lt;script>" in out
    assert "\\*\\*bold\\*\\*" in out and "\\|" in out and "\\[x\\](http://e)" in out
    assert "\n" not in out and "&amp;amp;" in out


def test_md_block_fence_cannot_be_closed_from_inside():
    text = "before\n````\n# not a heading\n<b>x</b>\n"
    block = sz.md_block(text)
    fence = block.split("\n", 1)[0].rstrip("text")
    assert len(fence) == 5 and block.endswith("\n" + fence)
    assert block.count(fence) == 2  # only the opening and the closing fence


def test_truncate_and_html():
    assert sz.truncate("abcdef", 4) == "abc\u2026" and sz.truncate("ab", 4) == "ab"
    assert sz.html('<a href="x">\x1b[1m') == "&lt;a href=&quot;x&quot;&gt;"


def test_md_inline_escapes_line_starts_only_where_needed():
    assert sz.md_inline("# title") == "\\# title"
    assert sz.md_inline("- item") == "\\- item" and sz.md_inline("1. item") == "\\1. item"
    assert sz.md_inline("> quote") == "\\> quote"
    assert sz.md_inline("a-b 1.5 (x) #3") == "a-b 1.5 (x) #3"
    assert sz.md_inline("0.5") == "0.5" and sz.md_inline("-0.1") == "-0.1" and sz.md_inline("#3") == "#3"
    assert sz.md_inline("===") == "\\==="
