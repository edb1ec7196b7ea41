"""Bad input: one line naming the field and the fix, exit code 2, no run directory."""

from __future__ import annotations

import pytest

from grpo_tui.cli import main
from grpo_tui.core.run.rundir import runs_root


def _run(capsys, *argv: str) -> str:
    code = main(["run", "--headless", *argv])
    out = capsys.readouterr()
    assert code == 2, out
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1, out.err
    assert out.out == ""
    root = runs_root()
    assert not root.exists() or not any(root.iterdir()), list(root.iterdir())
    return lines[0]


def test_unknown_preset(capsys):
    line = _run(capsys, "--preset", "no-such-preset")
    assert "preset" in line and "cpu-tiny" in line


def test_sampling_out_of_range(capsys):
    # TRL / vLLM: top_p in (0, 1]; accepted before, it crashed the run after its directory existed
    line = _run(capsys, "--preset", "cpu-tiny", "--set", "top_p=-1")
    assert line.startswith("grpo-tui: error: top_p:") and "(0, 1]" in line


def test_unknown_field(capsys):
    line = _run(capsys, "--preset", "cpu-tiny", "--set", "num_generation=4")
    assert "num_generation" in line and "num_generations" in line


def test_bad_value_type(capsys):
    line = _run(capsys, "--preset", "cpu-tiny", "--set", "max_steps=lots")
    assert "max_steps" in line


def test_missing_dataset_file(capsys, tmp_path):
    line = _run(capsys, "--preset", "cpu-tiny", "--set", f"dataset={tmp_path / 'nope.jsonl'}")
    assert "dataset" in line and "does not exist" in line


def test_unknown_builtin_task(capsys):
    line = _run(capsys, "--preset", "cpu-tiny", "--set", "dataset=builtin:nope")
    assert "dataset" in line and "builtin:arith" in line


@pytest.mark.parametrize("body", ["import no_such_module_xyz\n", "def other(**kw):\n    return []\n"])
def test_unimportable_reward_function(capsys, tmp_path, body):
    f = tmp_path / "my_rewards.py"
    f.write_text(body)
    line = _run(capsys, "--preset", "cpu-tiny", "--reward", f"{f}:brevity")
    assert "rewards" in line and "my_rewards.py" in line


def test_missing_reward_file(capsys, tmp_path):
    line = _run(capsys, "--preset", "cpu-tiny", "--reward", f"{tmp_path}/gone.py:f")
    assert "rewards" in line and "gone.py" in line


def test_resume_without_checkpoint(capsys):
    from grpo_tui import launcher as launch
    from grpo_tui.core.planning.presets import load_preset

    run = launch.launch(load_preset("cpu-tiny"), spawn_trainer=False).run
    (run.path / "events.jsonl").write_text(
        '{"v":1,"type":"finished","ts":0,"step":0,"status":"stopped"}\n')
    code = main(["run", "--resume", run.id, "--headless"])
    err = capsys.readouterr().err
    assert code == 2 and "no checkpoint" in err and len(err.strip().splitlines()) == 1
