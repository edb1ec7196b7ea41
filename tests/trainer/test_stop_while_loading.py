"""A stop asked for before the first step ends the run at the next loading phase boundary,
not after the model, data and trainer are all built."""

from __future__ import annotations

import os
import signal

import pytest
from trainer_helpers import events, kill, start, wait_exit, wait_for

from grpo_tui.core.run import events as ev
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.rundir import create_run, summarize
from grpo_tui.trainer.context import StoppedBeforeTraining, TrainerContext
from grpo_tui.trainer.loading_watch import LoadingWatch


def _ctx(grpo_home) -> TrainerContext:
    run = create_run(load_preset("cpu-tiny").to_dict())
    return TrainerContext(run=run, cfg=load_preset("cpu-tiny"), events=ev.EventWriter(run.events),
                          samples=ev.EventWriter(run.samples))


def test_watch_takes_only_stop_and_the_next_phase_ends_the_run(grpo_home):
    ctx = _ctx(grpo_home)
    watch = LoadingWatch(ctx)
    ctx.run.send_command("pause")
    assert watch._check() is False and not ctx.stop_requested.is_set()  # pause waits for the first step
    sid = ctx.run.send_command("stop")
    assert watch._check() is True
    assert ctx.stop_requested.is_set() and ctx.stop_reason == "stop command"
    assert [c["command"] for c in ctx.run.pending_commands()] == ["pause"]
    ack = [e for e in ev.read_all(ctx.run.events)[0] if e["type"] == ev.CONTROL]
    assert [(a["id"], a["state"]) for a in ack] == [(sid, "stopping")]
    with pytest.raises(StoppedBeforeTraining):
        ctx.phase("loading_dataset")


def test_watch_leaves_commands_to_the_controller_once_training_began(grpo_home):
    ctx = _ctx(grpo_home)
    ctx.loading = False
    ctx.run.send_command("stop")
    assert LoadingWatch(ctx)._check() is True  # nothing more to watch for
    assert [c["command"] for c in ctx.run.pending_commands()] == ["stop"] and not ctx.stop_requested.is_set()
    ctx.stop_requested.set()
    ctx.phase("saving")  # a stop while training never interrupts a phase (the adapter save)


def _stopped_before_training(run, reason: str) -> None:
    evs = events(run)
    assert not [e for e in evs if e["type"] == ev.METRICS]
    assert not [e for e in evs if e["type"] == ev.PHASE and e["name"] == "training"]
    assert any(e["type"] == ev.LOG and "stopped before training began" in e["message"] for e in evs)
    fin = evs[-1]
    assert fin["type"] == ev.FINISHED and fin["status"] == ev.STOPPED and fin["stop_reason"] == reason, fin
    assert fin["traceback"] is None
    assert summarize(run).state == "stopped"


@pytest.mark.parametrize("how", ["command", "sigterm"])
def test_stop_during_warm_start(grpo_home, how):
    launched = start(max_steps=50, warmstart_steps=100_000)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.PHASE and e["name"] == "warm_start" and (e.get("current") or 0) > 0,
                 proc=proc)
        if how == "command":
            sid = run.send_command("stop")
        else:
            os.kill(proc.pid, signal.SIGTERM)
        assert wait_exit(proc, timeout=60) == 0
    finally:
        kill(proc)
    acks = [(a["id"], a["state"]) for a in events(run) if a["type"] == ev.CONTROL]
    if how == "command":
        assert acks == [(sid, "stopping")]  # acknowledged while loading, not at the first step
        _stopped_before_training(run, "stop command")
    else:
        assert acks == []
        _stopped_before_training(run, "signal SIGTERM")
