"""On a machine with no GPU the start screen offers the real-model CPU preset beside cpu-tiny,
with an estimated time per step from the measured CPU costs (core.planning.cpu_speed)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from grpo_tui.core.planning import cpu_speed, planner
from grpo_tui.core.planning.presets import discover, load_preset
from grpo_tui.tui.app import GrpoApp

from test_tui_start import text_of, until
from tui_helpers import fixed_hardware


def test_step_estimate_scales_with_the_batch_and_stops_at_the_measured_cores():
    cfg = load_preset("cpu-smollm2")
    one = cpu_speed.step_seconds(cfg, cores=1)
    two = cpu_speed.step_seconds(cfg, cores=2)
    assert one == pytest.approx(2 * two)
    assert cpu_speed.step_seconds(cfg, cores=16) == pytest.approx(two)  # more cores were not measured
    double = cfg.with_overrides({"per_device_train_batch_size": 2 * cfg.per_device_train_batch_size})
    assert cpu_speed.step_seconds(double, cores=2) == pytest.approx(2 * two)
    assert cpu_speed.step_seconds(load_preset("cpu-small"), cores=2) is None  # not measured: no number
    assert planner.plan(cfg, ram_gb=16).notes[0] == cpu_speed.step_note(cfg)


async def test_no_gpu_lists_cpu_smollm2_beside_cpu_tiny_with_a_step_estimate():
    app = GrpoApp(detect_hardware=lambda: fixed_hardware("none"), load_presets=discover)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: getattr(pilot.app.screen, "selected", None) is not None, what="the survey")
        screen = pilot.app.screen
        assert screen.selected == "cpu-tiny"  # still the recommendation: minutes, not hours
        table = screen.query_one("#presets", DataTable)
        for name in ("cpu-tiny", "cpu-smollm2"):
            assert str(table.get_cell(name, "verdict")).startswith("fits"), name
        table.focus()
        table.move_cursor(row=table.get_row_index("cpu-smollm2"))
        est = cpu_speed.step_seconds(load_preset("cpu-smollm2"))
        await until(pilot, lambda: f"~{est:.0f} s per step on this CPU" in text_of(
            screen.query_one("#knob-error", Static)), what="the step estimate")
        assert screen.selected == "cpu-smollm2"


async def test_a_highlight_overtaken_by_the_recommendation_does_not_select_its_row():
    # Filling the table highlights row 0 (cpu-small) before the survey moves the cursor to its pick;
    # handled late, that highlight took the selection (and started an audit) for the wrong preset.
    app = GrpoApp(detect_hardware=lambda: fixed_hardware("none"), load_presets=discover)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: getattr(pilot.app.screen, "selected", None) is not None, what="the survey")
        await pilot.pause()
        screen = pilot.app.screen
        table = screen.query_one("#presets", DataTable)
        assert screen.selected == "cpu-tiny" and table.cursor_row == table.get_row_index("cpu-tiny")
        first = table.coordinate_to_cell_key((0, 0)).row_key
        assert first.value == "cpu-small"
        table.post_message(DataTable.RowHighlighted(table, 0, first))  # stale: the cursor is elsewhere
        await pilot.pause()
        assert screen.selected == "cpu-tiny"
