"""A run named on the command line: an id, a unique id prefix, ``latest``, a run directory's path, or a
plain TRL output folder (opened through its mirror, core.run.trl_folder). Above both rundir and trl_folder."""

from __future__ import annotations

import os
from pathlib import Path

from .rundir import RUN_JSON, RunDir, RunNotFound, list_runs, runs_root
from .trl_folder import FolderError, open_folder


def resolve_run(ref: str | os.PathLike[str]) -> RunDir:
    """A run from an id, a unique id prefix, ``latest``, or a path."""
    ref_s = str(ref)
    p = Path(ref_s).expanduser()
    if (p / RUN_JSON).is_file():
        return RunDir(p.resolve())
    root = runs_root()
    if ref_s == "latest":
        runs = list_runs()
        if not runs:
            raise RunNotFound("there are no runs yet -- start one with `grpo-tui run`")
        return runs[0]
    if (root / ref_s / RUN_JSON).is_file():
        return RunDir(root / ref_s)
    matches = [d for d in list_runs() if d.id.startswith(ref_s) or d.id.endswith(ref_s)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise RunNotFound(f"{ref_s!r} matches {len(matches)} runs ({', '.join(m.id for m in matches[:3])}...)")
    if p.exists():
        try:  # a plain TRL output folder reads as a run through its mirror (core.run.trl_folder)
            return open_folder(p).run
        except FolderError as exc:
            raise RunNotFound(str(exc)) from None
    raise RunNotFound(f"no run {ref_s!r} under {root} -- see `grpo-tui runs`")
