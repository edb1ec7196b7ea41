"""End to end: the real trainer process on the tiny preset (CPU, offline)."""

from __future__ import annotations

import json
import math
import os
import stat
import time

import psutil
import pytest

from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.run.sample_columns import event_rows
from grpo_tui import launcher as launch
from grpo_tui.core.run.rundir import summarize

from trainer_helpers import events, kill, start, wait_exit, wait_for


def test_short_run_writes_metrics_samples_and_adapter():
    launched = start(max_steps=3, full_finetuning=False)  # LoRA, as real models use
    run, proc = launched.run, launched.proc
    try:
        trainer_created = psutil.Process(proc.pid).create_time()  # read while it runs (loading takes seconds)
        assert wait_exit(proc) == 0, run.log_tail(40)
    finally:
        kill(proc)
    evs = events(run)
    types = [e["type"] for e in evs]
    assert types[0] == ev.RUN_STARTED
    started = evs[0]
    assert started["pid"] == proc.pid
    # the trainer's own start time (what tells a reused pid apart), not another process's
    assert started["pid_create_time"] == pytest.approx(trainer_created, abs=0.05)
    phases = [e["name"] for e in evs if e["type"] == ev.PHASE]
    for name in ("building_model", "loading_model", "warm_start", "loading_dataset", "training", "saving"):
        assert name in phases
    metrics = [e for e in evs if e["type"] == ev.METRICS]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    for m in metrics:
        keys = m["metrics"]
        for k in ("reward", "reward_std", "rewards/format/mean", "rewards/format/std",
                  "rewards/correctness/mean", "completions/mean_length", "completions/clipped_ratio",
                  "loss", "grad_norm", "learning_rate", "step_time", "entropy", "memory/rss_mb"):
            assert k in keys, k
        assert all(isinstance(v, float) and math.isfinite(v) for v in keys.values())
        assert keys["memory/rss_mb"] > 10
    finished = evs[-1]
    assert finished["type"] == ev.FINISHED and finished["status"] == ev.COMPLETED
    assert finished["adapter_path"] == str(run.adapter)
    assert (run.adapter / "adapter_config.json").is_file()  # a peft LoRA adapter
    assert (run.adapter / "adapter_model.safetensors").is_file()

    samples, stats = ev.read_all(run.samples)
    assert stats.problems() is None
    assert [s["step"] for s in samples] == [1, 2, 3]
    for s in samples:
        rows = event_rows(s)
        assert len(rows) == 8  # per_device_train_batch_size completions
        assert sorted({r["group"] for r in rows}) == [0, 1]
        for r in rows:
            assert set(r["rewards"]) == {"format", "correctness"}
            assert r["reward"] == pytest.approx(sum(v for v in r["rewards"].values() if v is not None))
            assert isinstance(r["advantage"], float)
            assert isinstance(r["length"], int) and 1 <= r["length"] <= 8
            assert isinstance(r["truncated"], bool)
            assert r["prompt"].endswith("=") and r["answer"].isdigit()
        for g in (0, 1):  # group-normalised advantages sum to ~0 within a group
            assert abs(sum(r["advantage"] for r in rows if r["group"] == g)) < 1e-3
        # The rows agree with TRL's own figures for the same step.
        m = next(x["metrics"] for x in metrics if x["step"] == s["step"])
        assert sum(r["length"] for r in rows) / len(rows) == pytest.approx(m["completions/mean_length"])
        assert sum(r["truncated"] for r in rows) / len(rows) == pytest.approx(m["completions/clipped_ratio"])
        assert sum(r["reward"] for r in rows) / len(rows) == pytest.approx(m["reward"], abs=1e-5)
    # Private run directory; small stream holds no completions.
    assert stat.S_IMODE(os.stat(run.path).st_mode) == 0o700
    assert all(e["type"] != ev.SAMPLES for e in evs)
    s = summarize(run)
    assert s.state == "completed" and s.step == 3 and s.best_reward is not None


def test_pause_resume_checkpoint_stop_then_resume_from_checkpoint(capsys):
    launched = start(max_steps=14, full_finetuning=False)  # resuming a LoRA run is the common case
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS, proc=proc)
        pause_id = run.send_command("pause")
        ack = wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == pause_id, proc=proc)
        assert ack["state"] == "paused" and ack["command"] == "pause"
        assert not list(run.commands.glob("*.json"))  # taken and deleted
        assert summarize(run).state == "paused"
        paused_step = ack["step"]
        p = psutil.Process(proc.pid)
        p.cpu_percent(None)
        time.sleep(1.5)  # a CPU-time measurement needs a window
        assert p.cpu_percent(None) < 25  # sleeping, not spinning

        cp_id = run.send_command("checkpoint")  # while paused: saved at once
        wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cp_id, proc=proc)
        cp = wait_for(run, lambda e: e["type"] == ev.CHECKPOINT and e.get("kind") == "checkpoint", proc=proc)
        assert cp["path"].endswith(f"checkpoint-{paused_step}")
        # The trainer polled and acted while paused (the checkpoint above), and took no step.
        steps = [e["step"] for e in events(run) if e["type"] == ev.METRICS]
        assert max(steps) == paused_step and cp["step"] == paused_step

        # The CLI: prints the command id, --wait waits for the trainer's acknowledgement.
        assert main(["resume", run.id, "--wait", "--timeout", "60"]) == 0
        out = capsys.readouterr().out.splitlines()
        resume_id = out[0].strip()
        assert "resume acknowledged" in out[1] and "training" in out[1]
        assert any(e["type"] == ev.CONTROL and e.get("id") == resume_id and e["state"] == "training"
                   for e in events(run))
        # The first step after the resume is written at once (the pause wrote what was held); a stop
        # sent then lands well before max_steps, whose later steps are written in 0.5 s groups.
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] > paused_step, proc=proc)
        stop_id = run.send_command("stop")
        assert wait_exit(proc) == 0
    finally:
        kill(proc)
    evs = events(run)
    assert any(e["type"] == ev.CONTROL and e.get("id") == stop_id and e["state"] == "stopping" for e in evs)
    fin = evs[-1]
    assert fin["type"] == ev.FINISHED and fin["status"] == ev.STOPPED
    stopped_at = fin["step"]
    assert stopped_at < 14
    assert any(p.suffix == ".safetensors" for p in run.adapter.iterdir())
    assert run.latest_checkpoint().name == f"checkpoint-{paused_step}"

    # --resume continues from the checkpoint and the step count goes on to max_steps.
    again = launch.resume(run)
    try:
        assert wait_exit(again.proc) == 0, run.log_tail(40)
    finally:
        kill(again.proc)
    evs = events(run)
    starts = [i for i, e in enumerate(evs) if e["type"] == ev.RUN_STARTED]
    assert len(starts) == 2
    second = evs[starts[1]:]
    assert second[0]["resumed_from"].endswith(f"checkpoint-{paused_step}")
    steps = [e["step"] for e in second if e["type"] == ev.METRICS]
    assert steps[0] == paused_step + 1 and steps[-1] == 14
    assert second[-1]["type"] == ev.FINISHED and second[-1]["status"] == ev.COMPLETED
    s = summarize(run)
    assert s.state == "completed" and s.step == 14
    assert len(s.rewards_seen) == 14  # replayed steps after the checkpoint counted once
    # `grpo-tui runs` lists it; steering a finished run is a one-line error.
    capsys.readouterr()
    assert main(["runs"]) == 0
    table = capsys.readouterr().out
    assert run.id in table and "completed" in table and "14/14" in table
    assert main(["stop", run.id]) == 2
    assert "completed" in capsys.readouterr().err


def test_run_json_records_max_reward_and_resolved_config():
    launched = launch.launch(
        __import__("grpo_tui.core.planning.presets", fromlist=["load_preset"]).load_preset("cpu-tiny"),
        spawn_trainer=False)
    info = json.loads(launched.run.run_json.read_text())
    assert info["max_reward"] == 2.0
    assert info["config"]["name"] == "cpu-tiny"


def test_num_iterations_reuses_generations_without_repeating_samples():
    # With num_iterations=2 TRL generates every other step and reuses the batch; TRL's own
    # _logs would repeat those rows, our capture writes each completion once.
    launched = start(max_steps=4, num_iterations=2)
    try:
        assert wait_exit(launched.proc) == 0, launched.run.log_tail(40)
    finally:
        kill(launched.proc)
    samples, _ = ev.read_all(launched.run.samples)
    assert [s["step"] for s in samples] == [1, 3]
    assert all(len(event_rows(s)) == 8 for s in samples)
    metrics = [e["step"] for e in events(launched.run) if e["type"] == ev.METRICS]
    assert metrics == [1, 2, 3, 4]
