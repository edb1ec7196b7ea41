"""RunConfig -> TRL GRPOConfig. Field names already match TRL's, so this is
mostly a copy; what is not a GRPOConfig field is handled here:

* ``max_prompt_length`` no longer exists in GRPOConfig: long prompts are filtered
  out of the dataset instead (trainer.datasets);
* ``warmup_ratio`` became a float ``warmup_steps`` in transformers 5;
* ``gpu_memory_utilization`` is vLLM's ``vllm_gpu_memory_utilization``;
* checkpoints go to ``run_dir/checkpoints`` every ``save_steps``; nothing is
  reported anywhere (``report_to="none"``): our callback writes the events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.settings.config import RunConfig


def resolve_device(cfg: RunConfig) -> str:
    import torch

    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for but torch sees no CUDA GPU (use --set device=cpu)")
    return cfg.device


def cuda_bf16() -> bool:
    """Whether this GPU computes in bfloat16 natively (compute capability 8.0+, Ampere or newer).

    Not plain ``torch.cuda.is_bf16_supported()``: it defaults to ``including_emulation=True`` and
    answers True on a T4 or V100, where Unsloth loads the model in float16 and its GRPO trainer then
    refuses ``bf16=True`` (TypeError)."""
    import torch

    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def auto_cuda_dtype() -> str:
    return "bfloat16" if cuda_bf16() else "float16"


def resolve_dtype(cfg: RunConfig, device: str):
    import torch

    if cfg.dtype == "auto":
        if device == "cuda":
            return torch.bfloat16 if cuda_bf16() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.dtype]


def grpo_kwargs(cfg: RunConfig, output_dir: Path, device: str, **overrides: Any) -> dict[str, Any]:
    dtype = cfg.dtype
    if dtype == "auto" and device == "cuda":
        dtype = auto_cuda_dtype()
    kw: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=float(cfg.warmup_ratio),
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        optim=cfg.optim,
        loss_type=cfg.loss_type,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        epsilon_high=cfg.epsilon_high or None,  # None: TRL uses epsilon
        delta=cfg.delta or None,
        importance_sampling_level=cfg.importance_sampling_level,
        scale_rewards=cfg.scale_rewards,
        num_iterations=cfg.num_iterations,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_steps=cfg.max_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        logging_steps=cfg.logging_steps,
        seed=cfg.seed,
        mask_truncated_completions=cfg.mask_truncated_completions,
        use_vllm=cfg.use_vllm,
        report_to="none",
        disable_tqdm=True,
        log_completions=False,
        use_cpu=(device == "cpu"),
        bf16=(dtype == "bfloat16" and device == "cuda"),
        fp16=(dtype == "float16" and device == "cuda"),
        gradient_checkpointing=cfg.use_gradient_checkpointing in ("true", "unsloth") and device == "cuda",
        dataloader_num_workers=0,
    )
    if cfg.use_vllm:
        kw.update(vllm_mode=cfg.vllm_mode, vllm_gpu_memory_utilization=cfg.gpu_memory_utilization)
        if cfg.vllm_mode == "colocate":  # else vLLM sizes its KV cache for the model's whole context (131k)
            kw["vllm_max_model_length"] = cfg.max_seq_length
    from .library_args import grpo_extra_kwargs

    kw.update(grpo_extra_kwargs(cfg, device))  # notebook settings: Adam betas, warm-up, sampling, the batch that runs
    kw.update(overrides)
    return kw


def build_grpo_config(cfg: RunConfig, output_dir: Path, device: str, **overrides: Any):
    from trl import GRPOConfig

    return GRPOConfig(**grpo_kwargs(cfg, output_dir, device, **overrides))
