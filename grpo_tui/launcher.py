"""Starting a trainer: validate -> create the run directory -> spawn it detached.

Shared by `grpo-tui run` and the app. Import-light: no torch, no textual.
It sits above both ``core`` and ``trainer``: the app reaches the trainer's
pre-flight (``trainer.preflight``, import-light) only through here, and never
imports the trainer otherwise (import-linter contracts in pyproject.toml).

``prepare(cfg)`` is the pre-flight: the config resolved once (``resolve``: what the
trainer needs filled in, then validated) and everything that can be checked before a
run directory exists run on that one object (the dataset file, the reward
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

from .core.planning import hardware, planner
from .core.settings.config import ConfigError, RunConfig
from .core.run.rundir import TRAINER_PID, RunDir, atomic_write, create_run, summarize
from .trainer import preflight

RESUME_ENV = "GRPO_TUI_RESUME"


@dataclass(frozen=True)
class Resolved:
    """A launch's config, resolved once (``resolve``): every check, run.json and the spawned
    trainer's command line read this one object; nothing between them rebuilds it."""
    config: RunConfig


def resolve(cfg: "RunConfig | Resolved", extra_rewards: list[str] | None = None) -> Resolved:
    """The one resolution of a launch (trainer.preflight.resolve: extra rewards appended, GSM8K's
    defaults, local paths absolute, validated); ConfigError on bad input. A Resolved is kept."""
    if isinstance(cfg, Resolved):
        if extra_rewards:
            raise ValueError("extra rewards belong to the resolution; this config is resolved already")
        return cfg
    return Resolved(preflight.resolve(cfg, extra_rewards))


def prepare(cfg: "RunConfig | Resolved", extra_rewards: list[str] | None = None) -> RunConfig:
    """The config as it will launch, checked (``checked``); ConfigError on bad input."""
    return checked(cfg, extra_rewards).config


def checked(cfg: "RunConfig | Resolved", extra_rewards: list[str] | None = None) -> Resolved:
    """Resolve (once) and run every pre-flight check on that one object; ConfigError on bad input."""
    resolved = resolve(cfg, extra_rewards)
    cfg = resolved.config
    check_memory(cfg)  # first: on a machine without the GPU a preset needs, that is the line to read
    preflight.check(cfg)
    trainer_argv(None, cfg)  # more processes than GPUs is refused now, not in trainer.log
    if cfg.model.startswith((".", "/", "~")) and not Path(cfg.model).expanduser().exists():
        raise ConfigError("model", f"local model folder {cfg.model} does not exist",
                          "give an existing folder, a hub id, or builtin:tiny")
    return resolved


def check_memory(cfg: RunConfig) -> None:
    """Refuse a GPU configuration that cannot fit this machine's GPU (core.planning.planner), with
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


def launch(cfg: "RunConfig | Resolved", *, extra_rewards: list[str] | None = None,
           spawn_trainer: bool = True) -> "Launched":
    """Pre-flight, run directory, trainer: all from the one resolved config (``checked``)."""
    resolved = checked(cfg, extra_rewards)
    cfg = resolved.config
    run = create_run(cfg.to_dict(), hardware=_hardware(),
                     extra={"max_reward": preflight.max_reward(cfg), "launched_by": os.getpid()})
    proc = spawn(run, cfg=cfg) if spawn_trainer else None
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


def spawn(run: RunDir, resume_from: Path | None = None, cfg: RunConfig | None = None) -> subprocess.Popen:
    """Start the trainer on ``run``; ``cfg``: the config run.json was written from (a launch hands
    its resolved one), else run.json is read (a resume)."""
    if cfg is None:
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
    from .core.reading import notify  # when notifications are configured: a watcher that reports the end, a crash, a stall

    notify.spawn_watcher(run)
    return proc
