"""The metric names the app reads: TRL GRPOTrainer's own (its ``on_log`` keys, 1.15) and ours.

Readers (panels, alerts, report, headless view) name a metric through here, so a renamed key in a
TRL release is one edit. Each dashboard panel declares the series it draws from these
(``Panel.series(components)``); the dashboard asks the monitor for exactly those.
"""

from __future__ import annotations

# TRL GRPOTrainer, logged every logging step
REWARD = "reward"
REWARD_STD = "reward_std"
FRAC_REWARD_ZERO_STD = "frac_reward_zero_std"
MEAN_LENGTH = "completions/mean_length"
MIN_LENGTH = "completions/min_length"
MAX_LENGTH = "completions/max_length"
CLIPPED_RATIO = "completions/clipped_ratio"
MEAN_TERMINATED_LENGTH = "completions/mean_terminated_length"  # completions that ended before the cap
MIN_TERMINATED_LENGTH = "completions/min_terminated_length"
MAX_TERMINATED_LENGTH = "completions/max_terminated_length"
KL = "kl"  # only when beta != 0
ENTROPY = "entropy"
GRAD_NORM = "grad_norm"
LEARNING_RATE = "learning_rate"
STEP_TIME = "step_time"
LOSS = "loss"  # near 0 is normal for GRPO: never charted as a health signal
NUM_TOKENS = "num_tokens"  # tokens seen so far (prompt + completion)
EPOCH = "epoch"

# ours (trainer.callback): the trainer process's memory
RSS_MB = "memory/rss_mb"
CUDA_ALLOCATED_MB = "memory/cuda_allocated_mb"
CUDA_RESERVED_MB = "memory/cuda_reserved_mb"
CUDA_MAX_ALLOCATED_MB = "memory/cuda_max_allocated_mb"
# ours (trainer.backends.unsloth): vLLM's own pool under fast_inference, logged once after load
VLLM_GPU_MEMORY_UTILIZATION = "memory/vllm_gpu_memory_utilization"
VLLM_RESERVED_MB = "memory/vllm_reserved_mb"
VLLM_KV_CACHE_TOKENS = "memory/vllm_kv_cache_tokens"
LOAD_AND_ENGINE_MB = "memory/load_and_engine_mb"
# ours (trainer.vllm_cpu): seconds a step spent in vLLM's generate and in the weight sync before it
VLLM_GENERATE_S = "vllm/generate_s"
VLLM_SYNC_S = "vllm/sync_s"
MEMORY_PREFIX = "memory/"

# Prefixes of the per-reward-function keys: rewards/<fn>/mean, rewards/<fn>/std
REWARDS_PREFIX = "rewards/"
_MEAN_SUFFIX = "/mean"

# A sample row's total reward (samples.jsonl; the sum of its reward functions' weighted scores).
# Not a logged metric, but the same word: named here so "reward" literals stay out of the readers.
SAMPLE_REWARD = "reward"


def reward_mean(component: str) -> str:
    """TRL's per-reward-function mean: ``rewards/<fn>/mean``."""
    return f"{REWARDS_PREFIX}{component}{_MEAN_SUFFIX}"


def component_of(key: str) -> str | None:
    """The reward function's name in ``rewards/<fn>/mean`` (None for any other key)."""
    if key.startswith(REWARDS_PREFIX) and key.endswith(_MEAN_SUFFIX) and len(key) > len(REWARDS_PREFIX + _MEAN_SUFFIX):
        return key[len(REWARDS_PREFIX):-len(_MEAN_SUFFIX)]
    return None


def reward_label(component: str) -> str:
    """How prose names a reward function's metrics: ``rewards/<fn>``."""
    return f"{REWARDS_PREFIX}{component}"


def reward_std(component: str) -> str:
    return f"{REWARDS_PREFIX}{component}/std"


# -- the series each dashboard panel draws (tui.widgets.panels ``Panel.series``); the HTML report
# (core.reading.report_html) charts the same ones, from the same RunMonitor, so the two never disagree.
LENGTH_SERIES = (MEAN_LENGTH, MIN_LENGTH, MAX_LENGTH, CLIPPED_RATIO)
HEALTH_SERIES = ((KL, "kl"), (ENTROPY, "entropy"), (GRAD_NORM, "grad_norm"),
                 (FRAC_REWARD_ZERO_STD, "zero-std frac"), (CLIPPED_RATIO, "clipped"))
MEMORY_SERIES = (RSS_MB,)


def reward_series(components: list[str]) -> list[str]:
    """The rewards panel's series: the total, its std, and each component's mean."""
    return [REWARD, REWARD_STD] + [reward_mean(c) for c in components]
