"""SVG snapshots of the compare screen at 80x24 and 120x40 over fixed synthetic runs.

Stable by construction: core.run.synthetic writes fixed timestamps and seeds, run ids are fixed, the
runs are finished (no polling), the dark theme is pinned, and the screenshot is taken once every
history is read and the charts are drawn. Update after an intended change with
``pytest tests/tui/test_snapshots_compare.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import pytest
from textual.app import App

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.synthetic import make_run
from grpo_tui.tui.screens.compare import CompareScreen


class CompareApp(App):
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, runs):
        super().__init__()
        self.runs = runs

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.push_screen(CompareScreen(self.runs, poll=False))


def _runs():
    a = make_run(120, run_id="20260101-000000-lr-5e-6", seed=1, cuda=True)
    b = make_run(120, run_id="20260101-010000-lr-1e-5", seed=2, cuda=True, config={"learning_rate": 1e-5})
    c = make_run(60, run_id="20260101-020000-short", seed=3, state="stopped",
                 config={"learning_rate": 1e-5, "num_generations": 8})
    with ev.EventWriter(a.events) as w:
        w.emit(ev.EVAL, step=0, name="arith/test", accuracy=0.21, n=50, when="before")
        w.emit(ev.EVAL, step=120, name="arith/test", accuracy=0.43, n=50, when="after")
    return [a, b, c]


def _settled(*keys):
    async def run_before(pilot):
        for _ in range(400):
            screen = pilot.app.screen
            if isinstance(screen, CompareScreen) and screen.done.is_set() and screen.rendered:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        await pilot.pause(0.1)
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_compare_screen(snap_compare, size):
    assert snap_compare(CompareApp(_runs()), terminal_size=size, run_before=_settled())


def test_compare_screen_smoothed_by_time(snap_compare):
    assert snap_compare(CompareApp(_runs()), terminal_size=(120, 40), run_before=_settled("s", "x"))
