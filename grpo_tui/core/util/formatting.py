"""Numbers and durations as people read them: one way each, shared by the screens, the report and the
command-line views. Anything that is not a finite number (None, NaN, infinities, bools, strings) shows
as the missing mark, never as "nan" or a traceback.
"""

from __future__ import annotations

from typing import Any

from .numbers import finite

MISSING = "–"


def duration(seconds: Any, *, full: bool = False) -> str:
    """'45s', '3m10s', '1h02m', '2d03h': the two largest units (under a minute, seconds alone).
    ``full``: hours, minutes and seconds, spaced ('1h 02m 03s', '3m 10s'), for the report.
    Negative times (clock skew between processes) read as 0."""
    s = finite(seconds)
    if s is None:
        return MISSING
    s = max(0, int(round(s)) if not full else int(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if full:
        return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"
    if h >= 24:
        d, h = divmod(h, 24)
        return f"{d}d{h:02d}h"
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{sec:02d}s" if m else f"{sec}s"


def clock(seconds: Any) -> str:
    """A countdown as a clock: '3:10', '1:02:03' ('-:--' when unknown)."""
    s = finite(seconds)
    if s is None:
        return "-:--"
    s = max(0, int(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def short(v: Any, digits: int = 3) -> str:
    """Significant digits: '0.125', '1.5e+03' (rewards, advantages, alert figures)."""
    x = finite(v)
    return MISSING if x is None else f"{x:.{digits}g}"


def fixed(v: Any, digits: int = 3, *, missing: str = MISSING) -> str:
    """A fixed number of decimals: '0.500' (tables whose columns line up)."""
    x = finite(v)
    return missing if x is None else f"{x:.{digits}f}"


def percent(v: Any) -> str:
    """A fraction as a percentage with one decimal: 0.437 -> '43.7%'."""
    x = finite(v)
    return MISSING if x is None else f"{100 * x:.1f}%"


def scaled(v: Any) -> str:
    """A metric of any magnitude in a few cells: '0', '0.125', '3.5', '42.0', '1.23e+04', '5.00e-06'."""
    x = finite(v)
    if x is None:
        return MISSING
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1000 or a < 0.001:
        return f"{x:.2e}"
    return f"{x:.3g}" if a < 10 else f"{x:.1f}"


def rate(v: Any, unit: str) -> str:
    """A throughput: '0.25 steps/s', '42 tok/s', '1.5k tok/s'."""
    x = finite(v)
    if x is None:
        return f"{MISSING} {unit}"
    if x >= 1000:
        return f"{x / 1000:.1f}k {unit}"
    if x >= 10:
        return f"{x:.0f} {unit}"
    return f"{x:.2f} {unit}"
