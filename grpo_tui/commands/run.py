"""`grpo-tui run`: start a training run (or resume one) and follow it.

    grpo-tui run --preset cpu-tiny --headless --set max_steps=50 --set learning_rate=1e-3
    grpo-tui run --resume RUN [--headless]
    grpo-tui run --fork RUN@250 --set learning_rate=5e-6   (a new run from RUN's checkpoint, see grpo_tui.forking)
    grpo-tui run --preset cpu-tiny --reward my_rewards.py:brevity

Everything is validated before a run directory exists; bad input is one line
and exit code 2. The trainer runs detached: Ctrl-C (or closing the terminal)
leaves it training.
"""

from __future__ import annotations

from .config_args import add_reward_argument, add_set_argument, preset_config


def add_arguments(parser, name: str) -> None:
    parser.add_argument("--preset", help="preset name or .toml path (see `grpo-tui presets`)")
    add_set_argument(parser, "max_steps=50")
    add_reward_argument(parser)
    parser.add_argument("--resume", metavar="RUN", help="continue RUN from its latest checkpoint")
    parser.add_argument("--fork", metavar="RUN[@STEP]",
                        help="a new run from RUN's checkpoint at or before STEP (default: its newest), with --set "
                             "changes to live settings and max_steps")
    parser.add_argument("--headless", action="store_true", help="plain progress view instead of the app")
    parser.add_argument("--detach", action="store_true", help="start the run and return at once")


def run(args) -> int:
    from ..errors import UserError
    from .. import launcher as launch
    from ..core.run.run_ref import resolve_run

    if args.fork:
        if args.preset or args.rewards or args.resume:
            raise UserError("--fork starts from the parent's config; drop --preset/--reward/--resume")
        from ..forking import fork, parse_ref

        name, step = parse_ref(args.fork)
        launched = fork(resolve_run(name), step, args.overrides)
    elif args.resume:
        if args.preset or args.overrides or args.rewards:
            raise UserError("--resume continues a run with its own config; drop --preset/--set/--reward")
        launched = launch.resume(resolve_run(args.resume))
    else:
        if not args.preset:
            raise UserError("run needs --preset NAME (see `grpo-tui presets`) or --resume RUN")
        # the launch's one resolution: the warning, the notes, every check and run.json read this object
        resolved = launch.resolve(preset_config(args.preset, args.overrides), args.rewards)
        cfg = resolved.config
        from ..trainer.rewards import format_dominance_warning

        warning = format_dominance_warning(cfg)
        if warning:
            import sys

            print(f"grpo-tui: warning: {warning}", file=sys.stderr)
        launched = launch.launch(resolved)
        import sys

        for note in cfg.notices():  # notebook settings applied as their libraries apply them (core.settings.fields)
            print(f"grpo-tui: note: {note}", file=sys.stderr)
    run_dir = launched.run
    print(f"run {run_dir.id} started (pid {launched.proc.pid if launched.proc else '?'}); "
          f"files in {run_dir.path}")
    if args.detach:
        print(f"follow it with: grpo-tui attach {run_dir.id}")
        return 0
    from .attach import follow_run

    return follow_run(run_dir, headless=args.headless)
