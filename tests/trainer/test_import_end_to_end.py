"""An imported notebook, end to end (issue 24): import -> rewards audit -> plan -> a 2-step CPU run of
the same preset with the tiny model swapped in, trained with the notebook's own reward functions
(copied by the importer, called by TRL with the message-list completions the notebook's chat
prompts produce).

The hub datasets cannot be reached here, so the run reads local files with the GRPO set's own
columns (prompt, solution) and the SFT set's (problem, expected_answer, generated_solution: the
notebook's SFT stage runs as the format warm start); every swap is on the command line, as a user
would do it."""

from __future__ import annotations

import json

import pytest

from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.util.paths import runs_root
from grpo_tui.core.planning.presets import parse_preset
from notebook_cells import CELLS, cache_tokenizer, write_notebook

pytestmark = pytest.mark.slow


def test_import_audit_plan_and_a_short_cpu_run_with_the_notebooks_rewards(tmp_path, capsys, monkeypatch):
    # the notebook takes a tag from its model's added tokens: the user's hub cache has that tokenizer
    cache_tokenizer(monkeypatch, tmp_path / "hub", "unsloth/Qwen3-4B-Base", [(151667, "<think>"), (151668, "</think>")])
    nb = write_notebook(tmp_path / "Qwen3_like_GRPO.ipynb", CELLS, outputs={4: "Max Length =  201\n"})
    preset = tmp_path / "imported.toml"
    assert main(["import", str(nb), "-o", str(preset)]) == 0
    capsys.readouterr()
    cfg = parse_preset(preset, "user").config
    assert cfg.prompt_form == "chat" and len(cfg.rewards) == 5

    assert main(["rewards", "audit", "--preset", str(preset)]) in (0, 1)  # a verdict, not an error
    assert "rewards audit:" in capsys.readouterr().out
    assert main(["plan", str(preset), "--gpu", "T4"]) in (0, 1)
    plan = capsys.readouterr().out
    assert "T4" in plan

    rows = tmp_path / "dapo_like.jsonl"  # the GRPO set's own columns
    rows.write_text("".join(json.dumps({"prompt": f"What is {a} + {a}?", "solution": str(2 * a)}) + "\n"
                            for a in range(16)))
    sft_rows = tmp_path / "omr_like.jsonl"  # the SFT set's own columns; a fraction the numeric filter drops
    sft_rows.write_text("".join(json.dumps({"problem": f"What is {a} + 1?", "expected_answer": a_,
                                            "generated_solution": f"<think>{a} + 1 = {a_}.</think> {a_}"}) + "\n"
                                for a, a_ in ((1, "2"), (2, "3"), (3, "\\frac{8}{2}"))))
    swaps = {"warmstart_dataset": str(sft_rows), "model": "builtin:tiny", "backend": "trl", "device": "cpu", "dtype": "float32", "use_vllm": "false",
             "fast_inference": "false", "optim": "adamw_torch", "dataset": str(rows), "dataset_config": "",
             "max_seq_length": "400", "max_prompt_length": "300", "max_completion_length": "8",
             "num_generations": "4", "per_device_train_batch_size": "4", "max_steps": "2", "save_steps": "100"}
    args = ["run", "--preset", str(preset), "--headless"]
    for k, v in swaps.items():
        args += ["--set", f"{k}={v}"]
    assert main(args) == 0, capsys.readouterr()
    runs = sorted(runs_root().rglob("events.jsonl"))
    assert runs, "no run directory"
    events = ev.read_all(runs[-1])[0]
    metrics = [e for e in events if e["type"] == ev.METRICS]
    assert max(e["step"] for e in metrics) == 2
    logged = set().union(*(e.get("metrics", e).keys() for e in metrics))
    for name in ("match_format_approximately", "check_answer", "check_numbers", "language_reward", "think_reward"):
        assert any(k.startswith(f"rewards/{name}/") for k in logged), (name, sorted(logged))
    # the notebook's SFT stage ran as the warm start: 2 epochs of the 2 numeric rows, batch 2 -> 2 steps
    assert any(e["type"] == ev.LOG and e["message"].startswith("format warm start: 2 steps") for e in events), \
        [e.get("message") for e in events if e["type"] == ev.LOG]
    finished = [e for e in events if e["type"] == ev.FINISHED]
    assert finished and finished[-1]["status"] == "completed"
