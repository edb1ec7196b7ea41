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

import os
from pathlib import Path

from ..core.config import ConfigError, RunConfig
from . import datasets, distributed, gguf, gsm8k, rewards


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def check(cfg: RunConfig, extra_rewards: list[str] | None = None) -> RunConfig:
    """Validate the parts of ``cfg`` only the trainer knows about; ConfigError on bad input.

    Returns the config as the trainer should see it: GSM8K's defaults applied, a local
    dataset and user reward files as absolute paths (the trainer runs in the run folder).
    """
    if extra_rewards:
        cfg = cfg.with_overrides({"rewards": list(cfg.rewards) + list(extra_rewards)})
    cfg = gsm8k.apply_defaults(cfg.validate())
    from ..core.fields import check_installed

    check_installed(cfg)  # optim / quantisation / report_to packages: refused now, not in trainer.log
    datasets.check_dataset_source(cfg)
    gguf.check_config(cfg)  # a GGUF transformers cannot read (or for unsloth) is refused now, in one line
    if datasets.classify(cfg.dataset) == "local":
        cfg = cfg.with_overrides({"dataset": _absolute(cfg.dataset)})
    specs = []
    for name in cfg.rewards:
        target, sep, func = name.rpartition(":")
        if sep and (target.endswith(".py") or "/" in target) and not name.startswith("builtin:"):
            name = f"{_absolute(target)}:{func}"
        specs.append(name)
    cfg = cfg.with_overrides({"rewards": specs})
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
