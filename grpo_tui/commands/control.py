"""`grpo-tui pause|resume|stop|checkpoint RUN`: steer a run from any process.

The command is queued in the run directory and honoured at the next step
boundary; the trainer acknowledges it with a ``control`` event. Prints the
command id; ``--wait`` waits for the acknowledgement.
"""

from __future__ import annotations

import time


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, path, or 'latest'")
    parser.add_argument("--wait", action="store_true", help="wait until the trainer acknowledges it")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait with --wait (default 120)")


def wait_for_ack(run_dir, cid: str, timeout: float) -> dict | None:
    """The control event acknowledging ``cid``, or None (timeout / trainer gone)."""
    from ..core.run import events as ev
    from ..core.run.rundir import summarize

    reader = ev.EventReader(run_dir.events, types=[ev.CONTROL, ev.FINISHED])
    deadline = time.monotonic() + timeout
    last_check = 0.0
    while time.monotonic() < deadline:
        for e in reader.read_new():
            if e["type"] == ev.CONTROL and e.get("id") == cid:
                return e
        now = time.monotonic()
        if now - last_check > 2.0:
            last_check = now
            if not summarize(run_dir).live:
                for e in reader.read_new():
                    if e["type"] == ev.CONTROL and e.get("id") == cid:
                        return e
                return None
        time.sleep(0.2)
    return None


def live_run(ref: str, read_only: str, not_live: str):
    """The run ``ref`` names, when a trainer of it is alive to take a command; else a one-line UserError
    (``read_only``: why a TRL folder takes none; ``not_live``: what to do instead)."""
    from ..errors import UserError
    from ..core.run.run_ref import resolve_run
    from ..core.run.rundir import summarize

    run_dir = resolve_run(ref)
    s = summarize(run_dir)
    if s.source == "trl-folder":
        raise UserError(f"{ref} is a TRL output folder, read-only: {read_only}")
    if not s.live:
        raise UserError(f"run {run_dir.id} is {s.state}; {not_live}")
    return run_dir


def run(args) -> int:
    run_dir = live_run(args.run, "grpo-tui steers the runs it launched and scripts that call "
                                 "grpo_tui.watch(trainer)",
                       f"there is no trainer to {args.command}"
                       + (" (continue it with `grpo-tui run --resume RUN`)" if args.command == "resume" else ""))
    cid = run_dir.send_command(args.command)
    print(cid)
    if args.wait:
        ack = wait_for_ack(run_dir, cid, args.timeout)
        if ack is None:
            print(f"no acknowledgement within {args.timeout:g} s (the trainer takes commands at step boundaries)")
            return 1
        print(f"{args.command} acknowledged at step {ack.get('step')}: {ack.get('state')}")
    return 0
