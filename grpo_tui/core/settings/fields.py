"""Every RunConfig field: where its name comes from, what it means, and the libraries' own rules.

Users arrive with an Unsloth notebook or a TRL script. A key is taken when it is
* one of RunConfig's fields (named as in Unsloth, TRL, transformers, peft or vLLM), or
* another library's name for the same thing (``ALIASES``: ``model_name``, ``r``, the
  ``UNSLOTH_VLLM_STANDBY`` environment variable, TRL's ``vllm_gpu_memory_utilization``), or
* ``vllm_sampling_params``: vLLM ``SamplingParams`` keywords, spread over the sampling fields.

A name from those libraries that is not carried gets the reason (``NOT_CARRIED``); any other
unknown key gets a "did you mean" only for a spelling slip of a field, never for a different
word (``top_k`` is not ``top_p``, ``load_in_8bit`` is not ``load_in_4bit``).

The rules checked here are the libraries' own (read from their source): transformers'
optimizer names and the packages they import, its reporting integrations, TRL / vLLM sampling
ranges, Unsloth's 4-bit/8-bit exclusivity and temperature bounds, peft's ``bias`` values.
Import-light: ``importlib.util.find_spec`` answers "installed?" without importing anything.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import re
from typing import TYPE_CHECKING, Any, Iterable

from .config_error import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .config import RunConfig  # the record these rules read (core.settings.config imports this module)

# --------------------------------------------------------------------------------------
# Where each field comes from
# --------------------------------------------------------------------------------------
UNSLOTH, TRL, TRANSFORMERS, PEFT, VLLM, OURS = "unsloth", "trl", "transformers", "peft", "vllm", "grpo-tui"

FIELD_INFO: dict[str, tuple[str, str]] = {
    "name": (OURS, "preset name"),
    "description": (OURS, "one line shown in preset lists"),
    "backend": (OURS, "trl (transformers + peft) or unsloth (Unsloth + colocated vLLM)"),
    "device": (OURS, "auto, cpu or cuda"),
    "model": (UNSLOTH, "hub id, local folder or builtin:tiny (from_pretrained's model_name)"),
    "load_in_4bit": (UNSLOTH, "bitsandbytes 4-bit base weights (QLoRA)"),
    "load_in_8bit": (UNSLOTH, "bitsandbytes 8-bit base weights; not together with load_in_4bit"),
    "load_in_fp8": (UNSLOTH, "FP8 base weights (Unsloth's FP8 RL notebooks), one byte a parameter; unsloth on a GPU"),
    "max_seq_length": (UNSLOTH, "longest prompt + completion, in tokens"),
    "dtype": (UNSLOTH, "auto, float32, bfloat16 or float16"),
    "gpu_memory_utilization": (UNSLOTH, "vLLM's share of the GPU (TRL: vllm_gpu_memory_utilization)"),
    "fast_inference": (UNSLOTH, "colocated vLLM engine for generation"),
    "vllm_standby": (UNSLOTH, "UNSLOTH_VLLM_STANDBY: vLLM sleeps while training (Unsloth then sets the share)"),
    "max_lora_rank": (UNSLOTH, "largest LoRA rank vLLM's slot takes; 0 = lora_rank"),
    "lora_rank": (PEFT, "LoRA rank (peft / Unsloth get_peft_model's r)"),
    "lora_alpha": (PEFT, "LoRA scaling numerator"),
    "lora_dropout": (PEFT, "dropout on the LoRA input"),
    "target_modules": (PEFT, 'modules that get LoRA: a list, or "all-linear"'),
    "use_gradient_checkpointing": (UNSLOTH, '"unsloth" (on, checkpoints offloaded to CPU RAM by Unsloth; plain '
                                            "checkpointing in the trl backend), true or false"),
    "random_state": (UNSLOTH, "seed of the LoRA initialisation (get_peft_model)"),
    "bias": (PEFT, "none, all or lora_only (Unsloth's vLLM path takes none only)"),
    "finetune_language_layers": (UNSLOTH, "FastModel.get_peft_model: LoRA on the language model"),
    "finetune_attention_modules": (UNSLOTH, "FastModel.get_peft_model: LoRA on q/k/v/o_proj"),
    "finetune_mlp_modules": (UNSLOTH, "FastModel.get_peft_model: LoRA on gate/up/down_proj"),
    "finetune_vision_layers": (UNSLOTH, "FastModel.get_peft_model: LoRA on a vision tower (text models have none)"),
    "full_finetuning": (UNSLOTH, "train every weight, no LoRA"),
    "num_generations": (TRL, "completions per prompt (the group)"),
    "per_device_train_batch_size": (TRL, "completions per micro-batch; raised to num_generations as Unsloth does "
                                         "when the generation batch does not divide by it"),
    "gradient_accumulation_steps": (TRL, "micro-batches per optimizer step"),
    "max_prompt_length": (TRL, "prompts longer than this are dropped from the dataset (count reported)"),
    "max_completion_length": (TRL, "completion cap, in tokens"),
    "lengths_from_data": (OURS, "\"quantile 0.9 + 1\" or \"max + 1\": max_prompt_length measured from the training prompts at launch (longer ones dropped), max_completion_length = max_seq_length minus it"),
    "learning_rate": (TRANSFORMERS, "peak learning rate"),
    "lr_scheduler_type": (TRANSFORMERS, "constant, linear, cosine, ..."),
    "warmup_ratio": (TRANSFORMERS, "warm-up as a fraction of max_steps (transformers 5 folds it into warmup_steps)"),
    "weight_decay": (TRANSFORMERS, "AdamW weight decay"),
    "max_grad_norm": (TRANSFORMERS, "gradient clipping"),
    "adam_beta1": (TRANSFORMERS, "Adam beta1"),
    "adam_beta2": (TRANSFORMERS, "Adam beta2"),
    "warmup_steps": (TRANSFORMERS, "warm-up steps (>= 1) or a fraction of max_steps (< 1)"),
    "num_train_epochs": (TRANSFORMERS, "epochs; as in TRL, max_steps overrides it (grpo-tui always sets max_steps)"),
    "optim": (TRANSFORMERS, "optimizer name (adamw_torch, adamw_8bit, paged_adamw_8bit, ...)"),
    "loss_type": (TRL, "grpo, dr_grpo, dapo, bnpo, cispo or sapo"),
    "beta": (TRL, "KL coefficient (0 = no reference model)"),
    "epsilon": (TRL, "clipping range"),
    "epsilon_high": (TRL, "upper clipping bound (DAPO: 0.28); 0 = epsilon"),
    "delta": (TRL, "two-sided GRPO: upper bound on the importance ratio; 0 = off"),
    "importance_sampling_level": (TRL, "token, or sequence (GSPO: one ratio a completion)"),
    "scale_rewards": (TRL, "group (true), batch or none (false): what the advantage is divided by"),
    "num_iterations": (TRL, "optimisation passes per generation batch (GRPO's mu)"),
    "temperature": (TRL, "sampling temperature"),
    "top_p": (TRL, "nucleus sampling, in (0, 1]"),
    "top_k": (TRL, "top-k sampling; 0 (TRL) or -1 (vLLM) = off"),
    "min_p": (TRL, "min-p sampling in [0, 1]; 0 = off"),
    "repetition_penalty": (TRL, "> 0; 1 = off"),
    "stop": (VLLM, "SamplingParams.stop: strings that end a completion"),
    "include_stop_str_in_output": (VLLM, "SamplingParams: keep the stop string in the completion"),
    "sampling_seed": (VLLM, "SamplingParams(seed=...): per-request sampling seed; -1 = none"),
    "max_steps": (TRANSFORMERS, "optimizer steps"),
    "save_steps": (TRANSFORMERS, "checkpoint every N steps (into the run directory)"),
    "logging_steps": (TRANSFORMERS, "log every N steps"),
    "seed": (TRANSFORMERS, "training seed (GRPOConfig); vLLM's per-request seed is sampling_seed"),
    "report_to": (TRANSFORMERS, "none, or integrations (wandb, tensorboard, ...); the run's event log is always "
                                "written"),
    "output_dir": (TRANSFORMERS, "accepted, not used: checkpoints live in the run directory so runs can be "
                                 "listed and resumed"),
    "mask_truncated_completions": (TRL, "truncated completions get no loss"),
    "use_vllm": (TRL, "generate with vLLM"),
    "vllm_mode": (TRL, "colocate or server"),
    "vllm_server_port": (TRL, "server mode: port of `trl vllm-serve` (loopback)"),
    "num_processes": (OURS, "training processes (accelerate launch), one GPU each"),
    "merge_16bit": (UNSLOTH, "also save the merged 16-bit model (save_pretrained_merged)"),
    "dataset": (OURS, "builtin:<task>, hub dataset or local .jsonl/.parquet"),
    "dataset_split": (OURS, "training split"),
    "dataset_config": (OURS, "hub dataset config name"),
    "eval_split": (OURS, "held-out split for accuracy before/after"),
    "eval_size": (OURS, "held-out examples (0 = no evaluation)"),
    "system_prompt": (OURS, "system prompt"),
    "prompt_form": (TRL, "chat: prompts are message lists and TRL hands rewards message-list completions "
                         "(completion[0][\"content\"]); text: plain strings; auto: chat when the tokenizer has a "
                         "chat template"),
    "reasoning_start": (OURS, "reasoning opening tag"),
    "reasoning_end": (OURS, "reasoning closing tag"),
    "solution_start": (OURS, "answer opening tag"),
    "solution_end": (OURS, "answer closing tag"),
    "rewards": (OURS, "reward functions: built-in names or file.py:function"),
    "reward_weights": (TRL, "one weight per reward (empty = all 1.0)"),
    "floor_truncated_reward": (OURS, "truncated completions' rewards are floored (docs/rewards.md)"),
    "min_reasoning_chars": (OURS, "reasoning shorter than this earns no format reward (docs/rewards.md)"),
    "zero_truncated_reward": (OURS, "truncated completions score 0 on every reward"),
    "overlong_buffer": (OURS, "DAPO overlong buffer for overlong_penalty; 0 = max_completion_length // 5"),
    "warmstart_steps": (OURS, "supervised format warm start before GRPO, in optimiser steps; 0 = off"),
    "warmstart_examples": (OURS, "distinct warm-start examples (gold answers + worked steps); 0 = a new one each time"),
    "warmstart_batch_size": (OURS, "examples per warm-start step"),
    "warmstart_learning_rate": (OURS, "warm-start AdamW learning rate (constant)"),
    "warmstart_dataset": (OURS, "warm-start examples from this dataset (as dataset); empty = the training set"),
    "warmstart_dataset_config": (OURS, "hub config name of warmstart_dataset"),
    "warmstart_dataset_split": (OURS, "split of warmstart_dataset"),
    "warmstart_epochs": (OURS, "passes over the warm-start rows when warmstart_steps is 0 (SFTConfig's num_train_epochs)"),
    "warmstart_numeric_answers": (OURS, "warm start only on rows whose gold answer is a number"),
    "warmstart_max_tokens": (OURS, "warm start only on rows of at most this many tokens; 0 = all"),
    "tiny_hidden_size": (OURS, "tiny model only: hidden size"),
    "tiny_layers": (OURS, "tiny model only: layers"),
    "capture_samples": (OURS, "record every completion for the sample browser"),
    "notify_webhook": (OURS, "POST a notice here (Slack, Discord, ntfy, JSON); docs/notifications.md"),
    "notify_command": (OURS, "run this command for each notice (JSON on stdin); docs/notifications.md"),
    "notify_on": (OURS, "events that notify: completed, stopped, failed, crashed, stalled, alert"),
    "notify_alerts": (OURS, "alerts that notify: warning, critical (default) or off"),
}

# Another library's name for one of our fields, with the same meaning.
ALIASES: dict[str, str] = {
    "model_name": "model",  # Unsloth FastLanguageModel.from_pretrained
    "r": "lora_rank",  # peft LoraConfig / Unsloth get_peft_model
    "vllm_gpu_memory_utilization": "gpu_memory_utilization",  # TRL GRPOConfig
    "UNSLOTH_VLLM_STANDBY": "vllm_standby",  # os.environ["UNSLOTH_VLLM_STANDBY"] = "1" in the notebooks
    "torch_dtype": "dtype",  # transformers from_pretrained
    "warm_start_steps": "warmstart_steps",  # grpo-tui's own name until the warm start served every preset
}

# Names those libraries have that grpo-tui does not carry, and why.
_EVAL = "grpo-tui does not evaluate during training; eval_size / eval_split measure held-out accuracy before and after"
NOT_CARRIED: dict[str, str] = {
    "eval_strategy": _EVAL, "eval_steps": _EVAL, "per_device_eval_batch_size": _EVAL,
    "eval_accumulation_steps": _EVAL, "fp16_full_eval": _EVAL, "bf16_full_eval": _EVAL,
    "bf16": "set dtype=bfloat16 (mixed precision follows dtype)",
    "fp16": "set dtype=float16 (mixed precision follows dtype)",
    "max_tokens": "a completion's cap is max_completion_length",
    "n": "completions per prompt is num_generations",
    "steps_per_generation": "grpo-tui generates one batch per optimizer step (TRL's default)",
    "generation_batch_size": "grpo-tui generates one batch per optimizer step (TRL's default)",
    "generation_kwargs": "give the sampling fields (top_k, min_p, stop, ...) or vllm_sampling_params",
    "token": "set HF_TOKEN in the environment instead (it is never written to a run directory)",
    "use_rslora": "not carried: LoRA scaling is lora_alpha / r",
    "loftq_config": "not carried",
    "modules_to_save": "not carried (Unsloth's vLLM path cannot train embeddings or lm_head)",
    "load_in_16bit": "16-bit is what you get with load_in_4bit=false and load_in_8bit=false",
    "full_determinism": "not carried: seed is applied; full determinism costs speed",
    "dataset_num_proc": "not carried: datasets are prepared in one process",
    "log_completions": "grpo-tui records every completion itself (capture_samples, the sample browser)",
    "max_num_seqs": "not carried: vLLM's batch of sequences is sized by Unsloth / vLLM from the memory share",
    "offload_embedding": "not carried: Unsloth's embedding offload is not passed (the plan counts it on the GPU)",
    "gradient_checkpointing": "set use_gradient_checkpointing (true, false or unsloth), Unsloth's name for it",
    "unsloth_num_chunks": "not carried: Unsloth picks its logit chunking itself",
    "chat_template": "not carried: the model's own chat template is used",
}

# --------------------------------------------------------------------------------------
# Keys -> fields
# --------------------------------------------------------------------------------------
# vLLM SamplingParams keyword -> field (the ones a GRPO run can honour).
SAMPLING_KEYS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p",
                 "repetition_penalty": "repetition_penalty", "stop": "stop",
                 "include_stop_str_in_output": "include_stop_str_in_output", "seed": "sampling_seed"}
_SAMPLING_NOT = {"max_tokens": "max_completion_length sets a completion's cap",
                 "n": "num_generations sets completions per prompt",
                 "logprobs": "TRL sets logprobs itself", "detokenize": "TRL sets it itself"}


def parse_sampling_params(value: Any, key: str = "vllm_sampling_params") -> dict[str, Any]:
    """``{min_p = 0.1, ...}`` (TOML), ``"min_p=0.1, top_k=-1, stop=['</s>']"`` or
    ``"SamplingParams(min_p = 0.1, ...)"`` (pasted) -> {field: value}."""
    if isinstance(value, dict):
        items = dict(value)
    elif isinstance(value, str) and value.strip().startswith("{"):  # a JSON object: {"min_p": 0.1, ...}
        try:
            items = json.loads(value)
        except ValueError:
            raise ConfigError(key, f"{value[:60]!r} is not a JSON object of SamplingParams keywords",
                              'e.g. {"min_p": 0.1, "top_k": -1} or min_p=0.1,top_k=-1') from None
        if not isinstance(items, dict):
            raise ConfigError(key, f"{value[:60]!r} is not a JSON object")
    elif isinstance(value, str):
        text = value.strip()
        if not re.match(r"^[A-Za-z_][\w.]*\s*\(", text):
            text = f"SamplingParams({text})"
        try:
            call = ast.parse(text, mode="eval").body
            if not isinstance(call, ast.Call) or call.args:
                raise ValueError
            items = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
        except (SyntaxError, ValueError):
            raise ConfigError(key, f"{value!r} is not a list of SamplingParams keywords with plain values",
                              "e.g. min_p=0.1,top_k=-1,seed=3407 (tokenizer.eos_token: write the token itself)") from None
    else:
        raise ConfigError(key, f"{value!r} is not a table of SamplingParams keywords")
    out: dict[str, Any] = {}
    for k, v in items.items():
        if k in _SAMPLING_NOT:
            raise ConfigError(f"{key}.{k}", "not taken", _SAMPLING_NOT[k])
        if k not in SAMPLING_KEYS:
            raise ConfigError(f"{key}.{k}", "not a SamplingParams keyword grpo-tui carries",
                              "carried: " + ", ".join(SAMPLING_KEYS))
        out[SAMPLING_KEYS[k]] = v
    return out


def canonical_keys(data: dict[str, Any], field_names: Iterable[str], *, source: str = "") -> dict[str, Any]:
    """Map aliases, spread vllm_sampling_params, refuse what cannot be taken (ConfigError).
    ``field_names``: the record's own (RunConfig.field_names())."""
    known = set(field_names)
    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}

    def put(name: str, value: Any, as_: str) -> None:
        if name in out and as_ != given_as[name] and str(out[name]).lower() != str(value).lower():
            raise ConfigError(f"{source}{as_}", f"sets {name} again ({given_as[name]} already set it)",
                              "give it once")
        out[name] = value
        given_as[name] = as_

    for key, value in data.items():
        if key in known:
            put(key, value, key)
        elif key in ALIASES:
            put(ALIASES[key], value, key)
        elif key == "vllm_sampling_params":
            for name, v in parse_sampling_params(value, f"{source}{key}").items():
                put(name, v, f"{key}.{name}")
        elif key in NOT_CARRIED:
            raise ConfigError(f"{source}{key}", "not taken", NOT_CARRIED[key])
        else:
            close = did_you_mean(key, known)
            hint = f"did you mean {close!r}?" if close else "see `grpo-tui fields` for every field"
            raise ConfigError(f"{source}{key}", "unknown field", hint)
    return out


def _vocabulary(field_names: Iterable[str]) -> set[str]:
    """Every word of every name the libraries use here: two different words are two meanings."""
    words: set[str] = set()
    for n in [*field_names, *ALIASES, *NOT_CARRIED, *SAMPLING_KEYS, *_SAMPLING_NOT]:
        words.update(n.lower().split("_"))
    return words


def did_you_mean(key: str, field_names: Iterable[str]) -> str | None:
    """A field ``key`` is a spelling slip of, or None. Never a field that differs by a whole word
    (top_k/top_p, load_in_8bit/load_in_4bit, warmup_steps/warmstart_steps)."""
    field_names = set(field_names)
    names = sorted(field_names | set(ALIASES))
    k = key.strip().lower()
    squashed = {n.replace("_", ""): n for n in names}
    if k.replace("_", "").replace("-", "") in squashed:  # learningrate, learning-rate
        return squashed[k.replace("_", "").replace("-", "")]
    words = _vocabulary(field_names)
    best = None
    for cand in difflib.get_close_matches(k, names, n=5, cutoff=0.8):
        a, b = k.split("_"), cand.lower().split("_")
        if len(a) != len(b):
            continue
        diff = [(x, y) for x, y in zip(a, b) if x != y]
        if len(diff) != 1:
            continue
        mine, theirs = diff[0]
        if mine.rstrip("s") != theirs.rstrip("s") and (mine in words or mine.rstrip("s") in words):
            continue  # a real word of its own: a different setting, not a typo
        if re.sub(r"\D", "", mine) != re.sub(r"\D", "", theirs):
            continue  # 4bit / 8bit, 16 / 32: numbers are meanings
        if difflib.SequenceMatcher(None, mine, theirs).ratio() < 0.6:
            continue
        best = cand
        break
    return best


# --------------------------------------------------------------------------------------
# LoRA targets
# --------------------------------------------------------------------------------------
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
ALL_LINEAR = ATTENTION + MLP
_FLAGS_DEFAULT = {"finetune_language_layers": True, "finetune_attention_modules": True,
                  "finetune_mlp_modules": True, "finetune_vision_layers": False}


def lora_targets(cfg: "RunConfig") -> list[str]:
    """target_modules as trained (see RunConfig.lora_targets)."""
    mods = list(cfg.target_modules)
    if [m.lower() for m in mods] == ["all-linear"]:
        mods = list(ALL_LINEAR)
    if _flags_changed(cfg):
        keep = set()
        if cfg.finetune_language_layers:
            if cfg.finetune_attention_modules:
                keep.update(ATTENTION)
            if cfg.finetune_mlp_modules:
                keep.update(MLP)
        mods = [m for m in mods if m in keep]
    return mods


def _flags_changed(cfg: "RunConfig") -> bool:
    return any(getattr(cfg, k) != v for k, v in _FLAGS_DEFAULT.items())


# --------------------------------------------------------------------------------------
# The libraries' rules (config only: no environment)
# --------------------------------------------------------------------------------------
# transformers 5.17 OptimizerNames -> the package its Trainer imports for it (None: torch only).
_BNB = "bitsandbytes"
OPTIMIZERS: dict[str, str | None] = {
    "adamw_torch": None, "adamw_torch_fused": None, "adafactor": None, "sgd": None, "adagrad": None,
    "rmsprop": None, "adamw_torch_xla": "torch_xla", "adamw_torch_npu_fused": "torch_npu",
    "adamw_anyprecision": "torchdistx", "adamw_torch_4bit": "torchao", "adamw_torch_8bit": "torchao",
    "ademamix": _BNB, "adamw_bnb_8bit": _BNB, "adamw_8bit": _BNB, "ademamix_8bit": _BNB, "lion_8bit": _BNB,
    "lion_32bit": _BNB, "paged_adamw_32bit": _BNB, "paged_adamw_8bit": _BNB, "paged_ademamix_32bit": _BNB,
    "paged_ademamix_8bit": _BNB, "paged_lion_32bit": _BNB, "paged_lion_8bit": _BNB, "rmsprop_bnb": _BNB,
    "rmsprop_bnb_8bit": _BNB, "rmsprop_bnb_32bit": _BNB,
    "galore_adamw": "galore_torch", "galore_adamw_8bit": "galore_torch", "galore_adafactor": "galore_torch",
    "galore_adamw_layerwise": "galore_torch", "galore_adamw_8bit_layerwise": "galore_torch",
    "galore_adafactor_layerwise": "galore_torch", "lomo": "lomo_optim", "adalomo": "lomo_optim",
    "grokadamw": "grokadamw", "schedule_free_radam": "schedulefree", "schedule_free_adamw": "schedulefree",
    "schedule_free_sgd": "schedulefree", "apollo_adamw": "apollo_torch", "apollo_adamw_layerwise": "apollo_torch",
    "stable_adamw": "optimi",
}
# transformers' reporting integrations -> the package each one imports.
REPORT_TO: dict[str, str | None] = {
    "none": None, "all": None, "azure_ml": "azureml", "comet_ml": "comet_ml", "mlflow": "mlflow",
    "neptune": "neptune", "tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb",
    "codecarbon": "codecarbon", "clearml": "clearml", "dagshub": "dagshub", "flyte": "flytekit",
    "dvclive": "dvclive", "swanlab": "swanlab", "kubeflow": "kubeflow",
}
BIAS = ("none", "all", "lora_only")  # peft LoraConfig.bias
_MODULE_NAME = re.compile(r"^[A-Za-z_][\w.]*$")


def report_targets(cfg: "RunConfig") -> list[str]:
    return [t for t in (p.strip() for p in cfg.report_to.split(",")) if t]


def _stop_tag_rule(cfg: "RunConfig") -> tuple[str, str] | None:
    """How the stop strings meet the reward tags (vLLM returns the text BEFORE a stop string unless
    include_stop_str_in_output): ("refuse", stop) when one ends a completion before an answer can be
    complete (it is, or is inside, or holds a reasoning tag or the opening answer tag, or it stops
    part-way into the closing answer tag); ("keep", stop) when it ends exactly at the closing answer
    tag, which vLLM would strip (every format and correctness reward 0); None otherwise."""
    end = cfg.solution_end
    keep = None
    for s in (x for x in cfg.stop if x):
        for tag in (cfg.reasoning_start, cfg.reasoning_end, cfg.solution_start):
            if tag and (s in tag or tag in s):
                return "refuse", s
        if end and (end in s or end.endswith(s)):
            keep = keep or s
        elif end and s in end:
            return "refuse", s
    return ("keep", keep) if keep else None


def keeps_stop_text(cfg: "RunConfig") -> bool:
    """include_stop_str_in_output as vLLM gets it: on when set, and turned on when a stop string
    ends at the closing answer tag (as Unsloth's notebooks do), so the tag stays in the completion."""
    rule = _stop_tag_rule(cfg)
    return cfg.include_stop_str_in_output or (rule is not None and rule[0] == "keep")


def validate_library_rules(cfg: "RunConfig") -> None:
    """Each library's own rule for the fields taken from it; ConfigError naming field and fix."""
    rule = _stop_tag_rule(cfg)
    if rule and rule[0] == "refuse":
        raise ConfigError("stop", f"{rule[1]!r} would end every completion before its answer tag "
                          f"{cfg.solution_start}...{cfg.solution_end} is complete, so no reward could pay",
                          f"drop it, or stop at {cfg.solution_end!r}, which grpo-tui keeps in the completion")
    if not 0.0 < cfg.top_p <= 1.0:
        raise ConfigError("top_p", f"must be in (0, 1] (TRL and vLLM), got {cfg.top_p:g}", "1.0 considers every token")
    if cfg.top_k < -1:
        raise ConfigError("top_k", f"must be -1, 0 (both: off) or a positive count, got {cfg.top_k}")
    if not 0.0 <= cfg.min_p <= 1.0:
        raise ConfigError("min_p", f"must be in [0, 1] (vLLM), got {cfg.min_p:g}", "0 turns it off; 0.1 is typical")
    if cfg.repetition_penalty <= 0:
        raise ConfigError("repetition_penalty", f"must be positive (vLLM), got {cfg.repetition_penalty:g}",
                          "1.0 turns it off")
    if cfg.sampling_seed < -1:
        raise ConfigError("sampling_seed", f"must be -1 (none) or a seed, got {cfg.sampling_seed}")
    if cfg.backend == "unsloth" and cfg.temperature >= 10:
        raise ConfigError("temperature", f"Unsloth refuses a temperature of 10 or more, got {cfg.temperature:g}")
    for i, beta in ((1, cfg.adam_beta1), (2, cfg.adam_beta2)):
        if not 0.0 <= beta < 1.0:
            raise ConfigError(f"adam_beta{i}", f"must be in [0, 1) (torch AdamW), got {beta:g}")
    if cfg.warmup_steps < 0:
        raise ConfigError("warmup_steps", f"must be 0 or more, got {cfg.warmup_steps:g}")
    if not 0.0 <= cfg.warmup_ratio <= 1.0:
        raise ConfigError("warmup_ratio", f"must be in [0, 1], got {cfg.warmup_ratio:g}")
    if cfg.warmup_steps > 0 and cfg.warmup_ratio > 0:
        raise ConfigError("warmup_steps", "warmup_steps and warmup_ratio are both set",
                          "give one (transformers 5 has only warmup_steps; below 1 it is a ratio)")
    if cfg.num_train_epochs <= 0:
        raise ConfigError("num_train_epochs", f"must be positive, got {cfg.num_train_epochs:g}")
    if cfg.optim not in OPTIMIZERS:
        raise ConfigError("optim", f"{cfg.optim!r} is not a transformers optimizer",
                          "e.g. adamw_torch, adamw_8bit, paged_adamw_8bit, adafactor (`grpo-tui fields`)")
    if OPTIMIZERS[cfg.optim] == _BNB and cfg.device == "cpu":
        raise ConfigError("optim", f"{cfg.optim} is a bitsandbytes optimizer and needs a CUDA GPU",
                          "use optim=adamw_torch on the CPU")
    if not report_targets(cfg):
        raise ConfigError("report_to", "empty", "use none")
    for target in report_targets(cfg):
        if target not in REPORT_TO:
            raise ConfigError("report_to", f"{target!r} is not a transformers integration",
                              "use none, or one of " + ", ".join(k for k in REPORT_TO if k not in ("none", "all")))
    if cfg.load_in_4bit and cfg.load_in_8bit:
        raise ConfigError("load_in_8bit", "load_in_4bit and load_in_8bit are both true (Unsloth loads one or the "
                          "other)", "set load_in_4bit=false for 8-bit, or load_in_8bit=false for 4-bit")
    if (cfg.load_in_4bit or cfg.load_in_8bit) and cfg.backend == "trl":
        which = "load_in_4bit" if cfg.load_in_4bit else "load_in_8bit"
        raise ConfigError(which, "the trl backend loads 16-bit weights; bitsandbytes loading is the unsloth "
                          "backend's", f"set backend=unsloth, or {which}=false")
    if (cfg.load_in_4bit or cfg.load_in_8bit) and cfg.device == "cpu":
        which = "load_in_4bit" if cfg.load_in_4bit else "load_in_8bit"
        raise ConfigError(which, "bitsandbytes quantised weights need a CUDA GPU", f"set {which}=false on the CPU")
    if cfg.bias not in BIAS:
        raise ConfigError("bias", f"{cfg.bias!r} is not a peft LoRA bias", "use none, all or lora_only")
    if cfg.bias != "none" and cfg.backend == "unsloth" and cfg.fast_inference:
        raise ConfigError("bias", "Unsloth's fast inference (vLLM) cannot train LoRA biases", "use bias=none")
    if cfg.max_lora_rank < 0:
        raise ConfigError("max_lora_rank", f"must be 0 (= lora_rank) or more, got {cfg.max_lora_rank}")
    if 0 < cfg.max_lora_rank < cfg.lora_rank:
        raise ConfigError("max_lora_rank", f"{cfg.max_lora_rank} is below lora_rank {cfg.lora_rank}: vLLM's LoRA slot "
                          "could not hold the adapter", f"set max_lora_rank={cfg.lora_rank} (or 0)")
    mods = list(cfg.target_modules)
    if not cfg.full_finetuning:
        if not mods:
            raise ConfigError("target_modules", "empty: LoRA would train nothing", 'e.g. "all-linear"')
        if [m.lower() for m in mods] != ["all-linear"]:
            for m in mods:
                if m.lower() == "all-linear":
                    raise ConfigError("target_modules", '"all-linear" stands alone (peft)',
                                      'give target_modules="all-linear" or a list of names')
                if not _MODULE_NAME.match(m):
                    raise ConfigError("target_modules", f"{m!r} is not a module name", 'e.g. ["q_proj", "v_proj"]')
        if cfg.model.startswith("builtin:") and [m.lower() for m in mods] != ["all-linear"]:
            bad = [m for m in mods if m not in ALL_LINEAR]  # the tiny model is Llama-shaped
            if bad:
                raise ConfigError("target_modules", f"{', '.join(map(repr, bad))} is not a linear layer of "
                                  f"{cfg.model}", f'use some of {", ".join(ALL_LINEAR)} or "all-linear"')
        if _flags_changed(cfg) and sorted(mods) != sorted(ALL_LINEAR) and [m.lower() for m in mods] != ["all-linear"]:
            raise ConfigError("finetune_attention_modules", "Unsloth applies the finetune_* switches only when "
                              "target_modules is left to it", "give either target_modules or the finetune_* switches")
        if not lora_targets(cfg):
            raise ConfigError("finetune_language_layers", "the finetune_* switches leave no module to train "
                              "(this model has no vision layers)", "keep finetune_language_layers and one of "
                              "finetune_attention_modules / finetune_mlp_modules on")


# --------------------------------------------------------------------------------------
# The environment (launch only: a preset is not broken because this machine lacks a package)
# --------------------------------------------------------------------------------------
def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_installed(cfg: "RunConfig") -> None:
    """The packages this config makes transformers / peft import; ConfigError before any run exists."""
    need = OPTIMIZERS.get(cfg.optim)
    if need and not installed(need):
        hint = "pip install bitsandbytes (CUDA)" if need == _BNB else f"pip install {need}"
        raise ConfigError("optim", f"{cfg.optim} needs {need}, which is not installed",
                          f"{hint}, or use optim=adamw_torch")
    if cfg.load_in_4bit or cfg.load_in_8bit:
        which = "load_in_4bit" if cfg.load_in_4bit else "load_in_8bit"
        if not installed(_BNB):
            raise ConfigError(which, "quantised loading needs bitsandbytes, which is not installed",
                              f"pip install bitsandbytes, or set {which}=false")
    for target in report_targets(cfg):
        pkg = REPORT_TO.get(target)
        if pkg and not installed(pkg) and not (target == "tensorboard" and installed("tensorboardX")):
            raise ConfigError("report_to", f"{target} needs the {pkg} package, which is not installed",
                              f"pip install {pkg}, or report_to=none")


# --------------------------------------------------------------------------------------
# What is applied differently from how it reads
# --------------------------------------------------------------------------------------
def notices(cfg: "RunConfig") -> list[str]:
    out = []
    batch = cfg.batch_notice()
    if batch:
        out.append(batch)
    if cfg.output_dir:
        out.append(f"output_dir {cfg.output_dir!r} is not used: checkpoints go to the run directory "
                   "(RUN/checkpoints) so `grpo-tui runs` lists them and --resume finds them")
    if cfg.num_train_epochs != 3.0:
        out.append(f"num_train_epochs {cfg.num_train_epochs:g} has no effect: max_steps={cfg.max_steps} is set "
                   "and overrides it (as in TRL)")
    vllm = cfg.use_vllm or (cfg.backend == "unsloth" and cfg.fast_inference)
    if not vllm and cfg.sampling_seed != -1:
        out.append("sampling_seed is vLLM's per-request seed; without vLLM, sampling follows seed")
    if vllm and not cfg.include_stop_str_in_output and keeps_stop_text(cfg):
        out.append(f"include_stop_str_in_output -> true: stop {_stop_tag_rule(cfg)[1]!r} ends at the closing "
                   "answer tag, which vLLM would strip from every completion (no format or correctness reward)")
    if not vllm and cfg.include_stop_str_in_output:
        out.append("include_stop_str_in_output applies to vLLM; transformers' generate keeps the stop text anyway")
    if cfg.finetune_vision_layers:
        out.append("finetune_vision_layers: text models have no vision layers; nothing more is trained")
    return out
