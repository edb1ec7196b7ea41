"""The start screen's run list, kept current by reading only what each run appended.

``rundir.summarize`` folds a run's whole event log; doing that for every run
every few seconds would re-read a 100,000-step log each time. Here each run
keeps its ``EventReader`` (which remembers its offset) and ``RunFolder``, so a
refresh costs one ``stat`` and the new lines. Used from one worker at a time.
"""

from __future__ import annotations

import dataclasses

from ..core import events as ev
from ..core.rundir import RunFolder, RunSummary, list_runs

# what RunFolder folds; samples and alerts are not needed for a list row
FOLDED = (ev.RUN_STARTED, ev.PHASE, ev.METRICS, ev.CONTROL, ev.EVAL, ev.FINISHED)


class RunsIndex:
    def __init__(self) -> None:
        self._runs: dict[str, tuple[ev.EventReader, RunFolder]] = {}

    def refresh(self) -> list[RunSummary]:
        """Every run, newest first, with the liveness check applied to a copy."""
        out: list[RunSummary] = []
        seen: set[str] = set()
        for run in list_runs():
            seen.add(run.id)
            entry = self._runs.get(run.id)
            if entry is None:
                entry = (ev.EventReader(run.events, types=FOLDED), RunFolder(run))
                self._runs[run.id] = entry
            reader, folder = entry
            folder.feed(reader.read_new())
            s = folder.summary
            # check_alive() may mark the folded summary crashed; keep the fold itself pristine so that
            # later events (a resume) are folded onto what the log says, not onto our verdict.
            saved = (s.state, s.log_tail)
            folder.check_alive()
            out.append(dataclasses.replace(s, rewards_seen=[], log_tail=list(s.log_tail)))
            s.state, s.log_tail = saved
        for gone in set(self._runs) - seen:
            del self._runs[gone]
        return out
