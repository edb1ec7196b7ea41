"""Apply a live settings change to a constructed GRPOTrainer, between two steps.

TRL 1.15's GRPOTrainer copies most settings out of its GRPOConfig in ``__init__``, so changing
``trainer.args`` alone changes nothing. Where each one is read (trl/trainer/grpo_trainer.py):

* learning rate: the optimizer's param groups and the LambdaLR scheduler's ``base_lrs`` (every
  transformers schedule is one): the new value is the schedule's peak, and the schedule continues from
  the current step, so TRL's logged ``learning_rate`` shows it from the next step;
* ``self.beta`` (the KL term; a reference model exists when beta started non-zero or the model is a
  PEFT adapter, which is disabled to get the reference);
* ``self.temperature`` / ``top_p`` / ``top_k`` / ``min_p``: the transformers ``generation_config`` and
  ``generation_kwargs`` (no vLLM), ``vllm_generation``'s attributes (TRL builds SamplingParams from them
  on every call), Unsloth's ``vllm_sampling_params``; the temperature also divides the logits in the
  fused LM head TRL patches into the model (``add_fused_lm_head``: a closure, changed in place);
* ``self.reward_weights`` (a tensor; the logged ``reward`` is the weighted sum);
* ``self.max_completion_length`` (also ``max_new_tokens`` and vLLM's ``max_tokens``; the dr_grpo
  normaliser) and our reward wrappers that read the cap (rebuilt);
* ``self.epsilon_low`` / ``self.epsilon_high``; ``self.num_iterations`` (the buffered generation is
  dropped so that the next step generates afresh).
"""

from __future__ import annotations

from typing import Any

from ..core.run import live_settings as ls
from ..core.settings.config import RunConfig

SAMPLING = ("temperature", "top_p", "top_k", "min_p")


class Refused(ValueError):
    """This trainer cannot take a change (one line)."""


def has_reference(trainer: Any) -> bool:
    """Whether a beta > 0 can be honoured: a reference model, or a PEFT adapter to disable."""
    if getattr(trainer, "ref_model", None) is not None:
        return True
    try:
        from peft import PeftModel

        model = getattr(trainer, "model", None)
        return isinstance(model, PeftModel) or isinstance(getattr(model, "module", None), PeftModel)
    except ImportError:
        return False


def read(trainer: Any, key: str, cfg: RunConfig) -> Any:
    """The value ``key`` has in the trainer now (the old value of a change)."""
    if key == "learning_rate":
        sched = getattr(trainer, "lr_scheduler", None)
        if sched is not None and getattr(sched, "base_lrs", None):
            return float(sched.base_lrs[0])
        return float(trainer.args.learning_rate)
    if key.startswith(ls.REWARD_WEIGHT):
        names = list(getattr(trainer, "reward_func_names", ls.reward_names(cfg)))
        name = key[len(ls.REWARD_WEIGHT):]
        if name not in names:
            raise Refused(f"{key}: this trainer has no reward {name!r} (its rewards: {', '.join(names)})")
        return float(trainer.reward_weights[names.index(name)])
    if key == "epsilon":
        return float(trainer.epsilon_low)
    if key in ("beta", "epsilon_high", "max_completion_length", "num_iterations", *SAMPLING):
        value = getattr(trainer, key, None)
        return value if value is None else (int(value) if key in ("max_completion_length", "num_iterations", "top_k")
                                            else float(value))
    raise Refused(f"{key}: not a live setting")


def apply(trainer: Any, changes: dict[str, Any], cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """Apply ``changes`` (``core.run.live_settings.parse_changes`` output) to ``trainer``; returns
    ``{key: {old, new}}``. Every key is read before any is written, so a refusal changes nothing."""
    olds = {k: read(trainer, k, cfg) for k in changes}
    if changes.get("beta", 0) and not olds.get("beta") and not has_reference(trainer):
        raise Refused("beta: this run has no reference model (full fine-tuning started with beta=0); "
                      "start a new run with beta set")
    for key, value in changes.items():
        _apply_one(trainer, key, value, cfg)
    if "epsilon" in changes and "epsilon_high" not in changes and getattr(trainer.args, "epsilon_high", None) is None:
        trainer.epsilon_high = float(changes["epsilon"])  # TRL: epsilon_high defaults to epsilon
    return {k: {"old": olds[k], "new": read(trainer, k, cfg)} for k in changes}


def _apply_one(trainer: Any, key: str, value: Any, cfg: RunConfig) -> None:
    if key == "learning_rate":
        return set_learning_rate(trainer, float(value))
    if key.startswith(ls.REWARD_WEIGHT):
        names = list(getattr(trainer, "reward_func_names", ls.reward_names(cfg)))
        trainer.reward_weights[names.index(key[len(ls.REWARD_WEIGHT):])] = float(value)
        return None
    if key == "beta":
        trainer.beta = float(value)
        trainer.args.beta = float(value)
        return None
    if key == "epsilon":
        trainer.epsilon_low = float(value)
        trainer.args.epsilon = float(value)
        return None
    if key == "epsilon_high":
        trainer.epsilon_high = float(value)
        trainer.args.epsilon_high = float(value)  # set on its own now: a later epsilon no longer moves it
        return None
    if key == "num_iterations":
        trainer.num_iterations = int(value)
        trainer.args.num_iterations = int(value)
        trainer._buffered_inputs = None  # TRL generates afresh when nothing is buffered
        return None
    if key in SAMPLING:
        return set_sampling(trainer, key, value)
    if key == "max_completion_length":
        return set_completion_cap(trainer, int(value), cfg)
    raise Refused(f"{key}: not a live setting")


def set_learning_rate(trainer: Any, lr: float) -> None:
    """The schedule's peak becomes ``lr`` from the current step: each param group gets ``lr`` times the
    schedule's factor now, and the scheduler's base_lrs (what its next steps multiply) become ``lr``."""
    sched = getattr(trainer, "lr_scheduler", None)
    opt = getattr(trainer, "optimizer", None)
    trainer.args.learning_rate = lr
    if opt is None:  # before the first step: TRL builds them from args.learning_rate
        return
    groups = opt.param_groups
    base = list(getattr(sched, "base_lrs", []) or [g.get("initial_lr", g["lr"]) for g in groups])
    for i, g in enumerate(groups):
        old_base = base[i] if i < len(base) else g["lr"]
        factor = g["lr"] / old_base if old_base else 1.0
        g["lr"] = lr * factor
        if "initial_lr" in g:
            g["initial_lr"] = lr
    if sched is not None and hasattr(sched, "base_lrs"):
        sched.base_lrs = [lr for _ in groups]
        sched._last_lr = [g["lr"] for g in groups]  # what get_last_lr (TRL's logged learning_rate) reads


def set_sampling(trainer: Any, key: str, value: Any) -> None:
    if key == "top_k":
        value = max(0, int(value))  # vLLM's -1 and TRL's 0 both mean off; transformers refuses -1
    elif key == "min_p":
        value = float(value) or None  # as the run was built (library_args.grpo_extra_kwargs)
    else:
        value = float(value)
    setattr(trainer, key, value)
    setattr(trainer.args, key, value)
    gen_cfg = getattr(trainer, "generation_config", None)
    if gen_cfg is not None:
        setattr(gen_cfg, key, value)
    kwargs = getattr(trainer, "generation_kwargs", None)
    if isinstance(kwargs, dict):
        kwargs[key] = value
    vllm = getattr(trainer, "vllm_generation", None)
    if vllm is not None and hasattr(vllm, key):
        setattr(vllm, key, value)
    _set_unsloth_sampling(trainer, key, -1 if key == "top_k" and not value else 0.0 if value is None else value)
    if key == "temperature":
        for model in (getattr(trainer, "model", None), getattr(trainer, "ref_model", None)):
            set_fused_temperature(model, float(value))


def set_fused_temperature(model: Any, temperature: float) -> bool:
    """The temperature TRL's fused LM head divides the logits by (``add_fused_lm_head`` keeps it in the
    closure of the forward it patches in, on the base model under a PEFT adapter)."""
    seen: set[int] = set()
    changed = False
    while model is not None and id(model) not in seen:
        seen.add(id(model))
        func = getattr(getattr(model, "forward", None), "__func__", None)
        code = getattr(func, "__code__", None)
        if code is not None and code.co_name == "_fused_forward" and "temperature" in code.co_freevars:
            func.__closure__[code.co_freevars.index("temperature")].cell_contents = temperature
            changed = True
        get_base = getattr(model, "get_base_model", None)
        model = get_base() if callable(get_base) else getattr(model, "module", None)
    return changed


def _set_unsloth_sampling(trainer: Any, key: str, value: Any) -> None:
    """Unsloth's patched trainer keeps the notebook's ``vllm_sampling_params`` (a vLLM SamplingParams)
    and hands it to the engine: its fields change too."""
    params = getattr(trainer, "vllm_sampling_params", None) or getattr(trainer.args, "vllm_sampling_params", None)
    if params is None:
        return
    name = "max_tokens" if key == "max_completion_length" else key
    if isinstance(params, dict):
        params[name] = value
    elif hasattr(params, name):
        setattr(params, name, value)


def set_completion_cap(trainer: Any, cap: int, cfg: RunConfig) -> None:
    trainer.max_completion_length = cap
    trainer.args.max_completion_length = cap
    gen_cfg = getattr(trainer, "generation_config", None)
    if gen_cfg is not None:
        gen_cfg.max_new_tokens = cap
    kwargs = getattr(trainer, "generation_kwargs", None)
    if isinstance(kwargs, dict) and "max_new_tokens" in kwargs:
        kwargs["max_new_tokens"] = cap
    vllm = getattr(trainer, "vllm_generation", None)
    if vllm is not None and hasattr(vllm, "max_completion_length"):
        vllm.max_completion_length = cap
    _set_unsloth_sampling(trainer, "max_completion_length", cap)
    _rebuild_cap_rewards(trainer, cfg.with_overrides({"max_completion_length": cap}))


def _rebuild_cap_rewards(trainer: Any, cfg: RunConfig) -> None:
    """Built-in rewards that read the cap (overlong_penalty, the truncation floor) are built again for
    the new one; a user's own function is left as it is."""
    from .rewards import registry

    if not (registry.floor_truncated(cfg) or any(not registry._is_user_spec(r) for r in cfg.rewards)):
        return
    try:
        funcs, _ = registry.build_reward_funcs(cfg)
    except Exception:  # a reward that cannot be rebuilt keeps the one it has
        return
    current = getattr(trainer, "reward_funcs", None)
    if not isinstance(current, list) or len(current) != len(funcs):
        return
    for i, (spec, func) in enumerate(zip(cfg.rewards, funcs)):
        if not registry._is_user_spec(spec):
            current[i] = func
