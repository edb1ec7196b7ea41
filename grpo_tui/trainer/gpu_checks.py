"""The GPU path's pre-flight checks and failure messages: one line each, with the fix.

Everything here is import-light (torch / vLLM only inside functions) and the
checks are pure functions of what was probed, so tests feed them probes of GPUs
this machine does not have.

* ``preflight(devices, ...)``: no GPU; a GPU too old for Unsloth (compute
  capability < 7.0) or for vLLM's kernels (< 7.5); vLLM missing, or built for
  another torch than the one installed (vLLM pins an exact torch); 4-bit with
  fast_inference without vllm-bnb-plugin (bitsandbytes left vLLM's tree in 0.28).
* ``probe_nvml()``: the GPUs through NVML, not torch: nothing may initialise CUDA
  before ``import unsloth`` sets the allocator's environment
  (``expandable_segments``), which CUDA reads once, when it starts.
* ``explain_failure(exc, cfg, where, vram_gb)``: turns a load/step exception into
  a ``GpuFailure`` whose message names the fix: CUDA out of memory (the knob and
  the new value come from the memory planner, ``core.planning.planner.suggest``), a gated
  model without a token, an unreachable hub, the missing vllm-bnb-plugin.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Iterable

from ..core.settings.config import RunConfig
from ..core.planning.stack import TESTED_SET

MIN_CAPABILITY = (7, 0)  # Unsloth's Triton kernels need Volta or newer
# vLLM 0.31's wheels are built with CUDA 13 (they link libcudart.so.13), which dropped Volta: their
# kernels are compiled for sm_75, 80, 86, 89, 90, 100 and 120 (read from the wheel's fatbinaries;
# docs/gpu.md). So fast_inference needs a Turing card or newer.
VLLM_MIN_CAPABILITY = (7, 5)
BNB_PLUGIN = "vllm-bnb-plugin"

# The [gpu] extra as resolved with pip's resolver and pinned (docs/gpu.md); core.planning.stack holds it, and
# `grpo-tui doctor` compares an installed set against it.
TESTED_GPU_SET: dict[str, str] = {k: v for k, v in TESTED_SET.items() if v}
GPU_INSTALL = "pip install 'grpo-tui[gpu]'"


class GpuUnavailable(RuntimeError):
    """This machine cannot run the GPU path; the message is one line with the fix."""


class GpuFailure(RuntimeError):
    """A classified failure during load or training; the message is one line with the fix."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class CudaDevice:
    index: int
    name: str
    capability: tuple[int, int] | None  # None: NVML could not say
    total_gb: float


def probe_nvml() -> list[CudaDevice]:
    """The GPUs a CUDA process here will see (``CUDA_VISIBLE_DEVICES`` applied, numbered as CUDA
    numbers them), read through NVML (core.planning.hardware). Creates no CUDA context."""
    from ..core.planning import hardware

    hw = hardware.detect(processes=False, host=False)
    return [CudaDevice(i, g.name, g.compute_capability, g.plannable_gb or g.total_gb or 0.0)
            for i, g in enumerate(hw.visible_gpus)]


def probe_cuda() -> list[CudaDevice]:
    """The CUDA devices torch sees (empty without a GPU or with a CPU build of torch). Initialises
    CUDA: only after ``import unsloth`` (the pre-flight uses ``probe_nvml``)."""
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        out.append(CudaDevice(i, props.name, (props.major, props.minor), props.total_memory / 2**30))
    return out


def installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _base(version: str | None) -> str | None:
    return None if version is None else version.split("+", 1)[0]


def vllm_torch_pin(requires: Iterable[str] | None) -> str | None:
    """The exact torch version a vLLM wheel's metadata pins (``torch==2.13.0``), if any."""
    for req in requires or ():
        m = re.match(r"^torch\s*==\s*([0-9][^;,\s]*)", req.strip())
        if m:
            return m.group(1)
    return None


def vllm_problem(vllm_version: str | None, vllm_requires: Iterable[str] | None, torch_version: str | None) -> str | None:
    """Why vLLM cannot be used with this torch, or None when it can."""
    if vllm_version is None:
        return (f"vLLM is not installed and fast_inference needs it: {GPU_INSTALL} "
                "(or --set fast_inference=false to generate with transformers, much slower)")
    pin = vllm_torch_pin(vllm_requires)
    if pin and torch_version and _base(torch_version) != pin:
        return (f"vLLM {vllm_version} is built for torch {pin} but torch {torch_version} is installed: "
                f"{GPU_INSTALL} installs a matching set (vllm {TESTED_GPU_SET['vllm']} with torch "
                f"{TESTED_GPU_SET['torch']})")
    return None


def bnb_plugin_problem(plugin_version: str | None) -> str | None:
    """4-bit with fast_inference on vLLM >= 0.28: bitsandbytes lives in vllm-bnb-plugin."""
    if plugin_version is not None:
        return None
    return (f"load_in_4bit with fast_inference needs {BNB_PLUGIN} (vLLM 0.28 moved bitsandbytes out of its "
            f"tree): {GPU_INSTALL} (or pip install {BNB_PLUGIN}=={TESTED_GPU_SET.get(BNB_PLUGIN, '')}), "
            "or --set load_in_4bit=false")


def preflight(devices: list[CudaDevice], *, fast_inference: bool, torch_version: str | None,
              vllm_version: str | None = None, vllm_requires: Iterable[str] | None = None,
              load_in_4bit: bool = False, bnb_plugin_version: str | None = None,
              dtype: str = "auto", torch_cuda: str | None = None) -> CudaDevice:
    """Raise GpuUnavailable (one line) unless the first GPU can run Unsloth; return it."""
    if not devices:
        build = f" (torch {torch_version})" if torch_version else ""
        hint = " -- this torch is a CPU build" if torch_version and "+cpu" in torch_version else ""
        raise GpuUnavailable(
            f"no CUDA GPU: the unsloth backend needs an NVIDIA GPU and torch sees none{build}{hint}; "
            "train on the CPU with --preset cpu-tiny, or check nvidia-smi and CUDA_VISIBLE_DEVICES")
    dev = devices[0]
    cc = tuple(dev.capability) if dev.capability else None
    if cc is not None and cc < MIN_CAPABILITY:
        raise GpuUnavailable(
            f"GPU {dev.index} ({dev.name}) has compute capability {cc[0]}.{cc[1]}; "
            f"Unsloth needs {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]} or newer (Volta, Turing, Ampere...): "
            "use --set backend=trl fast_inference=false on this GPU")
    cuda_major = int(torch_cuda.split(".")[0]) if torch_cuda and torch_cuda.split(".")[0].isdigit() else None
    if cc is not None and cc < VLLM_MIN_CAPABILITY and cuda_major is not None and cuda_major >= 13:
        # PyPI's torch 2.13.0 is a CUDA 13.0 build (cuda-toolkit 13.0.3), and CUDA 13 dropped Volta.
        raise GpuUnavailable(
            f"GPU {dev.index} ({dev.name}) has compute capability {cc[0]}.{cc[1]} and this torch is built with "
            f"CUDA {torch_cuda}, which has no kernels below 7.5: install torch {TESTED_GPU_SET['torch']} built "
            "with CUDA 12.8 (pip install --index-url https://download.pytorch.org/whl/cu128 "
            f"torch=={TESTED_GPU_SET['torch']}) and --set fast_inference=false (vLLM needs CUDA 13)")
    if dtype == "bfloat16" and cc is not None and cc < (8, 0):
        raise GpuUnavailable(
            f"GPU {dev.index} ({dev.name}) has compute capability {cc[0]}.{cc[1]} and no native bfloat16 "
            "(Ampere, 8.0, is the first): --set dtype=auto (Unsloth loads float16 there) or dtype=float16")
    if fast_inference:
        if cc is not None and cc < VLLM_MIN_CAPABILITY:
            raise GpuUnavailable(
                f"GPU {dev.index} ({dev.name}) has compute capability {cc[0]}.{cc[1]}; vLLM "
                f"{TESTED_GPU_SET['vllm']} is built with CUDA 13 and has no kernels below "
                f"{VLLM_MIN_CAPABILITY[0]}.{VLLM_MIN_CAPABILITY[1]} (Turing): --set fast_inference=false")
        problem = vllm_problem(vllm_version, vllm_requires, torch_version)
        if problem:
            raise GpuUnavailable(problem)
        if load_in_4bit:
            problem = bnb_plugin_problem(bnb_plugin_version)
            if problem:
                raise GpuUnavailable(problem)
    return dev


def preflight_here(cfg: RunConfig) -> CudaDevice:
    """``preflight`` with this machine's probes: NVML for the GPUs and torch's build only (importing
    torch does not start CUDA; ``torch.cuda`` calls would, before Unsloth set its environment)."""
    import torch

    version = installed_version("vllm") if cfg.fast_inference else None
    requires = None
    if version is not None:
        try:
            requires = metadata.requires("vllm")
        except metadata.PackageNotFoundError:
            requires = None
    devices = probe_nvml() if torch.version.cuda else []  # a CPU build of torch sees no GPU
    if torch.version.cuda and not devices:
        # NVML saw nothing (no GPU, or NVML itself broken): ask CUDA. With a GPU this starts CUDA early,
        # which is still better than refusing a run NVML could not describe.
        devices = probe_cuda()
    return preflight(devices, fast_inference=cfg.fast_inference, torch_version=torch.__version__,
                     vllm_version=version, vllm_requires=requires, load_in_4bit=cfg.load_in_4bit,
                     bnb_plugin_version=installed_version(BNB_PLUGIN), dtype=cfg.dtype,
                     torch_cuda=torch.version.cuda)


# -- failures during load / training -----------------------------------------------------------
STEP_KNOBS = ("num_generations", "per_device_train_batch_size", "max_completion_length", "max_seq_length",
              "lora_rank", "load_in_4bit")


def is_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc)
    return name == "OutOfMemoryError" or "CUDA out of memory" in text or "CUDA error: out of memory" in text \
        or ("No available memory for the cache blocks" in text)


def _load_change(cfg: RunConfig) -> tuple[dict[str, Any], str]:
    """At load time the weights and vLLM's reservation are what is allocated: shrink those. The trl
    backend loads 16-bit only (it refuses load_in_4bit): there, 4-bit means Unsloth's backend."""
    if not cfg.load_in_4bit:
        if cfg.backend != "unsloth":
            if cfg.use_vllm:
                u = max(0.1, round(cfg.gpu_memory_utilization - 0.1, 2))
                return {"gpu_memory_utilization": u}, f"was {cfg.gpu_memory_utilization}: vLLM's share of the GPU"
            return ({"backend": "unsloth", "load_in_4bit": True},
                    "the trl backend loads 16-bit weights; Unsloth's loads them at about a quarter of that")
        return {"load_in_4bit": True}, "weights at about a quarter of their 16-bit size"
    if cfg.fast_inference and cfg.vllm_standby:
        return ({"vllm_standby": False, "gpu_memory_utilization": 0.5},
                "Unsloth's standby tier overrides the requested share")
    u = max(0.1, round(cfg.gpu_memory_utilization - 0.1, 2))
    return {"gpu_memory_utilization": u}, f"was {cfg.gpu_memory_utilization}: vLLM's share of the GPU"


def _fmt(change: dict[str, Any]) -> str:
    return " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in change.items())


def oom_advice(cfg: RunConfig, where: str, vram_gb: float | None) -> str:
    """Which knob to turn and to what. Load: a fixed rule (4-bit, standby, vLLM share) with the
    planner's before/after figures; step: the planner's first single-knob change that fits and lowers
    the total (core.planning.planner.suggest), else halve the group / the completion length."""
    planner = None
    if vram_gb:
        try:
            from ..core.planning import planner as planner_mod

            current = planner_mod.plan(cfg, vram_gb).total
            planner = planner_mod
        except Exception:  # the planner does not know this model: plain rules
            planner = None
    if where == "load":
        change, why = _load_change(cfg)
        if planner is not None:
            try:
                after = planner.plan(cfg.with_overrides(change), vram_gb).total
                why = f"planner: {current:.1f} -> {after:.1f} GiB of {vram_gb:.1f}"
            except Exception:
                pass
        return f"--set {_fmt(change)} ({why})"
    if planner is not None:
        for change, p in planner.suggest(cfg, vram_gb):
            keys = {kv.split("=", 1)[0] for kv in change.split()}
            if keys & set(STEP_KNOBS) and p.total < current:
                return f"--set {change} (planner: {current:.1f} -> {p.total:.1f} GiB of {vram_gb:.1f})"
    if cfg.num_generations > 2:
        g = max(2, cfg.num_generations // 2)
        return (f"--set num_generations={g} per_device_train_batch_size="
                f"{max(g, cfg.per_device_train_batch_size // 2)} (was {cfg.num_generations})")
    c = max(16, cfg.max_completion_length // 2)
    return f"--set max_completion_length={c} (was {cfg.max_completion_length})"


def _is_gated(exc: BaseException, text: str) -> bool:
    names = {t.__name__ for t in type(exc).__mro__}
    return bool({"GatedRepoError"} & names) or "gated repo" in text.lower() or "is gated" in text.lower() \
        or ("401" in text and "huggingface" in text.lower()) or "access to model" in text.lower()


def _is_unreachable(exc: BaseException, text: str) -> bool:
    names = {t.__name__ for t in type(exc).__mro__}
    low = text.lower()
    return bool({"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError", "ConnectTimeout"} & names) \
        or "couldn't connect" in low or "offline mode" in low or "failed to resolve" in low \
        or "max retries exceeded" in low or "cannot find the requested files in the local cache" in low


def explain_failure(exc: BaseException, cfg: RunConfig, where: str, vram_gb: float | None = None,
                    gpu_name: str = "") -> GpuFailure | None:
    """A one-line GpuFailure for a known failure, else None (the caller re-raises as is).

    ``where``: "load" (model / vLLM engine), "warmstart" (the format warm start's supervised steps) or
    "step" (a training step)."""
    if isinstance(exc, GpuFailure):
        return exc
    text = str(exc)
    if BNB_PLUGIN in text:  # unsloth_zoo: "pip install vllm-bnb-plugin" for load_in_4bit
        return GpuFailure("bnb_plugin", bnb_plugin_problem(None) or text)
    if is_oom(exc):
        on = f" on {gpu_name}" if gpu_name else ""
        size = f" ({vram_gb:.0f} GiB)" if vram_gb else ""
        if where == "warmstart":  # its batch is its own knob: the GRPO plan does not size it
            half = max(1, cfg.warmstart_batch_size // 2)
            advice = (f"--set warmstart_batch_size={half} (was {cfg.warmstart_batch_size})"
                      if cfg.warmstart_batch_size > 1 else "--set warmstart_steps=0 (no warm start)")
            return GpuFailure("oom", f"CUDA out of memory during the format warm start{on}{size}: try {advice}")
        while_ = "loading the model / building the vLLM engine" if where == "load" else "a training step"
        return GpuFailure("oom", f"CUDA out of memory during {while_}{on}{size}: try "
                                 f"{oom_advice(cfg, where, vram_gb)}")
    if where == "load" and _is_gated(exc, text):
        has_token = bool(os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"))
        fix = ("your token has no access: accept the licence on the model's hub page with that account"
               if has_token else
               "accept its licence on the model's hub page, then export HF_TOKEN=... (or `hf auth login`)")
        return GpuFailure("gated", f"model {cfg.model!r} is gated on the Hugging Face hub: {fix}")
    if where == "load" and _is_unreachable(exc, text):
        return GpuFailure("offline", f"model {cfg.model!r} is not in the local cache and the Hugging Face hub is "
                                     "unreachable: connect to the hub once, or --set model=/path/to/local/folder")
    return None


def hf_token() -> str | None:
    return os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None


def describe(dev: CudaDevice | Any) -> str:
    cc = f"compute {dev.capability[0]}.{dev.capability[1]}" if dev.capability else "compute capability unknown"
    return f"GPU {dev.index} {dev.name} ({dev.total_gb:.0f} GiB, {cc})"


def compare_installed(tested: dict[str, str] | None = None,
                      version_of=installed_version) -> list[tuple[str, str | None, str]]:
    """(distribution, installed version or None, tested version) for every package of the tested [gpu] set
    whose installed version differs (local tags such as +cu128 ignored). Empty: the tested set is installed."""
    out = []
    for dist, want in (tested or TESTED_GPU_SET).items():
        have = version_of(dist)
        if _base(have) != want:
            out.append((dist, have, want))
    return out


def vllm_here() -> tuple[str | None, list[str] | None]:
    """(installed vLLM version, its Requires-Dist) or (None, None)."""
    version = installed_version("vllm")
    if version is None:
        return None, None
    try:
        return version, metadata.requires("vllm")
    except metadata.PackageNotFoundError:
        return version, None


def trl_vllm_preflight(cfg: RunConfig, cuda_devices: int, torch_version: str | None,
                       vllm_version: str | None, vllm_requires: Iterable[str] | None,
                       capability: tuple[int, int] | None = None) -> None:
    """The trl backend with ``use_vllm``: vLLM installed and built for this torch (the trainer talks to it
    in both modes); colocate needs a CUDA GPU here (server mode checks its two GPUs when it starts)."""
    if not cfg.use_vllm:
        return
    problem = vllm_problem(vllm_version, vllm_requires, torch_version)
    if problem:
        raise GpuUnavailable(problem.replace("fast_inference needs it", "use_vllm needs it")
                             .replace("--set fast_inference=false to generate with transformers",
                                      "--set use_vllm=false to generate with transformers"))
    if cfg.vllm_mode == "colocate" and cuda_devices < 1:
        raise GpuUnavailable("use_vllm=true needs an NVIDIA GPU (vLLM generates on CUDA) and torch sees none: "
                             "--set use_vllm=false")
    if cfg.vllm_mode == "colocate" and capability is not None and tuple(capability) < VLLM_MIN_CAPABILITY:
        raise GpuUnavailable(f"this GPU has compute capability {capability[0]}.{capability[1]}; vLLM "
                             f"{TESTED_GPU_SET['vllm']} has no kernels below {VLLM_MIN_CAPABILITY[0]}."
                             f"{VLLM_MIN_CAPABILITY[1]} (Turing): --set use_vllm=false")
