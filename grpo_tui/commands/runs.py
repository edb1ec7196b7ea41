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

    from ..core.run.rundir import iter_summaries, runs_root
    from ..core.util.sanitize import clean

    table = Table(title=None, box=None, header_style="bold")
    for col in ("id", "preset", "model", "state", "step", "started", "best reward", "first-30 -> last-30", "eval",
                "changed"):
        table.add_column(col, no_wrap=True)
    n = 0
    stalled = []
    for s in iter_summaries():
        if n >= args.limit:
            break
        n += 1
        if s.stalled_since is not None:
            stalled.append(s)
        started = s.started or s.created
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "-"
        style = {"completed": "green", "training": "cyan", "paused": "yellow", "stopped": "yellow",
                 "failed": "red", "crashed": "red"}.get(s.state, "")
        window = "-" if s.first_window_reward is None else f"{_r(s.first_window_reward)} -> {_r(s.last_window_reward)}"
        state = Text(s.state, style=style)
        if s.stalled_since is not None:  # core.run.stall: live, but no progress for too long
            state = Text(f"{s.state}, {s.stall_line.split(' (')[0]}", style="bold red")
        preset = f"{s.preset} ({s.source})" if s.source else s.preset  # a user's script or a TRL folder
        run_id = Text(s.id)
        if s.fork_of:  # lineage: the parent run and the step it was forked at
            run_id.append(f"\n  fork of {s.fork_of}", style="dim")
        table.add_row(run_id, Text(preset), Text(s.model), state,
                      f"{s.step}/{s.max_steps or '?'}", when, _r(s.best_reward), window, s.eval_line() or "-",
                      Text(s.changes_line() or "-"))
    import sys

    # Piped output (scripts, tests) is not cut to 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=220)
    if n == 0:
        console.print(f"no runs yet under {runs_root()} -- start one with `grpo-tui run --preset cpu-tiny`")
        return 0
    console.print(table)
    for s in stalled:  # what the trainer said last, beside the verdict
        console.print(Text(f"\n{s.id}: {s.stall_line}; last lines of {s.path / 'trainer.log'}:", style="bold red"))
        for line in s.log_tail[-5:]:
            console.print(Text("  " + clean(line), style="dim"))
    return 0
