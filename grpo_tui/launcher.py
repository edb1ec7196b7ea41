"""Starting a trainer: validate -> create the run directory -> spawn it detached.

Shared by `grpo-tui run` and the app. Import-light: no torch, no textual.
It sits above both ``core`` and ``trainer``: the app reaches the trainer's
pre-flight (``trainer.preflight``, import-light) only through here, and never
imports the trainer otherwise (import-linter contracts in pyproject.toml).

``prepare(cfg)`` is the pre-flight: everything that can be checked before a
run directory exists (the config's own rules, the dataset file, the reward
functions, importable, the GPU memory plan). A failure raises ``ConfigError`` (the CLI prints one
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

from .core import hardware, planner
from .core.config import ConfigError, RunConfig
from .core.rundir import TRAINER_PID, RunDir, atomic_write, create_run, summarize
from .trainer import preflight

RESUME_ENV = "GRPO_TUI_RESUME"


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def prepare(cfg: RunConfig, extra_rewards: list[str] | None = None) -> RunConfig:
    """Validate and normalise a config for launch; ConfigError on bad input."""
    cfg = preflight.check(cfg, extra_rewards)
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
    try:
        planner.check_launch(cfg, hardware.detect(processes=False))
    except planner.UnknownModel:
        return  # nothing to plan with: let the trainer find out


def _hardware() -> dict[str, Any]:
    try:
        return hardware.snapshot()
    except Exception as exc:  # hardware detection must never block a launch
        return {"error": str(exc)}


def launch(cfg: RunConfig, *, extra_rewards: list[str] | None = None, spawn_trainer: bool = True) -> "Launched":
    cfg = prepare(cfg, extra_rewards)
    run = create_run(cfg.to_dict(), hardware=_hardware(),
                     extra={"max_reward": preflight.max_reward(cfg), "launched_by": os.getpid()})
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
    ids = gpu_ids(hardware.detect(processes=False, host=False))
    return preflight.command(run.path if run else ".", cfg, len(ids), ids)


def gpu_ids(hw: "hardware.Hardware") -> list[str]:
    """The visible GPUs as CUDA_VISIBLE_DEVICES names them (UUIDs: NVML's order need not be CUDA's),
    the most memory first: one training process gets the card the memory planner checked."""
    gpus = sorted(hw.visible_gpus, key=lambda g: -(g.plannable_gb or 0))
    if any(g.mig_enabled for g in gpus):
        return []  # MIG: CUDA shows a process one instance anyway, named by MIG UUIDs NVML lists elsewhere
    return [g.uuid or str(g.index) for g in gpus]


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
    from .core import notify  # when notifications are configured: a watcher that reports the end, a crash, a stall

    notify.spawn_watcher(run)
    return proc
