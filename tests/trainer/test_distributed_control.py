"""Control of a real two-process run: DDP over gloo on the CPU, launched with torchrun (what
``accelerate launch --multi_gpu`` runs underneath), the tiny model really training on both ranks.

Every rank must leave the training loop, pause and checkpoint at the same step boundary; a
rank that does not leaves the others in a collective that never completes (the run aborts)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import psutil
import pytest
from trainer_helpers import SMALL, events, wait_exit, wait_for

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.sample_columns import event_rows
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.rundir import create_run

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch_two_ranks(max_steps: int = 300):
    cfg = load_preset("cpu-tiny").with_overrides({**SMALL, "max_steps": max_steps})
    run = create_run(cfg.to_dict())
    env = dict(os.environ, ACCELERATE_USE_CPU="true", OMP_NUM_THREADS="1")
    log = open(run.trainer_log, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                             "-m", "grpo_tui.trainer", str(run.path)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return run, proc


def _rank_lines(run) -> list[str]:
    return [line for line in run.trainer_log.read_text(errors="replace").splitlines() if line.startswith("rank 1:")]


def _stopped_with_adapter(run) -> dict:
    finished = events(run)[-1]
    assert finished["type"] == ev.FINISHED and finished["status"] == ev.STOPPED, finished
    assert (run.adapter / "model.safetensors").exists()  # cpu-tiny trains every weight: a full model
    return finished


def _stop_all(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_pause_checkpoint_resume_stop_reach_every_rank(grpo_home):
    run, proc = _launch_two_ranks()
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc=proc, timeout=180)
        run.send_command("pause")
        paused = wait_for(run, lambda e: e["type"] == ev.CONTROL and e["command"] == "pause", proc=proc)
        run.send_command("checkpoint")
        saved = wait_for(run, lambda e: e["type"] == ev.CHECKPOINT and e.get("kind") == "checkpoint", proc=proc)
        assert saved["step"] == paused["step"]  # saved while paused, by both ranks together
        # A second pause is acknowledged (the ranks went round the paused loop again), still no step.
        again = run.send_command("pause")
        ack = wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == again, proc=proc)
        assert ack["state"] == "paused" and ack["step"] == paused["step"]
        assert not [e for e in events(run) if e["type"] == ev.METRICS and e["step"] > paused["step"]]
        run.send_command("resume")
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] > paused["step"] + 1, proc=proc)
        run.send_command("stop")
        assert wait_exit(proc, 180) == 0, run.log_tail(30)
    finally:
        _stop_all(proc)
    finished = _stopped_with_adapter(run)
    step = paused["step"]
    lines = _rank_lines(run)
    assert lines[:2] == [f"rank 1: paused at step {step}", f"rank 1: training at step {step}"], lines
    assert lines[2].startswith("rank 1: stopping at step ") and len(lines) == 3, lines
    # Both ranks destroyed the process group after the clean stop, as PyTorch asks of programs.
    assert run.trainer_log.read_text(errors="replace").count("grpo-tui trainer: process group closed") == 2
    # The other rank ran no step while paused: it resumed and stopped at the main process's steps.
    assert int(lines[2].rsplit(" ", 1)[1]) == finished["step"]
    # Samples hold both ranks' completions, whole groups, each row with its own token facts.
    samples = ev.read_all(run.samples)[0]
    assert samples and {e["step"] for e in samples} == set(range(1, finished["step"] + 1))
    for e in samples:
        rows = event_rows(e)
        assert len(rows) == 2 * SMALL["per_device_train_batch_size"], len(rows)
        for g in {r["group"] for r in rows}:
            group = [r for r in rows if r["group"] == g]
            assert len(group) == SMALL["num_generations"]
            assert len({(r["prompt"], r["answer"]) for r in group}) == 1  # one prompt, its own gold answer
        assert all(isinstance(r["length"], int) and 0 < r["length"] <= SMALL["max_completion_length"] for r in rows)


def test_a_signal_to_one_rank_stops_them_all(grpo_home):
    """SIGTERM reaching only rank 1 (the main process took no command) still ends every rank
    at one step boundary, with the adapter saved and a clean exit."""
    run, proc = _launch_two_ranks()
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc=proc, timeout=180)
        rank1 = [p for p in psutil.Process(proc.pid).children(recursive=True)
                 if p.environ().get("RANK") == "1"]
        assert len(rank1) == 1
        rank1[0].send_signal(signal.SIGTERM)
        assert wait_exit(proc, 180) == 0, run.log_tail(30)
    finally:
        _stop_all(proc)
    finished = _stopped_with_adapter(run)
    assert finished["stop_reason"] == "stop from another training process"
    assert _rank_lines(run) == [f"rank 1: stopping at step {finished['step']}"]
