"""trainer.control's Controller without a model: commands taken in order and acknowledged with the
state after them, pause blocking until resume or stop, checkpoints now or after the step, and ranks
following the main process's decision. (The real trainer obeying the same commands end to end:
test_trainer_e2e.py, test_distributed_control.py.)"""

from __future__ import annotations

import json
import threading

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.settings.config import RunConfig
from grpo_tui.core.run.rundir import atomic_write
from grpo_tui.core.run.synthetic import make_run
from grpo_tui.trainer import control
from grpo_tui.trainer.context import TrainerContext
from grpo_tui.trainer.control import Controller, Decision, take_commands
from grpo_tui.trainer.rank_sync import SingleProcess


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch):
    monkeypatch.setattr(control, "POLL_S", 0.01)


def _ctx(step: int = 7) -> TrainerContext:
    run = make_run(1, state="training")
    ctx = TrainerContext(run=run, cfg=RunConfig(), events=ev.EventWriter(run.events),
                         samples=ev.EventWriter(run.samples))
    ctx.step = step
    return ctx


def _acks(ctx) -> list[tuple]:
    return [(e["command"], e["state"], e["step"], e.get("error"))
            for e in ev.read_all(ctx.run.events)[0] if e["type"] == ev.CONTROL]


def _wait_acks(ctx, n: int, thread: threading.Thread, timeout: float = 10.0) -> list[tuple]:
    ended = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if len(_acks(ctx)) >= n:
            return _acks(ctx)
        ended.wait(0.01)
    raise AssertionError(f"{len(_acks(ctx))} acks, wanted {n}; poll thread alive: {thread.is_alive()}")


class Recorder:
    """A rank sync that records each view and answers with it (one process), or with a fixed decision."""

    def __init__(self, decision: dict | None = None):
        self.views: list[dict] = []
        self.decision = decision

    def agree(self, view):
        self.views.append(dict(view))
        return dict(self.decision) if self.decision is not None else dict(view)


def test_take_commands_oldest_first_deleting_each_and_leaving_other_names():
    ctx = _ctx()
    ids = [ctx.run.send_command(c) for c in ("pause", "checkpoint", "resume")]
    taken = take_commands(ctx.run, ("pause", "resume"))
    assert [(c["id"], c["command"]) for c in taken] == [(ids[0], "pause"), (ids[2], "resume")]
    assert [c["id"] for c in ctx.run.pending_commands()] == [ids[1]]
    assert [c["command"] for c in take_commands(ctx.run)] == ["checkpoint"]
    assert ctx.run.pending_commands() == [] and take_commands(ctx.run) == []


def test_no_commands_no_change():
    ctx = _ctx()
    sync = Recorder()
    d = Controller(ctx, sync=sync, is_main=True).poll()
    assert d == Decision(save_checkpoint=False, stop=False)
    assert sync.views == [{"paused": False, "save": False, "save_now": False, "stop": False}]
    assert _acks(ctx) == [] and not ctx.stop_requested.is_set()


def test_pause_blocks_until_resume_and_each_is_acknowledged():
    ctx = _ctx()
    c = Controller(ctx, sync=SingleProcess(), is_main=True)
    pause_id = ctx.run.send_command("pause")
    out: list[Decision] = []
    t = threading.Thread(target=lambda: out.append(c.poll()), daemon=True)
    t.start()
    assert _wait_acks(ctx, 1, t) == [("pause", "paused", 7, None)]
    assert t.is_alive() and c.paused and out == []  # acknowledged, and still holding the step
    assert not ctx.run.pending_commands()
    ctx.run.send_command("resume")
    t.join(10)
    assert not t.is_alive() and out == [Decision()]
    assert _acks(ctx) == [("pause", "paused", 7, None), ("resume", "training", 7, None)]
    assert [e["id"] for e in ev.read_all(ctx.run.events)[0] if e["type"] == ev.CONTROL][0] == pause_id
    assert not c.paused


def test_stop_ends_a_pause_and_asks_the_trainer_to_stop():
    ctx = _ctx()
    c = Controller(ctx, sync=SingleProcess(), is_main=True)
    ctx.run.send_command("pause")
    out: list[Decision] = []
    t = threading.Thread(target=lambda: out.append(c.poll()), daemon=True)
    t.start()
    _wait_acks(ctx, 1, t)
    ctx.run.send_command("stop")
    t.join(10)
    assert out == [Decision(save_checkpoint=False, stop=True)]
    assert _acks(ctx) == [("pause", "paused", 7, None), ("stop", "stopping", 7, None)]
    assert ctx.stop_requested.is_set() and ctx.stop_reason == "stop command" and not c.paused


def test_a_stop_asked_elsewhere_is_in_the_view_and_the_decision():
    ctx = _ctx()
    ctx.request_stop("SIGTERM")
    sync = Recorder()
    assert Controller(ctx, sync=sync, is_main=True).poll() == Decision(stop=True)
    assert sync.views[-1]["stop"] is True and ctx.stop_reason == "SIGTERM"  # the first reason kept


def test_checkpoint_while_training_is_saved_after_the_step():
    ctx = _ctx()
    saved = []
    ctx.run.send_command("checkpoint")
    d = Controller(ctx, sync=SingleProcess(), is_main=True).poll(save_now=lambda: saved.append(1))
    assert d == Decision(save_checkpoint=True, stop=False) and saved == []
    assert _acks(ctx) == [("checkpoint", "training", 7, None)]


def test_checkpoint_while_paused_is_saved_at_once_then_not_again():
    ctx = _ctx()
    c = Controller(ctx, sync=SingleProcess(), is_main=True)
    saved: list[int] = []
    ctx.run.send_command("pause")
    ctx.run.send_command("checkpoint")
    out: list[Decision] = []
    t = threading.Thread(target=lambda: out.append(c.poll(save_now=lambda: saved.append(1))), daemon=True)
    t.start()
    _wait_acks(ctx, 2, t)
    ctx.run.send_command("resume")
    t.join(10)
    assert saved == [1] and out == [Decision(save_checkpoint=False, stop=False)]
    assert _acks(ctx) == [("pause", "paused", 7, None), ("checkpoint", "paused", 7, None),
                          ("resume", "training", 7, None)]


def test_checkpoint_while_paused_without_a_saver_waits_for_the_step():
    ctx = _ctx()
    c = Controller(ctx, sync=SingleProcess(), is_main=True)
    for cmd in ("pause", "checkpoint", "resume"):
        ctx.run.send_command(cmd)
    assert c.poll() == Decision(save_checkpoint=True, stop=False)


def test_an_unknown_command_is_refused_in_its_ack():
    ctx = _ctx()
    ctx.run.commands.mkdir(mode=0o700, exist_ok=True)
    atomic_write(ctx.run.commands / "00000000000000000001-1-abc.json", json.dumps({"id": "x1", "command": "dance"}))
    d = Controller(ctx, sync=SingleProcess(), is_main=True).poll()
    assert d == Decision() and _acks(ctx) == [("dance", "training", 7, "unknown command 'dance'")]
    assert not ctx.run.pending_commands()


def test_another_rank_takes_no_command_files_and_follows_the_main_process(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    ctx = _ctx(step=12)
    ctx.run.send_command("pause")
    decisions = iter([{"paused": True, "save": False, "save_now": True, "stop": False},
                      {"paused": True, "save": False, "save_now": False, "stop": False},
                      {"paused": False, "save": True, "save_now": False, "stop": False}])
    views: list[dict] = []

    class Main:
        def agree(self, view):
            views.append(dict(view))
            return next(decisions)

    saved: list[int] = []
    c = Controller(ctx, sync=Main(), is_main=False)
    d = c.poll(save_now=lambda: saved.append(1))
    assert d == Decision(save_checkpoint=True, stop=False) and saved == [1]
    assert views[0] == {"paused": False, "save": False, "save_now": False, "stop": False}  # it read nothing
    assert [cmd["command"] for cmd in ctx.run.pending_commands()] == ["pause"]  # left for the main process
    assert _acks(ctx) == []  # only the main process writes events
    assert capsys.readouterr().err.splitlines() == ["rank 1: paused at step 12", "rank 1: training at step 12"]


def test_a_stop_from_another_rank_stops_this_one(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "2")
    ctx = _ctx(step=3)
    c = Controller(ctx, sync=Recorder({"paused": True, "save": False, "save_now": False, "stop": True}),
                   is_main=False)
    assert c.poll() == Decision(save_checkpoint=False, stop=True)
    assert ctx.stop_requested.is_set() and ctx.stop_reason == "stop from another training process"
    assert not c.paused
    assert capsys.readouterr().err.splitlines() == ["rank 2: stopping at step 3"]


def test_the_main_process_writes_no_rank_lines(capsys):
    ctx = _ctx()
    for cmd in ("pause", "resume"):
        ctx.run.send_command(cmd)
    Controller(ctx, sync=SingleProcess(), is_main=True).poll()
    assert capsys.readouterr().err == ""


def test_sync_defaults_to_this_process_and_main_to_the_launchers_rank(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    made = []
    monkeypatch.setattr(control.rank_sync, "for_this_process", lambda: made.append(Recorder()) or made[-1])
    c = Controller(_ctx())
    assert made == []  # resolved late: the process group is up only once the Trainer exists
    assert c.is_main and c.sync is made[0] and c.sync is c.sync and len(made) == 1
    monkeypatch.setenv("RANK", "3")
    assert not Controller(_ctx()).is_main


def test_the_views_say_exactly_what_this_process_decided():
    ctx = _ctx()
    sync = Recorder()
    for cmd in ("pause", "resume"):
        ctx.run.send_command(cmd)
    Controller(ctx, sync=sync, is_main=True).poll()
    assert sync.views == [{"paused": False, "save": False, "save_now": False, "stop": False}]
    for cmd in ("pause", "stop"):
        ctx.run.send_command(cmd)
    c = Controller(ctx, sync=sync, is_main=True)
    assert c.poll() == Decision(stop=True)
    assert sync.views[-1] == {"paused": False, "save": False, "save_now": False, "stop": True}
    assert c.paused is False


def test_an_unknown_command_while_paused_keeps_the_pause_in_its_ack():
    ctx = _ctx()
    ctx.run.commands.mkdir(mode=0o700, exist_ok=True)
    for i, cmd in enumerate(("pause", "dance", "stop"), 1):  # taken in file-name order
        atomic_write(ctx.run.commands / f"{i:020d}-1-abc.json", json.dumps({"id": f"c{i}", "command": cmd}))
    assert Controller(ctx, sync=SingleProcess(), is_main=True).poll() == Decision(stop=True)
    assert _acks(ctx) == [("pause", "paused", 7, None), ("dance", "paused", 7, "unknown command 'dance'"),
                          ("stop", "stopping", 7, None)]


def test_an_ask_is_routed_to_the_asker_and_refused_when_not_paused():
    ctx = _ctx()
    ctx.run.commands.mkdir(mode=0o700, exist_ok=True)
    atomic_write(ctx.run.commands / "00000000000000000001-1-abc.json",
                 json.dumps({"id": "a1", "command": "ask", "prompt": "2+2="}))
    assert Controller(ctx, sync=SingleProcess(), is_main=True).poll() == Decision()
    assert _acks(ctx) == [("ask", "training", 7, "the run is not paused; pause it first, then ask")]


def test_another_rank_says_nothing_until_its_state_changes(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")  # is_main given: the launcher's rank is not asked
    ctx = _ctx()
    ctx.run.send_command("pause")
    c = Controller(ctx, sync=Recorder(), is_main=False)
    assert c.poll() == Decision() and not c.is_main
    assert capsys.readouterr().err == ""  # still training: no line
    assert [cmd["command"] for cmd in ctx.run.pending_commands()] == ["pause"]


def test_a_pause_pressed_right_after_stop_is_acknowledged_as_stopping_and_does_not_block():
    # Found as a user: `x`, `y` (stop) then `p` at once put both files in one poll; the pause was
    # acknowledged "paused" while the run was ending.
    ctx = _ctx()
    for c in ("stop", "pause", "checkpoint", "resume"):
        ctx.run.send_command(c)
    out: list[Decision] = []
    t = threading.Thread(target=lambda: out.append(Controller(ctx, sync=SingleProcess(), is_main=True).poll()),
                         daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive() and out[0].stop
    assert [(a[0], a[1]) for a in _acks(ctx)] == [("stop", "stopping"), ("pause", "stopping"),
                                                   ("checkpoint", "stopping"), ("resume", "stopping")]
