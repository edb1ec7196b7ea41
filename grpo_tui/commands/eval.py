"""`grpo-tui eval RUN [--n N] [--split SPLIT] [--base]`: accuracy of a run's adapter on held-out rows.

Loads the run's model the way its backend does (Unsloth + vLLM with the adapter
as a LoRA request on a GPU; transformers + peft otherwise, so the tiny CPU run
works too), generates greedily, scores with the correctness rule, prints one line
and appends an ``eval`` event (when = manual, or base with --base) to the run,
where the app, `grpo-tui runs` and reports pick it up.
"""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", nargs="?", default="latest",
                        help="run id, unique prefix, path, or 'latest' (default)")
    parser.add_argument("--n", type=int, default=None, metavar="N",
                        help="held-out rows to evaluate (default: the run's eval_size, else 100)")
    parser.add_argument("--split", default=None,
                        help="dataset split (hub datasets) or a .jsonl/.parquet file (local datasets); "
                             "default: the run's eval_split (GSM8K: test)")
    parser.add_argument("--base", action="store_true", help="evaluate the base model, without the adapter")


def run(args) -> int:
    from ..errors import UserError
    from ..core.settings.config import RunConfig
    from ..core.run.run_ref import resolve_run
    from ..core.run.rundir import summarize

    rundir = resolve_run(args.run)
    summary = summarize(rundir)
    if summary.source in ("watched", "trl-folder"):  # no dataset or adapter of ours to evaluate with
        what = "a TRL output folder" if summary.source == "trl-folder" else "a watched script's run"
        raise UserError(f"{rundir.id} is {what}: grpo-tui does not know its dataset or adapter; evaluate in "
                        "your script (eval_dataset in GRPOConfig) -- eval works on runs grpo-tui launched")
    if summary.live:
        raise UserError(f"run {rundir.id} is still {summary.state}: evaluate it once it has finished or been "
                        f"stopped (`grpo-tui stop {rundir.id}`)")
    cfg = RunConfig.from_mapping(rundir.config())
    n = args.n if args.n is not None else (cfg.eval_size or 100)
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")

    from ..trainer.eval_run import NoAdapter, evaluate_run
    from ..trainer.gpu_checks import GpuFailure, GpuUnavailable

    try:
        result = evaluate_run(rundir, n=n, split=args.split, base=args.base)
    except NoAdapter as exc:
        raise UserError(str(exc)) from None
    except (GpuUnavailable, GpuFailure) as exc:
        raise UserError(str(exc)) from None
    what = "base model" if args.base else "adapter"
    print(f"{rundir.id}: accuracy {result.accuracy:.1%} ({result.correct}/{result.n}) on {result.name} "
          f"[{result.split}], {what}, {result.seconds:.1f}s")
    return 0
