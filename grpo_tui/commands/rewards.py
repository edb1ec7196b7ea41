"""`grpo-tui rewards audit [--preset P] [--reward file.py:fn ...] [--set k=v ...] [--json]`.

Runs a preset's reward set (plus your own functions) on the built-in adversarial suite
(grpo_tui.trainer.rewards.audit) and prints, per case: its hack class, each component,
the weighted total and a verdict, the honest-answer suite beside the hacks; then the refused
honest answers and the paid hacks, each listed; then the advantages TRL would compute for a few
mixed groups. Exit 1 when a hack is paid or an honest answer refused, 0 when clean.
"""

from __future__ import annotations

import json

from .config_args import add_reward_argument, add_set_argument, preset_config

HELP = "test a reward set against an adversarial suite before training"


def add_arguments(parser, name: str) -> None:
    sub = parser.add_subparsers(dest="rewards_command", metavar="ACTION", required=True)
    p = sub.add_parser("audit", help="score the adversarial and honest-answer suites; exit 1 when a hack is "
                                     "paid or an honest answer refused",
                       description="Score a preset's reward set on the built-in adversarial suite and the "
                                   "honest-answer suite (every form an instruction model writes a number in).")
    p.add_argument("--preset", default="gpu-16gb", help="preset name or .toml path (default gpu-16gb)")
    add_reward_argument(p, "add your own reward function, weight 1.0")
    add_set_argument(p, "floor_truncated_reward=false")
    p.add_argument("--all", action="store_true", help="list every case, not only classes and problems")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args) -> int:
    from ..trainer.rewards.audit import run_audit

    cfg = preset_config(args.preset, args.overrides).validate()
    report = run_audit(cfg, extra_rewards=args.rewards, preset=args.preset)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        _print(report, show_all=args.all)
    return 0 if report.ok else 1


SHORT = {"format_strict": "strict", "format_soft": "soft", "correctness": "correct",
         "overlong_penalty": "overlong", "repetition_penalty": "loop", "format": "format"}


def _print(report, show_all: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..core.util.formatting import fixed

    console = Console()
    if not console.is_terminal:
        console = Console(width=130)  # piped or captured: do not squeeze the table to 80 columns
    console.print(Text.assemble(("rewards audit: ", "bold"), report.preset, "  ",
                                (" + ".join(f"{w:g}*{c}" for c, w in zip(report.components, report.weights)), "cyan")))
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("class", no_wrap=True)
    table.add_column("case", no_wrap=True, overflow="ellipsis", min_width=20, max_width=36)
    for c in report.components:
        table.add_column(SHORT.get(c, c[:10]), justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    shown = set()
    for r in report.rows:
        bad = r.verdict != "ok"
        key = (r.cls, r.label)
        if not (show_all or bad or ((r.problem == 0 or r.cls == "honest") and key not in shown)):
            continue
        shown.add(key)
        cells = [fixed(r.scores.get(c), 2, missing="-") for c in report.components]
        verdict = Text(r.verdict, style="bold red" if bad else "green")
        # Case labels hold model-like text: Text() keeps it literal (never Rich markup).
        table.add_row(Text(r.cls), Text(r.label), *cells, fixed(r.total, 2, missing="-"), verdict)
    console.print(table)
    # The two ways a reward set fails, each listed as clearly: a false negative starves GRPO of
    # variance (a group of right answers written differently) as surely as a paid hack misleads it.
    for title, rows in (("honest answers refused (false negatives)", report.false_negatives),
                        ("hacks paid", report.paid_hacks)):
        if rows:
            console.print(Text(f"{title}: {len(rows)}", style="bold red"))
            for r in rows:
                console.print(Text.assemble("  ", (r.verdict, "red"), f"  {r.cls}: ", r.label[:80],
                                            f"  total {fixed(r.total, 2, missing='-')}"))
    for s in report.skipped:
        console.print(Text(f"skipped: {s}", style="dim"))
    console.print(Text(f"worst single completion: {report.worst_seconds * 1000:.1f} ms CPU (all components)"))
    console.print(Text.assemble(("advantages TRL would compute", "bold"), f" (scale_rewards = {report.scale_rewards})"))
    for g in report.groups:
        style = "green" if g["verdict"] == "ok" else "bold red"
        console.print(Text.assemble(f"  {g['title']}: ", (g["verdict"], style)))
        for m in g["members"]:
            console.print(Text(f"    {m['label'][:48]:<48} reward {m['total']:6.2f}  advantage {m['advantage']:+.2f}"))
    console.print(Text(report.summary(), style="bold green" if report.ok else "bold red"))
