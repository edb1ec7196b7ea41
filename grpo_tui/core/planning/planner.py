"""The memory planner: will this GRPO configuration fit this GPU, and why (not)?

It models what will actually run, not what was asked. Units: GiB (2**30 bytes,
what nvidia-smi's MiB/1024 and torch report). ``vram`` is the card's NVML total.

Formulas (see docs/planner.md for the derivations and the published figures):

* Architecture: a local folder's config.json, else the hub cache's config.json for the id, else
  a table of known models (``MODELS``: layers, hidden size,
  heads, KV heads, head dim, MLP size, vocab, tied embeddings, from each
  model's config.json on the Hugging Face Hub), else a fallback that parses the
  size from the id ("Qwen3-4B" -> 4e9) and scales a Llama-shaped architecture.
  Linear parameters per layer P_l = h*(q+2kv) + q*h + 3*h*I, with q = heads*head_dim,
  kv = kv_heads*head_dim; embeddings E = V*h (twice if untied).
* Weights: 16-bit: 2 bytes/param. 4-bit (bitsandbytes NF4, Unsloth's dynamic
  quants): 4.5 bits per linear parameter (the figure Unsloth's own estimator
  names, ``approximate_vllm_memory_usage``) + 16-bit embeddings / lm_head.
* LoRA: rank r on every target module: r*(in+out) parameters per module per
  layer. Adapters are float32 (PEFT's default): 4 (weights) + 4 (grads) +
  optimizer bytes (adamw_torch*: 8, *8bit: 2, adafactor: 4, sgd: 0) per param.
* Activations with gradient checkpointing, per micro-batch of B completions of
  L = prompt + completion tokens: B*L*h*(2*n_ckpt + 34) bytes, where 34*B*L*h is
  one transformer layer's 16-bit activations recomputed in backward (Korthikanti
  et al. 2022, flash attention so no L^2 term) and n_ckpt the layers whose
  checkpoint stays on the GPU: all layers for ``true``, 2 for ``unsloth`` (it
  offloads checkpoints to CPU RAM), and with no checkpointing 34*B*L*h per layer.
* GRPO logits/loss buffers: plain TRL: B*C*V*6 bytes for the micro-batch (16-bit logits, their
  gradient, the temperature-scaled copy). Unsloth (unsloth_zoo grpo_accumulated_loss) runs the
  model on mini-batches of one completion and the lm_head in chunks: C*V*(2 + 4/m) bytes (one
  completion's 16-bit logits, its float32 log-softmax in m = max(4, L // 4096) chunks) plus the
  batch's final hidden states and their gradient, 4*B*C*h; its activations count one completion.
  B is the batch that runs (RunConfig.effective_batch_size: raised to num_generations when
  B*gradient_accumulation_steps*processes does not divide by it, as Unsloth does).
* vLLM colocated: it reserves u * device_total where device_total = 0.985*vram
  (the part CUDA lets a process have) and u is, with Unsloth standby on,
  Unsloth's own tier (``standby_utilization``), whatever was requested;
  otherwise the requested ``gpu_memory_utilization``. Inside that reservation:
  the weights (Unsloth shares them with training; TRL's colocate mode loads a
  second copy outside), vLLM's LoRA slot (16-bit, rank rounded up to a vLLM
  rank), vLLM's activation peak + CUDA graphs (0.6 GiB + clamp(172*h*layers*4
  bytes, 0.15, 1.0) GiB, the graph term is Unsloth's estimator), and the KV
  cache gets the rest: 2*layers*kv_heads*head_dim*2 bytes per token.
* Without vLLM, generation runs in the training process: its KV cache for the
  whole generation batch, 16-bit, at the phase peak (max with the backward).
* Overhead: CUDA context 0.5 GiB (outside torch, per process) + 0.75 GiB runtime
  (cuBLAS workspaces, allocator rounding, dequantisation buffers), calibrated
  on Unsloth's measured T4 run.

Verdict: headroom = vram - total. ``fits`` when headroom >= max(1.25 GiB,
5% of vram) and vLLM's KV cache holds two groups (2 * num_generations * L
tokens); ``tight`` when 0 <= headroom < that margin or the KV cache is smaller;
``no`` when headroom is negative or the KV cache cannot hold one full sequence.

API:
    plan(cfg, vram_gb) -> Plan              .parts (GiB), .total, .verdict, .vram, .groups()
    check_launch(cfg, hw_or_vram) -> Plan   raises ConfigError with the breakdown when it cannot fit
    recommend(presets, hw_or_vram) -> Recommendation (.name, .reason, .plans)
    model_spec(model_id) -> ModelSpec
    standby_utilization(device_total_gb) -> float
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import cpu_speed
from ..settings.config import ConfigError, RunConfig

if TYPE_CHECKING:  # pragma: no cover
    from .hardware import Hardware
    from .presets import Preset

GIB = 1024**3

# --- constants (each one's source is in docs/planner.md) -------------------------------
DEVICE_FRACTION = 0.985  # device_total / NVML total (T4: 15.0 -> 14.78, Colab reports 14.74)
CUDA_CONTEXT_GB = 0.5
RUNTIME_GB = 0.75
# Unsloth with UNSLOTH_VLLM_STANDBY: what its measured T4 peak ([CI-T4], 13.60 GiB) holds beyond the
# terms below. The notebooks' runs without standby (older Unsloth, vLLM share 10.22 GiB of 14.74)
# need no such term; the cause is not identified, the figure is calibrated (docs/planner.md).
STANDBY_EXTRA_GB = 1.0
VLLM_ACTIVATION_GB = 0.6
FOUR_BIT_BYTES = 4.5 / 8
FIT_MARGIN_GB = 1.25
FIT_MARGIN_FRACTION = 0.05
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # unsloth_zoo get_lora_supported_ranks
OPTIMIZER_BYTES = {"sgd": 0, "adafactor": 4, "lion_8bit": 1, "lion": 4}  # else: *8bit -> 2, adam* -> 8


# --------------------------------------------------------------------------------------
# Model architectures
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    id: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    params_b: float  # published parameter count, billions
    source: str = ""
    estimated: bool = False  # True: parsed from the id, not from a config.json
    model_type: str = ""  # config.json's model_type: which names its linear layers have

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def linear_params(self) -> int:
        h = self.hidden
        per_layer = h * (self.q_dim + 2 * self.kv_dim) + self.q_dim * h + 3 * h * self.intermediate
        return per_layer * self.layers

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def total_params(self) -> int:
        return self.linear_params + self.embedding_params + self.layers * 2 * self.hidden + self.hidden

    def module_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each LoRA-targetable module."""
        h, q, kv, i = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        if self.model_type.startswith("lfm2"):  # transformers' Lfm2: attention, short convolutions, w1/w3/w2 MLP
            return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "out_proj": (q, h),
                    "in_proj": (h, 3 * h), "w1": (h, i), "w3": (h, i), "w2": (i, h)}
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def lora_params(self, rank: int, targets: Iterable[str]) -> int:
        shapes = self.module_shapes()
        per_layer = sum(rank * (a + b) for t in targets if t in shapes for a, b in [shapes[t]])
        return per_layer * self.layers

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_dim * dtype_bytes


_HUB = "config.json on huggingface.co/"


def _m(id_: str, layers: int, hidden: int, heads: int, kv: int, hd: int, inter: int, vocab: int,
       tied: bool, params_b: float) -> ModelSpec:
    return ModelSpec(id_, layers, hidden, heads, kv, hd, inter, vocab, tied, params_b, _HUB + id_)


# Architectures from each model's config.json; params_b from its model card.
MODELS: dict[str, ModelSpec] = {m.id.lower(): m for m in (
    _m("Qwen/Qwen2.5-0.5B-Instruct", 24, 896, 14, 2, 64, 4864, 151936, True, 0.49),
    _m("Qwen/Qwen2.5-1.5B-Instruct", 28, 1536, 12, 2, 128, 8960, 151936, True, 1.54),
    _m("Qwen/Qwen2.5-3B-Instruct", 36, 2048, 16, 2, 128, 11008, 151936, True, 3.09),
    _m("Qwen/Qwen2.5-7B-Instruct", 28, 3584, 28, 4, 128, 18944, 152064, False, 7.61),
    _m("Qwen/Qwen2.5-14B-Instruct", 48, 5120, 40, 8, 128, 13824, 152064, False, 14.7),
    _m("Qwen/Qwen3-0.6B", 28, 1024, 16, 8, 128, 3072, 151936, True, 0.6),
    _m("Qwen/Qwen3-1.7B", 28, 2048, 16, 8, 128, 6144, 151936, True, 1.7),
    _m("Qwen/Qwen3-4B", 36, 2560, 32, 8, 128, 9728, 151936, True, 4.0),
    _m("Qwen/Qwen3-8B", 36, 4096, 32, 8, 128, 12288, 151936, False, 8.2),
    _m("Qwen/Qwen3-14B", 40, 5120, 40, 8, 128, 17408, 151936, False, 14.8),
    _m("Qwen/Qwen3-32B", 64, 5120, 64, 8, 128, 25600, 151936, False, 32.8),
    _m("meta-llama/Llama-3.2-1B-Instruct", 16, 2048, 32, 8, 64, 8192, 128256, True, 1.24),
    _m("meta-llama/Llama-3.2-3B-Instruct", 28, 3072, 24, 8, 128, 8192, 128256, True, 3.21),
    _m("meta-llama/Llama-3.1-8B-Instruct", 32, 4096, 32, 8, 128, 14336, 128256, False, 8.03),
    _m("google/gemma-3-1b-it", 26, 1152, 4, 1, 256, 6912, 262144, True, 1.0),
    _m("microsoft/phi-4", 40, 5120, 40, 10, 128, 17920, 100352, False, 14.7),
    _m("mistralai/Mistral-7B-Instruct-v0.3", 32, 4096, 32, 8, 128, 14336, 32768, False, 7.25),
    _m("deepseek-ai/DeepSeek-R1-0528-Qwen3-8B", 36, 4096, 32, 8, 128, 12288, 151936, False, 8.2),
    _m("google/gemma-3-4b-it", 34, 2560, 8, 4, 256, 10240, 262208, True, 3.9),  # text tower of the 4B
    _m("meta-llama/Llama-3.2-1B", 16, 2048, 32, 8, 64, 8192, 128256, True, 1.24),
    _m("HuggingFaceTB/SmolLM2-135M-Instruct", 30, 576, 9, 3, 64, 1536, 49152, True, 0.135),
    _m("HuggingFaceTB/SmolLM2-360M-Instruct", 32, 960, 15, 5, 64, 2560, 49152, True, 0.362),
)}

# Hub ids that name the same weights (Unsloth mirrors, base/instruct, pre-quantized).
_SUFFIXES = ("-unsloth-bnb-4bit", "-bnb-4bit", "-instruct", "-it", "-base")


_DROP_WORDS = {"instruct", "it", "base", "unsloth", "bnb", "4bit", "chat"}


def _key(model_id: str) -> str:
    name = model_id.strip().lower().rsplit("/", 1)[-1]
    name = name.replace("meta-llama-", "llama-")
    changed = True
    while changed:
        changed = False
        for suf in _SUFFIXES:
            if name.endswith(suf):
                name, changed = name[: -len(suf)], True
    # Mistral puts "-instruct" before the version ("mistral-7b-instruct-v0.3")
    return "-".join(w for w in name.split("-") if w not in _DROP_WORDS)


_BY_KEY = {_key(k): v for k, v in MODELS.items()}

_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.I)


def parse_size_b(model_id: str) -> float | None:
    """"Qwen3-4B" -> 4.0, "SmolLM2-360M" -> 0.36; None when the id names no size."""
    hits = _SIZE.findall(model_id.rsplit("/", 1)[-1])
    if not hits:
        return None
    num, unit = hits[-1]
    return float(num) / (1000 if unit.lower() == "m" else 1)


class UnknownModel(ConfigError):
    """The planner cannot tell the model's size (no table entry, no size in the id, no config.json)."""


def model_spec(model_id: str) -> ModelSpec:
    """The architecture of ``model_id``: a local folder's config.json, the table, else
    estimated from the size in its id."""
    local = _from_config_json(model_id)
    if local is not None:
        return local
    cached = _from_hub_cache(model_id)
    if cached is not None:
        return cached
    hit = MODELS.get(model_id.lower()) or _BY_KEY.get(_key(model_id))
    if hit is not None:
        return hit
    if model_id.startswith("builtin:"):
        return ModelSpec(model_id, 2, 64, 4, 4, 16, 256, 512, True, 0.0002, "built in", False)
    size = parse_size_b(model_id)
    if size is None:
        raise UnknownModel("model", f"cannot tell the size of {model_id!r}",
                           "use a model id that names its size (e.g. ...-4B) or one of: "
                           + ", ".join(m.id for m in MODELS.values()))
    return _scaled(model_id, size)


def hub_cache_config(model_id: str) -> "Path | None":
    """The config.json of ``model_id`` in the Hugging Face hub cache, when it was downloaded
    (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub); no network, no import."""
    import os
    from pathlib import Path

    if model_id.startswith(("builtin:", ".", "/", "~")) or model_id.count("/") != 1:
        return None
    root = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    repo = Path(root) / ("models--" + model_id.replace("/", "--"))
    try:
        ref = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
        path = repo / "snapshots" / ref / "config.json"
        if path.is_file():
            return path
    except OSError:
        pass
    found = sorted(repo.glob("snapshots/*/config.json")) if repo.is_dir() else []
    return found[-1] if found else None


def _from_hub_cache(model_id: str) -> ModelSpec | None:
    path = hub_cache_config(model_id)
    if path is None:
        return None
    spec = _from_config_json(str(path.parent))
    return None if spec is None else replace(spec, id=model_id, source=f"{path} (hub cache)")


def _from_config_json(model_id: str) -> ModelSpec | None:
    """A local model folder: read its config.json (no transformers import)."""
    import json
    from pathlib import Path

    if not model_id.startswith((".", "/", "~")):
        return None
    path = Path(model_id).expanduser() / "config.json"
    try:
        c = json.loads(path.read_text(encoding="utf-8"))
        c = c.get("text_config", c)
        heads = int(c["num_attention_heads"])
        hidden = int(c["hidden_size"])
        spec = ModelSpec(model_id, int(c["num_hidden_layers"]), hidden, heads,
                         int(c.get("num_key_value_heads") or heads), int(c.get("head_dim") or hidden // heads),
                         int(c.get("intermediate_size") or c["block_ff_dim"]), int(c["vocab_size"]),
                         bool(c.get("tie_word_embeddings", True)), 0.0, f"{path}", False,
                         str(c.get("model_type") or ""))
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    return replace(spec, params_b=round(spec.total_params / 1e9, 3))


def _scaled(model_id: str, size_b: float) -> ModelSpec:
    """A Llama/Qwen-shaped architecture with ``size_b`` billion parameters.

    Shape rules fitted to the table: layers ~ 28 at 1-8B (wider, not deeper),
    MLP = 3.5*h, GQA with 8 KV heads of 128, vocab 152k; hidden solved from size.
    """
    vocab = 151936
    layers = 24 if size_b < 1 else 28 if size_b < 10 else 48 if size_b < 40 else 80
    head_dim = 128
    # params = layers*(h*(h + 2*1024) + h*h + 3*h*3.5h) + vocab*h  (untied above 5B)
    tied = size_b < 5
    a = layers * (2 + 10.5)
    b = layers * 2 * 1024 + vocab * (1 if tied else 2)
    c = -size_b * 1e9
    h = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    h = max(256, int(round(h / 128)) * 128)
    heads = max(1, h // head_dim)
    return ModelSpec(model_id, layers, h, heads, min(8, heads), head_dim, int(3.5 * h) // 128 * 128, vocab,
                     tied, size_b, f"estimated from the size in the id ({size_b:g}B)", True)


# --------------------------------------------------------------------------------------
# Unsloth's standby tier
# --------------------------------------------------------------------------------------
def standby_utilization(device_total_gb: float, vllm_at_least_0_11: bool = True) -> float:
    """gpu_memory_utilization Unsloth forces when UNSLOTH_VLLM_STANDBY is on.

    unsloth_zoo/vllm_utils.py ``load_vllm`` (unslothai/unsloth-zoo @ ce232d6,
    2026-08-20): ten_percent = total_GiB * 0.1 (torch's total), a tier by
    ten_percent, times 0.95 for vLLM >= 0.11; a request above or below the tier
    is replaced by it (unless UNSLOTH_VLLM_STANDBY_UTIL_OVERRIDE is set).
    """
    ten = device_total_gb * 0.1
    if vllm_at_least_0_11:
        tiers = ((4.0, 0.925), (2.5, 0.9), (2.0, 0.825), (1.4, 0.8), (1.0, 0.775))
        base = next((u for lim, u in tiers if ten >= lim), 0.75)
        return round(base * 0.95, 6)
    tiers = ((9.0, 0.9), (4.0, 0.875), (2.5, 0.85), (2.0, 0.825), (1.4, 0.8), (1.0, 0.75))
    return next((u for lim, u in tiers if ten >= lim), 0.7)


def _checked_targets(cfg: RunConfig, spec: ModelSpec) -> list[str]:
    """The LoRA target modules as trained; ConfigError for a name that is not one of the model's
    linear layers (peft would fail with NoMatchingPeftModuleError after the model loaded)."""
    targets = cfg.lora_targets
    if cfg.full_finetuning:
        return targets
    shapes = spec.module_shapes()
    bad = [t for t in targets if t not in shapes]
    if bad and spec.estimated:  # the architecture is a guess from the id: its own names cannot be checked here
        return targets
    if bad:
        raise ConfigError("target_modules", f"{', '.join(map(repr, bad))} is not a linear layer of {spec.id}",
                          f'use some of {", ".join(shapes)} or "all-linear"')
    return targets


def vllm_lora_rank(rank: int) -> int:
    return next((r for r in VLLM_LORA_RANKS if r >= rank), rank)


def optimizer_bytes(optim: str) -> int:
    o = optim.lower()
    if o in OPTIMIZER_BYTES:
        return OPTIMIZER_BYTES[o]
    if "8bit" in o:
        return 2
    if "sgd" in o:
        return 0
    return 8


# --------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------
PART_LABELS = {
    "weights": "model weights",
    "lora": "LoRA params + grads + optimizer",
    "activations": "activations (gradient checkpointing)",
    "logits": "GRPO logits / loss buffers",
    "generation_kv": "generation KV cache (no vLLM)",
    "vllm": "vLLM share (KV cache, LoRA slot, graphs)",
    "overhead": "CUDA context + runtime",
}
GROUPS = {  # the start screen's memory bar
    "weights": ("weights",),
    "training": ("lora", "activations", "logits", "generation_kv"),
    "vllm_kv": ("vllm",),
    "overhead": ("overhead",),
}

FITS, TIGHT, NO, CPU, NO_GPU = "fits", "tight", "no", "cpu", "no-gpu"


@dataclass
class Plan:
    name: str
    model: str
    spec: ModelSpec
    device: str  # cuda | cpu
    vram: float | None  # GiB the plan was made for (NVML total), None: no GPU given
    parts: dict[str, float]  # GiB, in PART_LABELS order
    total: float
    verdict: str  # fits | tight | no | cpu | no-gpu
    headroom: float | None = None
    margin: float = 0.0  # headroom needed for "fits"
    gpu_memory_utilization: float | None = None  # what vLLM will actually get
    requested_utilization: float | None = None
    vllm_reserved: float | None = None
    kv_cache: float | None = None
    kv_tokens: int | None = None
    micro_batch: int = 0
    reasons: list[str] = field(default_factory=list)  # why not / why tight
    notes: list[str] = field(default_factory=list)  # what the planner changed or assumed

    @property
    def total_gb(self) -> float:
        return self.total

    @property
    def fits(self) -> bool:
        return self.verdict in (FITS, TIGHT, CPU)

    def groups(self) -> dict[str, float]:
        """weights / training / vllm_kv / overhead / headroom, for a memory bar (GiB)."""
        out = {g: round(sum(self.parts.get(p, 0.0) for p in ps), 3) for g, ps in GROUPS.items()}
        out["headroom"] = round(max(0.0, self.headroom or 0.0), 3)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "model": self.model, "device": self.device, "vram_gb": self.vram,
            "parts_gb": {k: round(v, 3) for k, v in self.parts.items()}, "total_gb": round(self.total, 3),
            "headroom_gb": None if self.headroom is None else round(self.headroom, 3),
            "verdict": self.verdict, "margin_gb": round(self.margin, 3),
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "requested_gpu_memory_utilization": self.requested_utilization,
            "vllm_reserved_gb": None if self.vllm_reserved is None else round(self.vllm_reserved, 3),
            "kv_cache_gb": None if self.kv_cache is None else round(self.kv_cache, 3),
            "kv_cache_tokens": self.kv_tokens, "micro_batch": self.micro_batch,
            "groups_gb": self.groups(), "reasons": list(self.reasons), "notes": list(self.notes),
            "model_params_b": round(self.spec.total_params / 1e9, 3), "model_source": self.spec.source,
        }

    def explain(self) -> str:
        """A plain-text breakdown (used in launch refusals)."""
        where = "CPU RAM" if self.device == "cpu" else f"{self.vram:.1f} GiB GPU" if self.vram else "GPU"
        lines = [f"{self.name}: {self.model} on {where}"]
        for k, v in self.parts.items():
            if v:
                lines.append(f"  {PART_LABELS[k]:<42} {v:6.2f} GiB")
        lines.append(f"  {'total':<42} {self.total:6.2f} GiB")
        if self.headroom is not None:
            lines.append(f"  {'headroom':<42} {self.headroom:6.2f} GiB -> {self.verdict}")
        lines += [f"  - {r}" for r in self.reasons + self.notes]
        return "\n".join(lines)


def device_total(vram: float) -> float:
    return vram * DEVICE_FRACTION


def _uses_colocated_vllm(cfg: RunConfig) -> bool:
    if cfg.backend == "unsloth":
        return bool(cfg.fast_inference) or (cfg.use_vllm and cfg.vllm_mode == "colocate")
    return cfg.use_vllm and cfg.vllm_mode == "colocate"


def vllm_share_applies(cfg: RunConfig) -> bool:
    """Does gpu_memory_utilization mean anything for ``cfg``? Only for a vLLM colocated on a GPU: a
    CPU config (vLLM's CPU build sizes its cache by VLLM_CPU_KVCACHE_SPACE) or one that generates
    with transformers has no share to set."""
    return cfg.device != "cpu" and _uses_colocated_vllm(cfg)


def _weight_bytes(cfg: RunConfig, spec: ModelSpec, on_cpu: bool) -> float:
    if on_cpu:
        return spec.total_params * (4 if cfg.dtype in ("auto", "float32") else 2)
    if cfg.load_in_4bit:
        return spec.linear_params * FOUR_BIT_BYTES + (spec.total_params - spec.linear_params) * 2
    if cfg.load_in_8bit or cfg.load_in_fp8:  # LLM.int8 / FP8: 1 byte per linear weight (+ scales, negligible)
        return spec.linear_params * 1 + (spec.total_params - spec.linear_params) * 2
    return spec.total_params * 2


def _training_bytes(cfg: RunConfig, spec: ModelSpec, targets: list[str], on_cpu: bool, L: int
                    ) -> tuple[float, float, float]:
    """(LoRA + its optimizer state, activations, logits) of one optimisation micro-step, in bytes."""
    h, B, C = spec.hidden, cfg.effective_batch_size, cfg.max_completion_length
    p_lora = 0 if cfg.full_finetuning else spec.lora_params(cfg.lora_rank, targets)
    lora = p_lora * (4 + 4 + optimizer_bytes(cfg.optim))
    act_bytes = 4 if on_cpu else 2
    gc = cfg.use_gradient_checkpointing  # normalised by RunConfig: unsloth | true | false
    unsloth_gpu = cfg.backend == "unsloth" and not on_cpu
    # Unsloth's GRPO loss (unsloth_zoo rl_replacements grpo_accumulated_loss) runs the model on
    # mini-batches of one completion and the lm_head in chunks: the backward holds one completion.
    Bb = 1 if unsloth_gpu else B
    per_layer = Bb * L * h * 17 * act_bytes  # 34 bytes at 16-bit
    if gc == "false":
        activations = per_layer * spec.layers
    else:
        # "unsloth" offloads checkpoints to CPU RAM only under Unsloth; TRL keeps them all
        n_ckpt = 2 if gc == "unsloth" and unsloth_gpu else spec.layers
        activations = Bb * L * h * act_bytes * n_ckpt + per_layer
    if unsloth_gpu:
        # one completion's 16-bit logits, its float32 log-softmax in >= 4 chunks along the sequence
        # (multiplier max(4, L // 4096)), and the batch's final hidden states + their gradient
        chunks = max(4, L // 4096)
        logits = C * spec.vocab * (2 + 4 / chunks) + B * C * h * 2 * 2
    else:
        k = 6 * (2 if on_cpu else 1)  # 16-bit logits + gradient + the temperature-scaled copy
        logits = B * C * spec.vocab * k
    return lora, activations, logits


def _generation_in_place(parts: dict[str, float], cfg: RunConfig, spec: ModelSpec, L: int, kv_bytes: int) -> None:
    """Generation with the training model (no vLLM): its KV cache and the training step's activations
    are never held at once, so only the larger of the two phases counts."""
    parts["generation_kv"] = cfg.generation_batch_size * L * spec.kv_bytes_per_token(kv_bytes) / GIB
    if parts["generation_kv"] > parts["activations"] + parts["logits"]:
        parts["activations"] = parts["logits"] = 0.0
    else:
        parts["generation_kv"] = 0.0


# vLLM's CPU build colocated (trainer.vllm_cpu): the KV cache it reserves (VLLM_CPU_KVCACHE_SPACE, set to 1 GiB
# unless the user set it) beside its own copy of the weights.
CPU_VLLM_KV_GB = 1.0


def _plan_cpu(result: Plan, cfg: RunConfig, spec: ModelSpec, L: int, ram_gb: float | None) -> Plan:
    parts = result.parts
    if cfg.use_vllm and cfg.vllm_mode == "colocate":  # the engine generates, with its own weights and cache
        parts["vllm"] = parts["weights"] + CPU_VLLM_KV_GB
        result.notes.append(f"vLLM's CPU build: its own copy of the weights and a {CPU_VLLM_KV_GB:g} GiB KV cache "
                            "(VLLM_CPU_KVCACHE_SPACE)")
    else:
        _generation_in_place(parts, cfg, spec, L, 4)
    parts["overhead"] = 0.3  # python + torch CPU runtime
    speed = cpu_speed.step_note(cfg)  # measured models only (core.planning.cpu_speed)
    if speed:
        result.notes.insert(0, speed)
    result.total = sum(parts.values())
    result.vram = None
    if ram_gb:
        result.headroom = ram_gb - result.total
        result.verdict = CPU if result.headroom >= 0 else NO
        if result.headroom < 0:
            result.reasons.append(f"needs {result.total:.1f} GiB of RAM, {ram_gb:.1f} GiB available")
    else:
        result.verdict = CPU
    return result


def _plan_colocated_vllm(result: Plan, cfg: RunConfig, spec: ModelSpec, targets: list[str], L: int,
                         vram_gb: float | None) -> str:
    """vLLM's share of the GPU (Unsloth's standby tier where it applies), its KV cache and what it adds
    to the total; returns a reason for "tight" when the KV cache cannot hold a whole group."""
    parts, notes = result.parts, result.notes
    shared = cfg.backend == "unsloth"
    result.requested_utilization = cfg.gpu_memory_utilization
    vllm_lora = spec.lora_params(vllm_lora_rank(cfg.vllm_lora_rank), targets) * 2 / GIB
    graphs = min(1.0, max(0.15, 172 * spec.hidden * spec.layers * 4 / GIB))
    vllm_runtime = VLLM_ACTIVATION_GB + graphs
    if vram_gb is None:
        parts["vllm"] = vllm_lora + vllm_runtime  # at least this; the rest depends on the card
        return ""
    dt = device_total(vram_gb)
    if cfg.backend == "unsloth" and cfg.vllm_standby:
        u = standby_utilization(dt)
        if abs(u - cfg.gpu_memory_utilization) > 1e-9:
            notes.append(f"Unsloth standby replaces gpu_memory_utilization {cfg.gpu_memory_utilization:g}"
                         f" with {u:.4g} on a {dt:.1f} GiB device")
    else:
        u = cfg.gpu_memory_utilization
    reserved = u * dt
    result.gpu_memory_utilization = round(u, 6)
    result.vllm_reserved = reserved
    inside = parts["weights"] if shared else 0.0
    kv = reserved - inside - vllm_lora - vllm_runtime
    result.kv_cache = max(0.0, kv)
    result.kv_tokens = int(max(0.0, kv) * GIB // spec.kv_bytes_per_token(2))
    parts["vllm"] = max(0.0, reserved - inside)
    if not shared:
        notes.append("TRL colocate: vLLM loads its own copy of the weights inside its share")
        parts["vllm"] = reserved
    if result.kv_tokens < cfg.max_seq_length:
        result.reasons.append(
            f"vLLM's share ({reserved:.1f} GiB at gpu_memory_utilization {u:.3g}) leaves "
            f"{max(0.0, kv):.2f} GiB of KV cache = {result.kv_tokens} tokens, less than one "
            f"sequence of max_seq_length {cfg.max_seq_length}")
    elif result.kv_tokens < cfg.num_generations * L:
        return (f"vLLM's KV cache holds {result.kv_tokens} tokens, less than one group of "
                f"{cfg.num_generations} x {L}: a group's completions cannot all be generated at once")
    return ""


def _verdict(result: Plan, vram_gb: float, kv_short: str) -> None:
    result.headroom = vram_gb - result.total
    result.margin = max(FIT_MARGIN_GB, FIT_MARGIN_FRACTION * vram_gb)
    if result.headroom < 0:
        result.verdict = NO
        result.reasons.append(f"needs about {result.total:.1f} GiB, the GPU has {vram_gb:.1f} GiB")
    elif result.reasons:
        result.verdict = NO
    elif result.headroom < result.margin:
        result.verdict = TIGHT
        result.reasons.append(f"only {result.headroom:.2f} GiB spare (fits wants {result.margin:.2f})")
    elif kv_short:
        result.verdict = TIGHT
        result.reasons.append(kv_short)
    else:
        result.verdict = FITS


def plan(cfg: RunConfig, vram_gb: float | None = None, *, ram_gb: float | None = None) -> Plan:
    """Estimate peak memory of ``cfg`` on a GPU with ``vram_gb`` GiB (NVML total).

    A CPU config (device == "cpu") is planned against ``ram_gb`` (host RAM, if
    given). A GPU config with ``vram_gb=None`` gets the verdict ``no-gpu``.
    """
    spec = model_spec(cfg.model)
    on_cpu = cfg.device == "cpu"
    notes: list[str] = []
    if cfg.batch_notice():
        notes.append(cfg.batch_notice())
    if cfg.lengths_from_data:  # measured from the prompts at launch: plan the longest completion it can set
        cfg = cfg.with_overrides({"max_prompt_length": 1, "max_completion_length": cfg.max_seq_length - 1})
        notes.append(f"lengths_from_data {cfg.lengths_from_data!r}: the lengths are measured from the prompts at "
                     f"launch; planned at the most it can set (max_completion_length {cfg.max_completion_length})")
    L = min(cfg.max_seq_length, cfg.max_prompt_length + cfg.max_completion_length)
    targets = _checked_targets(cfg, spec)
    lora, activations, logits = _training_bytes(cfg, spec, targets, on_cpu, L)
    parts = {"weights": _weight_bytes(cfg, spec, on_cpu) / GIB, "lora": lora / GIB,
             "activations": activations / GIB, "logits": logits / GIB, "generation_kv": 0.0, "vllm": 0.0,
             "overhead": 0.0}
    result = Plan(cfg.name, cfg.model, spec, "cpu" if on_cpu else "cuda", vram_gb, parts, 0.0, NO,
                  micro_batch=cfg.effective_batch_size, notes=notes, reasons=[])
    if spec.estimated:
        notes.append(f"architecture {spec.source}")
    if on_cpu:
        return _plan_cpu(result, cfg, spec, L, ram_gb)

    parts["overhead"] = CUDA_CONTEXT_GB + RUNTIME_GB
    if cfg.backend == "unsloth" and cfg.fast_inference and cfg.vllm_standby:
        parts["overhead"] += STANDBY_EXTRA_GB
        notes.append(f"standby: +{STANDBY_EXTRA_GB:g} GiB working set measured under UNSLOTH_VLLM_STANDBY "
                     "(Unsloth's T4 CI run)")
    kv_short = ""
    if _uses_colocated_vllm(cfg):
        kv_short = _plan_colocated_vllm(result, cfg, spec, targets, L, vram_gb)
    else:
        _generation_in_place(parts, cfg, spec, L, 2)
        if cfg.use_vllm and cfg.vllm_mode == "server":
            notes.append("vLLM server mode: generation runs on another GPU (`trl vllm-serve`), not counted")

    result.total = sum(parts.values())
    if vram_gb is None:
        result.verdict = NO_GPU
        result.reasons.append("no GPU to plan for (give --vram or --gpu)")
        return result
    _verdict(result, vram_gb, kv_short)
    return result


# --------------------------------------------------------------------------------------
# Launch check and suggestions
# --------------------------------------------------------------------------------------
def _vram_of(target: "Hardware | float | None") -> tuple[float | None, str]:
    if target is None:
        return None, ""
    if isinstance(target, (int, float)):
        return float(target), f"{float(target):.1f} GiB"
    vram = target.vram_gb
    return vram, (target.no_gpu_reason if vram is None else target.summary())


def suggest(cfg: RunConfig, vram_gb: float) -> list[tuple[str, Plan]]:
    """Single-knob changes that make ``cfg`` fit, best first: [("key=value", plan), ...]."""
    tries: list[dict[str, Any]] = []
    if not cfg.load_in_4bit:
        tries.append({"load_in_4bit": True})
    if cfg.backend == "unsloth" and cfg.vllm_standby:
        tries.append({"vllm_standby": False, "gpu_memory_utilization": 0.5})
    if cfg.num_generations > 2:
        g = max(2, cfg.num_generations // 2)
        tries.append({"num_generations": g, "per_device_train_batch_size": max(g, cfg.per_device_train_batch_size // 2)})
    if cfg.max_completion_length > 64:
        c = cfg.max_completion_length // 2
        tries.append({"max_completion_length": c, "max_seq_length": max(cfg.max_prompt_length + c, cfg.max_seq_length // 2)})
    if cfg.lora_rank > 8:
        tries.append({"lora_rank": cfg.lora_rank // 2, "lora_alpha": max(1, cfg.lora_alpha // 2)})
    out = []
    for t in tries:
        try:
            c2 = cfg.with_overrides(t)
            p = plan(c2, vram_gb)
        except ConfigError:
            continue
        if p.verdict in (FITS, TIGHT):
            out.append((" ".join(f"{k}={v}" for k, v in t.items()), p))
    out.sort(key=lambda kp: (kp[1].verdict != FITS, kp[1].total))
    return out


def check_launch(cfg: RunConfig, target: "Hardware | float | None") -> Plan:
    """Refuse (ConfigError, with the breakdown) a configuration that cannot fit.

    ``target``: the detected Hardware, or a VRAM figure in GiB. CPU configs and
    GPU configs on "fits"/"tight" pass and return their Plan.
    """
    vram, what = _vram_of(target)
    if cfg.device == "cpu":
        return plan(cfg)
    if vram is None:
        if cfg.backend == "unsloth" or cfg.device == "cuda":
            raise ConfigError("device", f"{cfg.name} needs an NVIDIA GPU and none is usable ({what or 'no GPU'})",
                              "use a CPU preset (grpo-tui presets) or run on the GPU machine")
        return plan(cfg)  # device auto, trl backend: trains on the CPU
    p = plan(cfg, vram)
    if p.verdict == NO:
        fixes = suggest(cfg, vram)
        fix = f"try --set {fixes[0][0]} (about {fixes[0][1].total:.1f} GiB, {fixes[0][1].verdict})" if fixes \
            else "pick a smaller preset: grpo-tui presets"
        field_name = "gpu_memory_utilization" if p.kv_tokens is not None and p.kv_tokens < cfg.max_seq_length \
            else _biggest_knob(p)
        raise ConfigError(field_name, f"will not fit on {what}:\n{p.explain()}\n", fix)
    return p


def _biggest_knob(p: Plan) -> str:
    train = {"logits": "max_completion_length", "activations": "per_device_train_batch_size",
             "lora": "lora_rank", "weights": "load_in_4bit", "vllm": "gpu_memory_utilization",
             "generation_kv": "num_generations"}
    key = max(train, key=lambda k: p.parts.get(k, 0.0))
    return train[key]


# --------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------
@dataclass
class Recommendation:
    name: str | None
    reason: str
    plans: dict[str, Plan] = field(default_factory=dict)


CPU_FALLBACK = "cpu-tiny"
# What a recommendation asks beyond "fits": the planner has not been checked on every card, so the
# preset the app preselects keeps real headroom (a user who wants a bigger one can still pick it),
# and is made for a card of this size: its vram_class_gb (GB as printed on the box) is no more
# than the card's. A "24 GB" card reports 22.5-24 GiB (1 GB = 0.931 GiB); 3% slack covers NVML's
# reserved memory (a 16 GB T4 reports 15.0 GiB).
RECOMMEND_MARGIN_GB = 1.5
RECOMMEND_MARGIN_FRACTION = 0.05
GB_AS_GIB = 1e9 / GIB


def recommend_margin(vram_gb: float) -> float:
    """Spare GiB a preset must keep on a ``vram_gb`` card to be recommended (``fits`` asks less)."""
    return max(RECOMMEND_MARGIN_GB, RECOMMEND_MARGIN_FRACTION * vram_gb)


def made_for(class_gb: float, vram_gb: float) -> bool:
    """A preset for ``class_gb`` GB cards suits a card reporting ``vram_gb`` GiB (the name does not lie)."""
    return class_gb * GB_AS_GIB * 0.97 <= vram_gb


def recommend(presets: Mapping[str, "Preset"] | Iterable["Preset"], target: "Hardware | float | None",
              *, ram_gb: float | None = None) -> Recommendation:
    """Largest model made for this card that fits with real headroom; better-tested preset on ties.

    When no preset is made for a card this small, the smallest GPU preset that still fits with
    that headroom (said in the reason); else the CPU preset."""
    items = list(presets.values()) if isinstance(presets, Mapping) else list(presets)
    vram, what = _vram_of(target)
    plans: dict[str, Plan] = {}
    for p in items:
        if p.config is None:
            continue
        try:
            plans[p.name] = plan(p.config, vram, ram_gb=ram_gb)
        except ConfigError:
            continue
    names = {p.name for p in items if p.config is not None}
    fallback = CPU_FALLBACK if CPU_FALLBACK in names else next(
        (p.name for p in items if p.config is not None and p.config.device == "cpu"), None)
    if vram is None:
        return Recommendation(fallback, f"no usable GPU ({what or 'none given'}): the CPU preset", plans)
    margin = recommend_margin(vram)
    roomy = [p for p in items if p.name in plans and p.config.device != "cpu" and plans[p.name].verdict == FITS
             and (plans[p.name].headroom or 0.0) >= margin]
    if not roomy:
        return Recommendation(fallback, f"no GPU preset fits {vram:.1f} GiB with {margin:.1f} GiB to spare: "
                              "the CPU preset", plans)
    own_class = [p for p in roomy if made_for(float(p.meta.get("vram_class_gb", 0) or 0), vram)]

    def key(p: "Preset") -> tuple:
        pl = plans[p.name]
        return (round(pl.spec.total_params / 1e8), bool(p.meta.get("tested", False)),
                float(p.meta.get("vram_class_gb", 0) or 0), -pl.total)

    if own_class:
        best = max(own_class, key=key)
        why = f"largest model made for a {vram:.1f} GiB card"
    else:  # a card below every preset's class: the smallest one that still fits, said so
        best = min(roomy, key=lambda p: (float(p.meta.get("vram_class_gb", 0) or 0), plans[p.name].total))
        why = f"no preset is made for a card this small ({vram:.1f} GiB); the smallest that fits"
    pl = plans[best.name]
    return Recommendation(best.name, f"{why} ({pl.total:.1f} GiB planned, {pl.headroom:.1f} GiB spare)", plans)
