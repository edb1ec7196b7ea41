"""What real Unsloth 2026.10.9 enforces, as pure functions the stand-in ``unsloth`` applies (tests only).

Each rule names the source it mirrors; tests/gpu/test_gpu_conformance.py reads that source from the pinned
wheels and fails when a rule drifts from it. Nothing here imports torch, trl or vllm at module level,
so a test can load this file directly and feed it arguments.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

STANDBY_ENV = "UNSLOTH_VLLM_STANDBY"
UTIL_OVERRIDE_ENV = "UNSLOTH_VLLM_STANDBY_UTIL_OVERRIDE"
# The GPU the stand-in pretends to load on (there is none): its memory and compute capability.
VRAM_ENV = "GRPO_TUI_STANDIN_VRAM_GB"
CAPABILITY_ENV = "GRPO_TUI_STANDIN_CAPABILITY"
# Hide the stand-in vllm_bnb_plugin, as on an install without it.
NO_BNB_PLUGIN_ENV = "GRPO_TUI_STANDIN_NO_BNB_PLUGIN"

BNB_PLUGIN_ERROR = ("Unsloth: vLLM >= 0.28 moved bitsandbytes out of tree. Install it with `pip install "
                    "vllm-bnb-plugin` to use load_in_4bit with fast_inference.")


def standby_keyword_check(fast_inference: bool, unsloth_vllm_standby: bool, env=os.environ) -> None:
    """unsloth/models/llama.py (FastLlamaModel.from_pretrained): the keyword needs the environment
    variable, which Unsloth itself reads at import."""
    if fast_inference and unsloth_vllm_standby and env.get(STANDBY_ENV, "0") == "0":
        raise RuntimeError("Unsloth: `unsloth_vllm_standby` is True, but  environment variable "
                           "`UNSLOTH_VLLM_STANDBY` is not set to 1!")


def bnb_plugin_check(fast_inference: bool, load_in_4bit: bool, env=os.environ) -> None:
    """unsloth_zoo/vllm_utils.py (load_vllm): vLLM >= 0.28 has no in-tree bitsandbytes."""
    if not (fast_inference and load_in_4bit):
        return
    missing = env.get(NO_BNB_PLUGIN_ENV) == "1" or importlib.util.find_spec("vllm_bnb_plugin") is None
    if missing:
        raise RuntimeError(BNB_PLUGIN_ERROR)


def standby_target_util(total_gb: float) -> float:
    """unsloth_zoo/vllm_utils.py (load_vllm), vLLM >= 0.11 branch: the share standby mode forces."""
    ten_percent = total_gb * 0.1
    if ten_percent >= 4.0:
        target = 0.925
    elif ten_percent >= 2.5:
        target = 0.9
    elif ten_percent >= 2.0:
        target = 0.825
    elif ten_percent >= 1.4:
        target = 0.8
    elif ten_percent >= 1.0:
        target = 0.775
    else:
        target = 0.75
    return target * 0.95


def effective_gpu_memory_utilization(requested: float, standby: bool, total_gb: float, env=os.environ) -> float:
    """With standby on, Unsloth replaces the requested share by its tier (both below and above it)
    unless UNSLOTH_VLLM_STANDBY_UTIL_OVERRIDE is set."""
    if standby and env.get(UTIL_OVERRIDE_ENV, "0") == "0":
        return standby_target_util(total_gb)
    return requested


def standby_on(unsloth_vllm_standby: bool, env=os.environ) -> bool:
    """unsloth_zoo/vllm_utils.py: ``unsloth_vllm_standby or UNSLOTH_VLLM_STANDBY != '0'``."""
    return bool(unsloth_vllm_standby) or env.get(STANDBY_ENV, "0") != "0"


def simulated_gpu(env=os.environ) -> tuple[float, tuple[int, int]]:
    cap = env.get(CAPABILITY_ENV, "8.0").split(".")
    return float(env.get(VRAM_ENV, "24")), (int(cap[0]), int(cap[1]) if len(cap) > 1 else 0)


def loaded_dtype(dtype: Any, capability: tuple[int, int]) -> str:
    """dtype=None: Unsloth loads bfloat16 where the GPU has it natively (8.0+), else float16."""
    if dtype is not None:
        return str(dtype).replace("torch.", "")
    return "bfloat16" if capability >= (8, 0) else "float16"


def precision_check(model_dtype: str, bf16: bool, fp16: bool, force_float32: bool = False) -> None:
    """unsloth/models/rl.py (the GRPOConfig/Trainer rewrite): mixed precision must match the model."""
    if not force_float32 and model_dtype == "float16" and bf16:
        raise TypeError("Unsloth: Model is in float16 precision but you want to use bfloat16 precision. "
                        "Set fp16 to `True` and bf16 to `False`")
    if not force_float32 and model_dtype == "bfloat16" and fp16:
        raise TypeError("Unsloth: Model is in bfloat16 precision but you want to use float16 precision. "
                        "Set fp16 to `False` and bf16 to `True`")


def temperature_check(temperature: float) -> None:
    """unsloth/models/rl.py: sampling must be at a positive temperature below 10."""
    if temperature <= 0:
        raise ValueError("Unsloth: Please set a positive non-zero temperature since your results will be wrong.")
    if temperature >= 10:
        raise ValueError("Unsloth: Please set a positive non-zero temperature less than 10, since sampling "
                         "will be quite erratic.")


def batch_rewrite(per_device_train_batch_size: int, gradient_accumulation_steps: int, num_generations: int,
                  world_size: int) -> int:
    """unsloth/models/rl.py: the batch must be a multiple of the group, else it becomes the group size."""
    if (gradient_accumulation_steps * world_size * per_device_train_batch_size) % num_generations != 0:
        return num_generations
    return per_device_train_batch_size


def grpo_rewrites(args: Any, model: Any, env=os.environ) -> dict[str, Any]:
    """What Unsloth's patched GRPOTrainer changes in ``args`` before TRL sees them (unsloth/models/rl.py):
    the batch rewrite, DAPO's epsilon_high, and with a vLLM engine on the model: use_vllm, colocate,
    sleep mode as the engine was built. Returns the changed fields; raises what it raises."""
    changes: dict[str, Any] = {}
    precision_check(getattr(model, "_standin_loaded_dtype", "float32"), bool(args.bf16), bool(args.fp16))
    temperature_check(args.temperature)
    world = int(env.get("WORLD_SIZE", "1"))
    if args.steps_per_generation is None and args.generation_batch_size is None:
        batch = batch_rewrite(args.per_device_train_batch_size, args.gradient_accumulation_steps,
                              args.num_generations, world)
        if batch != args.per_device_train_batch_size:
            changes["per_device_train_batch_size"] = batch
    if str(args.loss_type).lower() == "dapo" and args.epsilon_high is None:
        changes["epsilon_high"] = 0.28
    engine = getattr(model, "vllm_engine", None)
    if engine is not None:
        changes["use_vllm"] = True
        changes["vllm_mode"] = "colocate"
        sleep = getattr(getattr(getattr(getattr(engine, "llm_engine", None), "vllm_config", None),
                                "model_config", None), "enable_sleep_mode", None)
        if sleep if sleep is not None else env.get(STANDBY_ENV, "0") != "0":
            changes["vllm_enable_sleep_mode"] = True
    return changes
