"""The launch probe and `grpo-tui rewards audit` call a reward exactly as TRL will for the preset.

TRL 1.15 (GRPOTrainer._generate): when the dataset's prompts are message lists, each completion a
reward sees is ``[{"role": "assistant", "content": text}]``; otherwise a plain string. The dataset's
other columns arrive as keywords. A notebook's reward reads ``completion[0]["content"]``; the probe
used to hand it plain strings and refused every imported notebook."""

from __future__ import annotations

import json

import pytest
from trl.data_utils import is_conversational

from grpo_tui.cli import main
from grpo_tui.core.settings.config import ConfigError, RunConfig
from grpo_tui.trainer.rewards import probe_reward
from grpo_tui.trainer.rewards import trl_call
from grpo_tui.trainer.rewards.audit import run_audit
from grpo_tui.trainer.rewards.registry import load_user_reward, probe_batch

NOTEBOOK_STYLE = r'''
import json, re
from pathlib import Path

def strict_format(completions, **kwargs):
    with open(Path(__file__).with_suffix(".seen"), "a") as f:  # what TRL's stand-in handed us
        f.write(json.dumps(completions) + "\n")
    responses = [completion[0]["content"] for completion in completions]
    return [1.0 if re.search(r"<answer>.*</answer>", r) else 0.0 for r in responses]

def question_echo(prompts, completions, answer, **kwargs):
    q = prompts[0][-1]["content"]
    return [0.5 if q and a else 0.0 for a in answer for _ in [0]]
'''


@pytest.fixture
def rewards_file(tmp_path):
    path = tmp_path / "nb_rewards.py"
    path.write_text(NOTEBOOK_STYLE)
    return path


def cfg_for(path, form: str, **over) -> RunConfig:
    return RunConfig(rewards=[f"{path}:strict_format", f"{path}:question_echo"], prompt_form=form,
                     max_prompt_length=200, max_seq_length=400, **over).validate()


def test_chat_presets_probe_with_message_list_completions_trl_recognises(rewards_file):
    cfg = cfg_for(rewards_file, "chat", system_prompt="Answer in <answer> tags.")
    batch = probe_batch(cfg)
    # the form TRL's own check calls conversational, with the preset's system prompt first
    assert is_conversational({"prompt": batch["prompts"][0]})
    assert batch["prompts"][0][0] == {"role": "system", "content": "Answer in <answer> tags."}
    assert batch["completions"][0] == [{"role": "assistant", "content": "<think>2+2 is 4</think><answer>4</answer>"}]
    assert batch["answer"] == ["4", "4", "4"] and batch["completions"][2] == [{"role": "assistant", "content": ""}]
    for name in ("strict_format", "question_echo"):
        values = probe_reward(load_user_reward(f"{rewards_file}:{name}"), name, cfg)
        assert len(values) == 3
    assert probe_reward(load_user_reward(f"{rewards_file}:strict_format"), "s", cfg) == [1.0, 1.0, 0.0]


def test_text_presets_probe_with_strings_and_say_which_form_failed(rewards_file):
    cfg = cfg_for(rewards_file, "text")
    batch = probe_batch(cfg)
    assert batch["completions"][1] == "<answer>5</answer>" and batch["prompts"][0] == "What is 2+2?"
    with pytest.raises(ConfigError) as err:
        probe_reward(load_user_reward(f"{rewards_file}:strict_format"), "strict_format", cfg)
    assert "TypeError" in err.value.reason and "plain strings (prompt_form text)" in err.value.fix


def test_auto_follows_the_tokenizer_files(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    templated = tmp_path / "templated"
    templated.mkdir()
    (templated / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    assert trl_call.chat_prompts(RunConfig(model=str(plain))) is False
    assert trl_call.chat_prompts(RunConfig(model=str(templated))) is True
    assert trl_call.chat_prompts(RunConfig(model="builtin:tiny")) is False  # the tiny tokenizer has none
    assert trl_call.chat_prompts(RunConfig(model="builtin:tiny", prompt_form="chat")) is True
    with pytest.raises(ConfigError, match="prompt_form"):
        RunConfig(prompt_form="messages").validate()


def test_the_audit_hands_each_reward_the_form_trl_will(rewards_file):
    cfg = cfg_for(rewards_file, "chat")
    report = run_audit(cfg)
    assert report.rows and not any("TypeError" in r.note for r in report.rows)
    handed = [c for line in rewards_file.with_suffix(".seen").read_text().splitlines() for c in json.loads(line)]
    assert len(handed) > 100 and all(isinstance(c, list) and c[0]["role"] == "assistant" for c in handed)
    # an honest answer in the notebook's form is paid by the notebook's own reward
    honest = next(r for r in report.rows if r.label == "honest correct")
    assert honest.scores["strict_format"] == 1.0


def test_rewards_audit_cli_on_a_chat_preset_gives_a_verdict_not_an_error(rewards_file, tmp_path, capsys):
    preset = tmp_path / "nb.toml"
    preset.write_text(f'[preset]\ndescription = "t"\n[data]\nprompt_form = "chat"\nmax_prompt_length = 200\n'
                      f'max_seq_length = 400\n[rewards]\nrewards = ["{rewards_file}:strict_format"]\n')
    rc = main(["rewards", "audit", "--preset", str(preset)])
    out = capsys.readouterr()
    assert rc in (0, 1), out.err
    assert "failed on a probe batch" not in out.err


def test_chat_prompts_on_the_tiny_model_get_a_template(tmp_path, monkeypatch):
    """The dataset and the probe agree: prompt_form chat with builtin:tiny (a notebook's preset with the
    tiny model swapped in) builds message-list prompts, which TRL then hands on as chat."""
    monkeypatch.setenv("GRPO_TUI_CACHE", str(tmp_path))
    from grpo_tui.trainer.datasets import build_dataset, prompts_are_chat
    from grpo_tui.trainer.tiny import build_tokenizer, tiny_spec

    cfg = RunConfig(prompt_form="chat", max_prompt_length=200, max_seq_length=400, max_steps=2).validate()
    tok = build_tokenizer(tiny_spec(cfg))
    assert not tok.chat_template
    ds = build_dataset(cfg, tok, n_builtin=8)
    assert is_conversational(ds[0]) and prompts_are_chat(cfg, tok)
    assert set(ds.column_names) == {"prompt", "answer"} == {"prompt", *trl_call.DATASET_COLUMNS}
    text_cfg = RunConfig(prompt_form="text", max_prompt_length=200, max_seq_length=400).validate()
    assert isinstance(build_dataset(text_cfg, tok, n_builtin=8)[0]["prompt"], str)
    with pytest.raises(ConfigError, match="no chat template"):
        prompts_are_chat(RunConfig(model="/some/model", prompt_form="chat"), build_tokenizer(tiny_spec(cfg)))


def test_a_reward_that_raises_on_an_audit_case_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "fragile.py"
    path.write_text("def fragile(completions, **kwargs):\n"
                    "    text = completions[0][0]['content']\n"
                    "    if 'percent' in text:\n        raise ValueError('cannot read ' + text)\n"
                    "    return [0.0 for _ in completions]\n")
    preset = tmp_path / "f.toml"
    preset.write_text(f'[preset]\ndescription = "t"\n[data]\nprompt_form = "chat"\n'
                      f'[rewards]\nrewards = ["{path}:fragile"]\n')
    assert main(["rewards", "audit", "--preset", str(preset)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fragile raised ValueError on the audit case percent/" in err
    assert "TRL would stop training on it" in err
