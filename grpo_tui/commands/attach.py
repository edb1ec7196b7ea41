"""`grpo-tui attach RUN`: follow a run (the app; `--headless` for the plain progress view)."""

from __future__ import annotations

import sys


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, path, or 'latest'")
    parser.add_argument("--headless", action="store_true", help="plain progress view instead of the app")


def follow_run(run_dir, headless: bool) -> int:
    if not headless:
        try:
            from ..tui.entry import run_app

            return int(run_app(attach=run_dir.id) or 0)
        except (ImportError, NotImplementedError):
            print("the app is not available here; showing the plain progress view", file=sys.stderr)
    from ..headless import follow

    return follow(run_dir)


def run(args) -> int:
    from ..core.rundir import resolve_run

    return follow_run(resolve_run(args.run), headless=args.headless)
