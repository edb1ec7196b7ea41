"""Held-out accuracy with a format warm start (issue 27): before -> after the warm start -> after
training, in `grpo-tui runs`' line, the start screen's short cell, and the report."""

from __future__ import annotations

import time

from grpo_tui.core.run import events as ev
from grpo_tui.core.reading.report import build_report, to_markdown
from grpo_tui.core.run.rundir import create_run, summarize


def _run(whens):
    run = create_run({"name": "cpu-smollm2", "max_steps": 2})
    t0 = time.time() - 1000
    accs = {"before": 0.0, "warmstart": 0.25, "after": 0.3125}
    with ev.EventWriter(run.events) as w:
        w.write(dict(ev.make_event(ev.RUN_STARTED, 0, pid=None, max_steps=2), ts=t0))
        for i, when in enumerate(whens):
            w.write(dict(ev.make_event(ev.EVAL, 0, name="builtin:word_problems", accuracy=accs[when], n=32,
                                       when=when, correct=int(accs[when] * 32), split="fresh draws"), ts=t0 + i))
        w.write(dict(ev.make_event(ev.FINISHED, 2, status="completed"), ts=t0 + 10))
    return run


def test_three_evals_read_in_order_everywhere():
    from grpo_tui.tui.screens.start import _short_eval

    run = _run(["before", "warmstart", "after"])
    s = summarize(run)
    assert s.eval_line() == "before 0.0% -> warmstart 25.0% -> after 31.2%"
    assert _short_eval(s) == "0→31%"  # before -> after in the run list's few cells
    md = to_markdown(build_report(run))
    section = md.split("## Evaluation", 1)[1]
    assert section.index("before") < section.index("warmstart") < section.index("after")
    assert "31.2" in section or "0.312" in section or "31%" in section, section[:400]


def test_while_training_the_warm_start_is_the_latest_word():
    from grpo_tui.tui.screens.start import _short_eval

    s = summarize(_run(["before", "warmstart"]))
    assert s.eval_line() == "before 0.0% -> warmstart 25.0%" and _short_eval(s) == "0→25%"
