"""The run report: what a run did, from its directory alone.

``build_report(run)`` folds run.json, events.jsonl and samples.jsonl into one
plain dict (JSON-ready); ``to_markdown(report)`` renders it. Works on any run
state -- launching, training, paused, completed, stopped, failed, crashed --
because everything is read from the append-only logs (a torn last line is
simply not there yet) and every section degrades to "not recorded".

Sections: run (state, duration, steps), config, hardware, rewards per component
(first vs last window), lengths (metrics and samples), eval, alerts (recorded,
or replayed from the metrics when the run recorded none), memory (peak vs the
planner's estimate when there is one), best / worst sampled groups.

Model text is untrusted: the Markdown renderer passes every string taken from
the run through core.util.sanitize (escaped inline, or literal code blocks).
"""

from __future__ import annotations

import heapq
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from . import alerts as al
from ..run import events as ev
from ..run import metric_names as M
from ..util.formatting import duration
from ..util.numbers import finite
from ..util import sanitize as sz
from ..run.rundir import RunDir, RunSummarizer
from ..run.sample_columns import event_rows

WINDOW = 10  # logged steps averaged for "first" and "last"
GROUPS_SHOWN = 2  # best and worst groups each
TEXT_LIMIT = 800  # characters of a completion shown in Markdown
SAMPLES_CHUNK = 4 * 1024 * 1024

CONFIG_KEYS = (
    "name", "backend", "model", "load_in_4bit", "max_seq_length", "lora_rank", "gpu_memory_utilization",
    "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps", "max_completion_length",
    "learning_rate", "loss_type", "beta", "temperature", "max_steps", "dataset", "rewards", "reward_weights",
)


_num = finite  # a finite float or None (core.util.numbers)


def _mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


@dataclass
class _Group:
    step: int
    group: Any
    rows: list[dict] = field(default_factory=list)

    @property
    def mean(self) -> float:
        rs = [r for r in (_num(row.get(M.SAMPLE_REWARD)) for row in self.rows) if r is not None]
        return statistics.fmean(rs) if rs else float("nan")

    def to_dict(self) -> dict[str, Any]:
        first = self.rows[0] if self.rows else {}
        return {
            "step": self.step, "group": self.group, "mean_reward": _round(self.mean),
            "prompt": first.get("prompt"), "answer": first.get("answer"),
            "completions": [
                {k: row.get(k) for k in ("completion", M.SAMPLE_REWARD, "rewards", "advantage", "length", "truncated")}
                for row in sorted(self.rows, key=lambda r: -(_num(r.get(M.SAMPLE_REWARD)) or -math.inf))
            ],
        }


def _round(x: float | None, nd: int = 4) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(x, nd)


def _window_stats(series: list[tuple[int, float]], window: int) -> dict[str, Any]:
    xs = [x for _, x in series]
    w = min(window, len(xs))
    first, last = _mean(xs[:w]), _mean(xs[-w:])
    return {
        "first": _round(first), "last": _round(last),
        "delta": _round(last - first) if first is not None and last is not None else None,
        "min": _round(min(xs)) if xs else None, "max": _round(max(xs)) if xs else None,
        "n": len(xs), "window": w,
        "first_steps": [series[0][0], series[w - 1][0]] if xs else None,
        "last_steps": [series[-w][0], series[-1][0]] if xs else None,
    }


def _percentile(sorted_xs: list[float], q: float) -> float | None:
    if not sorted_xs:
        return None
    k = (len(sorted_xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (k - lo)


def _scan_samples(run: RunDir, groups_shown: int, engine: al.AlertEngine | None = None) -> dict[str, Any]:
    """Stream samples.jsonl once: length stats and the best / worst groups (bounded memory);
    ``engine`` (when replaying alerts) sees every samples event too."""
    reader = ev.EventReader(run.samples, types=[ev.SAMPLES])
    lengths: list[float] = []
    truncated = rows_n = 0
    best: list[tuple[float, int, _Group]] = []  # min-heap of the best
    worst: list[tuple[float, int, _Group]] = []  # min-heap of -mean (the worst)
    seen_steps: set[int] = set()
    tie = 0
    steps = 0
    while True:
        batch = reader.read_new(max_bytes=SAMPLES_CHUNK)
        if not batch:
            break
        for e in batch:
            step = int(e.get("step") or 0)
            if step in seen_steps:  # num_iterations > 1 or a resumed run may repeat a step
                continue
            seen_steps.add(step)
            steps += 1
            if engine is not None:
                engine.feed(e)
            groups: dict[Any, _Group] = {}
            for row in event_rows(e):
                if not isinstance(row, dict):
                    continue
                rows_n += 1
                n = _num(row.get("length"))
                if n is not None:
                    lengths.append(n)
                truncated += bool(row.get("truncated"))
                g = row.get("group")
                key = g if isinstance(g, (int, str)) else -1
                groups.setdefault(key, _Group(step, key)).rows.append(row)
            for g in groups.values():
                m = g.mean
                if not math.isfinite(m):
                    continue
                tie += 1
                for heap, key in ((best, m), (worst, -m)):
                    item = (key, -tie, g)  # ties: the earlier group stays
                    if len(heap) < groups_shown:
                        heapq.heappush(heap, item)
                    elif item[:2] > heap[0][:2]:
                        heapq.heapreplace(heap, item)
    lengths.sort()
    return {
        "sampled_steps": steps, "rows": rows_n,
        "length": {
            "mean": _round(_mean(lengths), 2), "p50": _round(_percentile(lengths, 0.5), 2),
            "p90": _round(_percentile(lengths, 0.9), 2), "max": _round(lengths[-1], 2) if lengths else None,
        } if lengths else None,
        "truncated_share": _round(truncated / rows_n) if rows_n else None,
        "best_groups": [g.to_dict() for _, _, g in sorted(best, key=lambda t: (-t[0], t[1]))],
        "worst_groups": [g.to_dict() for _, _, g in sorted(worst, key=lambda t: (-t[0], t[1]))],
        "problems": reader.stats.problems(),
    }


def _planned_memory(info: dict[str, Any]) -> dict[str, Any] | None:
    """The memory planner's estimate: run.json's ``plan`` when the launcher stored one, else
    core.planning.planner re-run on the recorded config and hardware; None when neither works."""
    plan = info.get("plan")
    if isinstance(plan, dict):
        return plan
    try:
        from ..planning import planner
        from ..settings.config import RunConfig

        cfg = info.get("config") or {}
        known = set(RunConfig.field_names())
        rc = RunConfig.from_mapping({k: v for k, v in cfg.items() if k in known})
        hw = info.get("hardware") or {}
        vram = max((g.get("plannable_gb") or g.get("total_gb") or 0 for g in hw.get("gpus") or []
                    if isinstance(g, dict)), default=0) or None
        ram = (hw.get("host") or {}).get("ram_total_gb")
        out = planner.plan(rc, vram, ram_gb=ram)
        return out.to_dict() if hasattr(out, "to_dict") else None
    except Exception:  # no planner, an unknown model, an old run.json: the report goes on without
        return None


def _planned_total_mb(plan: dict[str, Any] | None) -> float | None:
    if not plan:
        return None
    for key, scale in (("total_mb", 1.0), ("total_gb", 1024.0), ("total_gib", 1024.0), ("peak_gb", 1024.0)):
        v = _num(plan.get(key))
        if v is not None:
            return v * scale
    return None


def _peak_gpu_mb(peaks: dict[str, float]) -> float | None:
    """Peak GPU memory the run held: torch's peak (reserved >= allocated) plus vLLM's pool when
    it has its own (Unsloth fast_inference reports memory/vllm_reserved_mb)."""
    torch_peak = max((peaks[k] for k in (M.CUDA_RESERVED_MB, M.CUDA_MAX_ALLOCATED_MB, M.CUDA_ALLOCATED_MB)
                      if k in peaks), default=None)
    vllm = peaks.get(M.VLLM_RESERVED_MB)
    if torch_peak is None and vllm is None:
        return None
    return (torch_peak or 0.0) + (vllm or 0.0)


def build_report(run: RunDir, *, window: int = WINDOW, groups_shown: int = GROUPS_SHOWN) -> dict[str, Any]:
    try:
        info = run.info()
    except (OSError, ValueError):
        info = {}
    cfg = info.get("config") or {}
    folder = RunSummarizer(run)
    events, stats = ev.read_all(run.events)
    folder.feed(events)
    s = folder.check_alive()

    metric_series: dict[str, list[tuple[int, float]]] = {}
    memory_peak: dict[str, float] = {}
    evals: list[dict[str, Any]] = []
    recorded_alerts: list[al.Alert] = []
    step_times: list[float] = []
    for e in events:
        t = e["type"]
        step = int(e.get("step") or 0)
        if t == ev.METRICS:
            for k, v in (e.get("metrics") or {}).items():
                x = _num(v)
                if x is None:
                    continue
                metric_series.setdefault(k, []).append((step, x))
                if k.startswith(M.MEMORY_PREFIX):
                    memory_peak[k] = max(memory_peak.get(k, x), x)
                if k == M.STEP_TIME:
                    step_times.append(x)
        elif t == ev.EVAL:
            evals.append({"name": e.get("name"), "when": e.get("when"), "accuracy": _num(e.get("accuracy")),
                          "n": e.get("n"), "step": step})
        elif t == ev.ALERT:
            recorded_alerts.append(al.Alert.from_event(e))

    # A run that recorded no alerts (an older trainer, or one killed before it wrote any): replay
    # the detectors over its metrics and samples.
    replay = (al.AlertEngine.from_config(cfg, max_reward=_num(info.get("max_reward")))
              if not recorded_alerts and metric_series else None)
    samples = _scan_samples(run, groups_shown, replay)
    alerts_source = "recorded"
    alerts = recorded_alerts
    if replay is not None:
        alerts_source = "replayed by the report"
        replay.feed_many(e for e in events if e["type"] == ev.METRICS)
        alerts = sorted(replay.alerts, key=lambda a: (a.step, a.code))

    start = s.started or s.created or None
    end = s.ended or (time.time() if s.live else s.last_ts)
    duration = (end - start) if start and end and end >= start else None

    rewards = {comp: _window_stats(v, window)
               for k, v in sorted(metric_series.items()) if (comp := M.component_of(k)) is not None}
    # In the preset's order (a user reward "file.py:func" is logged as "func").
    order = [str(n).rpartition(":")[2] for n in cfg.get("rewards") or []]
    rewards = dict(sorted(rewards.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order),
                                                          kv[0])))
    totals = {k: _window_stats(metric_series[k], window) for k in (M.REWARD, M.REWARD_STD, M.FRAC_REWARD_ZERO_STD)
              if k in metric_series}
    length_keys = (M.MEAN_LENGTH, M.MIN_LENGTH, M.MAX_LENGTH, M.MEAN_TERMINATED_LENGTH, M.CLIPPED_RATIO)
    lengths = {k.split("/", 1)[1]: _window_stats(metric_series[k], window) for k in length_keys
               if k in metric_series}

    plan = _planned_memory(info)
    planned_mb = _planned_total_mb(plan)
    peak_gpu = _peak_gpu_mb(memory_peak)

    return {
        "schema": 1,
        "run": {
            "id": run.id, "path": str(run.path), "state": s.state, "preset": s.preset, "model": s.model,
            "backend": s.backend, "step": s.step, "max_steps": s.max_steps,
            "created": s.created or None, "started": s.started, "ended": s.ended,
            "duration_s": _round(duration, 1), "mean_step_time_s": _round(_mean(step_times), 3),
            "error": s.error, "log_tail": s.log_tail, "phase": s.phase,
            "stalled_since": s.stalled_since, "stall": s.stall_line or None,
            "max_reward": _num(info.get("max_reward")),
            "read_problems": stats.problems(),
            "fork_of": s.fork_of or None,
        },
        "settings_changes": s.settings_changes,  # `grpo-tui set`: [{step, changes: {key: {old, new}}}]
        "config": {k: cfg.get(k) for k in CONFIG_KEYS if k in cfg},
        "config_full": cfg,
        "hardware": info.get("hardware") or {},
        "rewards": rewards,
        "reward_totals": totals,
        "lengths": lengths,
        "samples": samples,
        "eval": evals,
        "alerts": {"source": alerts_source, "items": [
            {"code": a.code, "severity": a.severity, "step": a.step, "since_step": a.since_step,
             "message": a.message, "hint": a.hint} for a in alerts]},
        "memory": {"peak_mb": {k: _round(v, 1) for k, v in sorted(memory_peak.items())},
                   "peak_gpu_mb": _round(peak_gpu, 1), "planned": plan, "planned_total_mb": _round(planned_mb, 1)},
        "window": window,
    }


def to_json(report: dict[str, Any]) -> str:
    # ASCII only: model text may hold C1 controls or bidi overrides that a terminal showing the
    # JSON would act on; as \u escapes they are inert and the data stays exact.
    return json.dumps(report, indent=2, ensure_ascii=True, default=str) + "\n"


# -- Markdown ---------------------------------------------------------------------------------------
def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}g}" if abs(x) < 1e5 else f"{x:.3e}"
    return sz.md_inline(x)


def _ts(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t else "–"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def _stats_rows(d: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for name, st in d.items():
        steps = ""
        if st.get("first_steps") and st.get("last_steps"):
            steps = f"{st['first_steps'][0]}–{st['first_steps'][1]} → {st['last_steps'][0]}–{st['last_steps'][1]}"
        delta = st.get("delta")
        rows.append([sz.md_inline(name), _f(st.get("first")), _f(st.get("last")),
                     ("+" if delta is not None and delta > 0 else "") + _f(delta),
                     _f(st.get("min")), _f(st.get("max")), steps])
    return rows


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k}.")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, x in enumerate(v):
                out += _flat(x, f"{prefix}{k}[{i}].")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _hardware_rows(hw: dict[str, Any]) -> list[tuple[str, Any]]:
    """The parts of a hardware snapshot a reader wants; the full dict is in the JSON report."""
    if "gpus" not in hw and "host" not in hw:
        return _flat(hw)
    rows: list[tuple[str, Any]] = []
    for i, g in enumerate(hw.get("gpus") or []):
        if isinstance(g, dict):
            mem = g.get("total_gb")
            rows.append((f"GPU {i}", f"{g.get('name', '?')}" + (f", {mem:.1f} GiB" if isinstance(mem, (int, float))
                                                              else "")))
    if not hw.get("gpus"):
        rows.append(("GPU", f"none ({hw.get('nvml_error') or 'NVML reports no GPU'})"))
    for key in ("driver_version", "cuda_driver_version"):
        if hw.get(key):
            rows.append((key, hw[key]))
    host = hw.get("host") or {}
    if host.get("cpu_name") or host.get("cpu_count"):
        rows.append(("CPU", f"{host.get('cpu_name') or '?'} ({host.get('cpu_count') or '?'} cores)"))
    if isinstance(host.get("ram_total_gb"), (int, float)):
        rows.append(("RAM", f"{host['ram_total_gb']:.1f} GiB"))
    for key in ("os", "python"):
        if host.get(key):
            rows.append((key, host[key]))
    if hw.get("fake"):
        rows.append(("note", "stand-in NVML backend (test data)"))
    return rows


def _group_md(g: dict[str, Any]) -> list[str]:
    out = [f"**step {g['step']}, group {sz.md_inline(g['group'])}** — mean reward {_f(g.get('mean_reward'))}"
           + (f", gold answer: {sz.md_inline(g.get('answer'), 80)}" if g.get("answer") is not None else ""), ""]
    if g.get("prompt") is not None:
        prompt = g["prompt"]
        if isinstance(prompt, list):  # chat messages: the last user turn
            prompt = next((m.get("content") for m in reversed(prompt) if isinstance(m, dict)
                           and m.get("role") == "user"), prompt)
        out += ["Prompt:", "", sz.md_block(prompt, 400), ""]
    for c in g.get("completions") or []:
        rw = c.get("rewards") or {}
        parts = ", ".join(f"{sz.md_inline(k)} {_f(_num(v))}" for k, v in rw.items()) if isinstance(rw, dict) else ""
        meta = [f"reward {_f(_num(c.get(M.SAMPLE_REWARD)))}"]
        if parts:
            meta.append(parts)
        if c.get("advantage") is not None:
            meta.append(f"advantage {_f(_num(c.get('advantage')))}")
        if c.get("length") is not None:
            meta.append(f"{_f(c.get('length'))} tokens")
        if c.get("truncated"):
            meta.append("**truncated**")
        text = c.get("completion")
        if isinstance(text, list):
            text = "\n".join(str(m.get("content", "")) for m in text if isinstance(m, dict))
        out += ["- " + "; ".join(meta), "", sz.md_block(text, TEXT_LIMIT), ""]
    return out


def _total_line(r: dict[str, Any]) -> str:
    st = r["reward_totals"].get(M.REWARD)
    if not st:
        return "–"
    out = f"{_f(st['first'])} → {_f(st['last'])} (first vs last {st['window']} logged steps)"
    mx = r["run"].get("max_reward")
    if mx:
        out += f", of a possible {_f(mx)}"
    return out


def _alert_summary(items: list[dict[str, Any]]) -> str:
    if not items:
        return "none"
    crit = sum(a["severity"] == "critical" for a in items)
    codes = sorted({str(a["code"]) for a in items})
    return f"{len(items)}" + (f" ({crit} critical)" if crit else "") + ": " + sz.md_inline(", ".join(codes), 200)


def to_markdown(r: dict[str, Any]) -> str:
    run = r["run"]
    L: list[str] = [f"# grpo-tui run report: {sz.md_inline(run['id'])}", ""]
    steps = f"{run['step']}" + (f" of {run['max_steps']}" if run.get("max_steps") else "")
    L += _table(["", ""], [
        ["state", f"**{sz.md_inline(run['state'])}**" + (f", {sz.md_inline(run['stall'])}" if run.get("stall") else "")],
        ["preset / backend", f"{sz.md_inline(run['preset'])} / {sz.md_inline(run['backend'])}"],
        ["model", sz.md_inline(run["model"])],
        ["started", _ts(run.get("started") or run.get("created"))],
        ["ended", _ts(run.get("ended"))],
        ["duration", duration(run.get("duration_s"), full=True)],
        ["steps", steps],
        ["mean step time", f"{_f(run.get('mean_step_time_s'))} s" if run.get("mean_step_time_s") else "–"],
        ["total reward", _total_line(r)],
        ["alerts", _alert_summary(r["alerts"]["items"])],
    ])
    if run.get("read_problems"):
        L += [f"> event log: {sz.md_inline(run['read_problems'])}", ""]
    if run.get("error") or run.get("stall") or (run["state"] in ("failed", "crashed") and run.get("log_tail")):
        L += ["## What went wrong", ""]
        if run.get("stall"):  # core.run.stall: the trainer is alive but has made no progress for too long
            L += [f"**{sz.md_inline(run['stall'])}**", ""]
        if run.get("error"):
            L += [sz.md_inline(run["error"], 400), ""]
        if run.get("log_tail"):
            L += ["Last lines of trainer.log:", "", sz.md_block("\n".join(map(str, run["log_tail"][-20:])), 4000), ""]

    L += ["## Config", ""]
    L += _table(["field", "value"], [[sz.md_inline(k), sz.md_inline(
        ", ".join(map(str, v)) if isinstance(v, list) else v, 120)] for k, v in r["config"].items()])
    if run.get("fork_of"):
        L += [f"Forked from {sz.md_inline(run['fork_of'])} (its checkpoint at that step).", ""]
    if r.get("settings_changes"):
        L += ["## Settings changed while training", ""]
        L += _table(["step", "setting", "old", "new"], [
            [str(c["step"]), sz.md_inline(k), sz.md_inline(v.get("old")), sz.md_inline(v.get("new"))]
            for c in r["settings_changes"] for k, v in c["changes"].items()])
    L += ["## Hardware", ""]
    hw = _hardware_rows(r["hardware"]) if isinstance(r["hardware"], dict) else []
    L += _table(["", ""], [[sz.md_inline(k), sz.md_inline(v, 120)] for k, v in hw[:40]]) if hw else [
        "Not recorded.", ""]

    header = ["component", f"first {r['window']}", f"last {r['window']}", "change", "min", "max", "steps"]
    L += ["## Rewards", ""]
    if r["rewards"] or r["reward_totals"]:
        L += _table(header, _stats_rows(r["rewards"]) + _stats_rows(r["reward_totals"]))
    else:
        L += ["No metrics logged yet.", ""]

    L += ["## Completion lengths", ""]
    if r["lengths"]:
        L += _table(header, _stats_rows(r["lengths"]))
    smp = r["samples"]
    if smp.get("length"):
        ln = smp["length"]
        L += [f"Sampled completions ({smp['rows']} over {smp['sampled_steps']} steps): mean {_f(ln['mean'])}, "
              f"median {_f(ln['p50'])}, p90 {_f(ln['p90'])}, max {_f(ln['max'])} tokens; "
              f"{_f((smp.get('truncated_share') or 0) * 100, 3)}% truncated.", ""]
    if not r["lengths"] and not smp.get("length"):
        L += ["Not recorded.", ""]

    L += ["## Evaluation", ""]
    if r["eval"]:
        L += _table(["when", "name", "step", "accuracy", "n"], [
            [sz.md_inline(e.get("when")), sz.md_inline(e.get("name")), str(e.get("step")),
             f"{e['accuracy']:.1%}" if e.get("accuracy") is not None else "–", sz.md_inline(e.get("n"))]
            for e in r["eval"]])
    else:
        L += ["No evaluation recorded.", ""]

    alerts = r["alerts"]
    L += ["## Alerts", ""]
    if alerts["items"]:
        if alerts["source"] != "recorded":
            L += [f"_(none were recorded by the trainer; {sz.md_inline(alerts['source'])})_", ""]
        L += _table(["step", "since", "severity", "alert", "what was seen", "what to try"], [
            [str(a["step"]), str(a["since_step"]), a["severity"], sz.md_inline(a["code"]),
             sz.md_inline(a["message"], 300), sz.md_inline(a["hint"], 300)] for a in alerts["items"]])
    else:
        L += ["None.", ""]

    mem = r["memory"]
    L += ["## Memory", ""]
    if mem["peak_mb"]:
        L += _table(["metric", "peak (MB)"], [[sz.md_inline(k), _f(v, 6)] for k, v in mem["peak_mb"].items()])
    else:
        L += ["No memory figures recorded.", ""]
    if mem.get("planned_total_mb") is not None:
        where = (mem.get("planned") or {}).get("device")
        line = f"Planned by the memory planner: {_f(mem['planned_total_mb'], 6)} MB" + (
            f" on {sz.md_inline(where)}" if where else "")
        if mem.get("peak_gpu_mb") is not None:
            line += f"; peak GPU use (torch + vLLM pool) {_f(mem['peak_gpu_mb'], 6)} MB " \
                    f"({mem['peak_gpu_mb'] / mem['planned_total_mb']:.0%} of plan)"
        L += [line + ".", ""]
    else:
        L += ["No planned figure for this run.", ""]

    L += ["## Sampled groups", ""]
    if smp.get("problems"):
        L += [f"> samples log: {sz.md_inline(smp['problems'])}", ""]
    if smp["best_groups"]:
        L += ["### Best", ""]
        for g in smp["best_groups"]:
            L += _group_md(g)
        L += ["### Worst", ""]
        for g in smp["worst_groups"]:
            L += _group_md(g)
    else:
        L += ["No samples recorded.", ""]
    return "\n".join(L).rstrip() + "\n"
