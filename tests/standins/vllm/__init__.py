"""Stand-in for vLLM 0.31.0 (tests only): the few names grpo-tui touches, validating as vLLM does.

``SamplingParams`` takes only vLLM's field names and checks their ranges (vllm/sampling_params.py,
``_verify_args``); ``LoRARequest`` refuses an id below 1 and an empty path (vllm/lora/request.py);
``LLM(...)`` refuses the engine arguments vLLM refuses before loading a model (``LLM.check_engine_args``),
then refuses to be built. tests/gpu/test_gpu_conformance.py checks these names against the real source;
tests/gpu/test_vllm_standin_vs_real.py makes the same calls on the real engine."""

from __future__ import annotations

import math

__version__ = "0.31.0"
__grpo_tui_standin__ = True

# vllm/sampling_params.py: SamplingParams' public fields (a msgspec Struct: no other keyword exists).
SAMPLING_FIELDS = (
    "n", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature", "top_p", "top_k",
    "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "max_tokens", "min_tokens", "logprobs",
    "prompt_logprobs", "detokenize", "skip_special_tokens", "spaces_between_special_tokens",
    "include_stop_str_in_output", "structured_outputs", "logit_bias", "allowed_token_ids", "extra_args",
    "bad_words",
)


class VLLMValidationError(ValueError):
    pass


class SamplingParams:
    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(SAMPLING_FIELDS))
        if unknown:
            raise TypeError(f"Unexpected keyword argument(s) {unknown!r} for SamplingParams")
        self.kwargs = kwargs
        self.n = kwargs.get("n", 1)
        self.temperature = kwargs.get("temperature", 1.0)
        self.top_p = kwargs.get("top_p", 1.0)
        self.top_k = kwargs.get("top_k", 0)
        self.min_p = kwargs.get("min_p", 0.0)
        self.repetition_penalty = kwargs.get("repetition_penalty", 1.0)
        self.max_tokens = kwargs.get("max_tokens", 16)
        self.min_tokens = kwargs.get("min_tokens", 0)
        self._verify_args()

    def _verify_args(self) -> None:
        if self.n < 1:
            raise VLLMValidationError(f"n must be at least 1, got {self.n}.")
        if not math.isfinite(self.repetition_penalty) or self.repetition_penalty <= 0.0:
            raise VLLMValidationError(f"repetition_penalty must be greater than zero, got {self.repetition_penalty}.")
        if not math.isfinite(self.temperature) or self.temperature < 0.0:
            raise VLLMValidationError(f"temperature must be non-negative, got {self.temperature}.")
        if self.temperature > 2.0:
            raise VLLMValidationError(f"temperature must be in [0, 2], got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise VLLMValidationError(f"top_p must be in (0, 1], got {self.top_p}.")
        if not isinstance(self.top_k, int) or self.top_k < -1:
            raise VLLMValidationError(f"top_k must be -1 (disable), or at least 1, got {self.top_k}.")
        if not 0.0 <= self.min_p <= 1.0:
            raise VLLMValidationError(f"min_p must be in [0, 1], got {self.min_p}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise VLLMValidationError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if self.min_tokens < 0 or (self.max_tokens is not None and self.min_tokens > self.max_tokens):
            raise VLLMValidationError(f"min_tokens must be in [0, max_tokens], got {self.min_tokens}.")


class LoRARequest:
    def __init__(self, lora_name: str, lora_int_id: int, lora_path: str = "", base_model_name: str | None = None,
                 tensorizer_config_dict: dict | None = None, load_inplace: bool = False,
                 is_3d_lora_weight: bool = False):
        self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path
        if self.lora_int_id < 1:
            raise ValueError(f"id must be > 0, got {self.lora_int_id}")
        assert self.lora_path, "lora_path cannot be empty"

    def __repr__(self) -> str:
        return f"LoRARequest({self.lora_path})"


def _max_position_embeddings(model) -> int | None:
    """A local model folder's context length (config.json), as vLLM derives it; None when not readable here."""
    import json
    import os

    try:
        with open(os.path.join(str(model), "config.json"), encoding="utf-8") as f:
            value = json.load(f).get("max_position_embeddings")
    except (OSError, ValueError):
        return None
    return int(value) if isinstance(value, (int, float)) else None


class _Completion:
    def __init__(self, text: str):
        self.text = text
        self.token_ids: list[int] = []
        self.finish_reason = "stop"


class RequestOutput:
    def __init__(self, prompt: str, text: str):
        self.prompt = prompt
        self.outputs = [_Completion(text)]


# LLM(...)'s own keywords and the EngineArgs fields that TRL (vllm_generation.py) and unsloth_zoo (load_vllm)
# pass: a subset of what vLLM takes (vllm/entrypoints/llm.py; vllm/engine/arg_utils.py), held to be one by
# tests/gpu/test_vllm_standin_vs_real.py. Any other keyword is refused, as EngineArgs refuses an unknown one.
LLM_KEYWORDS = frozenset((
    "runner", "convert", "tokenizer", "tokenizer_mode", "skip_tokenizer_init", "trust_remote_code",
    "tensor_parallel_size", "dtype", "quantization", "revision", "tokenizer_revision", "chat_template", "seed",
    "gpu_memory_utilization", "kv_cache_memory_bytes", "cpu_offload_gb", "enforce_eager", "hf_token",
    "hf_overrides", "compilation_config", "max_model_len", "max_num_seqs", "max_num_batched_tokens",
    "enable_lora", "max_lora_rank", "max_loras", "enable_sleep_mode", "model_impl", "distributed_executor_backend",
    "logprobs_mode", "enable_prefix_caching", "enable_chunked_prefill", "load_format", "disable_log_stats",
    "data_parallel_size", "kv_cache_dtype", "max_logprobs",
))
MODEL_DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")  # vllm/config/model.py: ModelDType
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm/config/lora.py: MaxLoRARanks
# vllm/model_executor/layers/quantization/__init__.py: QuantizationMethods. No "bitsandbytes": out of tree since
# 0.28; the real vllm-bnb-plugin registers it when loaded, which this stand-in does not model.
QUANTIZATION_METHODS = (
    "awq", "auto_awq", "fp8", "fbgemm_fp8", "fp_quant", "modelopt", "modelopt_fp4", "modelopt_mxfp8",
    "modelopt_mixed", "auto_gptq", "gptq", "gptq_marlin", "awq_marlin", "humming", "compressed-tensors",
    "experts_int8", "quark", "moe_wna16", "torchao", "inc", "mxfp4", "gpt_oss_mxfp4", "deepseek_v4_fp8", "online",
    "fp8_per_tensor", "fp8_per_block", "fp8_per_channel", "int8_per_channel_weight_only", "nvfp4_per_token",
    "mxfp8",
)
LOGPROBS_MODES = ("raw_logits", "raw_logprobs", "processed_logits", "processed_logprobs")
BOOLS = frozenset(("true", "yes", "on", "1", "t", "y", "false", "no", "off", "0", "f", "n"))  # pydantic's lax bool


class LLM:
    """TRL imports this name; nothing in grpo-tui's unsloth path may build one (Unsloth owns the engine), so
    construction still fails, but only after ``check_engine_args`` has refused what vLLM refuses."""

    def __init__(self, model: str, **kwargs):
        self.check_engine_args(model, **kwargs)
        raise RuntimeError("stand-in vllm.LLM must not be constructed: the unsloth backend uses Unsloth's engine")

    @staticmethod
    def check_engine_args(model: str, **kwargs) -> None:
        """What ``LLM(model, **kwargs)`` refuses before it loads a model: an unknown keyword (TypeError, from
        EngineArgs), data_parallel_size > 1 in one process (ValueError, llm.py), and the config checks of
        ``EngineArgs.create_engine_config`` (pydantic ValidationError there, a ValueError: CacheConfig,
        ModelConfig, LoRAConfig, SchedulerConfig, ParallelConfig). Values are coerced as pydantic's lax mode
        does ("0.5" is a float, "yes" a bool). The field types and ranges are 0.31.0's (its source, as cached
        by test_gpu_conformance: the same as 0.32's for every rule here); the behaviour was taken from running
        0.32 (the CPU build): max_model_len above a local model's max_position_embeddings is refused (read
        from its config.json; not checked for a hub id), -1 means the model's own. Not modelled:
        enable_sleep_mode (0.32 refuses it on the CPU platform only), plugin-registered quantizations."""
        unknown = sorted(set(kwargs) - LLM_KEYWORDS)
        if unknown:
            raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument {unknown[0]!r}")
        get = kwargs.get
        if int(get("data_parallel_size", 1)) > 1 and get("distributed_executor_backend") != "external_launcher":
            raise ValueError(f"LLM(data_parallel_size={get('data_parallel_size')}) is not supported for "
                             "single-process usage and may hang")

        def number(name, default, kind=float):
            value = get(name, default)
            if value is None and default is not None:  # a field typed float/int, not Optional
                raise ValueError(f"{name}: input should be a valid number, got None")
            if value is None or isinstance(value, (int, float)):
                return value
            try:
                return kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: input should be a valid number, got {value!r}") from None

        def must(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        util = number("gpu_memory_utilization", 0.92)
        must(0 < util <= 1, f"gpu_memory_utilization must be in (0, 1], got {util}")
        dtype = get("dtype", "auto")
        must(not isinstance(dtype, str) or dtype in MODEL_DTYPES, f"dtype must be one of {MODEL_DTYPES}, got {dtype!r}")
        must(isinstance(get("seed", 0), int), f"seed: input should be a valid integer, got {get('seed')!r}")
        for name in ("enforce_eager", "enable_lora", "enable_prefix_caching", "trust_remote_code"):
            value = get(name, False)
            must(isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))
                 or str(value).lower() in BOOLS,
                 f"{name}: input should be a valid boolean, got {value!r}")
        must(get("logprobs_mode", "raw_logprobs") in LOGPROBS_MODES, f"logprobs_mode must be one of {LOGPROBS_MODES}")
        must(get("quantization") is None or get("quantization") in QUANTIZATION_METHODS,
             f"Unknown quantization method: {get('quantization')}")
        must(number("tensor_parallel_size", 1, int) >= 1, "tensor_parallel_size must be at least 1")
        for name in ("max_num_seqs", "max_num_batched_tokens"):
            value = number(name, None, int)
            must(value is None or value >= 1, f"{name} must be at least 1, got {value}")
        length = number("max_model_len", None, int)
        must(length is None or length == -1 or length >= 1, f"max_model_len must be -1 or positive, got {length}")
        limit = _max_position_embeddings(model)
        must(length is None or limit is None or length <= limit,
             f"max_model_len ({length}) is greater than the derived max_model_len ({limit})")
        if get("enable_lora"):
            rank = get("max_lora_rank", 16)
            must(rank in LORA_RANKS, f"max_lora_rank must be one of {LORA_RANKS}, got {rank!r}")
            must(number("max_loras", 1, int) >= 1, "max_loras must be at least 1")

    @staticmethod
    def check_generate_args(prompts, sampling_params, lora_request) -> None:
        """The types ``LLM.generate`` accepts (vllm/entrypoints/llm.py; vllm/renderers/inputs/preprocess.py:
        ``prompt_to_seq`` and ``_parse_dec_prompt``). A str, a dict, or a non-empty list of ints is one prompt;
        anything else is a sequence of them. Held to the real engine by tests/trainer/test_vllm_cpu.py."""
        one = isinstance(prompts, (str, dict, bytes)) or (
            isinstance(prompts, list) and prompts and all(isinstance(t, int) for t in prompts))
        for p in [prompts] if one else list(prompts):
            if isinstance(p, list):
                if not all(isinstance(t, int) for t in p):
                    raise TypeError("Token prompt should be a list of integers")
            elif isinstance(p, dict):
                if "prompt_token_ids" not in p and "prompt" not in p:
                    raise TypeError("Prompt dictionary must contain text or tokens")
            elif not isinstance(p, str):
                raise TypeError("Prompt should be a string, list of tokens, or dictionary")
        if sampling_params is not None and not isinstance(sampling_params, SamplingParams):
            raise TypeError(f"sampling_params must be SamplingParams, got {type(sampling_params).__name__}")
        if lora_request is not None and not isinstance(lora_request, LoRARequest):
            raise TypeError(f"lora_request must be LoRARequest, got {type(lora_request).__name__}")
