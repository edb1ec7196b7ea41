"""Wall and CPU seconds of one call, for the benches that print both (a shared machine's load moves
the wall time; the CPU time of a one-thread run is the steadier figure)."""

from __future__ import annotations

import time


def timed(fn):
    """``(fn(), wall seconds, CPU seconds of this process)``."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0
