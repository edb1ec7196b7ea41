"""The five failures a first GPU run would have hit (issue 18), each read from the real libraries'
source at the pinned versions, each with a test that failed on the code before the fix:

1. 4-bit with fast_inference and no vllm-bnb-plugin (unsloth_zoo/vllm_utils.py raises);
2. bf16 on a T4 / V100 (torch's is_bf16_supported() counts emulation; Unsloth's trainer raises TypeError);
3. `grpo-tui eval` calling load_lora on a model without LoRA (tests/gpu/test_gpu_eval.py);
4. one trainer process seeing several GPUs (tests/gpu/test_gpu_server.py);
5. CUDA started before `import unsloth` (the hardware snapshot and the pre-flight).

Unsloth's own rules come from tests/standins/_unsloth_rules.py, loaded here from its file (the stand-in
packages never go on this process's sys.path); tests/gpu/test_gpu_conformance.py ties them to the source.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.planning import hardware
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer import gpu_checks as gc

from standin_helpers import STANDINS, use_standins
from trainer_helpers import events, kill, start, wait_exit

T4 = gc.CudaDevice(0, "Tesla T4", (7, 5), 15.0)
V100 = gc.CudaDevice(0, "Tesla V100-SXM2-16GB", (7, 0), 16.0)
VLLM_REQ = ["torch==2.13.0"]


def unsloth_rules():
    spec = importlib.util.spec_from_file_location("grpo_tui_test_unsloth_rules", STANDINS / "_unsloth_rules.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- 1. vllm-bnb-plugin --------------------------------------------------------------------------------
def test_4bit_fast_inference_needs_the_bnb_plugin():
    ok = dict(fast_inference=True, torch_version="2.13.0+cu130", vllm_version="0.31.0", vllm_requires=VLLM_REQ)
    with pytest.raises(gc.GpuUnavailable) as e:
        gc.preflight([T4], load_in_4bit=True, bnb_plugin_version=None, **ok)
    msg = str(e.value)
    assert "needs vllm-bnb-plugin" in msg and "vllm-bnb-plugin==0.0.3" in msg and "load_in_4bit=false" in msg
    assert gc.preflight([T4], load_in_4bit=True, bnb_plugin_version="0.0.3", **ok) == T4
    assert gc.preflight([T4], load_in_4bit=False, bnb_plugin_version=None, **ok) == T4  # 16-bit: no plugin
    # unsloth_zoo's own error, if it still happens, is explained in one line.
    zoo = RuntimeError("Unsloth: vLLM >= 0.28 moved bitsandbytes out of tree. Install it with `pip install "
                       "vllm-bnb-plugin` to use load_in_4bit with fast_inference.")
    failure = gc.explain_failure(zoo, load_preset("gpu-24gb"), "load")
    assert failure is not None and failure.kind == "bnb_plugin" and "\n" not in str(failure)


def test_the_plugin_is_in_the_gpu_extra_and_the_tested_set():
    import tomllib

    from grpo_tui.core.planning import stack

    data = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "vllm-bnb-plugin==0.0.3" in data["project"]["optional-dependencies"]["gpu"]
    assert stack.TESTED_SET["vllm-bnb-plugin"] == "0.0.3" and "vllm-bnb-plugin" in stack.GPU_PIECES
    s = stack.detect(versions={**stack.TESTED_SET, "vllm-bnb-plugin": None}, torch_build=("13.0", "cu130"),
                     vllm_requires=VLLM_REQ)
    assert s.get("vllm-bnb-plugin").status == "missing" and any("vllm-bnb-plugin" in w for w, _ in s.gpu_missing)


@pytest.mark.slow  # ~30 s: a trainer process through the stand-ins
def test_a_4bit_run_without_the_plugin_fails_in_one_line(monkeypatch, tmp_path):
    use_standins(monkeypatch, tmp_path / "standin.jsonl")
    monkeypatch.setenv("GRPO_TUI_STANDIN_NO_BNB_PLUGIN", "1")
    # Straight to the trainer: the launcher would first refuse 4-bit here, where bitsandbytes is not installed.
    from grpo_tui import launcher
    from grpo_tui.core.run.rundir import create_run
    from trainer_helpers import SMALL

    cfg = load_preset("cpu-tiny").with_overrides({**SMALL, "backend": "unsloth", "device": "auto",
                                                  "fast_inference": True, "load_in_4bit": True, "max_steps": 1,
                                                  "lora_rank": 4, "lora_alpha": 8, "full_finetuning": False})
    run = create_run(cfg.to_dict())
    proc = launcher.spawn(run)
    try:
        assert wait_exit(proc, timeout=180) == 1, run.log_tail(30)
    finally:
        kill(proc)
    fin = [e for e in events(run) if e["type"] == ev.FINISHED][-1]
    assert fin["error"].startswith("GpuFailure: load_in_4bit with fast_inference needs vllm-bnb-plugin"), fin["error"]


# -- 2. precision on a T4 -----------------------------------------------------------------------------------
def _t4_torch(monkeypatch):
    """torch.cuda as on a T4: bf16 'supported' through emulation, not natively (torch/cuda/__init__.py)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)


def test_t4_trains_in_float16(monkeypatch, tmp_path):
    from grpo_tui.trainer.backends import unsloth as ub
    from grpo_tui.trainer.grpo_args import grpo_kwargs, resolve_dtype

    _t4_torch(monkeypatch)
    rules = unsloth_rules()
    cfg = load_preset("gpu-16gb")  # its target card is a T4
    assert cfg.dtype == "auto" and ub.from_pretrained_kwargs(cfg, cfg.model)["dtype"] is None  # Unsloth decides
    kw = grpo_kwargs(cfg, tmp_path, "cuda", **ub.grpo_overrides(cfg, "cuda"))
    assert (kw["fp16"], kw["bf16"]) == (True, False)
    # What Unsloth loads on a 7.5 card, and its trainer's check against these arguments: no TypeError.
    model_dtype = rules.loaded_dtype(None, (7, 5))
    assert model_dtype == "float16"
    rules.precision_check(model_dtype, kw["bf16"], kw["fp16"])
    with pytest.raises(TypeError, match="float16 precision but you want to use bfloat16"):
        rules.precision_check(model_dtype, True, False)  # what the code before the fix handed it
    import torch

    assert resolve_dtype(cfg.with_overrides({"backend": "trl"}), "cuda") is torch.float16
    # Asking for bfloat16 on such a card is refused at pre-flight, in one line.
    with pytest.raises(gc.GpuUnavailable, match=r"compute capability 7.5 and no native bfloat16.*dtype=auto"):
        gc.preflight([T4], fast_inference=False, torch_version="2.13.0", dtype="bfloat16")
    assert gc.preflight([T4], fast_inference=False, torch_version="2.13.0", dtype="float16") == T4


# -- 5. nothing starts CUDA before `import unsloth` -------------------------------------------------------
def test_nothing_starts_cuda_before_unsloth(monkeypatch):
    """The trainer's hardware snapshot and the unsloth pre-flight read the GPU through NVML: a torch.cuda
    call would start CUDA before Unsloth sets PYTORCH_ALLOC_CONF (expandable_segments), and CUDA reads
    it once, when it starts."""
    import torch

    from grpo_tui.trainer.__main__ import hardware_snapshot

    touched: list[str] = []
    for name in ("is_available", "device_count", "get_device_properties", "get_device_name", "mem_get_info",
                 "init", "get_device_capability", "is_bf16_supported"):
        monkeypatch.setattr(torch.cuda, name, lambda *a, _n=name, **k: touched.append(_n) or True)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setenv(hardware.ENV_FAKE, "T4")
    hardware.set_backend(None)
    try:
        hw = hardware_snapshot()
        cfg = load_preset("gpu-16gb").with_overrides({"fast_inference": False})
        dev = gc.preflight_here(cfg)
    finally:
        hardware.set_backend(None)
    assert touched == []
    # NVML broken: CUDA is asked after all (a run is not refused for want of NVML).
    monkeypatch.setenv(hardware.ENV_FAKE, "nolib")
    hardware.set_backend(None)
    try:
        with pytest.raises(gc.GpuUnavailable, match="no CUDA GPU"):  # the spies report no devices
            monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
            gc.preflight_here(cfg)
    finally:
        hardware.set_backend(None)
    assert "is_available" in touched
    assert hw["cuda"][0]["name"] == "Tesla T4" and hw["cuda"][0]["memory_gb"] == pytest.approx(15.0, abs=0.5)
    assert (dev.name, dev.capability) == ("Tesla T4", (7, 5))


@pytest.mark.slow  # ~45 s: a trainer process through the stand-ins
def test_cuda_not_started_when_the_stand_in_unsloth_is_imported(monkeypatch, tmp_path):
    """In a real trainer process: the stand-in records torch.cuda.is_initialized() at its import (False
    on a CPU torch whatever happens, so this guards the order only; the test above guards the calls)."""
    log = use_standins(monkeypatch, tmp_path / "standin.jsonl")
    launched = start(backend="unsloth", fast_inference=False, max_steps=1, lora_rank=4, lora_alpha=8,
                     full_finetuning=False)
    try:
        assert wait_exit(launched.proc, timeout=180) == 0, launched.run.log_tail(30)
    finally:
        kill(launched.proc)
    from standin_helpers import read

    imp = read(log)[0]
    assert imp["call"] == "import" and imp["cuda_started_before"] is False and imp["loaded_before"] == []
    # Unsloth's allocator setting for runs without standby was in place before anything else.
    assert imp["env"]["UNSLOTH_VLLM_STANDBY"] == "0"


# -- Volta and vLLM 0.31 ----------------------------------------------------------------------------------
def test_volta_runs_unsloth_but_not_vllm():
    with pytest.raises(gc.GpuUnavailable) as e:
        gc.preflight([V100], fast_inference=True, torch_version="2.13.0+cu130", vllm_version="0.31.0",
                     vllm_requires=VLLM_REQ)
    assert "compute capability 7.0" in str(e.value) and "fast_inference=false" in str(e.value)
    assert gc.preflight([V100], fast_inference=False, torch_version="2.13.0+cu128", torch_cuda="12.8") == V100
    # PyPI's torch 2.13.0 is a CUDA 13 build: no Volta kernels at all; the fix names a CUDA 12.8 torch.
    with pytest.raises(gc.GpuUnavailable, match=r"built with CUDA 13.0, which has no kernels below 7.5.*whl/cu128"):
        gc.preflight([V100], fast_inference=False, torch_version="2.13.0", torch_cuda="13.0")
    assert gc.preflight([T4], fast_inference=False, torch_version="2.13.0", torch_cuda="13.0") == T4


# -- every GPU preset against Unsloth's load-time rules -------------------------------------------------
def test_presets_pass_unsloths_load_rules(monkeypatch):
    """The keyword-vs-environment rule (the standby keyword needs UNSLOTH_VLLM_STANDBY=1, set before the
    import) and the 4-bit plugin rule, for what grpo-tui hands Unsloth from every shipped GPU preset."""
    from grpo_tui.core.planning.presets import parse_preset, shipped_dir
    from grpo_tui.trainer.backends import unsloth as ub

    rules = unsloth_rules()
    presets = [p.config for p in (parse_preset(f) for f in sorted(shipped_dir().glob("*.toml")))
               if p.ok and p.config.backend == "unsloth"]
    assert presets
    four_bit = 0
    for cfg in presets + [presets[0].with_overrides({"fast_inference": True, "vllm_standby": True})]:
        env = ub.unsloth_env(cfg)
        kw = ub.from_pretrained_kwargs(cfg, cfg.model)
        rules.standby_keyword_check(kw["fast_inference"], kw.get("unsloth_vllm_standby", False), env=env)
        if kw["fast_inference"] and kw["load_in_4bit"]:  # the presets the [gpu] extra's plugin is for
            four_bit += 1
            with pytest.raises(RuntimeError, match="pip install vllm-bnb-plugin"):
                rules.bnb_plugin_check(kw["fast_inference"], kw["load_in_4bit"], env={rules.NO_BNB_PLUGIN_ENV: "1"})
    assert four_bit, "no shipped preset loads 4-bit with fast_inference: the plugin rule is untested"
    # What Unsloth's patched GRPOTrainer checks and rewrites, on a T4 (7.5) and an A100 (8.0).
    import torch

    from grpo_tui.trainer.grpo_args import grpo_kwargs

    for native_bf16, capability in ((False, (7, 5)), (True, (8, 0))):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                            lambda including_emulation=True, _n=native_bf16: _n or including_emulation)
        for cfg in presets:
            kw = grpo_kwargs(cfg, Path("/tmp/x"), "cuda", **ub.grpo_overrides(cfg, "cuda"))
            rules.precision_check(rules.loaded_dtype(None, capability), kw["bf16"], kw["fp16"])
            rules.temperature_check(kw["temperature"])
            assert rules.batch_rewrite(kw["per_device_train_batch_size"], kw["gradient_accumulation_steps"],
                                       kw["num_generations"], 1) == kw["per_device_train_batch_size"], cfg.model
    # The rule itself: the keyword without the environment variable is what Unsloth refuses.
    with pytest.raises(RuntimeError, match="`UNSLOTH_VLLM_STANDBY` is not set to 1"):
        rules.standby_keyword_check(True, True, env={})


def test_trl_colocate_refuses_volta():
    cfg = load_preset("cpu-tiny").with_overrides({"use_vllm": True, "vllm_mode": "colocate"})
    with pytest.raises(gc.GpuUnavailable, match=r"compute capability 7.0; vLLM 0.31.0 has no kernels below 7.5.*use_vllm=false"):
        gc.trl_vllm_preflight(cfg, 1, "2.13.0", "0.31.0", VLLM_REQ, capability=(7, 0))
    gc.trl_vllm_preflight(cfg, 1, "2.13.0", "0.31.0", VLLM_REQ, capability=(7, 5))
