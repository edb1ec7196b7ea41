"""`grpo-tui report RUN [--format md|json|html] [--output PATH]`: a run's report.

Works on a run in any state (running, finished, failed, crashed), a watched script's run and a plain
TRL output folder; see grpo_tui.core.reading.report for what it contains, grpo_tui.core.reading.report_html for the
HTML page (charts, samples, verdicts in one file to share).
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", nargs="?", default="latest",
                        help="run id, unique prefix, path, or 'latest' (default)")
    parser.add_argument("--format", choices=("md", "json", "html"), default="md",
                        help="output format (default md); html: one self-contained page with the charts")
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="write the report to PATH (atomically) instead of standard output")
    parser.add_argument("--window", type=int, default=10, metavar="N",
                        help="logged steps averaged for 'first' and 'last' (default 10)")
    parser.add_argument("--steps", metavar="S,S,...",
                        help="html: sampled steps whose best and worst groups are shown (default: the first "
                             "and the last sampled step)")


def run(args) -> int:
    from ..errors import UserError
    from ..core.reading import report as rp
    from ..core.run.run_ref import resolve_run

    if args.window < 1:
        raise UserError(f"--window must be at least 1, got {args.window}")
    if args.output:
        check_output(args.output)
    steps = _steps(args.steps) if getattr(args, "steps", None) else None
    if steps is not None and args.format != "html":
        raise UserError("--steps chooses the sampled groups of the html report; add --format html")
    rundir = resolve_run(args.run)
    if args.format == "html":
        from ..core.reading import report_html

        text = report_html.report_html(rundir, steps=steps)
    else:
        data = rp.build_report(rundir, window=args.window)
        text = rp.to_json(data) if args.format == "json" else rp.to_markdown(data)
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def check_output(path: str) -> Path:
    """The --output path, checked before any run is read (one line, exit 2)."""
    from ..errors import UserError

    out = Path(path).expanduser()
    if out.is_dir():
        raise UserError(f"--output {out} is a directory; give a file path")
    if not out.parent.is_dir():
        raise UserError(f"--output: folder {out.parent} does not exist")
    return out


def write_output(path: str, text: str) -> None:
    from ..core.run.rundir import atomic_write

    out = check_output(path)
    atomic_write(out, text)  # 0600 like everything else from a run: it holds model text and config
    print(f"wrote {out}", file=sys.stderr)


def _steps(spec: str) -> list[int]:
    from ..errors import UserError

    try:
        steps = [int(x) for x in spec.replace(" ", "").split(",") if x]
    except ValueError:
        raise UserError(f"--steps takes step numbers separated by commas, e.g. --steps 1,50,100; got {spec!r}")
    if not steps or any(s < 0 for s in steps):
        raise UserError(f"--steps takes step numbers (0 or more) separated by commas; got {spec!r}")
    return steps
