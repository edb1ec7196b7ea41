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

from ...core.settings.config import ConfigError, RunConfig
from .. import reward_rules as rules
from . import builtin

RewardFunc = Callable[..., list]


@dataclass(frozen=True)
class RewardSpec:
    """A built-in component: a factory taking the RunConfig, its maximum and its floor (the
    lowest value it gives; what a truncated completion scores under floor_truncated_reward)."""

    name: str
    factory: Callable[[RunConfig], RewardFunc]
    max_value: float
    help: str
    min_value: float = 0.0


BUILTINS: dict[str, RewardSpec] = {
    "format": RewardSpec("format", builtin.make_format, builtin.FORMAT_MAX,
                         "1.0 when the completion is exactly one solution block, partial credit for its parts"),
    "correctness": RewardSpec("correctness", builtin.make_correctness, builtin.CORRECTNESS_MAX,
                              "1.0 when the single solution block equals the gold answer (numbers by value)"),
    "format_strict": RewardSpec("format_strict", builtin.make_format_strict, rules.FORMAT_STRICT_MAX,
                                f"{rules.FORMAT_STRICT_MAX} for exactly a reasoning block then a solution block"),
    "format_soft": RewardSpec("format_soft", builtin.make_format_soft, rules.FORMAT_SOFT_MAX,
                              f"{rules.FORMAT_SOFT_MAX / 4} per tag present exactly once"),
    "overlong_penalty": RewardSpec("overlong_penalty", builtin.make_overlong_penalty, 0.0,
                                   "DAPO soft overlong punishment: 0 .. -1 over the last overlong_buffer tokens",
                                   -1.0),
    "repetition_penalty": RewardSpec("repetition_penalty", builtin.make_repetition_penalty, 0.0,
                                     "minus the share of the completion that loops (0 on ordinary text .. -1)",
                                     -1.0),
}

# Components that pay for the layout rather than the answer (see format_dominance_warning).
FORMAT_COMPONENTS = ("format", "format_strict", "format_soft")
CORRECTNESS_COMPONENTS = ("correctness",)


completion_text = builtin.completion_text  # one implementation; re-exported for the package's users


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
    except (Exception, SystemExit) as exc:  # the user's module failed to import
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
            probe_reward(load_user_reward(name), name, cfg)
        elif name not in BUILTINS:
            raise ConfigError("rewards", f"unknown reward function {name!r}",
                              f"use one of {', '.join(sorted(BUILTINS))}, or path/file.py:func")
        comp = component_name(name)
        if comp in seen:
            raise ConfigError("rewards", f"reward {comp!r} is listed twice")
        seen.add(comp)
    from .golds import check_local_golds

    check_local_golds(cfg)  # a NaN or missing gold is refused now, not paid or zeroed in training


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
    if floor_truncated(cfg):
        funcs = [rules.floor_if_truncated(f, cfg.max_completion_length,
                                          BUILTINS[n].min_value if n in BUILTINS else None)
                 for f, n in zip(funcs, cfg.rewards)]
    weights = list(cfg.reward_weights) if cfg.reward_weights else [1.0] * len(funcs)
    return funcs, [float(w) for w in weights]


def floor_truncated(cfg: RunConfig) -> bool:
    """Truncated completions score each component's floor (``zero_truncated_reward`` is the old name)."""
    return bool(getattr(cfg, "floor_truncated_reward", False) or getattr(cfg, "zero_truncated_reward", False))


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


# -- launch-time checks -----------------------------------------------------------------------------
PROBE_TIMEOUT_S = 20


def probe_batch(cfg: RunConfig) -> dict[str, Any]:
    """A small batch shaped exactly as TRL passes it for this preset (trl_call): a well-formed right
    answer, a wrong one, an empty completion -- message lists when the prompts are chat; token ids;
    the gold ``answer`` column; TRL's extra kwargs."""
    from . import trl_call

    right = f"{cfg.reasoning_start}2+2 is 4{cfg.reasoning_end}{cfg.solution_start}4{cfg.solution_end}"
    texts = [right, f"{cfg.solution_start}5{cfg.solution_end}", ""]
    return trl_call.call_kwargs(cfg, ["What is 2+2?"] * 3, texts,
                                [list(range(1, len(c.split()) + 2)) for c in texts], ["4"] * 3)


def probe_reward(func: RewardFunc, spec: str, cfg: RunConfig) -> list:
    """Call a reward function on probe_batch(); ConfigError unless it returns one number
    (or None) per completion."""
    import math
    import signal
    import threading

    batch = probe_batch(cfg)
    n = len(batch["completions"])
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")

    def on_alarm(signum, frame):
        raise TimeoutError(f"no answer within {PROBE_TIMEOUT_S} s")

    old = signal.signal(signal.SIGALRM, on_alarm) if use_alarm else None
    if use_alarm:
        signal.alarm(PROBE_TIMEOUT_S)
    try:
        out = func(**batch)  # TRL passes everything by keyword
    except (Exception, SystemExit) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise ConfigError("rewards", f"{spec} failed on a probe batch of {n} completions: "
                          f"{type(exc).__name__}: {first}",
                          "it is called as TRL calls it: f(prompts, completions, completion_ids, answer=..., **kwargs)"
                          + (", completions as [{'role': 'assistant', 'content': text}] (prompt_form chat)"
                             if _chat(cfg) else ", completions as plain strings (prompt_form text)")) from None
    finally:
        if use_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    try:
        values = list(out)
    except TypeError:
        raise ConfigError("rewards", f"{spec} returned {type(out).__name__}, not a list",
                          f"return one float per completion ({n} here)") from None
    if len(values) != n:
        raise ConfigError("rewards", f"{spec} returned {len(values)} value(s) for {n} completions",
                          "return one float (or None) per completion")
    for v in values:
        if v is None:
            continue
        item = getattr(v, "item", None)  # numpy / torch scalars
        x = item() if callable(item) and not isinstance(v, (int, float)) else v
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ConfigError("rewards", f"{spec} returned {type(v).__name__} {str(v)[:40]!r} for a completion",
                              "return a float (or None to skip) per completion")
        if math.isinf(x):
            raise ConfigError("rewards", f"{spec} returned an infinite reward", "return finite floats")
    return values


def _chat(cfg: RunConfig) -> bool:
    from .trl_call import chat_prompts

    return chat_prompts(cfg)


def format_dominance_warning(cfg: RunConfig) -> str | None:
    """A warning when the format components' weighted maximum reaches the correctness
    components' -- then a model can earn as much from the layout as from the answer."""
    weights = list(cfg.reward_weights) if cfg.reward_weights else [1.0] * len(cfg.rewards)
    fmt = sum(max(0.0, w) * BUILTINS[n].max_value for n, w in zip(cfg.rewards, weights) if n in FORMAT_COMPONENTS)
    cor = sum(max(0.0, w) * BUILTINS[n].max_value for n, w in zip(cfg.rewards, weights)
              if n in CORRECTNESS_COMPONENTS)
    if fmt and cor and fmt > cor:
        return (f"format rewards can pay {fmt:g} but correctness only {cor:g}: the model can profit more from "
                "the layout than from the answer -- lower the format weights in reward_weights")
    return None
