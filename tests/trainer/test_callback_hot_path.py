"""What the callback does on the training loop's thread every step (bench/callback_overhead.py
measures its cost): the memory figure read cheaply, commands found with one directory scan, and
alerts stamped with the step they are about."""

from __future__ import annotations

import json
import time

from grpo_tui.core import events as ev
from grpo_tui.core import metric_names as M
from grpo_tui.core.config import RunConfig
from grpo_tui.core.synthetic import make_run
from grpo_tui.trainer.callback import EventCallback
from grpo_tui.trainer.context import TrainerContext


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


def test_alerts_carry_the_step_they_were_found_at():
    ctx = _ctx()
    cb = EventCallback(ctx)
    ctx.step = 99  # whatever the context last saw
    cb._check_health({"type": ev.METRICS, "step": 12, "ts": time.time(), "metrics": {"loss": float("nan")}})
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
