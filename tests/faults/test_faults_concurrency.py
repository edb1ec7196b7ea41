"""Many hands on the controls (issue 7), against the real trainer and the real app.

* Pause / resume hammered: two watcher processes send 100 toggles each at once. Every command is
  acknowledged exactly once with the state it asks for, the state after the storm is the last
  command's, nothing deadlocks, and the run's steps stay contiguous (none lost, none repeated).
* Two runs at once on the machine: each trains on its own; pausing one leaves the other running.
* Two apps on one live run: one pauses it with its key, a third process (the CLI) resumes it, and
  both apps, detached at the end, report the run completed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.rundir import summarize

from fault_helpers import REPO, Pty, counts
from trainer_helpers import kill, start, wait_exit, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX ptys")

HAMMER = """
import random, sys, time
from pathlib import Path
from grpo_tui.core.run.rundir import RunDir
run, first, n = RunDir(Path(sys.argv[1])), sys.argv[2], int(sys.argv[3])
other = {"pause": "resume", "resume": "pause"}
cmd, ids = first, []
for _ in range(n):
    ids.append(run.send_command(cmd) + " " + cmd)
    cmd = other[cmd]
    time.sleep(random.random() * 0.004)
print("\\n".join(ids))
"""


def _hammer(run, first: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HAMMER, str(run.path), first, str(n)],
                            stdout=subprocess.PIPE, text=True, cwd=str(REPO))


def _acks(run) -> list[dict]:
    return [e for e in ev.read_all(run.events)[0] if e["type"] == ev.CONTROL]


def test_pause_resume_hammered_by_two_watchers():
    launched = start(max_steps=400)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 1, proc=proc)
        a, b = _hammer(run, "pause", 100), _hammer(run, "resume", 100)
        out_a, _ = a.communicate(timeout=60)
        out_b, _ = b.communicate(timeout=60)
        sent = dict(line.split() for line in (out_a + out_b).splitlines())
        assert len(sent) == 200
        end = time.monotonic() + 60
        while len(_acks(run)) < 200:  # no deadlock: all of them are taken, paused or not
            assert time.monotonic() < end and proc.poll() is None, f"{len(_acks(run))} acks; {run.log_tail(10)}"
            time.sleep(0.1)
        acks = _acks(run)
        assert sorted(a["id"] for a in acks) == sorted(sent)  # each exactly once
        want = {"pause": "paused", "resume": "training"}
        assert all(a["state"] == want[sent[a["id"]]] and a["command"] == sent[a["id"]] for a in acks)
        # Nothing further happens by itself: a repeat of the last command, acknowledged after every
        # poll in between, finds the same state.
        marker = run.send_command(sent[acks[-1]["id"]])
        end = time.monotonic() + 60
        while not [a for a in _acks(run) if a["id"] == marker]:
            assert time.monotonic() < end and proc.poll() is None, run.log_tail(10)
            time.sleep(0.1)
        assert [a["state"] for a in _acks(run)][-2:] == [acks[-1]["state"]] * 2
        assert summarize(run).state == acks[-1]["state"]
        assert not run.pending_commands()
        # Steer it out of the storm: resume, take a step, stop (the adapter is saved).
        run.send_command("resume")
        after = max(e["step"] for e in ev.read_all(run.events)[0])
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] > after, proc=proc, timeout=60)
        run.send_command("stop")
        assert wait_exit(proc, timeout=120) == 0
    finally:
        kill(proc)
    c = counts(run)
    assert c["finished"][-1]["status"] == ev.STOPPED
    n = len(c["metrics_steps"])
    assert c["metrics_steps"] == list(range(1, n + 1)) and c["samples_steps"] == c["metrics_steps"]
    assert c["corrupt"] == 0


def _pty_attach(run) -> Pty:
    return Pty(["attach", run.id], size=(120, 40))


def _detach_line(t: Pty) -> str:
    after = t.out.rsplit(b"\x1b[?1049l", 1)[-1]
    return re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", after).decode("utf-8", "replace")


def test_two_runs_at_once_and_two_apps_on_one_run():
    # still running when both apps are up and `p` is pressed: at ~10 steps/s, 40 steps ended first
    # under load (two apps attaching on 2 busy cores take several seconds)
    one = start(max_steps=300)
    two = start(max_steps=8)
    apps: list[Pty] = []
    try:
        wait_for(one.run, lambda e: e["type"] == ev.METRICS and e["step"] >= 1, proc=one.proc)
        apps = [_pty_attach(one.run), _pty_attach(one.run)]
        for t in apps:
            t.read_until(one.run.id.encode(), timeout=60)
            t.pump(1.0)
        os.write(apps[0].master, b"p")  # `p` in the first app
        ack = wait_for(one.run, lambda e: e["type"] == ev.CONTROL, proc=one.proc, timeout=60)
        assert ack["command"] == "pause" and ack["state"] == "paused"
        paused_at = summarize(one.run).step
        # The other run trains on meanwhile, to the end.
        for t in apps:
            t.pump(0.2)
        assert wait_exit(two.proc, timeout=180) == 0
        assert summarize(one.run).state == "paused" and summarize(one.run).step == paused_at
        # A third watcher (the CLI) resumes it.
        r = subprocess.run([sys.executable, "-m", "grpo_tui", "resume", one.run.id], capture_output=True,
                           text=True, timeout=60, cwd=str(REPO))
        assert r.returncode == 0, r.stderr
        while one.proc.poll() is None:
            for t in apps:
                t.pump(0.1)
        assert one.proc.returncode == 0
        for t in apps:
            t.pump(1.5)  # the apps see the finished event
            os.write(t.master, b"q")
            t.proc.wait(timeout=20)
            t.pump(0.3)
            assert t.proc.returncode == 0
            assert f"run {one.run.id} (completed)" in _detach_line(t)
    finally:
        for t in apps:
            t.close()
        kill(one.proc)
        kill(two.proc)
    for launched, pid, n in ((one, one.proc.pid, 300), (two, two.proc.pid, 8)):
        c = counts(launched.run)
        assert c["finished"][-1]["status"] == ev.COMPLETED
        assert c["metrics_steps"] == list(range(1, n + 1)) and c["samples_steps"] == c["metrics_steps"]
        assert {e["pid"] for e in c["events"] if e["type"] == ev.RUN_STARTED} == {pid}
    controls_two = [e for e in counts(two.run)["events"] if e["type"] == ev.CONTROL]
    assert controls_two == []  # the pause went to run one only
