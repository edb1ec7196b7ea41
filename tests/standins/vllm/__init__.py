"""Stand-in for vLLM (tests only): the few names grpo-tui touches."""

from __future__ import annotations

__version__ = "0.31.0"
__grpo_tui_standin__ = True


class SamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.temperature = kwargs.get("temperature", 1.0)
        self.max_tokens = kwargs.get("max_tokens", 16)


class LoRARequest:
    def __init__(self, lora_name: str, lora_int_id: int, lora_path: str):
        self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path

    def __repr__(self) -> str:
        return f"LoRARequest({self.lora_path})"


class _Completion:
    def __init__(self, text: str):
        self.text = text


class RequestOutput:
    def __init__(self, prompt: str, text: str):
        self.prompt = prompt
        self.outputs = [_Completion(text)]


class LLM:
    """TRL imports this name; nothing in grpo-tui's unsloth path may build one (Unsloth owns the engine)."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("stand-in vllm.LLM must not be constructed: the unsloth backend uses Unsloth's engine")
