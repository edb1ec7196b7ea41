"""Line charts as inline SVG text: no script, no network, readable in any browser or mail viewer.

``line_chart(lines, ...)`` draws x/y series (already downsampled by ``core.reading.monitor.Series``: one
point per bucket plus the raw tail) as one ``<path>`` each; a line's ``lo`` / ``hi`` (the buckets'
min and max) draw as a faint band behind it, so a spike folded into a bucket still shows. Marks
are vertical rules at an x (alerts, stalls, settings changes) with a ``<title>`` tooltip; ``hlines``
are horizontal rules (a length cap, a planned memory figure).

Colours are CSS classes (``s0``..``s7``, ``m-critical`` ...) so the page's stylesheet decides them
for light and dark. Every text that reaches the markup (titles, labels, tooltips) is HTML-escaped
through ``core.util.sanitize.html_literal``: a reward function's or alert's name is data, never markup.
Headless, stdlib only.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

from ..util.sanitize import html_literal as esc
from ..util.sanitize import truncate

WIDTH, HEIGHT = 640, 220
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 10, 26
COLOURS = 8  # s0..s7 in the stylesheet
MARK_PX = 4  # at most one mark of a kind per this many pixels
MARK_TEXT = 240  # characters of a mark's tooltip
MAX_POINTS = 400  # per line: below one point per pixel column of the plot area
_ids = itertools.count(1)  # clip-path ids, unique within a page


@dataclass
class Line:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    lo: Sequence[float] | None = None  # per-point minimum (a bucket's), drawn as a band with hi
    hi: Sequence[float] | None = None
    colour: int = 0  # index into s0..s7
    dashed: bool = False
    bold: bool = False


@dataclass
class Mark:
    x: float
    kind: str  # alert-warning, alert-critical, stall, settings, ... (a CSS class m-<kind>)
    text: str  # the tooltip
    x_end: float | None = None  # a span (a stall from x to x_end)


@dataclass
class HLine:
    y: float
    label: str
    kind: str = "cap"


@dataclass
class Axis:
    x0: float
    x1: float
    y0: float
    y1: float
    w: int = WIDTH
    h: int = HEIGHT
    _sx: float = field(init=False, default=1.0)
    _sy: float = field(init=False, default=1.0)

    def __post_init__(self) -> None:
        self._sx = (self.w - PAD_L - PAD_R) / (self.x1 - self.x0)
        self._sy = (self.h - PAD_T - PAD_B) / (self.y1 - self.y0)

    def px(self, x: float) -> float:
        return PAD_L + (x - self.x0) * self._sx

    def py(self, y: float) -> float:
        return self.h - PAD_B - (y - self.y0) * self._sy


def downsample(xs: Sequence[float], ys: Sequence[float], lo: Sequence[float] | None = None,
               hi: Sequence[float] | None = None, n: int = MAX_POINTS
               ) -> tuple[list[float], list[float], list[float], list[float]]:
    """At most ``n`` points: consecutive points merged into equal buckets keeping the mean x and y and
    the extremes (the min of ``lo`` and max of ``hi``, or of ``ys`` where those are not given), so a
    spike survives as the band's edge however long the run."""
    lo = ys if lo is None else lo
    hi = ys if hi is None else hi
    m = len(ys)
    if m <= n:
        return list(xs), list(ys), list(lo), list(hi)
    ox: list[float] = []
    oy: list[float] = []
    olo: list[float] = []
    ohi: list[float] = []
    for b in range(n):
        i, j = b * m // n, (b + 1) * m // n
        if j <= i:
            continue
        fy = [y for y in ys[i:j] if math.isfinite(y)]
        ox.append(sum(xs[i:j]) / (j - i))
        oy.append(sum(fy) / len(fy) if fy else math.nan)
        fl = [v for v in lo[i:j] if math.isfinite(v)]
        fh = [v for v in hi[i:j] if math.isfinite(v)]
        olo.append(min(fl) if fl else math.nan)
        ohi.append(max(fh) if fh else math.nan)
    return ox, oy, olo, ohi


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    out = []
    v = start
    while v <= hi + step * 1e-9 and len(out) < 50:
        out.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return out


def tick_text(v: float) -> str:
    a = abs(v)
    if v == 0:
        return "0"
    if a >= 1e5 or a < 1e-3:
        return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")
    if a >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:.4g}"


def _finite_pairs(xs: Sequence[float], ys: Sequence[float]):
    for x, y in zip(xs, ys):
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isfinite(x) and math.isfinite(y):
            yield float(x), float(y)


def _path(ax: Axis, xs: Sequence[float], ys: Sequence[float]) -> str:
    """A polyline's ``d``; a non-finite value breaks the line (a new ``M``)."""
    parts: list[str] = []
    pen_down = False
    for x, y in zip(xs, ys):
        if not (isinstance(y, (int, float)) and math.isfinite(y) and isinstance(x, (int, float)) and math.isfinite(x)):
            pen_down = False
            continue
        parts.append(("L" if pen_down else "M") + f"{ax.px(x):.1f},{ax.py(y):.1f}")
        pen_down = True
    if len(parts) == 1:  # one point: a tiny stroke so it is seen
        parts.append("h0.1")
    return "".join(parts)


def _band(ax: Axis, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> str:
    pts = [(x, a, b) for x, a, b in zip(xs, lo, hi)
           if all(isinstance(v, (int, float)) and math.isfinite(v) for v in (x, a, b))]
    if len(pts) < 2:
        return ""
    top = "".join(("M" if i == 0 else "L") + f"{ax.px(x):.1f},{ax.py(b):.1f}" for i, (x, _a, b) in enumerate(pts))
    bottom = "".join(f"L{ax.px(x):.1f},{ax.py(a):.1f}" for x, a, _b in reversed(pts))
    return top + bottom + "Z"


def _limits(lines: Sequence[Line], hlines: Sequence[HLine], ylimits: tuple[float | None, float | None] | None
            ) -> tuple[float, float, float, float] | None:
    xs: list[float] = []
    ys: list[float] = []
    for ln in lines:
        for x, y in _finite_pairs(ln.xs, ln.ys):
            xs.append(x)
            ys.append(y)
        for band in (ln.lo, ln.hi):
            if band is not None:
                ys.extend(y for _x, y in _finite_pairs(ln.xs, band))
    if not xs:
        return None
    ys.extend(h.y for h in hlines if math.isfinite(h.y))
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if ylimits:
        y0 = ylimits[0] if ylimits[0] is not None else y0
        y1 = ylimits[1] if ylimits[1] is not None else y1
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 <= y0:  # a flat series: an axis around it (from a fixed floor when there is one: 0 stays 0)
        pad = abs(y0) * 0.1 or 1.0
        fixed_floor = bool(ylimits and ylimits[0] is not None)
        y0, y1 = (y0 if fixed_floor else y0 - pad), y0 + pad
    else:
        pad = (y1 - y0) * 0.05
        y0, y1 = (y0 - pad if not (ylimits and ylimits[0] is not None) else y0), y1 + pad
    return x0, x1, y0, y1


def line_chart(lines: Sequence[Line], *, title: str, marks: Sequence[Mark] = (), hlines: Sequence[HLine] = (),
               ylimits: tuple[float | None, float | None] | None = None, xlabel: str = "step",
               width: int = WIDTH, height: int = HEIGHT, empty: str = "not recorded") -> str:
    """One ``<svg>`` element (a ``<figure>`` is the caller's). With no finite point: a labelled
    empty frame saying ``empty``, so a reader sees the chart is missing, not broken. An x axis of
    steps gets whole-number ticks only."""
    lim = _limits(lines, hlines, ylimits)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>']
    if lim is None:
        out.append(f'<rect class="frame" x="{PAD_L}" y="{PAD_T}" width="{width - PAD_L - PAD_R}" '
                   f'height="{height - PAD_T - PAD_B}"/><text class="empty" x="{width / 2:.0f}" '
                   f'y="{height / 2:.0f}" text-anchor="middle">{esc(empty)}</text></svg>')
        return "".join(out)
    ax = Axis(*lim, w=width, h=height)
    out.append(f'<rect class="frame" x="{PAD_L}" y="{PAD_T}" width="{width - PAD_L - PAD_R}" '
               f'height="{height - PAD_T - PAD_B}"/>')
    for v in nice_ticks(ax.y0, ax.y1):
        y = ax.py(v)
        out.append(f'<path class="grid" d="M{PAD_L},{y:.1f}H{width - PAD_R}"/>'
                   f'<text class="tick" x="{PAD_L - 4}" y="{y + 3:.1f}" text-anchor="end">{tick_text(v)}</text>')
    for v in nice_ticks(ax.x0, ax.x1, 6):
        if xlabel == "step" and v != int(v):  # a 4-step run: ticks 1, 2, 3, 4, never 1.5
            continue
        x = ax.px(v)
        out.append(f'<path class="grid" d="M{x:.1f},{PAD_T}V{height - PAD_B}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{height - PAD_B + 13}" text-anchor="middle">'
                   f'{tick_text(v)}</text>')
    out.append(f'<text class="tick" x="{width - PAD_R}" y="{height - 2}" text-anchor="end">{esc(xlabel)}</text>')
    # marks first, so the lines draw over them
    # one mark per kind per MARK_PX columns: thousands of alerts cost what a screenful does
    shown: dict[tuple[str, int], list] = {}
    for mk in marks:
        if not math.isfinite(mk.x) or mk.x > ax.x1 or (mk.x_end if mk.x_end is not None else mk.x) < ax.x0:
            continue
        x = ax.px(max(mk.x, ax.x0))
        key = (mk.kind, int(x // MARK_PX))
        if key in shown:
            shown[key][1] += 1
            if mk.x_end is not None:
                shown[key][0].x_end = max(shown[key][0].x_end or mk.x_end, mk.x_end)
            continue
        shown[key] = [Mark(mk.x, mk.kind, mk.text, mk.x_end), 0, x]
    for mk, more, x in shown.values():
        cls = "m-" + "".join(c for c in mk.kind if c.isalnum() or c == "-")
        tip = esc(truncate(mk.text, MARK_TEXT) + (f" (and {more} more here)" if more else ""))
        if mk.x_end is not None and mk.x_end > mk.x:
            x2 = ax.px(min(mk.x_end, ax.x1))
            out.append(f'<rect class="span {cls}" x="{x:.1f}" y="{PAD_T}" width="{max(1.0, x2 - x):.1f}" '
                       f'height="{height - PAD_T - PAD_B}"><title>{tip}</title></rect>')
        else:
            out.append(f'<path class="mark {cls}" d="M{x:.1f},{PAD_T}V{height - PAD_B}"><title>{tip}</title></path>')
    for h in hlines:
        if not (ax.y0 <= h.y <= ax.y1):
            continue
        y = ax.py(h.y)
        cls = "h-" + "".join(c for c in h.kind if c.isalnum() or c == "-")
        out.append(f'<path class="hline {cls}" d="M{PAD_L},{y:.1f}H{width - PAD_R}"><title>{esc(h.label)}</title>'
                   f'</path><text class="hlabel {cls}" x="{width - PAD_R - 3}" y="{y - 3:.1f}" text-anchor="end">'
                   f'{esc(h.label)}</text>')
    clip = f"clip{next(_ids)}"
    out.append(f'<clipPath id="{clip}"><rect x="{PAD_L}" y="{PAD_T}" width="{width - PAD_L - PAD_R}" '
               f'height="{height - PAD_T - PAD_B}"/></clipPath><g clip-path="url(#{clip})">')
    for ln in lines:
        colour = f"s{ln.colour % COLOURS}"
        if ln.lo is not None and ln.hi is not None:
            d = _band(ax, ln.xs, ln.lo, ln.hi)
            if d:
                out.append(f'<path class="band {colour}" d="{d}"/>')
        d = _path(ax, ln.xs, ln.ys)
        if d:
            extra = (" dashed" if ln.dashed else "") + (" bold" if ln.bold else "")
            out.append(f'<path class="line {colour}{extra}" d="{d}"><title>{esc(ln.label)}</title></path>')
    out.append("</g></svg>")
    return "".join(out)


def legend(lines: Sequence[Line], values: Sequence[str] | None = None) -> str:
    """An HTML legend: one swatch + label (+ a figure) per line."""
    items = []
    for i, ln in enumerate(lines):
        fig = f' <span class="fig">{esc(values[i])}</span>' if values and i < len(values) and values[i] else ""
        items.append(f'<span class="key"><svg width="18" height="8"><path class="line s{ln.colour % COLOURS}'
                     f'{" dashed" if ln.dashed else ""}" d="M1,4H17"/></svg>{esc(ln.label)}{fig}</span>')
    return '<div class="legend">' + "".join(items) + "</div>"
