"""The plain progress view (`grpo-tui run --headless`, `grpo-tui attach --headless`).

Follows a run directory's event log with rich.progress: phase while loading,
then step/total, reward, mean completion length, steps/s and ETA. Ends with a
summary (first-30 vs last-30 mean total reward against the maximum possible).
Ctrl-C detaches: the trainer keeps going and the re-attach command is printed.
Exit code: 0 for completed/stopped, 1 for failed/crashed.
"""

from __future__ import annotations

import time
from collections import deque

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from .core.run import events as ev
from .core.run import metric_names as M
from .core.util.formatting import clock, fixed
from .core.run.rundir import COMPLETED, CRASHED, STOPPED, RunDir, RunSummarizer
from .core.util.sanitize import clean

POLL_S = 0.25
ALIVE_CHECK_S = 2.0


def follow(run: RunDir, console: Console | None = None, *, poll: float = POLL_S) -> int:
    console = console or Console()
    reader = ev.EventReader(run.events)
    folder = RunSummarizer(run)
    try:
        max_reward = run.info().get("max_reward")
    except (OSError, ValueError):
        max_reward = None
    recent: deque[tuple[float, int]] = deque(maxlen=30)  # (ts, step) of metrics events
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("reward {task.fields[reward]}  len {task.fields[length]}  "
                   "{task.fields[rate]} steps/s  ETA {task.fields[eta]}"),
        console=console, transient=False, auto_refresh=False,
    )
    total = folder.summary.max_steps or None
    task = progress.add_task("launching", total=total, reward="-", length="-", rate="-", eta="-:--")
    last_alive_check = 0.0
    stall_shown: float | None = None  # the stall already printed (core.run.stall), once per stall
    problems_reported = False
    try:
        with progress:
            while True:
                events = reader.read_new()
                folder.feed(events)
                s = folder.summary
                for e in events:
                    t = e["type"]
                    if t == ev.PHASE:
                        desc = str(e.get("name", ""))
                        if e.get("total") and e.get("name") != "training":
                            desc += f" {e.get('current') or 0}/{e['total']}"
                        progress.update(task, description=escape(desc))
                    elif t == ev.RUN_STARTED:
                        if e.get("max_steps"):
                            progress.update(task, total=int(e["max_steps"]))
                        if e.get("resumed_from"):
                            progress.console.print(f"resumed from {escape(str(e['resumed_from']))}")
                    elif t == ev.METRICS:
                        m = e.get("metrics") or {}
                        recent.append((float(e.get("ts", time.time())), int(e.get("step", 0))))
                        rate = None
                        if len(recent) >= 2 and recent[-1][0] > recent[0][0]:
                            rate = (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])
                        remaining = max(0, (s.max_steps or 0) - int(e.get("step", 0)))
                        progress.update(
                            task, completed=int(e.get("step", 0)), description="training",
                            reward=fixed(m.get(M.REWARD), missing="-"), length=fixed(m.get(M.MEAN_LENGTH), 1, missing="-"),
                            rate=fixed(rate, 2, missing="-"), eta=clock(remaining / rate if rate else None),
                        )
                    elif t == ev.CONTROL:
                        progress.console.print(
                            f"{escape(str(e.get('command')))} acknowledged at step {e.get('step')}: "
                            f"{escape(str(e.get('state')))}"
                            + (f" -- refused: {escape(str(e['error']))}" if e.get("error") else ""))
                        if e.get("state") == "paused":
                            progress.update(task, description="paused")
                    elif t == ev.SETTINGS_CHANGED and isinstance(e.get("changes"), dict):
                        from .core.run.live_settings import describe

                        again = " (re-applied on resume)" if e.get("resumed") else ""
                        progress.console.print(f"settings changed at step {e.get('step')}{again}: "
                                               f"{escape(describe(e['changes']))}")
                    elif t == ev.CHECKPOINT:
                        progress.console.print(f"{e.get('kind')} saved: {escape(str(e.get('path')))}")
                    elif t == ev.ALERT:
                        progress.console.print(f"[yellow]alert[/]: {escape(str(e.get('message')))}")
                    elif t == ev.EVAL and isinstance(e.get("accuracy"), (int, float)):
                        progress.console.print(
                            f"held-out accuracy ({escape(str(e.get('when')))}): {100 * e['accuracy']:.1f}% "
                            f"({e.get('correct', '?')}/{e.get('n', '?')}) on {escape(str(e.get('name')))}")
                if not problems_reported and reader.stats.problems():
                    progress.console.print(f"[yellow]note[/]: {escape(reader.stats.problems() or '')}")
                    problems_reported = True
                progress.refresh()
                if folder.finished:
                    break
                now = time.monotonic()
                if not events and now - last_alive_check > ALIVE_CHECK_S:
                    last_alive_check = now
                    s = folder.check_alive()
                    if s.state == CRASHED:
                        break
                    if s.stalled_since is not None and s.stalled_since != stall_shown:
                        stall_shown = s.stalled_since
                        progress.console.print(f"[bold red]{escape(s.stall_line)}[/]; last lines of trainer.log:")
                        for line in s.log_tail[-5:]:
                            progress.console.print("  " + escape(clean(line)), style="dim", highlight=False)
                time.sleep(poll)
    except KeyboardInterrupt:
        console.print(f"\ndetached: training goes on in the background. Re-attach with: "
                      f"grpo-tui attach {run.id} --headless")
        return 0
    return print_summary(folder, console, max_reward)


def print_summary(folder: RunSummarizer, console: Console, max_reward: float | None) -> int:
    s = folder.summary
    state_style = {COMPLETED: "green", STOPPED: "yellow"}.get(s.state, "red")
    console.print(f"run {s.id}: [{state_style}]{s.state}[/] at step {s.step}/{s.max_steps or '?'}")
    if s.first_window_reward is not None:
        n = min(RunSummarizer.WINDOW, len(s.rewards_seen))
        line = (f"mean total reward, first {n} steps: {s.first_window_reward:.3f}; last {n} steps: "
                f"{s.last_window_reward:.3f}")
        if max_reward:
            gain = (s.last_window_reward or 0) - (s.first_window_reward or 0)
            line += f" (max possible {max_reward:g}; gain {gain:+.3f} = {gain / max_reward:+.0%} of max)"
        console.print(line)
    if s.eval_line():
        console.print(f"held-out accuracy: {s.eval_line()}")
    if s.adapter_path:
        console.print(f"adapter: {escape(s.adapter_path)}")
    if s.state not in (COMPLETED, STOPPED):
        if s.error:
            console.print(f"[red]error[/]: {escape(s.error)}")
        tail = s.log_tail or folder.run.log_tail(15)
        if tail:
            console.print("last lines of trainer.log:")
            for line in tail[-15:]:
                console.print("  " + escape(line), highlight=False, markup=False)
        console.print(f"full log: {folder.run.trainer_log}")
        return 1
    return 0
