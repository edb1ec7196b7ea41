"""`grpo-tui compare RUN RUN ... [--format md|json|html] [-o FILE]`: runs side by side, from the shell.

The summary table (steps, best reward, first-30 -> last-30, eval before -> after, peak VRAM,
steps/s) and the config keys that differ; `--format json` adds nothing hidden, only the same
figures as data; `--format html` is one self-contained page with the runs' charts overlaid
(grpo_tui.core.reading.report_html). The app's compare screen (mark runs with space in the run list, then `c`)
overlays their curves. See grpo_tui.core.reading.compare.
"""

from __future__ import annotations

import json
import sys


def add_arguments(parser, name: str) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="two or more runs: id, unique prefix, path (a TRL output folder too), or 'latest'")
    parser.add_argument("--format", choices=("md", "json", "html"), default="md",
                        help="output format (default md); html: one page, the runs' charts overlaid")
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="write to PATH (atomically) instead of standard output")


def run(args) -> int:
    from ..core.reading import compare as cmp
    from ..core.run.run_ref import resolve_run
    from ..errors import UserError

    if len(args.runs) < 2:
        raise UserError("compare needs at least two runs, e.g. grpo-tui compare RUN_A RUN_B")
    if getattr(args, "output", None):
        from .report import check_output

        check_output(args.output)
    runs = [resolve_run(r) for r in args.runs]  # RunNotFound: one line, exit 2
    if len({r.path for r in runs}) < len(runs):
        raise UserError("the same run is named twice; give different runs")
    if args.format == "html":
        from ..core.reading import report_html

        text = report_html.compare_html(runs)
    else:
        c = cmp.Comparison(runs)
        c.load()
        if args.format == "json":
            text = json.dumps(c.to_dict(), indent=2, ensure_ascii=True, default=str) + "\n"
        else:
            text = cmp.to_markdown(c)
    if getattr(args, "output", None):
        from .report import write_output

        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
