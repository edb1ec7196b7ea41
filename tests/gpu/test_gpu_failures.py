"""The GPU path's failure messages: one line each, naming what to change.

Pre-flight checks are pure functions of a probe, so GPUs this machine does not
have are fed in. Load/step failures run the real trainer process with the
stand-in unsloth raising what the real one raises (tests/standins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer import gpu_checks as gc

from standin_helpers import use_standins
from trainer_helpers import events, kill, start, wait_exit

T4 = gc.CudaDevice(0, "Tesla T4", (7, 5), 15.0)
P100 = gc.CudaDevice(0, "Tesla P100-PCIE-16GB", (6, 0), 16.0)
VLLM_REQ = ["numpy", "torch==2.13.0", "transformers<5.18.0,>=5.10.4"]


# -- pre-flight ------------------------------------------------------------------------------------
def test_no_gpu():
    with pytest.raises(gc.GpuUnavailable) as e:
        gc.preflight([], fast_inference=True, torch_version="2.13.0+cpu")
    msg = str(e.value)
    assert "no CUDA GPU" in msg and "CPU build" in msg and "cpu-tiny" in msg and "\n" not in msg


def test_gpu_too_old():
    with pytest.raises(gc.GpuUnavailable) as e:
        gc.preflight([P100], fast_inference=False, torch_version="2.13.0")
    msg = str(e.value)
    assert "compute capability 6.0" in msg and "7.0" in msg and "backend=trl" in msg and "\n" not in msg


def test_vllm_missing_and_mismatched():
    with pytest.raises(gc.GpuUnavailable, match=r"vLLM is not installed.*grpo-tui\[gpu\].*fast_inference=false"):
        gc.preflight([T4], fast_inference=True, torch_version="2.13.0", vllm_version=None)
    with pytest.raises(gc.GpuUnavailable, match=r"vLLM 0.33.0 is built for torch 2.14.0 but torch 2.13.0\+cu128"):
        gc.preflight([T4], fast_inference=True, torch_version="2.13.0+cu128", vllm_version="0.33.0",
                     vllm_requires=["torch==2.14.0"])
    # A matching pair passes (the local +cu tag is ignored); vLLM is not needed without fast_inference.
    assert gc.preflight([T4], fast_inference=True, torch_version="2.13.0+cu128", vllm_version="0.31.0",
                        vllm_requires=VLLM_REQ) == T4
    assert gc.preflight([T4], fast_inference=False, torch_version="2.13.0", vllm_version=None) == T4


def test_this_machine_has_no_gpu_for_unsloth():
    """The real probe here (CPU torch) must refuse, not crash."""
    cfg = load_preset("cpu-tiny").with_overrides({"backend": "unsloth", "fast_inference": True})
    with pytest.raises(gc.GpuUnavailable, match="no CUDA GPU"):
        gc.preflight_here(cfg)


# -- OOM advice from the planner ---------------------------------------------------------------------
def test_oom_advice_uses_the_planner():
    from grpo_tui.core.planning import planner

    cfg = load_preset("gpu-16gb")
    load_knobs = ("load_in_4bit", "vllm_standby", "gpu_memory_utilization")
    for where, knobs in (("step", gc.STEP_KNOBS), ("load", load_knobs)):
        advice = gc.oom_advice(cfg, where, 15.0)
        assert advice.startswith("--set ") and "planner:" in advice, advice
        change = advice.split(" (", 1)[0].removeprefix("--set ").split()
        over = dict(kv.split("=", 1) for kv in change)
        if where == "load":  # 4-bit and standby already off in this preset: vLLM's share goes down
            assert over == {"gpu_memory_utilization": str(round(cfg.gpu_memory_utilization - 0.1, 2))}
        assert set(over) & set(knobs), advice
        assert planner.plan(cfg.with_overrides(over), 15.0).total < planner.plan(cfg, 15.0).total


def test_oom_advice_without_the_planner():
    cfg = load_preset("cpu-tiny").with_overrides({"backend": "unsloth", "num_generations": 8,
                                                   "per_device_train_batch_size": 16})
    assert gc.oom_advice(cfg, "step", None).startswith("--set num_generations=4 per_device_train_batch_size=8")
    assert "load_in_4bit=true" in gc.oom_advice(cfg, "load", None)


def test_load_oom_advice_on_the_trl_backend_never_asks_for_what_it_refuses():
    """The trl backend refuses load_in_4bit (it loads 16-bit): its load advice is Unsloth's 4-bit, or a
    smaller vLLM share when TRL runs vLLM colocated; each suggestion passes pre-flight validation."""
    from grpo_tui.core.settings.config import ConfigError

    cfg = load_preset("cpu-tiny").with_overrides({"backend": "trl"})
    advice = gc.oom_advice(cfg, "load", None)
    assert advice.startswith("--set backend=unsloth load_in_4bit=true"), advice
    with pytest.raises(ConfigError):
        cfg.with_overrides({"load_in_4bit": True}).validate()
    colocated = cfg.with_overrides({"use_vllm": True, "gpu_memory_utilization": 0.4})
    assert gc.oom_advice(colocated, "load", None).startswith("--set gpu_memory_utilization=0.3")


def test_explain_failure_kinds():
    import torch

    cfg = load_preset("gpu-16gb")
    oom = gc.explain_failure(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB"), cfg, "step",
                             15.0, "Tesla T4")
    assert oom.kind == "oom" and "during a training step on Tesla T4 (15 GiB): try --set" in str(oom)
    assert gc.explain_failure(ValueError("unrelated"), cfg, "load") is None
    assert gc.explain_failure(OSError("We couldn't connect to 'https://huggingface.co'"), cfg, "load").kind == "offline"


# -- failures inside the trainer process (stand-ins) -----------------------------------------------------
@pytest.fixture
def standins(monkeypatch, tmp_path):
    use_standins(monkeypatch, tmp_path / "standin.jsonl")
    return monkeypatch


def _failed_run(**overrides) -> dict:
    launched = start(backend="unsloth", fast_inference=True, max_steps=2, lora_rank=4, lora_alpha=8,
                     full_finetuning=False, **overrides)
    try:
        rc = wait_exit(launched.proc, timeout=180)
    finally:
        kill(launched.proc)
    fin = [e for e in events(launched.run) if e["type"] == ev.FINISHED][-1]
    assert rc == 1 and fin["status"] == ev.FAILED, fin
    assert "\n" not in fin["error"]
    fin["_run"] = launched.run
    return fin


@pytest.mark.parametrize("fail, expected", [
    ("load_oom", "GpuFailure: CUDA out of memory during loading the model / building the vLLM engine: try "
                 "--set load_in_4bit=true"),
    ("gated", "is gated on the Hugging Face hub: accept its licence on the model's hub page, then export HF_TOKEN"),
    ("offline", "is not in the local cache and the Hugging Face hub is unreachable"),
    ("step_oom", "GpuFailure: CUDA out of memory during a training step: try --set num_generations=2 "
                 "per_device_train_batch_size=4 (was 4)"),
    # the same out-of-memory forward, met first by the format warm start's supervised steps
    ("warmstart_oom", "GpuFailure: CUDA out of memory during the format warm start: try --set "
                      "warmstart_batch_size=1 (was 2)"),
])
def test_failure_messages(standins, fail, expected):
    warm = fail == "warmstart_oom"
    standins.setenv("GRPO_TUI_STANDIN_FAIL", "step_oom" if warm else fail)
    # step_oom must reach GRPO's first step: the warm start (on in the helper's settings) is left out
    fin = _failed_run(**({"warmstart_batch_size": 2} if warm else {"warmstart_steps": 0}))
    assert expected in fin["error"], fin["error"]


def test_no_gpu_ends_the_run_with_one_line(monkeypatch):
    """Without stand-ins: the real pre-flight on this GPU-less machine."""
    monkeypatch.delenv("GRPO_TUI_TEST_STANDINS", raising=False)
    fin = _failed_run()
    assert fin["error"].startswith("GpuUnavailable: no CUDA GPU: the unsloth backend needs an NVIDIA GPU")
    names = [e.get("name") for e in events(fin["_run"]) if e["type"] == ev.PHASE]
    assert "importing" not in names  # refused before Unsloth was imported


def test_compare_installed_against_the_tested_set():
    tested = {"torch": "2.13.0", "vllm": "0.31.0", "unsloth": "2026.10.9"}
    have = {"torch": "2.13.0+cu128", "vllm": "0.32.0"}
    diff = gc.compare_installed(tested, version_of=have.get)
    assert diff == [("vllm", "0.32.0", "0.31.0"), ("unsloth", None, "2026.10.9")]
    # On this machine: the base pins match, the GPU-only packages are absent.
    here = dict((d, (h, w)) for d, h, w in gc.compare_installed())
    assert "torch" not in here and "trl" not in here and here["unsloth"] == (None, "2026.10.9")


def test_tested_set_matches_pyproject():
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    pins = {}
    for req in data["project"]["dependencies"] + data["project"]["optional-dependencies"]["gpu"]:
        if "==" in req:
            name, ver = req.split("==")
            pins[name.strip()] = ver.strip()
    for dist, ver in pins.items():
        if dist in gc.TESTED_GPU_SET:
            assert gc.TESTED_GPU_SET[dist] == ver, dist
    assert {"unsloth", "unsloth_zoo", "vllm", "bitsandbytes", "torch", "trl", "transformers"} <= set(pins)


def test_model_source_offline_and_download_phase(monkeypatch):
    from grpo_tui.core.run.rundir import create_run
    from grpo_tui.trainer.backends import unsloth as ub
    from grpo_tui.trainer.context import TrainerContext

    cfg = load_preset("gpu-16gb").with_overrides({"model": "example-org/not-cached-model"})
    run = create_run(cfg.to_dict())
    ctx = TrainerContext(run=run, cfg=cfg, events=ev.EventWriter(run.events), samples=ev.EventWriter(run.samples))
    with pytest.raises(gc.GpuFailure, match="not in the local cache and the Hugging Face hub is unreachable"):
        ub.resolve_model_source(cfg, ctx)  # conftest sets HF_HUB_OFFLINE=1
    monkeypatch.setattr(ub, "_hub_online", lambda: True)
    assert ub.resolve_model_source(cfg, ctx) == "example-org/not-cached-model"
    phases = [e for e in ev.read_all(run.events)[0] if e["type"] == ev.PHASE]
    assert phases[-1]["name"] == "downloading" and "example-org/not-cached-model" in phases[-1]["message"]
