"""Honest waiting on a slow CPU (issue 27): the trainer picks its torch threads from the cores free at
launch and writes the step time it expects; until a step is measured, a reader's stall allowance
comes from that estimate (with a margin) and the dashboard says "first step: expected ~X".

The case that asked for it: a cpu-smollm2 run on a loaded 2-core machine whose first step took 13
minutes was shown "stalled" after 5."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from grpo_tui.core.planning import cpu_speed
from grpo_tui.core.run import events as ev, stall
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.rundir import RunSummarizer, create_run
from grpo_tui.trainer import threads


@pytest.mark.parametrize("cores, load, want", [
    (2, 0.1, 2), (2, 0.6, 1), (2, 1.2, 1), (2, 15.0, 1), (16, 3.2, 13), (16, 0.0, 16), (2, None, 2),
])
def test_threads_are_the_cores_other_jobs_leave_free(cores, load, want):
    choice = threads.choose(env={}, cores=cores, load=load)
    assert choice.threads == want and not choice.by_user
    assert f"torch threads: {want} of {cores} cores" in choice.line()


def test_threads_follow_what_is_runnable_now_not_the_lagging_load_average(tmp_path, monkeypatch):
    """A run launched just after another ended: the 1-minute load average still says 2.2 on 2 cores (one
    thread), but nothing else is runnable (/proc/loadavg's running count is this process alone)."""
    fake = tmp_path / "loadavg"
    monkeypatch.setattr(threads, "PROC_LOADAVG", fake)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.2, 2.38, 1.95))
    fake.write_text("2.20 2.38 1.95 1/312 4242\n")
    idle = threads.choose(env={}, cores=2)
    assert (idle.threads, idle.load, idle.measured) == (2, 0.0, "runnable now")
    assert "other threads runnable 0.0 at launch" in idle.line()
    fake.write_text("2.20 2.38 1.95 3/312 4242\n")  # two other runnable threads: one core is not enough for them
    assert threads.choose(env={}, cores=2).threads == 1
    assert threads.choose(env={}, cores=16).threads == 14
    fake.unlink()  # not Linux: the load average it is
    fallback = threads.choose(env={}, cores=2)
    assert (fallback.threads, fallback.load, fallback.measured) == (1, 2.2, "load average")
    assert "load average 2.2 at launch" in fallback.line()
    fake.write_text("garbage")
    assert threads.choose(env={}, cores=2).measured == "load average"


def test_runnable_now_reads_this_machine():
    if not threads.PROC_LOADAVG.is_file():
        pytest.skip("no /proc/loadavg here")
    got = threads.runnable_now(samples=3, every=0.01)
    assert got is not None and 0.0 <= got < 10_000


def test_omp_num_threads_set_by_the_user_wins():
    choice = threads.choose(env={"OMP_NUM_THREADS": "3"}, cores=2, load=15.0)
    assert choice.threads == 3 and choice.by_user and "set in the environment" in choice.line()
    assert threads.choose(env={"OMP_NUM_THREADS": "zero"}, cores=2, load=0.0).threads == 2  # not a count: ours


def test_expected_step_follows_the_load_and_the_threads():
    cfg = load_preset("cpu-smollm2")
    idle = cpu_speed.step_seconds(cfg, cores=2)
    assert cpu_speed.expected_step_seconds(cfg, threads=2, cores=2, load=0.0) == pytest.approx(idle)
    assert cpu_speed.expected_step_seconds(cfg, threads=1, cores=2, load=0.0) == pytest.approx(2 * idle)
    # 15 other runnable threads on 2 cores: one thread gets 2/16 of them.
    loaded = cpu_speed.expected_step_seconds(cfg, threads=1, cores=2, load=15.0)
    assert loaded == pytest.approx(idle * 2 / (2 / 16))
    assert cpu_speed.expected_step_seconds(load_preset("cpu-small"), 1, 2, 0.0) is None  # not measured


def _log(t0: float, expected: float | None, steps: int = 0, dt: float = 0.0):
    pid = os.getpid()
    out = [dict(ev.make_event(ev.RUN_STARTED, 0, pid=pid, pid_create_time=psutil.Process(pid).create_time(),
                              max_steps=100, expected_step_s=expected), ts=t0),
           dict(ev.make_event(ev.PHASE, 0, name="training"), ts=t0 + 1)]
    out += [dict(ev.make_event(ev.METRICS, i, metrics={"reward": 0.1}), ts=t0 + 1 + i * dt)
            for i in range(1, steps + 1)]
    return out


def _folder(log):
    folder = RunSummarizer(create_run({"name": "t", "max_steps": 100}))
    folder.feed(log)
    folder.policy = stall.StallPolicy(after_s=300, factor=10, loading_s=1800)
    return folder


def test_a_slow_first_step_is_not_a_stall_while_the_estimate_allows_it():
    """Expected 400 s a step: the first may take 3 x 400 = 20 min before it reads as stalled (not 5)."""
    t0 = time.time() - 100_000
    folder = _folder(_log(t0, 400.0))
    s = folder.check_alive(now=t0 + 1 + 13 * 60)  # the 13-minute first step of the issue
    assert s.stalled_since is None and s.first_step_line() == "first step: expected ~6m40s"
    s = folder.check_alive(now=t0 + 1 + 1201)
    assert s.stalled_since == pytest.approx(t0 + 1) and "no new step" in s.stall_line
    # Without an estimate (a GPU run, a model not measured): today's five minutes.
    plain = _folder(_log(t0, None))
    assert plain.check_alive(now=t0 + 1 + 301).stalled_since is not None
    assert plain.summary.first_step_line() == ""
    # A fast estimate never shortens the floor.
    assert _folder(_log(t0, 5.0)).check_alive(now=t0 + 1 + 299).stalled_since is None


def test_once_steps_are_measured_the_usual_rule_holds_and_the_line_goes():
    t0 = time.time() - 100_000
    folder = _folder(_log(t0, 400.0, steps=3, dt=10.0))
    last = t0 + 1 + 30
    s = folder.check_alive(now=last + 100)
    assert s.first_step_line() == "" and s.median_step_s == pytest.approx(10.0)
    assert folder.check_alive(now=last + 301).stalled_since == pytest.approx(last)  # max(5 min, 10 x 10 s)


def test_the_dashboard_header_says_what_to_expect():
    from rich.console import Console

    from grpo_tui.core.reading.monitor import RunMonitor
    from grpo_tui.tui.widgets.panels import RunHeader

    run = create_run({"name": "t", "max_steps": 100})
    with ev.EventWriter(run.events) as w:
        for e in _log(time.time() - 30, 250.0):
            w.write(e)
    mon = RunMonitor(run)
    mon.poll()
    snap = mon.snapshot()
    header = RunHeader()
    captured = {}
    import grpo_tui.tui.widgets.panels as panels

    orig = panels.show_text
    panels.show_text = lambda widget, text: captured.setdefault("text", text)
    try:
        header.show(snap)
    finally:
        panels.show_text = orig
    console = Console(width=200, record=True)
    console.print(captured["text"])
    out = console.export_text()
    assert "TRAINING" in out and "first step: expected ~4m10s" in out and "stalled" not in out


def test_a_cpu_trainer_says_which_thread_count_it_took(grpo_home, monkeypatch):
    """The real trainer process (tiny CPU preset): the choice is in run_started and in the event log."""
    from trainer_helpers import events, kill, start, wait_exit

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    launched = start(max_steps=1, warmstart_steps=0)
    try:
        assert wait_exit(launched.proc, timeout=600) == 0, launched.run.log_tail(30)
    finally:
        kill(launched.proc)
    evs = events(launched.run)
    hw = evs[0]["hardware"]
    assert evs[0]["type"] == ev.RUN_STARTED and hw["threads_by_user"] is False
    assert 1 <= hw["torch_threads"] <= (os.cpu_count() or 1) and isinstance(hw["load_at_launch"], float)
    assert evs[0]["expected_step_s"] is None  # the tiny model's step cost is not measured: no estimate
    lines = [e["message"] for e in evs if e["type"] == ev.LOG and e["message"].startswith("torch threads:")]
    what = {"runnable now": "other threads runnable", "load average": "load average"}[hw["load_measured"]]
    assert (hw["load_measured"] == "runnable now") == threads.PROC_LOADAVG.is_file()  # Linux: what runs now
    assert lines == [f"torch threads: {hw['torch_threads']} of {hw['usable_cores']} cores ({what} "
                     f"{hw['load_at_launch']:.1f} at launch: the cores other jobs leave free; more threads than "
                     f"free cores spin and slow a step)"]
    assert "torch threads:" in launched.run.trainer_log.read_text()
