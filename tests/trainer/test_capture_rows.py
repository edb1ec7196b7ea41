"""SampleCapture._collect: the rows written for each generation, from TRL's ``_logs`` columns.

Runs on the training thread every step (128 rows a step on the tiny preset), so it is written for
speed; these cases pin what each row must hold."""

from __future__ import annotations

import collections
import math
import types

import torch

from grpo_tui.trainer.capture import SampleCapture


def capture_for(prompts, completions, rewards: dict[str, list], advantages, weights, G):
    n = len(prompts)
    logs = {"prompt": collections.deque(prompts, maxlen=n), "completion": collections.deque(completions, maxlen=n),
            "advantages": collections.deque(advantages, maxlen=n),
            "rewards": {k: collections.deque(v, maxlen=n) for k, v in rewards.items()}}
    trainer = types.SimpleNamespace(_logs=logs, reward_func_names=list(rewards), num_generations=G,
                                    reward_weights=torch.tensor(weights),
                                    _generate_and_score_completions=lambda *a, **k: None)
    return SampleCapture(trainer, ctx=None)


def chat(question: str) -> list[dict]:
    return [{"role": "system", "content": "Think first."}, {"role": "user", "content": question}]


def test_rows_hold_texts_scores_weighted_total_group_and_token_facts():
    prompts = [chat("2+2?"), chat("2+2?"), chat("3+3?"), chat("3+3?")]  # equal prompts, distinct objects
    completions = ["<answer>4</answer>", [{"role": "assistant", "content": "<answer>5</answer>"}], "6", "x"]
    rewards = {"format": [1.0, float("nan"), torch.tensor(0.5), None],
               "correctness": [1.0, 0.0, float("inf"), None]}
    cap = capture_for(prompts, completions, rewards, advantages=[0.5, -0.5, float("nan"), 0.0],
                      weights=[1.0, 2.0], G=2)
    tokens = [{"length": 3, "truncated": False, "answer": "4"}, {"length": 9, "truncated": True, "answer": "4"},
              {}, {"length": 1, "truncated": False}]
    cap._collect(tokens)
    rows = cap.pending
    assert [r["prompt"] for r in rows] == ["system: Think first.\nuser: 2+2?"] * 2 + ["system: Think first.\nuser: 3+3?"] * 2
    assert [r["completion"] for r in rows] == ["<answer>4</answer>", "<answer>5</answer>", "6", "x"]
    assert [r["rewards"] for r in rows] == [{"format": 1.0, "correctness": 1.0}, {"format": None, "correctness": 0.0},
                                            {"format": 0.5, "correctness": None}, {"format": None, "correctness": None}]
    assert [r["reward"] for r in rows] == [3.0, 0.0, 0.5, None]  # weighted; unreadable scores left out
    assert [r["advantage"] for r in rows] == [0.5, -0.5, None, 0.0]
    assert [r["group"] for r in rows] == [0, 0, 1, 1]
    assert rows[0]["length"] == 3 and rows[1]["truncated"] is True and rows[1]["answer"] == "4"
    assert "length" not in rows[2]  # facts that could not be read are left out, not invented
    assert all(isinstance(r["reward"], float) or r["reward"] is None for r in rows)


def test_only_the_newest_rows_are_taken_and_no_more_than_the_prompts():
    cap = capture_for([f"p{i}" for i in range(6)], [f"c{i}" for i in range(6)], {"f": [float(i) for i in range(6)]},
                      advantages=[0.0] * 6, weights=[1.0], G=2)
    cap._collect([{}] * 2)  # the last generation had 2 completions: the deque's two newest rows
    assert [(r["prompt"], r["completion"], r["reward"], r["group"]) for r in cap.pending] == [
        ("p4", "c4", 4.0, 0), ("p5", "c5", 5.0, 0)]


def test_a_prompt_that_changes_within_the_batch_is_rendered_again():
    a, b = chat("a"), chat("b")
    cap = capture_for([a, b, a], ["1", "2", "3"], {"f": [0.0, 0.0, 0.0]}, advantages=[0.0] * 3, weights=[1.0], G=3)
    cap._collect([{}] * 3)
    assert [r["prompt"].rsplit(": ", 1)[1] for r in cap.pending] == ["a", "b", "a"]
    assert not math.isnan(cap.pending[0]["reward"])


def test_prompts_whose_equality_is_no_truth_value_are_still_rendered():
    import numpy as np

    p = [{"role": "user", "content": "look", "pixels": np.zeros(3)}]
    q = [{"role": "user", "content": "look", "pixels": np.zeros(3)}]
    cap = capture_for([p, q], ["1", "2"], {"f": [1.0, 0.0]}, advantages=[0.0, 0.0], weights=[1.0], G=2)
    cap._collect([{}, {}])
    assert [r["prompt"] for r in cap.pending] == ["user: look", "user: look"]
