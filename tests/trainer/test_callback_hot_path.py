"""What the callback does on the training loop's thread every step (bench/callback_overhead.py
measures its cost): the memory figure read cheaply, commands found with one directory scan when the
folder may have changed, and alerts stamped with the step they are about."""

from __future__ import annotations

import json
import os
import time

from grpo_tui.core.run import events as ev
from grpo_tui.core.run import metric_names as M
from grpo_tui.core.settings.config import RunConfig
from grpo_tui.core.run.synthetic import make_run
from grpo_tui.trainer.callback import EventCallback
from grpo_tui.trainer.context import TrainerContext
from grpo_tui.trainer.control import Controller, Decision, FolderChanges


def _ctx() -> TrainerContext:
    run = make_run(1, state="training")
    return TrainerContext(run=run, cfg=RunConfig(), events=ev.EventWriter(run.events),
                          samples=ev.EventWriter(run.samples))


def test_the_step_memory_figure_is_the_process_rss():
    import psutil

    cb = EventCallback(_ctx())
    ballast = bytearray(64 * 2**20)  # the figure must move with the process
    ballast[::4096] = b"x" * len(ballast[::4096])
    ours, theirs = cb.memory()[M.RSS_MB], psutil.Process().memory_info().rss / 2**20
    assert abs(ours - theirs) < 8, (ours, theirs)
    del ballast


def test_the_memory_figure_is_read_at_most_once_a_second(monkeypatch):
    import grpo_tui.trainer.callback as cbmod

    cb = EventCallback(_ctx())
    first = cb.memory()[M.RSS_MB]
    ballast = bytearray(64 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])
    assert cb.memory()[M.RSS_MB] == first  # within RSS_S: the last figure
    monkeypatch.setattr(cbmod, "RSS_S", 0.0)
    assert cb.memory()[M.RSS_MB] > first + 32  # due: read again
    del ballast


def test_alerts_carry_the_step_they_were_found_at():
    ctx = _ctx()
    cb = EventCallback(ctx)
    ctx.step = 99  # whatever the context last saw
    cb._check_health({"type": ev.METRICS, "step": 12, "ts": time.time(), "metrics": {"loss": float("nan")}})
    cb.commit()
    alerts = [e for e in ev.read_all(ctx.run.events)[0] if e["type"] == ev.ALERT]
    assert alerts and {a["step"] for a in alerts} == {12}


def test_pending_commands_oldest_first_skipping_hidden_foreign_and_broken_files():
    run = make_run(1, state="training")
    first = run.send_command("pause")
    second = run.send_command("resume")
    (run.commands / ".partial.json").write_text("{}")  # an atomic write in progress
    (run.commands / "notes.txt").write_text("x")
    (run.commands / "zz-broken.json").write_text("{not json")
    (run.commands / "sub.json").mkdir()
    got = run.pending_commands()
    assert [c["id"] for c in got] == sorted([first, second]) and [c["command"] for c in got] == ["pause", "resume"]
    assert all(json.loads(open(c["_path"]).read())["id"] == c["id"] for c in got)


def test_pending_commands_of_a_run_without_a_commands_folder():
    run = make_run(1, state="training")
    for p in run.commands.iterdir():
        p.unlink()
    run.commands.rmdir()
    assert run.pending_commands() == []
    run.commands.write_text("not a folder")
    assert run.pending_commands() == []


class _Clocks:
    """A monotonic clock and a wall clock the test moves by hand."""

    def __init__(self):
        self.mono, self.wall = 100.0, time.time()

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def _aged(folder, seconds: float) -> int:
    """Set the folder's mtime ``seconds`` into the past (a quiet folder); returns it in ns."""
    ns = time.time_ns() - int(seconds * 1e9)
    os.utime(folder, ns=(ns, ns))
    return ns


def test_the_commands_folder_is_listed_only_when_it_may_have_changed():
    run = make_run(1, state="training")
    clocks = _Clocks()
    watch = FolderChanges(run.commands, clock=lambda: clocks.mono, wall=lambda: clocks.wall)
    _aged(run.commands, 60)
    assert watch.changed()  # the first look
    assert not watch.changed()  # a quiet folder: one stat, no listing
    run.send_command("pause")  # a new file moves the mtime
    assert watch.changed()
    _aged(run.commands, 60)
    assert watch.changed() and not watch.changed()  # any mtime move counts, back in time too


def test_a_file_added_within_the_mtime_tick_is_found_while_the_change_is_recent():
    run = make_run(1, state="training")
    clocks = _Clocks()
    watch = FolderChanges(run.commands, clock=lambda: clocks.mono, wall=lambda: clocks.wall)
    tick = _aged(run.commands, 0.5)  # changed half a second ago
    assert watch.changed()
    run.send_command("pause")
    os.utime(run.commands, ns=(tick, tick))  # a coarse clock: the same mtime as at the last look
    assert watch.changed()  # recent: listed again
    clocks.wall += FolderChanges.RECENT_S  # (the rescan period has not passed)
    assert not watch.changed()  # the change is old now and the mtime is as seen


def test_a_same_tick_change_on_a_skewed_clock_is_found_within_the_rescan_period():
    run = make_run(1, state="training")
    clocks = _Clocks()
    watch = FolderChanges(run.commands, clock=lambda: clocks.mono, wall=lambda: clocks.wall)
    tick = _aged(run.commands, 60)
    assert watch.changed()
    run.send_command("stop")
    os.utime(run.commands, ns=(tick, tick))  # the mtime did not move and does not look recent
    assert not watch.changed()
    clocks.advance(FolderChanges.RESCAN_S)
    assert watch.changed()  # at most RESCAN_S late


def test_a_command_reaches_the_controller_at_the_next_step_boundary():
    ctx = _ctx()
    controller = Controller(ctx, is_main=True)
    assert controller.poll() == Decision()
    ctx.run.send_command("checkpoint")
    assert controller.poll().save_checkpoint
    ctx.run.send_command("stop")
    assert controller.poll().stop


# -- group commit: per-step events held and written together ------------------------------------
class _Loop:
    """Drives an EventCallback as the Trainer does, on a clock the test moves."""

    def __init__(self, monkeypatch):
        import types

        import grpo_tui.trainer.callback as cbmod

        self.now = 1000.0
        monkeypatch.setattr(cbmod, "time", types.SimpleNamespace(monotonic=lambda: self.now,
                                                                 perf_counter=time.perf_counter))
        run = make_run(0, state="training")  # no steps of its own
        self.ctx = TrainerContext(run=run, cfg=RunConfig(), events=ev.EventWriter(run.events),
                                  samples=ev.EventWriter(run.samples))
        self.cb = EventCallback(self.ctx)
        self.ctx.extras["callback"] = self.cb  # as attach_events and watch() register it
        self.args = types.SimpleNamespace(logging_steps=1, output_dir=str(self.ctx.run.checkpoints))
        self.state = types.SimpleNamespace(global_step=0, max_steps=100)
        self.control = types.SimpleNamespace(should_save=False, should_training_stop=False)

    def step(self, loss: float = 0.5, seconds: float = 0.05) -> None:
        self.now += seconds
        self.state.global_step += 1
        self.cb.on_step_end(self.args, self.state, self.control)
        self.cb.on_log(self.args, self.state, self.control, logs={"loss": loss, "reward": 1.0})

    def written(self) -> list:
        return [(e["type"], e["step"]) for e in ev.read_all(self.ctx.run.events)[0]
                if e["type"] in (ev.METRICS, ev.ALERT, ev.CHECKPOINT, ev.CONTROL)]


def test_steps_are_written_together_at_most_every_commit_period(monkeypatch):
    from grpo_tui.trainer.callback import COMMIT_S

    loop = _Loop(monkeypatch)
    loop.step()
    assert loop.written() == [(ev.METRICS, 1)]  # the first step at once
    loop.step(loss=float("nan"))
    loop.step()
    assert loop.written() == [(ev.METRICS, 1)]  # held
    loop.step(seconds=COMMIT_S)
    got = loop.written()
    assert [x for x in got if x[0] == ev.METRICS] == [(ev.METRICS, s) for s in (1, 2, 3, 4)]
    assert (ev.ALERT, 2) in got  # the health checks saw the held steps, each alert at its own step
    loop.step()
    loop.cb.on_save(loop.args, loop.state, loop.control)  # a checkpoint comes after what led to it
    assert loop.written()[-2:] == [(ev.METRICS, 5), (ev.CHECKPOINT, 5)]
    loop.step()
    loop.cb.on_train_end(loop.args, loop.state, loop.control)
    assert loop.written()[-1] == (ev.METRICS, 6)


def test_a_pause_writes_the_held_steps_before_it_blocks(monkeypatch):
    import threading

    loop = _Loop(monkeypatch)
    loop.step()
    loop.step()  # held
    loop.ctx.run.send_command("pause")
    stepper = threading.Thread(target=loop.step)
    stepper.start()  # step 3 takes the pause and blocks in it
    deadline = time.monotonic() + 20
    while (ev.METRICS, 3) not in loop.written() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [x for x in loop.written() if x[0] == ev.METRICS] == [(ev.METRICS, s) for s in (1, 2, 3)]
    assert stepper.is_alive()  # still paused: the steps were written while it waits
    loop.ctx.run.send_command("resume")
    stepper.join(20)
    assert not stepper.is_alive()


def test_commit_held_writes_what_the_callback_holds_and_never_keeps_finished_out(monkeypatch):
    loop = _Loop(monkeypatch)
    loop.step()
    loop.step()  # held
    loop.ctx.commit_held()  # as the trainer and watch() do before their finished event
    assert [x for x in loop.written() if x[0] == ev.METRICS] == [(ev.METRICS, 1), (ev.METRICS, 2)]

    def full(*a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(loop.cb, "commit", full)
    loop.ctx.commit_held()  # a full samples file: no exception, the finished event still goes out
