"""`grpo-tui fields [--json | --markdown]`: every run setting, its type, default and source library.

Names are Unsloth's, TRL's, transformers', peft's or vLLM's own (``also``: another library's name
for the same field). docs/fields.md is this command's ``--markdown`` output.
"""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print JSON")
    g.add_argument("--markdown", action="store_true", help="print the docs/fields.md table")


def run(args) -> int:
    from ..core import fields

    rows = fields.field_rows()
    if getattr(args, "json", False):
        import json

        print(json.dumps({"fields": rows, "not_carried": fields.NOT_CARRIED,
                          "vllm_sampling_params": fields.SAMPLING_KEYS}, indent=2, default=str))
        return 0
    if getattr(args, "markdown", False):
        print(fields.markdown(), end="")
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("field", "type", "default", "from", "meaning"):
        table.add_column(col, overflow="fold")
    for r in rows:
        name = r["name"] + "".join(f" (also {a})" for a in r["also"])
        table.add_row(*(Text(x) for x in (name, r["type"], repr(r["default"]), r["source"], r["help"])))
    Console().print(table)
    print("vllm_sampling_params=... takes SamplingParams keywords: " + ", ".join(fields.SAMPLING_KEYS))
    return 0
