"""Starting a trainer: validate -> create the run directory -> spawn it detached.

Shared by `grpo-tui run` and the app. Import-light: no torch, no textual.

``prepare(cfg)`` is the pre-flight: everything that can be checked before a
run directory exists (the config's own rules, the dataset file, the reward
functions, importable). A failure raises ``ConfigError`` (the CLI prints one
line and exits 2) and leaves nothing behind.

``launch(cfg)`` then creates the run (atomically, 0700) and spawns
``python -m grpo_tui.trainer RUN_DIR`` in its own session (``start_new_session``:
closing the terminal or losing SSH does not reach it) with stdin from
/dev/null and stdout/stderr into ``trainer.log``; ``trainer.pid`` records
``{pid, create_time}`` so readers can tell a dead trainer from a reused pid.

``resume(run)`` spawns a trainer on an existing run directory that continues
from its latest checkpoint (events are appended to the same log).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, RunConfig
from .rundir import TRAINER_PID, RunDir, atomic_write, create_run, summarize

RESUME_ENV = "GRPO_TUI_RESUME"


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def prepare(cfg: RunConfig, extra_rewards: list[str] | None = None) -> RunConfig:
    """Validate and normalise a config for launch; ConfigError on bad input."""
    from ..trainer import datasets as data_mod  # light: no torch at import
    from ..trainer import rewards as rewards_mod

    from ..trainer import gsm8k  # light: records GSM8K's config, eval split and prompt in run.json

    if extra_rewards:
        cfg = cfg.with_overrides({"rewards": list(cfg.rewards) + list(extra_rewards)})
    cfg = gsm8k.apply_defaults(cfg.validate())
    # Paths are resolved now: the trainer runs with another working directory.
    if data_mod.classify(cfg.dataset) == "local":
        data_mod.check_dataset_source(cfg)
        cfg = cfg.with_overrides({"dataset": _absolute(cfg.dataset)})
    else:
        data_mod.check_dataset_source(cfg)
    rewards = []
    for name in cfg.rewards:
        target, sep, func = name.rpartition(":")
        if sep and (target.endswith(".py") or "/" in target) and not name.startswith("builtin:"):
            name = f"{_absolute(target)}:{func}"
        rewards.append(name)
    cfg = cfg.with_overrides({"rewards": rewards})
    rewards_mod.validate_reward_specs(cfg)
    check_memory(cfg)
    trainer_argv(None, cfg)  # more processes than GPUs is refused now, not in trainer.log
    if not cfg.model.startswith("builtin:"):
        p = Path(cfg.model).expanduser()
        if cfg.model.startswith((".", "/", "~")) and not p.exists():
            raise ConfigError("model", f"local model folder {cfg.model} does not exist",
                              "give an existing folder, a hub id, or builtin:tiny")
        if p.exists():
            cfg = cfg.with_overrides({"model": _absolute(cfg.model)})
    return cfg


def check_memory(cfg: RunConfig) -> None:
    """Refuse a GPU configuration that cannot fit this machine's GPU (core.planner), with
    the memory breakdown, before any run directory or model exists. CPU and builtin-model
    configs are not checked; GRPO_TUI_SKIP_MEMORY_CHECK=1 skips it (the planner is an
    estimate: a user who knows better can still launch)."""
    if cfg.device == "cpu" or cfg.model.startswith("builtin:") or os.environ.get("GRPO_TUI_SKIP_MEMORY_CHECK"):
        return
    from .hardware import detect
    from .planner import UnknownModel, check_launch

    try:
        check_launch(cfg, detect(processes=False))
    except UnknownModel:
        return  # nothing to plan with: let the trainer find out


def max_reward(cfg: RunConfig) -> float | None:
    from ..trainer.rewards import max_total_reward

    return max_total_reward(cfg)


def _hardware() -> dict[str, Any]:
    try:
        from .hardware import snapshot

        return snapshot()
    except Exception as exc:  # hardware detection must never block a launch
        return {"error": str(exc)}


def launch(cfg: RunConfig, *, extra_rewards: list[str] | None = None, spawn_trainer: bool = True) -> "Launched":
    cfg = prepare(cfg, extra_rewards)
    run = create_run(cfg.to_dict(), hardware=_hardware(),
                     extra={"max_reward": max_reward(cfg), "launched_by": os.getpid()})
    proc = spawn(run) if spawn_trainer else None
    return Launched(run, proc)


def resume(run: RunDir) -> "Launched":
    s = summarize(run)
    if s.live:
        raise ConfigError("--resume", f"run {run.id} is still {s.state}", "stop it first, or attach to it")
    cp = run.latest_checkpoint()
    if cp is None:
        raise ConfigError("--resume", f"run {run.id} has no checkpoint to resume from",
                          "checkpoints are saved every save_steps or with `grpo-tui checkpoint RUN`")
    proc = spawn(run, resume_from=cp)
    return Launched(run, proc)


@dataclass
class Launched:
    run: RunDir
    proc: subprocess.Popen | None


def trainer_argv(run: RunDir | None, cfg: RunConfig) -> tuple[list[str], dict[str, str]]:
    """The trainer's command line: the plain entry point, or ``accelerate launch`` when the
    config asks for several training processes (trainer.distributed builds it; events,
    commands and the adapter stay with the main process). ConfigError when GPUs are too few."""
    from ..trainer import distributed  # import-light: no torch

    n_gpus = 0
    if cfg.num_processes > 1:
        from . import hardware

        n_gpus = len(hardware.detect().gpus)
    server = cfg.use_vllm and cfg.vllm_mode == "server"
    try:
        return distributed.trainer_command(run.path if run else ".", cfg.num_processes, n_gpus, server_mode=server)
    except ValueError as exc:
        raise ConfigError("num_processes", str(exc)) from None


def spawn(run: RunDir, resume_from: Path | None = None) -> subprocess.Popen:
    try:
        cfg = RunConfig.from_mapping(run.config())
    except (ConfigError, OSError, ValueError):
        cfg = RunConfig()  # an older or hand-edited run.json: the plain single-process trainer
    argv, extra_env = trainer_argv(run, cfg)
    env = dict(os.environ)
    env.update(extra_env)
    env.pop(RESUME_ENV, None)
    if resume_from is not None:
        env[RESUME_ENV] = str(resume_from)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONUNBUFFERED"] = "1"
    fd = os.open(run.trainer_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=env, cwd=str(run.path),
        )
    finally:
        os.close(fd)
    create_time = None
    try:
        import psutil

        create_time = psutil.Process(proc.pid).create_time()
    except Exception:
        pass
    atomic_write(run.path / TRAINER_PID, json.dumps({"pid": proc.pid, "create_time": create_time,
                                                     "started": time.time()}))
    return proc
