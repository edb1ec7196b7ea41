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
KL = "kl"  # only when beta != 0
ENTROPY = "entropy"
GRAD_NORM = "grad_norm"
LEARNING_RATE = "learning_rate"
STEP_TIME = "step_time"
LOSS = "loss"  # near 0 is normal for GRPO: never charted as a health signal

# ours (trainer.callback): the trainer process's memory
RSS_MB = "memory/rss_mb"
CUDA_ALLOCATED_MB = "memory/cuda_allocated_mb"
CUDA_RESERVED_MB = "memory/cuda_reserved_mb"
CUDA_MAX_ALLOCATED_MB = "memory/cuda_max_allocated_mb"


def reward_mean(component: str) -> str:
    """TRL's per-reward-function mean: ``rewards/<fn>/mean``."""
    return f"rewards/{component}/mean"


def reward_std(component: str) -> str:
    return f"rewards/{component}/std"
