"""The dashboard screen, driven by Pilot over synthetic run directories (core.run.synthetic).

A tiny App pushes ``DashboardScreen(run)`` on its own, so these tests need nothing
from the app shell. Live runs name this test process as their trainer (its pid is
alive); a crashed run names a reaped child's pid.
"""

from __future__ import annotations

import asyncio
import os

import orjson
import pytest
from rich.style import Style
from textual.app import App
from textual.geometry import Region
from textual.widgets import Static

from grpo_tui.core.run.synthetic import T0, SyntheticWriter, dead_pid, make_run
from grpo_tui.tui.screens.confirm import StopConfirm
from grpo_tui.tui.screens.dashboard import DashboardScreen
from grpo_tui.tui.widgets.panels import RunHeader, StatusBanner
from tui_helpers import until  # noqa: E402  (one Pilot wait for all app tests)


class DashApp(App):
    def __init__(self, run, **kw):
        super().__init__()
        self.run_dir = run
        self.kw = {"resources": False, "poll_interval": 0.05, **kw}

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.run_dir, **self.kw))


def rendered(widget) -> tuple[str, list[tuple[str, Style]]]:
    """The widget's rendered text (lines joined) and its (text, style) segments."""
    width, height = widget.outer_size  # border and padding included (these widgets have no margin)
    strips = widget.render_lines(Region(0, 0, width, height))
    segs = [(seg.text, seg.style or Style()) for strip in strips for seg in strip]
    lines = ["".join(seg.text for seg in strip).rstrip() for strip in strips]
    return "\n".join(lines), segs


def header_text(app) -> str:
    return rendered(app.screen.query_one(RunHeader))[0]


async def loaded(pilot):
    await until(pilot, lambda: isinstance(pilot.app.screen, DashboardScreen) and pilot.app.screen.loaded,
                what="dashboard loaded")


def live_writer(max_steps=50, **kw) -> SyntheticWriter:
    w = SyntheticWriter.create(max_steps=max_steps, **kw)
    w.start(pid=os.getpid())
    return w


async def test_steps_arrive_as_the_log_grows_and_state_follows_events():
    w = live_writer(max_steps=50)
    w.steps(3)
    app = DashApp(w.run, open_browser_on_pause=False)  # the browser's auto-open is tested on its own
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert "TRAINING" in header_text(app) and "step 3/50" in header_text(app)
        w.steps(4)
        await until(pilot, lambda: "step 7/50" in header_text(app), what="step 7")
        w.step()  # the step finished just before the pause: its metrics and the ack arrive together
        w.control("pause", "paused")
        await until(pilot, lambda: "PAUSED" in header_text(app), what="paused")
        chart = app.screen.query_one("#rewards-chart")
        await until(pilot, lambda: chart._datasets and chart._datasets[-1].x[-1] == 8, what="chart at step 8")
        # footer bindings follow the state: resume applies now, pause does not
        assert app.screen.check_action("resume", ()) and not app.screen.check_action("pause", ())
        w.control("resume", "training")
        w.steps(1)
        await until(pilot, lambda: "TRAINING" in header_text(app) and "step 9/50" in header_text(app))
        w.finish("completed")
        await until(pilot, lambda: "COMPLETED" in header_text(app), what="completed")
        assert not app.screen.check_action("stop", ()) and app.screen.check_action("samples", ())
    w.close()


async def test_crashed_run_shows_status_log_tail_and_log_path():
    run = make_run(4, state="training", pid=dead_pid(),
                   trainer_log="step 4\nRuntimeError: CUDA error: out of memory\nKilled\n")
    app = DashApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "CRASHED" in header_text(app), what="crashed")
        await until(pilot, lambda: "Killed" in rendered(app.screen.query_one(StatusBanner))[0], what="banner")
        banner = rendered(app.screen.query_one(StatusBanner))[0]
        assert "CRASHED" in banner and "out of memory" in banner and "Killed" in banner
        unwrapped = "".join(line[2:] if line.startswith("\u2588 ") else line for line in banner.splitlines())
        assert str(run.trainer_log) in unwrapped  # where the full log is


async def test_failed_run_shows_traceback_tail():
    run = make_run(3, state="failed")
    app = DashApp(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        # the banner fills in once the log tail is read: wait for it, then check all of it
        await until(pilot, lambda: "Full log" in rendered(app.screen.query_one(StatusBanner))[0], what="banner")
        banner = rendered(app.screen.query_one(StatusBanner))[0]
        assert "FAILED" in banner and "injected failure" in banner and "Full log" in banner


async def test_pause_key_writes_a_command_and_the_ack_shows():
    w = live_writer()
    w.steps(2)
    app = DashApp(w.run, open_browser_on_pause=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("p")
        pending = w.run.pending_commands()
        assert [c["command"] for c in pending] == ["pause"]
        assert "pause sent" in header_text(app)
        # the trainer takes it at the step boundary and acknowledges with the same id
        os.unlink(pending[0]["_path"])
        w.control("pause", "paused", cid=pending[0]["id"])
        await until(pilot, lambda: "pause acknowledged" in header_text(app), what="ack")
        assert "PAUSED" in header_text(app)
        await pilot.press("r")
        assert [c["command"] for c in w.run.pending_commands()] == ["resume"]
    w.close()


@pytest.mark.parametrize("loading, says", [
    (False, "stops at the next step boundary; the adapter is saved"),
    (True, "is still loading: it ends when the current loading phase does. Nothing has been trained yet"),
])
async def test_stop_asks_for_confirmation_first(loading, says):
    w = live_writer()
    if loading:
        w.phase("loading_model", "loading Qwen/Qwen3-4B")
    else:
        w.steps(1)
    app = DashApp(w.run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("x")
        assert isinstance(app.screen, StopConfirm)
        await pilot.pause()
        assert says in " ".join(str(app.screen.query_one("#stop-text", Static).render()).split())
        await pilot.press("n")
        assert w.run.pending_commands() == []
        await pilot.press("x", "y")
        assert [c["command"] for c in w.run.pending_commands()] == ["stop"]
    w.close()


async def test_loading_phase_shows_progress():
    w = SyntheticWriter.create(max_steps=10)
    w.start(pid=os.getpid(), training=False)
    w.phase("building_vllm", "capturing CUDA graphs", progress=0.4)
    app = DashApp(w.run, clock=lambda: T0 + 95)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert "LOADING (building_vllm 1m35s)" in header_text(app)
        text = rendered(app.screen.query_one("#loading-text", Static))[0]
        assert "building_vllm" in text and "capturing CUDA graphs" in text
        assert app.screen.query_one("#loading-bar").progress == 40
    w.close()


async def test_newer_schema_and_corrupt_lines_get_a_clear_message():
    w = live_writer()
    w.steps(2)
    w.raw(orjson.dumps({"v": 7, "type": "metrics", "ts": T0, "step": 3, "metrics": {"reward": 1}}) + b"\n")
    app = DashApp(w.run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        banner = rendered(app.screen.query_one(StatusBanner))[0]
        assert "newer schema" in banner and "upgrade grpo-tui" in banner
        assert "step 2/" in header_text(app)
    w.close()


HOSTILE = "[bold red]BOLD[/] [link=https://evil.example]click[/link] \x1b[31mRED\x1b[0m \x1b]0;pwned\x07 \u202eabc"


async def test_markup_and_escapes_in_completions_render_literally():
    run = make_run(3, completion_hook=lambda s, g, i, t: HOSTILE if (g, i) == (1, 0) else t)
    app = DashApp(run)
    async with app.run_test(size=(160, 60)) as pilot:
        await loaded(pilot)
        text, segs = rendered(app.screen.query_one("#samples-text", Static))
        flat = text.replace("\n", "")
        assert "[bold red]BOLD[/]" in flat
        assert "[link=https://evil.example]click[/link]" in flat
        assert "\u241b[31mRED\u241b[0m" in flat  # ESC shown as a visible symbol, the rest as text
        assert "\u241b]0;pwned\u2407" in flat
        assert "<U+202E>abc" in flat
        for seg_text, style in segs:
            assert "\x1b" not in seg_text and "\x07" not in seg_text and "\u202e" not in seg_text
            assert style.link is None
            if "BOLD" in seg_text or "RED" in seg_text:
                assert not (style.color and style.color.name in ("red", "bright_red"))
                assert style.bold is not True


async def test_alert_appears_on_the_panel_and_as_a_notification():
    w = live_writer()
    w.steps(2)
    app = DashApp(w.run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        w.alert("no_signal", "every group has zero reward std [b]x[/b]")
        await until(pilot, lambda: any(n.title == "no_signal" for n in app._notifications), what="toast")
        alerts = rendered(app.screen.query_one("#alerts", Static))[0]
        assert "no_signal" in alerts and "[b]x[/b]" in alerts
    w.close()


async def test_alerts_from_before_attaching_are_on_the_panel_but_not_toasts():
    w = live_writer()
    w.steps(2)
    w.alert("kl_spike", "kl jumped")
    app = DashApp(w.run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        # the panel shows it: the render that decided about toasting it is done
        await until(pilot, lambda: "kl_spike" in rendered(app.screen.query_one("#alerts", Static))[0],
                    what="kl_spike on the panel")
        assert not [n for n in app._notifications if n.title == "kl_spike"]
        w.alert("no_signal", "every group has zero reward std")
        await until(pilot, lambda: any(n.title == "no_signal" for n in app._notifications), what="toast")
        assert not [n for n in app._notifications if n.title == "kl_spike"]
    w.close()


async def test_narrow_terminal_collapses_to_one_column():
    run = make_run(10)
    app = DashApp(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert app.screen.has_class("narrow")
        body = app.screen.query_one("#body")
        await pilot.press("5")
        await until(pilot, lambda: body.scroll_y > 0, what="jump to samples")


async def test_vram_panel_with_a_gpu_shows_use_share_and_plan_vs_peak():
    from grpo_tui.core.planning import hardware
    from grpo_tui.core.planning.fakenvml import FakeGpu, FakeNVML, FakeProcess

    gib = 2**30
    fake = FakeNVML([FakeGpu("NVIDIA GeForce RTX 4090", 24564, (8, 9), used_mib=12 * 1024,
                             processes=[FakeProcess(os.getpid(), 7 * gib)])])
    hardware.set_backend(fake)
    try:
        w = live_writer()
        w.steps(2)
        app = DashApp(w.run, resources=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            panel = app.screen.query_one("#memory-panel")
            text = lambda: rendered(app.screen.query_one("#memory-text", Static))[0]  # noqa: E731
            # the trainer's pid is known once the log is read; its share shows from the next reading
            await until(pilot, lambda: "trainer's share 7.0 GiB" in text(), what="VRAM readings")
            assert panel.border_title == "VRAM"
            assert "GPU0" in text() and "12.0/24.0 GiB" in text()
        w.close()
    finally:
        hardware.set_backend(None)


async def test_vram_panel_compares_plan_with_measured_peak():
    from grpo_tui.core.planning import hardware
    from grpo_tui.core.planning.fakenvml import FakeGpu, FakeNVML, FakeProcess

    gib = 2**30
    hardware.set_backend(FakeNVML([FakeGpu("NVIDIA GeForce RTX 4090", 24564, (8, 9), used_mib=8 * 1024,
                                           processes=[FakeProcess(os.getpid(), 5 * gib)])]))
    try:
        w = SyntheticWriter.create(max_steps=20, plan=True)
        w.start(pid=os.getpid())
        w.steps(2)
        app = DashApp(w.run, resources=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            plan = lambda: rendered(app.screen.query_one("#memory-plan", Static))[0]  # noqa: E731
            await until(pilot, lambda: "peak 5.0 GiB" in plan(), what="peak")
            assert "planned 6.2 GiB (fits)" in plan()
        w.close()
    finally:
        hardware.set_backend(None)


async def test_run_directory_deleted_while_attached():
    import shutil

    w = live_writer()
    w.steps(2)
    w.close()
    app = DashApp(w.run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        shutil.rmtree(w.run.path)
        banner = app.screen.query_one(StatusBanner)
        await until(pilot, lambda: "deleted" in rendered(banner)[0], what="deleted message")
        assert "step 2/" in header_text(app)  # what was read stays on screen


async def test_pause_ack_opens_the_sample_browser(monkeypatch):
    """By contract with the samples engineer's screen: SampleBrowserScreen(run) is pushed on a pause ack."""
    import sys
    import types

    from textual.screen import Screen

    opened = []

    class SampleBrowserScreen(Screen):
        def __init__(self, run):
            super().__init__()
            opened.append(run)

    stand_in = types.ModuleType("grpo_tui.tui.screens.samples")
    stand_in.SampleBrowserScreen = SampleBrowserScreen
    monkeypatch.setitem(sys.modules, "grpo_tui.tui.screens.samples", stand_in)
    w = live_writer()
    w.steps(2)
    app = DashApp(w.run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("p")
        cid = w.run.pending_commands()[0]["id"]
        w.control("pause", "paused", cid=cid)
        await until(pilot, lambda: isinstance(app.screen, SampleBrowserScreen), what="browser opened")
        assert opened == [w.run]
    w.close()


async def test_covered_dashboard_does_not_redraw_and_catches_up_when_shown():
    from textual.screen import Screen

    w = live_writer(max_steps=50)
    w.steps(2)
    app = DashApp(w.run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        dash = app.screen
        await app.push_screen(Screen())
        w.steps(3)
        await until(pilot, lambda: dash.monitor.snapshot().summary.step == 5, what="model at step 5")
        # a render came for the new steps and was held back (the positive signal), not drawn
        await until(pilot, lambda: dash._behind and dash.snap.summary.step == 5, what="a held-back render")
        assert "step 2/50" in header_text_of(dash)  # not redrawn under the other screen
        app.pop_screen()
        await until(pilot, lambda: "step 5/50" in header_text(app), what="caught up")
    w.close()


def header_text_of(screen) -> str:
    return str(screen.query_one(RunHeader)._shown_text.plain)


async def test_killed_trainer_shows_as_crashed_within_seconds():
    import signal
    import subprocess
    import sys

    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        w = SyntheticWriter.create(max_steps=50)
        w.start(pid=trainer.pid)
        w.steps(3)
        w.close()
        (w.run.trainer_log).write_text("step 3\nabout to be killed\n")
        app = DashApp(w.run)
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            assert "TRAINING" in header_text(app)
            loop = asyncio.get_running_loop()
            trainer.send_signal(signal.SIGKILL)
            trainer.wait()
            t0 = loop.time()
            await until(pilot, lambda: "CRASHED" in header_text(app), timeout=10, what="crashed")
            took = loop.time() - t0
            banner = app.screen.query_one(StatusBanner)
            # drawn in the same render as the header; laid out (it was hidden until now) on the next refresh
            await until(pilot, lambda: "about to be killed" in rendered(banner)[0], timeout=2, what="banner")
            assert took < 5.0, f"crash shown after {took:.1f} s"  # ~1 s by design (liveness checked at 1 Hz)
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()


async def test_attaching_to_a_paused_run_shows_the_dashboard_not_the_browser():
    from grpo_tui.tui.screens.samples import SampleBrowserScreen

    w = live_writer(max_steps=20)
    w.steps(5)
    w.control("pause", "paused")
    app = DashApp(w.run)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        dash = app.screen
        await until(pilot, lambda: "pause acknowledged" in header_text(app), what="the pause read")
        # The dashboard opens the browser with call_later after reading a pause; a callback queued now
        # runs after that one would have (one queue, in order): the positive signal to check against.
        queued = asyncio.Event()
        dash.call_later(queued.set)
        await until(pilot, queued.is_set, what="the queued callback")
        assert app.screen is dash and "PAUSED" in header_text(app)
        # A pause that arrives while watching does open the real browser (the check above can fail).
        w.control("resume", "training")
        w.steps(1)
        await until(pilot, lambda: "TRAINING" in header_text(app), what="resumed")
        w.control("pause", "paused")
        await until(pilot, lambda: isinstance(app.screen, SampleBrowserScreen), what="the sample browser")
    w.close()


async def test_held_out_accuracy_shows_in_the_header_as_evals_arrive():
    w = live_writer(max_steps=50)
    app = DashApp(w.run, open_browser_on_pause=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert "held-out accuracy" not in header_text(app)  # no third line for runs that do not evaluate
        w.emit("eval", name="openai/gsm8k/test", accuracy=0.21, n=200, correct=42, when="before", split="test")
        await until(pilot, lambda: "held-out accuracy before 21.0%  on openai/gsm8k/test (n 200)"
                    in header_text(app), what="eval before")
        w.steps(2)
        w.emit("eval", name="openai/gsm8k/test", accuracy=0.435, n=200, correct=87, when="after", split="test")
        await until(pilot, lambda: "before 21.0% -> after 43.5%" in header_text(app), what="eval after")
    w.close()
