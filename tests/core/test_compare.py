"""Comparing runs: the core model (curves, smoothing, summary, config diff), `grpo-tui compare`,
and the app's compare screen reached from the run list (space marks, c compares)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_tui.core.reading import compare as cmp
from grpo_tui.core.run import events as ev
from grpo_tui.core.run.synthetic import make_run

from tui_helpers import make_app, synthetic_run, until

REPO = Path(__file__).resolve().parents[2]


def _rewards(run) -> list[float]:
    return [e["metrics"]["reward"] for e in ev.read_all(run.events)[0] if e["type"] == ev.METRICS]


def _add_evals(run, before: float, after: float, step: int) -> None:
    with ev.EventWriter(run.events) as w:
        w.emit(ev.EVAL, step=0, name="arith/test", accuracy=before, n=50, when="before")
        w.emit(ev.EVAL, step=step, name="arith/test", accuracy=after, n=50, when="after")


def test_ema_is_debiased_like_tensorboard():
    ys = [1.0, 2.0, 3.0]
    w = 0.6
    # TensorBoard: last = last*w + (1-w)*y; smoothed = last / (1 - w**n)
    a = 0.4 * 1.0
    b = a * 0.6 + 0.4 * 2.0
    c = b * 0.6 + 0.4 * 3.0
    assert cmp.ema(ys, w) == pytest.approx([a / 0.4, b / (1 - 0.36), c / (1 - 0.216)])
    assert cmp.ema(ys, w)[0] == 1.0  # not pulled towards 0
    assert cmp.ema(ys, 0.0) == ys
    with pytest.raises(ValueError):
        cmp.ema(ys, 1.0)


def test_comparison_figures_match_the_logs():
    a = make_run(90, run_id="run-a", seed=1, cuda=True)
    b = make_run(40, run_id="run-b", seed=2, config={"learning_rate": 1e-5, "rewards": ["format", "correctness",
                                                                                      "brevity"]})
    _add_evals(a, 0.2, 0.45, 90)
    c = cmp.Comparison([a, b])
    c.load()
    rows = {r.id: r for r in c.rows()}
    ra, rb = _rewards(a), _rewards(b)
    assert rows["run-a"].steps == 90 and rows["run-b"].steps == 40
    assert rows["run-a"].best_reward == pytest.approx(max(ra))
    assert rows["run-a"].first_window == pytest.approx(sum(ra[:30]) / 30)
    assert rows["run-a"].last_window == pytest.approx(sum(ra[-30:]) / 30)
    assert (rows["run-a"].eval_before, rows["run-a"].eval_after) == (0.2, 0.45)
    assert rows["run-b"].eval_before is None
    assert rows["run-a"].peak_vram_mb is not None and rows["run-b"].peak_vram_mb is None  # cuda figures
    assert rows["run-a"].steps_per_s == pytest.approx(0.5, rel=0.05)  # synthetic steps are 2 s apart
    diff = dict(c.config_diff())
    assert set(diff) == {"learning_rate", "rewards", "max_steps"}
    assert diff["learning_rate"] == [5e-6, 1e-5]
    charts = [k for k, _t in c.charts()]
    assert charts[:4] == ["reward", "rewards/format/mean", "rewards/correctness/mean", "rewards/brevity/mean"]
    assert {"main", "completions/mean_length", "completions/clipped_ratio", "eval"} <= set(charts)
    (xa, ya), (xb, yb) = c.curves("reward")
    assert xa == list(range(1, 91)) and ya == pytest.approx(ra)
    assert c.curves("rewards/brevity/mean")[0] == ([], [])  # run a has no such component
    assert c.curves("main")[1][1] == pytest.approx(
        [e["metrics"]["rewards/correctness/mean"] for e in ev.read_all(b.events)[0] if e["type"] == ev.METRICS])
    assert c.curves("eval")[0] == ([0.0, 90.0], [0.2, 0.45])
    (ta, _), _ = c.curves("reward", x="time")
    assert ta[0] >= 0 and ta == sorted(ta) and ta[-1] == pytest.approx(89 * 2.0, abs=2.5)
    (_, sa), _ = c.curves("reward", smooth=0.6)
    assert sa == pytest.approx(cmp.ema(ra, 0.6))


def test_the_compare_screen_uses_the_charts_palette():
    from grpo_tui.tui.screens import compare as screen
    from grpo_tui.tui.widgets import charts

    assert screen.PALETTE == charts.PALETTE


def test_long_runs_stay_bounded():
    a = make_run(5000, run_id="long-a", samples_every=1000)
    b = make_run(3000, run_id="long-b", samples_every=1000, seed=3)
    c = cmp.Comparison([a, b])
    c.load()
    (xa, ya), (xb, yb) = c.curves("reward", x="time", smooth=0.6)
    assert 0 < len(xa) < 2000 and len(xa) == len(ya)
    assert c.rows()[0].steps == 5000 and c.progress() == 1.0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "grpo_tui", "compare", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


def test_cli_markdown_and_json(grpo_home):
    a = make_run(35, run_id="20260101-000000-a", seed=1)
    make_run(35, run_id="20260101-000001-b", seed=2, config={"temperature": 0.7})
    out = _cli("20260101-000000-a", "20260101-000001-b")
    assert out.returncode == 0, out.stderr
    assert "| 20260101-000000-a | completed | 35/35 |" in out.stdout
    assert "| temperature | 1.0 | 0.7 |" in out.stdout
    assert "learning" not in out.stdout  # only keys that differ
    data = json.loads(_cli(str(a.path), "20260101-000001-b", "--format", "json").stdout)
    assert [r["id"] for r in data["runs"]] == ["20260101-000000-a", "20260101-000001-b"]
    assert data["config_diff"] == {"temperature": [1.0, 0.7]}
    assert data["runs"][0]["best_reward"] == pytest.approx(max(_rewards(a)))


def test_cli_bad_input_is_one_line_and_exit_2(grpo_home):
    make_run(5, run_id="20260101-000000-a")
    for args in (("20260101-000000-a",), ("20260101-000000-a", "nope"), ("20260101-000000-a", "20260101-000000-a")):
        out = _cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.startswith("grpo-tui: error: ") and out.stderr.count("\n") == 1
    assert sorted(p.name for p in (grpo_home / "runs").iterdir()) == ["20260101-000000-a"]


def _setup_runs():
    synthetic_run("20260101-090000-demo-a", steps=12, max_steps=12, evals={"before": 0.2, "after": 0.4})
    synthetic_run("20260102-090000-demo-b", steps=8, max_steps=20, reward0=0.3)
    synthetic_run("20260103-090000-demo-c", state="failed", steps=3)


async def test_mark_runs_in_the_run_list_and_compare_them():
    from textual.widgets import DataTable

    from grpo_tui.tui.screens.compare import ChartPanel, CompareScreen
    from grpo_tui.tui.widgets.charts import LineChart

    _setup_runs()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.screen.query("#runs") and app.screen.query_one("#runs", DataTable).row_count == 3,
                    timeout=20, what="the run list")
        await pilot.press("c")  # nothing marked, and the preset table has focus: no compare screen
        assert not isinstance(app.screen, CompareScreen)
        await pilot.press("r")
        table = app.screen.query_one("#runs", DataTable)
        await until(pilot, lambda: app.focused is table, timeout=20, what="the run list focused")
        await pilot.press("space")
        await until(pilot, lambda: app.screen.marked, timeout=20, what="a mark")
        assert app.screen.marked == {"20260103-090000-demo-c"}  # newest first; the cursor moved on
        assert str(table.get_row("20260103-090000-demo-c")[0]).startswith("✓ ")
        await pilot.press("c")  # one run marked: a hint, no screen
        assert not isinstance(app.screen, CompareScreen)
        await pilot.press("down", "space")
        await until(pilot, lambda: len(app.screen.marked) == 2, timeout=20, what="the second mark")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), timeout=20, what="the compare screen")
        screen = app.screen
        assert [r.run.id for r in screen.comparison.runs] == ["20260103-090000-demo-c", "20260101-090000-demo-a"]
        await until(pilot, lambda: screen.done.is_set() and screen.rendered > 0, timeout=20, what="the histories")
        await pilot.pause()
        summary = screen.query_one("#compare-summary", DataTable)
        assert summary.row_count == 2
        cells = [str(c) for c in summary.get_row("run-1")]
        assert cells[:3] == ["20260101-090000-demo-a", "completed", "12/12"]
        assert "20.0% → 40.0%" in cells
        panels = list(screen.query(ChartPanel))
        assert [p.key for p in panels][0] == "reward" and "eval" in [p.key for p in panels]
        chart = panels[0].query_one(LineChart)
        await until(pilot, lambda: getattr(chart, "_shown_key", None), timeout=20, what="the reward chart drawn")
        raw = chart._shown_key
        assert len(raw[0]) == 2  # one line per run
        await pilot.press("s")
        smoothed = chart._shown_key
        assert smoothed != raw and smoothed[0][0][0] == raw[0][0][0]  # same xs, smoothed ys
        await pilot.press("x")
        timed = chart._shown_key
        assert timed[0][0][0] != raw[0][0][0]  # x in minutes now
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


def test_a_plain_trl_output_folder_compares_like_any_run(grpo_home, tmp_path):
    """An opened TRL folder (core.run.trl_folder's mirror) goes through the same reader: a trainer_state.json
    in TRL's own shape, beside a launched-style run."""
    folder = tmp_path / "trl-out"
    folder.mkdir()
    history = [{"step": i, "epoch": i / 20, "reward": 0.1 * i, "rewards/accuracy_reward/mean": 0.05 * i,
                "completions/mean_length": 30.0 + i, "completions/clipped_ratio": 0.0, "step_time": 1.5,
                "loss": 0.0} for i in range(1, 21)]
    (folder / "trainer_state.json").write_text(json.dumps(
        {"global_step": 20, "max_steps": 20, "log_history": history}))
    make_run(20, run_id="20260101-000000-ours")
    out = _cli("20260101-000000-ours", str(folder), "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    trl = data["runs"][1]
    assert trl["source"] == "trl-folder" and trl["steps"] == 20
    assert trl["best_reward"] == pytest.approx(2.0)
    assert trl["first_window"] == pytest.approx(sum(0.1 * i for i in range(1, 21)) / 20)
    from grpo_tui.core.run.run_ref import resolve_run

    c = cmp.Comparison([resolve_run("20260101-000000-ours"), resolve_run(folder)])
    c.load()
    assert c.curves("main")[1][1] == pytest.approx([0.05 * i for i in range(1, 21)])  # accuracy_reward is its main
