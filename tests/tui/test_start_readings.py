"""The start screen as a new user read it (issue 29): the no-GPU reason said once, no vLLM share
knob where no vLLM shares a GPU, a long model id cut in the middle with an ellipsis (not scrolled
to its end), and at 120x40 the preset table shows every shipped preset without scrolling."""

from __future__ import annotations

import time

import pytest
from textual.widgets import DataTable, Input, Static

from grpo_tui.core.planning.presets import discover
from grpo_tui.tui.screens.start import KnobInput, StartScreen, fit_middle

from tui_helpers import make_app


@pytest.mark.parametrize("value,width,shown", [
    ("HuggingFaceTB/SmolLM2-135M-Instruct", 31, "HuggingFa…SmolLM2-135M-Instruct"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", 18, "HuggingFaceTB/Smo…"),  # the name does not fit: cut at the right
    ("Qwen/Qwen3-4B", 31, "Qwen/Qwen3-4B"),
    ("builtin:tiny", 5, "buil…"),
])
def test_fit_middle(value, width, shown):
    assert fit_middle(value, width) == shown and len(shown) <= width


def _shipped_app(spec: str):
    app = make_app(spec)
    app.load_presets = discover
    return app


async def _ready(pilot) -> StartScreen:
    deadline = time.monotonic() + 20
    while not (isinstance(pilot.app.screen, StartScreen) and pilot.app.screen.selected):
        assert time.monotonic() < deadline, "the survey never landed"
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return pilot.app.screen


async def _pick(pilot, screen: StartScreen, name: str) -> None:
    table = screen.query_one("#presets", DataTable)
    table.move_cursor(row=table.get_row_index(name))
    await pilot.pause()
    assert screen.selected == name


async def test_no_gpu_reason_once_and_the_vllm_share_knob_only_where_vllm_shares_a_gpu():
    app = _shipped_app("nolib")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        hw_text = str(screen.query_one("#hw", Static).render())
        reason = screen.hardware.no_gpu_reason
        assert reason and hw_text.count(reason) == 1, hw_text
        share = screen.query_one("#knob-gpu_memory_utilization", Input).parent
        await _pick(pilot, screen, "cpu-smollm2")
        assert not share.display  # a CPU preset: no vLLM share of a GPU
        await _pick(pilot, screen, "gpu-24gb")
        assert share.display  # Unsloth's colocated vLLM: the share is a real knob
        await _pick(pilot, screen, "cpu-tiny")
        assert not share.display


async def test_a_long_model_id_is_cut_in_the_middle_while_unfocused():
    app = _shipped_app("nolib")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        await _pick(pilot, screen, "cpu-smollm2")
        knob = screen.query_one("#knob-model", KnobInput)
        width = knob.scrollable_content_region.width
        assert width < len(knob.value)  # too long for its cell at 120 columns
        shown = knob.render_line(0).text.rstrip()
        assert shown == fit_middle(knob.value, width) and shown.startswith("HuggingFa") and "…" in shown
        assert shown.endswith("SmolLM2-135M-Instruct")
        knob.focus()
        await pilot.pause()
        assert "…" not in knob.render_line(0).text  # editing shows the real text
        assert knob.value == "HuggingFaceTB/SmolLM2-135M-Instruct"


async def test_the_preset_table_uses_the_height_it_has_at_120x40():
    app = _shipped_app("nolib")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        table = screen.query_one("#presets", DataTable)
        assert table.row_count >= 10
        assert table.max_scroll_y == 0, (table.row_count, table.size)  # every preset shown, none scrolled away
