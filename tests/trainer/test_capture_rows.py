"""The samples written for each generation, from TRL's ``_logs`` columns: the capture queues them as
columns (``columns_of``, ``merge``) and readers see rows (core.run.sample_columns.expand).

128 completions a step on the tiny preset, so the capture is written for speed; these cases pin what
each row must hold once read back."""

from __future__ import annotations

import collections
import math
import types

import orjson
import torch

from grpo_tui.core.run import events as ev

from grpo_tui.core.run.sample_columns import expand
from grpo_tui.trainer.capture import SampleCapture, concat, merge


def capture_for(prompts, completions, rewards: dict[str, list], advantages, weights, G):
    n = len(prompts)
    logs = {"prompt": collections.deque(prompts, maxlen=n), "completion": collections.deque(completions, maxlen=n),
            "advantages": collections.deque(advantages, maxlen=n),
            "rewards": {k: collections.deque(v, maxlen=n) for k, v in rewards.items()}}
    trainer = types.SimpleNamespace(_logs=logs, reward_func_names=list(rewards), num_generations=G,
                                    reward_weights=torch.tensor(weights),
                                    _generate_and_score_completions=lambda *a, **k: None)
    return SampleCapture(trainer, ctx=None)


def facts(*rows):
    """Token facts as the capture holds them (columns), from (length, truncated, answer) per row, or
    None for a row whose facts could not be read."""
    rows = [r or (None, None, None) for r in rows]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def unknown(n: int):
    return facts(*[None] * n)


def collect(cap: SampleCapture, tokens) -> list[dict]:
    """The rows a reader gets for one generation's queued columns, read back from the file's JSON."""
    cap._collect(tokens)
    return expand(orjson.loads(ev.encode(ev.make_event(ev.SAMPLES, 1, **merge(cap.pending)))))


def chat(question: str) -> list[dict]:
    return [{"role": "system", "content": "Think first."}, {"role": "user", "content": question}]


def test_rows_hold_texts_scores_weighted_total_group_and_token_facts():
    prompts = [chat("2+2?"), chat("2+2?"), chat("3+3?"), chat("3+3?")]  # equal prompts, distinct objects
    completions = ["<answer>4</answer>", [{"role": "assistant", "content": "<answer>5</answer>"}], "6", "x"]
    rewards = {"format": [1.0, float("nan"), torch.tensor(0.5), None],
               "correctness": [1.0, 0.0, float("inf"), None]}
    cap = capture_for(prompts, completions, rewards, advantages=[0.5, -0.5, float("nan"), 0.0],
                      weights=[1.0, 2.0], G=2)
    tokens = facts((3, False, "4"), (9, True, "4"), None, (1, False, None))
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
    rows = collect(cap, unknown(2))  # the last generation had 2 completions: the two newest rows
    assert [(r["prompt"], r["completion"], r["reward"], r["group"]) for r in rows] == [
        ("p4", "c4", 4.0, 0), ("p5", "c5", 5.0, 0)]


def test_a_prompt_that_changes_within_the_batch_is_rendered_again():
    a, b = chat("a"), chat("b")
    cap = capture_for([a, b, a], ["1", "2", "3"], {"f": [0.0, 0.0, 0.0]}, advantages=[0.0] * 3, weights=[1.0], G=3)
    rows = collect(cap, unknown(3))
    assert [r["prompt"].rsplit(": ", 1)[1] for r in rows] == ["a", "b", "a"]
    assert not math.isnan(rows[0]["reward"])


def test_prompts_whose_equality_is_no_truth_value_are_still_rendered():
    import numpy as np

    p = [{"role": "user", "content": "look", "pixels": np.zeros(3)}]
    q = [{"role": "user", "content": "look", "pixels": np.zeros(3)}]
    cap = capture_for([p, q], ["1", "2"], {"f": [1.0, 0.0]}, advantages=[0.0, 0.0], weights=[1.0], G=2)
    rows = collect(cap, unknown(2))
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
    got = facts_capture()._token_facts(inputs, {"completion_ids": ids, "completion_mask": mask})
    assert got == ([3, 4, 4, 4], [False, True, False, True], ["4", 7, None, None])
    assert all(type(length) is int for length in got[0]) and all(type(cut) is bool for cut in got[1])


def test_token_facts_without_an_eos_id_and_when_unreadable():
    ids, mask = torch.tensor([[5, 2, 0, 0], [5, 6, 7, 8]]), torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    none_eos = facts_capture(eos=None)._token_facts([{}, {}], {"completion_ids": ids, "completion_mask": mask})
    assert none_eos == ([2, 4], [False, True], [None, None])  # only the cap says truncated
    several = facts_capture(eos_ids=[8, 2])._token_facts([{}, {}], {"completion_ids": ids, "completion_mask": mask})
    assert several[1] == [False, False]  # 8 ends a completion too
    assert facts_capture()._token_facts([{}], {"completion_ids": ids}) == unknown(2)  # no mask: unknown


def test_a_group_prompt_is_written_once_and_no_row_is_a_dict():
    prompts = [chat("2+2?")] * 3 + [chat("3+3?")] * 3
    cap = capture_for(prompts, list("abcdef"), {"f": [1.0] * 6}, advantages=[0.0] * 6, weights=[1.0], G=3)
    cap._collect(unknown(6))
    payload = merge(cap.pending)
    assert payload["prompts"] == ["system: Think first.\nuser: 2+2?", "system: Think first.\nuser: 3+3?"]
    assert payload["columns"]["prompt"] == [0, 0, 0, 1, 1, 1]
    cols = payload["columns"]
    assert all(isinstance(v, list) and not any(isinstance(x, dict) for x in v)
               for v in [*cols["rewards"].values(), *(cols[k] for k in cols if k != "rewards")])


def test_two_generations_in_one_step_keep_their_prompts_and_groups_apart():
    # steps_per_generation < gradient accumulation: one optimizer step spans two generations
    first = capture_for(["p0", "p0", "p1", "p1"], ["a", "b", "c", "d"], {"f": [1.0, 0.0, 1.0, 0.0]},
                        advantages=[0.5, -0.5, 0.5, -0.5], weights=[1.0], G=2)
    first._collect(facts(*[(1, False, "x")] * 4))
    second = capture_for(["p2", "p2"], ["e", "f"], {"g": [2.0, 3.0]}, advantages=[0.0, 0.0], weights=[0.5], G=2)
    second._collect(facts(None, (2, True, None)))
    rows = expand(orjson.loads(ev.encode(ev.make_event(ev.SAMPLES, 1, **merge(first.pending + second.pending)))))
    assert [(r["prompt"], r["completion"], r["group"]) for r in rows] == [
        ("p0", "a", 0), ("p0", "b", 0), ("p1", "c", 1), ("p1", "d", 1), ("p2", "e", 2), ("p2", "f", 2)]
    # reward functions in first-seen order; one a generation did not score is None there, not shifted
    assert [list(r["rewards"].items()) for r in rows] == [[("f", 1.0), ("g", None)], [("f", 0.0), ("g", None)],
                                                          [("f", 1.0), ("g", None)], [("f", 0.0), ("g", None)],
                                                          [("f", None), ("g", 2.0)], [("f", None), ("g", 3.0)]]
    assert [r["reward"] for r in rows] == [1.0, 0.0, 1.0, 0.0, 1.0, 1.5]
    assert [r.get("length") for r in rows] == [1, 1, 1, 1, None, 2] and rows[5]["truncated"] is True
    assert "answer" not in rows[5] and rows[0]["answer"] == "x"


def test_a_trainer_without_reward_functions_writes_rows_without_a_total():
    cap = capture_for(["p", "p"], ["a", "b"], {}, advantages=[0.0, 0.0], weights=[], G=2)
    rows = collect(cap, unknown(2))
    assert [(r["rewards"], r["reward"]) for r in rows] == [({}, None), ({}, None)]


def test_token_facts_when_no_completion_reaches_the_cap_or_one_is_longer():
    ids, mask = torch.tensor([[5, 2, 0], [5, 6, 7]]), torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert facts_capture(max_len=4)._token_facts([{}, {}], {"completion_ids": ids, "completion_mask": mask}) == (
        [2, 3], [False, False], [None, None])  # narrower than the cap: nothing cut off
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 2, 0], [5, 6, 2, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
    # a completion longer than max_completion_length (a backend that overshoots): its own last token counts
    assert facts_capture(max_len=4)._token_facts(
        [{}] * 3, {"completion_ids": ids, "completion_mask": mask})[1] == [True, False, False]
    ids[0, 4] = 2
    assert facts_capture(max_len=4)._token_facts(
        [{}] * 3, {"completion_ids": ids, "completion_mask": mask})[1] == [False, False, False]


def test_every_process_facts_in_process_order():
    parts = [facts((1, True, "a")), facts((2, False, None), None)]
    assert concat(parts) == ([1, 2, None], [True, False, None], ["a", None, None])


def test_a_generation_without_completions_queues_nothing():
    cap = capture_for(["p0", "p1"], ["a", "b"], {"f": [1.0, 0.0]}, advantages=[0.0, 0.0], weights=[1.0], G=2)
    cap._collect(unknown(0))  # [-0:] would be every row TRL holds
    assert cap.pending == []
