"""The ``unsloth`` backend: Unsloth's FastLanguageModel with a colocated vLLM engine + TRL's GRPOTrainer.

UNVERIFIED ON HARDWARE: this module has been exercised only by the contract
tests (tests/test_gpu_contract.py) with stand-in ``unsloth`` / ``vllm`` modules
that record every call, return tiny real transformers models and reject what the
real ones reject; tests/test_gpu_conformance.py checks its calls against the pinned
wheels' source. See docs/gpu.md.

Order matters and is the contract the tests check:
  1. Unsloth's environment is set before anything imports it
     (``UNSLOTH_VLLM_STANDBY``: vLLM sleeps while training runs, so the weights and
     KV cache share one GPU; on only when the preset asks and fast_inference is on).
  2. The GPU pre-flight (no GPU, compute capability < 7.0 or < 7.5 for vLLM, vLLM
     missing or built for another torch, 4-bit without vllm-bnb-plugin) reads the GPUs
     through NVML: nothing starts CUDA before Unsloth has set the allocator's environment.
  3. ``import unsloth`` happens before trl / transformers / peft (it patches them;
     it also applies its GRPO patches itself, so PatchFastRL is not called).
  4. ``FastLanguageModel.from_pretrained(model_name, max_seq_length, load_in_4bit,
     fast_inference, max_lora_rank, gpu_memory_utilization, ...)`` loads the model
     and builds the vLLM engine; ``get_peft_model(r, lora_alpha, target_modules,
     use_gradient_checkpointing="unsloth", random_state)`` adds LoRA.
  5. TRL's GRPOConfig / GRPOTrainer with the preset's settings, the project's
     reward functions and the shared event callback. ``use_vllm`` is left to
     Unsloth: its patched trainer turns it on (colocate) when the model carries a
     vLLM engine.
  6. On finish or stop: ``model.save_lora(run/adapter)``; with ``merge_16bit`` also
     ``save_pretrained_merged(run/merged_16bit, save_method="merged_16bit")``.
  7. With ``eval_size`` > 0: accuracy on the held-out split before and after
     training (``fast_generate`` with the saved adapter as a LoRA request).
  With ``warmstart_steps`` > 0, between 4 and 5: the format warm start (trainer.warmstart) trains the
  LoRA weights in a plain supervised loop, and (with ``eval_size``) accuracy is taken again after it.

Failures end the run with one line that says what to change (trainer.gpu_checks).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from ...core.run import events as ev
from ...core.run import metric_names as M
from ...core.settings.config import RunConfig
from .. import warmstart
from ..context import TrainerContext
from .base import Backend, attach_events

# Test hook (tests/test_gpu_contract.py): with stand-in unsloth/vllm modules on sys.path, skip the CUDA
# pre-flight and train on the CPU. A real Unsloth never runs without a GPU.
STANDIN_ENV = "GRPO_TUI_TEST_STANDINS"
MERGED_DIR = "merged_16bit"
HEAVY_MODULES = ("trl", "transformers", "peft")


# -- what we hand Unsloth, derived from the RunConfig (pure; asserted per preset in tests) ----------
def unsloth_env(cfg: RunConfig) -> dict[str, str]:
    """Environment Unsloth reads at import time."""
    standby = cfg.fast_inference and cfg.vllm_standby
    return {
        "UNSLOTH_VLLM_STANDBY": "1" if standby else "0",
        "TOKENIZERS_PARALLELISM": "false",
    }


def from_pretrained_kwargs(cfg: RunConfig, model_name: str, token: str | None = None) -> dict[str, Any]:
    kw: dict[str, Any] = dict(
        model_name=model_name,
        max_seq_length=cfg.max_seq_length,
        load_in_4bit=cfg.load_in_4bit,
        fast_inference=cfg.fast_inference,
        max_lora_rank=cfg.vllm_lora_rank,  # Unsloth's max_lora_rank; never below the adapter's rank
        gpu_memory_utilization=cfg.gpu_memory_utilization,
        random_state=cfg.random_state,
        dtype=None if cfg.dtype == "auto" else cfg.dtype,
    )
    if cfg.full_finetuning:
        kw["full_finetuning"] = True
    if cfg.load_in_8bit:
        kw["load_in_8bit"] = True
    if cfg.load_in_fp8:  # the FP8 RL notebooks' keyword
        kw["load_in_fp8"] = True
    if cfg.fast_inference and cfg.vllm_standby:
        kw["unsloth_vllm_standby"] = True
    if token:
        kw["token"] = token
    return kw


def gradient_checkpointing_arg(cfg: RunConfig) -> Any:
    return {"unsloth": "unsloth", "true": True, "false": False}.get(cfg.use_gradient_checkpointing, "unsloth")


def peft_kwargs(cfg: RunConfig) -> dict[str, Any]:
    return dict(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_targets,  # finetune_* switches applied, "all-linear" spelled out
        bias=cfg.bias,
        use_gradient_checkpointing=gradient_checkpointing_arg(cfg),
        random_state=cfg.random_state,
    )


def grpo_overrides(cfg: RunConfig, device: str) -> dict[str, Any]:
    """What differs from the trl backend's GRPOConfig: Unsloth owns gradient checkpointing (set on the
    model by get_peft_model) and switches use_vllm on itself when the model has an engine."""
    return {"use_vllm": False, "gradient_checkpointing": False}


def _torch_dtype(name: str | None):
    if name is None:
        return None
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


# -- memory figures ------------------------------------------------------------------------------
def cuda_used_mb() -> float | None:
    """Device memory in use by every process on the current GPU (what nvidia-smi shows), MiB."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        free, total = torch.cuda.mem_get_info()
        return (total - free) / 2**20
    except Exception:
        return None


def engine_metrics(model: Any, used_before_mb: float | None) -> dict[str, float]:
    """The vLLM engine's memory once built: its configured share, the KV cache it got, and the device
    memory the load + engine build took (MiB). Missing figures are left out."""
    out: dict[str, float] = {}
    engine = getattr(model, "vllm_engine", None)
    if engine is None:
        return out
    llm_engine = getattr(engine, "llm_engine", engine)
    vcfg = getattr(llm_engine, "vllm_config", None)
    cache = getattr(vcfg, "cache_config", None) or getattr(llm_engine, "cache_config", None)
    util = getattr(cache, "gpu_memory_utilization", None)
    blocks = getattr(cache, "num_gpu_blocks", None)
    block_size = getattr(cache, "block_size", None)
    if isinstance(util, (int, float)):
        out[M.VLLM_GPU_MEMORY_UTILIZATION] = float(util)
        try:
            import torch

            if torch.cuda.is_available():
                out[M.VLLM_RESERVED_MB] = util * torch.cuda.mem_get_info()[1] / 2**20
        except Exception:
            pass
    if isinstance(blocks, int) and isinstance(block_size, int):
        out[M.VLLM_KV_CACHE_TOKENS] = float(blocks * block_size)
    used = cuda_used_mb()
    if used is not None and used_before_mb is not None:
        out[M.LOAD_AND_ENGINE_MB] = used - used_before_mb
    return out


# -- model source ----------------------------------------------------------------------------------
def _cached_on_disk(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json")
        return isinstance(hit, str)
    except Exception:
        return False


def _hub_online() -> bool:
    """Probe the hub once (trainer.hub); when unreachable, switch the HF libraries offline."""
    try:
        from ..hub import go_offline, hub_reachable
    except ImportError:  # older tree without trainer.hub
        from ..datasets import _hub_reachable as hub_reachable  # type: ignore[attr-defined]

        def go_offline() -> None:
            os.environ["HF_HUB_OFFLINE"] = "1"
    if hub_reachable():
        return True
    go_offline()
    return False


def resolve_model_source(cfg: RunConfig, ctx: TrainerContext) -> str:
    """builtin:tiny -> its cached folder; a local folder -> its path; a hub id -> itself, after a
    ``downloading`` phase when it is not cached yet (Unsloth downloads inside from_pretrained)."""
    from ..gpu_checks import GpuFailure
    from ..tiny import TINY_MODEL, ensure_tiny
    from .trl_backend import is_hub_id

    if cfg.model == TINY_MODEL:
        ctx.phase("building_model", "building the tiny model offline (cached)")
        return str(ensure_tiny(cfg))
    if not is_hub_id(cfg.model):
        return str(Path(cfg.model).expanduser())
    if _cached_on_disk(cfg.model):
        return cfg.model
    if not _hub_online():
        raise GpuFailure("offline", f"model {cfg.model!r} is not in the local cache and the Hugging Face hub is "
                                    "unreachable: connect to the hub once, or --set model=/path/to/local/folder")
    ctx.phase("downloading", f"downloading {cfg.model} from the Hugging Face hub (first run only)")
    return cfg.model


def _first_step_phase(ctx: TrainerContext) -> Any:
    """A callback that shows the first step as ``compiling`` (Unsloth's kernels and torch.compile run
    then, a minute or two) and switches back to ``training`` once it is done. Added after the event
    callback, so its on_train_begin comes after the ``training`` phase that one writes."""
    from transformers import TrainerCallback

    class FirstStepPhase(TrainerCallback):
        first = True

        def on_train_begin(self, args, state, control, **kwargs):
            ctx.phase("compiling", "first step: Unsloth compiles its kernels (a minute or two)",
                      current=state.global_step, total=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if self.first:
                self.first = False
                ctx.phase("training", f"training to step {state.max_steps}", current=state.global_step,
                          total=state.max_steps)

    return FirstStepPhase()


# -- the backend -------------------------------------------------------------------------------------
class UnslothBackend(Backend):
    name = "unsloth"

    def run(self, ctx: TrainerContext) -> str:
        from .. import gpu_checks
        from ..gsm8k import apply_defaults

        cfg = apply_defaults(ctx.cfg)
        ctx.cfg = cfg
        standin = os.environ.get(STANDIN_ENV) == "1"

        # 1. Unsloth's environment, before its first import.
        os.environ.update(unsloth_env(cfg))
        # 2. Pre-flight through NVML: nothing may start CUDA before Unsloth set its environment.
        dev = None
        if not standin:
            ctx.phase("checking_gpu", "checking the GPU and the vLLM install")
            dev = gpu_checks.preflight_here(cfg)
            ctx.log(f"training on {gpu_checks.describe(dev)}")
        vram = dev.total_gb if dev else None
        gpu_name = dev.name if dev else ""
        # 3. Unsloth before trl / transformers / peft.
        early = [m for m in HEAVY_MODULES if m in sys.modules]
        ctx.extras["imported_before_unsloth"] = early
        if early:
            ctx.log(f"{', '.join(early)} imported before unsloth: Unsloth's patches may be incomplete", "warning")
        ctx.phase("importing", "importing Unsloth (it patches transformers, TRL and PEFT)")
        try:
            import unsloth  # noqa: F401  (import order is the point)
            from unsloth import FastLanguageModel
        except ImportError as exc:
            raise gpu_checks.GpuUnavailable(f"Unsloth is not installed ({exc}): {gpu_checks.GPU_INSTALL}") from None
        except NotImplementedError as exc:  # Unsloth's own "no GPU" refusal
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no usable GPU"
            raise gpu_checks.GpuUnavailable(f"Unsloth refused to start: {first}") from None
        from trl import GRPOTrainer

        from ..datasets import dataset_for_run, resolve_lengths
        from ..grpo_args import build_grpo_config
        from ..rewards import build_reward_funcs

        device = "cpu" if standin else "cuda"
        if device == "cpu":
            from ..compat import install_cpu_logprob_fallback

            install_cpu_logprob_fallback()

        # 4. Model + vLLM engine, then LoRA.
        source = resolve_model_source(cfg, ctx)
        used_before = cuda_used_mb()
        what = f"loading {cfg.model}" + (" in 4-bit" if cfg.load_in_4bit else "")
        if cfg.fast_inference:
            what += f" and building the vLLM engine (gpu_memory_utilization {cfg.gpu_memory_utilization}" \
                    + (", standby" if cfg.vllm_standby else "") + ")"
        ctx.phase("loading_model", what)
        kw = from_pretrained_kwargs(cfg, source, gpu_checks.hf_token())
        kw["dtype"] = _torch_dtype(kw["dtype"])
        t0 = time.perf_counter()
        try:
            model, tokenizer = FastLanguageModel.from_pretrained(**kw)
            if not cfg.full_finetuning:
                model = FastLanguageModel.get_peft_model(model, **peft_kwargs(cfg))
        except Exception as exc:
            failure = gpu_checks.explain_failure(exc, cfg, "load", vram, gpu_name)
            if failure is not None:
                raise failure from exc
            raise
        engine = engine_metrics(model, used_before)
        if cfg.fast_inference:
            parts = [f"{k.split('/', 1)[1]}={v:.3g}" for k, v in engine.items()]
            ctx.phase("building_vllm", "vLLM engine ready" + (f": {', '.join(parts)}" if parts else ""),
                      progress=1.0)
        ctx.log(f"model loaded in {time.perf_counter() - t0:.0f}s", "info")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

        # lengths_from_data: measured now, so the evaluation and warm start below use the measured cap
        cfg, measured = resolve_lengths(cfg, tokenizer, ctx.log)
        ctx.cfg = cfg

        # 5. Evaluation before training, then the format warm start on the LoRA weights GRPO goes on
        # with (trainer.warmstart: a plain supervised loop; Unsloth's model trains in one as in SFT).
        if cfg.eval_size > 0 and ctx.resume_from is None:
            self._evaluate(ctx, model, tokenizer, "before", lora_request=None)
        try:
            warmed = warmstart.run_phase(ctx, model, tokenizer)
        except Exception as exc:
            failure = gpu_checks.explain_failure(exc, cfg, "warmstart", vram, gpu_name)
            if failure is not None:
                raise failure from exc
            raise
        if warmed is not None and cfg.eval_size > 0:
            self._evaluate(ctx, model, tokenizer, "warmstart", lora_request=self._live_lora(ctx, model))

        # 6. Trainer.
        ctx.phase("loading_dataset", f"loading {cfg.dataset}")
        cfg, dataset = dataset_for_run(cfg, tokenizer, ctx.log, measured)
        funcs, weights = build_reward_funcs(cfg)
        args = build_grpo_config(cfg, ctx.output_dir, device, reward_weights=weights, **grpo_overrides(cfg, device))
        ctx.phase("building_trainer", "building the GRPO trainer (Unsloth patches and compiles it)")
        trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=funcs, args=args,
                              train_dataset=dataset)
        if cfg.fast_inference and not cfg.full_finetuning and hasattr(model, "fast_generate"):
            from ..ask import VllmAsker

            ctx.extras["asker"] = VllmAsker(trainer)  # asks while paused go through the colocated engine
        callback = attach_events(trainer, ctx)
        if engine:
            base_memory = callback.memory
            callback.memory = lambda: {**base_memory(), **engine}  # the engine's figures ride on every step
        trainer.add_callback(_first_step_phase(ctx))

        # 7. Train, save, evaluate.
        try:
            trainer.train(resume_from_checkpoint=str(ctx.resume_from) if ctx.resume_from else None)
        except Exception as exc:
            failure = gpu_checks.explain_failure(exc, cfg, "step", vram, gpu_name)
            if failure is None:
                raise
            ctx.step = int(trainer.state.global_step)
            if failure.kind == "oom" and ctx.step > 0:
                self._save(ctx, model, tokenizer, merge=False)  # keep what was learned so far
            raise failure from exc
        status = ev.STOPPED if ctx.stop_requested.is_set() else ev.COMPLETED
        ctx.step = int(trainer.state.global_step)
        adapter = self._save(ctx, model, tokenizer, merge=cfg.merge_16bit)
        if cfg.eval_size > 0 and adapter is not None:
            lora_request = model.load_lora(str(adapter)) if cfg.fast_inference and not cfg.full_finetuning else None
            self._evaluate(ctx, model, tokenizer, "after", lora_request=lora_request)
        return status

    # -- pieces ------------------------------------------------------------------------------------
    def _save(self, ctx: TrainerContext, model: Any, tokenizer: Any, *, merge: bool) -> Path | None:
        from ..distributed import is_main_process

        cfg = ctx.cfg
        if not is_main_process():  # accelerate: one writer per run directory
            return ctx.adapter_dir
        ctx.phase("saving", "saving the LoRA adapter" + (" and the 16-bit merged model" if merge else ""))
        path = ctx.adapter_dir
        path.mkdir(parents=True, exist_ok=True)
        if cfg.full_finetuning or not hasattr(model, "save_lora"):
            model.save_pretrained(str(path))
        else:
            model.save_lora(str(path))
        tokenizer.save_pretrained(str(path))
        ctx.extras["adapter_path"] = str(path)
        ctx.emit(ev.CHECKPOINT, path=str(path), kind="adapter")
        if merge:
            merged = ctx.run.path / MERGED_DIR
            model.save_pretrained_merged(str(merged), tokenizer, save_method="merged_16bit")
            ctx.emit(ev.CHECKPOINT, path=str(merged), kind="merged_16bit")
        return path

    def _live_lora(self, ctx: TrainerContext, model: Any) -> Any:
        """The LoRA weights as they are now, as a LoRA request for the colocated engine (vLLM reads an
        adapter from disk: Unsloth's save_lora + load_lora, as for the evaluation after training)."""
        cfg = ctx.cfg
        if not (cfg.fast_inference and not cfg.full_finetuning and hasattr(model, "save_lora")):
            return None
        path = ctx.run.path / "warmstart_adapter"
        model.save_lora(str(path))
        return model.load_lora(str(path))

    def _evaluate(self, ctx: TrainerContext, model: Any, tokenizer: Any, when: str, lora_request: Any) -> None:
        from ..distributed import is_main_process
        from ..evaluate import HfGenerator, VllmGenerator, evaluate

        cfg = ctx.cfg
        if not is_main_process():
            return
        if cfg.fast_inference and hasattr(model, "fast_generate"):
            gen = VllmGenerator(model, tokenizer, cfg.max_completion_length, lora_request=lora_request)
        else:
            gen = HfGenerator(model, tokenizer, cfg.max_completion_length)
        evaluate(cfg, tokenizer, gen, n=cfg.eval_size, when=when, emit=ctx.emit, phase=ctx.phase)
