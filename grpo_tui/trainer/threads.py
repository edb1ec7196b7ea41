"""How many threads torch gets in a CPU run: the cores free when the trainer starts.

torch starts one OpenMP thread per core. On a machine where other jobs already keep the cores busy,
those threads spin waiting for each other: measured on this project's shared 2-core machine, the
same generation cost 150 CPU-seconds with torch's 2 threads instead of 32 with one, and a step ran
5x slower (docs/trainer.md). So a CPU run takes the cores that are free at launch (the 1-minute
load average subtracted from the usable cores, rounded, at least one); ``OMP_NUM_THREADS`` set by
the user wins. Chosen before torch is imported (torch reads ``OMP_NUM_THREADS`` when it starts),
and said in the run's events (``run_started.hardware`` and one log line) and so in trainer.log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..core.planning.cpu_speed import usable_cores

ENV = "OMP_NUM_THREADS"


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    cores: int
    load: float | None
    by_user: bool

    def line(self) -> str:
        if self.by_user:
            return f"torch threads: {self.threads} (OMP_NUM_THREADS set in the environment; {self.cores} cores)"
        load = "unknown" if self.load is None else f"{self.load:.1f}"
        return (f"torch threads: {self.threads} of {self.cores} cores (load average {load} at launch: "
                f"the cores other jobs leave free; more threads than free cores spin and slow a step)")

    def payload(self) -> dict:
        return {"torch_threads": self.threads, "usable_cores": self.cores, "load_at_launch": self.load,
                "threads_by_user": self.by_user}


def free_cores(cores: int, load: float | None) -> int:
    """Cores not busy with other jobs: cores - load, rounded, between 1 and ``cores``."""
    if load is None:
        return cores
    return max(1, min(cores, int(cores - load + 0.5)))


def choose(env: dict[str, str] | None = None, cores: int | None = None, load: float | None = -1.0) -> ThreadChoice:
    env = os.environ if env is None else env
    cores = cores or usable_cores()
    if load == -1.0:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = None
    if load is not None:
        load = round(load, 2)  # one value for the log line and the event payload
    raw = (env.get(ENV) or "").strip()
    if raw.isdigit() and int(raw) > 0:
        return ThreadChoice(int(raw), cores, load, by_user=True)
    return ThreadChoice(free_cores(cores, load), cores, load, by_user=False)


def apply(choice: ThreadChoice) -> None:
    """Before torch is imported: torch sizes its OpenMP pool from OMP_NUM_THREADS."""
    os.environ[ENV] = str(choice.threads)
    os.environ.setdefault("MKL_NUM_THREADS", str(choice.threads))
