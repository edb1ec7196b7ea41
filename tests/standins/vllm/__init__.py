"""Stand-in for vLLM 0.31.0 (tests only): the few names grpo-tui touches, validating as vLLM does.

``SamplingParams`` takes only vLLM's field names and checks their ranges (vllm/sampling_params.py,
``_verify_args``); ``LoRARequest`` refuses an id below 1 and an empty path (vllm/lora/request.py).
tests/gpu/test_gpu_conformance.py checks these names against the real source."""

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


class _Completion:
    def __init__(self, text: str):
        self.text = text
        self.token_ids: list[int] = []
        self.finish_reason = "stop"


class RequestOutput:
    def __init__(self, prompt: str, text: str):
        self.prompt = prompt
        self.outputs = [_Completion(text)]


class LLM:
    """TRL imports this name; nothing in grpo-tui's unsloth path may build one (Unsloth owns the engine)."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("stand-in vllm.LLM must not be constructed: the unsloth backend uses Unsloth's engine")

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
