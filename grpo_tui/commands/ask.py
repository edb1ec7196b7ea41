"""`grpo-tui ask RUN "prompt"`: try a prompt against a paused run's policy as it is right now.

The ask is queued in the run directory like any command; the paused trainer generates, scores the
completions with the run's reward functions when ``--gold`` is given (``--heldout N``: N held-out
questions with their own gold answers, a quick accuracy probe), writes the rows into the run's
samples (marked as asks) and acknowledges. This prints them, model text shown literally.
"""

from __future__ import annotations

HELP = "try a prompt against a paused run's policy (or --heldout N questions)"


def add_arguments(parser, name: str = "ask") -> None:
    from ..core.run.asks import DEFAULT_HELDOUT, DEFAULT_N, MAX_HELDOUT, MAX_N

    parser.add_argument("run", help="run id, unique prefix, path, or 'latest'")
    parser.add_argument("prompt", nargs="?", default="", help="the question, as a user would type it")
    parser.add_argument("--n", type=int, default=None,
                        help=f"completions to sample (1-{MAX_N}; default {DEFAULT_N}, 1 per held-out question)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature, 0 = greedy, one completion (default: the run's own)")
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="new tokens at most (default: the run's max_completion_length)")
    parser.add_argument("--gold", default=None, help="the right answer: the completions are scored with the "
                                                     "run's reward functions")
    parser.add_argument("--heldout", type=int, nargs="?", const=DEFAULT_HELDOUT, default=0,
                        help=f"ask N held-out questions instead (default {DEFAULT_HELDOUT}, at most {MAX_HELDOUT})")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the answer (default 600)")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def pending_ask(run_dir) -> bool:
    return any(c.get("command") == "ask" for c in run_dir.pending_commands())


def run(args) -> int:
    import json

    from ..core.run.asks import AskError, answer_summary, check_request, wait_answer
    from ..core.run.run_ref import resolve_run
    from ..core.run.rundir import PAUSED, summarize
    from ..errors import UserError

    if args.heldout and args.prompt:
        raise UserError("give a prompt or --heldout N, not both")
    payload = {"prompt": args.prompt, "gold": args.gold, "heldout": args.heldout or 0,
               "temperature": args.temperature, "max_tokens": args.max_tokens}
    if args.n is not None:
        payload["n"] = args.n
    try:
        req = check_request({k: v for k, v in payload.items() if v is not None})
    except AskError as exc:
        raise UserError(str(exc)) from None
    run_dir = resolve_run(args.run)
    s = summarize(run_dir)
    if getattr(s, "source", "") == "watched":
        raise UserError(f"run {run_dir.id} is your own script, watched: grpo-tui does not own its model, so it "
                        "cannot ask it (asks work on runs grpo-tui launched)")
    if not s.live:
        raise UserError(f"run {run_dir.id} is {s.state}; asks need a live, paused trainer")
    if s.state != PAUSED:
        raise UserError(f"run {run_dir.id} is {s.state}; pause it first (grpo-tui pause {run_dir.id} --wait)")
    if pending_ask(run_dir):
        raise UserError(f"an ask is already waiting for run {run_dir.id}; one at a time")
    cid = run_dir.send_command("ask", **req.payload())
    ack = wait_answer(run_dir, cid, args.timeout)
    if ack is None:
        print(f"no answer within {args.timeout:g} s (the ask stays queued; the trainer answers it while paused)")
        return 1
    if ack.get("error"):
        print(f"ask not answered: {ack['error']}")
        return 1
    event = next((a for a in _asks(run_dir) if a.get("id") == cid), None)
    if event is None:
        print("the trainer answered, but its rows could not be read from samples.jsonl")
        return 1
    if args.json:
        print(json.dumps({"id": cid, "accuracy": event.get("accuracy"), "rows": event["rows"]}, ensure_ascii=False))
        return 0
    _print(event)
    print(f"{answer_summary(event)} ({event.get('seconds', 0):.1f} s, step {event.get('step')})")
    return 0


def _asks(run_dir) -> list[dict]:
    from ..core.run.samples import SampleStore

    store = SampleStore(run_dir)
    store.refresh()
    return store.asks()


def _print(event: dict) -> None:
    from ..core.util.sanitize import clean

    last_group = None
    for i, row in enumerate(event["rows"], 1):
        if row.get("group") != last_group:
            last_group = row.get("group")
            print(f"── question {int(last_group or 0) + 1}: {clean(row.get('prompt', ''))[-300:]}")
            if row.get("answer") is not None:
                print(f"   gold: {clean(row['answer'])}")
        scores = ", ".join(f"{k} {v:.2f}" for k, v in row.get("rewards", {}).items() if isinstance(v, (int, float)))
        total = row.get("reward")
        head = f"[{i}] {row.get('length', '?')} tokens" + (" TRUNCATED" if row.get("truncated") else "")
        if isinstance(total, (int, float)):
            head += f", reward {total:.2f}" + (f" ({scores})" if scores else "")
        print(head)
        print(clean(row.get("completion", "")))
        print()
