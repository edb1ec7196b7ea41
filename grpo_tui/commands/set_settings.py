"""`grpo-tui set RUN key=value [key=value ...]`: change a live run's settings from the next step.

Checked here before anything is written (core.run.live_settings: a setting that cannot change while the
run trains, a value out of range, a completion cap above the run's ceiling -> one line, exit 2), then
queued as a ``set`` command; the trainer applies it at the next step boundary and acknowledges it with
the old and new values (``settings_changed`` event). ``--wait`` prints that acknowledgement.
"""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", help="run id, unique prefix, path, or 'latest'")
    parser.add_argument("settings", nargs="+", metavar="KEY=VALUE",
                        help="learning_rate, beta, temperature, top_p, top_k, min_p, max_completion_length, "
                             "epsilon, epsilon_high, num_iterations, reward_weights.<name> (or reward_weights=[...])")
    parser.add_argument("--wait", action="store_true", help="wait until the trainer applies it")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait with --wait (default 120)")


def check(run_dir, items: list[str]) -> dict:
    """The typed changes for ``run_dir`` (SettingsError, one line, when one cannot be made)."""
    from ..core.run import live_settings as ls

    info = run_dir.info()
    cfg = ls.effective_config(run_dir)
    # A launched run without LoRA started at beta 0 has no reference model (TRL builds none).
    launched = info.get("source") in (None, "", "launched")
    return ls.parse_changes(items, cfg, hardware=info.get("hardware"), watched=info.get("source") == "watched",
                            has_reference=not (launched and cfg.full_finetuning))


def run(args) -> int:
    from ..core.run.live_settings import describe
    from .control import live_run, wait_for_ack

    run_dir = live_run(args.run, "settings change only in runs grpo-tui launched or watches",
                       "there is no trainer to change (fork it instead: grpo-tui run --fork RUN --set key=value)")
    changes = check(run_dir, args.settings)
    cid = run_dir.send_command("set", settings=changes)
    print(cid)
    if args.wait:
        ack = wait_for_ack(run_dir, cid, args.timeout)
        if ack is None:
            print(f"no acknowledgement within {args.timeout:g} s (the trainer takes commands at step boundaries)")
            return 1
        if ack.get("error"):
            print(f"set refused by the trainer: {ack['error']}")
            return 1
        print(f"set at step {ack.get('step')}: {describe(ack.get('changes') or {})}")
    return 0
