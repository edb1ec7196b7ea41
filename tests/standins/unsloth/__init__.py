"""Stand-in for Unsloth (tests only). Records the import (environment, which heavy modules were
already loaded) and every FastLanguageModel call; returns tiny real transformers + peft models."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _record import record  # noqa: E402

__grpo_tui_standin__ = True
__version__ = "2026.10.9"

record(
    "import",
    env={k: os.environ.get(k) for k in ("UNSLOTH_VLLM_STANDBY", "TOKENIZERS_PARALLELISM", "CUDA_VISIBLE_DEVICES")},
    loaded_before=[m for m in ("trl", "transformers", "peft") if m in sys.modules],
)


def _fail() -> str:
    return os.environ.get("GRPO_TUI_STANDIN_FAIL", "")


class GatedRepoError(OSError):
    """Named like huggingface_hub's, which is what grpo-tui recognises."""


class _CacheConfig:
    def __init__(self, util: float):
        self.gpu_memory_utilization = util
        self.num_gpu_blocks = 64
        self.block_size = 16


class _VllmConfig:
    def __init__(self, util: float):
        self.cache_config = _CacheConfig(util)


class _LLMEngine:
    def __init__(self, util: float):
        self.vllm_config = _VllmConfig(util)


class _Engine:
    def __init__(self, util: float):
        self.llm_engine = _LLMEngine(util)


def _oom():
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (stand-in)")


def _attach_fast_inference(model, tokenizer, util: float) -> None:
    import contextlib

    import torch
    from vllm import LoRARequest, RequestOutput

    model.vllm_engine = _Engine(util)

    def fast_generate(prompts, sampling_params=None, lora_request=None, use_tqdm=True):
        record("fast_generate", n=len(prompts), lora_request=getattr(lora_request, "lora_path", None),
               sampling=getattr(sampling_params, "kwargs", None))
        max_new = getattr(sampling_params, "max_tokens", 16)
        tokenizer.padding_side = "left"
        ctx = model.disable_adapter() if (lora_request is None and hasattr(model, "disable_adapter")) \
            else contextlib.nullcontext()
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        with ctx, torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return [RequestOutput(p, t) for p, t in zip(prompts, texts)]

    counter = {"n": 0}

    def load_lora(path, load_tensors=False):
        counter["n"] += 1
        record("load_lora", path=str(path), exists=os.path.isfile(os.path.join(str(path), "adapter_config.json")))
        return LoRARequest(f"lora_{counter['n']}", counter["n"], str(path))

    model.fast_generate = fast_generate
    model.load_lora = load_lora


class FastLanguageModel:
    @staticmethod
    def from_pretrained(model_name, max_seq_length=2048, dtype=None, load_in_4bit=True, fast_inference=False,
                        gpu_memory_utilization=0.5, max_lora_rank=64, random_state=3407, **kwargs):
        record("from_pretrained", model_name=model_name, max_seq_length=max_seq_length, dtype=dtype,
               load_in_4bit=load_in_4bit, fast_inference=fast_inference,
               gpu_memory_utilization=gpu_memory_utilization, max_lora_rank=max_lora_rank,
               random_state=random_state, **kwargs)
        if _fail() == "load_oom":
            raise _oom()
        if _fail() == "gated":
            raise GatedRepoError(f"You are trying to access a gated repo. Access to model {model_name} is restricted.")
        if _fail() == "offline":
            raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files of {model_name}, "
                          "and couldn't find them in the cached files.")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_name)
        model = AutoModelForCausalLM.from_pretrained(model_name)
        model._standin_fast_inference = (fast_inference, gpu_memory_utilization, tokenizer)
        if fast_inference:
            _attach_fast_inference(model, tokenizer, gpu_memory_utilization)
        return model, tokenizer

    @staticmethod
    def get_peft_model(model, r=16, lora_alpha=16, lora_dropout=0.0, target_modules=None, bias="none",
                       use_gradient_checkpointing="unsloth", random_state=3407, **kwargs):
        record("get_peft_model", r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
               target_modules=target_modules, bias=bias, use_gradient_checkpointing=use_gradient_checkpointing,
               random_state=random_state, **kwargs)
        import copy

        import torch
        from peft import LoraConfig, get_peft_model

        fast, util, tokenizer = model._standin_fast_inference
        peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                                                      target_modules=list(target_modules), bias=bias,
                                                      task_type="CAUSAL_LM"))

        def save_lora(path):
            record("save_lora", path=str(path))
            peft_model.save_pretrained(str(path))

        def save_pretrained_merged(path, tok=None, save_method="merged_16bit", **kw):
            record("save_pretrained_merged", path=str(path), save_method=save_method)
            merged = copy.deepcopy(peft_model).merge_and_unload()
            merged.to(torch.bfloat16).save_pretrained(str(path))
            if tok is not None:
                tok.save_pretrained(str(path))

        peft_model.save_lora = save_lora
        peft_model.save_pretrained_merged = save_pretrained_merged
        if fast:
            _attach_fast_inference(peft_model, tokenizer, util)
        if _fail() == "step_oom":
            def boom(module, args):
                if torch.is_grad_enabled():  # a training forward, not generation
                    raise _oom()

            peft_model.register_forward_pre_hook(boom)
        return peft_model

    @staticmethod
    def for_inference(model):
        record("for_inference")
        return model
