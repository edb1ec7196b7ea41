"""The run report on synthetic event logs (written with the real EventWriter) for every
run state, and the CLI around it."""

from __future__ import annotations

import json
import os
import re

import psutil
import pytest

from grpo_tui import cli
from grpo_tui.core.run import events as ev
from grpo_tui.core.reading import report as rp
from grpo_tui.core.run import rundir as rd

EVIL = "\x1b]0;pwned\x07\x1b[31m<script>alert(1)</script> **bold** \u202egnp.exe ``` # heading"


def make_run(*, finished: str | None = "completed", steps: int = 30, pid: int | None = None,
             ctime: float | None = None, alerts: bool = True, samples: bool = True, plan: dict | None = None):
    cfg = {"name": "cpu-tiny", "backend": "trl", "model": "builtin:tiny", "max_steps": steps,
           "num_generations": 4, "rewards": ["format", "correctness"], "max_completion_length": 16}
    extra = {"plan": plan} if plan else None
    run = rd.create_run(cfg, hardware={"gpu": {"name": "none"}, "cpu_count": 2}, extra=extra)
    t0 = 1_700_000_000.0
    with ev.EventWriter(run.events) as w, ev.EventWriter(run.samples) as ws:
        w.write({**ev.make_event(ev.RUN_STARTED, 0, pid=pid or 999_999, pid_create_time=ctime,
                                 config=cfg, max_steps=steps), "ts": t0})
        w.write({**ev.make_event(ev.PHASE, 0, name="training"), "ts": t0 + 1})
        for s in range(1, steps + 1):
            p = s / steps
            m = {"reward": 0.2 + p, "reward_std": 0.3, "frac_reward_zero_std": 1.0 if s > 20 else 0.2,
                 "rewards/format/mean": min(1.0, 0.1 + p), "rewards/correctness/mean": 0.1 + 0.5 * p,
                 "completions/mean_length": 10 + s % 3, "completions/clipped_ratio": 0.1,
                 "completions/max_length": 16, "step_time": 0.5, "memory/rss_mb": 900 + s,
                 "memory/cuda_max_allocated_mb": 4000 + 10 * s}
            w.write({**ev.make_event(ev.METRICS, s, metrics=m), "ts": t0 + 1 + s})
            if samples:
                rows = []
                for g in range(2):
                    for k in range(4):
                        good = (s == 7 and g == 1)
                        rows.append({"prompt": f"{s}+{g}=", "completion": EVIL if (s == 3 and g == 0) else
                                     f"<answer>{s + g}</answer>", "reward": 2.0 if good else 0.1 * k,
                                     "rewards": {"format": 1.0, "correctness": 1.0 if good else 0.0},
                                     "advantage": 0.0, "length": 4 + k, "truncated": k == 3,
                                     "group": g, "answer": str(s + g)})
                ws.write({**ev.make_event(ev.SAMPLES, s, rows=rows), "ts": t0 + 1 + s})
            if alerts and s == 25:
                w.write({**ev.make_event(ev.ALERT, 25, code="no_learning_signal", severity="warning",
                                         message="100% of groups " + EVIL, hint="make it easier",
                                         since_step=21), "ts": t0 + 26})
        w.write({**ev.make_event(ev.EVAL, steps, name="arith", accuracy=0.75, n=40, when="after"),
                 "ts": t0 + steps + 2})
        if finished:
            w.write({**ev.make_event(ev.FINISHED, steps, status=finished,
                                     error="RuntimeError: boom" if finished == "failed" else None,
                                     traceback="Traceback...\nRuntimeError: boom" if finished == "failed" else None,
                                     log_tail=["line 1", "RuntimeError: boom " + EVIL]), "ts": t0 + steps + 5})
    return run


def test_completed_run_report_contents():
    run = make_run()
    r = rp.build_report(run)
    assert r["run"]["state"] == "completed" and r["run"]["step"] == 30
    assert r["run"]["duration_s"] == 35.0 and r["run"]["mean_step_time_s"] == 0.5
    assert list(r["rewards"]) == ["format", "correctness"]  # the preset's order, not alphabetical
    fmt = r["rewards"]["format"]
    assert fmt["first"] == pytest.approx(sum(min(1.0, 0.1 + s / 30) for s in range(1, 11)) / 10, abs=1e-4)
    assert fmt["last"] == pytest.approx(sum(min(1.0, 0.1 + s / 30) for s in range(21, 31)) / 10, abs=1e-4)
    assert fmt["max"] == 1.0 and fmt["first_steps"] == [1, 10] and fmt["last_steps"] == [21, 30]
    assert r["reward_totals"]["reward"]["delta"] == pytest.approx(20 / 30, abs=1e-4)
    assert r["lengths"]["mean_length"]["n"] == 30
    assert r["samples"]["rows"] == 240 and r["samples"]["truncated_share"] == 0.25
    assert r["samples"]["length"] == {"mean": 5.5, "p50": 5.5, "p90": 7.0, "max": 7.0}
    best = r["samples"]["best_groups"][0]
    assert (best["step"], best["group"], best["mean_reward"]) == (7, 1, 2.0)
    assert best["completions"][0]["reward"] == 2.0 and best["answer"] == "8"
    worst = r["samples"]["worst_groups"]
    assert worst and all(g["mean_reward"] == pytest.approx(0.15) for g in worst)
    assert r["eval"] == [{"name": "arith", "when": "after", "accuracy": 0.75, "n": 40, "step": 30}]
    assert r["alerts"]["source"] == "recorded"
    assert [(a["code"], a["step"], a["since_step"]) for a in r["alerts"]["items"]] == [("no_learning_signal", 25, 21)]
    assert r["memory"]["peak_mb"] == {"memory/cuda_max_allocated_mb": 4300.0, "memory/rss_mb": 930.0}
    assert r["memory"]["peak_gpu_mb"] == 4300.0
    # no plan in run.json: the planner is re-run on the recorded config
    assert r["memory"]["planned"]["model"] == "builtin:tiny" and r["memory"]["planned_total_mb"] > 0
    assert r["hardware"]["cpu_count"] == 2 and r["config"]["name"] == "cpu-tiny"
    text = rp.to_json(r)
    assert text.isascii() and "\\u202e" in text  # the evil sample is kept exactly, but inert
    assert json.loads(text)["samples"]["rows"] == 240


def test_markdown_renders_model_text_literally():
    md = rp.to_markdown(rp.build_report(make_run(finished="failed")))
    assert "\x1b" not in md and "\x07" not in md and "\u202e" not in md
    assert "<script>" not in _outside_code(md)
    assert "<U+202E>" in md
    # every fence that opens also closes: the evil ``` inside a completion did not break out
    assert re.search(r"^\s*#+ heading", _outside_code(md), re.M) is None
    for section in ("## Config", "## Hardware", "## Rewards", "## Completion lengths", "## Evaluation",
                    "## Alerts", "## Memory", "## Sampled groups", "### Best", "### Worst", "## What went wrong"):
        assert section in md
    assert "| format |" in md and "75.0%" in md and "no\\_learning\\_signal" in md
    assert "| alerts | 1: no\\_learning\\_signal |" in md
    assert "**failed**" in md and "RuntimeError: boom" in md


def _outside_code(md: str) -> str:
    """The Markdown with fenced code blocks removed (what a renderer would interpret)."""
    out, fence = [], None
    for line in md.splitlines():
        m = re.match(r"^(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
            continue
        if fence is not None:
            if line.strip() == fence:
                fence = None
            continue
        out.append(line)
    assert fence is None, "a code fence was left open"
    return "\n".join(out)


def test_crashed_run_is_reported_with_log_tail():
    run = make_run(finished=None)
    run.trainer_log.write_text("loading\nKilled\n")
    r = rp.build_report(run)
    assert r["run"]["state"] == "crashed" and r["run"]["log_tail"][-1] == "Killed"
    assert "Killed" in rp.to_markdown(r)


def test_running_run_is_reported_live():
    me = psutil.Process(os.getpid())
    run = make_run(finished=None, pid=me.pid, ctime=me.create_time(), steps=12, samples=False)
    r = rp.build_report(run)
    assert r["run"]["state"] == "training" and r["run"]["step"] == 12
    assert r["samples"]["best_groups"] == [] and "No samples recorded." in rp.to_markdown(r)


def test_alerts_replayed_when_none_recorded():
    r = rp.build_report(make_run(alerts=False))
    assert r["alerts"]["source"] != "recorded"
    items = [(a["code"], a["since_step"]) for a in r["alerts"]["items"]]
    assert ("no_learning_signal", 21) in items
    assert "replayed" in rp.to_markdown(r)


def test_empty_run_and_torn_last_line():
    run = rd.create_run({"name": "x"})
    with open(run.events, "wb") as fh:
        fh.write(ev.encode(ev.make_event(ev.RUN_STARTED, 0, pid=999_999)) + b'{"v": 1, "type": "metr')
    r = rp.build_report(run)
    assert r["rewards"] == {} and r["samples"]["rows"] == 0
    md = rp.to_markdown(r)
    assert "No metrics logged yet." in md and "No samples recorded." in md


def test_planned_memory_from_run_json():
    r = rp.build_report(make_run(plan={"total_gb": 8.0}))
    assert "| total reward | 0.383 → 1.05 (first vs last 10 logged steps) |" in rp.to_markdown(r)
    assert r["memory"]["planned_total_mb"] == 8192.0
    assert "of plan" in rp.to_markdown(r)


def test_cli_report_json_and_output(tmp_path, capsys):
    run = make_run()
    assert cli.main(["report", run.id, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["id"] == run.id
    out = tmp_path / "r.md"
    assert cli.main(["report", "latest", "--output", str(out)]) == 0
    assert out.read_text().startswith("# grpo-tui run report")


def test_cli_report_bad_input(tmp_path, capsys):
    assert cli.main(["report", "no-such-run"]) == 2
    assert "no run" in capsys.readouterr().err
    make_run()
    assert cli.main(["report", "latest", "--output", str(tmp_path / "missing" / "r.md")]) == 2
    assert cli.main(["report", "latest", "--window", "0"]) == 2


def test_planned_memory_recomputed_for_a_gpu_run():
    from grpo_tui.core.planning import planner
    from grpo_tui.core.settings.config import RunConfig

    cfg = {"name": "gpu-run", "model": "Qwen/Qwen2.5-1.5B-Instruct", "device": "cuda", "backend": "trl"}
    run = rd.create_run(cfg, hardware={"gpus": [{"name": "RTX 4090", "total_gb": 24.0, "plannable_gb": 24.0}],
                                       "host": {"ram_total_gb": 64.0}})
    with ev.EventWriter(run.events) as w:
        w.emit(ev.METRICS, 1, metrics={"memory/cuda_reserved_mb": 5000.0, "memory/cuda_max_allocated_mb": 4500.0,
                                       "memory/vllm_reserved_mb": 8000.0, "memory/rss_mb": 3000.0})
    r = rp.build_report(run)
    assert r["memory"]["peak_gpu_mb"] == 13000.0
    expected = planner.plan(RunConfig.from_mapping(cfg), 24.0, ram_gb=64.0).to_dict()
    assert r["memory"]["planned"] == expected
    assert r["memory"]["planned_total_mb"] == pytest.approx(expected["total_gb"] * 1024, abs=0.1)
    md = rp.to_markdown(r)
    assert "RTX 4090, 24.0 GiB" in md and "Planned by the memory planner" in md


def test_report_survives_an_unplannable_config():
    run = rd.create_run({"name": "odd", "model": "builtin:tiny", "num_generations": "many"})
    assert rp.build_report(run)["memory"]["planned"] is None


# -- real tiny runs (the trl backend on CPU, offline) --------------------------------------------------
def test_report_on_a_real_tiny_run_with_every_reward_component():
    from trainer_helpers import kill, start, wait_exit

    comps = ["format", "format_strict", "format_soft", "correctness", "overlong_penalty", "repetition_penalty"]
    launched = start(max_steps=3, rewards=comps, reward_weights=[1, 0.5, 0.5, 2, 1, 0.5])
    try:
        assert wait_exit(launched.proc) == 0, launched.run.log_tail(40)
    finally:
        kill(launched.proc)
    r = rp.build_report(launched.run, window=2)
    assert r["run"]["state"] == "completed" and r["run"]["step"] == 3
    assert sorted(r["rewards"]) == sorted(comps)
    assert r["rewards"]["correctness"]["n"] == 3 and r["rewards"]["correctness"]["first_steps"] == [1, 2]
    assert r["lengths"]["mean_length"]["n"] == 3
    assert r["samples"]["rows"] == 3 * 8 and r["samples"]["length"]["max"] <= 8
    best, worst = r["samples"]["best_groups"][0], r["samples"]["worst_groups"][0]
    assert best["mean_reward"] >= worst["mean_reward"]
    assert set(best["completions"][0]["rewards"]) == set(comps)
    assert r["memory"]["peak_mb"]["memory/rss_mb"] > 10
    md = rp.to_markdown(r)
    assert "| overlong\\_penalty |" in md and "### Worst" in md
    # launch records the best total the weighted components can pay: 1 + 0.5*0.5 + 0.5*0.5 + 2*1 (penalties max 0)
    assert r["run"]["max_reward"] == 3.5 and "of a possible 3.5" in md
    _outside_code(md)  # every fence closed


def test_report_on_a_real_crashed_run():
    from trainer_helpers import kill, start, wait_for

    launched = start(max_steps=200)
    try:
        wait_for(launched.run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc=launched.proc)
    finally:
        kill(launched.proc)  # SIGKILL: no finished event
    r = rp.build_report(launched.run)
    assert r["run"]["state"] == "crashed" and r["run"]["step"] >= 2
    assert r["rewards"]["correctness"]["n"] >= 2
    assert "**crashed**" in rp.to_markdown(r)


def test_report_on_a_real_failed_run(monkeypatch):
    from trainer_helpers import kill, start, wait_exit

    monkeypatch.setenv("GRPO_TUI_TEST_FAIL_AT_STEP", "2")  # the trainer's failure-injection hook
    launched = start(max_steps=10)
    try:
        assert wait_exit(launched.proc) != 0
    finally:
        kill(launched.proc)
    r = rp.build_report(launched.run)
    assert r["run"]["state"] == "failed" and "injected failure" in r["run"]["error"]
    md = rp.to_markdown(r)
    assert "## What went wrong" in md and "injected failure" in md
    _outside_code(md)


def test_replayed_alerts_include_the_samples_detectors():
    run = rd.create_run({"name": "rep"})
    with ev.EventWriter(run.events) as w, ev.EventWriter(run.samples) as ws:
        for s in range(1, 11):
            w.emit(ev.METRICS, s, metrics={"reward": 0.5})
            ws.emit(ev.SAMPLES, s, rows=[{"completion": "so so so so so so so so so so", "reward": 0.5,
                                          "group": 0}] * 4)
    r = rp.build_report(run)
    assert r["alerts"]["source"] != "recorded"
    assert [(a["code"], a["since_step"], a["step"]) for a in r["alerts"]["items"]] == [("degenerate_text", 1, 3)]
