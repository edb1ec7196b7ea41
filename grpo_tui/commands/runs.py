"""`grpo-tui runs`: list runs, newest first."""

from __future__ import annotations

import time


def add_arguments(parser, name: str) -> None:
    parser.add_argument("--limit", type=int, default=50, help="show at most this many runs (default 50)")


def _r(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..core.rundir import iter_summaries, runs_root

    table = Table(title=None, box=None, header_style="bold")
    for col in ("id", "preset", "model", "state", "step", "started", "best reward", "first-30 -> last-30", "eval"):
        table.add_column(col, no_wrap=True)
    n = 0
    for s in iter_summaries():
        if n >= args.limit:
            break
        n += 1
        started = s.started or s.created
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "-"
        style = {"completed": "green", "training": "cyan", "paused": "yellow", "stopped": "yellow",
                 "failed": "red", "crashed": "red"}.get(s.state, "")
        window = "-" if s.first_window_reward is None else f"{_r(s.first_window_reward)} -> {_r(s.last_window_reward)}"
        preset = f"{s.preset} ({s.source})" if s.source else s.preset  # a user's script or a TRL folder
        table.add_row(Text(s.id), Text(preset), Text(s.model), Text(s.state, style=style),
                      f"{s.step}/{s.max_steps or '?'}", when, _r(s.best_reward), window, s.eval_line() or "-")
    import sys

    # Piped output (scripts, tests) is not cut to 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=220)
    if n == 0:
        console.print(f"no runs yet under {runs_root()} -- start one with `grpo-tui run --preset cpu-tiny`")
        return 0
    console.print(table)
    return 0
