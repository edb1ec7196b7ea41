"""Stand-in for Unsloth 2026.10.9 (tests only). Records the import (environment, which heavy modules
were already loaded, whether CUDA had started) and every FastLanguageModel call; returns tiny real
transformers + peft models. It rejects what real Unsloth rejects (tests/standins/_unsloth_rules.py,
checked against the real source by tests/gpu/test_gpu_conformance.py):

* ``unsloth_vllm_standby=True`` without ``UNSLOTH_VLLM_STANDBY=1`` in the environment;
* ``load_in_4bit`` with ``fast_inference`` and no vllm-bnb-plugin;
* standby overrides the requested ``gpu_memory_utilization`` with its tier for the GPU's size;
* ``load_lora`` exists only after ``get_peft_model`` (patch_peft_fast_inference), and refuses a
  path that does not exist;
* its patched GRPOTrainer raises on a precision mismatch (float16 model, ``bf16=True``) and on a
  temperature outside (0, 10), and forces ``_n_gpu = 1``; the other rewrites (use_vllm, colocate,
  sleep mode, the batch size, DAPO's epsilon_high) are recorded, not applied: there is no engine here,
  generation stays on transformers.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _record import record  # noqa: E402
import _unsloth_rules as rules  # noqa: E402


def _cuda_started() -> bool:
    torch = sys.modules.get("torch")
    try:
        return bool(torch is not None and torch.cuda.is_initialized())
    except Exception:
        return False


__grpo_tui_standin__ = True
__version__ = "2026.10.9"

record(
    "import",
    env={k: os.environ.get(k) for k in ("UNSLOTH_VLLM_STANDBY", "TOKENIZERS_PARALLELISM", "CUDA_VISIBLE_DEVICES",
                                        "PYTORCH_ALLOC_CONF")},
    loaded_before=[m for m in ("trl", "transformers", "peft") if m in sys.modules],
    cuda_started_before=_cuda_started(),
)
# unsloth_zoo/__init__.py: without standby, expandable segments (read by CUDA when it starts).
if os.environ.get("UNSLOTH_VLLM_STANDBY", "0") == "0" and "PYTORCH_ALLOC_CONF" not in os.environ:
    os.environ["PYTORCH_ALLOC_CONF"] = "expandable_segments:True"


def _fail() -> str:
    return os.environ.get("GRPO_TUI_STANDIN_FAIL", "")


class GatedRepoError(OSError):
    """Named like huggingface_hub's, which is what grpo-tui recognises."""


# -- Unsloth's GRPOTrainer patch (unsloth/models/rl.py), applied at import as the real one is -----------
def _patch_trl() -> None:
    import trl
    from trl.trainer import grpo_trainer

    original = grpo_trainer.GRPOTrainer
    if getattr(original, "__grpo_tui_standin__", False):
        return

    class UnslothGRPOTrainer(original):  # type: ignore[misc, valid-type]
        __grpo_tui_standin__ = True

        def __init__(self, model=None, reward_funcs=None, args=None, *a, **kw):
            changes = rules.grpo_rewrites(args, model)
            if getattr(args, "_n_gpu", 1) != 1 and os.environ.get("WORLD_SIZE", "1") == "1":
                args._n_gpu = 1
            record("grpo_trainer", rewrites=changes, bf16=bool(args.bf16), fp16=bool(args.fp16),
                   temperature=args.temperature, use_vllm=bool(args.use_vllm),
                   vllm_max_model_length=getattr(args, "vllm_max_model_length", None))
            super().__init__(model, reward_funcs, args, *a, **kw)

    trl.GRPOTrainer = UnslothGRPOTrainer
    grpo_trainer.GRPOTrainer = UnslothGRPOTrainer


_patch_trl()


# -- the engine Unsloth builds -------------------------------------------------------------------------
class _CacheConfig:
    def __init__(self, util: float):
        self.gpu_memory_utilization = util
        self.num_gpu_blocks = 64
        self.block_size = 16


class _ModelConfig:
    def __init__(self, sleep: bool, max_model_len: int):
        self.enable_sleep_mode = sleep
        self.max_model_len = max_model_len


class _VllmConfig:
    def __init__(self, util: float, sleep: bool, max_model_len: int):
        self.cache_config = _CacheConfig(util)
        self.model_config = _ModelConfig(sleep, max_model_len)


class _LLMEngine:
    def __init__(self, util: float, sleep: bool, max_model_len: int):
        self.vllm_config = _VllmConfig(util, sleep, max_model_len)


class _Engine:
    def __init__(self, util: float, sleep: bool, max_model_len: int):
        self.llm_engine = _LLMEngine(util, sleep, max_model_len)


def _oom():
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (stand-in)")


def _attach_engine(model, tokenizer, engine) -> None:
    """Real Unsloth: ``model.vllm_engine = llm; model.fast_generate = llm.generate`` (llama.py)."""
    import contextlib

    import torch
    from vllm import LLM, LoRARequest, RequestOutput, SamplingParams, _Completion

    model.vllm_engine = engine

    def fast_generate(prompts, sampling_params=None, *, use_tqdm=True, lora_request=None, priority=None,
                      tokenization_kwargs=None, mm_processor_kwargs=None):
        LLM.check_generate_args(prompts, sampling_params, lora_request)
        prompts = [prompts] if isinstance(prompts, (str, dict)) else list(prompts)
        params = sampling_params or SamplingParams()
        add_special = (tokenization_kwargs or {}).get("add_special_tokens", True)  # vLLM's default
        ids, texts = [], 0
        for p in prompts:
            if isinstance(p, dict):
                ids.append(list(p["prompt_token_ids"]))
            else:
                texts += 1
                ids.append(tokenizer(p, add_special_tokens=add_special)["input_ids"])
        bos = tokenizer.bos_token_id
        record("fast_generate", n=len(prompts), text_prompts=texts,
               double_bos=any(bos is not None and x[:2] == [bos, bos] for x in ids),
               lora_request=getattr(lora_request, "lora_path", None),
               lora_int_id=getattr(lora_request, "lora_int_id", None), sampling=params.kwargs)
        pad = tokenizer.pad_token_id
        width = max(len(x) for x in ids)
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids])
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids])
        ctx = model.disable_adapter() if (lora_request is None and hasattr(model, "disable_adapter")) \
            else contextlib.nullcontext()
        n = int(getattr(params, "n", 1) or 1)  # vLLM: n completions per request (SamplingParams.n)
        sample = n > 1 and float(getattr(params, "temperature", 1.0)) > 0.0
        with ctx, torch.no_grad():
            out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=params.max_tokens,
                                 do_sample=sample, num_return_sequences=n, pad_token_id=pad)
        new_ids = out[:, width:].tolist()
        eos = tokenizer.eos_token_id
        results = []
        for i, p in enumerate(prompts):
            req = RequestOutput(str(p), "")
            req.outputs = []
            for row in new_ids[i * n:(i + 1) * n]:
                end = next((j + 1 for j, t in enumerate(row) if t == eos), None)
                toks = row[:end] if end is not None else [t for t in row if t != pad]
                c = _Completion(tokenizer.decode(toks, skip_special_tokens=True))
                c.token_ids = toks
                c.finish_reason = "stop" if end is not None or len(toks) < params.max_tokens else "length"
                req.outputs.append(c)
            results.append(req)
        return results

    model.fast_generate = fast_generate
    model._standin_lora_request = LoRARequest


class FastLanguageModel:
    @staticmethod
    def from_pretrained(model_name="unsloth/Llama-3.2-1B-Instruct", max_seq_length=2048, dtype=None,
                        load_in_4bit=True, load_in_8bit=False, load_in_16bit=False, full_finetuning=False,
                        token=None, fast_inference=False, gpu_memory_utilization=0.5, random_state=3407,
                        max_lora_rank=64, *args, **kwargs):
        standby_kw = bool(kwargs.get("unsloth_vllm_standby", False))
        record("from_pretrained", model_name=model_name, max_seq_length=max_seq_length, dtype=dtype,
               load_in_4bit=load_in_4bit, fast_inference=fast_inference,
               gpu_memory_utilization=gpu_memory_utilization, max_lora_rank=max_lora_rank,
               random_state=random_state, full_finetuning=full_finetuning, token=token, **kwargs)
        if fast_inference:
            rules.standby_keyword_check(fast_inference, standby_kw)
            rules.bnb_plugin_check(fast_inference, load_in_4bit)
        if _fail() == "load_oom":
            raise _oom()
        if _fail() == "gated":
            raise GatedRepoError(f"You are trying to access a gated repo. Access to model {model_name} is restricted.")
        if _fail() == "offline":
            raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files of {model_name}, "
                          "and couldn't find them in the cached files.")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        total_gb, capability = rules.simulated_gpu()
        tokenizer = AutoTokenizer.from_pretrained(model_name)
        model = AutoModelForCausalLM.from_pretrained(model_name)
        model._standin_loaded_dtype = rules.loaded_dtype(dtype, capability)
        model._standin_tokenizer = tokenizer
        if fast_inference:
            standby = rules.standby_on(standby_kw)
            util = rules.effective_gpu_memory_utilization(gpu_memory_utilization, standby, total_gb)
            _attach_engine(model, tokenizer, _Engine(util, standby, max_seq_length))
        return model, tokenizer

    @staticmethod
    def get_peft_model(model, r=16, target_modules=None, lora_alpha=16, lora_dropout=0.0, bias="none",
                       layers_to_transform=None, layers_pattern=None, finetune_last_n_layers=None,
                       use_gradient_checkpointing="unsloth", random_state=3407, max_seq_length=2048,
                       use_rslora=False, modules_to_save=None, init_lora_weights=True, loftq_config={},
                       **kwargs):
        record("get_peft_model", r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
               target_modules=target_modules, bias=bias, use_gradient_checkpointing=use_gradient_checkpointing,
               random_state=random_state, **kwargs)
        import copy

        import torch
        from peft import LoraConfig, get_peft_model

        engine = getattr(model, "vllm_engine", None)
        tokenizer = model._standin_tokenizer
        peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                                                      target_modules=list(target_modules), bias=bias,
                                                      task_type="CAUSAL_LM"))

        def save_lora(save_directory, *args, **kwargs):  # unsloth_zoo.vllm_utils.save_lora, bound to the model
            record("save_lora", path=str(save_directory))
            peft_model.save_pretrained(str(save_directory))

        def save_pretrained_merged(save_directory, tokenizer=None, save_method="merged_16bit", **kw):
            record("save_pretrained_merged", path=str(save_directory), save_method=save_method)
            merged = copy.deepcopy(peft_model).merge_and_unload()
            merged.to(torch.bfloat16).save_pretrained(str(save_directory))
            if tokenizer is not None:
                tokenizer.save_pretrained(str(save_directory))

        peft_model.save_lora = save_lora
        peft_model.save_pretrained_merged = save_pretrained_merged
        if engine is not None:  # patch_peft_fast_inference: only with an engine, only here
            _attach_engine(peft_model, tokenizer, engine)
            LoRARequest = peft_model._standin_lora_request

            def load_lora(save_directory, load_tensors=False, lora_request_id=None):
                # unsloth_zoo/vllm_utils.py: the request id defaults to 1; a missing folder is an OSError.
                record("load_lora", path=str(save_directory),
                       exists=os.path.isfile(os.path.join(str(save_directory), "adapter_config.json")))
                if not load_tensors and not os.path.exists(save_directory):
                    raise OSError(f"Unsloth: LoRA filepath = {save_directory} does not exist!")
                rid = lora_request_id if lora_request_id is not None else 1
                return LoRARequest(str(rid), rid, str(save_directory))

            peft_model.load_lora = load_lora
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
