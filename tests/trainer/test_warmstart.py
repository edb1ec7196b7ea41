"""The format warm start (trainer.warmstart): its examples are what the rewards pay in full, it trains
the weights GRPO goes on with (the adapter for LoRA), and bad settings are refused before a run.

The model is the locally built tiny one (real torch training, no download); SmolLM2 runs it in
tests/trainer/test_real_model_cpu.py."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from grpo_tui.core.settings.config import ConfigError, RunConfig
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer import warmstart
from grpo_tui.trainer.datasets import to_prompt
from grpo_tui.trainer.rewards import build_reward_funcs
from grpo_tui.trainer.word_problems import word_problems


def _scores(cfg: RunConfig, completions: list[str], answers: list[str]) -> dict[str, list[float]]:
    funcs, _ = build_reward_funcs(cfg)
    prompts = ["q"] * len(completions)
    return {f.__name__: f(prompts, completions, answer=answers) for f in funcs}


def test_word_problem_examples_earn_every_format_and_correctness_reward_in_full():
    """The warm start shows the model exactly what the run pays: each example scores format_strict,
    format_soft and correctness at their maxima under the preset's own (anti-hacking) rewards, and
    its worked steps reach the gold number."""
    cfg = load_preset("cpu-smollm2")
    rows = list(itertools.islice(warmstart.example_rows(cfg, chat=True)[0], 40))
    golds = [r["completion"].split(cfg.solution_start)[1].split(cfg.solution_end)[0] for r in rows]
    s = _scores(cfg, [r["completion"] for r in rows], golds)
    assert s["format_strict"] == [0.5] * 40 and s["format_soft"] == [0.5] * 40 and s["correctness"] == [1.0] * 40
    for r, gold in zip(rows, golds):
        steps = r["completion"].split(cfg.reasoning_end)[0]
        assert steps.rstrip(". ").endswith(f"= {gold}"), r["completion"]
        assert r["prompt"][0]["role"] == "system" and "between <think>" in r["prompt"][1]["content"]


def test_worked_steps_compute_every_template_right():
    import operator
    import re

    ops = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
    rows = word_problems(random.Random(5), 800)
    for r in rows:
        found = re.findall(r"(\d+) ([-+*/]) (\d+) = (\d+)", r["steps"])
        assert len(found) >= 2, r  # multi-step, every step written out
        for a, op, b, c in found:
            assert ops[op](int(a), int(b)) == int(c), r
        assert r["steps"].rstrip(".").split("= ")[-1] == r["answer"], r


def test_examples_differ_from_the_grpo_rows_and_cycle_when_capped():
    cfg = load_preset("cpu-smollm2")
    from grpo_tui.trainer.datasets import builtin_rows

    grpo_questions = {r["question"] for r in builtin_rows("word_problems", 200, cfg.seed)}
    fresh = list(itertools.islice(warmstart.example_rows(cfg, chat=False)[0], 100))
    assert len({r["prompt"] for r in fresh}) > 90  # fresh draws
    assert not grpo_questions & {r["prompt"].split(" Think step")[0] for r in fresh}
    capped = list(itertools.islice(warmstart.example_rows(cfg.with_overrides({"warmstart_examples": 3}),
                                                          chat=False)[0], 9))
    assert capped[:3] == capped[3:6] == capped[6:9] and len({r["prompt"] for r in capped}) == 3


def test_a_local_dataset_gives_its_worked_solutions_and_skips_rows_without(tmp_path):
    data = tmp_path / "train.jsonl"
    rows = [
        {"question": "Tom has 6 bags of 7 apples. How many?", "answer": "6 bags of 7 is <<6*7=42>>42.\n#### 42"},
        {"question": "What is 2+2?", "answer": "4"},  # no worked solution: left out
        {"question": "Half of 10?", "answer": "5", "rationale": "10 / 2 = 5."},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = RunConfig(dataset=str(data), warmstart_steps=1)
    got = list(itertools.islice(warmstart.example_rows(cfg, chat=False)[0], 2))
    assert {r["completion"] for r in got} == {"<think>6 bags of 7 is 42.</think><answer>42</answer>",
                                              "<think>10 / 2 = 5.</think><answer>5</answer>"}
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({"question": "1+1?", "answer": "2"}))
    with pytest.raises(warmstart.NoWarmstartExamples, match="no rows with a worked solution"):
        next(warmstart.example_rows(RunConfig(dataset=str(bare)), chat=False))
    # warmstart_dataset: examples from another file than the GRPO rows.
    other = RunConfig(dataset=str(bare), warmstart_dataset=str(data))
    assert next(warmstart.example_rows(other, chat=False)[0])["completion"].endswith("</answer>")


def test_the_loss_is_on_the_completion_and_its_end_of_turn_only():
    from grpo_tui.trainer.tiny import ensure_tiny
    from transformers import AutoTokenizer

    cfg = load_preset("cpu-tiny")
    tok = AutoTokenizer.from_pretrained(str(ensure_tiny(cfg)))
    exs = [{"prompt": "3+4=", "completion": "<answer>7</answer>"}, {"prompt": "1+1=", "completion": "<answer>2</answer>"}]
    ids, mask, labels = warmstart.example_tensors(tok, exs, 128)
    n_prompt = len(tok("3+4=", add_special_tokens=False)["input_ids"])
    end = int(mask[0].sum())
    assert (labels[0, :n_prompt] == -100).all() and (labels[0, n_prompt:end] == ids[0, n_prompt:end]).all()
    assert tok.decode(ids[0, n_prompt:end - 1]).replace(" ", "") == "<answer>7</answer>"
    assert int(ids[0, end - 1]) == tok.eos_token_id  # the model learns to stop
    assert (labels[mask == 0] == -100).all()
    # A step's logits are split to fit memory: 49k vocabulary x 384 tokens -> one row at a time.
    assert [len(c) for c in warmstart.micro_batches(list(range(8)), 49152 * 384)] == [1] * 8
    assert [len(c) for c in warmstart.micro_batches(list(range(8)), 40 * 128)] == [8]


def test_micro_batches_give_the_gradient_of_one_batch(monkeypatch):
    """Splitting a step into micro-batches changes memory, not the update."""
    import torch

    results = []
    for budget in (10**9, 1):
        cfg, model, tok = _tiny(warmstart_steps=2, warmstart_batch_size=6)
        monkeypatch.setattr(warmstart, "LOGITS_BUDGET", budget)
        torch.manual_seed(0)
        losses = warmstart.warm_start(model, tok, cfg)
        results.append((losses, [p.detach().clone() for p in model.parameters()]))
    (l1, p1), (l2, p2) = results
    assert l1 == pytest.approx(l2, rel=1e-4)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(p1, p2))


def _tiny(**over):
    from grpo_tui.trainer.backends.trl_backend import load_model_and_tokenizer

    cfg = load_preset("cpu-tiny").with_overrides(over)
    model, tok = load_model_and_tokenizer(cfg, "cpu")
    return cfg, model, tok


def test_full_warm_start_lowers_the_loss_of_the_tiny_model():
    cfg, model, tok = _tiny(warmstart_steps=24, warmstart_batch_size=16)
    seen = []
    losses = warmstart.warm_start(model, tok, cfg, lambda s, t, loss: seen.append((s, t)))
    assert seen == [(i, 24) for i in range(1, 25)]
    assert len(losses) == 24 and sum(losses[-4:]) / 4 < 0.6 * sum(losses[:4]) / 4, losses


def test_lora_warm_start_trains_the_adapter_only():
    import torch
    from peft import get_peft_model

    from grpo_tui.trainer.backends.base import lora_config

    cfg, model, tok = _tiny(full_finetuning=False, warmstart_steps=6, warmstart_batch_size=4,
                            warmstart_learning_rate=1e-2)
    model = get_peft_model(model, lora_config(cfg))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    warmstart.warm_start(model, tok, cfg)
    moved = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    assert moved and all("lora_" in k for k in moved), sorted(moved)[:5]


def test_no_trainable_weights_is_one_clear_error():
    cfg, model, tok = _tiny(warmstart_steps=1)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="warmstart_steps: the model has no trainable weights"):
        warmstart.warm_start(model, tok, cfg)


@pytest.mark.parametrize("over, field", [
    ({"warmstart_steps": -1}, "warmstart_steps"),
    ({"warmstart_examples": -2}, "warmstart_examples"),
    ({"warmstart_batch_size": 0}, "warmstart_batch_size"),
    ({"warmstart_steps": 3, "warmstart_learning_rate": 0}, "warmstart_learning_rate"),
])
def test_bad_settings_are_refused_naming_the_field(over, field):
    with pytest.raises(ConfigError) as err:
        load_preset("cpu-smollm2").with_overrides(over).validate()
    assert err.value.field == field


def test_the_old_name_still_reads():
    assert RunConfig.from_mapping({"warm_start_steps": 7}).warmstart_steps == 7
    with pytest.raises(ConfigError, match="sets warmstart_steps again"):
        RunConfig.from_mapping({"warm_start_steps": 7, "warmstart_steps": 3})
    assert to_prompt("q", RunConfig(), chat=False) == "q"


def test_the_examples_take_the_prompt_form_the_grpo_rows_take(monkeypatch):
    """prompt_form = "text" on a model with a chat template: GRPO's prompts are plain strings, and so
    are the warm start's (it must teach the layout the run will see)."""
    seen = []
    real = warmstart.example_rows
    monkeypatch.setattr(warmstart, "example_rows", lambda cfg, chat, tok=None: seen.append(chat) or real(cfg, chat, tok))
    cfg, model, tok = _tiny(warmstart_steps=1, warmstart_batch_size=2, prompt_form="chat")
    warmstart.warm_start(model, tok, cfg)  # the tiny tokenizer gets its plain chat template, as for GRPO
    assert tok.chat_template
    warmstart.warm_start(model, tok, cfg.with_overrides({"prompt_form": "text"}))
    assert seen == [True, False]


def test_an_sft_stage_set_like_openmathreasoning_is_read_as_the_notebook_formats_it(tmp_path):
    """Unsloth's Qwen3 / LFM2.5 / FP8 notebooks warm up on OpenMathReasoning-mini: problem,
    expected_answer, generated_solution (with its own <think> tags, which the notebook strips), only
    numeric answers, only rows of at most max_seq_length / 2 tokens, for N epochs or max_steps."""
    data = tmp_path / "omr.jsonl"
    rows = [
        {"problem": "Find x if x + 3 = 17.", "expected_answer": "14", "generated_solution": "<think>\nx = 17 - 3 = 14.\n</think>\nSo 14."},
        {"problem": "Simplify 2/4.", "expected_answer": "\\frac{1}{2}", "generated_solution": "<think>Halve both.</think>"},
        {"problem": "What is 3 * 3?", "expected_answer": "9", "generated_solution": "<think>" + "3 * 3 = 9. " * 200 + "</think>"},
        {"problem": "What is -1 - 1?", "expected_answer": "-2", "generated_solution": "<think>-1 - 1 = -2.</think>"},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    cfg, model, tok = _tiny(warmstart_dataset=str(data), warmstart_dataset_split="cot", warmstart_batch_size=1, warmstart_steps=0,
                            warmstart_epochs=2, warmstart_numeric_answers=True, warmstart_max_tokens=300)
    assert warmstart.source_config(cfg).dataset_split == "cot"
    got, distinct = warmstart.example_rows(cfg, chat=False, tokenizer=tok)
    assert distinct == 2  # the fraction (not numeric) and the long one (over 300 tokens) are left out
    first = [next(got) for _ in range(2)]
    assert {r["completion"] for r in first} == {"<think>x = 17 - 3 = 14.\n\nSo 14.</think><answer>14</answer>",  # line breaks kept, ends stripped
                                                "<think>-1 - 1 = -2.</think><answer>-2</answer>"}
    assert warmstart.planned_steps(cfg, distinct) == 4  # 2 epochs of 2 rows, batch 1
    assert warmstart.planned_steps(cfg.with_overrides({"warmstart_batch_size": 3}), distinct) == 2  # ceil(2/3) a pass
    assert warmstart.planned_steps(cfg.with_overrides({"warmstart_steps": 7}), distinct) == 7  # as max_steps wins
    assert len(warmstart.warm_start(model, tok, cfg)) == 4
    none_fit = cfg.with_overrides({"warmstart_max_tokens": 5})
    with pytest.raises(warmstart.NoWarmstartExamples, match="with a numeric answer of at most 5 tokens"):
        warmstart.example_rows(none_fit, chat=False, tokenizer=tok)
    with pytest.raises(warmstart.NoWarmstartExamples, match="set warmstart_examples"):
        warmstart.planned_steps(RunConfig(warmstart_epochs=1), None)
    for bad in ("-1", "nan"):
        with pytest.raises(ConfigError, match="warmstart_epochs"):
            RunConfig(warmstart_epochs=float(bad)).validate()
    assert warmstart.numeric("3.5") and warmstart.numeric(" -2 ") and not warmstart.numeric("1,000") \
        and not warmstart.numeric("nan")
