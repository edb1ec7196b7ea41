"""trainer.live_settings against TRL 1.15's real GRPOTrainer (built in this process on the tiny model):
each change reaches the attribute TRL reads it from, and a refusal changes nothing."""

from __future__ import annotations

import pytest
import torch

from grpo_tui.core.settings.config import RunConfig
from grpo_tui.trainer import live_settings as live


def _trainer(tmp_path, *, peft: bool = False, beta: float = 0.0):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from grpo_tui.trainer.compat import install_cpu_logprob_fallback
    from grpo_tui.trainer.tiny import ensure_tiny

    install_cpu_logprob_fallback()
    path = ensure_tiny(RunConfig())
    tok = AutoTokenizer.from_pretrained(path)
    tok.pad_token = tok.pad_token or tok.eos_token
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path)
    peft_config = None
    if peft:
        from peft import LoraConfig

        peft_config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=8, learning_rate=1e-3, lr_scheduler_type="linear", beta=beta,
                      use_cpu=True, report_to="none", logging_steps=1, disable_tqdm=True)
    funcs = [lambda completions, **kw: [1.0] * len(completions), lambda completions, **kw: [0.0] * len(completions)]
    funcs[0].__name__, funcs[1].__name__ = "format", "correctness"
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=funcs, args=args,
                          train_dataset=Dataset.from_list([{"prompt": f"{i}+1="} for i in range(8)]),
                          peft_config=peft_config)
    trainer.create_optimizer_and_scheduler(num_training_steps=4)
    return trainer


def _logps(trainer, temperature_check_ids):
    out = trainer.model(input_ids=temperature_check_ids, labels=temperature_check_ids, fused_lm_head=True)
    return out.log_probs.detach().clone()


@pytest.mark.filterwarnings("ignore:Detected call of")  # the scheduler stepped without a training step
def test_every_live_setting_reaches_where_trl_reads_it(tmp_path):
    tr = _trainer(tmp_path, peft=True)
    cfg = RunConfig(rewards=["format", "correctness"])
    ids = torch.tensor([[3, 5, 7, 9, 11, 13]])
    before = _logps(tr, ids)
    tr.lr_scheduler.step()  # one step into the linear schedule over 4 steps: factor 3/4
    got = live.apply(tr, {"learning_rate": 0.01, "beta": 0.04, "temperature": 0.5, "top_p": 0.9, "top_k": -1,
                          "min_p": 0.05, "max_completion_length": 16, "epsilon": 0.1, "epsilon_high": 0.3,
                          "num_iterations": 2, "reward_weights.correctness": 2.5}, cfg)
    assert got["learning_rate"] == {"old": 1e-3, "new": 0.01}
    assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 3 / 4)
    assert tr.lr_scheduler.get_last_lr()[0] == pytest.approx(0.01 * 3 / 4)  # what TRL logs as learning_rate
    tr.lr_scheduler.step()
    assert tr.lr_scheduler.get_last_lr()[0] == pytest.approx(0.01 * 2 / 4)  # the schedule goes on from there
    assert tr.beta == 0.04
    assert tr.temperature == 0.5 and tr.generation_config.temperature == 0.5
    assert tr.generation_kwargs["temperature"] == 0.5
    after = _logps(tr, ids)  # the fused head divides the logits by the new temperature
    assert not torch.allclose(before, after)
    assert tr.top_p == 0.9 and tr.generation_config.top_p == 0.9
    assert tr.top_k == 0 and tr.generation_config.top_k == 0  # vLLM's -1 is transformers' 0 (off)
    assert tr.min_p == 0.05 and tr.generation_config.min_p == 0.05
    assert tr.max_completion_length == 16 and tr.generation_config.max_new_tokens == 16
    assert tr.generation_kwargs["max_new_tokens"] == 16
    assert (tr.epsilon_low, tr.epsilon_high) == (0.1, 0.3)
    assert tr.num_iterations == 2 and tr._buffered_inputs is None
    assert tr.reward_weights.tolist() == [1.0, 2.5]
    assert got["reward_weights.correctness"] == {"old": 1.0, "new": 2.5}


def test_epsilon_alone_moves_both_sides_as_trl_defaults_it(tmp_path):
    tr = _trainer(tmp_path)
    cfg = RunConfig(rewards=["format", "correctness"])
    live.apply(tr, {"epsilon": 0.15}, cfg)
    assert (tr.epsilon_low, tr.epsilon_high) == (0.15, 0.15)
    live.apply(tr, {"epsilon_high": 0.28}, cfg)  # set on its own: a later epsilon leaves it
    live.apply(tr, {"epsilon": 0.1}, cfg)
    assert (tr.epsilon_low, tr.epsilon_high) == (0.1, 0.28)


def test_beta_on_a_full_fine_tune_without_a_reference_is_refused_and_nothing_changes(tmp_path):
    tr = _trainer(tmp_path)  # beta 0, no PEFT: TRL built no reference model
    assert not live.has_reference(tr)
    with pytest.raises(live.Refused, match="no reference model"):
        live.apply(tr, {"learning_rate": 0.05, "beta": 0.1}, RunConfig(rewards=["format", "correctness"]))
    assert tr.beta == 0.0 and tr.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    with pytest.raises(live.Refused, match="no reward 'length'"):
        live.apply(tr, {"temperature": 0.3, "reward_weights.length": 1.0}, RunConfig(rewards=["format", "correctness"]))
    assert tr.temperature == 1.0


def test_vllm_sampling_attributes_change_too(tmp_path):
    """TRL's vLLM path builds SamplingParams from vllm_generation's attributes on every call; Unsloth's
    trainer keeps the notebook's vllm_sampling_params: both follow a change (stand-ins hold the same
    attribute names as trl/generation/vllm_generation.py and vllm.SamplingParams)."""
    tr = _trainer(tmp_path)

    class VLLMGeneration:
        temperature, top_p, top_k, min_p, max_completion_length = 1.0, 1.0, 0, 0.0, 8

    class SamplingParams:
        temperature, top_p, top_k, min_p, max_tokens = 1.0, 1.0, -1, 0.0, 8

    tr.vllm_generation = VLLMGeneration()
    tr.vllm_sampling_params = SamplingParams()
    live.apply(tr, {"temperature": 0.7, "max_completion_length": 24, "top_k": 0},
               RunConfig(rewards=["format", "correctness"]))
    assert (tr.vllm_generation.temperature, tr.vllm_generation.max_completion_length) == (0.7, 24)
    sp = tr.vllm_sampling_params
    assert (sp.temperature, sp.max_tokens, sp.top_k) == (0.7, 24, -1)  # vLLM's "off" is -1


def test_the_controller_applies_a_set_and_acks_hostile_ones_with_an_error(tmp_path):
    """Command files are written by any process: a malformed ``set`` is acknowledged with an error and
    changes nothing; a good one is applied, acknowledged, announced and kept in settings.json."""
    import json

    from grpo_tui.core.run import events as ev
    from grpo_tui.core.run import live_settings as ls
    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.core.run.rundir import atomic_write
    from grpo_tui.core.run.synthetic import make_run
    from grpo_tui.trainer.context import TrainerContext
    from grpo_tui.trainer.control import Controller
    from grpo_tui.trainer.rank_sync import SingleProcess

    tr = _trainer(tmp_path)
    run = make_run(1, state="training")
    cfg = load_preset("cpu-tiny")
    ctx = TrainerContext(run=run, cfg=cfg, events=ev.EventWriter(run.events), samples=ev.EventWriter(run.samples))
    ctx.step = 3
    ctx.extras["trainer"] = tr
    for i, body in enumerate([{"settings": ["learning_rate=1"]}, {"settings": "beta=1"}, {"settings": 5},
                              {"settings": {"learning_rate": "x"}}, {"settings": {"num_generations": 2}},
                              {}, {"settings": {"learning_rate": 0.02, "reward_weights.format": 0.5}}]):
        atomic_write(run.commands / f"{i:020d}-1-aaaaaa.json", json.dumps({"id": f"c{i}", "command": "set", **body}))
    Controller(ctx, sync=SingleProcess(), is_main=True).poll()
    ctx.events.flush()
    acks = {e["id"]: e for e in ev.read_all(run.events)[0] if e["type"] == ev.CONTROL}
    assert [i for i in acks if acks[i].get("error")] == ["c0", "c1", "c2", "c3", "c4", "c5"]
    assert "num_generations: cannot change while the run trains" in acks["c4"]["error"]
    assert acks["c6"]["changes"] == {"learning_rate": {"old": 1e-3, "new": 0.02},
                                     "reward_weights.format": {"old": 1.0, "new": 0.5}}
    changed = [e for e in ev.read_all(run.events)[0] if e["type"] == ev.SETTINGS_CHANGED]
    assert [(e["step"], e["id"]) for e in changed] == [(3, "c6")]
    assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(0.02) and tr.reward_weights.tolist() == [0.5, 1.0]
    assert ls.load_overrides(run) == {"learning_rate": 0.02, "reward_weights.format": 0.5}
    assert ctx.cfg.learning_rate == 0.02 and ctx.cfg.reward_weights == [0.5, 1.0]
    assert not list(run.commands.glob("*.json"))  # every file taken
