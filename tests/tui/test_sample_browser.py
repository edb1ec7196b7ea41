"""The sample browser, viewer and export dialog, driven with Pilot over synthetic runs."""

from __future__ import annotations

import json

from textual.app import App
from textual.widgets import Checkbox, DataTable, Input, Static

from grpo_tui.core.run.synthetic import make_run
from grpo_tui.tui.screens.export import ExportScreen
from grpo_tui.tui.screens.samples import SampleBrowserScreen
from grpo_tui.tui.screens.viewer import CompletionViewerScreen

EVIL = "[bold red]RED[/] \x1b[31mansi\x1b]0;pwned\x07 \u202eabc"


def _hook(step, group, idx, text):
    return EVIL if (step, group, idx) == (4, 0, 0) else text


class BrowserApp(App):
    def __init__(self, run):
        super().__init__()
        self.run_dir = run

    def on_mount(self) -> None:
        self.push_screen(SampleBrowserScreen(self.run_dir))


async def _settle(pilot, screen, cond, tries=100):
    for _ in range(tries):
        await pilot.pause(0.05)
        if cond():
            return
    raise AssertionError("the browser did not settle")


async def test_browse_a_step_open_a_completion_and_read_it_literally():
    run = make_run(4, groups=2, completion_hook=_hook)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, SampleBrowserScreen)
        await _settle(pilot, screen, lambda: screen.step == 4 and screen.rows)
        steps = screen.query_one("#steps", DataTable)
        assert steps.row_count == 4  # newest first
        rows = screen.query_one("#rows", DataTable)
        groups = {r["group"] for r in screen.rows}
        assert groups == {0, 1} and rows.row_count == len(screen.rows) + len(groups)  # a header row per group
        # the evil completion's cell is literal text: markup characters kept, ESC made visible
        assert rows.cursor_row == 1  # on the first completion, under its group's header
        cell = rows.get_row_at(1)[-1]
        assert "[bold red]RED[/]" in cell.plain and "\x1b" not in cell.plain and "␛" in cell.plain
        assert not any("red" in str(span.style) for span in cell.spans)
        rows.focus()
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, CompletionViewerScreen)
        shown = app.screen.query_one("#viewer-completion", Static).render()
        assert "[bold red]RED[/]" in str(shown) and "\x1b" not in str(shown) and "<U+202E>" in str(shown)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, SampleBrowserScreen)
        # older step via the step list
        steps.focus()
        await pilot.press("down")
        await _settle(pilot, screen, lambda: screen.step == 3)


def _with_known_step(run, step: int):
    """Append a step of hand-written rows: two cut at the length cap, one holding a search word."""
    from grpo_tui.core.run import events as ev

    w = ev.EventWriter(run.samples)
    w.emit(ev.SAMPLES, step, rows=[
        {"prompt": "2+2=", "completion": text, "reward": reward, "rewards": {"f": reward}, "truncated": cut,
         "group": g, "advantage": 0.0, "length": 8}
        for text, reward, cut, g in [("four CUT", 0.0, True, 0), ("the haystack Needle 4", 2.0, False, 0),
                                     ("five CUT", 0.0, True, 1), ("plain 4", 1.0, False, 1)]])
    w.close()
    return run


async def test_filters_narrow_the_rows_and_bad_input_is_said():
    run = _with_known_step(make_run(5, groups=2), 6)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await _settle(pilot, screen, lambda: screen.step == 6 and screen.rows)
        texts = lambda: sorted(r["completion"] for r in screen.rows)  # noqa: E731
        assert texts() == ["five CUT", "four CUT", "plain 4", "the haystack Needle 4"]
        screen.query_one("#f-search", Input).value = "needle"
        await _settle(pilot, screen, lambda: texts() == ["the haystack Needle 4"])
        screen.query_one("#f-search", Input).value = ""
        await _settle(pilot, screen, lambda: len(screen.rows) == 4)
        total = len(screen.rows)
        best = max(r["reward"] for r in screen.rows)
        screen.query_one("#f-reward", Input).value = str(best)
        await _settle(pilot, screen, lambda: 0 < len(screen.rows) < total)
        assert all(r["reward"] >= best for r in screen.rows)
        screen.query_one("#f-reward", Input).value = ""
        screen.query_one("#f-steps", Input).value = "2:3"
        await _settle(pilot, screen, lambda: screen.query_one("#steps", DataTable).row_count == 2)
        screen.query_one("#f-steps", Input).value = "x"
        await pilot.pause(0.1)
        assert "filter: steps" in str(screen.query_one("#status", Static).render())
        screen.query_one("#f-steps", Input).value = ""
        screen.query_one("#f-trunc", Checkbox).value = True
        await _settle(pilot, screen, lambda: screen.step == 6 and texts() == ["five CUT", "four CUT"])


async def _export_dialog(pilot, app) -> ExportScreen:
    await pilot.press("e")
    await pilot.pause(0.1)
    assert isinstance(app.screen, ExportScreen)
    return app.screen


async def test_export_jsonl_and_markdown_from_the_dialog(tmp_path):
    run = make_run(3, groups=2)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await _settle(pilot, screen, lambda: screen.rows)
        screen.query_one("#f-steps", Input).value = "2"
        await pilot.pause(0.2)
        screen.query_one("#steps", DataTable).focus()
        dialog = await _export_dialog(pilot, app)
        dialog.query_one("#export-path", Input).value = str(tmp_path / "f.jsonl")
        dialog.action_export()
        await _settle(pilot, dialog, lambda: dialog.result or dialog.error)
        assert dialog.error is None
        lines = (tmp_path / "f.jsonl").read_text().splitlines()
        assert dialog.result == (str(tmp_path / "f.jsonl"), len(lines)) and lines
        assert {json.loads(x)["step"] for x in lines} == {2}  # the current filter
        await _settle(pilot, screen, lambda: app.screen is screen)  # success closes the dialog
        # whole run, Markdown, default destination
        dialog = await _export_dialog(pilot, app)
        dialog.query_one("#fmt-md").value = True
        dialog.query_one("#scope-all").value = True
        await pilot.pause(0.1)
        dialog.action_export()
        await _settle(pilot, dialog, lambda: dialog.result or dialog.error)
        path, n = dialog.result
        assert path.endswith(".md") and str(run.exports) in path and n > len(lines)
        assert "## Step 1" in open(path).read()
        await _settle(pilot, screen, lambda: app.screen is screen)
        # an unwritable place: the error is shown in the dialog, which stays open; nothing raised
        (tmp_path / "file").write_text("x")
        dialog = await _export_dialog(pilot, app)
        dialog.query_one("#export-path", Input).value = str(tmp_path / "file" / "x.md")
        dialog.action_export()
        await _settle(pilot, dialog, lambda: dialog.error)
        assert "not a directory" in dialog.error and app.screen is dialog


async def test_after_ctrl_s_export_the_browser_keys_work_at_once(tmp_path):
    """Issue 15, as a new user did it: type a path, ctrl+s, then r to resume. The dialog used to stay
    open with the focus in its path box, so r went into the path and the run stayed paused."""
    run = make_run(3, groups=2)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await _settle(pilot, screen, lambda: screen.rows)
        dialog = await _export_dialog(pilot, app)
        dialog.query_one("#export-path", Input).focus()
        await pilot.press(*str(tmp_path / "out.jsonl"))
        await pilot.press("ctrl+s")
        await _settle(pilot, screen, lambda: app.screen is screen)
        assert (tmp_path / "out.jsonl").read_text().count("\n") == len(screen.rows) * 3  # 3 steps
        assert any("written to" in str(n.message) and "out.jsonl" in str(n.message) for n in app._notifications)
        assert app.focused is screen.query_one("#rows", DataTable)
        await pilot.press("r")
        await pilot.pause(0.1)
        assert [c["command"] for c in run.pending_commands()] == ["resume"]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, SampleBrowserScreen)


async def test_focus_comes_back_to_the_completions_when_it_was_lost():
    """Whatever closed on top of the browser, its keys work without a Tab first."""
    run = make_run(2)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await _settle(pilot, screen, lambda: screen.rows)
        dialog = await _export_dialog(pilot, app)
        screen.set_focus(None)  # focus nowhere on the browser while the dialog is up
        await pilot.press("escape")
        await _settle(pilot, screen, lambda: app.screen is screen and app.focused is not None)
        assert app.focused is screen.query_one("#rows", DataTable)
        await pilot.press("r")
        await pilot.pause(0.1)
        assert [c["command"] for c in run.pending_commands()] == ["resume"]


async def test_each_group_shows_its_prompt_and_gold_answer():
    run = make_run(2, groups=2)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await _settle(pilot, screen, lambda: screen.step == 2 and screen.rows)
        rows = screen.query_one("#rows", DataTable)
        for group in (0, 1):
            first = next(i for i, r in enumerate(screen.rows) if r["group"] == group)
            header = rows.get_row(f"g{first}")
            line = header[-1].plain
            row = screen.rows[first]
            question = row["prompt"].split("?")[0].split()[-1]  # e.g. the '17' of 'What is 45 + 17?'
            assert f"gold {row['answer']}" in line and question in line and "asked" in line, line
        rows.focus()
        rows.move_cursor(row=0)  # a group's header: Enter opens its first completion
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, CompletionViewerScreen)


async def test_help_names_the_sample_browser_in_words():
    from grpo_tui.tui.screens.help import HelpScreen

    run = make_run(1)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        app.push_screen(HelpScreen(app.screen))
        await pilot.pause(0.1)
        title = str(app.screen.query(".help-title").first(Static).render())
        assert title == "Keys on the sample browser screen"


async def test_resume_key_writes_a_command():
    run = make_run(2)
    app = BrowserApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        app.screen.query_one("#steps", DataTable).focus()
        await pilot.press("r")
        await pilot.pause(0.1)
        assert [c["command"] for c in run.pending_commands()] == ["resume"]


async def test_columns_are_as_wide_as_what_they_show_without_a_key_press():
    """The table measures its columns when idle, and rows filled from the loading worker gave it no
    message to go idle after: live, every column stayed as narrow as its title ("+1." for +1.11,
    "<answer>7<" for a whole completion) until a key was pressed. The browser gives the widths."""
    run = make_run(3, groups=2)
    app = BrowserApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await _settle(pilot, screen, lambda: screen.step == 3 and screen.rows)
        rows_shown = list(screen.rows)
        screen._show_rows(2, rows_shown, screen.store.reward_names())  # as the worker's callback does
        table = screen.query_one("#rows", DataTable)
        width = {c.label.plain: c.get_render_width(table) - 2 * table.cell_padding for c in table.columns.values()}
        longest = max(len(r["completion"]) for r in rows_shown)
        assert width["completion"] >= min(longest, 80) > len("completion"), width  # before any idle
        assert width["adv"] >= len("+0.00"), width
