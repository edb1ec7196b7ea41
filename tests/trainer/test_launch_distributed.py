"""The launcher spawns `accelerate launch` when a config asks for several training processes,
and refuses, before any run directory exists, when the GPUs are too few."""

from __future__ import annotations

from grpo_tui.cli import main
from grpo_tui import launcher as launch
from grpo_tui.core.planning import hardware
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.rundir import runs_root
import pytest


@pytest.fixture(autouse=True)
def _fresh_nvml():
    yield
    hardware.set_backend(None)  # drop the fake GPUs' cached state for later tests


def test_too_many_processes_for_the_gpus_is_refused_before_a_run_exists(capsys, monkeypatch):
    monkeypatch.setenv(hardware.ENV_FAKE, "none")
    hardware.set_backend(None)
    code = main(["run", "--preset", "cpu-tiny", "--set", "num_processes=2", "--detach"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "num_processes" in err[0] and "2 GPUs" in err[0]
    assert not runs_root().exists() or not any(runs_root().iterdir())


def test_two_gpus_two_processes_spawn_accelerate_launch(monkeypatch):
    monkeypatch.setenv(hardware.ENV_FAKE, "H100,H100")
    hardware.set_backend(None)
    cfg = load_preset("cpu-tiny").with_overrides({"num_processes": 2})
    run = launch.launch(cfg, spawn_trainer=False).run
    argv, env = launch.trainer_argv(run, cfg)
    joined = " ".join(argv)
    assert "accelerate" in joined and "launch" in joined and "--num_processes" in joined
    assert "grpo_tui.trainer" in joined and str(run.path) in joined
    single, _ = launch.trainer_argv(run, load_preset("cpu-tiny"))
    assert single[1:] == ["-m", "grpo_tui.trainer", str(run.path)]
