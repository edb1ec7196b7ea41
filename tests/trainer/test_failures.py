"""Failures end visibly: an exception -> failed with traceback; SIGKILL -> crashed."""

from __future__ import annotations

import os
import signal

from rich.console import Console

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.rundir import summarize
from grpo_tui.headless import follow

from trainer_helpers import events, kill, start, wait_exit, wait_for


def test_exception_in_trainer_ends_with_failed_event(monkeypatch):
    monkeypatch.setenv("GRPO_TUI_TEST_FAIL_AT_STEP", "2")
    launched = start(max_steps=5)
    run, proc = launched.run, launched.proc
    try:
        assert wait_exit(proc) == 1
    finally:
        kill(proc)
    evs = events(run)
    metrics_steps = [e["step"] for e in evs if e["type"] == ev.METRICS]
    assert metrics_steps == [1, 2]  # what was written before the failure is kept
    fin = evs[-1]
    assert fin["type"] == ev.FINISHED and fin["status"] == ev.FAILED
    assert "injected failure at step 2" in fin["error"]
    assert "Traceback" in fin["traceback"] and "RuntimeError" in fin["traceback"]
    assert any("injected failure" in line for line in fin["log_tail"])
    s = summarize(run)
    assert s.state == "failed" and "injected failure" in (s.error or "")
    # The headless view reports it and exits non-zero.
    console = Console(record=True, width=200)
    assert follow(run, console, poll=0.01) == 1
    out = console.export_text()
    assert "failed" in out and "injected failure" in out


def test_sigkill_is_reported_as_crashed():
    launched = start(max_steps=500)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc=proc)
        assert summarize(run).state == "training"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kill(proc)
    s = summarize(run)
    assert s.state == "crashed"
    assert s.step >= 2  # earlier events survive
    evs, stats = ev.read_all(run.events)
    assert stats.corrupt == 0 and not any(e["type"] == ev.FINISHED for e in evs)
    console = Console(record=True, width=200)
    assert follow(run, console, poll=0.01) == 1
    assert "crashed" in console.export_text()


def test_sigterm_stops_gracefully_with_adapter():
    launched = start(max_steps=500)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS, proc=proc)
        os.kill(proc.pid, signal.SIGTERM)
        assert wait_exit(proc, timeout=60) == 0
    finally:
        kill(proc)
    fin = events(run)[-1]
    assert fin["type"] == ev.FINISHED and fin["status"] == ev.STOPPED
    assert fin["stop_reason"] == "signal SIGTERM"
    assert any(p.suffix == ".safetensors" for p in run.adapter.iterdir())


def test_stop_while_paused_ends_stopped():
    launched = start(max_steps=500)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS, proc=proc)
        pid = run.send_command("pause")
        wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == pid, proc=proc)
        sid = run.send_command("stop")
        assert wait_exit(proc, timeout=60) == 0
    finally:
        kill(proc)
    evs = events(run)
    assert any(e["type"] == ev.CONTROL and e.get("id") == sid and e["state"] == "stopping" for e in evs)
    assert evs[-1]["status"] == ev.STOPPED
    paused_at = next(e["step"] for e in evs if e["type"] == ev.CONTROL and e.get("id") == pid)
    assert max(e["step"] for e in evs if e["type"] == ev.METRICS) == paused_at  # no step after the pause
