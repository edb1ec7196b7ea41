"""``grpo-tui open PATH``: a plain TRL output folder -- written by a real TRL run on the CPU (the user's
script in tests/scripts, without grpo-tui, log_completions=True) -- read through core.run.trl_folder into
the same events every other view reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.rundir import summarize
from grpo_tui.core.run.trl_folder import Follower, open_folder

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
STEPS = 4


@pytest.fixture(scope="module")
def trl_folder(tmp_path_factory) -> Path:
    """A folder TRL wrote itself: checkpoints at steps 2 and 4, a completions file per step."""
    tmp = tmp_path_factory.mktemp("trl-run")
    out = tmp / "out"
    env = dict(os.environ, USER_OUT=str(out), USER_NO_WATCH="1", USER_LOG_COMPLETIONS="1", USER_SAVE_STEPS="2",
               USER_STEPS=str(STEPS), OMP_NUM_THREADS="1", GRPO_TUI_HOME=str(tmp / "home"))
    done = subprocess.run([sys.executable, str(SCRIPTS / "user_grpo.py")], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (tmp / "home" / "runs").exists()  # no grpo-tui code wrote anything
    return out


def history(folder: Path) -> list[dict]:
    return json.loads((folder / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())["log_history"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grpo_tui", *args], capture_output=True, text=True, timeout=120)


def old(path: Path) -> None:
    """Make a file look long written (so that damage is damage, not a write in progress)."""
    t = time.time() - 3600
    os.utime(path, (t, t))


@pytest.mark.slow  # the module's TRL run: ~20-45 s on 2 cores
def test_a_trl_folder_reads_as_the_same_events(trl_folder):
    opened = open_folder(trl_folder)
    events, stats = ev.read_all(opened.run.events)
    assert stats.problems() is None
    metrics = [e for e in events if e["type"] == ev.METRICS]
    logged = [h for h in history(trl_folder) if "reward" in h]
    assert [e["step"] for e in metrics] == [h["step"] for h in logged] == list(range(1, STEPS + 1))
    assert [e["metrics"]["reward"] for e in metrics] == [h["reward"] for h in logged]
    assert metrics[0]["metrics"]["rewards/format_reward/mean"] == logged[0]["rewards/format_reward/mean"]
    assert [e["ts"] for e in metrics] == sorted(e["ts"] for e in metrics)

    samples = ev.read_all(opened.run.samples)[0]
    assert [s["step"] for s in samples] == list(range(1, STEPS + 1))
    row = samples[-1]["rows"][0]
    assert set(row["rewards"]) == {"format_reward", "correctness_reward"}
    assert isinstance(row["advantage"], float) and row["prompt"].endswith("=")
    assert [r["group"] for r in samples[-1]["rows"]] == [0, 0, 0, 0, 1, 1, 1, 1]

    s = summarize(opened.run)
    assert (s.state, s.step, s.max_steps, s.source) == ("completed", STEPS, STEPS, "trl-folder")
    # a second open adds nothing (the mirror remembers what it has)
    assert open_folder(trl_folder).sync() is False
    assert len(ev.read_all(opened.run.events)[0]) == len(events)
    assert not list(trl_folder.glob("**/*.jsonl"))  # nothing written into the TRL folder


@pytest.mark.slow
def test_report_export_attach_and_metrics_csv_take_the_folder_path(trl_folder, tmp_path):
    report = cli("report", str(trl_folder), "--format", "json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["run"]["state"] == "completed"

    exported = cli("export", str(trl_folder), "-o", str(tmp_path / "rows.jsonl"))
    assert exported.returncode == 0 and f"exported {STEPS * 8} completion(s)" in exported.stdout

    csv_out = cli("export", str(trl_folder), "--metrics", "csv", "-o", str(tmp_path / "m.csv"))
    assert csv_out.returncode == 0, csv_out.stderr
    import pandas as pd

    table = pd.read_csv(tmp_path / "m.csv")
    assert table["step"].tolist() == list(range(1, STEPS + 1))
    assert table["reward"].tolist() == [h["reward"] for h in history(trl_folder) if "reward" in h]
    assert pd.to_datetime(table["timestamp"]).is_monotonic_increasing

    follow = cli("attach", str(trl_folder), "--headless")
    assert follow.returncode == 0 and f"completed at step {STEPS}/{STEPS}" in follow.stdout

    steer = cli("pause", str(trl_folder))
    assert steer.returncode == 2 and "read-only" in steer.stderr and len(steer.stderr.splitlines()) == 1
    evaluated = cli("eval", str(trl_folder))
    assert evaluated.returncode == 2 and "TRL output folder" in evaluated.stderr


@pytest.mark.slow
def test_a_growing_folder_is_followed(trl_folder, tmp_path):
    """The folder TRL wrote, put in place in the order TRL wrote it: checkpoint-2 and two completions
    files first, then the rest."""
    grow = tmp_path / "growing"
    (grow / "completions").mkdir(parents=True)
    shutil.copytree(trl_folder / "checkpoint-2", grow / "checkpoint-2")
    for step in (1, 2):
        shutil.copy2(trl_folder / "completions" / f"completions_{step:05d}.parquet", grow / "completions")
    opened = open_folder(grow)
    s = summarize(opened.run)
    assert s.step == 2 and s.state.startswith("last written ")
    assert [e["step"] for e in ev.read_all(opened.run.samples)[0]] == [1, 2]

    follower = Follower(opened, interval=0.05).start()
    try:
        for step in (3, 4):
            shutil.copy2(trl_folder / "completions" / f"completions_{step:05d}.parquet", grow / "completions")
        shutil.copytree(trl_folder / f"checkpoint-{STEPS}", grow / f"checkpoint-{STEPS}")
        deadline = time.monotonic() + 30
        while summarize(opened.run).state != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        follower.stop()
    assert summarize(opened.run).step == STEPS and follower.error is None
    assert [e["step"] for e in ev.read_all(opened.run.samples)[0]] == [1, 2, 3, 4]
    metrics = [e["step"] for e in ev.read_all(opened.run.events)[0] if e["type"] == ev.METRICS]
    assert metrics == [1, 2, 3, 4]  # steps 1-2 were not written twice


@pytest.mark.slow
def test_bad_folders_are_one_line_and_exit_2_and_a_file_being_written_waits(trl_folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = cli("open", str(empty))
    assert done.returncode == 2 and "not a grpo-tui run directory" in done.stderr and "not a TRL output folder" in done.stderr and len(done.stderr.splitlines()) == 1

    bad_state = tmp_path / "bad-state"
    shutil.copytree(trl_folder / "checkpoint-2", bad_state / "checkpoint-2")
    state = bad_state / "checkpoint-2" / "trainer_state.json"
    state.write_text(state.read_text()[:200])
    old(state)
    done = cli("open", str(bad_state))
    assert done.returncode == 2 and "damaged trainer_state.json" in done.stderr
    assert len(done.stderr.splitlines()) == 1

    bad_parquet = tmp_path / "bad-parquet"
    shutil.copytree(trl_folder / "completions", bad_parquet / "completions")
    victim = bad_parquet / "completions" / "completions_00002.parquet"
    victim.write_bytes(victim.read_bytes()[:100])
    old(victim)
    done = cli("report", str(bad_parquet))
    assert done.returncode == 2 and "completions_00002.parquet: damaged" in done.stderr

    # the same torn file, just written: not an error, it waits for the rest
    writing = tmp_path / "writing"
    shutil.copytree(trl_folder / "checkpoint-2", writing / "checkpoint-2")
    state = writing / "checkpoint-2" / "trainer_state.json"
    whole = state.read_text()
    state.write_text(whole[:200])
    opened = open_folder(writing)
    assert opened.pending and "not yet written" in opened.pending
    assert summarize(opened.run).step == 0
    state.write_text(whole)
    opened.sync()
    assert opened.pending is None and summarize(opened.run).step == 2


@pytest.mark.slow
async def test_the_app_shows_an_opened_folder_read_only(trl_folder, tmp_path):
    from test_dashboard import DashApp, header_text, loaded, until

    grow = tmp_path / "growing"
    shutil.copytree(trl_folder / "checkpoint-2", grow / "checkpoint-2")
    opened = open_folder(grow)
    follower = Follower(opened, interval=0.05).start()
    app = DashApp(opened.run)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            await until(pilot, lambda: "LAST WRITTEN" in header_text(app), what="inferred state")
            assert "2/4" in header_text(app)
            await pilot.press("p", "x")  # no pause, no stop confirmation: there is no trainer to steer
            assert opened.run.pending_commands() == [] and app.screen.__class__.__name__ == "DashboardScreen"
            shutil.copytree(trl_folder / f"checkpoint-{STEPS}", grow / f"checkpoint-{STEPS}")
            await until(pilot, lambda: "COMPLETED" in header_text(app), timeout=20, what="the folder's growth")
            assert f"{STEPS}/{STEPS}" in header_text(app)
    finally:
        follower.stop()


@pytest.mark.slow
def test_a_completions_file_being_written_is_read_once_whole(trl_folder, tmp_path):
    folder = tmp_path / "writing"
    shutil.copytree(trl_folder / "completions", folder / "completions")
    last = folder / "completions" / f"completions_{STEPS:05d}.parquet"
    whole = last.read_bytes()
    last.write_bytes(whole[: len(whole) // 2])  # TRL is still writing it (just modified)
    opened = open_folder(folder)
    assert opened.pending == f"{last.name} not yet written"
    assert [e["step"] for e in ev.read_all(opened.run.samples)[0]] == list(range(1, STEPS))
    last.write_bytes(whole)
    opened.sync()
    assert opened.pending is None
    assert [e["step"] for e in ev.read_all(opened.run.samples)[0]] == list(range(1, STEPS + 1))
