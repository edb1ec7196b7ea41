"""The unsloth backend, tested by contract with stand-in unsloth / vllm modules (tests/standins).

What these tests prove: the calls grpo-tui makes, their order and arguments, the
environment it sets, what it saves and emits, and its failure messages. What they
cannot prove: that Unsloth and vLLM behave on a GPU as the stand-ins do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.sample_columns import event_rows
from grpo_tui.core.planning.presets import load_preset, parse_preset, shipped_dir
from grpo_tui.trainer.backends import unsloth as ub

from standin_helpers import read, use_standins  # noqa: E402  (tests/ is on sys.path)
from trainer_helpers import start, wait_exit, wait_for, kill, events  # noqa: E402

# A tiny run through the unsloth backend: 2 steps, 8 eval rows, merged save.
TINY_UNSLOTH = {
    "backend": "unsloth", "fast_inference": True, "vllm_standby": True, "max_steps": 2, "eval_size": 8,
    "merge_16bit": True, "lora_rank": 4, "lora_alpha": 8, "full_finetuning": False,
    "use_gradient_checkpointing": "unsloth",  # cpu-tiny turns it off; Unsloth's own is the GPU default
}


def gpu_presets() -> list[str]:
    """Shipped presets on the unsloth backend (read from the package, never the user's folder)."""
    found = (parse_preset(path) for path in sorted(shipped_dir().glob("*.toml")))
    return [p.name for p in found if p.ok and p.config.backend == "unsloth"]


@pytest.fixture
def standin_env(monkeypatch, tmp_path):
    return use_standins(monkeypatch, tmp_path / "standin.jsonl")


# -- arguments derived from each shipped GPU preset (pure) -------------------------------------
def test_there_are_gpu_presets():
    assert gpu_presets(), "no shipped preset uses the unsloth backend"


@pytest.mark.parametrize("name", gpu_presets())
def test_preset_arguments(name):
    cfg = load_preset(name)
    env = ub.unsloth_env(cfg)
    assert env["UNSLOTH_VLLM_STANDBY"] == ("1" if cfg.fast_inference and cfg.vllm_standby else "0")
    kw = ub.from_pretrained_kwargs(cfg, cfg.model, token="hf_x")
    assert kw["model_name"] == cfg.model and kw["token"] == "hf_x"
    assert kw["max_seq_length"] == cfg.max_seq_length
    assert kw["load_in_4bit"] is cfg.load_in_4bit
    assert kw["fast_inference"] is cfg.fast_inference
    assert kw["max_lora_rank"] == max(cfg.lora_rank, cfg.max_lora_rank)  # vLLM's LoRA slot must hold the adapter
    assert kw["gpu_memory_utilization"] == cfg.gpu_memory_utilization
    assert kw["random_state"] == cfg.random_state
    assert ("unsloth_vllm_standby" in kw) == (cfg.fast_inference and cfg.vllm_standby)
    pk = ub.peft_kwargs(cfg)
    assert (pk["r"], pk["lora_alpha"], pk["random_state"]) == (cfg.lora_rank, cfg.lora_alpha, cfg.random_state)
    assert pk["target_modules"] == cfg.lora_targets and pk["bias"] == cfg.bias
    assert pk["use_gradient_checkpointing"] == ("unsloth" if cfg.use_gradient_checkpointing == "unsloth"
                                                else cfg.use_gradient_checkpointing == "true")
    # GRPOConfig: the preset's settings with Unsloth's two differences.
    from grpo_tui.trainer.grpo_args import grpo_kwargs

    g = grpo_kwargs(cfg, Path("/tmp/x"), "cpu", **ub.grpo_overrides(cfg, "cuda"))
    for key in ("num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
                "max_completion_length", "learning_rate", "loss_type", "beta", "max_steps", "temperature",
                "optim", "weight_decay", "lr_scheduler_type"):
        assert g[key] == getattr(cfg, key), key
    assert g["use_vllm"] is False and g["gradient_checkpointing"] is False


def test_standby_off_and_no_fast_inference():
    cfg = load_preset("cpu-tiny").with_overrides({"backend": "unsloth", "fast_inference": False})
    assert ub.unsloth_env(cfg)["UNSLOTH_VLLM_STANDBY"] == "0"
    assert "unsloth_vllm_standby" not in ub.from_pretrained_kwargs(cfg, "m")
    assert ub.peft_kwargs(cfg.with_overrides({"use_gradient_checkpointing": "false"}))[
        "use_gradient_checkpointing"] is False


# -- the whole flow in a real trainer process, stand-ins on PYTHONPATH --------------------------------
def test_unsloth_backend_flow(standin_env, grpo_home):
    launched = start(**TINY_UNSLOTH)
    try:
        rc = wait_exit(launched.proc, timeout=240)
    finally:
        kill(launched.proc)
    run = launched.run
    evs = events(run)
    fin = [e for e in evs if e["type"] == ev.FINISHED][-1]
    assert rc == 0 and fin["status"] == ev.COMPLETED, (fin.get("error"), run.log_tail(30))
    calls = read(standin_env)
    names = [c["call"] for c in calls]

    # Environment set before the import, and unsloth imported before trl / transformers / peft.
    imp = calls[0]
    assert imp["call"] == "import"
    assert imp["env"]["UNSLOTH_VLLM_STANDBY"] == "1"
    assert imp["loaded_before"] == []
    assert imp["cuda_started_before"] is False

    # Unsloth's patched GRPOTrainer took the arguments: it would switch on colocated vLLM with sleep mode.
    gt = next(c for c in calls if c["call"] == "grpo_trainer")
    assert gt["rewrites"].get("use_vllm") is True and gt["rewrites"].get("vllm_enable_sleep_mode") is True

    # Load, LoRA, eval before, format warm start (its adapter saved and loaded for the engine, eval),
    # train, save_lora, merge, load_lora, eval after: in that order.
    order = [n for n in names if n in ("from_pretrained", "get_peft_model", "save_lora", "save_pretrained_merged",
                                       "load_lora")]
    assert order == ["from_pretrained", "get_peft_model", "save_lora", "load_lora", "save_lora",
                     "save_pretrained_merged", "load_lora"]
    warm = run.path / "warmstart_adapter"
    assert [c["path"] for c in calls if c["call"] == "save_lora"] == [str(warm), str(run.adapter)]
    # The warm start trained the LoRA weights GRPO goes on with: peft starts every lora_B at zero.
    from safetensors.torch import load_file

    lora_b = [t for k, t in load_file(str(warm / "adapter_model.safetensors")).items() if "lora_B" in k]
    assert lora_b and any(float(t.abs().max()) > 0 for t in lora_b)
    fp = next(c for c in calls if c["call"] == "from_pretrained")
    assert fp["fast_inference"] is True and fp["max_lora_rank"] == 4 and fp["unsloth_vllm_standby"] is True
    assert Path(fp["model_name"]).is_dir()  # builtin:tiny resolved to its local folder
    gp = next(c for c in calls if c["call"] == "get_peft_model")
    assert gp["r"] == 4 and gp["lora_alpha"] == 8 and gp["use_gradient_checkpointing"] == "unsloth"

    # The adapter is where the run says, and the LoRA request points at it.
    assert (run.adapter / "adapter_config.json").is_file()
    assert (run.path / "merged_16bit" / "config.json").is_file()
    assert fin["adapter_path"] == str(run.adapter)
    lora = [c for c in calls if c["call"] == "load_lora"]
    assert [c["path"] for c in lora] == [str(warm), str(run.adapter)] and all(c["exists"] for c in lora)
    kinds = [e["kind"] for e in evs if e["type"] == ev.CHECKPOINT]
    assert "adapter" in kinds and "merged_16bit" in kinds

    # Eval: before without a LoRA request, after the warm start and after training with their adapters;
    # greedy vLLM sampling.
    gens = [c for c in calls if c["call"] == "fast_generate"]
    assert [g["lora_request"] for g in gens] == [None, str(warm), str(run.adapter)]
    assert gens[0]["sampling"]["temperature"] == 0.0 and gens[0]["n"] == 8
    assert all(g["text_prompts"] == 0 and not g["double_bos"] for g in gens)  # token ids, no second BOS
    evals = [e for e in evs if e["type"] == ev.EVAL]
    assert [e["when"] for e in evals] == ["before", "warmstart", "after"]
    assert all(e["n"] == 8 and 0.0 <= e["accuracy"] <= 1.0 and e["name"] == "builtin:arith" for e in evals)

    # Phases for the long parts, the same metrics as the trl backend plus the engine's figures.
    phases = [e["name"] for e in evs if e["type"] == ev.PHASE]
    for p in ("importing", "loading_model", "building_vllm", "warm_start", "compiling", "training", "saving"):
        assert p in phases, p
    assert phases.index("importing") < phases.index("loading_model") < phases.index("building_vllm") \
        < phases.index("warm_start") < phases.index("loading_dataset")
    warm_log = [e["message"] for e in evs if e["type"] == ev.LOG and e["message"].startswith("format warm start:")]
    assert len(warm_log) == 1 and "2 steps, loss" in warm_log[0], warm_log
    # The first step shows as compiling, then training again.
    assert phases[phases.index("compiling") - 1] == "training" and phases[phases.index("compiling") + 1] == "training"
    metrics = [e["metrics"] for e in evs if e["type"] == ev.METRICS]
    assert len(metrics) == 2
    m = metrics[-1]
    for key in ("reward", "reward_std", "rewards/format/mean", "rewards/correctness/mean", "memory/rss_mb",
                "memory/vllm_gpu_memory_utilization", "memory/vllm_kv_cache_tokens"):
        assert key in m, key
    # Standby replaces the requested share by Unsloth's tier for the card (a 24 GB one here: 0.825 * 0.95).
    assert m["memory/vllm_gpu_memory_utilization"] == pytest.approx(0.825 * 0.95)
    assert m["memory/vllm_kv_cache_tokens"] == 64 * 16
    samples = ev.read_all(run.samples)[0]
    assert samples and event_rows(samples[0])


def test_stop_while_loading_ends_before_training(standin_env, grpo_home):
    """A stop sent before the first step ends the run at a loading phase boundary: no trainer,
    nothing saved, a stopped run (not failed)."""
    launched = start(**{**TINY_UNSLOTH, "eval_size": 0, "merge_16bit": False, "max_steps": 50})
    sid = launched.run.send_command("stop")
    try:
        assert wait_exit(launched.proc, timeout=240) == 0, launched.run.log_tail(30)
    finally:
        kill(launched.proc)
    evs = events(launched.run)
    assert evs[-1]["type"] == ev.FINISHED and evs[-1]["status"] == ev.STOPPED, evs[-1]
    assert [(e["id"], e["state"]) for e in evs if e["type"] == ev.CONTROL] == [(sid, "stopping")]
    assert not [e for e in evs if e["type"] == ev.PHASE and e["name"] in ("training", "saving")]
    assert "save_lora" not in [c["call"] for c in read(standin_env)]


def test_stop_saves_the_adapter(standin_env, grpo_home):
    """A stop command once training began (honoured at the next step boundary) still ends with save_lora."""
    launched = start(**{**TINY_UNSLOTH, "eval_size": 0, "merge_16bit": False, "max_steps": 50})
    try:
        wait_for(launched.run, lambda e: e["type"] == ev.PHASE and e["name"] == "training", proc=launched.proc,
                 timeout=240)
        launched.run.send_command("stop")
        assert wait_exit(launched.proc, timeout=240) == 0, launched.run.log_tail(30)
    finally:
        kill(launched.proc)
    fin = [e for e in events(launched.run) if e["type"] == ev.FINISHED][-1]
    assert fin["status"] == ev.STOPPED and fin["adapter_path"] == str(launched.run.adapter)
    assert [c["call"] for c in read(standin_env) if c["call"] in ("save_lora", "save_pretrained_merged")] == \
        ["save_lora"]
    assert (launched.run.adapter / "adapter_config.json").is_file()
