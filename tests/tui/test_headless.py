"""The headless progress view: summary figures, and Ctrl-C detaches."""

from __future__ import annotations

import os

import psutil
from rich.console import Console

from grpo_tui import headless
from grpo_tui.core.run import events as ev
from grpo_tui import launcher as launch
from grpo_tui.core.planning.presets import load_preset


def _run_with_events(n_steps: int, finished: str | None, alive_pid: bool = True):
    run = launch.launch(load_preset("cpu-tiny").with_overrides({"max_steps": n_steps}), spawn_trainer=False).run
    with ev.EventWriter(run.events) as w:
        w.emit(ev.RUN_STARTED, 0, pid=os.getpid() if alive_pid else 999999,
               pid_create_time=psutil.Process().create_time() if alive_pid else None, max_steps=n_steps)
        w.emit(ev.PHASE, 0, name="training")
        for step in range(1, n_steps + 1):
            w.emit(ev.METRICS, step, metrics={"reward": 0.5 if step <= 30 else 1.5,
                                              "completions/mean_length": 4.0})
        if finished:
            w.emit(ev.FINISHED, n_steps, status=finished, adapter_path=str(run.adapter))
    return run


def test_summary_reports_first_and_last_window_against_max():
    run = _run_with_events(60, "completed")
    console = Console(record=True, width=200)
    assert headless.follow(run, console, poll=0.01) == 0
    out = console.export_text()
    assert "completed at step 60/60" in out
    assert "first 30 steps: 0.500; last 30 steps: 1.500" in out
    assert "max possible 2" in out and "+50% of max" in out


def test_ctrl_c_detaches_and_says_how_to_reattach(monkeypatch):
    run = _run_with_events(5, None)  # live: our own pid stands in for the trainer

    def interrupt(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(headless.time, "sleep", interrupt)
    console = Console(record=True, width=200)
    assert headless.follow(run, console, poll=0.01) == 0
    out = console.export_text()
    assert "detached" in out and f"grpo-tui attach {run.id}" in out


def test_attach_headless_on_a_finished_run_prints_summary(capsys):
    from grpo_tui.cli import main

    run = _run_with_events(40, "stopped")
    assert main(["attach", run.id[:19], "--headless"]) == 0  # a unique id prefix works
    out = capsys.readouterr().out
    assert "stopped at step 40/40" in out


def test_runs_lists_a_crashed_run(capsys):
    from grpo_tui.cli import main

    run = _run_with_events(3, None, alive_pid=False)
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert run.id in out and "crashed" in out and "3/3" in out


def test_runs_shows_held_out_accuracy_before_and_after(capsys):
    from grpo_tui.cli import main

    run = _run_with_events(3, "completed")
    with ev.EventWriter(run.events) as w:
        w.emit(ev.EVAL, 0, name="arith-test", accuracy=0.125, n=16, when="before")
        w.emit(ev.EVAL, 3, name="arith-test", accuracy=0.5, n=16, when="after")
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "before 12.5% -> after 50.0%" in " ".join(out.split())
