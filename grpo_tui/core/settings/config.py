"""The run configuration: one typed, flat record of every knob a run has.

Field names are TRL's (GRPOConfig) and Unsloth's (FastLanguageModel /
get_peft_model) own, so that ``--set num_generations=8`` means what a user of
those libraries expects. Presets are TOML files whose tables ([model], [lora],
[grpo], [data], [rewards]) are only for reading: keys are flattened into this
record, and a key may appear in one table only.

Validation here is what can be checked without importing the training stack;
it runs before any run directory or model is made, and every failure is a
``ConfigError`` naming the field and the fix (the CLI prints it on one line and
exits 2).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints

from . import fields
from .config_error import ConfigError  # raised here; callers import it from here

BACKENDS = ("trl", "unsloth")
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo")


@dataclass
class RunConfig:
    # --- identity -----------------------------------------------------------------
    name: str = "custom"  # preset name
    description: str = ""
    backend: str = "trl"  # trl | unsloth
    device: str = "auto"  # auto | cpu | cuda
    # --- model (Unsloth FastLanguageModel.from_pretrained names) --------------------
    model: str = "builtin:tiny"  # hub id, local path, or builtin:tiny (built offline)
    load_in_4bit: bool = False
    load_in_8bit: bool = False  # Unsloth / transformers: bitsandbytes LLM.int8 weights (not with load_in_4bit)
    load_in_fp8: bool = False  # Unsloth's FP8 RL notebooks: FP8 weights, one byte a parameter (unsloth backend)
    max_seq_length: int = 256
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    gpu_memory_utilization: float = 0.5  # vLLM's share of the GPU (unsloth / use_vllm)
    fast_inference: bool = False  # Unsloth: colocated vLLM
    vllm_standby: bool = True  # UNSLOTH_VLLM_STANDBY (the notebooks' os.environ line; that name works too)
    max_lora_rank: int = 0  # Unsloth: the largest LoRA rank vLLM's slot takes; 0 = lora_rank
    # --- LoRA (peft / Unsloth get_peft_model names) -----------------------------------
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    use_gradient_checkpointing: str = "unsloth"  # unsloth (on, offloaded by Unsloth) | true | false
    random_state: int = 3407  # Unsloth get_peft_model: seeds the LoRA initialisation
    bias: str = "none"  # peft LoraConfig.bias: none | all | lora_only
    finetune_language_layers: bool = True  # Unsloth FastModel.get_peft_model (Gemma 3 notebook)
    finetune_attention_modules: bool = True  # q/k/v/o_proj
    finetune_mlp_modules: bool = True  # gate/up/down_proj
    finetune_vision_layers: bool = False  # a vision tower's layers (text-only models have none)
    full_finetuning: bool = False  # Unsloth's name: train all weights, no LoRA (the tiny model uses it)
    # --- GRPO (TRL GRPOConfig names) ----------------------------------------------------
    num_generations: int = 4
    per_device_train_batch_size: int = 8  # counts completions, not prompts
    gradient_accumulation_steps: int = 1
    max_prompt_length: int = 128  # ours: prompts longer than this are filtered out of the dataset
    max_completion_length: int = 32
    # ours: "quantile 0.9 + 1" / "max + 1": at launch the trainer sets max_prompt_length from the training
    # prompts' token lengths and max_completion_length = max_seq_length - max_prompt_length (trainer.datasets)
    lengths_from_data: str = ""
    learning_rate: float = 5e-6
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    warmup_steps: float = 0.0  # transformers: >= 1 is steps, < 1 a fraction of max_steps
    num_train_epochs: float = 3.0  # TRL; max_steps (always set here) overrides it, as in TRL
    optim: str = "adamw_torch"
    loss_type: str = "dapo"
    beta: float = 0.0
    epsilon: float = 0.2
    epsilon_high: float = 0.0  # TRL: upper clipping bound (DAPO 0.28); 0 = epsilon
    delta: float = 0.0  # TRL: two-sided GRPO upper bound on the ratio; 0 = off
    importance_sampling_level: str = "token"  # TRL: token | sequence (GSPO)
    scale_rewards: str = "group"  # TRL: group (true) | batch | none (false)
    num_iterations: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 (TRL) or -1 (vLLM) = off
    min_p: float = 0.0  # 0 = off
    repetition_penalty: float = 1.0
    stop: list[str] = field(default_factory=list)  # vLLM SamplingParams.stop
    include_stop_str_in_output: bool = False  # vLLM SamplingParams
    sampling_seed: int = -1  # vLLM SamplingParams(seed=...); -1 = none (``seed`` is TRL's training seed)
    max_steps: int = 100
    save_steps: int = 50
    logging_steps: int = 1
    seed: int = 3407
    report_to: str = "none"  # transformers integrations (wandb, tensorboard, ...); the event log is always written
    output_dir: str = ""  # accepted from notebooks, not used: checkpoints live in the run directory
    mask_truncated_completions: bool = False
    use_vllm: bool = False
    vllm_mode: str = "colocate"  # colocate | server
    vllm_server_port: int = 8000  # server mode: `trl vllm-serve` on its own GPU, loopback only
    num_processes: int = 1  # accelerate launch: training processes (one GPU each)
    merge_16bit: bool = False  # also save the model merged to 16-bit (Unsloth save_pretrained_merged)
    # --- data ---------------------------------------------------------------------------
    dataset: str = "builtin:arith"  # builtin:<task>, hub name, or local .jsonl/.parquet
    dataset_split: str = "train"
    dataset_config: str = ""
    eval_split: str = ""
    eval_size: int = 0
    system_prompt: str = ""
    prompt_form: str = "auto"  # chat (message lists) | text | auto (chat when the tokenizer has a chat template)
    reasoning_start: str = "<think>"
    reasoning_end: str = "</think>"
    solution_start: str = "<answer>"
    solution_end: str = "</answer>"
    # --- rewards ------------------------------------------------------------------------
    rewards: list[str] = field(default_factory=lambda: ["format", "correctness"])
    reward_weights: list[float] = field(default_factory=list)  # empty = all 1.0
    floor_truncated_reward: bool = False  # completions cut off at max_completion_length score each reward's floor
    zero_truncated_reward: bool = False  # the old name of floor_truncated_reward (read as it; zero paid truncation)
    min_reasoning_chars: int = 10  # letters/digits a reasoning block needs for format_strict/format_soft
    overlong_buffer: int = 0  # DAPO L_cache for the overlong_penalty reward; 0 = max_completion_length // 5
    # --- format warm start: a short supervised pass before GRPO (trainer.warmstart) --------------
    warmstart_steps: int = 0  # optimiser steps of SFT on the task's own format; 0 = off
    warmstart_examples: int = 0  # distinct examples those steps cycle over; 0 = a fresh one every time
    warmstart_batch_size: int = 8  # examples a warm-start step
    warmstart_learning_rate: float = 2e-4  # AdamW, constant (Unsloth's SFT notebooks' LoRA rate)
    warmstart_dataset: str = ""  # where its examples come from (as ``dataset``); empty = the training set
    warmstart_dataset_config: str = ""  # that dataset's hub config name (with warmstart_dataset)
    warmstart_dataset_split: str = "train"  # its split (with warmstart_dataset)
    warmstart_epochs: float = 0.0  # passes over the warm-start rows, when warmstart_steps is 0 (as SFTConfig)
    warmstart_numeric_answers: bool = False  # keep only rows whose gold answer is a number
    warmstart_max_tokens: int = 0  # keep only rows whose prompt + completion fit this many tokens; 0 = all
    # --- tiny model only ------------------------------------------------------------------
    tiny_hidden_size: int = 64
    tiny_layers: int = 2
    # --- capture ------------------------------------------------------------------------
    capture_samples: bool = True
    # --- notifications (core.reading.notify; empty = the user settings' [notify] table, "off" = none) ---
    notify_webhook: str = ""  # http(s) URL: Slack, Discord, ntfy or any JSON receiver
    notify_command: str = ""  # run through the shell with the notice as JSON on stdin
    notify_on: list[str] = field(default_factory=list)  # completed, stopped, failed, crashed, stalled, alert
    notify_alerts: str = ""  # alerts at this severity or above: warning / critical / off

    # ------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "") -> "RunConfig":
        """Build from a flat mapping, coercing types; unknown keys are errors. Other libraries'
        names for a field (``model_name``, ``r``, ...) and ``vllm_sampling_params`` are accepted
        (``core.settings.fields``)."""
        hints = get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for key, value in canonical_keys(data, source=source).items():
            kwargs[key] = coerce(key, value, hints[key])
        cfg = cls(**kwargs)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: dict[str, Any]) -> "RunConfig":
        data = self.to_dict()
        hints = get_type_hints(type(self))
        for key, value in canonical_keys(overrides).items():
            data[key] = coerce(key, value, hints[key])
        return type(self)(**data)

    @property
    def lora_targets(self) -> list[str]:
        """target_modules as trained: Unsloth's finetune_* switches applied (attention = q/k/v/o_proj,
        mlp = gate/up/down_proj), "all-linear" expanded to every linear layer of the block."""
        return fields.lora_targets(self)

    @property
    def vllm_lora_rank(self) -> int:
        """The LoRA rank vLLM's slot is built for (Unsloth's max_lora_rank; never below lora_rank)."""
        return max(self.max_lora_rank, self.lora_rank)

    def notices(self) -> list[str]:
        """One line for each notebook setting grpo-tui applies differently from how it reads."""
        return fields.notices(self)

    @property
    def generation_batch_size(self) -> int:
        """Completions generated per optimisation step (TRL's default), with the batch that runs."""
        return self.effective_batch_size * self.gradient_accumulation_steps

    @property
    def effective_batch_size(self) -> int:
        """per_device_train_batch_size as it will run. Unsloth's rule (unsloth/models/rl.py, applied by
        both backends): when per_device_train_batch_size * gradient_accumulation_steps * processes does
        not divide by num_generations, the batch is raised to num_generations."""
        b, g = self.per_device_train_batch_size, self.num_generations
        if g >= 1 and (b * self.gradient_accumulation_steps * max(1, self.num_processes)) % g:
            return g
        return b

    def batch_notice(self) -> str | None:
        b = self.effective_batch_size
        if b == self.per_device_train_batch_size:
            return None
        return (f"per_device_train_batch_size {self.per_device_train_batch_size} -> {b}: "
                f"{self.per_device_train_batch_size} x gradient_accumulation_steps "
                f"{self.gradient_accumulation_steps} does not divide by num_generations {self.num_generations}; "
                f"Unsloth raises it to num_generations, and so does grpo-tui on both backends")

    @property
    def warmstart_on(self) -> bool:
        """Whether a run asks for the format warm start: a step count, or epochs over its rows."""
        return self.warmstart_steps > 0 or self.warmstart_epochs > 0

    def validate(self) -> "RunConfig":
        """Check everything that can be checked without the training stack."""
        if self.backend not in BACKENDS:
            raise ConfigError("backend", f"{self.backend!r} is not a backend", f"use one of {', '.join(BACKENDS)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError("device", f"{self.device!r} is not a device", "use auto, cpu or cuda")
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError("loss_type", f"{self.loss_type!r} is not a TRL loss type", f"use one of {', '.join(LOSS_TYPES)}")
        for name in ("max_seq_length", "lora_rank", "lora_alpha", "per_device_train_batch_size",
                     "gradient_accumulation_steps", "max_prompt_length", "max_completion_length",
                     "max_steps", "num_iterations", "logging_steps", "save_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        if self.num_generations < 2:
            raise ConfigError("num_generations", f"must be at least 2, got {self.num_generations}",
                              "GRPO compares completions within a group")
        if not 0.0 < self.gpu_memory_utilization < 1.0:
            raise ConfigError("gpu_memory_utilization", f"must be between 0 and 1, got {self.gpu_memory_utilization}")
        if not self.learning_rate > 0:
            raise ConfigError("learning_rate", f"must be positive, got {self.learning_rate}")
        if self.temperature <= 0:
            raise ConfigError("temperature", f"must be positive, got {self.temperature}")
        fields.validate_library_rules(self)
        if self.max_prompt_length + self.max_completion_length > self.max_seq_length:
            raise ConfigError(
                "max_completion_length",
                f"max_prompt_length + max_completion_length = {self.max_prompt_length + self.max_completion_length}"
                f" exceeds max_seq_length = {self.max_seq_length}",
                "raise max_seq_length or shorten prompts/completions",
            )
        lengths_rule(self.lengths_from_data)  # a clear error before any model loads
        if self.importance_sampling_level not in ("token", "sequence"):
            raise ConfigError("importance_sampling_level", f"{self.importance_sampling_level!r} is not a TRL level",
                              "use token, or sequence (GSPO)")
        if self.scale_rewards not in ("group", "batch", "none"):
            raise ConfigError("scale_rewards", f"{self.scale_rewards!r} is not a TRL scaling",
                              "use group (true), batch or none (false)")
        for name in ("epsilon_high", "delta"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be 0 (off) or positive, got {getattr(self, name)}")
        if self.load_in_fp8:
            if self.load_in_4bit or self.load_in_8bit:
                raise ConfigError("load_in_fp8", "FP8 weights together with load_in_4bit / load_in_8bit (Unsloth "
                                  "loads one)", "set load_in_4bit=false and load_in_8bit=false")
            if self.backend != "unsloth" or self.device == "cpu":
                raise ConfigError("load_in_fp8", "FP8 weights are Unsloth's, on a GPU",
                                  "use backend=unsloth on a GPU, or load_in_fp8=false for 16-bit")
        if self.prompt_form not in ("auto", "chat", "text"):
            raise ConfigError("prompt_form", f"{self.prompt_form!r} is not a prompt form",
                              "use chat (message lists, as the notebooks build), text, or auto")
        if self.vllm_mode not in ("colocate", "server"):
            raise ConfigError("vllm_mode", f"{self.vllm_mode!r} is not a vLLM mode", "use colocate or server")
        if self.num_processes < 1:
            raise ConfigError("num_processes", f"must be at least 1, got {self.num_processes}")
        if not self.rewards:
            raise ConfigError("rewards", "at least one reward function is needed")
        if self.overlong_buffer < 0 or self.overlong_buffer > self.max_completion_length:
            raise ConfigError("overlong_buffer", f"must be between 0 and max_completion_length "
                              f"({self.max_completion_length}), got {self.overlong_buffer}",
                              "0 picks a fifth of max_completion_length")
        if self.min_reasoning_chars < 0:
            raise ConfigError("min_reasoning_chars", f"must be 0 or more, got {self.min_reasoning_chars}",
                              "0 = a reasoning block of any length counts")
        for name in ("warmstart_steps", "warmstart_examples", "warmstart_epochs", "warmstart_max_tokens"):
            if not getattr(self, name) >= 0:  # nan too
                raise ConfigError(name, f"must be 0 or more, got {getattr(self, name)}", "0 switches it off")
        if self.warmstart_batch_size < 1:
            raise ConfigError("warmstart_batch_size", f"must be at least 1, got {self.warmstart_batch_size}")
        if self.warmstart_on and not self.warmstart_learning_rate > 0:
            raise ConfigError("warmstart_learning_rate", f"must be positive, got {self.warmstart_learning_rate}")
        if self.reward_weights and len(self.reward_weights) != len(self.rewards):
            raise ConfigError("reward_weights", f"{len(self.reward_weights)} weights for {len(self.rewards)} rewards",
                              "give one weight per reward function, or none")
        self._validate_notify()
        return self

    def _validate_notify(self) -> None:
        from . import notify_settings

        try:
            notify_settings.check_webhook("" if self.notify_webhook == "off" else self.notify_webhook)
        except notify_settings.SettingsError:
            raise ConfigError("notify_webhook", f"{self.notify_webhook[:60]!r} is not an http(s) URL",
                              "e.g. https://ntfy.sh/my-topic, or off") from None
        try:
            notify_settings.check_events(self.notify_on)
        except notify_settings.SettingsError:
            raise ConfigError("notify_on", f"{', '.join(self.notify_on)} holds an unknown event",
                              f"use some of {', '.join(notify_settings.EVENTS)}, or off") from None
        if self.notify_alerts not in ("", "warning", "critical", "off"):
            raise ConfigError("notify_alerts", f"{self.notify_alerts!r} is not a severity", "use warning, critical or off")


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{k: v}`` (values stay strings; coerce() types them)."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(item, "an override must look like key=value", "e.g. --set max_steps=50")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def coerce(key: str, value: Any, typ: Any) -> Any:
    """Coerce a TOML value or an override string to the field's type."""
    if key in _NORMALISE:
        return _NORMALISE[key](key, value)
    origin = get_origin(typ)
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise ValueError
        if typ is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if isinstance(value, str):
                f = float(value)  # accepts "1e3"; "2.5" is rejected below
                if not f.is_integer():
                    raise ValueError
                return int(f)
            return int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if typ is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
        if origin is list:
            (inner,) = get_args(typ)
            if isinstance(value, str):
                value = _split_list(value)
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return [coerce(key, v, inner) for v in value]
    except (TypeError, ValueError):
        tname = getattr(typ, "__name__", str(typ))
        raise ConfigError(key, f"{value!r} is not a valid {tname}") from None
    return value


def _split_list(text: str) -> list[Any]:
    """``a,b`` or a Python/TOML list literal ``["a", "b"]`` (as pasted from a notebook)."""
    text = text.strip()
    if text.startswith(("[", "(")):
        import ast

        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError from None
        if not isinstance(value, (list, tuple)):
            raise ValueError
        return list(value)
    return [v.strip().strip("'\"") for v in text.split(",") if v.strip().strip("'\"")]


def _gradient_checkpointing(key: str, value: Any) -> str:
    """Unsloth's and transformers' values, one meaning everywhere: "unsloth" (on; Unsloth offloads
    the checkpoints to CPU RAM), true (on), false (off)."""
    s = str(value).strip().strip("'\"").lower()
    if s == "unsloth":
        return "unsloth"
    if s in _TRUE:
        return "true"
    if s in _FALSE:
        return "false"
    raise ConfigError(key, f"{value!r} is not a gradient checkpointing mode", 'use "unsloth", true or false')


def _target_modules(key: str, value: Any) -> list[str]:
    """A list of module names, or peft's "all-linear" (kept as the one-element list ["all-linear"])."""
    if isinstance(value, str):
        try:
            value = _split_list(value)
        except ValueError:
            raise ConfigError(key, f"{value!r} is not a list of module names",
                              'e.g. q_proj,v_proj or ["q_proj", "v_proj"] or all-linear') from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(key, f"{value!r} is not a list of module names", 'e.g. ["q_proj", "v_proj"] or "all-linear"')
    return [v.strip() for v in value if v.strip()]


def _scale_rewards(key: str, value: Any) -> str:
    """TRL takes True / False for group / none."""
    s = str(value).strip().lower()
    return {"true": "group", "false": "none"}.get(s, s)


_NORMALISE = {"use_gradient_checkpointing": _gradient_checkpointing, "target_modules": _target_modules,
              "scale_rewards": _scale_rewards}


def canonical_keys(data: dict[str, Any], *, source: str = "") -> dict[str, Any]:
    """Other libraries' names -> this record's; ConfigError for a name it cannot take (core.settings.fields)."""
    return fields.canonical_keys(data, RunConfig.field_names(), source=source)


_LENGTHS_RULE = re.compile(r"^\s*(?:quantile\s+(0(?:\.\d+)?|1(?:\.0+)?)|max)\s*(?:\+\s*(\d+))?\s*$")


def lengths_rule(text: str) -> tuple[float, int] | None:
    """``lengths_from_data``: "quantile Q + N" (Q in (0, 1]) or "max + N" -> (Q, N); "" -> None.

    The notebooks' rule (Qwen3 4B: ``maximum_length = int(np.quantile(L, 0.9))``,
    ``max_prompt_length = maximum_length + 1``): the trainer applies it to the training prompts."""
    if not text:
        return None
    m = _LENGTHS_RULE.match(text)
    q = 1.0 if m and m.group(1) is None else float(m.group(1)) if m else 0.0
    if not m or not 0.0 < q <= 1.0:
        raise ConfigError("lengths_from_data", f"{text!r} is not a length rule",
                          'use "quantile 0.9 + 1" or "max + 1" (prompt tokens at that quantile, plus N), or ""')
    return q, int(m.group(2) or 0)

