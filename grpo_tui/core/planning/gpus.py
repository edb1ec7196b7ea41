"""Known GPUs by name: plan for hardware you do not have (`grpo-tui plan --gpu "RTX 4090"`).

A data table with a loose name lookup; no NVML. core.planning.hardware re-exports it, and the fake NVML
(core.planning.fakenvml) builds its cards from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownGpu:
    name: str  # as NVML reports it
    memory_mib: int  # NVML memory.total
    cc: tuple[int, int]
    aliases: tuple[str, ...] = ()

    @property
    def vram_gb(self) -> float:
        return self.memory_mib / 1024


# memory.total as nvidia-smi / NVML reports it on a stock driver (ECC on where the
# card has it), from NVIDIA's product pages and nvidia-smi output of these cards.
KNOWN_GPUS: tuple[KnownGpu, ...] = (
    KnownGpu("NVIDIA GeForce RTX 3060 Laptop GPU", 6144, (8, 6), ("3060 laptop",)),
    KnownGpu("NVIDIA GeForce RTX 4060 Laptop GPU", 8188, (8, 9), ("4060 laptop",)),
    KnownGpu("NVIDIA GeForce RTX 4070 Laptop GPU", 8188, (8, 9), ("4070 laptop",)),
    KnownGpu("NVIDIA GeForce RTX 3060", 12288, (8, 6), ("3060",)),
    KnownGpu("NVIDIA GeForce RTX 3070", 8192, (8, 6), ("3070",)),
    KnownGpu("NVIDIA GeForce RTX 3080", 10240, (8, 6), ("3080",)),
    KnownGpu("NVIDIA GeForce RTX 3080 Ti", 12288, (8, 6), ("3080 ti",)),
    KnownGpu("NVIDIA GeForce RTX 3090", 24576, (8, 6), ("3090", "3090 ti")),
    KnownGpu("NVIDIA GeForce RTX 4060", 8188, (8, 9), ("4060",)),
    KnownGpu("NVIDIA GeForce RTX 4060 Ti", 16380, (8, 9), ("4060 ti", "4060 ti 16gb")),
    KnownGpu("NVIDIA GeForce RTX 4070", 12282, (8, 9), ("4070", "4070 super")),
    KnownGpu("NVIDIA GeForce RTX 4070 Ti", 12282, (8, 9), ("4070 ti",)),
    KnownGpu("NVIDIA GeForce RTX 4080", 16376, (8, 9), ("4080", "4080 super")),
    KnownGpu("NVIDIA GeForce RTX 4090", 24564, (8, 9), ("4090",)),
    KnownGpu("NVIDIA GeForce RTX 5080", 16303, (12, 0), ("5080",)),
    KnownGpu("NVIDIA GeForce RTX 5090", 32607, (12, 0), ("5090",)),
    KnownGpu("Tesla T4", 15360, (7, 5), ("t4",)),
    KnownGpu("Tesla V100-SXM2-16GB", 16384, (7, 0), ("v100",)),
    KnownGpu("NVIDIA L4", 23034, (8, 9), ("l4",)),
    KnownGpu("NVIDIA A10G", 23028, (8, 6), ("a10g", "a10")),
    KnownGpu("NVIDIA RTX A6000", 49140, (8, 6), ("a6000",)),
    KnownGpu("NVIDIA RTX 6000 Ada Generation", 49140, (8, 9), ("6000 ada",)),
    KnownGpu("NVIDIA L40S", 46068, (8, 9), ("l40s", "l40")),
    KnownGpu("NVIDIA A100-SXM4-40GB", 40960, (8, 0), ("a100 40gb", "a100-40", "a100")),
    KnownGpu("NVIDIA A100-SXM4-80GB", 81920, (8, 0), ("a100 80gb", "a100-80")),
    KnownGpu("NVIDIA H100 80GB HBM3", 81559, (9, 0), ("h100", "h100 sxm", "h100 pcie")),
    KnownGpu("NVIDIA H200", 143771, (9, 0), ("h200",)),
    KnownGpu("NVIDIA B200", 183359, (10, 0), ("b200",)),
)


def _norm(name: str) -> str:
    s = name.lower()
    for junk in ("nvidia", "geforce", "tesla", "rtx", "gpu"):
        s = s.replace(junk, " ")
    return " ".join(s.replace("-", " ").replace("_", " ").split())


def lookup_gpu(name: str) -> KnownGpu | None:
    """A known GPU by a loose name ("RTX 4090", "4090", "a100-80", "Tesla T4")."""
    key = _norm(name)
    if not key:
        return None
    for g in KNOWN_GPUS:  # exact name or alias first
        if key == _norm(g.name) or key in (_norm(a) for a in g.aliases):
            return g
    hits = [g for g in KNOWN_GPUS if key in _norm(g.name)]
    return hits[0] if len(hits) == 1 else None
