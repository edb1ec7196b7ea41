"""`grpo-tui run --fork RUN@STEP`: a new run from a parent's checkpoint, on the real tiny trainer (CPU)."""

from __future__ import annotations

import json

import pytest

from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.run import live_settings as ls
from grpo_tui.core.reading.compare import Comparison, to_markdown
from grpo_tui.core.run.rundir import list_runs, summarize
from grpo_tui.core.run.sample_columns import event_rows
from grpo_tui.forking import fork

from trainer_helpers import events, kill, start, wait_exit

pytestmark = pytest.mark.slow


def _metrics(run) -> dict[int, dict]:
    return {e["step"]: e["metrics"] for e in events(run) if e["type"] == ev.METRICS}


def _completions(run) -> dict[int, list[str]]:
    return {e["step"]: [r["completion"] for r in event_rows(e)] for e in ev.read_all(run.samples)[0]}


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A finished 6-step LoRA run with checkpoints at steps 3 and 6 (its own GRPO_TUI_HOME for the module)."""
    import os

    home = tmp_path_factory.mktemp("fork-home")
    old = os.environ.get("GRPO_TUI_HOME")
    os.environ["GRPO_TUI_HOME"] = str(home)
    launched = start(max_steps=6, save_steps=3, full_finetuning=False)  # a LoRA adapter, as real models train
    try:
        assert wait_exit(launched.proc) == 0, launched.run.log_tail(30)
    finally:
        kill(launched.proc)
        if old is None:
            os.environ.pop("GRPO_TUI_HOME", None)
        else:
            os.environ["GRPO_TUI_HOME"] = old
    return home, launched.run


def test_fork_without_changes_reproduces_the_parents_next_steps(parent, monkeypatch):
    home, run = parent
    monkeypatch.setenv("GRPO_TUI_HOME", str(home))
    child = fork(run, 4, [])  # the newest checkpoint at or before step 4 is step 3's
    try:
        assert wait_exit(child.proc) == 0, child.run.log_tail(30)
    finally:
        kill(child.proc)
    info = child.run.info()
    assert info["fork_of"]["run"] == run.id and info["fork_of"]["step"] == 3
    mine, theirs = _metrics(child.run), _metrics(run)
    assert sorted(mine) == [4, 5, 6]  # it continues at the step after the checkpoint
    for s in (4, 5, 6):  # same adapter, optimizer, RNG and batch: the same completions, logits and loss
        for k in ("loss", "entropy", "reward", "grad_norm", "learning_rate", "completions/mean_length"):
            assert mine[s][k] == pytest.approx(theirs[s][k], rel=1e-6, abs=1e-9), (s, k)
    assert _completions(child.run)[4] == _completions(run)[4]
    assert summarize(child.run).fork_of == f"{run.id}@3"


def test_fork_with_a_change_and_lineage_in_the_lists(parent, monkeypatch, capsys):
    home, run = parent
    monkeypatch.setenv("GRPO_TUI_HOME", str(home))
    capsys.readouterr()
    assert main(["run", "--fork", f"{run.id}@3", "--set", "learning_rate=0.01", "--detach"]) == 0
    child = next(r for r in list_runs() if (r.info().get("fork_of") or {}).get("step") == 3
                 and r.config()["learning_rate"] == 0.01)
    deadline_ok = False
    import time

    for _ in range(600):
        if summarize(child).state == ev.COMPLETED:
            deadline_ok = True
            break
        time.sleep(0.2)
    assert deadline_ok, child.log_tail(30)
    lr = {s: m["learning_rate"] for s, m in _metrics(child).items()}
    assert sorted(lr) == [4, 5, 6] and all(v == pytest.approx(0.01) for v in lr.values())
    assert json.loads((child.path / ls.SETTINGS_JSON).read_text())["overrides"] == {"learning_rate": 0.01}
    capsys.readouterr()
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert f"fork of {run.id}@3" in out
    c = Comparison([run, child])
    c.load()
    md = to_markdown(c)
    assert f"is a fork of {run.id}@3" in md
    # the overlay: the fork's curve starts after the parent's checkpoint step
    (px, _), (fx, _) = c.curves("reward")
    assert px[0] == 1 and fx[0] == 4


@pytest.mark.parametrize("ref,setting,says", [
    ("@1", None, "no checkpoint at or before step 1 (checkpoints: 3, 6)"),
    ("@3", "num_generations=2", "num_generations: cannot change while the run trains"),
    ("@3", "max_completion_length=500", "ceiling of 96"),
    ("@x", None, "not a step number"),
])
def test_fork_refusals_are_one_line_and_make_no_run(parent, monkeypatch, capsys, ref, setting, says):
    home, run = parent
    monkeypatch.setenv("GRPO_TUI_HOME", str(home))
    before = {r.id for r in list_runs()}
    capsys.readouterr()
    argv = ["run", "--fork", run.id + ref] + (["--set", setting] if setting else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1, err
    assert {r.id for r in list_runs()} == before
