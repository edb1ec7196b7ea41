"""`grpo-tui attach RUN`: follow a run (the app; `--headless` for the plain progress view).

`grpo-tui open PATH` (and `attach PATH`) also takes a plain TRL output folder: it is read through its
mirror (core.run.trl_folder), kept current while the view is open, read-only.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser, name: str) -> None:
    if name == "open":
        parser.add_argument("run", metavar="PATH", help="a TRL output folder (or a grpo-tui run directory)")
    else:
        parser.add_argument("run", nargs="?", default="latest",
                            help="run id, unique prefix, path, a TRL output folder, or 'latest'")
    parser.add_argument("--headless", action="store_true", help="plain progress view instead of the app")


def follow_run(run_dir, headless: bool) -> int:
    if not headless:
        try:
            from ..tui.entry import run_app

            return int(run_app(attach=str(run_dir.path)) or 0)
        except (ImportError, NotImplementedError):
            print("the app is not available here; showing the plain progress view", file=sys.stderr)
    from ..headless import follow

    return follow(run_dir)


def open_folder_view(path: Path, headless: bool) -> int:
    """A TRL output folder: its metrics mirrored now (fast), its completions files by a follower thread
    that keeps the mirror current while the view is open."""
    from ..core.run.trl_folder import Follower, FolderError, open_folder
    from ..errors import UserError

    try:
        opened = open_folder(path, samples_budget=0)
    except FolderError as exc:
        raise UserError(str(exc)) from None
    if opened.pending:
        print(f"grpo-tui: {opened.pending} (shown once TRL has written it)", file=sys.stderr)
    follower = Follower(opened).start()
    try:
        return follow_run(opened.run, headless)
    finally:
        follower.stop()


def run(args) -> int:
    from ..core.run.rundir import RUN_JSON
    from ..core.run.run_ref import resolve_run
    from ..core.run.trl_folder import looks_like

    path = Path(args.run).expanduser()
    if not (path / RUN_JSON).is_file() and (args.command == "open" or looks_like(path)):
        return open_folder_view(path, args.headless)
    return follow_run(resolve_run(args.run), headless=args.headless)
