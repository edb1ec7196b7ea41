"""core.util.formatting: the one way numbers and durations are written (dashboard, stall line, report,
compare, headless view, sample browser and export)."""

from __future__ import annotations

import math

import pytest

from grpo_tui.core.util import formatting as fm

NOT_NUMBERS = [None, math.nan, math.inf, -math.inf, True, "1.5", [1]]


@pytest.mark.parametrize("s,text", [
    (0, "0s"), (45, "45s"), (59.4, "59s"), (59.6, "1m00s"), (190, "3m10s"), (3600, "1h00m"), (3725, "1h02m"),
    (86399, "23h59m"), (86400, "1d00h"), (2 * 86400 + 3 * 3600 + 59, "2d03h"), (-5, "0s"),
    (10 ** 9, "11574d01h"),
])
def test_duration(s, text):
    assert fm.duration(s) == text


@pytest.mark.parametrize("s,text", [
    (0, "0m 00s"), (190.9, "3m 10s"), (3723, "1h 02m 03s"), (93784, "26h 03m 04s"), (-1, "0m 00s"),
])
def test_duration_full(s, text):
    assert fm.duration(s, full=True) == text


@pytest.mark.parametrize("s,text", [(0, "0:00"), (190, "3:10"), (3723, "1:02:03"), (-3, "0:00"),
                                    (360000, "100:00:00")])
def test_clock(s, text):
    assert fm.clock(s) == text


@pytest.mark.parametrize("v,text", [
    (0, "0"), (0.125, "0.125"), (-0.5, "-0.5"), (3, "3"), (1 / 3, "0.333"), (1500, "1.5e+03"), (-2e-9, "-2e-09"),
])
def test_short(v, text):
    assert fm.short(v) == text


@pytest.mark.parametrize("v,digits,text", [(0, 3, "0.000"), (0.5, 3, "0.500"), (-1.25, 1, "-1.2"),
                                           (1e12, 2, "1000000000000.00"), (2, 0, "2")])
def test_fixed(v, digits, text):
    assert fm.fixed(v, digits) == text


@pytest.mark.parametrize("v,text", [(0, "0.0%"), (0.437, "43.7%"), (1, "100.0%"), (-0.05, "-5.0%")])
def test_percent(v, text):
    assert fm.percent(v) == text


@pytest.mark.parametrize("v,text", [
    (0, "0"), (0.0, "0"), (0.125, "0.125"), (3.5, "3.5"), (42, "42.0"), (999.94, "999.9"), (1000, "1.00e+03"),
    (12345, "1.23e+04"), (5e-6, "5.00e-06"), (-7.25, "-7.25"), (-12345, "-1.23e+04"), (1e300, "1.00e+300"),
])
def test_scaled(v, text):
    assert fm.scaled(v) == text


@pytest.mark.parametrize("v,text", [(0, "0.00 steps/s"), (0.25, "0.25 steps/s"), (42.4, "42 steps/s"),
                                    (1500, "1.5k steps/s"), (-1, "-1.00 steps/s")])
def test_rate(v, text):
    assert fm.rate(v, "steps/s") == text


@pytest.mark.parametrize("v", NOT_NUMBERS, ids=repr)
def test_what_is_not_a_finite_number_reads_as_missing(v):
    assert fm.duration(v) == fm.duration(v, full=True) == fm.short(v) == fm.fixed(v) == fm.percent(v) \
        == fm.scaled(v) == "–"
    assert fm.fixed(v, missing="-") == "-"
    assert fm.clock(v) == "-:--"
    assert fm.rate(v, "tok/s") == "– tok/s"
