"""`grpo-tui report RUN [--format md|json] [--output PATH]`: a run's report.

Works on a run in any state (running, finished, failed, crashed); see
grpo_tui.core.report for what it contains.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", nargs="?", default="latest",
                        help="run id, unique prefix, path, or 'latest' (default)")
    parser.add_argument("--format", choices=("md", "json"), default="md", help="output format (default md)")
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="write the report to PATH (atomically) instead of standard output")
    parser.add_argument("--window", type=int, default=10, metavar="N",
                        help="logged steps averaged for 'first' and 'last' (default 10)")


def run(args) -> int:
    from ..errors import UserError
    from ..core import report as rp
    from ..core.rundir import atomic_write
    from ..core.run_ref import resolve_run

    if args.window < 1:
        raise UserError(f"--window must be at least 1, got {args.window}")
    rundir = resolve_run(args.run)
    data = rp.build_report(rundir, window=args.window)
    text = rp.to_json(data) if args.format == "json" else rp.to_markdown(data)
    if args.output:
        out = Path(args.output).expanduser()
        if out.is_dir():
            raise UserError(f"--output {out} is a directory; give a file path")
        if not out.parent.is_dir():
            raise UserError(f"--output: folder {out.parent} does not exist")
        atomic_write(out, text)  # 0600 like everything else from a run: it holds model text and config
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
