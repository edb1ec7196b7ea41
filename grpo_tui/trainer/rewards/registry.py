"""Registry of reward components and loader for user reward functions.

Kept free of torch imports: the launcher validates reward specs in the CLI
process before the trainer starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...core.config import ConfigError, RunConfig
from . import builtin

RewardFunc = Callable[..., list]


@dataclass(frozen=True)
class RewardSpec:
    """A built-in component: a factory taking the RunConfig, and its maximum."""

    name: str
    factory: Callable[[RunConfig], RewardFunc]
    max_value: float
    help: str


BUILTINS: dict[str, RewardSpec] = {
    "format": RewardSpec("format", builtin.make_format, builtin.FORMAT_MAX,
                         "1.0 when the completion is exactly one solution block, partial credit for its parts"),
    "correctness": RewardSpec("correctness", builtin.make_correctness, builtin.CORRECTNESS_MAX,
                              "1.0 when the text inside the solution tags equals the gold answer"),
}


def completion_text(completion: Any) -> str:
    """Plain text of a completion: a string, or a message list (TRL conversational)."""
    return builtin.completion_text(completion)


def _is_user_spec(name: str) -> bool:
    return ":" in name and not name.startswith("builtin:")


def load_user_reward(spec: str) -> RewardFunc:
    """Import ``file.py:func`` or ``module:func``; ConfigError naming the problem."""
    target, _, func_name = spec.rpartition(":")
    if not target or not func_name:
        raise ConfigError("rewards", f"{spec!r} is not path/file.py:func or module:func")
    try:
        if target.endswith(".py") or "/" in target or "\\" in target:
            path = Path(target).expanduser().resolve()
            if not path.is_file():
                raise ConfigError("rewards", f"reward file {target} does not exist", "give an existing .py path")
            mod_name = f"grpo_tui_user_reward_{abs(hash(str(path)))}"
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            if module_spec is None or module_spec.loader is None:
                raise ConfigError("rewards", f"cannot import {target}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[mod_name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except ConfigError:
        raise
    except Exception as exc:  # the user's module failed to import
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError("rewards", f"cannot import {target}: {type(exc).__name__}: {first}",
                          "fix the module or the path") from None
    func = getattr(module, func_name, None)
    if func is None:
        raise ConfigError("rewards", f"{target} has no function {func_name!r}", "check the name after ':'")
    if not callable(func):
        raise ConfigError("rewards", f"{spec} is not callable")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return func
    params = sig.parameters.values()
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    names = {p.name for p in params}
    if not has_var_kw or not ({"completions"} <= names or any(p.kind is p.VAR_POSITIONAL for p in params)):
        raise ConfigError("rewards", f"{spec} must accept (prompts, completions, completion_ids=None, **kwargs)",
                          "add the missing parameters")
    return func


def component_name(spec: str) -> str:
    """The name TRL logs a component under (rewards/<name>/mean)."""
    if _is_user_spec(spec):
        return spec.rpartition(":")[2]
    return spec


def validate_reward_specs(cfg: RunConfig) -> None:
    """Check every reward name resolves (imports user functions). Raises ConfigError."""
    seen: set[str] = set()
    for name in cfg.rewards:
        if _is_user_spec(name):
            load_user_reward(name)
        elif name not in BUILTINS:
            raise ConfigError("rewards", f"unknown reward function {name!r}",
                              f"use one of {', '.join(sorted(BUILTINS))}, or path/file.py:func")
        comp = component_name(name)
        if comp in seen:
            raise ConfigError("rewards", f"reward {comp!r} is listed twice")
        seen.add(comp)


def build_reward_funcs(cfg: RunConfig) -> tuple[list[RewardFunc], list[float]]:
    """The configured reward functions (named for TRL's logs) and their weights."""
    validate_reward_specs(cfg)
    funcs: list[RewardFunc] = []
    for name in cfg.rewards:
        if _is_user_spec(name):
            user = load_user_reward(name)
            funcs.append(_named(user, component_name(name)))
        else:
            funcs.append(_named(BUILTINS[name].factory(cfg), name))
    weights = list(cfg.reward_weights) if cfg.reward_weights else [1.0] * len(funcs)
    return funcs, [float(w) for w in weights]


def max_total_reward(cfg: RunConfig) -> float | None:
    weights = list(cfg.reward_weights) if cfg.reward_weights else [1.0] * len(cfg.rewards)
    total = 0.0
    for name, w in zip(cfg.rewards, weights):
        spec = BUILTINS.get(name)
        if spec is None:
            return None
        total += max(0.0, w) * spec.max_value
    return total


def _named(func: RewardFunc, name: str) -> RewardFunc:
    """A wrapper whose __name__ is the component name (TRL names metrics after it)."""

    def reward(prompts, completions, completion_ids=None, **kwargs):
        return func(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs)

    reward.__name__ = name
    reward.__qualname__ = name
    reward.__doc__ = func.__doc__
    return reward
