"""SVG snapshots of the sample browser, the completion viewer and the export dialog at 80x24
and 120x40, over a fixed synthetic run (fixed id, timestamps and seed). Update after an
intended change with ``pytest tests/tui/test_snapshots_samples.py --snapshot-update``."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import DataTable

from grpo_tui.core.run.synthetic import make_run
from grpo_tui.tui.screens.samples import SampleBrowserScreen


class BrowserApp(App):
    ENABLE_COMMAND_PALETTE = False

    def __init__(self):
        super().__init__()
        self.run_dir = make_run(6, groups=2, run_id="20260101-000000-synthetic-samples")

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.push_screen(SampleBrowserScreen(self.run_dir))


async def _loaded(pilot):
    for _ in range(200):
        screen = pilot.app.screen
        if isinstance(screen, SampleBrowserScreen) and screen.step == 6 and screen.rows:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.1)


async def _viewer(pilot):
    await _loaded(pilot)
    pilot.app.screen.query_one("#rows", DataTable).focus()
    await pilot.press("down", "enter")
    await pilot.pause(0.1)


async def _export(pilot):
    await _loaded(pilot)
    pilot.app.screen.query_one("#steps", DataTable).focus()
    await pilot.press("e")
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_sample_browser(snap_compare, size):
    assert snap_compare(BrowserApp(), terminal_size=size, run_before=_loaded)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_completion_viewer(snap_compare, size):
    assert snap_compare(BrowserApp(), terminal_size=size, run_before=_viewer)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_export_dialog(snap_compare, size):
    assert snap_compare(BrowserApp(), terminal_size=size, run_before=_export)
