"""`grpo-tui eval RUN`: load a finished run's model and adapter, evaluate it (trainer.evaluate).

Kept apart from trainer.evaluate, which the backends call during a run: loading a model is the
backends' business, so this module sits above both (evaluate <- backends <- eval_run) and the
import graph has no cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.run import events as ev
from ..core.settings.config import RunConfig
from . import gsm8k
from .evaluate import EvalResult, Generate, HfGenerator, VllmGenerator, evaluate


class NoAdapter(LookupError):
    """The run has no saved adapter (yet)."""


def _load_trl(cfg: RunConfig, adapter: Path | None) -> tuple[Any, Any, Generate]:
    from .backends.trl_backend import load_model_and_tokenizer
    from .grpo_args import resolve_device

    device = resolve_device(cfg)
    model, tokenizer = load_model_and_tokenizer(cfg, device)
    if adapter is not None:
        if (adapter / "adapter_config.json").is_file():
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))
        else:  # full fine-tuning saved the whole model there
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(str(adapter), dtype=next(model.parameters()).dtype)
            model.to(device)
    return model, tokenizer, HfGenerator(model, tokenizer, cfg.max_completion_length)


def _load_unsloth(cfg: RunConfig, adapter: Path | None) -> tuple[Any, Any, Generate]:
    import os

    from . import gpu_checks
    from .backends import unsloth as ub
    from .tiny import TINY_MODEL, ensure_tiny

    os.environ.update(ub.unsloth_env(cfg))
    if os.environ.get(ub.STANDIN_ENV) != "1":
        gpu_checks.preflight_here(cfg)
    import unsloth  # noqa: F401  (before trl / transformers / peft)
    from unsloth import FastLanguageModel

    source = str(ensure_tiny(cfg)) if cfg.model == TINY_MODEL else str(Path(cfg.model).expanduser()) \
        if cfg.model.startswith(("/", "~", ".")) else cfg.model
    kw = ub.from_pretrained_kwargs(cfg, source, gpu_checks.hf_token())
    kw["dtype"] = ub._torch_dtype(kw["dtype"])
    model, tokenizer = FastLanguageModel.from_pretrained(**kw)
    lora_adapter = adapter is not None and (adapter / "adapter_config.json").is_file()
    if cfg.fast_inference and hasattr(model, "fast_generate"):
        lora = None
        if lora_adapter:
            # Unsloth attaches load_lora in get_peft_model (patch_peft_fast_inference), never on the model
            # from_pretrained returns: add LoRA slots shaped as in training, then hand vLLM the saved adapter.
            model = FastLanguageModel.get_peft_model(model, **ub.peft_kwargs(cfg))
            lora = model.load_lora(str(adapter))
        return model, tokenizer, VllmGenerator(model, tokenizer, cfg.max_completion_length, lora_request=lora)
    if adapter is not None and (adapter / "adapter_config.json").is_file():
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    return model, tokenizer, HfGenerator(model, tokenizer, cfg.max_completion_length)


def evaluate_run(run: Any, *, n: int, split: str | None = None, base: bool = False) -> EvalResult:
    """Evaluate a run's saved adapter (or, with ``base``, the model it started from) and append an
    ``eval`` event (when = manual / base) to the run's event log."""
    from ..core.run.rundir import summarize

    cfg = gsm8k.apply_defaults(RunConfig.from_mapping(run.config()))
    adapter = None
    if not base:
        adapter = Path(run.adapter)
        if not adapter.is_dir() or not any(adapter.iterdir()):
            raise NoAdapter(f"run {run.id} has no saved adapter yet (it is saved when a run finishes or is "
                            "stopped); --base evaluates the model it started from")
    loader = _load_unsloth if cfg.backend == "unsloth" else _load_trl
    _, tokenizer, generate = loader(cfg, adapter)
    step = summarize(run).step
    with ev.EventWriter(run.events) as writer:
        return evaluate(cfg, tokenizer, generate, n=n, split=split, when="base" if base else "manual",
                        emit=lambda type_, **payload: writer.emit(type_, step, **payload))
