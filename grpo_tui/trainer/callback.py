"""The TrainerCallback that turns a training loop into events.

* ``on_log``: a ``metrics`` event with every scalar the trainer logged, under
  TRL's own names, plus ``memory/rss_mb`` and, on CUDA, torch's allocator
  figures (``memory/cuda_allocated_mb``, ``memory/cuda_reserved_mb``,
  ``memory/cuda_max_allocated_mb``). TRL logs its own ``step_time``; when a
  trainer does not, we add the wall time between step ends.
* ``on_step_end``: the step's completion rows (``samples`` event, via
  ``SampleCapture``).
* Control commands are taken right after the step's ``metrics`` event (in
  ``on_log``; in ``on_step_end`` for steps that do not log), so the Trainer's
  own log/save for the step has happened or is next, and a pause blocks
  before the next step starts. A stop sets ``should_training_stop``; the loop
  ends after this step.
* ``on_save``: a ``checkpoint`` event.
* ``metrics``, ``samples`` and ``alert`` events are held and written in
  groups at most ``COMMIT_S`` apart (``commit``); the health checks
  (core.reading.alerts) see every one, and each ``alert`` names its step.
"""

from __future__ import annotations

import os
import time
from typing import Any

from transformers import TrainerCallback

from ..core.run import events as ev
from ..core.run import metric_names as M
from ..core.util.numbers import finite
from ..core.reading.alerts import AlertEngine
from .context import TrainerContext
from .control import Controller

RSS_S = 1.0  # the process RSS is read at most this often (the steps between repeat the last figure)
COMMIT_S = 0.5  # held events are written and checked at least this often (EventCallback.commit)
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss")


def _scalar(v: Any) -> float | None:
    if isinstance(v, (bool, int, float)):
        return finite(v, bools=True)
    item = getattr(v, "item", None)
    if callable(item):
        try:
            return _scalar(item())
        except Exception:
            return None
    return None


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _open_statm() -> int | None:
    """/proc/self/statm kept open and re-read with pread every step (psutil opens the file each
    time, ~40 µs of the loop's time); None where there is no /proc (then psutil)."""
    try:
        return os.open(f"/proc/{os.getpid()}/statm", os.O_RDONLY)
    except (OSError, AttributeError):
        return None


def _run_max_reward(ctx: TrainerContext) -> float | None:
    try:
        return ctx.run.info().get("max_reward")  # recorded by the launcher
    except Exception:
        return None


class EventCallback(TrainerCallback):
    def __init__(self, ctx: TrainerContext, capture: Any = None):
        self.ctx = ctx
        self.capture = capture
        self.controller = Controller(ctx)
        self.alerts = AlertEngine.from_config(ctx.cfg.to_dict(), max_reward=_run_max_reward(ctx))  # -> alert events
        self._health: list[dict] = []  # held events the health checks have not seen yet
        self._committed_at = -float("inf")
        self.controller.before_wait = self.commit  # a paused run shows everything up to its step
        self._last_step_end: float | None = None
        self._step_time: float | None = None
        self._proc = None
        self._cuda = None
        self._statm = _open_statm()
        self._rss: float | None = None
        self._rss_at = -float("inf")
        if self._statm is None:
            try:
                import psutil

                self._proc = psutil.Process(os.getpid())
            except Exception:
                pass

    # -- memory ------------------------------------------------------------------------
    def memory(self) -> dict[str, float]:
        out: dict[str, float] = {}
        now = time.monotonic()
        if self._rss is None or now - self._rss_at >= RSS_S:  # it moves slowly; each read is a syscall
            self._rss, self._rss_at = self._read_rss(), now
        if self._rss is not None:
            out[M.RSS_MB] = self._rss
        if self._cuda is None:
            import torch

            self._cuda = torch.cuda if torch.cuda.is_available() else False
        if self._cuda:
            out[M.CUDA_ALLOCATED_MB] = self._cuda.memory_allocated() / 2**20
            out[M.CUDA_RESERVED_MB] = self._cuda.memory_reserved() / 2**20
            out[M.CUDA_MAX_ALLOCATED_MB] = self._cuda.max_memory_allocated() / 2**20
        return out

    def _read_rss(self) -> float | None:
        if self._statm is not None:
            try:  # resident pages, the second field (what psutil's memory_info().rss reads)
                return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE / 2**20
            except (OSError, ValueError, IndexError):
                return None
        if self._proc is not None:
            return self._proc.memory_info().rss / 2**20
        return None

    # -- hooks --------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        with self.ctx.commands_lock:
            self.ctx.loading = False  # from here a stop ends the run at a step boundary, adapter saved
        self.ctx.step = int(state.global_step)
        self.ctx.phase("training", f"training to step {state.max_steps}", current=state.global_step,
                       total=state.max_steps)
        self._last_step_end = time.perf_counter()
        if self.ctx.resume_from is not None:
            self._warm_alerts(int(state.global_step))
        self.controller.restore_settings()  # --resume and forks keep the settings changed while training
        self._apply(self.controller.poll(), control, args, state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return
        if any(k in logs for k in SUMMARY_KEYS):
            summary = {k: _scalar(v) for k, v in logs.items()}
            self.ctx.emit(ev.LOG, level="info", message="training summary", summary=summary)
            return
        metrics, bad = {}, {}
        for k, v in logs.items():
            f = _scalar(v)
            if f is not None:
                metrics[k] = f
            elif isinstance(v, (int, float)):
                bad[k] = None  # NaN/inf: dropped from the event, seen by the alert engine as None
        if M.STEP_TIME not in metrics and self._step_time is not None:
            metrics[M.STEP_TIME] = self._step_time
        metrics.update(self.memory())
        self.ctx.step = int(state.global_step)
        event = self.ctx.events.hold(ev.METRICS, self.ctx.step, metrics=metrics)
        self._health.append({**event, "metrics": {**metrics, **bad}} if bad else event)
        self._commit_if_due()
        # Commands are taken after the step's metrics are out, so a paused run shows its last step.
        self._apply(self.controller.poll(save_now=self._save_now), control, args, state)

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if self._last_step_end is not None:
            self._step_time = now - self._last_step_end
        self._last_step_end = now
        self.ctx.step = int(state.global_step)
        if self.capture is not None:
            samples = self.capture.flush(state.global_step)
            if samples is not None:
                self._health.append(samples)
        logs_this_step = args.logging_steps and state.global_step % int(args.logging_steps) == 0
        if not logs_this_step:  # otherwise on_log takes the commands, after the metrics
            self._commit_if_due()
            self._apply(self.controller.poll(save_now=self._save_now), control, args, state)

    def on_save(self, args, state, control, **kwargs):
        self.commit()  # what led up to a checkpoint is on disk with it
        path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        self.ctx.emit(ev.CHECKPOINT, path=path, kind="checkpoint")

    def on_train_end(self, args, state, control, **kwargs):
        self.commit()

    # -- group commit ---------------------------------------------------------------------------
    def _commit_if_due(self) -> None:
        if time.monotonic() - self._committed_at >= COMMIT_S:
            self.commit()

    def commit(self) -> None:
        """Check the held steps' health and write them. The step's ``metrics`` and ``samples`` events
        are held (EventWriter.hold) and written together at most every ``COMMIT_S`` (the first at
        once), when a pause begins, before a checkpoint event, and when training ends or fails:
        at 20 steps a second, writing and checking each step on its own cost the loop ~0.2 ms a
        step more (each a cold start). A run killed outright loses at most the last ``COMMIT_S``;
        where a step takes longer than that, every step is written as it ends."""
        events, self._health = self._health, []
        self._committed_at = time.monotonic()
        for event in events:
            self._check_health(event)
        self.ctx.samples.flush()
        self.ctx.events.flush()

    def _warm_alerts(self, upto: int) -> None:
        """A resumed run keeps its health baselines and does not re-raise recorded alerts."""
        try:
            past = ev.read_all(self.ctx.run.events, types=[ev.METRICS])[0]
            self.alerts.warm(e for e in past if e.get("step", 0) <= upto)
        except Exception as exc:  # health checks must never break training
            self.ctx.log(f"alert history not loaded: {type(exc).__name__}: {exc}", "warning")

    def _check_health(self, event: dict) -> None:
        try:
            for alert in self.alerts.feed(event):  # stamped with the step it was found at
                self.ctx.events.hold(ev.ALERT, alert.step, **alert.to_event_payload())
        except Exception as exc:  # health checks must never break training
            self.ctx.log(f"alert check failed: {type(exc).__name__}: {exc}", "warning")

    # -- control -----------------------------------------------------------------------------
    def _apply(self, decision, control, args, state) -> None:
        self._last_step_end = time.perf_counter()  # time spent paused is not step time
        if decision.save_checkpoint:
            control.should_save = True
        if decision.stop:
            control.should_training_stop = True

    def _save_now(self) -> None:
        trainer = getattr(self.capture, "trainer", None) or self.ctx.extras.get("trainer")
        if trainer is None:
            self.ctx.log("checkpoint while paused needs the trainer; saved at the next step instead", "warning")
            return
        trainer._save_checkpoint(trainer.model, trial=None)
        path = os.path.join(trainer.args.output_dir, f"checkpoint-{trainer.state.global_step}")
        self.ctx.emit(ev.CHECKPOINT, path=path, kind="checkpoint")
