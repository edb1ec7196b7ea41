"""core.reading.monitor: the dashboard's run model -- bounded series with the right values, state, figures."""

from __future__ import annotations

import json
import os
import random

import orjson
import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.reading.monitor import RunMonitor, Series, _last_line_start
from grpo_tui.core.run.rundir import CRASHED
from grpo_tui.core.run.synthetic import T0, SyntheticWriter, dead_pid, make_run


# -- Series -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [10, 1000, 100_000])
def test_series_is_bounded_and_keeps_totals(n):
    rng = random.Random(n)
    ys = [rng.gauss(0, 1) for _ in range(n)]
    s = Series(max_buckets=64, tail=32)
    # mixed feeding: single points and batches of odd sizes
    i = 0
    while i < n:
        k = rng.choice((1, 7, 500))
        s.extend(list(range(i, min(n, i + k))), ys[i:i + k])
        i += k
    assert len(s) <= 64 + 1 + 2 * 32
    assert s.count == n
    assert s.mean() == pytest.approx(sum(ys) / n, rel=1e-9, abs=1e-9)
    assert s.lo == min(ys) and s.hi == max(ys)
    assert s.last == ys[-1]
    xs, means = s.points()
    assert xs == sorted(xs) and len(xs) == len(means) == len(s)
    # the newest points are kept at full resolution
    assert means[-min(n, 32):] == ys[-min(n, 32):]
    # bucket extremes are the true extremes of the points they hold
    _, mins = s.points("min")
    _, maxs = s.points("max")
    assert min(mins) == min(ys) and max(maxs) == max(ys)


def test_series_bucket_means_lie_on_a_line():
    s = Series(max_buckets=16, tail=8)
    for x in range(10_000):
        s.append(x, 3.0 * x + 1.0)
    xs, ys = s.points()
    for x, y in zip(xs, ys):
        assert y == pytest.approx(3.0 * x + 1.0)
    assert s.width > 1  # it did downsample


# -- RunMonitor over synthetic runs ----------------------------------------------------------------
def _last_metrics(run):
    events, _ = ev.read_all(run.events)
    return [e for e in events if e["type"] == ev.METRICS][-1]


def test_monitor_values_match_the_log():
    run = make_run(120, step_time=2.0)
    m = RunMonitor(run)
    m.catch_up()
    m.poll()
    snap = m.snapshot()
    last = _last_metrics(run)
    assert snap.summary.step == 120 and snap.state == "completed"
    assert snap.latest["reward"] == last["metrics"]["reward"]
    assert snap.reward_components == ["format", "correctness"]
    assert snap.steps_per_s == pytest.approx(0.5)  # synthetic timestamps: one step every 2 s
    assert snap.tokens_per_s and snap.tokens_per_s > 0
    assert snap.elapsed == pytest.approx(240.0)
    assert snap.eta is None  # finished
    assert snap.max_completion_length == 64
    # the newest samples step only, all its rows
    assert snap.samples_step == 120
    assert {r["group"] for r in snap.samples} == {0, 1} and len(snap.samples) == 8
    # the reward series holds every step's value (120 < tail*2: full resolution)
    xs, ys = snap.series["reward"]
    assert xs == list(range(1, 121))
    events, _ = ev.read_all(run.events)
    assert ys == [e["metrics"]["reward"] for e in events if e["type"] == ev.METRICS]


def test_monitor_memory_bounded_for_long_runs():
    run = make_run(20_000, samples_every=1000, fast=True)
    m = RunMonitor(run, max_buckets=256, tail=128)
    m.catch_up()
    assert m.folder.summary.step == 20_000
    for name, s in m.series.items():
        assert len(s) <= 256 + 1 + 256, name
    assert sum(len(s) for s in m.series.values()) < 30 * 520


def test_monitor_live_eta_and_incremental_steps():
    w = SyntheticWriter.create(max_steps=100, step_time=2.0)
    w.start(pid=os.getpid())
    w.steps(10)
    w.flush()
    now = T0 + 10 * 2.0 + 5.0
    m = RunMonitor(w.run, clock=lambda: now)
    m.catch_up()
    snap = m.snapshot()
    assert snap.state == "training" and snap.summary.step == 10
    assert snap.eta == pytest.approx(90 / 0.5)
    assert snap.elapsed == pytest.approx(25.0)
    w.steps(5)
    assert m.poll() is True
    assert m.snapshot().summary.step == 15
    assert m.poll() is False  # nothing new
    w.control("pause", "paused", cid="abc")
    m.poll()
    snap = m.snapshot()
    assert snap.state == "paused" and snap.last_control["id"] == "abc"
    assert snap.eta is None  # paused: no ETA
    w.finish("completed")
    w.close()
    m.poll()
    assert m.snapshot().state == "completed"


def test_monitor_crash_detected_when_pid_is_gone():
    run = make_run(5, state="training", pid=dead_pid(), trainer_log="loading\nTraceback...\nKilled\n")
    m = RunMonitor(run)
    m.catch_up()
    assert m.snapshot().state == "training"
    assert m.check_alive() is True
    snap = m.snapshot()
    assert snap.state == CRASHED
    assert snap.summary.log_tail[-1] == "Killed"


def test_monitor_reports_newer_schema_and_corrupt_lines_and_waits_for_torn_lines():
    w = SyntheticWriter.create(max_steps=10)
    w.start(pid=os.getpid())
    w.steps(2)
    w.raw(orjson.dumps({"v": 99, "type": "metrics", "ts": 0, "step": 3, "metrics": {}}) + b"\n")
    w.raw(b"{not json\n")
    w.raw(b'{"v":1,"type":"metrics","ts":1,"step":3,"metr')  # torn: the trainer is mid-write
    m = RunMonitor(w.run)
    m.catch_up()
    snap = m.snapshot()
    assert "newer schema" in snap.problems and "corrupt" in snap.problems
    assert snap.summary.step == 2
    w.raw(b'ics":{"reward":0.5}}\n')  # the rest of the line arrives
    m.poll()
    snap = m.snapshot()
    assert snap.summary.step == 3 and snap.latest["reward"] == 0.5
    w.close()


def test_monitor_attaches_to_the_newest_samples_line_without_reading_the_rest():
    run = make_run(300)
    size = os.path.getsize(run.samples)
    m = RunMonitor(run)
    m.poll()
    # it started reading at the last line: far less than the file was read
    start = _last_line_start(run.samples, 2**26)
    assert 0 < start < size
    assert m.samples_count == 1 and m.samples_step == 300


def test_last_line_start_edge_cases(tmp_path):
    p = tmp_path / "f.jsonl"
    assert _last_line_start(p, 100) is None
    p.write_bytes(b"")
    assert _last_line_start(p, 100) is None
    p.write_bytes(b'{"a":1}\n')
    assert _last_line_start(p, 100) == 0
    p.write_bytes(b'{"a":1}\n{"b":2}\n{"c"')  # torn last line: the last complete one starts at 8
    assert _last_line_start(p, 100) == 8
    big = b"x" * (3 * 2**20)
    p.write_bytes(b"first\n" + big + b"\nlast\n")
    assert _last_line_start(p, 2**23) == 6 + len(big) + 1


def test_preview_shows_the_last_step_before_the_history_is_read():
    run = make_run(5000, samples_every=500, fast=True)
    m = RunMonitor(run)
    assert m.preview() is True
    snap = m.snapshot()
    assert snap.history == 0.0
    assert snap.summary.step == 5000 and snap.state == "completed"
    assert snap.latest["reward"] == _last_metrics(run)["metrics"]["reward"]
    m.catch_up()
    assert m.snapshot().history == 1.0


def test_monitor_keeps_alerts_and_truncates_huge_completions():
    big = "y" * 100_000
    run = make_run(6, alerts=[(3, "no_signal", "warning", "all zero std"), (5, "nan", "critical", "NaN loss")],
                   completion_hook=lambda s, g, i, t: big if (s, g, i) == (6, 1, 0) else t)
    m = RunMonitor(run)
    m.catch_up()
    m.poll()
    snap = m.snapshot()
    assert [a["code"] for a in snap.alerts] == ["no_signal", "nan"] and snap.alert_count == 2
    row = [r for r in snap.samples if r["group"] == 1][0]
    assert len(row["completion"]) == 20_000 and row["completion_cut"] == 100_000


def test_monitor_plan_and_missing_run_json(tmp_path):
    run = make_run(3, plan=True)
    assert RunMonitor(run).snapshot().plan["total_gb"] == pytest.approx(6.2)
    from grpo_tui.core.run.rundir import RunDir

    d = tmp_path / "not-a-run"
    d.mkdir()
    snap = RunMonitor(RunDir(d)).snapshot()
    assert "not a grpo-tui run directory" in snap.problems
    info = json.loads(run.run_json.read_text())
    assert info["config"]["name"] == "synthetic"


def test_an_enormous_samples_line_is_skipped_and_reported(monkeypatch):
    import grpo_tui.core.reading.monitor as mon

    monkeypatch.setattr(mon, "SAMPLES_MAX_LINE", 2**20)  # 1 MiB here; 64 MiB in the app
    w = SyntheticWriter.create(max_steps=10)
    w.start(pid=os.getpid())
    w.steps(2)
    m = RunMonitor(w.run)
    m.catch_up()
    m.poll()
    assert m.samples_step == 2
    huge = {"v": 1, "type": "samples", "ts": T0, "step": 3,
            "rows": [{"prompt": "p", "completion": "z" * (3 * 2**20), "group": 0}]}
    w.raw(orjson.dumps(huge) + b"\n", samples=True)
    w.steps(1)  # step 3's metrics and then step 3's normal samples line
    m.poll()
    snap = m.snapshot()
    assert "oversized" in snap.problems and snap.problems.startswith("samples.jsonl")
    assert snap.samples_step == 3 and all(len(r["completion"]) < 1000 for r in snap.samples)
    w.close()


def test_resumed_run_rewinds_the_series_to_the_checkpoint():
    w = SyntheticWriter.create(max_steps=100)
    w.start(pid=os.getpid())
    w.steps(73)
    w.finish("failed")
    w.step_no = 50  # resume from checkpoint-50: steps 51.. are trained again
    w.start(pid=os.getpid(), phases=False)
    w.steps(5)
    w.close()
    for chunk in (None, 4096):  # all at once, and in small chunks
        m = RunMonitor(w.run)
        if chunk is None:
            m.poll(None)
        else:
            m.catch_up(chunk)
        xs, _ = m.snapshot().series["reward"]
        assert xs == list(range(1, 56)), chunk
        assert m.snapshot().summary.state == "training" and m.snapshot().summary.step == 55


def test_series_rewind_drops_later_points():
    s = Series(max_buckets=8, tail=4)
    for x in range(100):
        s.append(x, float(x))
    s.rewind(97)
    assert s.points()[0][-1] == 96 and s.last == 96.0
    s.rewind(10)  # past the raw tail: whole buckets go
    xs, _ = s.points()
    assert xs and max(xs) < 10


def test_a_fast_run_attached_while_loading_reads_as_training_once_followed():
    """Attached while the run loads (the preview says loading), then the run trains faster than the
    reader polls: a frame always finds a few bytes unread. Once the history has been read the preview
    must not stand in for the state (the dashboard showed LOADING at step 276 of 300)."""
    w = SyntheticWriter.create(max_steps=300, step_time=0.05)
    w.start(pid=os.getpid())
    w.phase("loading model")
    w.flush()
    m = RunMonitor(w.run)
    m.preview()
    assert m.snapshot().state == "loading"
    w.phase("training")
    w.steps(20)
    w.flush()
    m.catch_up()
    for _ in range(5):  # a step lands between every poll and the next frame
        w.steps(1)
        w.flush()
        snap = m.snapshot()
        assert snap.state == "training" and snap.history == 1.0, (snap.state, snap.history)
        m.poll()
    assert m.snapshot().summary.step == 25
