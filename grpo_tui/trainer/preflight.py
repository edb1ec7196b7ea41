"""The trainer's pre-flight: the one door the launcher opens into ``grpo_tui.trainer``.

Everything the trainer will need that can be checked before a run directory
exists: the dataset source, GSM8K's defaults recorded in run.json, the reward
functions (user files imported and probed now, not in trainer.log), the most
a run can score, and the trainer's command line. Import-light: nothing here or
in what it imports at module level loads torch, transformers, trl or datasets,
so the app and `grpo-tui run` can call it (the launcher is the only importer;
an import-linter contract in pyproject.toml keeps it that way).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..core.settings.config import ConfigError, RunConfig
from . import datasets, distributed, gguf, gsm8k, rewards


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def resolve(cfg: RunConfig, extra_rewards: list[str] | None = None) -> RunConfig:
    """The config as the trainer should see it, built once per launch: the extra reward functions
    appended, GSM8K's defaults applied, a local dataset, model folder and user reward files as
    absolute paths (the trainer runs in the run folder), then validated; ConfigError on bad input.

    The changes are typed values already (paths, names), so they are set, not parsed again; the
    checks (``check``) then read the object this returns."""
    changes: dict[str, Any] = {}
    specs = []
    for name in list(cfg.rewards) + list(extra_rewards or []):
        target, sep, func = name.rpartition(":")
        if sep and (target.endswith(".py") or "/" in target) and not name.startswith("builtin:"):
            name = f"{_absolute(target)}:{func}"
        specs.append(name)
    if specs != list(cfg.rewards):
        changes["rewards"] = specs
    changes.update(gsm8k.defaults(cfg))
    dataset = changes.get("dataset", cfg.dataset)
    if datasets.classify(dataset) == "local":
        changes["dataset"] = _absolute(dataset)
    if not cfg.model.startswith("builtin:") and Path(cfg.model).expanduser().exists():
        changes["model"] = _absolute(cfg.model)
    changes = {k: v for k, v in changes.items() if v != getattr(cfg, k)}
    return (dataclasses.replace(cfg, **changes) if changes else cfg).validate()


def check(cfg: RunConfig) -> RunConfig:
    """Check the parts of a resolved config (``resolve``) only the trainer knows about, on that
    one object (none of them rebuilds it); ConfigError on bad input. Returns ``cfg``."""
    from ..core.settings.fields import check_installed

    check_installed(cfg)  # optim / quantisation / report_to packages: refused now, not in trainer.log
    datasets.check_dataset_source(cfg)
    gguf.check_config(cfg)  # a GGUF transformers cannot read (or for unsloth) is refused now, in one line
    rewards.validate_reward_specs(cfg)
    return cfg


def max_reward(cfg: RunConfig) -> float | None:
    """The highest total reward the configured rewards can give (None: a user function's is unknown)."""
    return rewards.max_total_reward(cfg)


def command(run_dir: str | os.PathLike[str], cfg: RunConfig, n_gpus: int,
            gpu_ids: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The trainer's argv and extra environment (``accelerate launch`` for several processes).

    ConfigError when the config asks for more training processes than there are GPUs.
    """
    server = cfg.use_vllm and cfg.vllm_mode == "server"
    try:
        return distributed.trainer_command(run_dir, cfg.num_processes, n_gpus, server_mode=server, gpu_ids=gpu_ids)
    except ValueError as exc:
        raise ConfigError("num_processes", str(exc)) from None
