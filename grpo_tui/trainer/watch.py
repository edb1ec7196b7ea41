"""``grpo_tui.watch(trainer)``: a user's own GRPO script writes a grpo-tui run directory.

The user builds their GRPOTrainer (plain TRL, or Unsloth's patched one) as they always do and adds::

    from grpo_tui import watch
    watch(trainer)
    trainer.train()

That process then is a trainer process like ``python -m grpo_tui.trainer``: the same
``EventCallback`` (metrics, alerts, control at step boundaries, checkpoint events), the same
``SampleCapture`` (samples.jsonl), the same ``TrainerContext``. What differs is only who owns the
process: the user's script does, so

* ``run.json`` records what can be known from the built trainer (script, argv, cwd, GRPOConfig as a
  dict, model, reward function names, dataset size, hardware, pid) and ``source: "watched"``;
* ``trainer.train`` (the instance attribute) is wrapped: it writes ``finished`` (completed, stopped, or
  failed with the traceback, which is then re-raised untouched); a script that never finishes training
  writes ``failed`` at exit; a SIGKILL writes nothing and readers show "crashed";
* nothing the user set is changed: their callbacks, progress bar, ``report_to`` and signal handlers stay;
* writing never breaks training: a run directory that cannot be made or written warns once (``warnings``)
  and training goes on unwatched.

With several training processes (``accelerate launch``) every rank calls ``watch``; rank 0 makes the run
directory and writes, the others write nothing and follow rank 0's pause/stop at the same step boundary
(``trainer.rank_sync``).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

from ..core.run import events as ev
from ..core.settings.config import RunConfig
from ..core.run.rundir import RunDir, create_run, new_run_id, private_dir, runs_root
from . import distributed
from .callback import EventCallback
from .context import TrainerContext

SOURCE = "watched"


class _WarnOnce:
    def __init__(self) -> None:
        self.warned = False

    def __call__(self, what: str, exc: BaseException) -> None:
        if self.warned:
            return
        self.warned = True
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        warnings.warn(f"grpo-tui: {what}: {reason}; training goes on without grpo-tui", RuntimeWarning,
                      stacklevel=3)


class SafeEventWriter(ev.EventWriter):
    """An EventWriter that never raises: on the first OSError it warns once and writes nothing more."""

    def __init__(self, path: Path, warn: _WarnOnce):
        self._warn = warn
        self.dead = False
        try:
            super().__init__(path)
        except OSError as exc:
            self._fd = -1
            self._dead(exc)

    def _dead(self, exc: BaseException) -> None:
        self.dead = True
        self._warn(f"cannot write {self.path}", exc)

    def _append(self, events: list[ev.Event]) -> None:  # every write and flush comes here
        if self.dead:
            return
        try:
            super()._append(events)
        except (OSError, TypeError, ValueError) as exc:  # disk full, unencodable payload
            self._dead(exc)


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy (enums, paths, dtypes become strings)."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _model_name(trainer: Any) -> str:
    model = getattr(trainer, "model", None)
    for obj in (model, getattr(model, "base_model", None), getattr(getattr(model, "base_model", None), "model", None)):
        cfg = getattr(obj, "config", None)
        name = getattr(cfg, "_name_or_path", None) or getattr(cfg, "name_or_path", None)
        if name:
            return str(name)
    return type(model).__name__ if model is not None else ""


def _dataset_size(trainer: Any) -> int | None:
    try:
        return int(len(trainer.train_dataset))
    except Exception:
        return None


def _backend() -> str:
    return "unsloth" if "unsloth" in sys.modules else "trl"


def describe(trainer: Any, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(RunConfig dict for readers, the extra run.json keys) from a built trainer."""
    args = trainer.args
    try:
        grpo_config = _jsonable(args.to_dict())  # TrainingArguments.to_dict masks *_token fields
    except Exception:
        grpo_config = {}
    known = set(RunConfig.field_names())
    mapped = {k: v for k, v in grpo_config.items() if k in known and v is not None}
    if mapped.get("max_steps", 0) in (-1, 0):
        mapped.pop("max_steps", None)
    rewards = [str(n) for n in getattr(trainer, "reward_func_names", []) or []]
    data = {**mapped, "name": name, "model": _model_name(trainer), "backend": _backend(),
            "rewards": rewards, "device": "cuda" if "cuda" in str(getattr(args, "device", "")) else "cpu",
            "dataset": "script", "description": "watched: the user's own training script"}
    try:
        cfg = RunConfig.from_mapping(data).to_dict()
    except Exception:  # a value our RunConfig cannot hold: keep only what it can
        cfg = RunConfig(name=name, model=data["model"], backend=data["backend"], rewards=rewards).to_dict()
        cfg["max_steps"] = int(mapped.get("max_steps", 0) or 0)
    if not mapped.get("max_steps"):
        cfg["max_steps"] = 0  # epochs-based: known once training begins (the training phase's total)
    weights = getattr(trainer, "reward_weights", None)
    try:
        weights = [float(w) for w in weights.tolist()] if weights is not None else None
    except Exception:
        weights = None
    extra = {
        "source": SOURCE,
        "script": {"path": str(Path(sys.argv[0]).resolve()) if sys.argv and sys.argv[0] else "",
                   "argv": list(sys.argv), "cwd": os.getcwd()},
        "grpo_config": grpo_config,
        "model": cfg["model"],
        "reward_funcs": rewards,
        "reward_weights": weights,
        "dataset_size": _dataset_size(trainer),
        "trainer_class": f"{type(trainer).__module__}.{type(trainer).__name__}",
        "output_dir": str(Path(args.output_dir).resolve()) if getattr(args, "output_dir", None) else None,
        "pid": os.getpid(),
    }
    return cfg, extra


class Watch:
    """What ``watch()`` returns: the run directory (``None`` when it could not be made or on a
    non-main rank), the context and the callback."""

    def __init__(self, trainer: Any, run: RunDir | None, ctx: TrainerContext, callback: Any):
        self.trainer = trainer
        self.run = run
        self.ctx = ctx
        self.callback = callback
        self.finished = False

    @property
    def path(self) -> Path | None:
        return self.run.path if self.run is not None else None

    def finish(self, status: str, error: str | None = None, tb: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        try:
            self.ctx.step = int(self.trainer.state.global_step)
        except Exception:
            pass
        self.ctx.commit_held()  # a failed run's last steps
        self.ctx.emit(ev.FINISHED, status=status, error=error, traceback=tb, log_tail=[],
                      adapter_path=None, stop_reason=self.ctx.stop_reason or None)

    def __repr__(self) -> str:
        return f"Watch(run={str(self.path) if self.path else None!r})"


def _make_run(trainer: Any, name: str | None, warn: _WarnOnce) -> tuple[RunDir | None, dict[str, Any], dict]:
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c") else "script"
    label = name or script or "script"
    cfg, extra = describe(trainer, label)
    from .__main__ import hardware_snapshot

    hardware = hardware_snapshot()
    try:
        run = create_run(cfg, hardware=hardware, extra=extra, run_id=new_run_id(label))
        return run, cfg, hardware
    except OSError as exc:
        warn(f"cannot create a run directory under {runs_root()}", exc)
        return None, cfg, hardware


def watch(trainer: Any, *, name: str | None = None, capture_samples: bool = True,
          cpu_logprob_fallback: bool = True) -> Watch:
    """Make ``trainer`` write a grpo-tui run directory and take pause/resume/stop/checkpoint.

    Call it after building the trainer and before ``trainer.train()``. ``name`` labels the run (default:
    the script's file name). ``cpu_logprob_fallback`` puts plain PyTorch in place of TRL's Triton
    log-prob kernel for CPU tensors (TRL 1.15 cannot train on a CPU without it; GPU tensors still use
    TRL's kernel). Returns a ``Watch`` whose ``path`` is the run directory (None if it could not be made).
    """
    if getattr(trainer, "_grpo_tui_watch", None) is not None:
        return trainer._grpo_tui_watch
    if cpu_logprob_fallback:
        try:
            from .compat import install_cpu_logprob_fallback

            install_cpu_logprob_fallback()
        except Exception as exc:  # a TRL without that kernel: nothing to replace
            warnings.warn(f"grpo-tui: CPU log-prob fallback not installed: {exc}", RuntimeWarning, stacklevel=2)
    warn = _WarnOnce()
    main = distributed.is_main_process()
    run: RunDir | None = None
    cfg_dict: dict[str, Any] = {}
    hardware: dict = {}
    if main:
        run, cfg_dict, hardware = _make_run(trainer, name, warn)
    if run is not None:
        events: Any = SafeEventWriter(run.events, warn)
        samples: Any = SafeEventWriter(run.samples, warn)
        run_for_ctx = run
        try:
            private_dir(run.checkpoints)
        except OSError:
            pass
    else:  # non-main rank, or no run directory: write nothing, still follow the main rank's decisions
        events, samples = distributed.NullEventWriter(), distributed.NullEventWriter()
        run_for_ctx = RunDir(Path(os.devnull))
    try:
        cfg = RunConfig.from_mapping(cfg_dict) if cfg_dict else RunConfig(name=name or "script")
    except Exception:
        cfg = RunConfig(name=name or "script")
    cfg.capture_samples = capture_samples
    ctx = TrainerContext(run=run_for_ctx, cfg=cfg, events=events, samples=samples)
    ctx.stop_while_loading = False  # the model is loaded already; a stop ends training at a step boundary
    try:
        import psutil

        create_time = psutil.Process(os.getpid()).create_time()
    except Exception:
        create_time = None
    ctx.emit(ev.RUN_STARTED, pid=os.getpid(), pid_create_time=create_time, config=cfg.to_dict(),
             hardware=hardware, resumed_from=None, max_steps=cfg.max_steps, source=SOURCE)
    callback = _attach(trainer, ctx, commands=run is not None or not main)
    w = Watch(trainer, run, ctx, callback)
    _wrap_train(trainer, w)
    atexit.register(_at_exit, w)
    trainer._grpo_tui_watch = w
    if run is not None:
        print(f"grpo-tui: watching this run in {run.path} (follow it with `grpo-tui attach {run.id}`)",
              file=sys.stderr, flush=True)
    return w


def _attach(trainer: Any, ctx: TrainerContext, commands: bool) -> Any:
    """The project's callback and sample capture, without touching the user's own callbacks."""
    from .capture import SampleCapture

    capture = None
    if ctx.cfg.capture_samples and hasattr(trainer, "_generate_and_score_completions"):
        capture = SampleCapture(trainer, ctx)
    callback = WatchCallback(ctx, capture=capture)
    if not commands:  # the main rank could not make a run directory: nothing to read commands from
        callback.controller._take = lambda: []  # type: ignore[method-assign]
    trainer.add_callback(callback)
    ctx.extras["callback"] = callback
    ctx.extras["trainer"] = trainer
    ctx.extras["watched"] = True  # `grpo-tui set`: the learning rate and reward weights only (core.run.live_settings)
    return callback


class WatchCallback(EventCallback):
    """EventCallback whose failures are warnings: the user's training must go on."""

    def on_train_begin(self, args, state, control, **kwargs):
        return self._safe(EventCallback.on_train_begin, args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        return self._safe(EventCallback.on_log, args, state, control, logs=logs, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        return self._safe(EventCallback.on_step_end, args, state, control, **kwargs)

    def on_save(self, args, state, control, **kwargs):
        return self._safe(EventCallback.on_save, args, state, control, **kwargs)

    def _safe(self, hook, *a, **kw):
        try:
            return hook(self, *a, **kw)
        except Exception as exc:
            if not getattr(self, "_warned", False):
                self._warned = True
                warnings.warn(f"grpo-tui: {hook.__name__} failed ({type(exc).__name__}: {exc}); training goes on",
                              RuntimeWarning, stacklevel=2)
            return None


def _wrap_train(trainer: Any, w: Watch) -> None:
    original = trainer.train

    def train(*args: Any, **kwargs: Any):
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500] if str(exc) else type(exc).__name__
            w.finish(ev.FAILED, error=error, tb=traceback.format_exc())
            raise
        w.finish(ev.STOPPED if w.ctx.stop_requested.is_set() else ev.COMPLETED)
        return result

    train.__doc__ = getattr(original, "__doc__", None)
    trainer.train = train


def _at_exit(w: Watch) -> None:
    if not w.finished:
        w.finish(ev.FAILED, error="the script exited before trainer.train() finished")
    for writer in (w.ctx.events, w.ctx.samples):
        try:
            writer.close()
        except Exception:
            pass
    distributed.settle_collectives()  # under torchrun: see distributed.settle_collectives


__all__ = ["watch", "Watch", "WatchCallback", "describe", "SOURCE"]
