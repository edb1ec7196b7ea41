"""Bad logs (issue 7): torn, truncated, corrupt, enormous and foreign lines, a newer schema, a run
directory deleted while attached. Clear messages, no crash, bounded memory.

The logs start as a real cpu-tiny run's (built once per module by the real trainer, copied per
test); the damage is appended or spliced in the way a killed writer, a full disk, another program
or a newer grpo-tui would leave it. Consumers checked: the core reader and monitor, the CLI
(`grpo-tui runs`, `attach --headless`) and the app's dashboard (Pilot).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.reading.monitor import SAMPLE_TEXT_CAP
from grpo_tui.core.run.rundir import RunDir, runs_root, summarize

from fault_helpers import REPO, dash_app, rendered_text, small_args, until
from trainer_helpers import training

STEPS = 3


@pytest.fixture(scope="module")
def real_run_template(tmp_path_factory) -> Path:
    """One real completed cpu-tiny run (the real trainer, headless CLI), copied by each test."""
    home = tmp_path_factory.mktemp("real-run-home")
    env = {**os.environ, "GRPO_TUI_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if os.environ.get("GRPO_TUI_TEST_CACHE"):
        env["GRPO_TUI_CACHE"] = os.environ["GRPO_TUI_TEST_CACHE"]
    r = subprocess.run([sys.executable, "-m", "grpo_tui", "run", "--preset", "cpu-tiny", "--headless",
                        *small_args(max_steps=STEPS)], env=env, capture_output=True, text=True, timeout=300,
                       cwd=str(REPO))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (run,) = list((home / "runs").iterdir())
    return run


@pytest.fixture
def real_run(real_run_template) -> RunDir:
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    dst = root / real_run_template.name
    shutil.copytree(real_run_template, dst)
    return RunDir(dst)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grpo_tui", *args], capture_output=True, text=True,
                          timeout=120, cwd=str(REPO))


def _damage(run: RunDir) -> None:
    """Splice every kind of bad line into a real log, keeping its real events."""
    lines = run.events.read_bytes().splitlines(keepends=True)
    metrics = next(ln for ln in lines if b'"type":"metrics"' in ln)
    bad = [
        b"\x00\xff\xfe{not json at all\n",                       # corrupt bytes
        metrics[: len(metrics) // 2] + b"\n",                    # a line truncated mid-object
        b'{"hello": "world"}\n',                                 # foreign JSON object
        b"[1, 2, 3]\n",                                          # foreign JSON, not an object
        b"2026-11-25 03:00:00 INFO something else wrote here\n",  # foreign text
        orjson.dumps({"v": ev.SCHEMA_VERSION + 1, "type": "metrics", "ts": 1.0, "step": 99,
                      "metrics": {"reward": 9.9}}) + b"\n",      # a newer schema
        orjson.dumps({"v": ev.SCHEMA_VERSION, "type": "telemetry", "ts": 1.0, "step": 1}) + b"\n",
        b"\n",
    ]
    out = lines[:3] + bad + lines[3:]
    run.events.write_bytes(b"".join(out) + metrics[:40])  # and a torn last line


async def test_torn_truncated_corrupt_foreign_and_newer_lines(real_run):
    run = real_run
    _damage(run)
    # Core: every real event is still there; the damage is counted, the torn tail is not an error.
    events, stats = ev.read_all(run.events)
    assert [e["step"] for e in events if e["type"] == ev.METRICS] == list(range(1, STEPS + 1))
    assert stats.corrupt == 5 and stats.newer_schema == 1 and stats.unknown_types == 1
    problems = stats.problems()
    assert "5 corrupt line(s)" in problems and "upgrade grpo-tui" in problems and "telemetry" in problems
    s = summarize(run)
    assert s.state == "completed" and s.step == STEPS
    # CLI: listed and followed without a traceback.
    r = _cli("runs")
    assert r.returncode == 0 and run.id in r.stdout and "Traceback" not in r.stderr, r.stderr
    r = _cli("attach", "--headless", run.id)
    assert r.returncode == 0 and "completed" in r.stdout and "Traceback" not in r.stdout + r.stderr
    # App: the real figures and one clear message about what was skipped.
    app = dash_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        banner = app.screen.query_one("#banner")
        await until(pilot, lambda: app.screen.loaded and "corrupt" in rendered_text(banner), timeout=15,
                    what="problems shown")
        text = " ".join(rendered_text(banner).split())
        assert "5 corrupt line(s) skipped" in text and "newer schema" in text
        assert f"step {STEPS}/{STEPS}" in rendered_text(app.screen.query_one("#header"))
        assert app.screen.monitor.series["reward"].count == STEPS


async def test_a_log_from_a_newer_schema_says_upgrade(real_run):
    run = real_run
    newer = [orjson.dumps({**e, "v": ev.SCHEMA_VERSION + 1}) + b"\n" for e in ev.read_all(run.events)[0]]
    run.events.write_bytes(b"".join(newer))
    app = dash_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        banner = app.screen.query_one("#banner")
        await until(pilot, lambda: app.screen.loaded and "newer schema" in rendered_text(banner), timeout=15,
                    what="newer schema shown")
        assert "upgrade grpo-tui" in " ".join(rendered_text(banner).split())
    r = _cli("runs")
    assert r.returncode == 0 and "Traceback" not in r.stderr


MEASURE = """
import gc, resource, sys, tracemalloc, orjson
from grpo_tui.core.reading.monitor import RunMonitor
from grpo_tui.core.run.rundir import RunDir
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
gc.collect(); before = rss()
tracemalloc.start()
from pathlib import Path
m = RunMonitor(RunDir(Path(sys.argv[1]))); m.preview(); m.catch_up(); snap = m.snapshot()
peak = rss() - before
gc.collect()
row = snap.samples[0] if snap.samples else {}
print(orjson.dumps({"step": snap.summary.step, "reward_points": m.series["reward"].count,
    "after_big_line": any(lg["message"] == "after the big line" for lg in snap.logs),
    "problems": snap.problems, "samples_step": snap.samples_step,
    "completion_len": len(row.get("completion", "")), "completion_cut": row.get("completion_cut"),
    "retained_mb": tracemalloc.get_traced_memory()[0] / 2**20, "peak_growth_mb": peak}).decode())
"""


def _big_samples_event(step: int, size: int) -> bytes:
    row = {"prompt": "p", "completion": "x" * size, "rewards": {"format": 1.0}, "reward": 1.0,
           "advantage": 0.0, "length": 8, "truncated": False, "group": 0}
    return orjson.dumps({"v": ev.SCHEMA_VERSION, "type": "samples", "ts": 1.0, "step": step, "rows": [row]}) + b"\n"


async def test_enormous_lines_keep_memory_bounded(real_run):
    run = real_run
    mb = 2**20
    with open(run.samples, "ab") as fh:
        fh.write(_big_samples_event(STEPS + 1, 50 * mb))  # a 50 MB completion
    with open(run.events, "ab") as fh:  # a 50 MB line in the small stream (over its 16 MB cap)
        fh.write(orjson.dumps({"v": 1, "type": "log", "ts": 1.0, "step": STEPS, "level": "info",
                               "message": "y" * (50 * mb)}) + b"\n")
        fh.write(orjson.dumps({"v": 1, "type": "log", "ts": 1.0, "step": STEPS, "level": "info",
                               "message": "after the big line"}) + b"\n")
    # Measured in a fresh process: peak RSS growth while attaching, and what stays allocated after.
    r = subprocess.run([sys.executable, "-c", MEASURE, str(run.path)], capture_output=True, text=True,
                       timeout=120, cwd=str(REPO))
    assert r.returncode == 0, r.stderr
    got = orjson.loads(r.stdout.strip().splitlines()[-1])
    assert got["step"] == STEPS and got["reward_points"] == STEPS
    assert got["after_big_line"]  # reading went on past the oversized line
    assert "oversized" in (got["problems"] or "")
    assert got["samples_step"] == STEPS + 1 and got["completion_len"] == SAMPLE_TEXT_CAP
    assert got["completion_cut"] == 50 * mb
    assert got["retained_mb"] < 8, got  # the 50 MB are not kept
    assert got["peak_growth_mb"] < 300, got  # a few transient copies of one line, no more
    # The app attaches to it, shows the capped completion and stays responsive.
    app = dash_app(run)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.screen.loaded and app.screen.monitor.samples_step == STEPS + 1,
                    timeout=30, what="attached")
        await until(pilot, lambda: "xxxxxxxx" in rendered_text(app.screen.query_one("#samples-text")),
                    what="the samples panel")


async def test_run_directory_deleted_while_attached():
    with training(max_steps=500) as launched:
        run = launched.run
        app = dash_app(run)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.screen.loaded, timeout=20, what="attached")
            shutil.rmtree(run.path)
            banner = app.screen.query_one("#banner")
            took = await until(pilot, lambda: "deleted" in rendered_text(banner), timeout=5,
                               what="deletion shown")
            assert "The run directory was deleted" in " ".join(rendered_text(banner).split())
            await pilot.press("p")  # steering a deleted run must not crash the app
            app.screen.action_pause()  # even when the key reaches it: a clear refusal is the signal
            await until(pilot, lambda: any("could not send pause" in n.message for n in app._notifications),
                        timeout=5, what="the refusal")
            assert app.screen.watcher.error is None
            assert not run.path.exists(), "sending a command re-created the deleted run directory"
    assert took < 3.0


FOLD = """
import resource, sys
from pathlib import Path
from grpo_tui.core.run.rundir import RunDir, summarize
from grpo_tui.tui.runs_index import RunTracker
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
run = RunDir(Path(sys.argv[1]))
before = rss()
a, b = summarize(run), RunTracker(run).summary()
print(a.step, b.step, a.state, round(rss() - before))
"""


def test_a_foreign_file_without_newlines_is_folded_in_bounded_memory(real_run):
    """`grpo-tui runs`, the start screen and the app's quit check fold events.jsonl: 100 MB of garbage
    with no newline after the real events must not be buffered whole."""
    with open(real_run.events, "ab") as fh:
        chunk = b"\x00garbage" * (2**20 // 8)
        for _ in range(100):
            fh.write(chunk)
    r = subprocess.run([sys.executable, "-c", FOLD, str(real_run.path)], capture_output=True, text=True,
                       timeout=120, cwd=str(REPO))
    assert r.returncode == 0, r.stderr
    step_a, step_b, state, growth = r.stdout.split()
    assert int(step_a) == int(step_b) == STEPS and state == "completed"
    assert int(growth) < 64, f"folding grew RSS by {growth} MB"


async def test_a_log_that_is_not_a_file_is_reported_not_fatal(real_run):
    """events.jsonl / samples.jsonl replaced by directories (or unreadable): `runs` lists the run,
    `attach` and the app say the log cannot be read; nothing crashes or spins."""
    for p in (real_run.events, real_run.samples):
        p.unlink()
        p.mkdir()
    r = _cli("runs")
    assert r.returncode == 0 and real_run.id in r.stdout, r.stdout + r.stderr
    r = _cli("attach", "--headless", real_run.id)
    assert "Traceback" not in r.stdout + r.stderr and "cannot read the log" in r.stdout + r.stderr
    app = dash_app(real_run)
    async with app.run_test(size=(120, 40)) as pilot:
        banner = app.screen.query_one("#banner")
        await until(pilot, lambda: "cannot read" in rendered_text(banner), timeout=15, what="problem shown")
        text = " ".join(rendered_text(banner).split())
        assert "not a regular file" in text and app.screen.watcher.error is None
