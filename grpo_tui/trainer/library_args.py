"""The notebook settings each library takes (core.settings.fields), as keyword arguments for that library.

* GRPOConfig: the batch that runs (Unsloth's raise to num_generations), Adam betas, warm-up,
  epochs, reporting integrations, gradient checkpointing on every device, and sampling: TRL's
  top_k / min_p / repetition_penalty plus vLLM's stop / include_stop_str_in_output / seed through
  TRL's ``generation_kwargs`` (TRL hands them to ``SamplingParams``; Unsloth merges them with its own).
* peft LoraConfig / Unsloth get_peft_model: rank, alpha, dropout, bias, the targets as trained.
* transformers' generate (no vLLM): stop strings that are one token end a completion as EOS does.
"""

from __future__ import annotations

from typing import Any

from ..core.settings.config import RunConfig
from ..core.settings.fields import keeps_stop_text, report_targets


def uses_vllm(cfg: RunConfig) -> bool:
    return cfg.use_vllm or (cfg.backend == "unsloth" and cfg.fast_inference)


def grpo_extra_kwargs(cfg: RunConfig, device: str) -> dict[str, Any]:
    warmup = cfg.warmup_steps if cfg.warmup_steps > 0 else float(cfg.warmup_ratio)
    kw: dict[str, Any] = dict(
        per_device_train_batch_size=cfg.effective_batch_size,
        adam_beta1=cfg.adam_beta1,
        adam_beta2=cfg.adam_beta2,
        warmup_steps=warmup,
        num_train_epochs=cfg.num_train_epochs,
        report_to=report_targets(cfg) if cfg.report_to not in ("none", "all") else cfg.report_to,
        top_k=max(0, cfg.top_k),  # vLLM's -1 and TRL's 0 both mean off; transformers refuses -1
        min_p=cfg.min_p or None,
        repetition_penalty=cfg.repetition_penalty,
        gradient_checkpointing=cfg.use_gradient_checkpointing != "false",
    )
    gen: dict[str, Any] = {}
    if uses_vllm(cfg):
        if cfg.stop:
            gen["stop"] = list(cfg.stop)
        if keeps_stop_text(cfg):  # also turned on for a stop at the closing answer tag (fields.notices)
            gen["include_stop_str_in_output"] = True
        if cfg.sampling_seed != -1:
            gen["seed"] = cfg.sampling_seed
    if gen:
        kw["generation_kwargs"] = gen
    return kw


def lora_kwargs(cfg: RunConfig) -> dict[str, Any]:
    """peft's LoraConfig keywords (Unsloth's get_peft_model takes the same names, r included)."""
    targets: Any = cfg.lora_targets
    if [m.lower() for m in cfg.target_modules] == ["all-linear"] and not _flags_changed(cfg):
        targets = "all-linear"  # peft's own spelling (every linear layer but the output head)
    return dict(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                target_modules=targets, bias=cfg.bias)


def _flags_changed(cfg: RunConfig) -> bool:
    from ..core.settings.fields import _flags_changed as changed

    return changed(cfg)


def seed_lora_init(cfg: RunConfig) -> None:
    """LoRA's A matrices are drawn when the adapter is added: seed that draw with random_state, as
    Unsloth's get_peft_model does (TRL's seed is applied later, when the Trainer is built)."""
    from transformers import set_seed

    set_seed(cfg.random_state)


class StopStringError(RuntimeError):
    """A stop string transformers' generate cannot honour (not one token)."""


def apply_stop_tokens(cfg: RunConfig, model: Any, tokenizer: Any) -> list[int]:
    """Without vLLM: each stop string that is a single token joins the model's EOS ids (TRL reads
    ``model.generation_config.eos_token_id`` to end and mask completions). A longer stop string
    cannot be honoured by TRL's generate call: one line that says so."""
    if uses_vllm(cfg) or not cfg.stop:
        return []
    ids: list[int] = []
    for text in cfg.stop:
        enc = tokenizer.encode(text, add_special_tokens=False)
        if len(enc) != 1:
            raise StopStringError(f"stop: {text!r} is {len(enc)} tokens; without vLLM only single-token stop "
                                  "strings work (use vLLM, or drop it from stop)")
        ids.append(int(enc[0]))
    eos = model.generation_config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
        eos.insert(0, tokenizer.eos_token_id)
    model.generation_config.eos_token_id = eos + [i for i in ids if i not in eos]
    return ids
