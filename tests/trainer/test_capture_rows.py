"""The rows written for each generation, from TRL's ``_logs`` columns (``SampleCapture._snapshot`` on
the loop's thread, ``rows_of`` on the hook worker).

128 rows a step on the tiny preset, so ``rows_of`` is written for speed; these cases pin what each
row must hold."""

from __future__ import annotations

import collections
import math
import types

import torch

from grpo_tui.trainer.capture import NO_ANSWER, SampleCapture, rows_of


def capture_for(prompts, completions, rewards: dict[str, list], advantages, weights, G):
    n = len(prompts)
    logs = {"prompt": collections.deque(prompts, maxlen=n), "completion": collections.deque(completions, maxlen=n),
            "advantages": collections.deque(advantages, maxlen=n),
            "rewards": {k: collections.deque(v, maxlen=n) for k, v in rewards.items()}}
    trainer = types.SimpleNamespace(_logs=logs, reward_func_names=list(rewards), num_generations=G,
                                    reward_weights=torch.tensor(weights),
                                    _generate_and_score_completions=lambda *a, **k: None)
    return SampleCapture(trainer, ctx=None)


def collect(cap: SampleCapture, tokens: list) -> list[dict]:
    return rows_of(cap._snapshot(len(tokens)), tokens)


def chat(question: str) -> list[dict]:
    return [{"role": "system", "content": "Think first."}, {"role": "user", "content": question}]


def test_rows_hold_texts_scores_weighted_total_group_and_token_facts():
    prompts = [chat("2+2?"), chat("2+2?"), chat("3+3?"), chat("3+3?")]  # equal prompts, distinct objects
    completions = ["<answer>4</answer>", [{"role": "assistant", "content": "<answer>5</answer>"}], "6", "x"]
    rewards = {"format": [1.0, float("nan"), torch.tensor(0.5), None],
               "correctness": [1.0, 0.0, float("inf"), None]}
    cap = capture_for(prompts, completions, rewards, advantages=[0.5, -0.5, float("nan"), 0.0],
                      weights=[1.0, 2.0], G=2)
    tokens = [(3, False, "4"), (9, True, "4"), None, (1, False, NO_ANSWER)]
    rows = collect(cap, tokens)
    assert [r["prompt"] for r in rows] == ["system: Think first.\nuser: 2+2?"] * 2 + ["system: Think first.\nuser: 3+3?"] * 2
    assert [r["completion"] for r in rows] == ["<answer>4</answer>", "<answer>5</answer>", "6", "x"]
    assert [r["rewards"] for r in rows] == [{"format": 1.0, "correctness": 1.0}, {"format": None, "correctness": 0.0},
                                            {"format": 0.5, "correctness": None}, {"format": None, "correctness": None}]
    assert [r["reward"] for r in rows] == [3.0, 0.0, 0.5, None]  # weighted; unreadable scores left out
    assert [r["advantage"] for r in rows] == [0.5, -0.5, None, 0.0]
    assert [r["group"] for r in rows] == [0, 0, 1, 1]
    assert rows[0]["length"] == 3 and rows[1]["truncated"] is True and rows[1]["answer"] == "4"
    assert "length" not in rows[2]  # facts that could not be read are left out, not invented
    assert "answer" not in rows[3] and rows[3]["length"] == 1  # a dataset row without a gold answer
    assert all(isinstance(r["reward"], float) or r["reward"] is None for r in rows)


def test_only_the_newest_rows_are_taken_and_no_more_than_the_prompts():
    cap = capture_for([f"p{i}" for i in range(6)], [f"c{i}" for i in range(6)], {"f": [float(i) for i in range(6)]},
                      advantages=[0.0] * 6, weights=[1.0], G=2)
    rows = collect(cap, [None] * 2)  # the last generation had 2 completions: the two newest rows
    assert [(r["prompt"], r["completion"], r["reward"], r["group"]) for r in rows] == [
        ("p4", "c4", 4.0, 0), ("p5", "c5", 5.0, 0)]


def test_a_prompt_that_changes_within_the_batch_is_rendered_again():
    a, b = chat("a"), chat("b")
    cap = capture_for([a, b, a], ["1", "2", "3"], {"f": [0.0, 0.0, 0.0]}, advantages=[0.0] * 3, weights=[1.0], G=3)
    rows = collect(cap, [None] * 3)
    assert [r["prompt"].rsplit(": ", 1)[1] for r in rows] == ["a", "b", "a"]
    assert not math.isnan(rows[0]["reward"])


def test_prompts_whose_equality_is_no_truth_value_are_still_rendered():
    import numpy as np

    p = [{"role": "user", "content": "look", "pixels": np.zeros(3)}]
    q = [{"role": "user", "content": "look", "pixels": np.zeros(3)}]
    cap = capture_for([p, q], ["1", "2"], {"f": [1.0, 0.0]}, advantages=[0.0, 0.0], weights=[1.0], G=2)
    rows = collect(cap, [None, None])
    assert [r["prompt"] for r in rows] == ["user: look", "user: look"]


def facts_capture(eos_ids=None, eos=2, pad=0, max_len=4) -> SampleCapture:
    trainer = types.SimpleNamespace(eos_token_ids=eos_ids, max_completion_length=max_len,
                                    _tokenizer=types.SimpleNamespace(eos_token_id=eos, pad_token_id=pad),
                                    _generate_and_score_completions=lambda *a, **k: None)
    return SampleCapture(trainer, ctx=None)


def test_token_facts_from_the_tensors():
    ids = torch.tensor([[5, 6, 2, 0],    # ended with EOS before the cap
                        [5, 6, 7, 8],    # hit the cap without EOS: truncated
                        [5, 6, 7, 2],    # EOS exactly at the cap: ended
                        [5, 6, 7, 9]])   # masked out as truncated (mask_truncated_completions)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]])
    inputs = [{"answer": "4"}, {"answer": 7}, {"prompt": "no gold"}]  # one short: the last has none either
    facts = facts_capture()._token_facts(inputs, {"completion_ids": ids, "completion_mask": mask})
    assert facts == [(3, False, "4"), (4, True, 7), (4, False, NO_ANSWER), (4, True, NO_ANSWER)]
    assert all(type(length) is int and type(cut) is bool for length, cut, _ in facts)


def test_token_facts_without_an_eos_id_and_when_unreadable():
    ids, mask = torch.tensor([[5, 2, 0, 0], [5, 6, 7, 8]]), torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    none_eos = facts_capture(eos=None)._token_facts([{}, {}], {"completion_ids": ids, "completion_mask": mask})
    assert none_eos == [(2, False, NO_ANSWER), (4, True, NO_ANSWER)]  # only the cap says truncated
    several = facts_capture(eos_ids=[8, 2])._token_facts([{}, {}], {"completion_ids": ids, "completion_mask": mask})
    assert [cut for _, cut, _ in several] == [False, False]  # 8 ends a completion too
    assert facts_capture()._token_facts([{}], {"completion_ids": ids}) == [None, None]  # no mask: unknown
