"""`grpo-tui` entry point.

With no subcommand it opens the app. Each subcommand lives in its own module
under ``grpo_tui.commands`` exposing ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; only the chosen one is imported, so `grpo-tui runs` never
pays for Textual and the app never pays for torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UserError

# subcommand -> module under grpo_tui.commands
COMMANDS: dict[str, str] = {
    "run": "run",
    "runs": "runs",
    "attach": "attach",
    "open": "attach",
    "pause": "control",
    "resume": "control",
    "stop": "control",
    "checkpoint": "control",
    "doctor": "doctor",
    "presets": "presets",
    "plan": "plan",
    "fields": "fields",
    "import": "import_notebook",
    "report": "report",
    "eval": "eval",
    "export": "export",
    "compare": "compare",
    "notify": "notify",
    "ask": "ask",
    "set": "set_settings",
    "rewards": "rewards",
}

HELPS: dict[str, str] = {
    "run": "start a training run (headless with --headless)",
    "runs": "list runs",
    "attach": "follow a run (the app, or a plain progress view with --headless)",
    "open": "show a plain TRL output folder (trainer_state.json, completions/*.parquet), read-only, live",
    "pause": "pause a run at the next step boundary",
    "resume": "resume a paused run",
    "stop": "stop a run at the next step boundary, saving the adapter (while loading: after the current phase)",
    "checkpoint": "save a checkpoint at the next step boundary",
    "doctor": "check the GPU and the training stack",
    "presets": "list presets and whether they fit this GPU",
    "plan": "memory breakdown of a preset on a GPU",
    "fields": "every run setting: type, default, source library (Unsloth, TRL, peft, vLLM)",
    "import": "write a preset from an Unsloth/TRL GRPO notebook or script (nothing is run)",
    "report": "a run's report (markdown or json)",
    "eval": "evaluate a run's adapter on the held-out split",
    "export": "export a run's samples to JSONL or Markdown",
    "compare": "compare runs: summary table and the config keys that differ (md or json)",
    "notify": "send notifications (webhook / command) when runs finish, fail, crash, stall or alert",
    "ask": "try a prompt against a paused run's policy (or --heldout N questions)",
    "set": "change a live run's settings (learning rate, beta, sampling, reward weights, cap) from the next step",
    "rewards": "audit a reward set against an adversarial suite (`rewards audit`)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grpo-tui",
        description="Train a small reasoning model with GRPO and watch it live.",
    )
    parser.add_argument("--version", action="version", version=f"grpo-tui {_version()}")
    parser.add_argument("--preset", help="preselect this preset in the app")
    parser.add_argument("--serve", action="store_true",
                        help="serve the app to a browser tab (textual-serve) instead of this terminal")
    parser.add_argument("--host", default="127.0.0.1", help="with --serve: address to listen on (default loopback)")
    parser.add_argument("--port", type=int, default=8566, help="with --serve: port (default 8566)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=HELPS.get(name, ""), description=HELPS.get(name, ""))
        mod = _module(module)
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(p, name)
    return parser


def _module(name: str):
    return importlib.import_module(f"grpo_tui.commands.{name}")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("grpo-tui")
    except Exception:
        return "0+unknown"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Parse with only the chosen subcommand's module imported when possible.
    parser = build_parser()
    args = parser.parse_args(argv)
    from .core.settings.config import ConfigError
    from .core.run.rundir import RunNotFound

    try:
        if args.command is None:
            from .tui.entry import run_app, serve_app

            if args.serve:
                return serve_app(host=args.host, port=args.port, preset=args.preset)
            return run_app(preset=args.preset)
        mod = _module(COMMANDS[args.command])
        return int(mod.run(args) or 0)
    except (ConfigError, RunNotFound, UserError) as exc:
        print(f"grpo-tui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
