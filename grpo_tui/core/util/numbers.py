"""Reading numbers from logs: a finite float, or None.

Event logs, TRL's log history and the trainer's ``logs`` dict hold ints, floats, bools, None, and
sometimes NaN or infinity (JSON has no NaN: the writer stores null). Every reader that wants "a
real number or nothing" goes through ``finite``.
"""

from __future__ import annotations

import math
from typing import Any


def finite(v: Any, *, bools: bool = False) -> float | None:
    """``v`` as a float when it is a finite int or float; None otherwise (NaN, infinities, None,
    strings, and bools unless ``bools``: TRL logs some flags as True/False)."""
    if isinstance(v, bool):
        return float(v) if bools else None
    if not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None
