"""The sample browser's step list is its own titled frame and the completions' frame names their
step (issue 29: a new user read the step list as the table's first column). The title is text
from the run's files: shown literally."""

from __future__ import annotations

from rich.markup import render
from textual.app import App
from textual.widgets import DataTable

from grpo_tui.core.run.synthetic import make_run
from grpo_tui.tui.screens.samples import SampleBrowserScreen


class BrowserApp(App):
    def __init__(self):
        super().__init__()
        self.run_dir = make_run(6, groups=2, run_id="20260101-000000-frames")

    def on_mount(self) -> None:
        self.push_screen(SampleBrowserScreen(self.run_dir))


async def _loaded(pilot, step) -> SampleBrowserScreen:
    for _ in range(200):
        screen = pilot.app.screen
        if isinstance(screen, SampleBrowserScreen) and screen.step == step and screen.rows:
            return screen
        await pilot.pause(0.05)
    raise AssertionError(f"step {step} never loaded")


async def test_steps_and_completions_each_in_a_titled_frame_naming_the_step():
    app = BrowserApp()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _loaded(pilot, 6)
        steps, rows = screen.query_one("#steps", DataTable), screen.query_one("#rows", DataTable)
        assert str(steps.border_title) == "steps" and not steps.show_header
        assert str(rows.border_title).startswith("step 6: 8 completion(s)")
        assert steps.styles.border_left[0] != "" and rows.styles.border_left[0] != ""  # framed apart
        steps.focus()
        await pilot.press("down")  # step 5
        screen = await _loaded(pilot, 5)
        assert str(rows.border_title).startswith("step 5: ")
        # an answered ask names the step it was asked at, from the file: literal, never markup
        screen._show_rows("ask:0", [dict(screen.rows[0], step="[b]7[/b]")], [])
        shown = render(rows.border_title).plain  # the getter gives markup: read back as a user sees it
        assert shown.startswith("ask 1 (at step [b]7[/b]): 1 completion(s)"), rows.border_title
