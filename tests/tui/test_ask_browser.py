"""Asking from the sample browser: Pilot against a real paused tiny trainer, and snapshots."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import DataTable, Input

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.synthetic import make_run
from grpo_tui.tui.screens.ask import AskScreen
from grpo_tui.tui.screens.samples import SampleBrowserScreen
from test_sample_browser import BrowserApp
from trainer_helpers import kill, start, wait_exit, wait_for
from tui_helpers import until as _until


async def test_ask_and_ask_heldout_from_the_browser_of_a_paused_run():
    launched = start(max_steps=40)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS, proc=proc)
        cid = run.send_command("pause")
        wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cid, proc=proc)
        app = BrowserApp(run)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            await _until(pilot, lambda: screen.rows, timeout=120)
            await pilot.press("a")
            await _until(pilot, lambda: isinstance(app.screen, AskScreen), timeout=120)
            await pilot.press(*"12+7=")
            app.screen.query_one("#ask-gold", Input).focus()
            await pilot.press("1", "9", "enter")
            await _until(pilot, lambda: screen.step == "ask:0" and len(screen.rows) == 4, timeout=120)
            assert all(r["ask"] and r["answer"] == "19" and set(r["rewards"]) == {"format", "correctness"}
                       for r in screen.rows)
            table = screen.query_one("#rows", DataTable)
            assert table.row_count == 4 + 1  # the question's header row, then its completions
            steps = screen.query_one("#steps", DataTable)
            assert str(steps.get_row_at(0)[0]) == "ask 1"

            await pilot.press("h")  # eight held-out questions, one completion each
            await _until(pilot, lambda: screen.step == "ask:1" and len(screen.rows) == 8, timeout=120)
            assert len({r["group"] for r in screen.rows}) == 8
            assert str(steps.get_row_at(0)[0]) == "ask 2"

            # An empty question is refused in the dialog, nothing is queued.
            await pilot.press("a")
            await _until(pilot, lambda: isinstance(app.screen, AskScreen), timeout=120)
            await pilot.press("enter")
            await pilot.pause(0.2)
            assert isinstance(app.screen, AskScreen)
            assert not [c for c in run.pending_commands() if c["command"] == "ask"]
            await pilot.press("escape")
        run.send_command("stop")
        assert wait_exit(proc) == 0
    finally:
        kill(proc)


async def test_ask_refused_in_the_browser_when_the_run_is_not_paused():
    run = make_run(3, groups=1)  # a finished synthetic run
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await _until(pilot, lambda: screen.rows, timeout=10)
        await pilot.press("h")
        await pilot.pause(0.2)
        assert not run.pending_commands()
        assert any("asks need a paused run" in str(n.message) for n in app._notifications)


def _with_ask(run):
    w = ev.EventWriter(run.samples)
    rows = [{"prompt": "user: What is 12+7?", "completion": text, "rewards": {"format": f, "correctness": c},
             "reward": f + c, "advantage": adv, "group": 0, "length": ln, "truncated": cut, "answer": "19"}
            for text, f, c, adv, ln, cut in [("<think>12+7 is 19</think><answer>19</answer>", 1.0, 1.0, 1.1, 14, False),
                                            ("<think>twelve plus seven [bold]", 0.25, 0.0, -0.9, 32, True),
                                            ("<answer>18</answer>", 0.5, 0.0, -0.2, 6, False)]]
    w.emit(ev.ASK, 3, id="x", request={"prompt": "What is 12+7?", "gold": "19", "n": 3}, rows=rows,
           accuracy=1.0, seconds=0.4)
    w.close()
    return run


class AskedApp(App):
    def on_mount(self) -> None:
        self.push_screen(SampleBrowserScreen(_with_ask(make_run(3, groups=1, seed=5))))


async def _asked(pilot):
    await _until(pilot, lambda: pilot.app.screen.step == 3, timeout=10)
    pilot.app.screen.query_one("#steps", DataTable).focus()
    await pilot.press("up")
    await _until(pilot, lambda: pilot.app.screen.step == "ask:0", timeout=10)


async def _dialog(pilot):
    await _until(pilot, lambda: pilot.app.screen.rows, timeout=10)
    await pilot.press("a")
    await pilot.pause(0.2)
    await pilot.press(*"What is 12+7?")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_browser_showing_an_ask(snap_compare, size):
    assert snap_compare(AskedApp(), terminal_size=size, run_before=_asked)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_ask_dialog(snap_compare, size):
    assert snap_compare(AskedApp(), terminal_size=size, run_before=_dialog)
