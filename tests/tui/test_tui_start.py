"""The start screen and the app shell, driven with Textual's Pilot."""

from __future__ import annotations

import os
import signal
import time

import pytest
from textual.widgets import DataTable, Input, Static

from grpo_tui.core.planning import planner
from grpo_tui.core.run.rundir import list_runs, summarize
from grpo_tui.tui.screens.start import StartScreen
from grpo_tui.tui.widgets.memory_bar import MemoryBar, split_cells

from tui_helpers import fixed_presets, make_app, synthetic_run
from tui_helpers import until  # noqa: E402  (one Pilot wait for all app tests)


async def ready(pilot) -> StartScreen:
    """The start screen once the hardware survey and the runs scan have landed."""
    await until(pilot, lambda: isinstance(pilot.app.screen, StartScreen) and pilot.app.screen.selected is not None,
                what="the survey")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return pilot.app.screen


def text_of(widget: Static) -> str:
    return str(widget.render())


async def pick(pilot, screen: StartScreen, preset: str) -> DataTable:
    """Move the presets table's cursor to ``preset``, as the arrow keys would; the table."""
    table = screen.query_one("#presets", DataTable)
    table.move_cursor(row=table.get_row_index(preset))
    await pilot.pause()
    return table


async def set_knob(pilot, screen: StartScreen, name: str, value: str) -> None:
    inp = screen.query_one(f"#knob-{name}", Input)
    inp.focus()
    await pilot.pause()
    inp.value = ""
    await pilot.press(*list(value))
    await pilot.pause()


# -- hardware and presets ---------------------------------------------------------------------
async def test_gpu_detected_and_recommended_preset_selected():
    app = make_app("RTX 4090")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        hw_text = text_of(screen.query_one("#hw", Static))
        assert "RTX 4090" in hw_text and "24.0 GiB" in hw_text and "driver" in hw_text
        expected = planner.recommend(fixed_presets(), app.detect_hardware())
        assert screen.recommended == expected.name
        table = screen.query_one("#presets", DataTable)
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert row_key == expected.name == screen.selected
        # every row carries the planner's verdict
        for name, plan in expected.plans.items():
            cell = str(table.get_cell(name, "verdict"))
            assert cell.split()[0] in ("fits", "tight", "no"), (name, cell)
            assert (plan.verdict in ("fits", "cpu")) == cell.startswith("fits")
        # the knobs hold the selected preset's values
        cfg = fixed_presets()[expected.name].config
        assert screen.query_one("#knob-lora_rank", Input).value == str(cfg.lora_rank)
        assert screen.query_one("#bar", MemoryBar).data.capacity == pytest.approx(24.0, abs=0.1)


async def test_no_gpu_says_so_and_picks_the_cpu_preset():
    app = make_app("none")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        assert "no NVIDIA GPU — CPU preset" in text_of(screen.query_one("#hw", Static))
        assert screen.selected == "demo-cpu"
        bar = screen.query_one("#bar", MemoryBar)
        assert bar.data.where == "free RAM"  # the plan is held against the RAM free now
        legend = bar.render().plain.splitlines()[1]
        assert legend.startswith(f"CPU · {bar.data.used:.1f} of {bar.data.capacity:.1f} GiB free RAM  "), legend
        # GPU presets are marked as not runnable here
        table = screen.query_one("#presets", DataTable)
        assert str(table.get_cell("demo-24gb", "verdict")).startswith("no")


async def test_moving_the_cursor_selects_another_preset():
    app = make_app("RTX 4090")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        table = screen.query_one("#presets", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("demo-16gb"))
        await pilot.pause()
        assert screen.selected == "demo-16gb"
        assert screen.query_one("#knob-model", Input).value == "Qwen/Qwen3-4B"
        assert screen.current.plan.total == pytest.approx(
            planner.plan(fixed_presets()["demo-16gb"].config, app.detect_hardware().vram_gb,
                         ram_gb=24.0).total)


# -- knobs: validation as you type, live plan ---------------------------------------------------
async def test_invalid_knob_shows_error_valid_one_updates_bar_and_verdict():
    app = make_app("RTX 4090")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        table = await pick(pilot, screen, "demo-16gb")
        before = screen.query_one("#bar", MemoryBar).data
        assert before is not None and before.verdict == "fits"

        # a group of 1 compares nothing -> inline error, input marked, no plan
        await set_knob(pilot, screen, "num_generations", "1")
        err = text_of(screen.query_one("#knob-error", Static))
        assert "num_generations" in err and "at least 2" in err
        assert screen.query_one("#knob-num_generations", Input).has_class("-invalid-config")
        assert screen.query_one("#bar", MemoryBar).data is None
        assert str(table.get_cell("demo-16gb", "verdict")) == "invalid"
        # Enter with an invalid config starts nothing
        await pilot.press("enter")
        await pilot.pause()
        assert list_runs() == []

        # valid again
        await set_knob(pilot, screen, "num_generations", "4")
        assert not screen.query_one("#knob-num_generations", Input).has_class("-invalid-config")
        assert screen.query_one("#bar", MemoryBar).data == before

        # a range error on another knob, then an empty model (the Input's own validator flags it)
        await set_knob(pilot, screen, "gpu_memory_utilization", "1.5")
        assert "gpu_memory_utilization" in text_of(screen.query_one("#knob-error", Static))
        await set_knob(pilot, screen, "gpu_memory_utilization", "0.5")
        await set_knob(pilot, screen, "model", "")
        model = screen.query_one("#knob-model", Input)
        assert model.has_class("-invalid") and "model" in text_of(screen.query_one("#knob-error", Static))

        # a bigger model: the bar and the row's verdict follow
        await set_knob(pilot, screen, "model", "Qwen/Qwen3-32B")
        after = screen.query_one("#bar", MemoryBar).data
        assert after is not None and after.used > before.used
        assert after.verdict == "no"
        assert str(table.get_cell("demo-16gb", "verdict")) == "no"
        assert str(table.get_cell("demo-16gb", "preset")) == "demo-16gb*"  # edited mark
        expected = planner.plan(
            fixed_presets()["demo-16gb"].config.with_overrides({"model": "Qwen/Qwen3-32B"}), 24.0)
        assert after.used == pytest.approx(sum(v for k, v in expected.groups().items() if k != "headroom"), abs=0.01)


async def test_starting_a_config_that_does_not_fit_is_refused():
    app = make_app("T4")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        table = await pick(pilot, screen, "demo-24gb")
        await set_knob(pilot, screen, "model", "Qwen/Qwen3-32B")
        await pilot.press("enter")
        await pilot.pause()
        assert list_runs() == []
        assert any("will not fit" in (n.title or "") for n in app._notifications)


# -- recent runs ---------------------------------------------------------------------------------
async def test_recent_runs_live_first_and_enter_attaches(monkeypatch):
    synthetic_run("20260101-000000-old-done", state="completed")
    live = synthetic_run("20260102-000000-live", state="live", steps=7, max_steps=50)
    synthetic_run("20260103-000000-new-failed", state="failed")
    opened = []
    app = make_app("RTX 4090")
    monkeypatch.setattr(app, "open_run", lambda run: opened.append(run.id))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        table = screen.query_one("#runs", DataTable)
        order = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert order == ["20260102-000000-live", "20260103-000000-new-failed", "20260101-000000-old-done"]
        assert str(table.get_cell(live.id, "state")) == "training"
        assert str(table.get_cell(live.id, "step")) == "7/50"
        assert str(table.get_cell("20260103-000000-new-failed", "state")) == "failed"
        await pilot.press("r")  # focus the run list
        assert app.focused is table
        await pilot.press("down", "enter")
        assert opened == ["20260103-000000-new-failed"]


async def test_no_runs_says_so_without_an_empty_table_then_a_new_run_is_listed():
    app = make_app("RTX 4090")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        empty, table = screen.query_one("#runs-empty", Static), screen.query_one("#runs", DataTable)
        assert empty.display and "no runs yet" in text_of(empty)
        assert not table.display  # no column header under "no runs yet"
        synthetic_run("20260104-000000-first", state="completed")
        await pilot.press("f5")
        await until(pilot, lambda: table.row_count == 1, what="the rescan")
        await pilot.pause()
        assert table.display and not empty.display


async def test_short_terminal_flips_between_new_run_and_runs():
    synthetic_run("20260101-000000-done", state="completed")
    app = make_app("RTX 4090")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        assert screen.has_class("-short")
        assert not screen.query_one("#runs-panel").display or not screen.query_one("#runs-panel").region
        await pilot.press("r")
        assert screen.query_one("#runs-panel").region.height > 0
        assert screen.query_one("#new-run").region.height == 0
        await pilot.press("escape")
        assert screen.query_one("#new-run").region.height > 0
        assert app.focused.id == "presets"


# -- shell: help, theme, quit ------------------------------------------------------------------
async def test_help_lists_this_screens_keys_and_closes():
    from grpo_tui.tui.screens.help import HelpScreen

    app = make_app("RTX 4090")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        descriptions = {d for _, d, _ in app.screen.rows}
        assert {"Start run", "Runs", "Quit", "Keys"} <= descriptions
        await pilot.press("escape")
        assert isinstance(app.screen, StartScreen)


async def test_theme_toggle_is_saved_and_reloaded(monkeypatch):
    from grpo_tui.tui.settings import AppSettings

    monkeypatch.delenv("GRPO_TUI_THEME", raising=False)
    app = make_app("RTX 4090")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        dark = app.theme
        await pilot.press("t")
        assert app.theme != dark and not app.current_theme.dark
    assert AppSettings.load().theme == app.theme
    app2 = make_app("RTX 4090")
    async with app2.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app2.theme == app.theme
    monkeypatch.setenv("GRPO_TUI_THEME", "ansi")  # the 16-colour theme on request
    app3 = make_app("RTX 4090")
    async with app3.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app3.current_theme.ansi


async def test_quit_on_a_live_run_confirms_and_says_how_to_come_back():
    from grpo_tui.tui.screens.confirm import QuitScreen

    live = synthetic_run("20260102-000000-live", state="live")
    app = make_app("RTX 4090")
    app.open_run = app.track_run  # watch it without the dashboard
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        app.open_run(live)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")  # stay
        assert isinstance(app.screen, StartScreen)
        await pilot.press("q")
        await pilot.press("q")  # confirm
        await pilot.pause()
    message = str(app.detach_message())
    assert f"grpo-tui attach {live.id}" in message and "keeps training" in message
    assert app.return_code == 0


async def test_quit_without_a_run_exits_at_once():
    app = make_app("RTX 4090")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app._exit
    assert app.detach_message() is None


# -- run_app: bad input before any screen ------------------------------------------------------
def test_run_app_bad_attach_is_one_line_exit_2(tmp_path, capsys):
    from grpo_tui.tui.entry import run_app

    assert run_app(attach="no-such-run") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("grpo-tui: error:") and "no-such-run" in err and "\n" not in err

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    assert run_app(attach=str(foreign)) == 2
    assert "not a grpo-tui run directory" in capsys.readouterr().err

    broken = synthetic_run("20260101-000000-broken")
    broken.run_json.write_text("{not json")
    assert run_app(attach=str(broken.path)) == 2
    assert "run.json" in capsys.readouterr().err

    assert run_app(preset="no-such-preset") == 2
    assert "unknown preset" in capsys.readouterr().err


# -- Enter starts a real tiny run -----------------------------------------------------------------
async def test_enter_starts_a_real_tiny_run_and_opens_it(monkeypatch):
    """cpu-tiny with max_steps=2 through the real launcher; the trainer really trains."""
    from grpo_tui.core.planning.presets import discover

    # the shipped cpu-tiny preset (not a fixture copy): this is what a user starts
    app = make_app("none")
    app.load_presets = lambda: {"cpu-tiny": discover()["cpu-tiny"]}
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        assert screen.selected == "cpu-tiny"
        await set_knob(pilot, screen, "max_steps", "2")
        await set_knob(pilot, screen, "max_completion_length", "8")
        await pilot.press("enter")
        await until(pilot, lambda: app.current_run is not None, timeout=60, what="the launch")
        run = app.current_run
        try:
            cfg = run.config()
            assert cfg["max_steps"] == 2 and cfg["max_completion_length"] == 8 and cfg["name"] == "cpu-tiny"
            try:
                from grpo_tui.tui.screens.dashboard import DashboardScreen
            except ImportError:
                DashboardScreen = None
            if DashboardScreen is not None:
                assert isinstance(app.screen, DashboardScreen)
            else:
                assert any("dashboard" in n.message for n in app._notifications)
            # the trainer runs detached and finishes on its own
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and summarize(run).live:
                await pilot.pause(0.5)
            s = summarize(run)
            assert s.state == "completed", (s.state, run.log_tail(30))
            assert s.step == 2
        finally:
            pid, _ = run.launched_pid()
            if pid and summarize(run).live:
                os.kill(pid, signal.SIGKILL)


def test_split_cells_keeps_every_part_and_the_width():
    assert split_cells([1.0, 1.0, 2.0], 4.0, 8) == [2, 2, 4]
    cells = split_cells([10.0, 0.01, 5.0], 20.0, 40)
    assert cells[1] == 1 and sum(cells) <= 40
    assert sum(split_cells([30.0, 10.0], 24.0, 20)) == 20  # over capacity: clipped to the width


def test_runs_index_reads_only_what_was_appended_and_matches_summarize():
    from grpo_tui.core.run import events as ev
    from grpo_tui.tui.runs_index import RunsIndex

    run = synthetic_run("20260102-000000-live", state="live", steps=3, max_steps=50)
    index = RunsIndex()
    (first,) = index.refresh()
    assert (first.state, first.step) == ("training", 3)
    assert index._runs[run.id].offset == run.events.stat().st_size
    with ev.EventWriter(run.events) as w:
        w.emit(ev.METRICS, step=4, metrics={"reward": 0.9})
        w.emit(ev.FINISHED, step=4, status="completed")
    (after,) = index.refresh()
    expected = summarize(run)
    assert (after.state, after.step, after.last_reward) == (expected.state, expected.step, expected.last_reward)
    assert after.state == "completed" and after.step == 4
    run_gone = synthetic_run("20260101-000000-old", state="completed")
    assert [s.id for s in index.refresh()] == [run.id, run_gone.id]


async def test_no_color_keeps_the_memory_split_readable(monkeypatch):
    """NO_COLOR: Textual drops colour; the bar's parts differ by glyph, the verdict is a word."""
    from grpo_tui.tui.widgets.memory_bar import HEADROOM_GLYPH, SEGMENTS

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app("RTX 4090")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        assert app.no_color
        bar = screen.query_one("#bar", MemoryBar)
        line, legend = bar.render().plain.split("\n")
        shown = {glyph for key, _label, glyph, _cls in SEGMENTS if bar.data.groups.get(key, 0) > 0}
        assert len(shown) >= 3 and all(g in line for g in shown) and HEADROOM_GLYPH in line
        assert bar.data.verdict in legend


def test_sixteen_colour_terminals_get_the_ansi_themes():
    from grpo_tui.tui.settings import resolve_theme, toggled

    assert resolve_theme("auto", sixteen_colours=True) == "ansi-dark"
    assert resolve_theme("light", sixteen_colours=True) == "ansi-light"
    assert resolve_theme("auto", sixteen_colours=False) == "textual-dark"
    assert toggled("ansi-dark") == "ansi-light" and toggled("textual-light") == "textual-dark"


async def test_attach_opens_the_dashboard_and_q_detaches_with_the_way_back():
    """`grpo-tui attach RUN` path: dashboard on top of the start screen; q asks, then leaves the run alone."""
    from grpo_tui.tui.screens.confirm import QuitScreen
    from grpo_tui.tui.screens.dashboard import DashboardScreen  # a broken dashboard fails here
    live = synthetic_run("20260102-000000-live", state="live", steps=4, max_steps=50)
    app = make_app("none", attach=live)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
        assert app.current_run.id == live.id
        assert isinstance(app.screen_stack[0], StartScreen)  # Esc on the dashboard comes back here
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit confirmation")
        await pilot.press("q")
        await pilot.pause()
    assert f"grpo-tui attach {live.id}" in str(app.detach_message())
    assert summarize(live).state == "training"  # quitting sent no command to the run
    assert live.pending_commands() == []


async def test_attach_then_esc_shows_the_start_screen_with_its_runs():
    """Under a dashboard opened at start the start screen neither surveys nor scans; Esc back to it
    does both."""
    from grpo_tui.tui.screens.dashboard import DashboardScreen
    live = synthetic_run("20260102-000000-live", state="live", steps=4, max_steps=50)
    app = make_app("none", attach=live)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
        await pilot.pause(0.5)
        start = app.screen_stack[0]
        # no survey under the dashboard (NVML, presets, planning: GIL time its first frame needs)
        assert start.hardware is None and start.selected is None
        await pilot.press("escape")
        screen = await ready(pilot)
        await until(pilot, lambda: screen.query("#runs") and screen.query_one("#runs", DataTable).row_count == 1,
                    what="the run list")
        assert screen.query_one("#runs", DataTable).display


async def test_rescan_keeps_the_chosen_preset_and_edits():
    app = make_app("RTX 4090")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        table = await pick(pilot, screen, "demo-16gb")
        await set_knob(pilot, screen, "lora_rank", "16")
        table.focus()
        await pilot.press("f5")
        await until(pilot, lambda: not any(w.is_running for w in app.workers), what="the rescan")
        await pilot.pause()
        assert screen.selected == "demo-16gb"
        assert screen.query_one("#knob-lora_rank", Input).value == "16"
        assert str(table.get_cell("demo-16gb", "preset")) == "demo-16gb*"


async def test_markup_in_knobs_and_names_is_shown_literally():
    """A model id or preset name holding Rich markup must neither style anything nor crash the app."""
    app = make_app("RTX 4090")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        table = screen.query_one("#presets", DataTable)
        for text in ("[bold red]evil[/]", "[/]", "[link=http://x]y"):
            await set_knob(pilot, screen, "model", text)
            cell = table.get_cell(screen.selected, "model")
            assert cell.plain == text and not cell.spans
        await set_knob(pilot, screen, "max_steps", "")
        await pilot.press(*"[/]")  # type=integer rejects it; nothing breaks
        await pilot.press("enter")  # invalid: a notification quoting the error, not a crash
        await pilot.pause()
        assert app.is_running and list_runs() == []


async def test_preset_from_the_command_line_is_preselected():
    app = make_app("RTX 4090", preset="demo-16gb")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        assert screen.recommended == "demo-24gb" and screen.selected == "demo-16gb"


async def test_a_launch_the_launcher_refuses_is_reported_and_leaves_nothing():
    """The launcher's own pre-flight (here: a local model folder that does not exist) runs in a worker."""
    app = make_app("none")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        assert screen.selected == "demo-cpu"
        await set_knob(pilot, screen, "model", "./no-such-model-folder")
        await pilot.press("enter")
        await until(pilot, lambda: any(n.title == "the run did not start" for n in app._notifications),
                    what="the launch failure")
        assert "no-such-model-folder" in next(n.message for n in app._notifications
                                              if n.title == "the run did not start")
        assert list_runs() == [] and app.current_run is None and not screen.launching


async def test_first_frame_before_the_survey_then_knobs_arrive_with_it():
    """Slow NVML must not hold the first frame: it shows 'detecting hardware…', knobs come with the data."""
    import threading

    from tui_helpers import fixed_hardware

    gate = threading.Event()
    hw = fixed_hardware("RTX 4090")

    def slow_detect():
        gate.wait(10)
        return hw

    app = make_app("RTX 4090")
    app.detect_hardware = slow_detect
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, StartScreen)
        assert "detecting hardware" in text_of(screen.query_one("#hw", Static))
        assert not screen.query("#knobs Input") and screen.selected is None
        await pilot.press("enter")  # too early: says so, starts nothing
        assert any("still detecting" in n.message for n in app._notifications)
        gate.set()
        screen = await ready(pilot)
        assert len(screen.query("#knobs Input")) == len(screen.query("#knobs Label")) == 6
        assert "RTX 4090" in text_of(screen.query_one("#hw", Static))


async def test_quitting_as_the_survey_and_the_scan_land_raises_nothing():
    """`q` in the moment the workers' results arrive: their handlers must not mount into a closing screen
    (Textual's MountError, a traceback on the user's terminal)."""
    import threading

    from grpo_tui.tui.screens.start import RunsScanned, Surveyed
    from tui_helpers import fixed_hardware

    gate = threading.Event()
    hw = fixed_hardware("RTX 4090")
    app = make_app("RTX 4090")
    app.detect_hardware = lambda: (gate.wait(10), hw)[1]
    presets = fixed_presets()
    rec = planner.recommend({n: p for n, p in presets.items() if p.ok}, hw, ram_gb=hw.host.ram_available_gb)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, StartScreen) and not screen.query("#presets")  # the survey has not landed
        app.exit()
        screen.post_message(Surveyed(hw, presets, dict(rec.plans), rec.name, rec.reason))
        screen.post_message(RunsScanned([]))
        gate.set()
        await pilot.pause(0.2)
    assert app._exception is None, app._exception
