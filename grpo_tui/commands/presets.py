"""`grpo-tui presets`: every preset, its planned peak memory and whether it fits.

Plans for the detected GPU, or for hardware you do not have with ``--vram N``
(GiB, as nvidia-smi reports the card) or ``--gpu "RTX 4090"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERDICT_STYLE = {"fits": "green", "tight": "yellow", "no": "red", "cpu": "cyan", "no-gpu": "dim"}


def add_arguments(parser, name: str) -> None:
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_target_arguments(parser) -> None:
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--vram", type=float, metavar="GB",
                   help="plan for a GPU with this much memory (GiB, as nvidia-smi shows it) instead of the detected one")
    g.add_argument("--gpu", metavar="NAME", help='plan for a known GPU, e.g. "RTX 4090", "T4", "A100-80", "H100"')


@dataclass
class Target:
    vram: float | None  # GiB to plan for; None: no GPU
    label: str  # what the plan is for, for humans
    detected: bool  # from this machine (False: --vram/--gpu)
    hardware: Any = None  # core.planning.hardware.Hardware when detected
    ram_gb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"vram_gb": self.vram, "label": self.label, "detected": self.detected, "ram_gb": self.ram_gb}


def resolve_target(args) -> Target:
    """The GPU to plan for, from --vram / --gpu or the machine."""
    from ..errors import UserError
    from ..core.planning import hardware

    ram = hardware.host_info().ram_available_gb
    if getattr(args, "vram", None) is not None:
        if not 0 < args.vram < 10000:
            raise UserError(f"--vram must be a positive number of GiB, got {args.vram:g}")
        return Target(float(args.vram), f"{args.vram:g} GiB (--vram)", False, ram_gb=ram)
    if getattr(args, "gpu", None):
        known = hardware.lookup_gpu(args.gpu)
        if known is None:
            names = ", ".join((g.aliases or (g.name,))[0] for g in hardware.KNOWN_GPUS)
            raise UserError(f"unknown GPU {args.gpu!r}; known: {names} (or give --vram N)")
        return Target(known.vram_gb, f"{known.name} {known.vram_gb:.1f} GiB (--gpu)", False, ram_gb=ram)
    hw = hardware.detect(processes=False)
    if hw.vram_gb is None:
        return Target(None, f"no GPU: {hw.no_gpu_reason or hw.summary()}", True, hw, ram)
    return Target(hw.vram_gb, f"{hw.summary()} (detected)", True, hw, ram)


def share_text(plan) -> str:
    """vLLM's share as it will run: '0.76 (asked 0.9)'."""
    if plan.gpu_memory_utilization is None:
        return "-" if plan.requested_utilization is None else f"{plan.requested_utilization:g}"
    u = plan.gpu_memory_utilization
    asked = plan.requested_utilization
    if asked is not None and abs(u - asked) > 1e-9:
        return f"{u:.3g} (asked {asked:g})"
    return f"{u:.3g}"


def share_cell(plan) -> str:
    """Short form for the table: '0.76!' when Unsloth overrides the request."""
    u, asked = plan.gpu_memory_utilization, plan.requested_utilization
    if u is None:
        return "-" if asked is None else f"{asked:g}"
    return f"{u:.2f}!" if asked is not None and abs(u - asked) > 1e-9 else f"{u:.2f}"


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..core.planning import planner
    from ..core.planning.presets import discover, user_dir

    target = resolve_target(args)
    presets = discover()
    rec = planner.recommend(presets, target.vram, ram_gb=target.ram_gb)
    rows = []
    for name in presets:  # discover() gives them in display order
        p = presets[name]
        pl = rec.plans.get(name)
        rows.append((p, pl))

    if args.json:
        import json

        out = {
            "target": target.to_dict(),
            "recommended": rec.name,
            "recommended_reason": rec.reason,
            "user_presets_dir": str(user_dir()),
            "presets": [],
        }
        for p, pl in rows:
            item: dict[str, Any] = {"name": p.name, "source": p.source, "path": str(p.path), "ok": p.ok,
                                    "error": p.error, "meta": p.meta, "recommended": p.name == rec.name,
                                    "overrides": str(p.overrides) if p.overrides else None}
            if p.config is not None:
                c = p.config
                item.update(model=c.model, backend=c.backend, device=c.device, load_in_4bit=c.load_in_4bit,
                            max_seq_length=c.max_seq_length, lora_rank=c.lora_rank,
                            num_generations=c.num_generations)
            if pl is not None:
                item["plan"] = pl.to_dict()
            out["presets"].append(item)
        print(json.dumps(out, indent=2, default=str))
        return 0

    console = Console()
    console.print(Text.assemble(("planning for: ", "bold"), target.label))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col, just in (("", "left"), ("preset", "left"), ("model", "left"), ("4bit", "center"),
                      ("seq", "right"), ("rank", "right"), ("gen", "right"), ("vLLM", "right"),
                      ("GiB", "right"), ("fit", "left")):
        flexible = col == "model"
        table.add_column(col, justify=just, no_wrap=True, overflow="ellipsis",
                         max_width=20 if flexible else None,
                         min_width=None if flexible else {"vLLM": 5, "fit": 6, "": 1}.get(col, len(col)))
    overridden = False
    broken = []
    for p, pl in rows:
        if p.config is None:
            broken.append(p)
            continue
        c = p.config
        mark = Text("*", style="bold green") if p.name == rec.name else Text("")
        fit = Text(pl.verdict if pl else "?", style=VERDICT_STYLE.get(pl.verdict if pl else "", ""))
        peak = f"{pl.total:.1f}" if pl else "-"
        name = Text(p.name)
        if p.source == "user":
            name.append(" (user)", style="dim")
        model = c.model.rsplit("/", 1)[-1] if not c.model.startswith("builtin:") else c.model
        table.add_row(mark, name, Text(model), "yes" if c.load_in_4bit else "no",
                      str(c.max_seq_length), str(c.lora_rank), str(c.num_generations),
                      share_cell(pl) if pl and c.device != "cpu" else "-", peak, fit)
        overridden = overridden or bool(pl and pl.gpu_memory_utilization is not None and
                                        pl.requested_utilization is not None and
                                        abs(pl.gpu_memory_utilization - pl.requested_utilization) > 1e-9)
    console.print(table)
    if overridden:
        console.print(Text("! vLLM standby on: Unsloth replaces the requested gpu_memory_utilization with "
                           "its own tier (shown); `grpo-tui plan PRESET` explains", style="dim"))
    if rec.name:
        console.print(Text.assemble("* recommended: ", (rec.name, "bold green"), f" -- {rec.reason}"))
    over = [p.name for p, _ in rows if p.overrides]
    if over:
        console.print(Text(f"your presets replace shipped ones: {', '.join(over)}", style="dim"))
    for p in broken:
        console.print(Text(f"broken preset {p.name}: {p.error}", style="red"))
    console.print(Text(f"your presets: {user_dir()} (a .toml there with a shipped preset's name overrides it; "
                       "see docs/presets.md)", style="dim"))
    return 0
