"""Synthetic run directories: realistic event logs without a trainer.

Tests, benches, screenshots and other engineers use this to get a run directory
that looks exactly like one the trainer writes (same files, same event schema,
TRL's metric names) -- at any size, instantly, deterministically.

Quick use::

    from grpo_tui.core.run.synthetic import make_run
    run = make_run(steps=50)                       # a finished 50-step run (completed)
    run = make_run(steps=20, max_steps=100, state="training", pid=os.getpid())
    run = make_run(steps=100_000, samples_every=100, fast=True)   # a big log, quickly

Live use (append while something watches)::

    w = SyntheticWriter.create(max_steps=200, pid=os.getpid())
    w.start()                # run_started + loading phases + training phase
    for _ in range(10):
        w.step()             # one metrics event (events.jsonl) + one samples event (samples.jsonl)
    w.control("pause", "paused")
    w.alert("no_signal", "all groups have zero reward std", severity="warning")
    w.finish("completed")    # or "failed" with a traceback, or "stopped"
    w.close()

What is in it:

* ``run.json`` -- the resolved config (RunConfig defaults + overrides, name "synthetic"),
  a fake hardware snapshot and, with ``plan=True``, a planner prediction under "plan".
* ``events.jsonl`` -- run_started, phase (loading_model, loading_dataset, training),
  metrics per step with: reward, reward_std, rewards/<fn>/mean|std for each reward
  function, completions/mean_length|min_length|max_length|clipped_ratio|
  mean_terminated_length|min_terminated_length|max_terminated_length, kl, entropy,
  grad_norm, learning_rate, num_tokens (cumulative), step_time, frac_reward_zero_std,
  loss, memory/rss_mb (and memory/cuda_* with ``cuda=True``); control, checkpoint,
  alert and finished events on request.
* ``samples.jsonl`` -- one samples event per captured step, ``groups`` prompt groups of
  ``num_generations`` rows each: prompt, completion (``<think>..</think><answer>..</answer>``),
  rewards {fn: float}, reward, advantage (group-normalised), length, truncated, group, answer.

Timestamps are ``t0 + step * step_time`` (no wall clock) so output is byte-for-byte
reproducible for a given seed; pass ``t0=time.time()`` for a "live" look.
``completion_hook(step, group, i, text) -> text`` lets a test inject hostile text
(markup, ANSI escapes) into chosen completions.
"""

from __future__ import annotations

import math
import os
import random
from typing import Any, Callable, Iterable

from . import events as ev
from . import metric_names as M
from ..settings.config import RunConfig
from .rundir import RunDir, atomic_write, create_run
from .sample_columns import to_columns

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a fixed, recognisable epoch for reproducible logs

_WORDS = ("so", "then", "we", "add", "the", "numbers", "carry", "one", "check", "result", "first",
          "next", "digits", "sum", "is", "because", "let", "me", "verify", "again", "tens", "units")


def _config(overrides: dict[str, Any] | None) -> dict[str, Any]:
    base = {"name": "synthetic", "model": "builtin:tiny", "max_steps": 100, "num_generations": 4,
            "per_device_train_batch_size": 8, "max_completion_length": 64}
    base.update(overrides or {})
    return RunConfig.from_mapping(base, source="synthetic").to_dict()


class SyntheticWriter:
    """Appends realistic events to a run directory, step by step."""

    def __init__(self, run: RunDir, *, seed: int = 0, t0: float = T0, step_time: float = 2.0,
                 groups: int | None = None, cuda: bool = False, samples_every: int = 1,
                 completion_hook: Callable[[int, int, int, str], str] | None = None,
                 fast: bool = False):
        self.run = run
        cfg = run.config()
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.t0 = float(t0)
        self.step_time = float(step_time)
        self.max_steps = int(cfg.get("max_steps", 100) or 100)
        self.G = int(cfg.get("num_generations", 4) or 4)
        batch = int(cfg.get("per_device_train_batch_size", 8) or 8)
        self.groups = int(groups) if groups else max(1, batch // self.G)
        self.max_len = int(cfg.get("max_completion_length", 64) or 64)
        self.reward_fns = [str(r).rsplit(":", 1)[-1] for r in (cfg.get("rewards") or ["format", "correctness"])]
        self.cuda = cuda
        self.samples_every = max(1, int(samples_every))
        self.hook = completion_hook
        self.step_no = 0
        self.num_tokens = 0.0
        self.fast = fast
        if fast:  # buffered appends: far fewer syscalls for big logs (not line-atomic for readers)
            self._ev = open(run.events, "ab", buffering=1 << 20)
            self._sm = open(run.samples, "ab", buffering=1 << 20)
        else:
            self._ev = ev.EventWriter(run.events)
            self._sm = ev.EventWriter(run.samples)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def create(cls, *, config: dict[str, Any] | None = None, max_steps: int | None = None,
               run_id: str | None = None, plan: bool = False, hardware: dict[str, Any] | None = None,
               **kwargs: Any) -> "SyntheticWriter":
        over = dict(config or {})
        if max_steps is not None:
            over["max_steps"] = int(max_steps)
        extra: dict[str, Any] = {"max_reward": float(len(over.get("rewards", ["format", "correctness"])))}
        if plan:
            extra["plan"] = {"total_gb": 6.2, "weights_gb": 1.1, "training_gb": 2.4, "vllm_gb": 2.7,
                             "gpu_total_gb": 24.0, "verdict": "fits"}
        hw = hardware if hardware is not None else {
            "gpus": [], "nvml_error": "synthetic run: no GPU", "summary": "CPU only: synthetic run"}
        run = create_run(_config(over), hardware=hw, extra=extra, run_id=run_id)
        return cls(run, **kwargs)

    # -- low level ---------------------------------------------------------------------------
    def ts(self, step: float | None = None) -> float:
        return self.t0 + (self.step_no if step is None else step) * self.step_time

    def _write(self, sink: Any, event: ev.Event) -> None:
        if self.fast:
            sink.write(ev.encode(event))
        else:
            sink.write(event)

    def emit(self, type_: str, **payload: Any) -> ev.Event:
        e = {"v": ev.version_of(type_), "type": type_, "ts": payload.pop("ts", self.ts()),
             "step": self.step_no, **payload}
        self._write(self._ev, e)
        return e

    def raw(self, line: bytes, samples: bool = False) -> None:
        """Append raw bytes (corrupt lines, newer-schema events, torn writes) as they are."""
        self.flush()
        with open(self.run.samples if samples else self.run.events, "ab") as fh:
            fh.write(line)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, pid: int | None = None, pid_create_time: float | None = None,
              phases: bool = True, training: bool = True) -> None:
        if pid is not None and pid_create_time is None:
            try:
                import psutil

                pid_create_time = psutil.Process(pid).create_time()
            except Exception:
                pid_create_time = None
        self.emit(ev.RUN_STARTED, pid=pid, pid_create_time=pid_create_time, config=self.cfg,
                  hardware=self.run.info().get("hardware", {}), resumed_from=None, max_steps=self.max_steps)
        if phases:
            self.phase("loading_model", "building the tiny model", progress=0.0)
            self.phase("loading_model", "building the tiny model", progress=1.0)
            self.phase("loading_dataset", "builtin:arith", progress=1.0)
        if training:
            self.phase("training", f"training to step {self.max_steps}", current=self.step_no,
                       total=self.max_steps)

    def phase(self, name: str, message: str = "", progress: float | None = None,
              current: int | None = None, total: int | None = None) -> None:
        self.emit(ev.PHASE, name=name, message=message, progress=progress, current=current, total=total)

    def steps(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def step(self) -> dict[str, float]:
        """One training step: a metrics event, and a samples event every ``samples_every`` steps."""
        self.step_no += 1
        s = self.step_no
        rows = self.sample_rows(s) if s % self.samples_every == 0 else None
        metrics = self.metrics(s, rows)
        self._write(self._ev, {"v": ev.version_of(ev.METRICS), "type": ev.METRICS, "ts": self.ts(), "step": s,
                               "metrics": metrics})
        if rows is not None:  # as the trainer writes them: columns
            self._write(self._sm, {"v": ev.version_of(ev.SAMPLES), "type": ev.SAMPLES, "ts": self.ts(), "step": s,
                                   **to_columns(rows, {fn: 1.0 for fn in self.reward_fns})})
        return metrics

    def control(self, command: str, state: str, cid: str | None = None) -> None:
        self.emit(ev.CONTROL, command=command, id=cid or f"synthetic-{command}-{self.step_no}", state=state)

    def checkpoint(self, kind: str = "checkpoint") -> None:
        self.emit(ev.CHECKPOINT, path=str(self.run.checkpoints / f"checkpoint-{self.step_no}"), kind=kind)

    def alert(self, code: str, message: str, severity: str = "warning", hint: str = "") -> None:
        self.emit(ev.ALERT, code=code, severity=severity, message=message, hint=hint, since_step=self.step_no)

    def log(self, message: str, level: str = "info") -> None:
        self.emit(ev.LOG, level=level, message=message)

    def finish(self, status: str = ev.COMPLETED, error: str | None = None, tb: str | None = None,
               log_tail: Iterable[str] = ()) -> None:
        if status == ev.FAILED and tb is None:
            error = error or "RuntimeError: injected failure"
            tb = ("Traceback (most recent call last):\n"
                  '  File "grpo_tui/trainer/__main__.py", line 110, in main\n'
                  "    status = backend.run(ctx)\n"
                  '  File "grpo_tui/trainer/rewards/builtin.py", line 42, in correctness\n'
                  "    raise RuntimeError('injected failure')\n"
                  f"{error}\n")
            log_tail = log_tail or tb.splitlines()
        adapter = str(self.run.adapter) if status in (ev.COMPLETED, ev.STOPPED) else None
        self.emit(ev.FINISHED, status=status, error=error, traceback=tb, log_tail=list(log_tail),
                  adapter_path=adapter)

    def flush(self) -> None:
        if self.fast:
            self._ev.flush()
            self._sm.flush()

    def close(self) -> None:
        self._ev.close()
        self._sm.close()

    def __enter__(self) -> "SyntheticWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- content -------------------------------------------------------------------------------
    def progress(self, step: int) -> float:
        """0..1 learning progress: a logistic curve centred at 35 % of max_steps."""
        x = step / max(1, self.max_steps)
        return 1.0 / (1.0 + math.exp(-10.0 * (x - 0.35)))

    def sample_rows(self, step: int) -> list[dict[str, Any]]:
        rng = self.rng
        p = self.progress(step)
        rows: list[dict[str, Any]] = []
        for g in range(self.groups):
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            prompt = f"What is {a} + {b}? Think in <think></think>, answer in <answer></answer>."
            gold = a + b
            group_rows = []
            for i in range(self.G):
                fmt_ok = rng.random() < 0.3 + 0.7 * p
                correct = rng.random() < 0.1 + 0.8 * p
                n_words = max(3, int(rng.gauss(8 + 14 * p, 4)))
                thought = " ".join(rng.choice(_WORDS) for _ in range(n_words))
                answer = gold if correct else gold + rng.choice((-10, -1, 1, 2, 10))
                text = (f"<think>{a} + {b}: {thought}</think><answer>{answer}</answer>" if fmt_ok
                        else f"{thought} {answer}")
                length = int(len(text) / 3.2)
                truncated = length >= self.max_len
                if truncated:
                    length = self.max_len
                    text = text[: int(self.max_len * 3.2)]
                if self.hook is not None:
                    text = self.hook(step, g, i, text)
                scores = {}
                for fn in self.reward_fns:
                    if "format" in fn:
                        scores[fn] = 1.0 if fmt_ok and not truncated else 0.0
                    elif "correct" in fn:
                        scores[fn] = 1.0 if correct and fmt_ok and not truncated else 0.0
                    else:
                        scores[fn] = round(rng.uniform(-0.5, 0.5) * (1 - p), 4)
                group_rows.append({"prompt": prompt, "completion": text, "rewards": scores,
                                   M.SAMPLE_REWARD: float(sum(scores.values())), "advantage": 0.0,
                                   "length": length, "truncated": truncated, "group": g,
                                   "answer": str(gold)})
            totals = [r[M.SAMPLE_REWARD] for r in group_rows]
            mean = sum(totals) / len(totals)
            std = math.sqrt(sum((t - mean) ** 2 for t in totals) / max(1, len(totals) - 1))
            for r in group_rows:
                r["advantage"] = round((r[M.SAMPLE_REWARD] - mean) / (std + 1e-4), 4)
            rows.extend(group_rows)
        return rows

    def metrics(self, step: int, rows: list[dict[str, Any]] | None = None) -> dict[str, float]:
        rng = self.rng
        p = self.progress(step)
        n = self.G * self.groups
        m: dict[str, float] = {}
        total = 0.0
        for fn in self.reward_fns:
            if "format" in fn:
                mean = min(1.0, 0.3 + 0.7 * min(1.0, p * 1.6)) + rng.gauss(0, 0.04)
            elif "correct" in fn:
                mean = 0.1 + 0.8 * p + rng.gauss(0, 0.06)
            else:
                mean = rng.gauss(0, 0.1) * (1 - p)
            mean = max(0.0, min(1.0, mean)) if ("format" in fn or "correct" in fn) else mean
            m[M.reward_mean(fn)] = round(mean, 5)
            m[M.reward_std(fn)] = round(abs(math.sqrt(max(0.0, mean * (1 - mean))) + rng.gauss(0, 0.02)), 5)
            total += mean
        m[M.REWARD] = round(total, 5)
        m[M.REWARD_STD] = round(abs(0.6 - 0.3 * p + rng.gauss(0, 0.05)), 5)
        mean_len = max(4.0, 12 + 26 * p + rng.gauss(0, 2))
        if rows:
            lengths = [r["length"] for r in rows]
            clipped = sum(1 for r in rows if r["truncated"]) / len(rows)
            mean_len, lo, hi = sum(lengths) / len(lengths), min(lengths), max(lengths)
        else:
            lo = max(1.0, mean_len - 8 - rng.random() * 4)
            hi = min(float(self.max_len), mean_len + 10 + rng.random() * 20)
            clipped = max(0.0, min(1.0, (hi - self.max_len * 0.9) / self.max_len + rng.gauss(0, 0.01)))
            if hi < self.max_len:
                clipped = 0.0
        m[M.MEAN_LENGTH] = round(mean_len, 3)
        m[M.MIN_LENGTH] = float(lo)
        m[M.MAX_LENGTH] = float(hi)
        m[M.CLIPPED_RATIO] = round(clipped, 4)
        m[M.MEAN_TERMINATED_LENGTH] = round(mean_len * (1 - clipped * 0.5), 3)
        m[M.MIN_TERMINATED_LENGTH] = float(lo)
        m[M.MAX_TERMINATED_LENGTH] = float(min(hi, self.max_len - 1))
        m[M.KL] = round(abs(0.0005 + 0.004 * p + rng.gauss(0, 0.0008)), 6)
        m[M.ENTROPY] = round(max(0.05, 1.3 - 0.6 * p + rng.gauss(0, 0.03)), 5)
        m[M.GRAD_NORM] = round(abs(0.4 + rng.gauss(0, 0.12)), 5)
        m[M.LEARNING_RATE] = float(self.cfg.get("learning_rate", 5e-6) or 5e-6)
        m[M.LOSS] = round(rng.gauss(0, 0.002), 6)
        self.num_tokens += n * (mean_len + 24)
        m[M.NUM_TOKENS] = float(round(self.num_tokens))
        m[M.STEP_TIME] = round(max(0.05, self.step_time + rng.gauss(0, self.step_time * 0.05)), 4)
        m[M.FRAC_REWARD_ZERO_STD] = round(max(0.0, min(1.0, 0.5 * abs(p - 0.5) + rng.gauss(0, 0.05))), 4)
        m[M.RSS_MB] = round(1400 + 80 * p + rng.gauss(0, 3), 2)
        if self.cuda:
            m[M.CUDA_ALLOCATED_MB] = round(4200 + 300 * p + rng.gauss(0, 20), 1)
            m[M.CUDA_RESERVED_MB] = round(5400 + 200 * p, 1)
            m[M.CUDA_MAX_ALLOCATED_MB] = round(5100 + 300 * p, 1)
        m[M.EPOCH] = round(step / max(1, self.max_steps), 4)
        return m


def make_run(steps: int = 50, *, max_steps: int | None = None, state: str = "completed",
             pid: int | None = None, config: dict[str, Any] | None = None, seed: int = 0,
             t0: float = T0, step_time: float = 2.0, samples_every: int = 1, groups: int | None = None,
             alerts: Iterable[tuple[int, str, str, str]] = (), plan: bool = False, cuda: bool = False,
             completion_hook: Callable[[int, int, int, str], str] | None = None,
             run_id: str | None = None, fast: bool | None = None, trainer_log: str | None = None) -> RunDir:
    """A run directory with ``steps`` steps written, ending in ``state``.

    ``state``: completed / stopped / failed (finished events), training / paused / stopping (a live
    run: pass ``pid`` of a live process, e.g. ``os.getpid()``; a dead or missing pid makes it read
    as crashed), loading (started, no step yet: give steps=0).
    ``alerts``: (step, code, severity, message) tuples fired at those steps.
    ``fast`` (default: steps > 2000): buffered writing for big logs.
    """
    if fast is None:
        fast = steps > 2000
    w = SyntheticWriter.create(config=config, max_steps=max_steps if max_steps is not None else max(steps, 1),
                               run_id=run_id, plan=plan, seed=seed, t0=t0, step_time=step_time,
                               samples_every=samples_every, groups=groups, cuda=cuda,
                               completion_hook=completion_hook, fast=fast)
    by_step: dict[int, list[tuple[str, str, str]]] = {}
    for st, code, sev, msg in alerts:
        by_step.setdefault(int(st), []).append((code, sev, msg))
    try:
        w.start(pid=pid, training=state != "loading")
        for _ in range(steps):
            w.step()
            for code, sev, msg in by_step.get(w.step_no, ()):
                w.alert(code, msg, severity=sev)
        if state in (ev.COMPLETED, ev.STOPPED, ev.FAILED):
            if state == ev.STOPPED:
                w.control("stop", "stopping")
            w.finish(state)
        elif state == "paused":
            w.control("pause", "paused")
        elif state == "stopping":
            w.control("stop", "stopping")
    finally:
        w.close()
    log = trainer_log if trainer_log is not None else "".join(
        f"step {i}\n" for i in range(max(0, steps - 5), steps + 1))
    atomic_write(w.run.trainer_log, log)
    return w.run


def dead_pid() -> int:
    """A pid that is certainly not running (a reaped child's), for crashed-run fixtures."""
    pid = os.fork()
    if pid == 0:  # child: exit at once
        os._exit(0)
    os.waitpid(pid, 0)
    return pid
