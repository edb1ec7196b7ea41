"""Stalls (core.run.stall): a live run that stops making progress is flagged by any reader.

The unit tests fold hand-made event logs; the trainer tests hang a real CPU trainer (SIGSTOP, and a
user reward function that sleeps) and wait for a reader to say "stalled since", then for it to clear
when the trainer moves again. The allowance is shortened through the environment so they are quick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run import stall
from grpo_tui.core.run.rundir import RunSummarizer, create_run, summarize

from trainer_helpers import kill, start, wait_for

REPO = Path(__file__).resolve().parents[2]


def _write(run, events):
    with ev.EventWriter(run.events) as w:
        for e in events:
            w.write(e)


def _log(t0: float, steps: int, dt: float = 2.0, pid: int | None = None):
    """run_started, a training phase, then one metrics event every dt seconds."""
    pid = pid or os.getpid()
    import psutil

    out = [dict(ev.make_event(ev.RUN_STARTED, 0, pid=pid, pid_create_time=psutil.Process(pid).create_time(),
                              max_steps=1000), ts=t0),
           dict(ev.make_event(ev.PHASE, 0, name="training"), ts=t0 + 1)]
    for i in range(1, steps + 1):
        out.append(dict(ev.make_event(ev.METRICS, i, metrics={"reward": 0.5}), ts=t0 + 1 + i * dt))
    return out


def test_policy_allowance_is_five_minutes_or_ten_steps_and_loading_is_longer():
    p = stall.StallPolicy()
    assert p.allowance("training", None) == 300
    assert p.allowance("training", 2.0) == 300  # ten 2 s steps are less than five minutes
    assert p.allowance("training", 60.0) == 600  # ten 60 s steps
    assert p.allowance("loading", 60.0) == 1800
    assert p.allowance("paused", 1.0) is None and p.allowance("completed", 1.0) is None


def test_policy_from_user_settings_and_environment(grpo_home, monkeypatch):
    cfg = grpo_home / "config"
    cfg.mkdir(parents=True)
    (cfg / "settings.toml").write_text("[stall]\nafter_s = 120\nloading_s = 900\n")
    p = stall.StallPolicy.load()
    assert (p.after_s, p.factor, p.loading_s) == (120, 10, 900)
    monkeypatch.setenv(stall.ENV_AFTER, "7")
    assert stall.StallPolicy.load().after_s == 7


def test_a_run_whose_step_stops_advancing_is_stalled_since_its_last_step():
    run = create_run({"name": "t", "max_steps": 1000})
    t0 = time.time() - 10_000
    _write(run, _log(t0, 50, dt=2.0))
    folder = RunSummarizer(run)
    folder.feed(ev.read_all(run.events)[0])
    last = t0 + 1 + 50 * 2.0
    folder.policy = stall.StallPolicy(after_s=60, factor=10, loading_s=600)
    s = folder.check_alive(now=last + 30)
    assert s.state == "training" and s.stalled_since is None
    assert s.median_step_s == pytest.approx(2.0)
    s = folder.check_alive(now=last + 61)
    assert s.stalled_since == pytest.approx(last)
    assert s.stall_line.startswith(f"stalled since {time.strftime('%H:%M', time.localtime(last))} (no new step")
    # ten slow steps raise the allowance: 30 s steps -> 300 s
    folder.feed([dict(ev.make_event(ev.METRICS, 51 + i, metrics={}), ts=last + 30 * (i + 1)) for i in range(60)])
    last2 = last + 30 * 60
    assert folder.check_alive(now=last2 + 200).stalled_since is None
    assert folder.check_alive(now=last2 + 301).stalled_since == pytest.approx(last2)


def test_paused_runs_never_stall_and_a_resume_restarts_the_clock():
    run = create_run({"name": "t"})
    t0 = time.time() - 10_000
    log = _log(t0, 5)
    last = log[-1]["ts"]
    log.append(dict(ev.make_event(ev.CONTROL, 5, command="pause", state="paused"), ts=last + 1))
    folder = RunSummarizer(run)
    folder.feed(log)
    folder.policy = stall.StallPolicy(after_s=60)
    assert folder.check_alive(now=last + 5000).stalled_since is None
    folder.feed([dict(ev.make_event(ev.CONTROL, 5, command="resume", state="training"), ts=last + 5000)])
    assert folder.check_alive(now=last + 5030).stalled_since is None
    assert folder.check_alive(now=last + 5061).stalled_since == pytest.approx(last + 5000)


def test_loading_has_its_own_longer_allowance_and_any_event_is_progress():
    run = create_run({"name": "t"})
    t0 = time.time() - 10_000
    log = _log(t0, 0)[:1] + [dict(ev.make_event(ev.PHASE, 0, name="loading_model"), ts=t0 + 1),
                             dict(ev.make_event(ev.LOG, 0, level="info", message="downloading"), ts=t0 + 100)]
    folder = RunSummarizer(run)
    folder.feed(log)
    folder.policy = stall.StallPolicy(after_s=60, loading_s=600)
    assert folder.check_alive(now=t0 + 650).stalled_since is None  # 550 s since the log line
    s = folder.check_alive(now=t0 + 701)
    assert s.stalled_since == pytest.approx(t0 + 100) and "no loading progress" in s.stall_line


def test_finished_and_crashed_runs_are_not_stalled():
    run = create_run({"name": "t"})
    t0 = time.time() - 10_000
    log = _log(t0, 3) + [dict(ev.make_event(ev.FINISHED, 3, status="completed"), ts=t0 + 20)]
    folder = RunSummarizer(run)
    folder.feed(log)
    folder.policy = stall.StallPolicy(after_s=1)
    assert folder.check_alive().stalled_since is None
    run2 = create_run({"name": "t"})
    log2 = _log(t0, 3)
    log2[0]["pid_create_time"] = 1.0  # not the process that has this pid: the trainer is gone
    _write(run2, log2)
    s = summarize(run2)
    assert s.state == "crashed" and s.stalled_since is None


def test_gpu_idle_with_flat_memory_counts_and_work_or_moving_memory_resets_it():
    g = stall.GpuIdle()
    assert g.feed(0, 95, 10e9) is None
    assert g.feed(1, 0, 10e9) == 1
    assert g.feed(2, 1, 10.02e9) == 1  # within 1%: still flat
    assert g.feed(3, 0, 12e9) == 3  # memory moved: a new idle stretch
    assert g.feed(4, None, None) == 3  # no reading: no verdict
    assert g.feed(5, 60, 12e9) is None
    p = stall.StallPolicy(after_s=60)
    found = stall.check("training", 1000.0, 1.0, 1010.0, p, gpu_idle_since=900.0)
    assert found is not None and found.since == 900.0 and "GPU idle" in found.reason
    assert stall.check("training", 1000.0, 1.0, 1010.0, p, gpu_idle_since=990.0) is None
    assert stall.check("paused", 1000.0, 1.0, 1010.0, p, gpu_idle_since=900.0) is None


# -- a real trainer made to hang ---------------------------------------------------------------
def _wait_summary(run, pred, timeout=90.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = summarize(run)
        if pred(s):
            return s
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {s.state} step {s.step} {s.stall_line!r}; "
                         f"log: {run.log_tail(10)}")


def _runs_output() -> str:
    out = subprocess.run([sys.executable, "-m", "grpo_tui", "runs"], capture_output=True, text=True, timeout=60,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow
def test_a_sigstopped_trainer_reads_as_stalled_then_recovers(monkeypatch):
    monkeypatch.setenv(stall.ENV_AFTER, "3")
    monkeypatch.setenv(stall.ENV_FACTOR, "1")
    launched = start(max_steps=100000, warmstart_steps=0)
    run, proc = launched.run, launched.proc
    try:
        first = wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 3, proc=proc)
        os.kill(proc.pid, signal.SIGSTOP)
        stopped_at = time.time()
        s = _wait_summary(run, lambda s: s.stalled_since is not None, what="a stall")
        assert s.state == "training"
        assert first["ts"] <= s.stalled_since <= stopped_at
        assert s.stall_line.startswith("stalled since ") and s.log_tail  # with trainer.log's last lines
        assert f"stalled since {time.strftime('%H:%M', time.localtime(s.stalled_since))}" in _runs_output()
        from grpo_tui.core.reading.report import build_report, to_markdown

        md = to_markdown(build_report(run))
        assert "stalled since" in md and "Last lines of trainer.log" in md
        # the headless follower says so too
        follower = subprocess.Popen([sys.executable, "-m", "grpo_tui", "attach", run.id, "--headless"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        try:
            seen = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = follower.stdout.readline()
                if not line:
                    break
                seen.append(line)
                if "stalled since" in line:
                    break
            assert any("stalled since" in ln for ln in seen), seen[-5:]
        finally:
            follower.kill()
            follower.wait()
        os.kill(proc.pid, signal.SIGCONT)
        s2 = _wait_summary(run, lambda x: x.stalled_since is None and x.step > s.step,
                           what="progress after SIGCONT")
        assert s2.state == "training"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        kill(proc)


SLEEPY = '''
import os, time

def sleepy(prompts, completions, **kwargs):
    """Sleeps while the flag file exists (a reward that calls a slow API), then scores 0."""
    flag = os.environ["STALL_FLAG"]
    deadline = time.time() + 120
    while os.path.exists(flag) and time.time() < deadline:
        open(flag + ".seen", "w").close()
        time.sleep(0.1)
    return [0.0] * len(completions)
'''


@pytest.mark.slow
def test_a_reward_function_that_sleeps_reads_as_stalled(monkeypatch, tmp_path):
    monkeypatch.setenv(stall.ENV_AFTER, "3")
    monkeypatch.setenv(stall.ENV_FACTOR, "1")
    reward = tmp_path / "slow_reward.py"
    reward.write_text(SLEEPY)
    flag = tmp_path / "hold"
    monkeypatch.setenv("STALL_FLAG", str(flag))  # the trainer inherits the environment
    launched = start(max_steps=100000, warmstart_steps=0, rewards=["format", f"{reward}:sleepy"])
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc=proc)
        flag.touch()
        deadline = time.monotonic() + 60
        while not Path(str(flag) + ".seen").exists():  # the trainer is inside the reward now
            assert time.monotonic() < deadline and proc.poll() is None, run.log_tail(20)
            time.sleep(0.1)
        s = _wait_summary(run, lambda s: s.stalled_since is not None, what="a stall in the reward")
        assert s.state == "training" and "no new step" in s.stall_line
        flag.unlink()
        _wait_summary(run, lambda x: x.stalled_since is None and x.step > s.step, what="progress after the reward")
    finally:
        if flag.exists():
            flag.unlink()
        kill(proc)


async def test_the_dashboard_shows_a_gpu_that_idles_with_flat_memory_as_a_stall(monkeypatch):
    """The dashboard's NVML sampler feeds the stall check (fake NVML: utilisation 0, memory flat)."""
    from grpo_tui.core.planning import hardware
    from grpo_tui.core.planning.fakenvml import FakeGpu, FakeNVML, FakeProcess
    from grpo_tui.core.run.synthetic import SyntheticWriter

    from test_dashboard import DashApp, header_text, loaded, until

    monkeypatch.setenv(stall.ENV_AFTER, "1")
    monkeypatch.setenv(stall.ENV_FACTOR, "0.01")
    hardware.set_backend(FakeNVML([FakeGpu("NVIDIA GeForce RTX 4090", 24564, (8, 9), used_mib=12 * 1024,
                                           processes=[FakeProcess(os.getpid(), 7 * 2**30)])]))
    try:
        # steps stamped a minute ahead: "no new step" cannot fire during the test, only the GPU can
        w = SyntheticWriter.create(max_steps=50, t0=time.time() + 60)
        w.start(pid=os.getpid())
        w.steps(3)
        app = DashApp(w.run, resources=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            screen = app.screen
            await until(pilot, lambda: screen.monitor.gpu_idle_since is not None, what="the idle stretch")
            await until(pilot, lambda: "stalled since" in header_text(app), timeout=15, what="the stall")
            assert "GPU idle, memory flat" in header_text(app)
        w.close()
    finally:
        hardware.set_backend(None)


async def test_the_run_list_shows_a_stalled_run(monkeypatch):
    from textual.widgets import DataTable

    from grpo_tui.core.run.synthetic import make_run
    from tui_helpers import make_app

    monkeypatch.setenv(stall.ENV_AFTER, "60")
    t0 = time.time() - 2000
    run = make_run(10, max_steps=100, t0=t0, state="training", pid=os.getpid(), run_id="20260101-000000-hung")
    make_run(10, max_steps=100, t0=time.time() - 15, step_time=1.0, state="training", pid=os.getpid(),
             run_id="20260101-000001-fine")
    last = t0 + 10 * 2.0
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(400):  # the run list, and the survey done (leaving while it mounts the knobs fails)
            tables = app.screen.query("#runs")
            if tables and tables.first(DataTable).row_count == 2 and app.screen.selected:
                break
            await pilot.pause(0.05)
        table = app.screen.query_one("#runs", DataTable)
        assert str(table.get_row(run.id)[1]) == f"stalled since {time.strftime('%H:%M', time.localtime(last))}"
        assert str(table.get_row("20260101-000001-fine")[1]) == "training"
