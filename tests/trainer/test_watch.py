"""``grpo_tui.watch(trainer)`` in a user's own script: a real plain-TRL GRPOTrainer on the tiny model
(tests/scripts/user_grpo.py, run as its own process), read and steered by the CLI like a launched run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.sample_columns import event_rows
from grpo_tui.core.run.rundir import list_runs, summarize
from trainer_helpers import wait_for

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
REPO = Path(__file__).resolve().parents[2]


def start_script(tmp_path: Path, name: str = "user_grpo.py", **env: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "script.log"
    full_env = dict(os.environ, USER_OUT=str(tmp_path / "out"), OMP_NUM_THREADS="1", **env)
    fh = open(log, "wb")
    proc = subprocess.Popen([sys.executable, str(SCRIPTS / name)], cwd=tmp_path, env=full_env,
                            stdout=fh, stderr=subprocess.STDOUT)
    fh.close()
    return proc, log


def the_run(proc, log: Path, timeout: float = 120.0):
    """The run directory the script made (it appears once watch() ran)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list_runs()
        if runs:
            return runs[0]
        if proc.poll() is not None:
            raise AssertionError(f"script exited ({proc.returncode}) first: {log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError("no run directory appeared")


def wait_event(run, pred, proc, log: Path, timeout: float = 120.0) -> dict:
    return wait_for(run, pred, timeout, proc, tail=lambda: log.read_text()[-3000:])


def cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grpo_tui", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_importing_grpo_tui_loads_nothing_heavy():
    code = ("import sys, grpo_tui; from grpo_tui import watch; "
            "print(sorted(m for m in ('textual', 'torch', 'transformers', 'trl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow  # ~40 s on 2 cores: one real script, paused, checkpointed, resumed, stopped
def test_a_watched_script_is_listed_read_and_steered_like_a_launched_run(tmp_path):
    own = tmp_path / "own-logger.txt"
    proc, log = start_script(tmp_path, USER_STEPS="400", USER_OWN_LOG=str(own))
    try:
        run = the_run(proc, log)
        wait_event(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc, log)

        info = json.loads(run.run_json.read_text())
        assert info["source"] == "watched"
        assert info["script"]["path"] == str(SCRIPTS / "user_grpo.py")
        assert info["script"]["cwd"] == str(tmp_path)
        assert info["reward_funcs"] == ["format_reward", "correctness_reward"]
        assert info["dataset_size"] == 64
        assert info["grpo_config"]["num_generations"] == 4 and info["grpo_config"]["max_steps"] == 400
        assert info["pid"] == proc.pid and info["hardware"]["cpu_count"] == os.cpu_count()
        assert info["config"]["max_steps"] == 400 and "tiny" in info["config"]["model"]

        listed = cli("runs")
        assert run.id in listed.stdout and "training" in listed.stdout and "watched" in listed.stdout

        paused = cli("pause", run.id, "--wait")
        assert paused.returncode == 0 and "pause acknowledged" in paused.stdout, paused.stdout + paused.stderr
        assert summarize(run).state == "paused"
        saved = cli("checkpoint", run.id, "--wait")
        assert saved.returncode == 0, saved.stderr
        cp = wait_event(run, lambda e: e["type"] == ev.CHECKPOINT, proc, log)
        assert Path(cp["path"]).parent == tmp_path / "out" and Path(cp["path"]).is_dir()
        assert cli("resume", run.id, "--wait").returncode == 0
        stopped = cli("stop", run.id, "--wait")
        assert stopped.returncode == 0 and "stopping" in stopped.stdout
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "USER SCRIPT DONE" in log.read_text()  # the script went on after train() returned
    # the user's own logging callback (where trackio's / wandb's would be) saw every step, report_to untouched
    own_steps = [line.split()[0] for line in own.read_text().splitlines()]
    assert own_steps[:3] == ["1", "2", "3"] and all(line.endswith(" []") for line in own.read_text().splitlines())
    events = ev.read_all(run.events)[0]
    fin = [e for e in events if e["type"] == ev.FINISHED]
    assert len(fin) == 1 and fin[0]["status"] == "stopped"
    assert 2 <= fin[0]["step"] < 400
    s = summarize(run)
    assert s.state == "stopped" and s.source == "watched"

    samples = ev.read_all(run.samples)[0]
    assert samples, "no samples written"
    row = event_rows(samples[0])[0]
    assert set(row["rewards"]) == {"format_reward", "correctness_reward"}
    assert isinstance(row["advantage"], float) and row["answer"] and "group" in row

    report = cli("report", run.id, "--format", "json")
    assert report.returncode == 0 and json.loads(report.stdout)["run"]["state"] == "stopped"
    exported = cli("export", run.id)
    assert exported.returncode == 0 and "exported" in exported.stdout
    evaluated = cli("eval", run.id)  # no dataset or adapter of ours: one line, exit 2
    assert evaluated.returncode == 2 and "watched script" in evaluated.stderr
    assert len(evaluated.stderr.splitlines()) == 1


@pytest.mark.slow  # ~20 s
def test_a_script_that_raises_ends_failed_with_its_traceback(tmp_path):
    proc, log = start_script(tmp_path, USER_STEPS="20", USER_FAIL_AT="2")
    assert proc.wait(timeout=180) != 0
    text = log.read_text()
    assert "my reward broke at step 2" in text and "USER SCRIPT DONE" not in text  # the error still reaches the user
    run = list_runs()[0]
    fin = [e for e in ev.read_all(run.events)[0] if e["type"] == ev.FINISHED]
    assert len(fin) == 1 and fin[0]["status"] == "failed"
    assert "ValueError: my reward broke at step 2" in fin[0]["error"]
    assert "correctness_reward" in fin[0]["traceback"]
    assert summarize(run).state == "failed"


@pytest.mark.slow  # ~20 s
def test_a_killed_script_reads_as_crashed(tmp_path):
    proc, log = start_script(tmp_path, USER_STEPS="400")
    try:
        run = the_run(proc, log)
        wait_event(run, lambda e: e["type"] == ev.METRICS, proc, log)
        assert summarize(run).state == "training"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert summarize(run).state == "crashed"
    stopped = cli("stop", run.id)
    assert stopped.returncode == 2 and "crashed" in stopped.stderr


@pytest.mark.slow  # ~20 s
def test_an_unwritable_run_directory_warns_once_and_training_goes_on(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the grpo-tui home should be")
    monkeypatch.setenv("GRPO_TUI_HOME", str(blocker / "home"))
    own = tmp_path / "own-logger.txt"
    proc, log = start_script(tmp_path, USER_STEPS="2", USER_OWN_LOG=str(own))
    assert proc.wait(timeout=180) == 0
    text = log.read_text()
    assert "USER SCRIPT DONE" in text
    assert text.count("grpo-tui: cannot create a run directory") == 1
    assert (tmp_path / "out" / "checkpoint-2").is_dir()  # the trainer's own save still happened
    assert own.read_text().split("\n")[:2] == ["1 []", "2 []"]  # the user's own logger saw every step


@pytest.mark.slow  # imports transformers/TRL (~5 s idle; 26 s measured under a load of 19)
def test_a_disk_that_fills_mid_run_warns_once_and_writes_nothing_more(tmp_path):
    from grpo_tui.trainer.watch import SafeEventWriter, _WarnOnce

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    writer = SafeEventWriter(Path("/dev/full"), _WarnOnce())
    with pytest.warns(RuntimeWarning, match="cannot write /dev/full") as caught:
        for step in range(5):
            writer.emit(ev.METRICS, step, metrics={"reward": 1.0})
    assert len(caught) == 1 and writer.dead


@pytest.mark.slow  # ~20 s
def test_an_unsloth_script_is_watched_through_unsloths_patched_trainer(tmp_path, monkeypatch):
    """Contract with the stand-in unsloth (tests/standins): its GRPOTrainer patch is applied at import as the
    real one is; the script imports grpo_tui before unsloth, which must not load trl/transformers first."""
    from standin_helpers import read, use_standins

    log_path = use_standins(monkeypatch, tmp_path / "standin.jsonl")
    proc, log = start_script(tmp_path, "user_unsloth.py", USER_STEPS="3")
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    calls = read(log_path)
    assert [c["call"] for c in calls][:4] == ["import", "from_pretrained", "get_peft_model", "grpo_trainer"]
    assert calls[0]["loaded_before"] == []
    run = list_runs()[0]
    info = json.loads(run.run_json.read_text())
    assert info["config"]["backend"] == "unsloth"
    assert info["trainer_class"].endswith("UnslothGRPOTrainer")
    assert info["reward_funcs"] == ["match_format_exactly", "check_answer"]
    events = ev.read_all(run.events)[0]
    assert [e["step"] for e in events if e["type"] == ev.METRICS] == [1, 2, 3]
    assert [e["status"] for e in events if e["type"] == ev.FINISHED] == ["completed"]
    rows = [r for s in ev.read_all(run.samples)[0] for r in event_rows(s)]
    assert len(rows) == 3 * 8 and set(rows[0]["rewards"]) == {"match_format_exactly", "check_answer"}


@pytest.mark.slow  # ~60 s: two training processes (DDP over gloo on the CPU)
def test_under_a_launcher_rank_0_writes_and_every_rank_follows_pause_and_stop(tmp_path):
    """``torchrun`` (what ``accelerate launch --multi_gpu`` runs underneath) starts the user's script twice;
    both call watch(): one run directory, and rank 1 pauses and stops with rank 0 at the same boundary."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "script.log"
    env = dict(os.environ, USER_OUT=str(tmp_path / "out"), USER_STEPS="400", OMP_NUM_THREADS="1",
               ACCELERATE_USE_CPU="true")
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                                 "--master_addr", "127.0.0.1", "--master_port", str(port),
                                 str(SCRIPTS / "user_grpo.py")], cwd=tmp_path, env=env, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        run = the_run(proc, log)
        wait_event(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 1, proc, log, timeout=240)
        paused = cli("pause", run.id, "--wait")
        assert "pause acknowledged" in paused.stdout, paused.stdout + paused.stderr
        deadline = time.monotonic() + 60
        while "rank 1: paused" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "rank 1: paused" in log.read_text(errors="replace")
        stopped = cli("stop", run.id, "--wait")
        assert "stopping" in stopped.stdout, stopped.stdout + stopped.stderr
        assert proc.wait(timeout=180) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text(errors="replace")
    assert "rank 1: stopping" in text and text.count("USER SCRIPT DONE") == 2
    assert len(list_runs()) == 1  # rank 1 made no run directory
    fin = [e for e in ev.read_all(run.events)[0] if e["type"] == ev.FINISHED]
    assert [f["status"] for f in fin] == ["stopped"]
