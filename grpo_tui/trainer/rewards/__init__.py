"""Reward functions: a registry of built-in components plus users' own.

``build_reward_funcs(cfg) -> (funcs, weights)`` turns ``cfg.rewards`` into
callables with TRL's reward signature::

    f(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]

Dataset columns arrive as kwargs (the gold answer as ``answer``), plus TRL's
``trainer_state``, ``log_extra`` and ``log_metric``. Each function's
``__name__`` is the component's name, so TRL logs ``rewards/<name>/mean``.

A name in ``cfg.rewards`` is either a built-in (see ``BUILTINS``), or a user
function ``path/to/file.py:func`` or ``package.module:func``. User functions
are imported and checked at launch (``validate_reward_specs``), before any
model is built.

``max_total_reward(cfg)`` is the highest total reward the configured built-ins
can give (the weighted sum of their maxima); None when a user function's
maximum is unknown.
"""

from __future__ import annotations

from .registry import (
    BUILTINS,
    RewardSpec,
    build_reward_funcs,
    completion_text,
    load_user_reward,
    format_dominance_warning,
    max_total_reward,
    probe_reward,
    validate_reward_specs,
)

__all__ = [
    "BUILTINS",
    "RewardSpec",
    "build_reward_funcs",
    "completion_text",
    "load_user_reward",
    "format_dominance_warning",
    "max_total_reward",
    "probe_reward",
    "validate_reward_specs",
]
