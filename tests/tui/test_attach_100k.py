"""Attaching the dashboard to a 100,000-step run: the app stays responsive (asserted by behaviour).

Figures (attach time, memory, events/s) are in bench/reader_throughput.py and bench/app_attach.py.
"""

from __future__ import annotations

import asyncio

from textual.app import App

from grpo_tui.core.run.synthetic import make_run
from grpo_tui.tui.screens.dashboard import DashboardScreen
from grpo_tui.tui.widgets.panels import RunHeader

STEPS = 100_000


class DashApp(App):
    def __init__(self, run):
        super().__init__()
        self.run_dir = run

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.run_dir, resources=False))


async def test_attach_to_100k_steps_stays_responsive():
    run = make_run(STEPS, samples_every=100, fast=True)
    app = DashApp(run)
    loop = asyncio.get_running_loop()
    async with app.run_test(size=(120, 40)) as pilot:
        start = loop.time()

        def header() -> str:
            h = app.screen.query_one(RunHeader) if isinstance(app.screen, DashboardScreen) else None
            return str(h.render()) if h is not None else ""

        # the newest step shows long before the whole history is read (tail preview)
        while f"step {STEPS}/{STEPS}" not in header():
            assert loop.time() - start < 20, "the header never showed the last step"
            await pilot.pause(0.02)
        # a key press is handled while the history is still being read or just after
        body = app.screen.query_one("#body")
        await pilot.press("5")
        while body.scroll_y == 0:
            assert loop.time() - start < 30, "a key press was not handled"
            await pilot.pause(0.02)
        # the whole history ends up in bounded, downsampled series
        screen = app.screen
        while not screen.loaded:
            assert loop.time() - start < 60, "the history was not read within a minute"
            await pilot.pause(0.05)
        assert "COMPLETED" in header()
        series = screen.monitor.series
        assert series["reward"].count == STEPS
        assert all(len(s) <= 512 + 1 + 512 for s in series.values())
        assert screen.snap.samples_step == STEPS
