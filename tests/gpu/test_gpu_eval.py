"""Held-out evaluation: GSM8K handling, local files, before/after events in a real (tiny, CPU) run,
`grpo-tui eval RUN` on the trl backend for real and on the unsloth backend through the stand-ins."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from rich.console import Console

from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.settings.config import RunConfig
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.rundir import create_run
from grpo_tui.headless import follow
from grpo_tui.trainer import evaluate as E
from grpo_tui.trainer import gsm8k

from standin_helpers import read, use_standins
from trainer_helpers import events, kill, start, wait_exit


# -- GSM8K and scoring (pure) ---------------------------------------------------------------------------
def test_gsm8k_gold_and_defaults():
    assert gsm8k.gold_answer("She pays 3 * 4 = 12.\n#### 1,234") == "1234"
    assert gsm8k.gold_answer(" 42 ") == "42"
    cfg = gsm8k.apply_defaults(RunConfig(dataset="gsm8k", reasoning_start="<r>", reasoning_end="</r>",
                                         solution_start="<s>", solution_end="</s>"))
    assert (cfg.dataset, cfg.dataset_config, cfg.eval_split) == ("openai/gsm8k", "main", "test")
    assert "<r>" in cfg.system_prompt and "</s>" in cfg.system_prompt
    row = gsm8k.convert_row({"question": "2+2?", "answer": "2+2=4\n#### 4"}, cfg)
    assert row["answer"] == "4" and [m["role"] for m in row["prompt"]] == ["system", "user"]
    other = RunConfig(dataset="builtin:arith")
    assert gsm8k.apply_defaults(other) is other


def test_score_uses_the_answer_tags():
    cfg = RunConfig()
    got = E.score(["<think>2+2</think><answer>4</answer>", "<answer>5</answer>", "4", "<answer>4</answer><answer>5</answer>"],
                  ["4", "4", "4", "4"], cfg)
    assert got == [True, False, False, False]


def test_local_file_rows(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"prompt": f"q{i}", "answer": f"x\n#### {i}"}) for i in range(10)))
    held = tmp_path / "held.jsonl"
    held.write_text(json.dumps({"question": "hq", "answer": "7"}) + "\n")
    cfg = RunConfig(dataset=str(train))
    name, split, rows = E.eval_rows(cfg, 3, chat=False)
    assert name == "train.jsonl[last 3]" and split == "training file"
    assert [r["answer"] for r in rows] == ["7", "8", "9"] and rows[0]["prompt"] == "q7"
    name, split, rows = E.eval_rows(cfg, 3, chat=True, split=str(held))
    assert name == "held.jsonl" and rows[0]["answer"] == "7" and rows[0]["prompt"][1]["content"] == "hq"


def test_local_file_eval_rows_are_held_out_of_training(tmp_path):
    """With eval_size and no eval file, the last eval_size rows are evaluated and never trained on."""
    from grpo_tui.trainer.datasets import build_dataset
    from grpo_tui.trainer.tiny import build_tokenizer, tiny_spec

    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"prompt": f"{i}+0=", "answer": str(i)}) for i in range(10)))
    tokenizer = build_tokenizer(tiny_spec(load_preset("cpu-tiny")))
    cfg = RunConfig(dataset=str(train), eval_size=3, max_prompt_length=64)
    trained = build_dataset(cfg, tokenizer)
    assert trained["answer"] == [str(i) for i in range(7)]
    name, split, rows = E.eval_rows(cfg, 3, chat=False)
    assert (name, split) == ("train.jsonl[last 3, held out]", "held out")
    assert [r["answer"] for r in rows] == ["7", "8", "9"]
    # More rows than were held out: some were trained on, and the name says so.
    assert E.eval_rows(cfg, 5, chat=False)[:2] == ("train.jsonl[last 5]", "training file")
    # A separate eval file, or a file too small to halve, trains on every row.
    held = tmp_path / "held.jsonl"
    held.write_text(json.dumps({"prompt": "1+1=", "answer": "2"}) + "\n")
    assert len(build_dataset(cfg.with_overrides({"eval_split": str(held)}), tokenizer)) == 10
    assert len(build_dataset(cfg.with_overrides({"eval_size": 6}), tokenizer)) == 10


def test_gsm8k_offline_fails_with_one_line():
    from grpo_tui.trainer.datasets import DatasetUnavailable

    with pytest.raises(DatasetUnavailable, match=r"'openai/gsm8k' could not be loaded") as e:
        E.eval_rows(RunConfig(dataset="openai/gsm8k"), 4, chat=True)
    assert "\n" not in str(e.value)


# -- the trl backend on the CPU, for real ---------------------------------------------------------------------
def test_trl_run_eval_before_after_and_command(capsys):
    launched = start(max_steps=2, eval_size=6)
    try:
        assert wait_exit(launched.proc, timeout=240) == 0, launched.run.log_tail(30)
    finally:
        kill(launched.proc)
    run = launched.run
    evals = [e for e in events(run) if e["type"] == ev.EVAL]
    # the helper's settings warm-start the format (2 steps): held-out accuracy is also taken after it
    assert [(e["when"], e["n"], e["name"]) for e in evals] == [("before", 6, "builtin:arith"),
                                                              ("warmstart", 6, "builtin:arith"),
                                                              ("after", 6, "builtin:arith")]
    assert all(e["correct"] == round(e["accuracy"] * 6) for e in evals)
    before, _warm, after = (f"{100 * e['accuracy']:.1f}%" for e in evals)
    # Shown where runs are listed and followed, not only in the event log.
    assert main(["runs"]) == 0
    assert f"before {before} -> warmstart {_warm} -> after {after}" in " ".join(capsys.readouterr().out.split())
    console = Console(record=True, width=200, file=io.StringIO())
    assert follow(run, console, poll=0.01) == 0
    text = console.export_text()
    assert f"held-out accuracy (after): {after}" in text
    assert f"held-out accuracy: before {before} -> warmstart {_warm} -> after {after}" in text

    assert main(["eval", run.id, "--n", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{run.id}: accuracy ") and "/5) on builtin:arith [fresh draws], adapter" in out
    assert main(["eval", run.id, "--n", "5", "--base"]) == 0
    manual = [e for e in events(run) if e["type"] == ev.EVAL][3:]
    assert [(e["when"], e["n"]) for e in manual] == [("manual", 5), ("base", 5)]
    assert manual[0]["step"] == 2


def test_eval_command_errors(capsys):
    cfg = load_preset("cpu-tiny")
    run = create_run(cfg.to_dict())
    with ev.EventWriter(run.events) as w:
        w.emit(ev.RUN_STARTED, pid=1, config=cfg.to_dict())
        w.emit(ev.FINISHED, status=ev.FAILED, error="boom")
    assert main(["eval", run.id]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("grpo-tui: error: run ") and "has no saved adapter yet" in err and "\n" not in err
    assert main(["eval", run.id, "--n", "0"]) == 2


# -- the unsloth backend through the stand-ins ---------------------------------------------------------------
def test_unsloth_eval_command_uses_vllm_with_the_lora(monkeypatch, tmp_path):
    log = use_standins(monkeypatch, tmp_path / "standin.jsonl")
    launched = start(backend="unsloth", fast_inference=True, max_steps=1, lora_rank=4, lora_alpha=8,
                     full_finetuning=False)
    try:
        assert wait_exit(launched.proc, timeout=240) == 0, launched.run.log_tail(30)
    finally:
        kill(launched.proc)
    run = launched.run
    log.unlink()
    proc = subprocess.run([sys.executable, "-m", "grpo_tui.cli", "eval", run.id, "--n", "4"],
                          capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "/4) on builtin:arith" in proc.stdout
    calls = read(log)
    assert calls[0]["call"] == "import" and calls[0]["loaded_before"] == []
    # Failure 3 (issue 18): real Unsloth attaches load_lora in get_peft_model, never on the model
    # from_pretrained returns (the stand-in has no load_lora there either: AttributeError).
    assert [c["call"] for c in calls if c["call"] != "import"] == ["from_pretrained", "get_peft_model", "load_lora",
                                                                    "fast_generate"]
    peft = next(c for c in calls if c["call"] == "get_peft_model")
    assert (peft["r"], peft["lora_alpha"]) == (4, 8)  # LoRA slots shaped as in training
    gen = calls[-1]
    assert gen["lora_int_id"] == 1 and gen["text_prompts"] == 0 and not gen["double_bos"]
    assert gen["lora_request"] == str(run.adapter) and gen["n"] == 4 and gen["sampling"]["temperature"] == 0.0
    assert [e["when"] for e in events(run) if e["type"] == ev.EVAL] == ["manual"]


def test_eval_refuses_a_live_run(capsys):
    import psutil

    cfg = load_preset("cpu-tiny")
    run = create_run(cfg.to_dict())
    with ev.EventWriter(run.events) as w:  # a trainer that is alive: this very process
        w.emit(ev.RUN_STARTED, pid=os.getpid(), pid_create_time=psutil.Process().create_time(),
               config=cfg.to_dict())
    assert main(["eval", run.id]) == 2
    err = capsys.readouterr().err
    assert f"run {run.id} is still" in err and "grpo-tui stop" in err
