"""Issue 17: a user's Unsloth GRPO notebook settings go through, and the planner agrees with what ran.

The keyword sets below were written for this test from reading the eight notebooks
(unslothai/notebooks @ bdda2ef: Qwen3 4B, DeepSeek-R1-0528-Qwen3 8B, Llama 3.1 8B, Mistral v0.3 7B,
Phi-4 14B, Qwen2.5 3B, Gemma3 1B, Advanced Llama 3.2 3B): their from_pretrained, get_peft_model,
GRPOConfig and SamplingParams keywords, as a user passes them with --set. The figures are the ones
those notebooks' saved outputs logged on a Tesla T4 (torch total 14.74 GiB; NVML 15.0 GiB).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grpo_tui.cli import main
from grpo_tui.core.planning import planner
from grpo_tui.core.settings import fields
from grpo_tui.core.settings.config import ConfigError, RunConfig
from grpo_tui.core.run.rundir import runs_root

T4 = 15.0  # NVML total; device total 14.78 (the notebooks' torch reports 14.74)
SAMPLING = "min_p=0.1, top_p=1.0, top_k=-1, seed=3407, stop=['<|endoftext|>'], include_stop_str_in_output=True"
COMMON = dict(UNSLOTH_VLLM_STANDBY="1", fast_inference="true", gpu_memory_utilization="0.9",
              use_gradient_checkpointing="unsloth", random_state="3407", learning_rate="5e-6",
              weight_decay="0.001", warmup_ratio="0.1", logging_steps="1", per_device_train_batch_size="1",
              report_to="none", output_dir="outputs", target_modules='["q_proj", "k_proj", "v_proj", "o_proj", '
              '"gate_proj", "up_proj", "down_proj"]')
NB_GRPO_V1 = dict(adam_beta1="0.9", adam_beta2="0.99", lr_scheduler_type="cosine", max_grad_norm="0.1",
                  gradient_accumulation_steps="1")
NOTEBOOKS = {
    "qwen3-4b": dict(COMMON, model_name="unsloth/Qwen3-4B-Base", max_seq_length="2048", load_in_4bit="false",
                     max_lora_rank="32", r="32", lora_alpha="64", vllm_sampling_params=SAMPLING, temperature="1.0",
                     lr_scheduler_type="linear", optim="adamw_8bit", gradient_accumulation_steps="1",
                     num_generations="4", max_prompt_length="202", max_completion_length="1846", max_steps="100",
                     save_steps="100"),
    "deepseek-r1-qwen3-8b": dict(COMMON, model_name="unsloth/DeepSeek-R1-0528-Qwen3-8B", max_seq_length="1024",
                                 load_in_4bit="true", max_lora_rank="32", r="32", lora_alpha="64",
                                 vllm_sampling_params=SAMPLING, temperature="1.0", lr_scheduler_type="linear",
                                 optim="adamw_8bit", gradient_accumulation_steps="1", num_generations="4",
                                 max_prompt_length="181", max_completion_length="843", max_steps="100",
                                 save_steps="100"),
    "llama-3.1-8b": dict(COMMON, **NB_GRPO_V1, model_name="unsloth/meta-Llama-3.1-8B-Instruct", max_seq_length="1024",
                         load_in_4bit="true", max_lora_rank="32", r="32", lora_alpha="32", optim="paged_adamw_8bit",
                         num_generations="6", max_prompt_length="256", max_completion_length="768", max_steps="250",
                         save_steps="250"),
    "mistral-7b": dict(COMMON, **NB_GRPO_V1, model_name="unsloth/mistral-7b-instruct-v0.3-bnb-4bit",
                       max_seq_length="1024", load_in_4bit="true", max_lora_rank="32", r="32", lora_alpha="32",
                       optim="paged_adamw_8bit", num_generations="6", max_prompt_length="256",
                       max_completion_length="768", max_steps="250", save_steps="250"),
    "phi-4": dict(COMMON, **NB_GRPO_V1, model_name="unsloth/Phi-4", max_seq_length="512", load_in_4bit="true",
                  max_lora_rank="16", r="16", lora_alpha="16", target_modules="gate_proj,up_proj,down_proj",
                  use_vllm="true", optim="paged_adamw_8bit", num_generations="6", max_prompt_length="256",
                  max_completion_length="200", max_steps="100", save_steps="250"),
    "qwen2.5-3b": dict(COMMON, **NB_GRPO_V1, model_name="unsloth/Qwen2.5-3B-Instruct", max_seq_length="1024",
                       load_in_4bit="true", max_lora_rank="64", r="64", lora_alpha="64", use_vllm="true",
                       optim="adamw_8bit", num_generations="8", max_prompt_length="256",
                       max_completion_length="200", max_steps="250", save_steps="250"),
    "gemma3-1b": dict({k: v for k, v in COMMON.items() if k not in ("target_modules", "fast_inference",
                                                                       "gpu_memory_utilization",
                                                                       "use_gradient_checkpointing")},
                      **NB_GRPO_V1, model_name="unsloth/gemma-3-1b-it", max_seq_length="1024", load_in_4bit="false",
                      load_in_8bit="false", full_finetuning="false", finetune_vision_layers="false",
                      finetune_language_layers="true", finetune_attention_modules="true",
                      finetune_mlp_modules="true", r="8", lora_alpha="8", lora_dropout="0", bias="none",
                      optim="adamw_torch_fused", num_generations="4", max_prompt_length="256",
                      max_completion_length="768", max_steps="50", save_steps="50"),
    "advanced-llama-3.2-3b": dict(COMMON, model_name="meta-llama/Llama-3.2-3B-Instruct", max_seq_length="2048",
                                  load_in_4bit="false", max_lora_rank="64", r="64", lora_alpha="64",
                                  lr_scheduler_type="cosine", optim="adamw_8bit", gradient_accumulation_steps="4",
                                  num_generations="4", max_prompt_length="288", max_completion_length="1760",
                                  max_steps="500", save_steps="250", max_grad_norm="1.0"),
}


def _argv(settings: dict[str, str]) -> list[str]:
    out = ["plan", "gpu-16gb", "--gpu", "T4", "--json"]
    for k, v in settings.items():
        out += ["--set", f"{k}={v}"]
    return out


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_every_notebook_goes_through_plan(name, capsys):
    import json

    assert main(_argv(NOTEBOOKS[name])) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    plan = out["plan"]
    assert plan["model_params_b"] > 0.5 and "estimated" not in plan["model_source"]
    # batch 1: raised to num_generations, said once, planned with the batch that runs
    g = int(NOTEBOOKS[name]["num_generations"])
    ga = int(NOTEBOOKS[name].get("gradient_accumulation_steps", "1"))
    raised = (1 * ga) % g != 0
    assert plan["micro_batch"] == (g if raised else 1)
    assert sum("raises it to num_generations" in n for n in plan["notes"]) == (1 if raised else 0)


def test_plan_says_what_it_applies_differently(capsys):
    assert main(["plan", "gpu-16gb", "--gpu", "T4", "--set", "output_dir=outputs", "--set", "num_train_epochs=1",
                 "--set", "per_device_train_batch_size=1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "output_dir 'outputs' is not used" in out and "num_train_epochs 1 has no effect: max_steps=100" in out
    assert out.count("Unsloth raises it to num_generations") == 1


def test_notebook_names_mean_what_they_mean_in_their_library():
    nb = NOTEBOOKS["qwen3-4b"]
    cfg = RunConfig().with_overrides({k: v for k, v in nb.items()}).validate()
    assert cfg.model == "unsloth/Qwen3-4B-Base" and cfg.lora_rank == 32 and cfg.vllm_lora_rank == 32
    assert cfg.vllm_standby is True and cfg.random_state == 3407 and cfg.seed == 3407  # TRL's seed untouched
    assert (cfg.min_p, cfg.top_k, cfg.sampling_seed, cfg.stop, cfg.include_stop_str_in_output) == \
        (0.1, -1, 3407, ["<|endoftext|>"], True)
    assert cfg.target_modules == list(fields.ALL_LINEAR) and cfg.effective_batch_size == 4
    notes = " ".join(cfg.notices())
    assert "output_dir 'outputs' is not used" in notes and "raises it to num_generations" in notes
    gemma = RunConfig().with_overrides({**NOTEBOOKS["gemma3-1b"], "finetune_attention_modules": "false"}).validate()
    assert gemma.lora_targets == ["gate_proj", "up_proj", "down_proj"]
    assert RunConfig().with_overrides({"target_modules": "all-linear"}).lora_targets == list(fields.ALL_LINEAR)


def test_notebook_sampling_reaches_a_real_grpo_config():
    from grpo_tui.trainer.grpo_args import build_grpo_config

    cfg = RunConfig().with_overrides({**{k: NOTEBOOKS["qwen3-4b"][k] for k in (
        "vllm_sampling_params", "adam_beta1" if False else "learning_rate", "warmup_ratio", "report_to")},
        "adam_beta1": "0.9", "adam_beta2": "0.99", "use_vllm": "true", "per_device_train_batch_size": "1",
        "num_generations": "4", "use_gradient_checkpointing": "true"}).validate()
    args = build_grpo_config(cfg, Path("/tmp/grpo-tui-test-args"), "cpu")
    assert args.per_device_train_batch_size == 4 and args.adam_beta2 == 0.99 and args.warmup_steps == 0.1
    assert args.top_k == 0 and args.min_p == 0.1  # vLLM's -1 is TRL's 0: off
    assert args.generation_kwargs == {"stop": ["<|endoftext|>"], "include_stop_str_in_output": True, "seed": 3407}
    assert args.gradient_checkpointing is True and args.report_to in ([], "none", ["none"])


@pytest.mark.parametrize("targets", ['["q_proj", "v_proj"]', "all-linear"])
def test_lora_targets_as_list_or_all_linear_train_on_the_tiny_model(targets):
    from peft import get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from grpo_tui.trainer.backends.base import lora_config

    cfg = RunConfig().with_overrides({"target_modules": targets, "lora_rank": 4}).validate()
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, vocab_size=64))
    peft_model = get_peft_model(model, lora_config(cfg))
    names = [n.split(".") for n, p in peft_model.named_parameters() if p.requires_grad and "lora_A" in n]
    trained = {parts[parts.index("lora_A") - 1] for parts in names}
    assert trained == ({"q_proj", "v_proj"} if targets.startswith("[") else set(fields.ALL_LINEAR))
    p = planner.plan(cfg.with_overrides({"model": "Qwen/Qwen3-4B", "device": "cuda"}), 24.0)
    assert p.parts["lora"] > 0


def _refused(capsys, *argv: str) -> str:
    code = main(list(argv))
    out = capsys.readouterr()
    assert code == 2, out
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1, out.err
    root = runs_root()
    assert not root.exists() or not any(root.iterdir())
    return lines[0]


@pytest.mark.parametrize("setting,message", [
    ("top_p=-1", "top_p: must be in (0, 1]"),
    ("top_p=50", "top_p: must be in (0, 1]"),
    ("top_k=-2", "top_k: must be -1, 0"),
    ("min_p=2", "min_p: must be in [0, 1]"),
    ("optim=adamw_8bit", "optim: adamw_8bit is a bitsandbytes optimizer and needs a CUDA GPU"),
    ("optim=adamw_9bit", "optim: 'adamw_9bit' is not a transformers optimizer"),
    ("use_gradient_checkpointing=bogus", "use_gradient_checkpointing: 'bogus' is not a gradient checkpointing mode"),
    ("report_to=nowhere", "report_to: 'nowhere' is not a transformers integration"),
    ("load_in_8bit=true", "load_in_8bit: the trl backend loads 16-bit weights"),
    ("importance_sampling_level=seq", "importance_sampling_level: 'seq' is not a TRL level"),
    ("load_in_fp8=true", "load_in_fp8: FP8 weights are Unsloth's, on a GPU"),
    ("target_modules=qkv_proj", "target_modules: 'qkv_proj' is not a linear layer of builtin:tiny"),
])
def test_preflight_refusals(setting, message, capsys):
    # full_finetuning=false: LoRA settings count (cpu-tiny trains every weight by default)
    line = _refused(capsys, "run", "--headless", "--detach", "--preset", "cpu-tiny", "--set", "full_finetuning=false",
                    "--set", setting)
    assert message in line, line


def test_eight_bit_optimizer_without_bitsandbytes_is_refused_at_launch(monkeypatch):
    from grpo_tui.trainer import preflight

    monkeypatch.setattr(fields, "installed", lambda module: module != "bitsandbytes")
    cfg = RunConfig(device="auto", optim="paged_adamw_8bit")
    with pytest.raises(ConfigError, match="optim: paged_adamw_8bit needs bitsandbytes, which is not installed"):
        preflight.check(cfg)
    monkeypatch.setattr(fields, "installed", lambda module: True)
    assert preflight.check(cfg).optim == "paged_adamw_8bit"


def test_target_module_the_model_lacks_is_refused_by_plan(capsys):
    line = _refused(capsys, "plan", "gpu-16gb", "--gpu", "T4", "--set", "target_modules=qkv_proj")
    assert "target_modules: 'qkv_proj' is not a linear layer of Qwen/Qwen3-4B" in line


@pytest.mark.parametrize("key,hint", [
    ("lerning_rate", "did you mean 'learning_rate'?"), ("num_generation", "did you mean 'num_generations'?"),
    ("top_kk", "did you mean 'top_k'?"),
    ("top_q", "see `grpo-tui fields`"), ("load_in_2bit", "see `grpo-tui fields`"),
    ("load_in_16bits", "see `grpo-tui fields`"), ("warm_up_steps", "did you mean 'warmup_steps'?"),
])
def test_did_you_mean_only_for_spelling_slips(key, hint):
    with pytest.raises(ConfigError) as exc:
        RunConfig().with_overrides({key: "1"})
    assert hint in str(exc.value)


def test_gradient_checkpointing_has_one_meaning():
    from grpo_tui.trainer.backends.unsloth import gradient_checkpointing_arg
    from grpo_tui.trainer.library_args import grpo_extra_kwargs

    for given, norm, unsloth_arg, trl_on in [(True, "true", True, True), ("True", "true", True, True),
                                            (False, "false", False, False), ("unsloth", "unsloth", "unsloth", True)]:
        cfg = RunConfig.from_mapping({"use_gradient_checkpointing": given})
        assert cfg.use_gradient_checkpointing == norm
        assert gradient_checkpointing_arg(cfg) == unsloth_arg
        assert grpo_extra_kwargs(cfg, "cpu")["gradient_checkpointing"] is trl_on


def test_fields_list_covers_every_field_and_the_docs_page_is_current(capsys):
    from grpo_tui.commands.fields import field_rows, markdown

    rows = field_rows()
    assert [r["name"] for r in rows] == RunConfig.field_names()
    assert all(r["source"] in ("unsloth", "trl", "transformers", "peft", "vllm", "grpo-tui") for r in rows)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "fields.md").read_text()
    assert markdown() in doc, "docs/fields.md is out of date: grpo-tui fields --markdown"
    import json

    assert main(["fields", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lora = next(r for r in out["fields"] if r["name"] == "lora_rank")
    assert lora["also"] == ["r"] and lora["source"] == "peft" and out["vllm_sampling_params"]["seed"] == "sampling_seed"
    assert main(["fields"]) == 0 and "max_lora_rank" in capsys.readouterr().out


# -- the planner against what the notebooks logged on a T4 ----------------------------------------
def _as_ran(name: str, **changes) -> RunConfig:
    cfg = RunConfig(name=name, backend="unsloth", dtype="float16").with_overrides(
        {k: v for k, v in NOTEBOOKS[name].items() if k != "UNSLOTH_VLLM_STANDBY"})
    return cfg.with_overrides({"vllm_standby": False, **changes}).validate()


# (notebook, what Unsloth logged as "actual GPU utilization", batch it logged, vLLM's logged figures:
#  reservation, model weights, KV cache), GiB; Mistral's run was on an RTX 4090 (23.63 GiB).
LOGGED = [
    ("qwen3-4b", 0.6934, 4, T4, 10.22, 7.63, 1.68),
    ("deepseek-r1-qwen3-8b", 0.6934, 4, T4, 10.22, 5.91, 3.59),
    ("llama-3.1-8b", 0.5943, 6, T4, 8.76, 5.60, 2.39),
    ("mistral-7b", 0.5893, 6, 23.63 / planner.DEVICE_FRACTION, 13.93, 4.04, 9.53),
    ("phi-4", 0.6952, 1, T4, 10.25, 8.49, 1.24),
    ("qwen2.5-3b", 0.4966, 1, T4, 7.32, 2.22, 4.01),
    ("advanced-llama-3.2-3b", 0.5943, 4, T4, 8.76, 6.25, 1.74),
]


@pytest.mark.parametrize("name,util,batch,vram,reserved,weights,kv", LOGGED)
def test_planner_against_logged_figures(name, util, batch, vram, reserved, weights, kv):
    p = planner.plan(_as_ran(name, gpu_memory_utilization=util, per_device_train_batch_size=batch), vram)
    assert p.vllm_reserved == pytest.approx(reserved, rel=0.02)
    assert 0.90 <= p.parts["weights"] / weights <= 1.08, p.parts["weights"]  # Qwen2.5-3B 0.92, Phi-4 1.07
    # the KV cache is what the share leaves: it inherits the weights' error (Phi-4: weights planned
    # 9.06 vs 8.49 logged, KV 0.38 vs 1.24; its plain bitsandbytes 4-bit is smaller than Unsloth's
    # dynamic quant the 4.5 bits model) and vLLM's activation peak (0.28-1.05 logged, 0.6 planned)
    assert p.kv_cache == pytest.approx(kv, abs=0.9)


# The saved runs' cells (unslothai/notebooks @ bdda2ef, nb/): "actual GPU utilization" and vLLM's
# reservation / weights / KV cache from the from_pretrained cell, the batch and steps from the trainer cell.
T4_RUNS = {  # name: (Unsloth version, load cell, train cell, steps finished)
    "qwen3-4b": ("2025.5.7", 8, 61, "100/100"),
    "deepseek-r1-qwen3-8b": ("2025.5.9", 9, 48, "100/100"),
    "llama-3.1-8b": ("2025.3.8", 8, 14, "250/250"),
    "phi-4": ("2025.2.4", 8, 14, "100/100"),
    "qwen2.5-3b": ("2025.2.4", 8, 14, "250/250"),
    "advanced-llama-3.2-3b": ("2025.5.4", 9, 39, "500/500"),
}


@pytest.mark.parametrize("name", sorted(T4_RUNS))
def test_runs_that_finished_on_a_t4_fit_as_they_ran(name):
    """Every GRPO notebook whose saved output finished on a T4, planned as it ran there (no standby:
    its Unsloth predates it; the logged utilization and batch), fits or is tight."""
    _, util, batch, vram, *_ = next(row for row in LOGGED if row[0] == name)
    assert vram == T4
    p = planner.plan(_as_ran(name, gpu_memory_utilization=util, per_device_train_batch_size=batch), T4)
    assert p.verdict in ("fits", "tight"), p.explain()
    # the same settings under today's Unsloth with standby: its fixed 0.76 share, [CI-T4]'s extra
    s = planner.plan(_as_ran(name, gpu_memory_utilization=util, vllm_standby=True), T4)
    assert s.gpu_memory_utilization == pytest.approx(0.76) and s.total > p.total


def test_the_two_as_written_plans_that_say_no_are_unsloths_own_t4_oom():
    """Qwen3 (4B) and Advanced Llama 3.2 (3B) as written today (standby on) plan "no" on a T4. That is
    not a miscalibration: Unsloth's T4 CI ([CI-T4], tests/core/test_planner.py CI_OOM) ran the Qwen3 (4B)
    notebook's settings under standby on a 14.56 GiB T4 and they ran out of memory in the backward.
    The as-written Qwen3 plan is that run within 0.25 GiB, and Advanced Llama's training side is larger."""
    from test_planner import CI_FIT, CI_OOM, KAGGLE_T4, cfg

    oom = planner.plan(cfg(**CI_OOM), KAGGLE_T4)
    qwen = planner.plan(_as_ran("qwen3-4b", vllm_standby=True), T4)
    llama = planner.plan(_as_ran("advanced-llama-3.2-3b", vllm_standby=True), T4)
    assert oom.verdict == qwen.verdict == llama.verdict == "no"
    assert qwen.total - qwen.vram == pytest.approx(oom.total - oom.vram, abs=0.25)

    def training(p):
        return p.parts["lora"] + p.parts["activations"] + p.parts["logits"]

    ran = planner.plan(cfg(**CI_FIT), KAGGLE_T4)  # the CI run that finished
    assert training(llama) >= training(oom) > training(ran) + 0.8


def test_model_shape_from_the_hub_cache(tmp_path, monkeypatch):
    snap = tmp_path / "models--acme--Widget-9B" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (tmp_path / "models--acme--Widget-9B" / "refs").mkdir()
    (tmp_path / "models--acme--Widget-9B" / "refs" / "main").write_text("abc123")
    (snap / "config.json").write_text('{"num_hidden_layers": 30, "hidden_size": 3000, "num_attention_heads": 24,'
                                      ' "num_key_value_heads": 6, "intermediate_size": 9000, "vocab_size": 32000,'
                                      ' "tie_word_embeddings": false}')
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    spec = planner.model_spec("acme/Widget-9B")
    assert (spec.layers, spec.hidden, spec.kv_heads, spec.vocab) == (30, 3000, 6, 32000) and not spec.estimated
    assert "hub cache" in spec.source
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    assert planner.model_spec("acme/Widget-9B").estimated  # no config: estimated from the name, and says so


# -- max_prompt_length: what is dropped is said; nothing left is an error ---------------------------
def _long_and_short(tmp_path) -> tuple[Path, object]:
    import json

    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.trainer.tiny import build_tokenizer, tiny_spec

    data = tmp_path / "train.jsonl"
    rows = [{"prompt": "1+1=", "answer": "2"}] * 3 + [{"prompt": "1+1+1+1+1+1+1+1+1+1+1+1=", "answer": "12"}] * 2
    data.write_text("\n".join(json.dumps(r) for r in rows))
    return data, build_tokenizer(tiny_spec(load_preset("cpu-tiny")))


def test_prompts_over_max_prompt_length_are_counted(tmp_path, caplog):
    from grpo_tui.trainer.datasets import build_dataset

    data, tokenizer = _long_and_short(tmp_path)
    cfg = RunConfig(dataset=str(data), max_prompt_length=12)
    with caplog.at_level("WARNING", logger="grpo_tui"):
        kept = build_dataset(cfg, tokenizer)
    assert kept["answer"] == ["2", "2", "2"]
    assert "max_prompt_length 12: dropped 2 of 5 prompts" in caplog.text


def test_no_prompt_left_is_an_error(tmp_path):
    from grpo_tui.trainer.datasets import build_dataset

    data, tokenizer = _long_and_short(tmp_path)
    with pytest.raises(ValueError, match="max_prompt_length: all 5 prompts .* are longer than 2 tokens"):
        build_dataset(RunConfig(dataset=str(data), max_prompt_length=2), tokenizer)


def test_single_token_stop_strings_end_completions_without_vllm():
    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.trainer.library_args import StopStringError, apply_stop_tokens
    from grpo_tui.trainer.tiny import build_tokenizer, tiny_spec

    tokenizer = build_tokenizer(tiny_spec(load_preset("cpu-tiny")))

    class Model:  # only its generation_config is read and written
        from transformers import GenerationConfig

        generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id)

    one = tokenizer.convert_ids_to_tokens(5)
    cfg = RunConfig(stop=[one])
    ids = apply_stop_tokens(cfg, Model, tokenizer)
    assert ids == [5] and Model.generation_config.eos_token_id == [tokenizer.eos_token_id, 5]
    with pytest.raises(StopStringError, match="tokens; without vLLM only single-token stop strings"):
        apply_stop_tokens(RunConfig(stop=["1+1+1+1="]), Model, tokenizer)


@pytest.mark.parametrize("where", ["[grpo]\n", ""])
def test_vllm_sampling_params_as_a_toml_inline_table(tmp_path, where):
    from grpo_tui.core.planning.presets import parse_preset

    path = tmp_path / "p.toml"
    path.write_text(f"{where}vllm_sampling_params = {{min_p = 0.1, top_k = -1, seed = 11, stop = ['</s>']}}\n")
    p = parse_preset(path, "user")
    assert p.ok, p.error
    assert (p.config.min_p, p.config.top_k, p.config.sampling_seed, p.config.stop) == (0.1, -1, 11, ["</s>"])
    assert p.config.seed == RunConfig().seed != 11  # TRL's training seed stays its own
    path.write_text(f"{where}vllm_sampling_params = {{max_tokens = 64}}\n")
    assert "vllm_sampling_params.max_tokens: not taken (max_completion_length" in parse_preset(path, "user").error
