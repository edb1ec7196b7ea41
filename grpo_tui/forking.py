"""`grpo-tui run --fork RUN[@STEP] [--set k=v ...]`: a new run from another run's checkpoint.

The fork is a run directory of its own whose trainer resumes from a copy of the parent's checkpoint at
or before STEP (transformers' own resume: the adapter or weights, optimizer, scheduler, RNG state, the
step count and the data order, which skips the batches already seen). It starts with the settings the
parent had in force (its settings.json) plus the fork's own ``--set`` changes, which are live settings
(core.run.live_settings) and ``max_steps``; a setting that shapes the model or the batch cannot differ
from the checkpoint's and is refused in one line. run.json records ``fork_of: {run, step, checkpoint}``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .core.run import live_settings as ls
from .core.settings.config import ConfigError, coerce, parse_overrides
from .core.run.rundir import CHECKPOINTS, RunDir, create_run

FORK_KEYS = ("max_steps",)  # RunConfig fields a fork may set besides the live settings


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``RUN@STEP`` -> (RUN, STEP); ``RUN`` -> (RUN, None: the newest checkpoint)."""
    name, at, step = ref.rpartition("@")
    if not at:
        return ref, None
    try:
        n = int(step)
    except ValueError:
        raise ConfigError("--fork", f"{step!r} is not a step number", "e.g. --fork RUN@250") from None
    if n < 0:
        raise ConfigError("--fork", f"step must be 0 or more, got {n}", "e.g. --fork RUN@250")
    return name, n


def checkpoint_at(run: RunDir, step: int | None) -> Path:
    """The parent's newest checkpoint at or before ``step`` (ConfigError when it has none)."""
    found: list[tuple[int, Path]] = []
    if run.checkpoints.is_dir():
        for p in run.checkpoints.glob("checkpoint-*"):
            tail = p.name.rsplit("-", 1)[-1]
            if p.is_dir() and tail.isdigit() and (p / "trainer_state.json").is_file():
                found.append((int(tail), p))
    found.sort()
    usable = [(n, p) for n, p in found if step is None or n <= step]
    if not usable:
        have = ", ".join(str(n) for n, _ in found) or "none"
        raise ConfigError("--fork", f"run {run.id} has no checkpoint at or before step {step} (checkpoints: {have})",
                          "save one while it trains with `grpo-tui checkpoint RUN`, or checkpoints come every "
                          "save_steps")
    return usable[-1][1]


def plan_fork(parent: RunDir, step: int | None, items: list[str]) -> tuple[Any, dict[str, Any], Path]:
    """(the fork's RunConfig, the settings in force for it, the checkpoint) -- every check, nothing written."""
    info = parent.info()
    if info.get("source") in ("watched", "trl-folder"):
        what = "a watched script" if info["source"] == "watched" else "a TRL folder"
        raise ConfigError("--fork", f"run {parent.id} is {what}: grpo-tui cannot rebuild its trainer",
                          "resume it from its own script with trainer.train(resume_from_checkpoint=...)")
    checkpoint = checkpoint_at(parent, step)
    cfg = ls.effective_config(parent)
    raw = parse_overrides(items)
    plain = {k: raw.pop(k) for k in FORK_KEYS if k in raw}
    changes = ls.parse_changes(raw, cfg, hardware=info.get("hardware")) if raw else {}
    overrides = {**ls.load_overrides(parent), **changes}
    cfg = ls.apply_to_config(cfg, changes)
    if plain:
        cfg = cfg.with_overrides({k: coerce(k, v, int) for k, v in plain.items()})
    cp_step = int(checkpoint.name.rsplit("-", 1)[-1])
    if cfg.max_steps <= cp_step:
        raise ConfigError("max_steps", f"{cfg.max_steps} is not past the checkpoint's step {cp_step}",
                          f"fork with --set max_steps={cp_step + cfg.max_steps}")
    return cfg.validate(), overrides, checkpoint


def fork(parent: RunDir, step: int | None, items: list[str]):
    """Create the fork's run directory (checkpoint copied in, settings.json, fork_of) and start its trainer."""
    from . import launcher

    cfg, overrides, checkpoint = plan_fork(parent, step, items)
    cp_step = int(checkpoint.name.rsplit("-", 1)[-1])
    info = parent.info()
    run = create_run(cfg.to_dict(), hardware=info.get("hardware") or {},
                     extra={"max_reward": info.get("max_reward"), "launched_by": os.getpid(),
                            "fork_of": {"run": parent.id, "step": cp_step, "checkpoint": str(checkpoint)}})
    copy = run.path / CHECKPOINTS / checkpoint.name
    shutil.copytree(checkpoint, copy)  # the fork outlives its parent's clean-up
    if overrides:
        ls.save_overrides(run, overrides, cp_step)
    proc = launcher.spawn(run, resume_from=copy)
    return launcher.Launched(run, proc)
