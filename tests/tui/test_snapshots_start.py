"""SVG snapshots of the start screen, help and quit confirmation at 80x24 and 120x40.

Stable by construction: a fake GPU and a fixed host (tests/tui_helpers.py), the
fixture presets in tests/data/snapshot_presets (not the shipped ones, which are
tuned over time), synthetic runs with fixed ids, the dark theme pinned, and the
cursor blink off. Update after an intended change with
``pytest tests/tui/test_snapshots_start.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tui_helpers import make_app, synthetic_run


@pytest.fixture(autouse=True)
def _pinned(monkeypatch):
    monkeypatch.setenv("GRPO_TUI_THEME", "dark")


def _runs():
    synthetic_run("20260101-090000-demo-cpu-0a1b", state="completed", steps=20, max_steps=20, preset="demo-cpu",
                  evals={"before": 0.21, "after": 0.43})
    synthetic_run("20260102-100000-demo-16gb-2c3d", state="live", steps=7, max_steps=500, preset="demo-16gb")
    synthetic_run("20260103-110000-demo-cpu-4e5f", state="failed", steps=3, max_steps=300, preset="demo-cpu")


def settle(*keys: str, knob: tuple[str, str] | None = None):
    async def run_before(pilot):
        app = pilot.app
        for _ in range(200):
            if getattr(app.screen, "selected", None):
                break
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        for inp in app.screen.query(Input):
            inp.cursor_blink = False
        if knob is not None:
            inp = app.screen.query_one(f"#knob-{knob[0]}", Input)
            inp.focus()
            inp.value = knob[1]
            await pilot.pause()
        if keys:
            await pilot.press(*keys)
        for inp in app.screen.query(Input):
            inp.cursor_blink = False
        await pilot.pause()

    return run_before


def test_start_120x40(snap_compare):
    _runs()
    assert snap_compare(make_app("RTX 4090"), terminal_size=(120, 40), run_before=settle())


def test_start_80x24(snap_compare):
    _runs()
    assert snap_compare(make_app("RTX 4090"), terminal_size=(80, 24), run_before=settle())


def test_start_80x24_run_list(snap_compare):
    _runs()
    assert snap_compare(make_app("RTX 4090"), terminal_size=(80, 24), run_before=settle("r"))


def test_start_invalid_knob_120x40(snap_compare):
    assert snap_compare(make_app("T4"), terminal_size=(120, 40),
                        run_before=settle(knob=("num_generations", "1")))


def test_start_no_gpu_80x24(snap_compare):
    assert snap_compare(make_app("none"), terminal_size=(80, 24), run_before=settle())


def test_help_80x24(snap_compare):
    assert snap_compare(make_app("RTX 4090"), terminal_size=(80, 24), run_before=settle("question_mark"))


def test_help_120x40(snap_compare):
    assert snap_compare(make_app("RTX 4090"), terminal_size=(120, 40), run_before=settle("question_mark"))


def test_quit_confirmation_80x24(snap_compare):
    _runs()
    app = make_app("RTX 4090")

    async def before(pilot):
        await settle()(pilot)
        from grpo_tui.core.run.run_ref import resolve_run

        app.track_run(resolve_run("20260102-100000-demo-16gb-2c3d"))  # watching a live run
        await pilot.press("q")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_start_light_theme_120x40(snap_compare, monkeypatch):
    monkeypatch.setenv("GRPO_TUI_THEME", "light")
    _runs()
    assert snap_compare(make_app("RTX 4090"), terminal_size=(120, 40), run_before=settle())


def test_start_16_colour_theme_80x24(snap_compare, monkeypatch):
    """The terminal's own 16 colours (chosen automatically on a 16-colour terminal)."""
    monkeypatch.setenv("GRPO_TUI_THEME", "ansi")
    _runs()
    assert snap_compare(make_app("RTX 4090"), terminal_size=(80, 24), run_before=settle())
