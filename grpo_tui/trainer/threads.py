"""How many threads torch gets in a CPU run: the cores free when the trainer starts.

torch starts one OpenMP thread per core. On a machine where other jobs already keep the cores busy,
those threads spin waiting for each other: measured on this project's shared 2-core machine, the
same generation cost 150 CPU-seconds with torch's 2 threads instead of 32 with one, and a step ran
5x slower (docs/trainer.md). So a CPU run takes the cores that are free at launch: the threads
runnable right now (Linux's /proc/loadavg, sampled over half a second) subtracted from the usable
cores, rounded, at least one. Not the 1-minute load average alone: it lags, so a run launched just
after another ended took one thread of two idle cores for its whole length (measured here: 2.2
one-minute load on a machine idle for 10 s). The load average is the fallback where /proc is not.
``OMP_NUM_THREADS`` set by the user wins. Chosen before torch is imported (torch reads
``OMP_NUM_THREADS`` when it starts), and said in the run's events (``run_started.hardware`` and
one log line) and so in trainer.log.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.planning.cpu_speed import usable_cores

ENV = "OMP_NUM_THREADS"
PROC_LOADAVG = Path("/proc/loadavg")


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    cores: int
    load: float | None  # threads other jobs keep runnable at launch (or the 1-minute load average)
    by_user: bool
    measured: str = "runnable now"  # or "load average", where /proc/loadavg cannot be read

    def line(self) -> str:
        if self.by_user:
            return f"torch threads: {self.threads} (OMP_NUM_THREADS set in the environment; {self.cores} cores)"
        load = "unknown" if self.load is None else f"{self.load:.1f}"
        what = "other threads runnable" if self.measured == "runnable now" else "load average"
        return (f"torch threads: {self.threads} of {self.cores} cores ({what} {load} at launch: "
                f"the cores other jobs leave free; more threads than free cores spin and slow a step)")

    def payload(self) -> dict:
        return {"torch_threads": self.threads, "usable_cores": self.cores, "load_at_launch": self.load,
                "load_measured": self.measured, "threads_by_user": self.by_user}


def free_cores(cores: int, load: float | None) -> int:
    """Cores not busy with other jobs: cores - load, rounded, between 1 and ``cores``."""
    if load is None:
        return cores
    return max(1, min(cores, int(cores - load + 0.5)))


def runnable_now(samples: int = 10, every: float = 0.05, path: Path | None = None) -> float | None:
    """Threads of other processes runnable now: the kernel's count of running tasks (/proc/loadavg's
    fourth field, "running/total"), averaged over ``samples`` reads and less the one reading it; None
    where the file cannot be read (not Linux)."""
    path = path or PROC_LOADAVG
    seen = []
    for i in range(samples):
        try:
            seen.append(int(path.read_text().split()[3].split("/")[0]))
        except (OSError, IndexError, ValueError):
            return None
        if i + 1 < samples:
            time.sleep(every)
    return max(0.0, sum(seen) / len(seen) - 1)


def choose(env: dict[str, str] | None = None, cores: int | None = None, load: float | None = -1.0) -> ThreadChoice:
    env = os.environ if env is None else env
    cores = cores or usable_cores()
    measured = "runnable now"
    if load == -1.0:
        load = runnable_now()
        if load is None:
            measured = "load average"
            try:
                load = os.getloadavg()[0]
            except (AttributeError, OSError):
                load = None
    if load is not None:
        load = round(load, 2)  # one value for the log line and the event payload
    raw = (env.get(ENV) or "").strip()
    if raw.isdigit() and int(raw) > 0:
        return ThreadChoice(int(raw), cores, load, by_user=True, measured=measured)
    return ThreadChoice(free_cores(cores, load), cores, load, by_user=False, measured=measured)


def apply(choice: ThreadChoice) -> None:
    """Before torch is imported: torch sizes its OpenMP pool from OMP_NUM_THREADS."""
    os.environ[ENV] = str(choice.threads)
    os.environ.setdefault("MKL_NUM_THREADS", str(choice.threads))
