"""`grpo-tui notify [RUN ...]`: send the notifications configured in settings.toml's [notify] table
(or a run's notify_* fields) when runs finish, fail, crash or stall, or raise alerts.

Without RUN it follows every run, new ones included, until stopped: run it under tmux or as a
systemd user service for runs of your own scripts. The launcher starts `grpo-tui notify RUN
--until-done` beside each trainer by itself when notifications are configured, and the app sends
while it is open; a marker file per event in the run directory makes sure only one of them sends.
`--test` sends one test notice to the configured targets and says whether it arrived.
See docs/notifications.md.
"""

from __future__ import annotations

import sys
import time


def add_arguments(parser, name: str) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="runs to follow (default: every run)")
    parser.add_argument("--until-done", action="store_true", help="exit once every followed run has ended")
    parser.add_argument("--once", action="store_true", help="check once, send what is due, exit")
    parser.add_argument("--interval", type=float, default=5.0, metavar="S", help="seconds between checks (default 5)")
    parser.add_argument("--test", action="store_true", help="send a test notice to the configured targets")


def run(args) -> int:
    from ..core.reading import notify
    from ..core.run.run_ref import resolve_run
    from ..core.settings.user_settings import settings_path, settings_problem
    from ..errors import UserError

    if settings_problem():
        raise UserError(f"settings file cannot be read: {settings_problem()}")
    if not args.interval > 0:
        raise UserError(f"--interval must be positive, got {args.interval}")
    runs = [resolve_run(r) for r in args.runs] or None
    try:
        settings = notify.Settings.resolve(runs[0].config() if runs and len(runs) == 1 else None)
    except notify.SettingsError as exc:
        raise UserError(f"{exc} (in {settings_path()} or the run's --set notify_* fields)") from None
    if args.test:
        if not settings.active:
            raise UserError(f"no notification target: set webhook or command under [notify] in {settings_path()}")
        n = notify.Notice("test", "test", "-", "grpo-tui: test notification",
                          "grpo-tui can reach you: this is a test notice.", "info", 0, time.time())
        errors = notify.deliver(n, settings, None)
        for e in errors:
            print(f"grpo-tui notify: {e}", file=sys.stderr)
        if not errors:
            print("test notice sent")
        return 1 if errors else 0
    if runs is None and not settings.active:
        raise UserError(f"no notification target: set webhook or command under [notify] in {settings_path()}")
    watcher = notify.Watcher(runs, interval=args.interval, until_done=args.until_done)
    if args.once:
        sent, _done = watcher.check_once()
        watcher.sender.join(max(settings.timeout_s, 1.0) + 1)
        _report(watcher, sent)
        return 0
    print(f"grpo-tui notify: watching {'every run' if runs is None else ', '.join(r.id for r in runs)}"
          f" (ctrl+c stops)", flush=True)
    try:
        while not watcher.stop_event.is_set():
            sent, done = watcher.check_once()
            _report(watcher, sent)
            if args.until_done and done:
                break
            watcher.stop_event.wait(args.interval)
    except KeyboardInterrupt:
        pass
    watcher.sender.join(settings.timeout_s + 1)
    return 0


def _report(watcher, sent) -> None:
    from ..core.util.sanitize import clean

    for n in sent:
        print(clean(f"{time.strftime('%H:%M:%S')} {n.event}: {n.message}"), flush=True)
    for p in watcher.problems:
        print(f"grpo-tui notify: {p}", file=sys.stderr, flush=True)
    watcher.problems.clear()
