"""`grpo-tui doctor`: the GPUs, the training stack, and what the GPU path lacks.

Reads NVML through nvidia-ml-py and package versions through importlib.metadata:
nothing heavy is imported, so it answers in well under a second and works when
an import of torch or vLLM would crash.
"""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _gib(x: float | None, reason: str = "") -> str:
    if x is None:
        return f"N/A ({reason})" if reason else "N/A"
    return f"{x:.1f}"


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..core.planning import hardware, planner, stack
    from ..core.planning.presets import discover

    hw = hardware.detect()
    st = stack.detect()
    presets = discover()
    rec = planner.recommend(presets, hw, ram_gb=hw.host.ram_available_gb)

    if args.json:
        import json

        print(json.dumps({"hardware": hw.to_dict(), "stack": st.to_dict(), "recommended": rec.name,
                          "recommended_reason": rec.reason}, indent=2, default=str))
        return 0

    console = Console()
    console.print(Text("GPUs", style="bold"))
    if not hw.gpus:
        console.print(Text(f"  none: {hw.no_gpu_reason}", style="yellow"))
    else:
        console.print(Text(f"  driver {hw.driver_version or 'N/A'}, CUDA (driver) "
                           f"{hw.cuda_driver_version or 'N/A'}", style="dim"))
        t = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("#", "name", "total GiB", "used", "free", "cc", "bf16", "MIG"):
            t.add_column(col, justify="right" if col in ("total GiB", "used", "free") else "left")
        for g in hw.gpus:
            mem_reason = g.reason("memory")
            cc = f"{g.compute_capability[0]}.{g.compute_capability[1]}" if g.compute_capability else \
                f"N/A ({g.reason('compute_capability')})"
            bf16 = "N/A" if g.bf16 is None else ("yes" if g.bf16 else "no (fp16)")
            if g.mig_enabled:
                sizes = ", ".join(f"{m.total_bytes / hardware.GIB:.1f}" for m in g.mig_instances if m.total_bytes)
                mig = f"on ({len(g.mig_instances)} instances: {sizes} GiB)"
            elif g.mig_enabled is None:
                mig = f"N/A ({g.reason('mig')})" if g.reason("mig") else "N/A"
            else:
                mig = "off"
            t.add_row(str(g.index), Text(g.name), _gib(g.total_gb, mem_reason), _gib(g.used_gb),
                      _gib(g.free_gb), cc, bf16, Text(mig))
        console.print(t)
        for g in hw.gpus:
            if g.unified_memory:
                console.print(Text(f"  GPU {g.index}: memory N/A ({g.reason('memory')}): unified memory? plan with "
                                   "--vram N", style="yellow"))
            if g.mig_enabled:
                console.print(Text(f"  GPU {g.index}: MIG on: one run gets one instance; planning uses "
                                   f"{_gib(g.plannable_gb)} GiB", style="yellow"))
            skipped = {k: v for k, v in g.na.items() if k not in ("memory", "mig", "compute_capability")}
            if skipped:
                details = ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items()))
                console.print(Text(f"  GPU {g.index} N/A: {details}", style="dim"))

    h = hw.host
    console.print(Text.assemble(("Host  ", "bold"), f"{h.cpu_name or 'CPU'}, {h.cpu_count or '?'} threads, RAM ",
                                f"{_gib(h.ram_total_gb)} GiB ({_gib(h.ram_available_gb)} available), {h.os}, "
                                f"Python {h.python}"))

    console.print(Text("Training stack", style="bold"))
    t = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("package", "installed", "tested", "status"):
        t.add_column(col)
    style = {"ok": "green", "untested": "yellow", "conflict": "red", "missing": "dim"}
    for p in st.packages:
        inst = p.version or "-"
        if p.name == "torch" and p.version:
            inst += f" (CUDA {st.torch_cuda})" if st.torch_cuda else " (CPU build)"
        status = p.status + (f": {p.detail}" if p.detail else "")
        t.add_row(p.name, inst, p.tested or "-", Text(status, style=style.get(p.status, "")))
    console.print(t)
    if st.works_together:
        console.print(Text("  the installed versions work together" +
                           (" (the tested set)" if st.is_tested_set else " (not the tested set)"), style="green"))
    else:
        bad = ", ".join(f"{p.name} {p.version} ({p.detail})" for p in st.packages if p.status == "conflict")
        console.print(Text(f"  these versions do not work together: {bad}", style="red"))

    console.print(Text("GPU path", style="bold"))
    if st.gpu_missing:
        for what, cmd in st.gpu_missing:
            console.print(Text.assemble("  missing ", (what, "yellow"), ": ", (cmd, "cyan")))
    else:
        console.print(Text("  torch with CUDA, unsloth, vllm, bitsandbytes and vllm-bnb-plugin are installed", style="green"))

    console.print(Text("Verdict", style="bold"))
    if not hw.gpus or hw.vram_gb is None:
        why = hw.no_gpu_reason if not hw.gpus else "the GPU does not report its memory"
        console.print(Text(f"  no usable GPU ({why}): the CPU preset {rec.name} will be used", style="yellow"))
    elif st.gpu_missing:
        console.print(Text(f"  GPU found; install the missing pieces above for the Unsloth path "
                           f"(until then runs use backend trl). Recommended preset: {rec.name}", style="yellow"))
    else:
        console.print(Text(f"  ready: recommended preset {rec.name} -- {rec.reason}", style="green"))
    return 0
