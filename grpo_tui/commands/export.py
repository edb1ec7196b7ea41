"""`grpo-tui export RUN`: write a run's sampled completions to JSONL or Markdown."""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", help="run id, unique prefix, path, or `latest`")
    parser.add_argument("--format", choices=("jsonl", "md"), default="jsonl", help="jsonl (default) or md")
    parser.add_argument("-o", "--output", help="file or folder to write (default: the run's exports/)")
    parser.add_argument("--steps", metavar="A:B", help="only steps A to B (either side may be empty)")
    parser.add_argument("--min-reward", type=float, help="only completions with at least this total reward")
    parser.add_argument("--max-reward", type=float, help="only completions with at most this total reward")
    parser.add_argument("--truncated", action="store_true", help="only completions cut at the length cap")
    parser.add_argument("--search", default="", help="only completions whose prompt or text contains this")
    parser.add_argument("--metrics", choices=("csv",),
                        help="export the metrics instead: one row per step (step, timestamp, every metric)")


def run(args) -> int:
    from ..errors import UserError
    from ..core.reading.export import ExportError, export
    from ..core.run.run_ref import resolve_run
    from ..core.run.samples import SampleFilter, parse_steps

    run_dir = resolve_run(args.run)
    if args.metrics:
        from ..core.reading.metrics_csv import export_metrics

        try:
            path, count = export_metrics(run_dir, args.output)
        except ExportError as exc:
            raise UserError(str(exc)) from None
        print(f"exported {count} step(s) of metrics to {path}")
        return 0
    try:
        lo, hi = parse_steps(args.steps)
    except ValueError as exc:
        raise UserError(f"--steps {args.steps!r}: {exc}") from None
    flt = SampleFilter(step_min=lo, step_max=hi, min_reward=args.min_reward, max_reward=args.max_reward,
                       truncated_only=args.truncated, search=args.search)
    try:
        path, count = export(run_dir, args.format, args.output, flt)
    except ExportError as exc:
        raise UserError(str(exc)) from None
    print(f"exported {count} completion(s) to {path}")
    return 0
