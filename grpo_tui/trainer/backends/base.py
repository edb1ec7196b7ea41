"""The backend interface, and the parts every backend shares.

A backend turns a ``TrainerContext`` (run dir, resolved ``RunConfig``, event
writers, control state) into a finished GRPO run. The process entry point
(``python -m grpo_tui.trainer RUN_DIR``) owns ``run_started`` / ``finished``
events and exception handling; a backend only has to::

    class MyBackend(Backend):
        name = "mine"

        def run(self, ctx: TrainerContext) -> str:        # returns events.COMPLETED or events.STOPPED
            ctx.phase("loading_model", "...")
            model, tokenizer = ...                        # your loading (Unsloth: import unsloth FIRST)
            ctx.phase("loading_dataset")
            cfg, dataset = dataset_for_run(ctx.cfg, tokenizer, ctx.log)  # trainer.datasets
            funcs, weights = build_reward_funcs(ctx.cfg)            # trainer.rewards
            args = build_grpo_config(ctx.cfg, ctx.output_dir, device=..., reward_weights=weights)
            trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=funcs,
                                  args=args, train_dataset=dataset, peft_config=...)
            attach_events(trainer, ctx)                   # metrics + samples + control + checkpoints
            return train_and_save(trainer, ctx, tokenizer)  # train (resuming), save adapter, status

and register itself in ``backends.BACKENDS``. Everything in this module is
import-light at module level (torch/trl are imported inside functions) so a
backend can control import order (Unsloth must be imported before trl and
transformers).

Shared parts, all reusable by a second backend:
  * ``build_grpo_config(cfg, output_dir, device, **overrides)`` -- RunConfig -> TRL GRPOConfig
    (``trainer.grpo_args``);
  * ``lora_config(cfg)`` -- peft LoraConfig from the RunConfig's LoRA fields;
  * ``attach_events(trainer, ctx)`` -- adds ``EventCallback`` (``trainer.callback``: a ``metrics`` event per
    step with every scalar TRL logs plus memory; control commands at step boundaries; ``checkpoint``
    events) and the per-completion sample capture (``trainer.capture``: a ``samples`` event per step);
    removes transformers' console printer so trainer.log stays small;
  * ``train_and_save(trainer, ctx, tokenizer)`` -- ``trainer.train(resume_from_checkpoint=ctx.resume_from)``,
    then saves the adapter into ``run_dir/adapter`` (on completion and on stop) and returns the status;
  * ``save_adapter(model, tokenizer, path)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from ...core.run import events as ev
from ..context import TrainerContext


class Backend(ABC):
    """One way of running GRPO. Subclasses set ``name`` and implement ``run``."""

    name: str = ""

    def check(self, ctx: TrainerContext) -> None:
        """Raise a RuntimeError with a one-line message when this backend cannot run here."""

    @abstractmethod
    def run(self, ctx: TrainerContext) -> str:
        """Train; return ``events.COMPLETED`` or ``events.STOPPED``. Exceptions end the run as failed."""


def lora_config(cfg) -> Any:
    """peft LoraConfig from the LoRA fields (targets as trained, bias); seeds the LoRA draw with
    random_state as Unsloth's get_peft_model does (the adapter is added right after this)."""
    from peft import LoraConfig

    from ..library_args import lora_kwargs, seed_lora_init

    seed_lora_init(cfg)
    return LoraConfig(**lora_kwargs(cfg), task_type="CAUSAL_LM")


def attach_events(trainer: Any, ctx: TrainerContext) -> Any:
    """Wire our callback and sample capture into a constructed GRPOTrainer."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from ..callback import EventCallback
    from ..capture import SampleCapture

    capture = SampleCapture(trainer, ctx) if ctx.cfg.capture_samples else None
    callback = EventCallback(ctx, capture=capture)
    trainer.add_callback(callback)
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    ctx.extras["callback"] = callback
    ctx.extras["trainer"] = trainer
    from ..ask import HfAsker

    ctx.extras.setdefault("asker", HfAsker(trainer))  # asks while paused (a backend may set its own)
    return callback


def save_adapter(model: Any, tokenizer: Any, path: Path) -> Path:
    """Save the trained adapter (or the full model when no LoRA is attached) and tokenizer."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(path))
    return path


def train_and_save(trainer: Any, ctx: TrainerContext, tokenizer: Any) -> str:
    resume = str(ctx.resume_from) if ctx.resume_from else None
    trainer.train(resume_from_checkpoint=resume)
    status = ev.STOPPED if ctx.stop_requested.is_set() else ev.COMPLETED
    ctx.step = int(trainer.state.global_step)
    ctx.phase("saving", "saving the adapter")
    from ..distributed import is_main_process

    if not is_main_process():  # accelerate: one writer per run directory
        return status
    model = trainer.accelerator.unwrap_model(trainer.model) if hasattr(trainer, "accelerator") else trainer.model
    path = save_adapter(model, tokenizer, ctx.adapter_dir)
    ctx.extras["adapter_path"] = str(path)
    ctx.emit(ev.CHECKPOINT, path=str(path), kind="adapter")
    return status
