"""The set-up shared by the benches that measure our hooks' cost on a real GRPO run in one process
(callback_overhead: the trainer's own callback; watch_overhead: ``grpo_tui.watch(trainer)``).

* ``step_clock(hooks)``: a TrainerCallback timing steps 6..N in wall and process CPU time (the first steps
  warm caches up), and the time inside our hooks over those same steps;
* ``HookTimer``: time spent inside our callback's methods and the sample capture on the loop's thread;
* ``abba(rounds, one)``: alternate the runs without and with hooks, ABBA: the later run of a round is
  systematically slower (allocator / cache state), so alternating which goes first keeps that out of
  the ratio;
* ``medians``: the median wall and CPU steps/s of each side.

Not a benchmark: run_all skips names starting with "_".
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

# one run's figures: (wall steps/s, CPU steps/s, share of the run's CPU time inside our hooks,
# share of the run's wall time inside our hooks)
Figures = tuple[float, float, float, float]
CALLBACK_METHODS = ("on_train_begin", "on_log", "on_step_end", "on_save")


def step_clock(hooks: "HookTimer | None" = None) -> Any:
    """Times steps 6..N; with ``hooks``, also the time spent inside them over the same steps (the
    share of the whole ``train()`` call would count its set-up, which has no hooks, and understate it)."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.t0 = self.t1 = self.c0 = self.c1 = None
            self.h0 = self.h1 = (0.0, 0.0)
            self.n = 0

        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 5:
                self.t0, self.c0 = time.perf_counter(), time.process_time()
                self.h0 = (hooks.wall, hooks.cpu) if hooks else (0.0, 0.0)
            elif state.global_step > 5:
                self.t1, self.c1 = time.perf_counter(), time.process_time()
                self.h1 = (hooks.wall, hooks.cpu) if hooks else (0.0, 0.0)
                self.n += 1

        def rates(self) -> tuple[float, float]:
            """(wall steps/s, CPU steps/s) over steps 6..N."""
            return self.n / (self.t1 - self.t0), self.n / (self.c1 - self.c0)

        def shares(self) -> tuple[float, float]:
            """(share of CPU time, share of wall time) inside the hooks over steps 6..N."""
            return (self.h1[1] - self.h0[1]) / (self.c1 - self.c0), (self.h1[0] - self.h0[0]) / (self.t1 - self.t0)

    return Clock()


class HookTimer:
    """Wraps our callback's methods and its capture's work to add up the time spent inside them.

    ``wall``: what the training loop waits for (the hooks run on its thread), the overhead a user
    feels. ``cpu``: process CPU time, all threads, while inside them: with torch's OpenMP workers
    spinning on the other cores meanwhile, it counts each hook about twice on 2 cores (2026-12-01).
    """

    def __init__(self) -> None:
        self.cpu = 0.0
        self.wall = 0.0

    def reset(self) -> None:
        self.cpu = self.wall = 0.0

    def timed(self, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            t, w = time.process_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu += time.process_time() - t
                self.wall += time.perf_counter() - w
        return wrapper

    def instrument(self, cb: Any) -> None:
        for name in CALLBACK_METHODS:
            setattr(cb, name, self.timed(getattr(cb, name)))
        if cb.capture is not None:  # the capture's own work, around TRL's generation
            cb.capture._collect = self.timed(cb.capture._collect)
            cb.capture._token_facts = self.timed(cb.capture._token_facts)


def abba(rounds: int, one: Callable[[bool], Figures],
         after_round: Callable[[int, Figures, Figures], None]) -> tuple[list[Figures], list[Figures]]:
    """``one(hooked)`` per side, ABBA over ``rounds``; ``after_round(r, base, hooked)`` prints a round."""
    base: list[Figures] = []
    hooked: list[Figures] = []
    for r in range(rounds):
        for with_hooks in ((False, True) if r % 2 == 0 else (True, False)):
            (hooked if with_hooks else base).append(one(with_hooks))
        after_round(r + 1, base[-1], hooked[-1])
    return base, hooked


def medians(runs: list[Figures]) -> tuple[float, float]:
    """(median wall steps/s, median CPU steps/s)."""
    return statistics.median(x[0] for x in runs), statistics.median(x[1] for x in runs)
