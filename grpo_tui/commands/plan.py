"""`grpo-tui plan PRESET [--set k=v ...] [--vram N | --gpu NAME] [--json]`.

The memory breakdown of one configuration on one GPU, and the verdict. The
same planner refuses a configuration at launch; this shows why. Exit code 0
whatever the verdict (the verdict is in the output and in --json).
"""

from __future__ import annotations

from .config_args import add_set_argument, preset_config
from .presets import VERDICT_STYLE, add_target_arguments, resolve_target, share_text


def add_arguments(parser, name: str) -> None:
    parser.add_argument("preset", help="preset name or path to a .toml file")
    add_set_argument(parser)
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..core.planning import planner
    cfg = preset_config(args.preset, args.overrides).validate()
    target = resolve_target(args)
    p = planner.plan(cfg, target.vram, ram_gb=target.ram_gb)
    fixes = planner.suggest(cfg, target.vram) if p.verdict == planner.NO and target.vram else []

    if args.json:
        import json

        out = {"target": target.to_dict(), "plan": p.to_dict(),
               "suggestions": [{"set": s, "total_gb": round(q.total, 3), "verdict": q.verdict} for s, q in fixes]}
        print(json.dumps(out, indent=2))
        return 0

    console = Console()
    console.print(Text.assemble(("plan: ", "bold"), cfg.name, "  ", (cfg.model, "cyan"), f"  ({cfg.backend}",
                                ", 4-bit" if cfg.load_in_4bit else ", FP8" if cfg.load_in_fp8 else ", 8-bit" if cfg.load_in_8bit
                                else ", 16-bit" if p.device == "cuda" else "",
                                ")  on ", target.label if p.device == "cuda" else "CPU RAM"))
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("part")
    table.add_column("GiB", justify="right")
    table.add_column("", no_wrap=True)
    scale = max([p.total] + ([p.vram] if p.vram else []))
    for key, gib in p.parts.items():
        if not gib:
            continue
        label = planner.PART_LABELS[key] if p.device == "cuda" or key != "overhead" else "python + torch runtime"
        table.add_row(label, f"{gib:.2f}", _bar(gib, scale))
    table.add_row(Text("total (peak)", style="bold"), Text(f"{p.total:.2f}", style="bold"), "")
    if p.headroom is not None:
        cap = "GPU" if p.device == "cuda" else "RAM available"
        table.add_row(f"headroom ({cap} {p.total + p.headroom:.1f})", f"{p.headroom:.2f}", "")
    console.print(table)
    if p.device == "cuda":
        details = []
        spec = p.spec
        details.append(f"model: {spec.total_params / 1e9:.2f}B params, {spec.layers} layers, hidden {spec.hidden}, "
                       f"{spec.kv_heads} KV heads, vocab {spec.vocab} ({spec.source})")
        if p.gpu_memory_utilization is not None:
            details.append(f"vLLM gpu_memory_utilization: {share_text(p)} -> {p.vllm_reserved:.2f} GiB reserved, "
                           f"KV cache {p.kv_cache:.2f} GiB = {p.kv_tokens} tokens")
        tokens = cfg.max_seq_length if cfg.lengths_from_data else \
            min(cfg.max_seq_length, cfg.max_prompt_length + cfg.max_completion_length)  # as planned
        details.append(f"micro-batch: {p.micro_batch} completions x {tokens} tokens")
        for d in details:
            console.print(Text(d, style="dim"))
    verdict = Text.assemble(("verdict: ", "bold"), (p.verdict, f"bold {VERDICT_STYLE.get(p.verdict, '')}"))
    if p.headroom is not None and p.device == "cuda":
        verdict.append(f"  (fits wants {p.margin:.2f} GiB spare)")
    console.print(verdict)
    for r in p.reasons:
        console.print(Text(f"  - {r}"))
    for n in p.notes + [n for n in cfg.notices() if n not in p.notes]:  # + notebook settings applied differently
        console.print(Text(f"  - {n}", style="dim"))
    for s, q in fixes[:3]:
        console.print(Text(f"  try --set {s}  ->  {q.total:.1f} GiB, {q.verdict}", style="green"))
    if p.verdict == planner.NO and not fixes:
        console.print(Text("  no single change makes it fit: pick a smaller preset (grpo-tui presets)", style="yellow"))
    return 0


def _bar(gib: float, scale: float, width: int = 30) -> str:
    n = 0 if scale <= 0 else max(1, round(width * gib / scale))
    return "#" * n
