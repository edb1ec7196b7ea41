"""How TRL will call a reward function for a given preset: the one shape the launch probe and
`grpo-tui rewards audit` both use.

TRL 1.15 (``GRPOTrainer._generate`` / ``_calculate_rewards``): when a prompt is a message list,
each completion is ``[{"role": "assistant", "content": text}]``; otherwise a plain string. Every
dataset column other than ``prompt`` / ``completion`` / ``completion_ids`` is passed as a keyword
(grpo-tui's dataset keeps ``answer`` only), with ``trainer_state``, ``log_extra`` and
``log_metric``. Prompts are message lists exactly when ``trainer.datasets.build_dataset`` makes
them so: ``prompt_form = "chat"``, or ``auto`` with a tokenizer that has a chat template.

Import-light (no torch): the launcher's pre-flight and the audit run it before any model loads.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

from ...core.settings.config import RunConfig

# The dataset columns TRL passes to a reward as keywords (build_dataset keeps these beside "prompt").
DATASET_COLUMNS = ("answer",)


def tokenizer_file(model: str, name: str) -> Path | None:
    """A tokenizer file of ``model`` on this machine (a local folder, or the hub cache), or None."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder / name if (folder / name).is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(model, name)
    except Exception:  # not a repo id, or huggingface_hub missing
        return None
    return Path(hit) if isinstance(hit, str) else None


def tokenizer_has_chat_template(model: str) -> bool | None:
    """Whether ``model``'s tokenizer ships a chat template, read from its files without loading it;
    None when its files are not on this machine."""
    if model.startswith("builtin:"):
        return False  # trainer.tiny builds a tokenizer without one
    if model.lower().endswith(".gguf"):
        return True  # a GGUF carries tokenizer.chat_template (transformers reads it)
    files = {n: tokenizer_file(model, n) for n in ("tokenizer_config.json", "chat_template.jinja")}
    if files.get("chat_template.jinja"):
        return True
    cfg_file = files.get("tokenizer_config.json")
    if cfg_file is None:
        return None
    try:
        return bool(json.loads(cfg_file.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError):
        return None


def chat_prompts(cfg: RunConfig) -> bool:
    """True when TRL will see message-list prompts (and hand rewards message-list completions).
    ``auto`` with a hub model whose files are not here counts as chat: instruct and current base
    models ship a template, and the notebooks all build chat prompts."""
    if cfg.prompt_form in ("chat", "text"):
        return cfg.prompt_form == "chat"
    known = tokenizer_has_chat_template(cfg.model)
    return True if known is None else known


def prompt(question: str, cfg: RunConfig) -> Any:
    """The prompt TRL passes to a reward for ``question`` (the same builder the dataset uses)."""
    from ..datasets import to_prompt

    return to_prompt(question, cfg, chat_prompts(cfg))


def completion(text: Any, cfg: RunConfig) -> Any:
    """``text`` as TRL hands it to a reward: a one-message list for chat prompts. A completion that
    is already a message list (a reasoning parser's output) is left as it is."""
    if isinstance(text, list) or not chat_prompts(cfg):
        return text
    return [{"role": "assistant", "content": text}]


def extra_kwargs(cfg: RunConfig) -> dict[str, Any]:
    """TRL's own keywords beside the dataset columns."""
    return {"trainer_state": types.SimpleNamespace(global_step=0, max_steps=cfg.max_steps, epoch=0.0),
            "log_extra": lambda *a, **k: None, "log_metric": lambda *a, **k: None}


def call_kwargs(cfg: RunConfig, questions: list[str], texts: list[Any], completion_ids: list[list[int]],
                answers: Any) -> dict[str, Any]:
    """Every keyword of one reward call, as TRL makes it (``answers``: the gold column as given)."""
    return {"prompts": [prompt(q, cfg) for q in questions],
            "completions": [completion(t, cfg) for t in texts],
            "completion_ids": completion_ids, "answer": answers, **extra_kwargs(cfg)}


class RewardTimeout(Exception):
    """A reward function did not answer within its time limit."""


def call_with_limit(func, kwargs: dict[str, Any], seconds: float) -> Any:
    """``func(**kwargs)``, stopped with RewardTimeout after ``seconds`` (SIGALRM, main thread only;
    elsewhere it runs unbounded). A notebook's regex can take minutes on one long completion."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        return func(**kwargs)

    def on_alarm(signum, frame):
        raise RewardTimeout(f"no answer within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return func(**kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
