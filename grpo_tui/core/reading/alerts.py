"""Live health alerts for a GRPO run, computed from the event stream.

Headless (no torch, no textual). The trainer process runs one ``AlertEngine``
and writes what it returns as ``alert`` events, so the app, ``attach`` and the
report all see the same alerts; the report can also replay the engine over a
run that recorded none.

Usage (trainer side, once per emitted event)::

    engine = AlertEngine.from_config(cfg.to_dict())
    ...
    for alert in engine.feed(metrics_event):          # or a samples event
        writer.emit(events.ALERT, alert.step, **alert.to_event_payload())

Every detector follows the same pattern: a per-step *condition* and a
*debounce* -- the condition must hold for ``window`` consecutive observations
before the alert fires, ``since_step`` is the first step of that streak, and
the alert re-arms only after the condition has been false for ``rearm``
observations (hysteresis, so a flapping signal does not spam the log).
Spike detectors fire on one observation and then stay quiet for ``cooldown``
observations.

Where each threshold comes from is written next to it and in docs/alerts.md.
They are defaults for small-model runs; ``AlertThresholds`` can override any.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import deque
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Iterable

from ..run import events as ev
from ..run import metric_names as M
from ..util.formatting import short as _fmt
from ..util.numbers import finite as _num  # NaN/inf read as missing: one NaN must not poison a baseline
from ..run.sample_columns import event_completions

WARNING = "warning"
CRITICAL = "critical"

# Alert codes (stable: the app and the report key on them).
NO_SIGNAL = "no_learning_signal"
NO_CORRECT = "no_correct_answers"
TRUNCATION = "truncation_collapse"
LENGTH_EXPLOSION = "length_explosion"
LENGTH_COLLAPSE = "length_collapse"
FORMAT_NOT_TASK = "format_without_correctness"
DEGENERATE_TEXT = "degenerate_text"
KL_SPIKE = "kl_spike"
GRAD_SPIKE = "grad_norm_spike"
NONFINITE = "nonfinite_metric"
ENTROPY_COLLAPSE = "entropy_collapse"
REASONING_COLLAPSE = "reasoning_collapse"

# Reward-function name patterns used to find the "format" and "correctness" components.
FORMAT_PAT = re.compile(r"format|tag|struct", re.I)
CORRECT_PAT = re.compile(r"correct|accura|answer|exact|verif|solution", re.I)


@dataclass
class Alert:
    code: str
    severity: str  # warning | critical
    message: str  # what was seen
    since_step: int  # first step of the pathology
    hint: str  # what to try
    step: int = 0  # the step at which it fired

    def to_event_payload(self) -> dict[str, Any]:
        """Keyword arguments for ``EventWriter.emit(events.ALERT, alert.step, **payload)``."""
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "hint": self.hint, "since_step": int(self.since_step)}

    @classmethod
    def from_event(cls, event: ev.Event) -> "Alert":
        return cls(code=str(event.get("code", "")), severity=str(event.get("severity", WARNING)),
                   message=str(event.get("message", "")), since_step=int(event.get("since_step") or 0),
                   hint=str(event.get("hint", "")), step=int(event.get("step") or 0))


@dataclass
class AlertThresholds:
    """Every number the detectors use. Sources: see docs/alerts.md."""

    # No learning signal. A group whose rewards are all equal has zero advantage and adds
    # nothing to the gradient (DeepSeekMath GRPO advantage; DAPO sec. 3.2 "dynamic sampling"
    # filters exactly these groups; TRL logs their share as frac_reward_zero_std).
    zero_std_frac: float = 0.9
    zero_std_window: int = 5
    # A correctness component that scores 0 on every completion (mean 0 and std 0) gives GRPO
    # nothing to reinforce, even when other components (format) still vary. 20 logged steps:
    # early in a run a small model may need a few steps to land its first right answer.
    zero_correct_window: int = 20
    # Truncation collapse: TRL's completions/clipped_ratio is the share of completions that hit
    # max_completion_length; DAPO sec. 3.4 shows truncated samples inject reward noise.
    clipped_ratio: float = 0.9
    clipped_window: int = 3
    terminated_len_floor: float = 1.0  # TRL logs 0 when no completion terminated
    # Length drift against the run's own baseline (median of the first baseline_n observations).
    # Dr GRPO (Liu et al. 2025) shows length growth driven by the loss, not by better answers;
    # DAPO uses length as a stability signal. 2x / 0.4x are this project's heuristics.
    length_baseline_n: int = 10
    length_smooth: int = 5
    length_explode_ratio: float = 2.0
    length_collapse_ratio: float = 0.4
    length_min_baseline: float = 4.0  # tokens; below this a ratio means nothing
    length_window: int = 5
    # Format learned, task not: the format component near the top of its observed range while the
    # correctness component has not moved (a known reward-hacking mode; see docs/alerts.md).
    format_window: int = 10
    format_top_frac: float = 0.9  # of the observed format range
    format_min_rise: float = 0.2  # the format mean must have risen at least this much
    correct_flat_frac: float = 0.1  # correctness rise <= this share of the format rise
    # Degenerate text: mean repeated-word-3-gram share of the sampled completions (the measure
    # TRL's get_repetition_penalty_reward uses, from "Demystifying Long CoT", App. C.2).
    repetition_ngram: int = 3
    repetition_min_words: int = 8
    repetition_abs: float = 0.5
    repetition_rise: float = 0.25  # above the run's own baseline
    repetition_baseline_n: int = 3
    repetition_window: int = 3
    repetition_max_rows: int = 32  # completions measured per step (an estimate; keeps report replays fast)
    # Reasoning collapse: the sampled completions' mean reasoning length (characters between the
    # reasoning tags, or in reasoning_content) falls to a share of its early level. A model that
    # learns to skip the work while the answer still pays (issue 11's hack class 7); the total
    # length may hide it when the answer part grows. 0.4 as for length_collapse.
    reasoning_baseline_n: int = 5
    reasoning_collapse_ratio: float = 0.4
    reasoning_min_baseline: float = 40.0  # characters; below this the run never reasoned much
    reasoning_window: int = 3
    # Spikes: value > rolling mean + k*sd over the previous spike_history observations.
    spike_history: int = 20
    spike_min_history: int = 10
    spike_k: float = 4.0
    spike_min_ratio: float = 1.5  # and at least this multiple of the rolling mean (kl)
    # grad_norm is noisier (pre-clipping norm, small batches): a measured cpu-tiny run that learnt
    # well had 2.7x blips; 3x keeps the 5x jumps that mark an outlier batch.
    grad_spike_min_ratio: float = 10.0
    spike_cooldown: int = 10
    # Entropy collapse: mean token entropy below a share of its own early level (DAPO sec. 3.1,
    # Cui et al. 2025 "The Entropy Mechanism of RL for Reasoning LMs").
    entropy_baseline_n: int = 10
    entropy_ratio: float = 0.2
    entropy_abs: float = 0.05  # nats
    entropy_window: int = 5
    # ... and only while the total reward has stopped improving: entropy falling while the reward
    # still climbs is a policy converging on what works (measured: the cpu-tiny run's entropy fell
    # to 12% of its start by step 140 while correctness was still rising from 0.67 to 0.85).
    # Plateau: the 10-step rolling mean of the reward has not beaten its best by 2% of the run's
    # reward range for 30 logged steps.
    plateau_smooth: int = 10
    plateau_patience: int = 30
    plateau_frac: float = 0.02
    # Re-arm a fired debounced alert after its condition was false this many observations.
    rearm: int = 5

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> "AlertThresholds":
        known = {f.name for f in fields(cls)}
        bad = sorted(set(data) - known)
        if bad:
            raise ValueError(f"unknown alert threshold(s): {', '.join(bad)}")
        return cls(**{**asdict(cls()), **data})


class _Streak:
    """Consecutive-true counter with a latch (the debounce)."""

    def __init__(self, window: int, rearm: int):
        self.window, self.rearm = window, rearm
        self.count = 0
        self.since: int | None = None
        self.fired = False
        self.false_run = 0

    def update(self, cond: bool, step: int) -> int | None:
        """Feed one observation; returns since_step when the alert should fire now."""
        if cond:
            self.false_run = 0
            if self.count == 0:
                self.since = step
            self.count += 1
            if self.count >= self.window and not self.fired:
                self.fired = True
                return self.since
            return None
        self.count = 0
        self.false_run += 1
        if self.fired and self.false_run >= self.rearm:
            self.fired = False
        return None

    @property
    def active(self) -> bool:
        return self.fired and self.count > 0


class _Spike:
    """Rolling mean + k*sd detector with a cooldown."""

    def __init__(self, t: AlertThresholds, min_ratio: float):
        self.t = t
        self.min_ratio = min_ratio
        self.hist: deque[float] = deque(maxlen=t.spike_history)
        self.cool = 0

    def update(self, x: float) -> tuple[float, float] | None:
        """Returns (mean, sd) of the history when x is a spike."""
        t = self.t
        hit = None
        if self.cool > 0:
            self.cool -= 1
        elif self.hist and len(self.hist) >= t.spike_min_history:  # a minimum of 0 must not divide by 0
            n = len(self.hist)  # plain float maths: statistics.pstdev is exact but ~50x slower
            mean = sum(self.hist) / n
            sd = math.sqrt(sum((v - mean) ** 2 for v in self.hist) / n)
            if x > mean + t.spike_k * sd and x > self.min_ratio * mean and x > 0:
                hit = (mean, sd)
                self.cool = t.spike_cooldown
        self.hist.append(x)
        return hit


class _Series:
    """First-window mean, last-window values and the running range of one metric, in O(1) per
    observation (the report replays whole runs through the engine)."""

    def __init__(self, window: int):
        self.window = window
        self.n = 0
        self.first: list[float] = []
        self.last: deque[tuple[int, float]] = deque(maxlen=window)
        self.lo = math.inf
        self.hi = -math.inf

    def add(self, step: int, x: float) -> None:
        self.n += 1
        if len(self.first) < self.window:
            self.first.append(x)
        self.last.append((step, x))
        self.lo, self.hi = min(self.lo, x), max(self.hi, x)

    @property
    def first_mean(self) -> float:
        return statistics.fmean(self.first)

    @property
    def last_mean(self) -> float:
        return statistics.fmean(x for _, x in self.last)


def repetition_rate(text: str, n: int = 3, min_words: int = 8) -> float | None:
    """Share of repeated word n-grams (1 - unique/total), or None for too-short text."""
    words = text.split()
    if len(words) < max(min_words, n):
        return None
    # the n-grams are counted, not kept: the trainer runs this on 32 completions every step
    return 1.0 - len(set(zip(*(words[i:] for i in range(n))))) / (len(words) - n + 1)


def reasoning_length(completion: Any, tags: tuple[str, str] = ("<think>", "</think>")) -> int | None:
    """Characters of reasoning in one sampled completion: the ``reasoning_content``/``thinking``
    of chat messages, else the text inside the reasoning tags (from the start when the template
    pre-filled the opening tag); 0 when there is none; None for something that is not a completion."""
    start, end = tags
    if isinstance(completion, list):
        parts = [str(m.get("reasoning_content") or m.get("thinking") or "") for m in completion if isinstance(m, dict)]
        if any(parts):
            return len("".join(parts).strip())
        completion = "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    if not isinstance(completion, str):
        return None
    j = completion.find(end)
    if j < 0:
        i = completion.find(start)
        return len(completion[i + len(start):].strip()) if i >= 0 else 0
    i = completion.rfind(start, 0, j)
    return len(completion[i + len(start) if i >= 0 else 0: j].strip())


class AlertEngine:
    """Feed it events (dicts from core.run.events); it returns the alerts that fire now."""

    def __init__(self, thresholds: AlertThresholds | None = None, *, max_completion_length: int | None = None,
                 max_reward: float | None = None, reasoning_tags: tuple[str, str] = ("<think>", "</think>")):
        self.t = t = thresholds or AlertThresholds()
        self.reasoning_tags = reasoning_tags
        self._reasoning: list[float] = []
        self.max_completion_length = max_completion_length
        self.max_reward = max_reward if max_reward and max_reward > 0 else None  # the most the rewards can pay
        self.alerts: list[Alert] = []  # everything fired so far
        w = lambda n: _Streak(n, t.rearm)  # noqa: E731
        self._streaks = {
            NO_SIGNAL: w(t.zero_std_window), NO_CORRECT: w(t.zero_correct_window), TRUNCATION: w(t.clipped_window),
            LENGTH_EXPLOSION: w(t.length_window), LENGTH_COLLAPSE: w(t.length_window),
            FORMAT_NOT_TASK: w(1), DEGENERATE_TEXT: w(t.repetition_window),
            ENTROPY_COLLAPSE: w(t.entropy_window), NONFINITE: w(1), REASONING_COLLAPSE: w(t.reasoning_window),
        }
        self._spikes = {M.KL: _Spike(t, t.spike_min_ratio), M.GRAD_NORM: _Spike(t, t.grad_spike_min_ratio)}
        self._lengths: list[tuple[int, float]] = []
        self._entropy: list[float] = []
        self._rep: list[float] = []
        self._series: dict[str, _Series] = {}
        self._baselines: dict[str, float] = {}
        self._reward_hist: deque[float] = deque(maxlen=t.plateau_smooth)
        self._reward_lo, self._reward_hi = math.inf, -math.inf
        self._reward_n = self._best_at = 0
        self._best_rolling = -math.inf
        self._samples_seen_steps: set[int] = set()
        self._components: dict[str, str | None] = {}  # metric key -> reward function name (or None)
        self._kinds: dict[str, tuple[bool, bool]] = {}  # reward function name -> (format, correctness)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None, thresholds: AlertThresholds | None = None, *,
                    max_reward: float | None = None) -> "AlertEngine":
        """From a RunConfig dict; ``max_reward`` is run.json's (the launcher records it)."""
        cfg = config or {}
        # lengths_from_data: the cap is measured at launch (said in the run's log), not the config's figure
        mcl = None if cfg.get("lengths_from_data") else cfg.get("max_completion_length")
        tags = (str(cfg.get("reasoning_start") or "<think>"), str(cfg.get("reasoning_end") or "</think>"))
        return cls(thresholds, max_completion_length=int(mcl) if isinstance(mcl, int) else None,
                   max_reward=_num(max_reward), reasoning_tags=tags)

    # -- public --------------------------------------------------------------------------
    def feed(self, event: ev.Event) -> list[Alert]:
        t = event.get("type")
        step = int(event.get("step") or 0)
        if t == ev.METRICS:
            out = self._on_metrics(step, event.get("metrics") or {})
        elif t == ev.SAMPLES:
            out = self._on_samples(step, event_completions(event))
        else:
            out = []
        self.alerts.extend(out)
        return out

    def feed_many(self, events: Iterable[ev.Event]) -> list[Alert]:
        out: list[Alert] = []
        for e in events:
            out.extend(self.feed(e))
        return out

    def warm(self, events: Iterable[ev.Event]) -> None:
        """Catch up on a resumed run's history without re-raising what already fired: the
        baselines stay the run's own, and an alert still active is not written twice."""
        self.feed_many(events)
        self.alerts.clear()

    # -- metrics ---------------------------------------------------------------------------
    def _on_metrics(self, step: int, m: dict[str, Any]) -> list[Alert]:
        out: list[Alert] = []
        fire = lambda *a: out.append(self._make(step, *a))  # noqa: E731
        self._nonfinite(step, m, fire)
        self._no_signal(step, m, fire)
        # (key, reward function) of the per-function means: two checks read them
        components = [(k, name) for k in m if (name := self._component(k)) is not None]
        self._no_correct(step, m, fire, components)
        self._truncation(step, m, fire)
        self._length(step, m, fire)
        self._format_vs_correct(step, m, fire, components)
        self._spike_checks(step, m, fire)
        r = _num(m.get(M.REWARD))
        if r is not None:
            self._track_reward(r)
        self._entropy_check(step, m, fire)
        return out

    def _make(self, step: int, code: str, severity: str, since: int, message: str, hint: str) -> Alert:
        return Alert(code=code, severity=severity, message=message, since_step=since, hint=hint, step=step)

    def _nonfinite(self, step: int, m: dict[str, Any], fire: Callable) -> None:
        # JSON has no NaN: the event writer turns NaN/inf into null, so a present-but-null
        # loss or grad_norm means the numbers blew up.
        bad = [k for k in (M.LOSS, M.GRAD_NORM, M.REWARD) if k in m and (
            m[k] is None or (isinstance(m[k], float) and not math.isfinite(m[k])))]
        since = self._streaks[NONFINITE].update(bool(bad), step)
        if since is not None:
            fire(NONFINITE, CRITICAL, since, f"{', '.join(bad)} became NaN/inf at step {step}",
                 "lower learning_rate, keep max_grad_norm at 1.0, use bfloat16 rather than float16, "
                 "and resume from the last checkpoint")

    def _no_signal(self, step: int, m: dict[str, Any], fire: Callable) -> None:
        f = _num(m.get(M.FRAC_REWARD_ZERO_STD))
        if f is None:
            return
        t = self.t
        since = self._streaks[NO_SIGNAL].update(f >= t.zero_std_frac, step)
        if since is not None:
            r = _num(m.get(M.REWARD))
            rtxt = f" (mean reward {_fmt(r)}" + (f" of a possible {_fmt(self.max_reward)})" if self.max_reward
                                                 else ")") if r is not None else ""
            mx = self.max_reward
            if r is not None and mx and r >= 0.9 * mx:
                what, hint = ("the model already solves these prompts", "use harder prompts (a harder dataset "
                              "or split), or stop here: the run has learnt what this task can teach")
            elif r is not None and mx and r <= 0.1 * mx:
                what, hint = ("every completion fails", "make the task easier, add a warm start or partial-credit "
                              "rewards, raise num_generations or temperature")
            else:
                what, hint = ("those groups give no gradient",
                              "if all fail: make the task easier or add partial-credit rewards; if all pass: "
                              "harder prompts; raise num_generations or temperature for more varied groups")
            fire(NO_SIGNAL, WARNING, since,
                 f"{f:.0%} of prompt groups scored every completion the same for "
                 f"{t.zero_std_window}+ logged steps{rtxt}: {what}", hint)

    def _component(self, key: str) -> str | None:
        """``M.component_of``, remembered: the same keys come every step."""
        try:
            return self._components[key]
        except KeyError:
            name = self._components[key] = M.component_of(key)
            return name

    def _kind(self, name: str) -> tuple[bool, bool]:
        """(a format component, a correctness component) of a reward function's name, remembered."""
        kind = self._kinds.get(name)
        if kind is None:
            fmt = bool(FORMAT_PAT.search(name))
            kind = self._kinds[name] = (fmt, not fmt and bool(CORRECT_PAT.search(name)))
        return kind

    def _no_correct(self, step: int, m: dict[str, Any], fire: Callable, components: list[tuple[str, str]]) -> None:
        names = [n for _, n in components if self._kind(n)[1]]
        if not names:
            return
        zero = []
        for n in names:
            mean, sd = _num(m.get(M.reward_mean(n))), _num(m.get(M.reward_std(n)))
            if mean is not None and abs(mean) <= 1e-9 and (sd is None or sd <= 1e-9):
                zero.append(n)
        since = self._streaks[NO_CORRECT].update(len(zero) == len(names), step)
        if since is not None:
            fire(NO_CORRECT, WARNING, since,
                 f"{M.reward_label(names[0])} has been 0 for every completion for {self.t.zero_correct_window}+ "
                 "logged steps: no right answer to reinforce",
                 "look at the samples: is the answer in the solution tags? Use an easier dataset or a warm "
                 "start, raise num_generations, or add a partial-credit reward")

    def _truncation(self, step: int, m: dict[str, Any], fire: Callable) -> None:
        c = _num(m.get(M.CLIPPED_RATIO))
        if c is None:
            return
        t = self.t
        term = _num(m.get(M.MEAN_TERMINATED_LENGTH))
        cond = c >= t.clipped_ratio or (c >= 0.5 and term is not None and term <= t.terminated_len_floor)
        since = self._streaks[TRUNCATION].update(cond, step)
        if since is not None:
            tt = f", mean terminated length {_fmt(term)}" if term is not None else ""
            cap = f" (max_completion_length {self.max_completion_length})" if self.max_completion_length else ""
            fire(TRUNCATION, CRITICAL, since,
                 f"{c:.0%} of completions hit the length cap{cap}{tt}: answers are cut off before "
                 "the answer tag",
                 "raise max_completion_length, add overlong_penalty to rewards, set zero_truncated_reward=true "
                 "or mask_truncated_completions=true, or ask for shorter reasoning in system_prompt")

    def _length(self, step: int, m: dict[str, Any], fire: Callable) -> None:
        L = _num(m.get(M.MEAN_LENGTH))
        if L is None:
            return
        t = self.t
        self._lengths.append((step, L))
        if len(self._lengths) <= t.length_baseline_n:
            return
        base = self._baseline("length", [x for _, x in self._lengths[: t.length_baseline_n]])
        if base < t.length_min_baseline:
            return
        cur = statistics.fmean(x for _, x in self._lengths[-t.length_smooth:])
        ratio = cur / base
        for code, cond, raw in (
            (LENGTH_EXPLOSION, ratio >= t.length_explode_ratio, lambda x: x >= t.length_explode_ratio * base),
            (LENGTH_COLLAPSE, ratio <= t.length_collapse_ratio, lambda x: x <= t.length_collapse_ratio * base),
        ):
            since = self._streaks[code].update(cond, step)
            if since is None:
                continue
            since = self._raw_start(since, raw)
            if code == LENGTH_EXPLOSION:
                fire(code, WARNING, since,
                     f"mean completion length {_fmt(cur)} tokens is {ratio:.1f}x the run's early "
                     f"baseline {_fmt(base)}",
                     "check that correctness rises with it; if not: loss_type=dr_grpo or dapo (no length "
                     "bias), add overlong_penalty to rewards, lower learning_rate")
            else:
                fire(code, WARNING, since,
                     f"mean completion length {_fmt(cur)} tokens fell to {ratio:.0%} of the run's early "
                     f"baseline {_fmt(base)}",
                     "the model may answer without reasoning: look at the samples; check for a length "
                     "penalty that pays for brevity; lower the learning rate")

    def _raw_start(self, since: int, raw: Callable[[float], bool]) -> int:
        """The smoothed mean lags the raw series: walk back to where the raw values crossed."""
        idx = next(i for i, (s, _) in enumerate(self._lengths) if s == since)
        lo = max(0, idx - self.t.length_smooth + 1)
        while idx > lo and raw(self._lengths[idx - 1][1]):
            idx -= 1
        return self._lengths[idx][0]

    def _format_vs_correct(self, step: int, m: dict[str, Any], fire: Callable,
                           components: list[tuple[str, str]]) -> None:
        W = self.t.format_window
        for k, name in components:
            x = _num(m[k])
            if x is not None:
                self._series.setdefault(name, _Series(W)).add(step, x)
        fmt = [n for n in self._series if self._kind(n)[0]]
        cor = [n for n in self._series if self._kind(n)[1]]
        if not fmt or not cor:
            return
        t = self.t
        cond = False
        detail = ""
        matched = fmt[0]
        for fname in fmt:
            fs = self._series[fname]
            if fs.n < 2 * W:
                continue
            first, last = fs.first_mean, fs.last_mean
            rise = last - first
            if rise < t.format_min_rise or fs.hi <= fs.lo:
                continue
            # saturated: every value of the last window sits in the top of the observed range
            if min(x for _, x in fs.last) < fs.lo + t.format_top_frac * (fs.hi - fs.lo):
                continue
            for cname in cor:
                cs = self._series[cname]
                if cs.n < 2 * W:
                    continue
                crise = cs.last_mean - cs.first_mean
                if crise <= t.correct_flat_frac * rise:
                    cond, matched = True, fname
                    detail = (f"{M.reward_label(fname)} rose {first:.2f} -> {last:.2f} and has plateaued, while "
                              f"{M.reward_label(cname)} moved {crise:+.2f} over the run")
                    break
            if cond:
                break
        since = self._streaks[FORMAT_NOT_TASK].update(cond, step)
        if since is not None:
            since = self._series[matched].last[0][0]  # the saturation window's first step
            fire(FORMAT_NOT_TASK, WARNING, since, f"the model learned the format, not the task: {detail}",
                 "lower the format weight in reward_weights, use format_strict instead of format, "
                 "check the correctness reward on a few samples, or use easier prompts first")

    def _spike_checks(self, step: int, m: dict[str, Any], fire: Callable) -> None:
        for key, code, hint in (
            (M.KL, KL_SPIKE, "the policy jumped away from the reference: lower learning_rate, raise beta, "
                             "or reduce num_iterations; inspect the samples of this step"),
            (M.GRAD_NORM, GRAD_SPIKE, "keep max_grad_norm (clipping) on, lower learning_rate; a few outlier "
                                      "completions (very long or degenerate) are the usual cause"),
        ):
            x = _num(m.get(key))
            if x is None or not math.isfinite(x):
                continue
            hit = self._spikes[key].update(x)
            if hit is not None:
                mean, sd = hit
                fire(code, WARNING, step,
                     f"{key} {_fmt(x)} at step {step}, above its rolling mean {_fmt(mean)} + "
                     f"{self.t.spike_k:g} sd ({_fmt(sd)})", hint)

    def _entropy_check(self, step: int, m: dict[str, Any], fire: Callable) -> None:
        e = _num(m.get(M.ENTROPY))
        if e is None:
            return
        t = self.t
        self._entropy.append(e)
        if len(self._entropy) <= t.entropy_baseline_n:
            return
        base = self._baseline(M.ENTROPY, self._entropy[: t.entropy_baseline_n])
        low = e <= t.entropy_abs or (base > 0 and e <= t.entropy_ratio * base)
        since = self._streaks[ENTROPY_COLLAPSE].update(low and self._reward_plateau(), step)
        if since is not None:
            fire(ENTROPY_COLLAPSE, WARNING, since,
                 f"token entropy {_fmt(e)} nats, down from an early {_fmt(base)}, and the reward has stopped "
                 "improving: sampling has become near-deterministic, groups stop differing",
                 "raise temperature, lower learning_rate or num_iterations; in TRL, clip-higher "
                 "(epsilon_high=0.28, DAPO) slows entropy loss")

    def _reward_plateau(self) -> bool:
        """True when the total reward stopped improving (or is not logged: no evidence of progress)."""
        if not self._reward_hist:
            return True
        return self._reward_n - self._best_at >= self.t.plateau_patience

    def _track_reward(self, r: float) -> None:
        t = self.t
        self._reward_n += 1
        self._reward_hist.append(r)
        self._reward_lo, self._reward_hi = min(self._reward_lo, r), max(self._reward_hi, r)
        if len(self._reward_hist) < t.plateau_smooth:
            self._best_at = self._reward_n
            return
        rolling = sum(self._reward_hist) / len(self._reward_hist)
        if rolling > self._best_rolling + t.plateau_frac * (self._reward_hi - self._reward_lo):
            self._best_rolling, self._best_at = rolling, self._reward_n

    def _baseline(self, key: str, early: list[float]) -> float:
        """Median of the early window, computed once (the window is complete when called)."""
        if key not in self._baselines:
            self._baselines[key] = statistics.median(early)
        return self._baselines[key]

    # -- samples ---------------------------------------------------------------------------------
    def _on_samples(self, step: int, completions: list[Any]) -> list[Alert]:
        if step in self._samples_seen_steps:  # a repeated samples event must not count twice
            return []
        self._samples_seen_steps.add(step)
        t = self.t
        rates = []
        completions = completions[: t.repetition_max_rows]
        for text in completions:
            if isinstance(text, list):  # chat messages
                text = " ".join(str(msg.get("content", "")) for msg in text if isinstance(msg, dict))
            if not isinstance(text, str):
                continue
            r = repetition_rate(text, t.repetition_ngram, t.repetition_min_words)
            if r is not None:
                rates.append(r)
        out = self._reasoning_check(step, completions)
        if not rates:
            return out
        cur = statistics.fmean(rates)
        self._rep.append(cur)
        base = statistics.median(self._rep[: t.repetition_baseline_n])
        warm = len(self._rep) > t.repetition_baseline_n
        cond = cur >= t.repetition_abs or (warm and cur >= base + t.repetition_rise)
        since = self._streaks[DEGENERATE_TEXT].update(cond, step)
        if since is not None:
            out.append(self._make(
                step, DEGENERATE_TEXT, WARNING, since,
                f"sampled completions repeat themselves: {cur:.0%} of their word 3-grams are repeats "
                f"(early in the run: {base:.0%})",
                "add repetition_penalty to rewards, lower learning_rate, check for a reward that pays "
                "for length; look at the samples"))
        return out

    def _reasoning_check(self, step: int, completions: list[Any]) -> list[Alert]:
        """``completions``: the sampled ones measured (the first repetition_max_rows)."""
        t = self.t
        lengths = [n for n in (reasoning_length(c, self.reasoning_tags) for c in completions) if n is not None]
        if not lengths:
            return []
        cur = statistics.fmean(lengths)
        self._reasoning.append(cur)
        if len(self._reasoning) <= t.reasoning_baseline_n:
            return []
        base = statistics.median(self._reasoning[: t.reasoning_baseline_n])
        if base < t.reasoning_min_baseline:
            return []
        since = self._streaks[REASONING_COLLAPSE].update(cur <= t.reasoning_collapse_ratio * base, step)
        if since is None:
            return []
        return [self._make(
            step, REASONING_COLLAPSE, WARNING, since,
            f"the sampled completions reason in {cur:.0f} characters on average, {cur / base:.0%} of the run's "
            f"early {base:.0f}",
            "the model is learning to answer without the work: raise min_reasoning_chars, check that "
            "format_strict is in rewards, run `grpo-tui rewards audit`; look at the samples")]


def replay(events: Iterable[ev.Event], config: dict[str, Any] | None = None) -> list[Alert]:
    """Run a fresh engine over recorded events (metrics and samples interleaved by step)."""
    engine = AlertEngine.from_config(config)
    return engine.feed_many(events)
