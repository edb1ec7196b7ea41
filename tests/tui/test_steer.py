"""The settings panel of a paused run (m in the sample browser) and the dashboard's marks at a change:
Pilot over synthetic runs and a real paused tiny trainer, and snapshots."""

from __future__ import annotations

import os

import pytest
from textual.app import App
from textual.widgets import Button, Input, Static

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.synthetic import T0, make_run
from grpo_tui.tui.screens.dashboard import DashboardScreen
from grpo_tui.tui.screens.steer import SteerScreen, field_id
from grpo_tui.tui.widgets.charts import LineChart
from grpo_tui.tui.widgets.panels import CHANGE_STYLE
from test_sample_browser import BrowserApp
from test_snapshots_dashboard import DashApp, _loaded
from trainer_helpers import kill, start, wait_exit, wait_for
from tui_helpers import until as _until


def paused_run(run_id="20260101-000000-synthetic-steer"):
    return make_run(6, max_steps=50, state="paused", pid=os.getpid(), run_id=run_id, groups=1)


async def _type(pilot, key: str, text: str) -> Input:
    field = pilot.app.screen.query_one(f"#{field_id(key)}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()
    return field


async def test_the_panel_checks_as_you_type_and_queues_one_set_command():
    run = paused_run()
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: app.screen.rows, timeout=10)
        await pilot.press("m")
        await _until(pilot, lambda: isinstance(app.screen, SteerScreen), timeout=10)
        panel = app.screen
        assert panel.query_one(f"#{field_id('learning_rate')}", Input).value == "5e-06"  # the value in force
        assert panel.query_one(f"#{field_id('reward_weights.format')}", Input).value == "1"
        apply = panel.query_one("#steer-apply", Button)
        assert apply.disabled  # nothing changed yet

        cap = await _type(pilot, "max_completion_length", "500")
        status = str(panel.query_one("#steer-status", Static).render())
        assert "ceiling of 128" in status and cap.has_class("-invalid-config") and apply.disabled
        await pilot.press("ctrl+s")  # refused: nothing leaves the panel
        assert isinstance(app.screen, SteerScreen) and not run.pending_commands()

        cap = await _type(pilot, "max_completion_length", "96")
        await _type(pilot, "reward_weights.format", "0.5")
        status = str(panel.query_one("#steer-status", Static).render())
        assert not cap.has_class("-invalid-config") and not apply.disabled
        assert "max_completion_length 64 → 96" in status and "reward_weights.format 1 → 0.5" in status
        await pilot.press("ctrl+s")
        await _until(pilot, lambda: not isinstance(app.screen, SteerScreen), timeout=10)
        (cmd,) = run.pending_commands()
        assert cmd["command"] == "set"
        assert cmd["settings"] == {"max_completion_length": 96, "reward_weights.format": 0.5}


async def test_the_panel_refuses_a_finished_run():
    run = make_run(3, groups=1)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: app.screen.rows, timeout=10)
        await pilot.press("m")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, SteerScreen) and not run.pending_commands()
        assert any("settings change only while a trainer runs" in str(n.message) for n in app._notifications)


@pytest.mark.slow
async def test_the_panel_changes_a_real_paused_trainer():
    launched = start(max_steps=400)  # stopped below; never ends before the pause
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS, proc=proc)
        cid = run.send_command("pause")
        k = wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cid, proc=proc)["step"]
        app = BrowserApp(run)
        async with app.run_test(size=(120, 40)) as pilot:
            browser = app.screen
            await _until(pilot, lambda: browser.rows, timeout=120)
            await pilot.press("m")
            await _until(pilot, lambda: isinstance(app.screen, SteerScreen), timeout=120)
            await _type(pilot, "learning_rate", "0.01")
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: "changed at step" in str(browser.query_one("#status", Static).render()), timeout=120)
            assert f"changed at step {k}: learning_rate 0.0015 -> 0.01" in str(
                browser.query_one("#status", Static).render())
        run.send_command("resume")
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] == k + 1, proc=proc)
        run.send_command("stop")
        assert wait_exit(proc) == 0
    finally:
        kill(proc)
    lr = {e["step"]: e["metrics"]["learning_rate"] for e in ev.read_all(run.events)[0] if e["type"] == ev.METRICS}
    assert lr[k] == pytest.approx(1.5e-3) and lr[k + 1] == pytest.approx(0.01)


def changed_app():
    run = make_run(40, max_steps=200, state="paused", pid=os.getpid(), run_id="20260101-000000-synthetic-changed")
    with ev.EventWriter(run.events) as w:
        w.emit(ev.SETTINGS_CHANGED, 25, changes={"max_completion_length": {"old": 64, "new": 96}}, id="c1")
    return DashApp(run, clock=lambda: T0 + 40 * 2.0 + 30)


async def test_the_dashboard_marks_the_step_of_a_change():
    app = changed_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        for chart_id in ("#rewards-chart", "#lengths-chart"):
            key = screen.query_one(chart_id, LineChart)._shown_key
            assert key[3] == ((25.0, CHANGE_STYLE),), chart_id
        assert "set@25: max_completion_length" in str(screen.query_one("#rewards-legend").render())
        assert "cap 96" in str(screen.query_one("#lengths-info").render())  # lengths read against the new cap


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_dashboard_with_a_change(snap_compare, size):
    assert snap_compare(changed_app(), terminal_size=size, run_before=_loaded)


class PanelApp(App):
    ENABLE_COMMAND_PALETTE = False

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.push_screen(SteerScreen(paused_run()))


async def _typed_error(pilot):
    await pilot.pause()
    await _type(pilot, "learning_rate", "1e-5")
    await _type(pilot, "max_completion_length", "500")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_settings_panel(snap_compare, size):
    assert snap_compare(PanelApp(), terminal_size=size, run_before=_typed_error)


async def test_the_start_screens_run_list_shows_a_forks_lineage():
    import json

    from textual.widgets import DataTable

    from grpo_tui.core.run.rundir import RUN_JSON
    from tui_helpers import make_app, synthetic_run
    from test_tui_start import ready

    synthetic_run("20260101-000000-parent-9ec6", state="completed")
    child = synthetic_run("20260102-000000-child-4185", state="completed")
    info = json.loads((child.path / RUN_JSON).read_text())
    info["fork_of"] = {"run": "20260101-000000-parent-9ec6", "step": 41}
    (child.path / RUN_JSON).write_text(json.dumps(info))
    app = make_app("RTX 4090")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        table = screen.query_one("#runs", DataTable)
        cells = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert cells == {"20260102-000000-child-4185 ← …9ec6@41", "20260101-000000-parent-9ec6"}


def test_headless_attach_prints_changes_and_refusals(capsys):
    from grpo_tui.cli import main

    run = make_run(6, run_id="20260101-000000-synthetic-headless")
    lines = [line for line in run.events.read_bytes().splitlines(keepends=True)]
    finished = lines.pop()  # the changes go before the run's end, as a trainer writes them
    run.events.write_bytes(b"".join(lines))
    with ev.EventWriter(run.events) as w:
        w.emit(ev.CONTROL, 3, command="set", id="c1", state="paused", error="num_generations: cannot change")
        w.emit(ev.SETTINGS_CHANGED, 3, changes={"learning_rate": {"old": 1.5e-3, "new": 0.01}}, id="c2")
        w.emit(ev.SETTINGS_CHANGED, 3, changes={"learning_rate": {"old": 1.5e-3, "new": 0.01}}, resumed=True)
    with open(run.events, "ab") as fh:
        fh.write(finished)
    capsys.readouterr()
    assert main(["attach", run.id, "--headless"]) == 0
    out = capsys.readouterr().out
    assert "set acknowledged at step 3: paused -- refused: num_generations: cannot change" in out
    assert "settings changed at step 3: learning_rate 0.0015 -> 0.01" in out
    assert "settings changed at step 3 (re-applied on resume): learning_rate 0.0015 -> 0.01" in out
