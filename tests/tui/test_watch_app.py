"""The app reads and steers a watched script (a real plain-TRL GRPOTrainer on the tiny model, its own
process), and shows an opened TRL folder read-only -- driven with Pilot."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from test_dashboard import DashApp, header_text, loaded, until
from test_watch import start_script, the_run, wait_event

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.rundir import summarize

pytestmark = pytest.mark.slow  # ~30 s: a real training script


async def test_the_app_pauses_resumes_and_stops_a_watched_script(tmp_path):
    proc, log = start_script(tmp_path, USER_STEPS="400")
    try:
        run = the_run(proc, log)
        wait_event(run, lambda e: e["type"] == ev.METRICS, proc, log)
        app = DashApp(run, open_browser_on_pause=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            await until(pilot, lambda: "TRAINING" in header_text(app), what="training shown")
            await pilot.press("p")
            await until(pilot, lambda: "pause acknowledged" in header_text(app), timeout=60, what="pause ack")
            assert "PAUSED" in header_text(app)
            await pilot.press("r")
            await until(pilot, lambda: "resume acknowledged" in header_text(app), timeout=60, what="resume ack")
            await pilot.press("x", "y")
            await until(pilot, lambda: proc.poll() is not None, timeout=120, what="the script to end")
            await until(pilot, lambda: "STOPPED" in header_text(app), timeout=30, what="stopped shown")
        assert proc.returncode == 0 and "USER SCRIPT DONE" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    controls = [(e["command"], e["state"]) for e in ev.read_all(run.events)[0] if e["type"] == ev.CONTROL]
    assert controls == [("pause", "paused"), ("resume", "training"), ("stop", "stopping")]
    assert summarize(run).state == "stopped"

    # the start screen lists it among the other runs, and Enter opens it
    from test_tui_start import ready
    from textual.widgets import DataTable
    from tui_helpers import make_app

    app = make_app()
    opened = []
    app.open_run = lambda r: opened.append(r.path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        table = screen.query_one("#runs", DataTable)
        assert str(table.get_cell(run.id, "state")) == "stopped"
        await pilot.press("r", "enter")
        assert opened == [run.path]
