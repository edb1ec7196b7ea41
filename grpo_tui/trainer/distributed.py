"""Multi-GPU training with ``accelerate launch``; events from the main process only.

``accelerate_command(run_dir, gpus)`` builds the launch line: one training
process per GPU (``CUDA_VISIBLE_DEVICES`` names them), each running
``python -m grpo_tui.trainer RUN_DIR``, the normal trainer entry point. It picks
its event writers by rank (``event_writers``): on every process but the main one
(accelerate's ``RANK`` != 0) they write nothing, the command files are left to the
main process, and the adapter is saved by the main process only. Pause, resume, stop and checkpoint reach
every rank at the same step boundary (trainer.rank_sync). So the run directory looks exactly like a
single-process run's, and the app cannot tell the difference.

With vLLM server mode the server's GPU is left out of the training processes'
``CUDA_VISIBLE_DEVICES`` and handed to the trainer in ``SERVER_GPU_ENV``
(trainer.vllm_server). No scheduler of our own: this is accelerate.

UNVERIFIED ON GPUs: the command line and the rank guard are tested on the CPU,
and a real two-process run (torch.distributed over gloo, DDP) is paused,
checkpointed, resumed and stopped in tests/test_distributed_control.py; no
multi-GPU (NCCL) run has been made.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

MODULE = "grpo_tui.trainer"  # every rank runs the plain entry point


def rank(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    for key in ("RANK", "LOCAL_RANK"):  # set by accelerate launch / torchrun for every process
        value = env.get(key)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError:
                pass
    return 0


def world_size(env: Mapping[str, str] | None = None) -> int:
    """How many training processes this run has (``WORLD_SIZE``, set by accelerate launch / torchrun)."""
    env = os.environ if env is None else env
    try:
        return max(1, int(env.get("WORLD_SIZE") or 1))
    except ValueError:
        return 1


def is_main_process(env: Mapping[str, str] | None = None) -> bool:
    return rank(env) == 0


def accelerate_command(run_dir: str | os.PathLike[str], gpus: list[int], *,
                       main_process_port: int | None = None, mixed_precision: str = "no",
                       python: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv, environment additions) for ``accelerate launch`` over ``gpus``."""
    if not gpus:
        raise ValueError("accelerate launch needs at least one GPU")
    argv = [python or sys.executable, "-m", "accelerate.commands.launch",
            "--num_processes", str(len(gpus)), "--num_machines", "1",
            "--mixed_precision", mixed_precision, "--dynamo_backend", "no"]
    if len(gpus) > 1:
        argv.append("--multi_gpu")
    if main_process_port is not None:
        argv += ["--main_process_port", str(main_process_port)]
    argv += ["-m", MODULE, str(Path(run_dir))]
    return argv, {"CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpus)}


SERVER_GPU_ENV = "GRPO_TUI_VLLM_SERVER_GPU"  # the vLLM server's GPU, as the launcher's CUDA_VISIBLE_DEVICES names it


def trainer_command(run_dir: str | os.PathLike[str], num_processes: int, n_gpus: int, *,
                    server_mode: bool = False, python: str | None = None,
                    gpu_ids: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """What the launcher spawns for a run: the plain trainer entry point for one process, else
    ``accelerate launch`` over the first num_processes GPUs. ValueError (one line) when the GPUs are
    too few.

    Each training process sees only its GPUs (``CUDA_VISIBLE_DEVICES``): a single process that sees
    several gets ``n_gpu`` > 1 from transformers, and TRL's GRPOTrainer refuses that (no DataParallel).
    In server mode the vLLM server takes the last GPU; its id is handed over in ``SERVER_GPU_ENV``
    (trainer.vllm_server), since the trainer itself cannot see it. ``gpu_ids``: the visible GPUs as
    ``CUDA_VISIBLE_DEVICES`` names them (indices or UUIDs), default ``0..n_gpus-1``."""
    python = python or sys.executable
    ids = [str(g) for g in (gpu_ids if gpu_ids is not None else range(n_gpus))]
    server = [ids[-1]] if server_mode and len(ids) >= 2 else []
    pool = ids[:-1] if server else ids
    env: dict[str, str] = {SERVER_GPU_ENV: server[0]} if server else {}
    if num_processes <= 1:
        if pool:
            env["CUDA_VISIBLE_DEVICES"] = pool[0]
        return [python, "-m", "grpo_tui.trainer", str(Path(run_dir))], env
    usable = n_gpus - (1 if server_mode else 0)
    if num_processes > usable:
        extra = " plus one for the vLLM server" if server_mode else ""
        raise ValueError(f"num_processes={num_processes} needs {num_processes} GPUs{extra}, {n_gpus} visible: "
                         f"use --set num_processes={max(1, usable)}")
    argv, _ = accelerate_command(run_dir, list(range(num_processes)), python=python)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(pool[:num_processes])
    return argv, env


class NullEventWriter:
    """An EventWriter that writes nothing (non-main ranks)."""

    def __init__(self, path: Any = None):
        self.path = Path(path) if path is not None else None

    def write(self, event: dict) -> None:
        pass

    def emit(self, type_: str, step: int = 0, **payload: Any) -> dict:
        from ..core.run import events as ev

        return ev.make_event(type_, step, **payload)

    hold = emit

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "NullEventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def event_writers(events_path: str | os.PathLike[str], samples_path: str | os.PathLike[str],
                  env: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """The (events, samples) writers for this process: the run's files on the main process,
    writers that write nothing on every other rank (a run directory has one writer). The trainer's
    entry point and a watched script (trainer.watch) choose with this; the adapter is saved by the
    main process only in the same way (``is_main_process()`` in the backends)."""
    if is_main_process(env):
        from ..core.run import events as ev

        return ev.EventWriter(events_path), ev.EventWriter(samples_path)
    return NullEventWriter(events_path), NullEventWriter(samples_path)


def release_process_group() -> bool:
    """Destroy the default process group once this rank has ended well, as PyTorch asks of every
    program (NCCL warns at exit otherwise, and its communicators are freed in order). Not after a
    failure: another rank may still be inside a collective, and destroying can then hang.
    True when a group was destroyed."""
    try:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return False
        dist.destroy_process_group()
        return True
    except Exception:  # never turn a finished run into a crash while tidying up
        return False


SETTLE_S = 0.3


def settle_collectives(seconds: float = SETTLE_S) -> bool:
    """Before a training process of several exits: give the process group's worker threads a moment
    (the GIL free) to drop the last collectives' work objects.

    gloo's worker thread destroys a finished collective's work a moment after the caller's wait
    returns, and dropping tensors Python has already let go needs the GIL. If that moment falls in
    interpreter shutdown the thread cannot have it and the process aborts ("terminate called
    without an active exception"): a clean end read as a failed launch. Any collective can be the
    last (the ranks' stop agreement, transformers' ``store_flos`` all_gather that ends every
    ``train()``), so the wait is here, at exit, not in each caller. True when there was a group
    to wait for."""
    try:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return False
    except Exception:
        return False
    import time

    time.sleep(seconds)
    return True
