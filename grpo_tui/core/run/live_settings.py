"""Settings a live run can change at a step boundary (`grpo-tui set`, the paused run's edit panel).

What may change, checked here before a ``set`` command is written (the CLI, the app and the trainer
all call ``parse_changes``): the learning rate, beta, the sampling settings, each reward's weight,
the completion cap (up to the memory planner's ceiling on the run's GPU), PPO's clipping range and
the number of iterations per generation. What shapes the model, the batch or the data (model, LoRA
rank, num_generations, batch size, ...) needs a restart: refused in one line that says so.

A change becomes a ``settings_changed`` event ``{step, changes: {key: {old, new}}}`` once the trainer
has applied it, and the effective overrides are kept in ``settings.json`` in the run directory so
that ``--resume`` (and a fork) start with them.

Reward weights are keyed ``reward_weights.<name>`` (the name TRL logs the component under:
``rewards/<name>/mean``); TRL's list form ``reward_weights=[1, 0.5]`` is spread over the names.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..settings.config import ConfigError, RunConfig, coerce, parse_overrides
from .rundir import RunDir, atomic_write

SETTINGS_JSON = "settings.json"
REWARD_WEIGHT = "reward_weights."

# key -> (type, check(value) -> problem or "", what it is)
LIVE_KEYS: dict[str, tuple[type, Any, str]] = {
    "learning_rate": (float, lambda v: "" if v > 0 else "must be positive", "peak learning rate; the schedule "
                      "continues from the current step"),
    "beta": (float, lambda v: "" if v >= 0 else "must be 0 or more", "KL coefficient"),
    "temperature": (float, lambda v: "" if v > 0 else "must be positive", "sampling temperature"),
    "top_p": (float, lambda v: "" if 0 < v <= 1 else "must be in (0, 1]", "nucleus sampling"),
    "top_k": (int, lambda v: "" if v >= -1 else "must be -1, 0 (off) or more", "top-k sampling (0 or -1: off)"),
    "min_p": (float, lambda v: "" if 0 <= v <= 1 else "must be in [0, 1]", "min-p sampling (0: off)"),
    "max_completion_length": (int, lambda v: "" if v >= 1 else "must be at least 1", "completion cap (tokens)"),
    "epsilon": (float, lambda v: "" if v > 0 else "must be positive", "PPO clipping range (low side)"),
    "epsilon_high": (float, lambda v: "" if v > 0 else "must be positive", "PPO clipping range, high side"),
    "num_iterations": (int, lambda v: "" if v >= 1 else "must be at least 1", "updates per generation"),
}
# A user's own script under watch(): only what cannot break the script's own assumptions.
WATCH_KEYS = ("learning_rate",)
RESTART_ONLY = {
    "model": "the model is loaded once", "lora_rank": "the adapter's shape is fixed",
    "lora_alpha": "the adapter's scaling is fixed", "target_modules": "the adapter's layers are fixed",
    "num_generations": "the batch shape is fixed", "per_device_train_batch_size": "the batch shape is fixed",
    "gradient_accumulation_steps": "the batch shape is fixed", "max_seq_length": "the model's context is fixed",
    "max_prompt_length": "the dataset is filtered once", "dataset": "the data is loaded once",
    "backend": "the backend is chosen at launch", "load_in_4bit": "the model is loaded once",
    "loss_type": "the loss is chosen at launch", "rewards": "the reward functions are built at launch",
}


class SettingsError(ConfigError):
    """A change that cannot be made to a live run (one line: the key, why, what to do)."""


def _coerce(key: str, value: Any, typ: Any) -> Any:
    try:
        out = coerce(key, value, typ)
    except SettingsError:
        raise
    except ConfigError as exc:
        raise SettingsError(exc.field, exc.reason, exc.fix) from None
    for v in out if isinstance(out, list) else [out]:
        if isinstance(v, float) and not math.isfinite(v):  # nan > 0 is False, but inf > 0 is True
            raise SettingsError(key, f"{value!r} is not a finite number")
    return out


def reward_names(cfg: RunConfig) -> list[str]:
    """The names TRL logs each reward under (a user's ``file.py:fn`` is ``fn``)."""
    return [r.rpartition(":")[2] if ":" in r else r for r in cfg.rewards]


def completion_ceiling(cfg: RunConfig, hardware: dict[str, Any] | None) -> tuple[int, str]:
    """The largest max_completion_length this run can take, and where the figure comes from:
    the context (max_seq_length - max_prompt_length) and, on a GPU, the memory planner's verdict for
    the run's GPU (the largest cap that is not "no")."""
    ceiling = cfg.max_seq_length - cfg.max_prompt_length
    why = f"max_seq_length {cfg.max_seq_length} - max_prompt_length {cfg.max_prompt_length}"
    vram = (hardware or {}).get("vram_gb")
    if cfg.device == "cpu" or not vram or cfg.model.startswith("builtin:"):
        return ceiling, why
    from ..planning import planner

    def fits(n: int) -> bool:
        try:
            return planner.plan(cfg.with_overrides({"max_completion_length": n}), float(vram)).verdict != planner.NO
        except (ConfigError, planner.UnknownModel):
            return True  # nothing to plan with: the context is the bound
    if fits(ceiling):
        return ceiling, why
    lo, hi = 0, ceiling  # fits(lo) (or lo == 0), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo, f"the memory planner's ceiling on this {float(vram):.1f} GiB GPU"


def parse_changes(items: list[str] | dict[str, Any], cfg: RunConfig, *, hardware: dict[str, Any] | None = None,
                  watched: bool = False, has_reference: bool = True) -> dict[str, Any]:
    """``["key=value", ...]`` -> ``{key: typed value}``; SettingsError (one line) on the first key that cannot
    change. ``cfg``: the run's config as it is now (launch config + earlier changes, ``effective_config``)."""
    try:
        raw = parse_overrides(items) if isinstance(items, list) else dict(items)
    except ConfigError as exc:
        raise SettingsError(exc.field, exc.reason, "e.g. learning_rate=1e-5") from None
    if not raw:
        raise SettingsError("set", "nothing to change", "give key=value, e.g. learning_rate=1e-5")
    names = reward_names(cfg)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "reward_weights":
            weights = _coerce(key, value, list[float])
            if len(weights) != len(names):
                raise SettingsError(key, f"{len(weights)} weights for {len(names)} rewards ({', '.join(names)})",
                                    "give one weight per reward, or reward_weights.<name>=W")
            for n, w in zip(names, weights):
                out[REWARD_WEIGHT + n] = float(w)
            continue
        if key.startswith(REWARD_WEIGHT):
            name = key[len(REWARD_WEIGHT):]
            if name not in names:
                raise SettingsError(key, f"this run has no reward {name!r}", f"its rewards: {', '.join(names)}")
            out[key] = _coerce(key, value, float)
            continue
        if key in LIVE_KEYS:
            typ, check, _ = LIVE_KEYS[key]
            v = _coerce(key, value, typ)
            problem = check(v)
            if problem:
                raise SettingsError(key, f"{problem}, got {v}")
            out[key] = v
            continue
        if key in RestartKeys.all():
            raise SettingsError(key, f"cannot change while the run trains ({RestartKeys.why(key)})",
                                f"start a new run, or fork this one: grpo-tui run --fork RUN --set {key}=...")
        raise SettingsError(key, "not a setting a run can change",
                            "live settings: " + ", ".join([*LIVE_KEYS, "reward_weights.<name>"]))
    if watched:
        for key in out:
            if key not in WATCH_KEYS and not key.startswith(REWARD_WEIGHT):
                raise SettingsError(key, "cannot change in a watched script (only learning_rate and reward weights)",
                                    "change it in your script and restart it")
    if "max_completion_length" in out:
        ceiling, why = completion_ceiling(cfg, hardware)
        if out["max_completion_length"] > ceiling:
            raise SettingsError("max_completion_length", f"{out['max_completion_length']} is above this run's "
                                f"ceiling of {ceiling} ({why})", f"use at most {ceiling}")
    if out.get("beta", cfg.beta) != 0 and cfg.beta == 0 and not has_reference:
        raise SettingsError("beta", "this run has no reference model (full fine-tuning started with beta=0)",
                            "start a new run with beta set")
    return out


class RestartKeys:
    """Every other RunConfig field: fixed for the life of a trainer process."""

    @staticmethod
    def all() -> set[str]:
        return set(RunConfig.field_names()) - set(LIVE_KEYS)

    @staticmethod
    def why(key: str) -> str:
        return RESTART_ONLY.get(key, "it is read once, when the trainer is built")


# -- what a run has now -------------------------------------------------------------------------------
def load_overrides(run: RunDir) -> dict[str, Any]:
    """The changes in force (settings.json), {} when there are none or the file is unreadable."""
    try:
        data = json.loads((run.path / SETTINGS_JSON).read_text())
    except (OSError, ValueError):
        return {}
    overrides = data.get("overrides") if isinstance(data, dict) else None
    return dict(overrides) if isinstance(overrides, dict) else {}


def save_overrides(run: RunDir, overrides: dict[str, Any], step: int) -> None:
    atomic_write(run.path / SETTINGS_JSON, json.dumps({"overrides": overrides, "step": step}, indent=2))


def apply_to_config(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """``cfg`` with the overrides that are RunConfig fields (reward weights folded into the list)."""
    names = reward_names(cfg)
    plain = {k: v for k, v in overrides.items() if k in RunConfig.field_names()}
    weights = {k[len(REWARD_WEIGHT):]: v for k, v in overrides.items() if k.startswith(REWARD_WEIGHT)}
    if weights:
        current = list(cfg.reward_weights) or [1.0] * len(names)
        plain["reward_weights"] = [float(weights.get(n, w)) for n, w in zip(names, current)]
    return cfg.with_overrides(plain) if plain else cfg


def effective_config(run: RunDir) -> RunConfig:
    """The run's launch config with the changes in force."""
    return apply_to_config(RunConfig.from_mapping(run.config()), load_overrides(run))


def current_value(cfg: RunConfig, key: str, overrides: dict[str, Any] | None = None) -> Any:
    """What ``key`` is now (an override, else the config's value; epsilon_high follows epsilon)."""
    if overrides and key in overrides:
        return overrides[key]
    if key.startswith(REWARD_WEIGHT):
        names = reward_names(cfg)
        name = key[len(REWARD_WEIGHT):]
        weights = list(cfg.reward_weights) or [1.0] * len(names)
        return weights[names.index(name)] if name in names else None
    if key == "epsilon_high":  # 0 (the config's default) means: the same as epsilon, as TRL's None does
        return getattr(cfg, "epsilon_high", 0) or current_value(cfg, "epsilon", overrides)
    return getattr(cfg, key, None)


def describe(changes: dict[str, dict[str, Any]]) -> str:
    """``learning_rate 5e-06 -> 1e-05, beta 0 -> 0.04`` for lists and logs."""
    return ", ".join(f"{k} {_fmt(c.get('old'))} -> {_fmt(c.get('new'))}" for k, c in changes.items())


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
