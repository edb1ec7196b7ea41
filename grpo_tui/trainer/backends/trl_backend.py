"""The ``trl`` backend: TRL's GRPOTrainer on transformers (+ peft LoRA), CPU or CUDA.

``model`` is ``builtin:tiny`` (built offline by trainer.tiny), a local folder,
a GGUF file, or a hub id (trainer.model_source). Hub ids are loaded with the
normal ``from_pretrained`` code; with no network they fail fast with one line
naming the model (HF_HUB_OFFLINE is set when the hub is unreachable so nothing
hangs on retries), unless the model has a copy on the package index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...core.settings.config import RunConfig
from .. import warmstart
from ..context import TrainerContext
from ..model_source import ModelUnavailable  # noqa: F401 - re-exported (one-line load failures)
from .base import Backend, attach_events, lora_config, train_and_save


def is_hub_id(model: str) -> bool:
    return not model.startswith("builtin:") and not Path(model).expanduser().exists()


def load_model_and_tokenizer(cfg: RunConfig, device: str, ctx: TrainerContext | None = None) -> tuple[Any, Any]:
    """The run's model and tokenizer on ``device``; every source but builtin:tiny goes through
    trainer.model_source (local folder, GGUF file, hub id, or the hub model's package-index copy)."""
    from ..grpo_args import resolve_dtype
    from ..model_source import load_pretrained
    from ..tiny import TINY_MODEL, ensure_tiny

    dtype = resolve_dtype(cfg, device)
    model = cfg.model
    if cfg.model == TINY_MODEL:
        if ctx:
            ctx.phase("building_model", "building the tiny model offline (cached)")
        model = str(ensure_tiny(cfg))
    return load_pretrained(model, device, dtype, phase=ctx.phase if ctx else None, log=ctx.log if ctx else None,
                           label=cfg.model)


class TrlBackend(Backend):
    name = "trl"

    def check(self, ctx: TrainerContext) -> None:
        """With use_vllm: vLLM present and built for this torch, and a GPU for colocate (one line)."""
        if not ctx.cfg.use_vllm:
            return
        import torch

        from ..gpu_checks import trl_vllm_preflight, vllm_here

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 and ctx.cfg.device != "cuda" and ctx.cfg.vllm_mode == "colocate":  # vLLM's CPU build
            from ..vllm_cpu import preflight

            return preflight(ctx.cfg)
        cc = tuple(torch.cuda.get_device_capability(0)) if n else None
        trl_vllm_preflight(ctx.cfg, n, torch.__version__, *vllm_here(), capability=cc)

    def run(self, ctx: TrainerContext) -> str:
        from ..compat import install_cpu_logprob_fallback
        from ..datasets import dataset_for_run, resolve_lengths
        from ..grpo_args import build_grpo_config, resolve_device
        from ..rewards import build_reward_funcs

        from ..evaluate import hf_eval
        from ..gsm8k import apply_defaults
        from ..vllm_server import server_for_run

        cfg = ctx.cfg = apply_defaults(ctx.cfg)  # GSM8K: config "main", test split, matching system prompt
        device = resolve_device(cfg)
        install_cpu_logprob_fallback()
        from trl import GRPOTrainer

        model, tokenizer = load_model_and_tokenizer(cfg, device, ctx)
        # lengths_from_data: measured now, so the evaluation and warm start below use the measured cap
        cfg, measured = resolve_lengths(cfg, tokenizer, ctx.log)
        ctx.cfg = cfg
        if ctx.resume_from is None:
            hf_eval(ctx, model, tokenizer, "before")  # eval_size > 0 only; the model as loaded
        attach_lora = not cfg.full_finetuning  # in GRPOTrainer (peft_config), unless the warm start needs it now
        if warmstart.wanted(cfg, ctx) and attach_lora:
            # The warm start trains the adapter GRPO goes on with: attach it here, right after seeding it.
            from peft import get_peft_model

            model, attach_lora = get_peft_model(model, lora_config(cfg)), False
        if warmstart.run_phase(ctx, model, tokenizer) is not None:
            hf_eval(ctx, model, tokenizer, "warmstart")
        ctx.phase("loading_dataset", f"loading {cfg.dataset}")
        cfg, dataset = dataset_for_run(cfg, tokenizer, ctx.log, measured)
        funcs, weights = build_reward_funcs(cfg)
        # use_vllm: TRL's colocate mode needs nothing more; server mode gets `trl vllm-serve` on its own GPU.
        with server_for_run(ctx, cfg.model) as server_args:
            args = build_grpo_config(cfg, ctx.output_dir, device, reward_weights=weights, **server_args)
            peft_config = lora_config(cfg) if attach_lora else None
            from ..library_args import apply_stop_tokens

            apply_stop_tokens(cfg, model, tokenizer)  # no vLLM: one-token stop strings end completions
            ctx.phase("building_trainer", "building the GRPO trainer")
            from ..vllm_cpu import cpu_engine

            with cpu_engine(ctx, device) as attach_engine:  # use_vllm on the CPU: eager engine, its weight sync
                trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=funcs, args=args,
                                      train_dataset=dataset, peft_config=peft_config)
            attach_engine(trainer)
            attach_events(trainer, ctx)
            status = train_and_save(trainer, ctx, tokenizer)
        hf_eval(ctx, trainer.model, tokenizer, "after")
        return status
