"""lengths_from_data (issue 24, item 4): a notebook's computed lengths (Qwen3 4B:
``maximum_length = int(np.quantile(L, 0.9))``, ``max_prompt_length = maximum_length + 1``,
``max_completion_length = max_seq_length - max_prompt_length``), worked out at launch from the real
training prompts and tokenizer, said in the run's log, never a silent default."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grpo_tui.core.settings.config import ConfigError, RunConfig
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer.datasets import dataset_for_run, prompts_are_chat, to_prompt
from grpo_tui.trainer.tiny import build_tokenizer, tiny_spec

# prompts of very different lengths, so the 0.9 quantile drops some and the maximum does not
QUESTIONS = [" + ".join(["1"] * n) + " =" for n in (1, 2, 2, 3, 5, 8, 13, 21, 34, 55)]


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": str(q.count("1"))}) + "\n" for q in QUESTIONS))
    return path


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(tiny_spec(load_preset("cpu-tiny")))


def _lengths(cfg: RunConfig, tokenizer) -> list[int]:
    """Token counts worked out here, independently of trainer.datasets' own measuring."""
    assert not prompts_are_chat(cfg, tokenizer)  # the tiny tokenizer has no chat template: text prompts
    return [len(tokenizer.encode(to_prompt(q, cfg, False), add_special_tokens=False)) for q in QUESTIONS]


@pytest.mark.parametrize("rule,q,plus", [("quantile 0.9 + 1", 0.9, 1), ("quantile 0.5 + 3", 0.5, 3),
                                         ("max + 1", 1.0, 1)])
def test_lengths_are_measured_from_the_prompts_and_said(data, tokenizer, rule, q, plus):
    cfg = RunConfig(dataset=str(data), max_seq_length=400, lengths_from_data=rule, eval_size=0).validate()
    lengths = _lengths(cfg, tokenizer)
    said: list[str] = []
    resolved, ds = dataset_for_run(cfg, tokenizer, said.append)
    maximum = int(np.quantile(lengths, q))
    assert resolved.max_prompt_length == maximum + plus
    assert resolved.max_completion_length == 400 - maximum - plus
    assert len(ds) == sum(n <= maximum for n in lengths)  # as the notebook: prompts over the measured length go
    assert len(said) == 1 and f"quantile {q:g} = {maximum} tokens" in said[0]
    assert f"max_prompt_length = {maximum} + {plus} = {maximum + plus}" in said[0]
    assert f"max_completion_length = max_seq_length 400 - {maximum + plus} = {400 - maximum - plus}" in said[0]
    assert resolved.lengths_from_data == ""  # done: a second call (the backends measure before the evaluation)
    again: list[str] = []                     # cuts at what was measured and says nothing twice
    cfg2, ds2 = dataset_for_run(resolved, tokenizer, again.append, maximum)
    assert cfg2 is resolved and again == [] and ds2["prompt"] == ds["prompt"]


def test_without_the_rule_nothing_is_measured(data, tokenizer):
    cfg = RunConfig(dataset=str(data), max_seq_length=400, max_prompt_length=300, eval_size=0).validate()
    said: list[str] = []
    resolved, ds = dataset_for_run(cfg, tokenizer, said.append)
    assert resolved is cfg and said == [] and len(ds) == len(QUESTIONS)


def test_no_room_for_a_completion_is_refused_in_one_line(data, tokenizer):
    longest = max(_lengths(RunConfig(dataset=str(data)), tokenizer))
    cfg = RunConfig(dataset=str(data), max_seq_length=longest + 1, max_prompt_length=1, max_completion_length=1,
                    lengths_from_data="max + 1", eval_size=0).validate()
    with pytest.raises(ConfigError) as exc:
        dataset_for_run(cfg, tokenizer)
    assert exc.value.field == "lengths_from_data" and "leaves no completion" in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("bad", ["median", "quantile 1.5 + 1", "quantile 0 + 1", "max - 1", "0.9"])
def test_a_rule_the_trainer_does_not_have_is_refused_before_loading(bad):
    with pytest.raises(ConfigError) as exc:
        RunConfig(lengths_from_data=bad).validate()
    assert exc.value.field == "lengths_from_data" and "quantile 0.9 + 1" in exc.value.fix


@pytest.mark.slow
def test_a_cpu_run_resolves_the_lengths_and_logs_them(tmp_path, capsys):
    """The tiny model trains 2 steps with the lengths measured at launch: the run's events and
    trainer.log say them."""
    from grpo_tui.cli import main
    from grpo_tui.core.run import events as ev
    from grpo_tui.core.util.paths import runs_root

    data = tmp_path / "train.jsonl"  # enough rows for two steps of cpu-tiny's batch
    data.write_text("".join(json.dumps({"question": q, "answer": str(q.count("1"))}) + "\n" for q in QUESTIONS * 8))

    args = ["run", "--preset", "cpu-tiny", "--headless"]
    for k, v in {"dataset": str(data), "max_seq_length": "200", "lengths_from_data": "quantile 0.9 + 1",
                 "max_steps": "2", "eval_size": "0", "save_steps": "100", "warmstart_steps": "0"}.items():
        args += ["--set", f"{k}={v}"]
    assert main(args) == 0, capsys.readouterr()
    run = sorted(runs_root().rglob("events.jsonl"))[-1]
    events = ev.read_all(run)[0]
    logs = [e["message"] for e in events if e["type"] == ev.LOG and "lengths_from_data" in e.get("message", "")]
    assert len(logs) == 1 and "max_prompt_length = " in logs[0] and "max_completion_length = max_seq_length 200" \
        in logs[0]
    assert "lengths_from_data 'quantile 0.9 + 1'" in (run.parent / "trainer.log").read_text()
    assert max(e["step"] for e in events if e["type"] == ev.METRICS) == 2


def test_alerts_do_not_take_the_placeholder_cap_for_the_measured_one():
    from grpo_tui.core.reading.alerts import AlertEngine

    assert AlertEngine.from_config(RunConfig(lengths_from_data="quantile 0.9 + 1").to_dict()).max_completion_length \
        is None
    assert AlertEngine.from_config(RunConfig().to_dict()).max_completion_length == 32
