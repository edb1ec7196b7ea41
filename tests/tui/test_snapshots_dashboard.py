"""SVG snapshots of the dashboard at 80x24 and 120x40 over fixed synthetic logs.

Stable by construction: core.run.synthetic writes fixed timestamps (2026-01-01) and a
fixed seed, run ids are fixed, the clock is injected (elapsed/ETA of a live run),
the memory sampler is off (the panel shows the trainer's RAM from the log), and the
screenshot is taken once the whole log is read and drawn. Update after an intended
change with ``pytest tests/tui/test_snapshots_dashboard.py --snapshot-update`` and look
at the SVGs.
"""

from __future__ import annotations

import os

import pytest
from textual.app import App

from grpo_tui.core.run.synthetic import T0, make_run
from grpo_tui.tui.screens.dashboard import DashboardScreen


class DashApp(App):
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, run, clock):
        super().__init__()
        self.run_dir = run
        self.clock = clock

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.push_screen(DashboardScreen(self.run_dir, resources=False, clock=self.clock,
                                         open_browser_on_pause=False))


async def _loaded(pilot):
    for _ in range(400):
        screen = pilot.app.screen
        if isinstance(screen, DashboardScreen) and screen.loaded:
            break
        await pilot.pause(0.05)
    await pilot.pause()


def completed_app():
    run = make_run(80, plan=True, run_id="20260101-000000-synthetic-done",
                   alerts=[(50, "length_drift", "warning", "mean completion length grew 40% in 20 steps")])
    return DashApp(run, clock=lambda: T0 + 10_000)


def paused_app():
    run = make_run(40, max_steps=200, state="paused", pid=os.getpid(), run_id="20260101-000000-synthetic-live",
                   alerts=[(30, "no_signal", "warning", "62% of groups have zero reward std")])
    return DashApp(run, clock=lambda: T0 + 40 * 2.0 + 30)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_dashboard_completed(snap_compare, size):
    assert snap_compare(completed_app(), terminal_size=size, run_before=_loaded)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_dashboard_paused_live(snap_compare, size):
    assert snap_compare(paused_app(), terminal_size=size, run_before=_loaded)
