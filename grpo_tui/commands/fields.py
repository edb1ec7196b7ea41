"""`grpo-tui fields [--json | --markdown]`: every run setting, its type, default and source library.

Names are Unsloth's, TRL's, transformers', peft's or vLLM's own (``also``: another library's name
for the same field). docs/fields.md is this command's ``--markdown`` output.
"""

from __future__ import annotations

from typing import Any, get_type_hints


def field_rows() -> list[dict[str, Any]]:
    """One row per RunConfig field: name, type, default, source library, other names, meaning."""
    from ..core.settings.config import RunConfig
    from ..core.settings.fields import ALIASES, FIELD_INFO

    defaults = RunConfig().to_dict()
    types = get_type_hints(RunConfig)
    aliases: dict[str, list[str]] = {}
    for a, f in ALIASES.items():
        aliases.setdefault(f, []).append(a)
    rows = []
    for name in RunConfig.field_names():
        source, help_ = FIELD_INFO.get(name, ("?", ""))
        t = types[name]
        tname = getattr(t, "__name__", str(t)).replace("typing.", "")
        if tname == "list":
            tname = str(t).replace("typing.", "")
        rows.append({"name": name, "type": tname, "default": defaults[name], "source": source,
                     "also": aliases.get(name, []), "help": help_})
    return rows


def markdown() -> str:
    """docs/fields.md's table (a test keeps the page equal to this)."""
    lines = ["| field | type | default | from | meaning |", "|---|---|---|---|---|"]
    for r in field_rows():
        name = f"`{r['name']}`" + "".join(f" (also `{a}`)" for a in r["also"])
        default = repr(r["default"]) if isinstance(r["default"], str) else str(r["default"]).replace("True", "true") \
            .replace("False", "false")
        lines.append(f"| {name} | {r['type']} | `{default}` | {r['source']} | {r['help'].replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def add_arguments(parser, name: str) -> None:
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print JSON")
    g.add_argument("--markdown", action="store_true", help="print the docs/fields.md table")


def run(args) -> int:
    from ..core.settings import fields

    rows = field_rows()
    if getattr(args, "json", False):
        import json

        print(json.dumps({"fields": rows, "not_carried": fields.NOT_CARRIED,
                          "vllm_sampling_params": fields.SAMPLING_KEYS}, indent=2, default=str))
        return 0
    if getattr(args, "markdown", False):
        print(markdown(), end="")
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
