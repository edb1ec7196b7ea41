"""vLLM server mode and accelerate launch, tested on loopback and the CPU.

A stand-in server process (tests/standins/fake_vllm_server.py) on 127.0.0.1 answers
the health endpoint; the tests check the launch command, the health check, and
that the server's process group is gone after the run."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.rundir import create_run
from grpo_tui.trainer import distributed as dist
from grpo_tui.trainer import vllm_server as vs
from grpo_tui.trainer.context import TrainerContext

FAKE = str(Path(__file__).resolve().parents[1] / "standins" / "fake_vllm_server.py")


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _ctx(cfg) -> TrainerContext:
    run = create_run(cfg.to_dict())
    return TrainerContext(run=run, cfg=cfg, events=ev.EventWriter(run.events), samples=ev.EventWriter(run.samples))


def fake_command(*extra: str):
    """The stand-in server with the arguments grpo-tui would give `trl vllm-serve` (parsed by TRL's parser)."""
    def command(cfg, model, port):
        argv = vs.serve_command(cfg, model, port)
        return [sys.executable, FAKE, *extra, "--", *argv[argv.index("vllm-serve") + 1:]]
    return command


# -- the command line ---------------------------------------------------------------------------
def test_serve_command_and_gpu_split():
    cfg = load_preset("gpu-24gb").with_overrides({"use_vllm": True, "vllm_mode": "server"})
    argv = vs.serve_command(cfg, "Qwen/Qwen3-4B", 8123)
    assert argv[0].endswith("trl") or argv[1:3] == ["-m", "trl.cli.main"]
    i = argv.index("vllm-serve")
    assert argv[i + 1:i + 7] == ["--model", "Qwen/Qwen3-4B", "--host", "127.0.0.1", "--port", "8123"]
    assert argv[argv.index("--max_model_len") + 1] == str(cfg.max_seq_length)
    assert vs.split_gpus(4) == ([0, 1, 2], 3)
    with pytest.raises(vs.VllmServerError, match="needs 2 GPUs"):
        vs.split_gpus(1)
    assert vs.serve_env(1, {"PATH": "/bin"})["CUDA_VISIBLE_DEVICES"] == "1"
    assert vs.serve_env(1, {"CUDA_VISIBLE_DEVICES": "4,6"})["CUDA_VISIBLE_DEVICES"] == "6"


def test_free_port_skips_a_busy_one():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        assert vs.free_port(busy) != busy


# -- start, health, teardown ------------------------------------------------------------------------
def test_server_for_run_starts_checks_and_stops(tmp_path):
    cfg = load_preset("cpu-tiny").with_overrides({"use_vllm": True, "vllm_mode": "server", "vllm_server_port": 0})
    ctx = _ctx(cfg)
    with vs.server_for_run(ctx, "m", n_gpus=2, command=fake_command("--delay", "0.3"),
                           health_timeout=20) as overrides:
        server = ctx.extras["vllm_server"]
        pid = server.proc.pid
        assert server.healthy()
        assert overrides == {"use_vllm": True, "vllm_mode": "server", "vllm_server_host": "127.0.0.1",
                             "vllm_server_port": server.port}
        log = (ctx.run.path / vs.LOG_NAME).read_text()
        assert "CUDA_VISIBLE_DEVICES=1" in log  # the server's own GPU, the last one
    assert _gone(pid) and not server.healthy()
    evs = ev.read_all(ctx.run.events)[0]
    assert any(e["type"] == ev.PHASE and e["name"] == "starting_vllm_server" for e in evs)
    msgs = [e["message"] for e in evs if e["type"] == ev.LOG]
    assert any(m.startswith("vLLM server ready on 127.0.0.1:") for m in msgs) and "vLLM server stopped" in msgs


def test_server_stopped_when_the_run_fails():
    cfg = load_preset("cpu-tiny").with_overrides({"use_vllm": True, "vllm_mode": "server", "vllm_server_port": 0})
    ctx = _ctx(cfg)
    with pytest.raises(RuntimeError, match="training blew up"):
        with vs.server_for_run(ctx, "m", n_gpus=2, command=fake_command(), health_timeout=20):
            pid = ctx.extras["vllm_server"].proc.pid
            raise RuntimeError("training blew up")
    assert _gone(pid)


def test_server_that_exits_or_never_answers(tmp_path):
    s = vs.VllmServer([sys.executable, FAKE, "--exit-code", "3", "--", "--model", "m", "--port", "1"], dict(os.environ),
                      tmp_path / "a.log", port=vs.free_port(0)).start()
    with pytest.raises(vs.VllmServerError, match=r"exited with code 3 .*stand-in engine failed to start"):
        s.wait_healthy(timeout=20, interval=0.1)
    port = vs.free_port(0)
    s = vs.VllmServer([sys.executable, FAKE, "--never-healthy", "--", "--model", "m", "--port", str(port)],
                      dict(os.environ),
                      tmp_path / "b.log", port=port).start()
    with pytest.raises(vs.VllmServerError, match=r"did not answer http://127.0.0.1:\d+/health within 1s"):
        s.wait_healthy(timeout=1.0, interval=0.1)
    assert _gone(s.proc.pid)  # killed on timeout


def test_not_server_mode_is_a_no_op():
    ctx = _ctx(load_preset("cpu-tiny"))
    with vs.server_for_run(ctx, "m", n_gpus=0) as overrides:
        assert overrides == {}
    assert "vllm_server" not in ctx.extras


# -- accelerate launch -----------------------------------------------------------------------------------
def test_accelerate_command():
    argv, env = dist.accelerate_command("/runs/x", [0, 1, 2], main_process_port=29555, python="/py")
    assert argv[:3] == ["/py", "-m", "accelerate.commands.launch"]
    assert argv[argv.index("--num_processes") + 1] == "3" and "--multi_gpu" in argv
    assert argv[argv.index("--main_process_port") + 1] == "29555"
    assert argv[-3:] == ["-m", "grpo_tui.trainer", "/runs/x"]
    assert env == {"CUDA_VISIBLE_DEVICES": "0,1,2"}
    argv1, _ = dist.accelerate_command("/r", [3])
    assert "--multi_gpu" not in argv1
    with pytest.raises(ValueError):
        dist.accelerate_command("/r", [])


def test_rank():
    assert dist.is_main_process({}) and dist.is_main_process({"RANK": "0", "LOCAL_RANK": "0"})
    assert not dist.is_main_process({"RANK": "2"}) and dist.rank({"LOCAL_RANK": "1"}) == 1
    assert dist.world_size({"WORLD_SIZE": "4"}) == 4 and dist.world_size({}) == 1 and dist.world_size({"WORLD_SIZE": "x"}) == 1


def test_only_the_main_process_writes_events(monkeypatch):
    """A non-main rank trains (really, on the tiny model) but leaves the run directory untouched."""
    import subprocess

    from trainer_helpers import SMALL

    cfg = load_preset("cpu-tiny").with_overrides({**SMALL, "max_steps": 1})
    run = create_run(cfg.to_dict())
    run.send_command("checkpoint")
    env = dict(os.environ, RANK="1")  # no WORLD_SIZE: accelerate would wait for rank 0
    proc = subprocess.run([sys.executable, "-m", "grpo_tui.trainer", str(run.path)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not run.events.exists() or run.events.read_bytes() == b""
    assert not (run.adapter / "adapter_config.json").exists() and not (run.adapter / "config.json").exists()
    assert len(run.pending_commands()) == 1  # left for the main process


def test_colocate_and_server_settings_reach_grpo_config():
    from grpo_tui.trainer.grpo_args import grpo_kwargs

    cfg = load_preset("cpu-tiny").with_overrides({"use_vllm": True, "vllm_mode": "colocate",
                                                  "gpu_memory_utilization": 0.3})
    kw = grpo_kwargs(cfg, Path("/tmp/o"), "cuda")
    assert (kw["use_vllm"], kw["vllm_mode"], kw["vllm_gpu_memory_utilization"]) == (True, "colocate", 0.3)
    # vLLM sized to the run's sequences, not the model's whole context (131k for Llama 3.1).
    assert kw["vllm_max_model_length"] == cfg.max_seq_length
    from grpo_tui.trainer.grpo_args import build_grpo_config

    args = build_grpo_config(cfg.with_overrides({"vllm_mode": "server"}), Path("/tmp/o"), "cpu",
                             vllm_server_host="127.0.0.1", vllm_server_port=8765)
    assert (args.vllm_mode, args.vllm_server_host, args.vllm_server_port) == ("server", "127.0.0.1", 8765)


def test_trl_run_in_server_mode_without_two_gpus_fails_in_one_line(monkeypatch):
    """The trl backend really goes through its vLLM check and server_for_run: with the stand-in vLLM's
    metadata (0.31.0, built for torch 2.13.0) the check passes, and on this GPU-less machine the server
    start refuses."""
    from trainer_helpers import events, kill, start, wait_exit

    standins = str(Path(__file__).resolve().parents[1] / "standins")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([standins, os.environ.get("PYTHONPATH", "")]))
    launched = start(use_vllm=True, vllm_mode="server", max_steps=1)
    try:
        assert wait_exit(launched.proc, timeout=180) == 1
    finally:
        kill(launched.proc)
    fin = [e for e in events(launched.run) if e["type"] == ev.FINISHED][-1]
    assert fin["error"].startswith("VllmServerError: vllm_mode=server needs 2 GPUs (one for the vLLM server), "
                                   "0 visible"), fin["error"]


def test_trl_use_vllm_preflight():
    from grpo_tui.trainer import gpu_checks as gc

    cfg = load_preset("cpu-tiny").with_overrides({"use_vllm": True, "vllm_mode": "colocate"})
    req = ["torch==2.13.0"]
    with pytest.raises(gc.GpuUnavailable, match=r"vLLM is not installed and use_vllm needs it.*use_vllm=false"):
        gc.trl_vllm_preflight(cfg, 1, "2.13.0+cu128", None, None)
    with pytest.raises(gc.GpuUnavailable, match=r"built for torch 2.14.0 but torch 2.13.0"):
        gc.trl_vllm_preflight(cfg, 1, "2.13.0", "0.33.0", ["torch==2.14.0"])
    with pytest.raises(gc.GpuUnavailable, match=r"use_vllm=true needs an NVIDIA GPU"):
        gc.trl_vllm_preflight(cfg, 0, "2.13.0+cpu", "0.31.0", req)
    gc.trl_vllm_preflight(cfg, 1, "2.13.0+cu128", "0.31.0", req)  # fine
    gc.trl_vllm_preflight(cfg.with_overrides({"vllm_mode": "server"}), 0, "2.13.0", "0.31.0", req)  # checked later
    gc.trl_vllm_preflight(cfg.with_overrides({"use_vllm": False}), 0, "2.13.0", None, None)  # not used


def test_trainer_command():
    argv, env = dist.trainer_command("/r", 1, 0, python="/py")
    assert argv == ["/py", "-m", "grpo_tui.trainer", "/r"] and env == {}
    argv, env = dist.trainer_command("/r", 2, 2, python="/py")
    assert "--multi_gpu" in argv and env == {"CUDA_VISIBLE_DEVICES": "0,1"}
    argv, env = dist.trainer_command("/r", 2, 3, server_mode=True, python="/py")
    assert argv[argv.index("--num_processes") + 1] == "2"
    assert env == {"CUDA_VISIBLE_DEVICES": "0,1", dist.SERVER_GPU_ENV: "2"}
    with pytest.raises(ValueError, match=r"num_processes=2 needs 2 GPUs plus one for the vLLM server, 2 visible: "
                                         r"use --set num_processes=1"):
        dist.trainer_command("/r", 2, 2, server_mode=True)


def test_server_only_from_the_main_process(monkeypatch):
    cfg = load_preset("cpu-tiny").with_overrides({"use_vllm": True, "vllm_mode": "server", "vllm_server_port": 8011})
    ctx = _ctx(cfg)
    monkeypatch.setenv("RANK", "1")

    def never(*a):
        raise AssertionError("a non-main rank must not start a server")

    with vs.server_for_run(ctx, "m", n_gpus=2, command=never) as overrides:
        assert overrides["vllm_mode"] == "server" and overrides["vllm_server_port"] == 8011
    assert "vllm_server" not in ctx.extras


# -- failure 4 (issue 18): one trainer process must see one GPU ------------------------------------------
def test_one_trainer_process_sees_only_its_gpu():
    """transformers gives a process that sees several GPUs n_gpu > 1 and TRL's GRPOTrainer refuses that
    (trl/trainer/grpo_trainer.py: "does not support nn.DataParallel"): the launcher names the trainer's
    GPU, and in server mode hands over the server's GPU, which the trainer itself no longer sees."""
    _, env = dist.trainer_command("/r", 1, 2, server_mode=True, python="/py")
    assert env == {"CUDA_VISIBLE_DEVICES": "0", dist.SERVER_GPU_ENV: "1"}
    _, env = dist.trainer_command("/r", 1, 3, python="/py")
    assert env == {"CUDA_VISIBLE_DEVICES": "0"}
    _, env = dist.trainer_command("/r", 1, 2, server_mode=True, gpu_ids=["GPU-b", "GPU-a"])
    assert env == {"CUDA_VISIBLE_DEVICES": "GPU-b", dist.SERVER_GPU_ENV: "GPU-a"}
    assert dist.trainer_command("/r", 1, 0)[1] == {}  # no GPU: nothing to pin


def test_launcher_pins_the_gpus_by_uuid(monkeypatch):
    from grpo_tui import launcher
    from grpo_tui.core.planning import hardware

    monkeypatch.setenv(hardware.ENV_FAKE, "T4,H100")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    hardware.set_backend(None)
    try:
        cfg = load_preset("cpu-tiny").with_overrides({"use_vllm": True, "vllm_mode": "server"})
        _, env = launcher.trainer_argv(None, cfg)
        # The H100 (most memory, the card the planner checks) trains; the T4 serves.
        assert env == {"CUDA_VISIBLE_DEVICES": "GPU-fake-0001", dist.SERVER_GPU_ENV: "GPU-fake-0000"}
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
        hardware.set_backend(None)
        assert launcher.trainer_argv(None, load_preset("cpu-tiny"))[1] == {"CUDA_VISIBLE_DEVICES": "GPU-fake-0001"}
        monkeypatch.setenv(hardware.ENV_FAKE, "A100-MIG")  # MIG: left to CUDA, which shows one instance
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
        hardware.set_backend(None)
        assert launcher.trainer_argv(None, load_preset("cpu-tiny"))[1] == {}
    finally:
        hardware.set_backend(None)


def test_server_uses_the_gpu_the_launcher_handed_over(monkeypatch):
    """The trainer sees one GPU; the server starts on the one named in SERVER_GPU_ENV, with a --model vLLM
    can load (builtin:tiny becomes its folder: the stand-in refuses what vLLM would)."""
    monkeypatch.setenv(dist.SERVER_GPU_ENV, "GPU-fake-0007")
    cfg = load_preset("cpu-tiny").with_overrides({"use_vllm": True, "vllm_mode": "server", "vllm_server_port": 0})
    ctx = _ctx(cfg)
    with vs.server_for_run(ctx, cfg.model, command=fake_command(), health_timeout=30):
        log = (ctx.run.path / vs.LOG_NAME).read_text()
        assert "CUDA_VISIBLE_DEVICES=GPU-fake-0007" in log
        model = vs.served_model(cfg, cfg.model)
        assert Path(model).is_dir() and f"'--model', '{model}'" in log


def test_served_model_is_loadable_by_vllm(tmp_path, monkeypatch):
    cfg = load_preset("cpu-tiny")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "m").mkdir()
    assert vs.served_model(cfg, "~/m") == str(tmp_path / "m")
    assert vs.served_model(cfg, "Qwen/Qwen3-4B") == "Qwen/Qwen3-4B"
