"""Line chart axes read as a person would write them (textual-plot underneath)."""

from __future__ import annotations

import html
import re

import pytest
from textual.app import App

from grpo_tui.tui.widgets.charts import LineChart


class ChartApp(App):
    def compose(self):
        yield LineChart(id="c")


async def axis_text(points) -> tuple[str, str]:
    """The chart's (x tick labels, whole text) as drawn on a 60x12 screen."""
    app = ChartApp()
    async with app.run_test(size=(60, 12)) as pilot:
        app.query_one(LineChart).set_lines([(points[0], points[1], "cyan")])
        await pilot.pause(0.2)
        svg = app.export_screenshot()
    text = html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    x_labels = [ln for ln in lines if re.fullmatch(r"[\d.\- ]+", ln.strip())][-1].strip()
    return x_labels, text


@pytest.mark.parametrize("points, x_labels", [
    (([1], [0.5]), "012"),  # one point: the first step (was 0.9999990 ... 1.0000005)
    (([5], [2.0]), "456"),
    (([1, 2, 3], [0.1, 0.4, 0.3]), "123"),  # steps are whole numbers: no 1.5
])
async def test_x_axis_ticks_are_whole_steps(points, x_labels):
    shown, text = await axis_text(points)
    assert shown == x_labels, shown
    assert "0.99999" not in text and "00000" not in text


async def test_a_flat_series_gets_a_readable_y_axis():
    _, text = await axis_text(([1, 2], [0.0, 0.0]))
    assert "0.0" in text and "-0.2" in text and "00000" not in text
