"""Processes dying under a real run (issue 7): the app, its terminal, the trainer.

Against the real trainer (cpu-tiny, a few small steps) and the real app:

* the app SIGKILLed, or its terminal hung up (SSH dropped), mid-run: the trainer (started by that
  app, in its own session) trains on to the end, and what a new reader / a new app sees matches the
  trainer's own numbers exactly: every step's metrics and samples once, every alert, ``finished``;
* the trainer SIGKILLed: within two seconds the app shows the run as crashed with the last lines of
  trainer.log, and the event log up to the kill reads back intact.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time

import psutil
import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.rundir import RunDir, runs_root, summarize

from fault_helpers import Pty, counts, dash_app, kill_pid, rendered_text, small_args, until, wait_finished
from trainer_helpers import training

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX ptys and signals")

STEPS = 60  # long enough that the run is still going when the app is lost, on a fast machine


def _started(t: Pty) -> tuple[RunDir, int]:
    t.read_until(b"; files in ", timeout=120)
    m = re.search(rb"run (\S+) started \(pid (\d+)\)", t.out)
    assert m, t.out[-800:]
    return RunDir(runs_root() / m.group(1).decode()), int(m.group(2))


def _flat(text: str) -> str:
    """Rendered text without the banner's left border and without whitespace (wrapping moves it)."""
    return re.sub(r"\s", "", "".join(line.lstrip("█▌▎▍▊ ") for line in text.splitlines()))


@pytest.mark.parametrize("how", ["sigkill", "hangup"])
async def test_losing_the_app_mid_run_loses_nothing(how):
    t = Pty(["run", "--preset", "cpu-tiny", *small_args(max_steps=STEPS)])
    trainer_pid = None
    try:
        run, trainer_pid = _started(t)
        reader = ev.EventReader(run.events)
        end = time.monotonic() + 180
        seen = 0
        while seen < 2:  # the app is up and the run is training
            assert time.monotonic() < end, run.log_tail(20)
            t.pump(0.2)
            seen = max([seen, *(e["step"] for e in reader.read_new() if e["type"] == ev.METRICS)])
        t.read_until(b"\x1b[?1049h", timeout=60)  # the app has taken the screen
        # (the trainer must be alive and mid-run when the app goes)
        assert psutil.pid_exists(trainer_pid) and summarize(run).live
        if how == "sigkill":
            t.kill()
        else:
            t.hang_up()
            t.proc.wait(timeout=20)  # the app ends with its terminal (SIGHUP)...
        at_loss = summarize(run)
        assert at_loss.step < STEPS, "the run ended before the app was lost: nothing tested"
        fin = wait_finished(run, trainer_pid)
    finally:
        t.close()
        kill_pid(trainer_pid)
    assert fin["status"] == ev.COMPLETED and fin["step"] == STEPS
    c = counts(run)
    steps = list(range(1, STEPS + 1))
    assert c["metrics_steps"] == steps and c["samples_steps"] == steps and c["corrupt"] == 0
    assert c["sample_rows"] == STEPS * 8  # 2 prompts x 4 completions a step (trainer_helpers.SMALL)
    # 8-token completions trip the trainer's truncation alerts: there are alerts to lose
    assert c["alerts"], "no alert fired in this run: the alert count below compares nothing"

    # A new app attaches afterwards and holds the same numbers.
    app = dash_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.screen.loaded and app.screen.monitor.state == "completed",
                    timeout=15, what="attached")
        m = app.screen.monitor
        assert m.folder.summary.step == STEPS
        assert m.series["reward"].count == STEPS
        assert m.alert_count == len(c["alerts"])
        assert m.samples_step == STEPS and len(m.samples) == 8
        assert m.events_seen == sum(c["types"].values())
        assert f"step {STEPS}/{STEPS}" in rendered_text(app.screen.query_one("#header"))


async def test_trainer_sigkilled_shows_crashed_within_two_seconds_and_log_is_intact():
    with training(max_steps=500) as launched:
        run, proc = launched.run, launched.proc
        app = dash_app(run)
        async with app.run_test(size=(120, 40)) as pilot:
            header = app.screen.query_one("#header")
            await until(pilot, lambda: app.screen.loaded and "TRAINING" in rendered_text(header),
                        timeout=20, what="training shown")
            os.kill(proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            proc.wait(timeout=10)
            banner = app.screen.query_one("#banner")
            await until(pilot, lambda: "CRASHED" in rendered_text(header) and "CRASHED" in rendered_text(banner),
                        timeout=5, what="crashed shown")
            took = time.monotonic() - killed
            text = rendered_text(banner)
            tail = [ln for ln in run.log_tail(6) if ln.strip()]
    assert took < 2.0, f"crash shown after {took:.2f}s"
    flat = _flat(text)
    assert _flat(str(run.trainer_log)) in flat
    assert tail, "trainer.log is empty"
    # The last log line (as the banner cuts it: one line, at most 200 characters) is on screen.
    last = tail[-1].split("\r")[-1].strip()[:40]
    assert last and _flat(last) in flat, (last, text)
    # Everything up to the kill reads back: contiguous steps, no corrupt line, no finished event.
    c = counts(run)
    assert c["corrupt"] == 0 and not c["finished"]
    assert c["metrics_steps"] == list(range(1, len(c["metrics_steps"]) + 1)) and len(c["metrics_steps"]) >= 2
    assert c["samples_steps"][: len(c["metrics_steps"])] == c["metrics_steps"][: len(c["samples_steps"])]
    assert summarize(run).state == "crashed"
