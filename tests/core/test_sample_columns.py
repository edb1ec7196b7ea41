"""The columns form of a ``samples`` event (v2), read back as rows; the file is untrusted input."""

from __future__ import annotations

import math

import orjson
import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.sample_columns import event_completions, event_rows, expand, to_columns


def columns_event(weights=None, **cols):
    base = {"prompt": [0, 0, 1], "completion": ["a", "b", "c"], "rewards": {"f": [1.0, None, 0.5]},
            "advantage": [0.7, -0.7, 0.0], "group": [0, 0, 1],
            "length": [3, None, 5], "truncated": [False, None, True], "answer": ["4", None, 9]}
    return ev.make_event(ev.SAMPLES, 7, prompts=["p0", "p1"], weights=weights or {"f": 1.0},
                         columns={**base, **cols})


def test_the_total_is_the_weighted_sum_of_the_scores_there_are():
    e = columns_event(weights={"f": 2.0, "g": 0.5, "h": "heavy"},
                      rewards={"f": [1.0, None, -0.25], "g": [4.0, None, 0.5], "h": [9.0, 9.0, 9.0], "k": [1, 2, 3]})
    rows = expand(orjson.loads(ev.encode(e)))
    # h's weight is not a number: it is shown but not added; k has no weight: counted once (TRL's default)
    assert [r["reward"] for r in rows] == [5.0, 2.0, 2.75]
    assert rows[1]["rewards"] == {"f": None, "g": None, "h": 9.0, "k": 2.0}
    nothing = expand(columns_event(rewards={"f": [None, float("nan"), float("inf")]}))
    assert [r["reward"] for r in nothing] == [None, None, None]  # no score at all: no total, not 0
    assert [r["rewards"]["f"] for r in nothing] == [None, None, None]
    total = expand(columns_event(rewards={"f": [-0.0, 0.0, 0.0]}))[0]["reward"]
    assert math.copysign(1.0, total) == 1.0  # as sum() gave: 0.0, never -0.0


def test_rows_have_the_v1_keys_in_order_and_leave_unknown_facts_out():
    rows = expand(columns_event())
    assert rows[0] == {"prompt": "p0", "completion": "a", "rewards": {"f": 1.0}, "reward": 1.0, "advantage": 0.7,
                       "group": 0, "length": 3, "truncated": False, "answer": "4"}
    assert list(rows[0]) == ["prompt", "completion", "rewards", "reward", "advantage", "group", "length",
                             "truncated", "answer"]
    assert rows[1] == {"prompt": "p0", "completion": "b", "rewards": {"f": None}, "reward": None,
                       "advantage": -0.7, "group": 0}
    assert rows[2]["prompt"] == "p1" and rows[2]["answer"] == 9 and rows[2]["truncated"] is True


def test_written_with_v2_and_read_back_from_json():
    e = columns_event()
    assert e["v"] == 2 and ev.make_event(ev.METRICS)["v"] == 1  # only the type that changed moved
    assert expand(orjson.loads(ev.encode(e))) == expand(e)


@pytest.mark.parametrize("damage", [
    {"prompt": "0,0,1"}, {"prompt": [True, -1, 99]}, {"prompt": ["0", 0.0, None]},
    {"rewards": [1, 2, 3]}, {"rewards": {"f": "1.0"}}, {"reward": 5}, {"group": None},
    {"length": [1]}, {"truncated": {}}, {"answer": "x"},
])
def test_a_damaged_column_gives_none_or_no_prompt_never_an_error(damage):
    rows = expand(columns_event(**damage))
    assert [r["completion"] for r in rows] == ["a", "b", "c"]  # every completion is still a row
    for r in rows:
        assert isinstance(r["prompt"], str) and isinstance(r["rewards"], dict)


def test_bad_prompt_indices_give_an_empty_prompt_not_another_rows():
    rows = expand(columns_event(prompt=[True, -1, 99]))  # True is not index 1; -1 is not the last
    assert [r["prompt"] for r in rows] == ["", "", ""]


@pytest.mark.parametrize("event", [
    {"type": "samples"}, {"type": "samples", "columns": None}, {"type": "samples", "columns": []},
    {"type": "samples", "columns": {"completion": "abc"}}, {"type": "samples", "columns": {}, "prompts": "p"},
])
def test_no_rows_from_an_event_without_usable_columns(event):
    assert expand(event) == [] and event_rows(event) == [] and event_completions(event) == []


def test_both_forms_through_the_same_readers():
    v1 = {"type": "samples", "rows": [{"completion": "x"}, "junk", {"completion": ["m"]}]}
    assert event_rows(v1) is v1["rows"]  # as they are: readers skip the junk
    assert event_completions(v1) == ["x", None, ["m"]]
    v2 = columns_event()
    assert event_completions(v2) == ["a", "b", "c"]
    assert event_completions(v2) is not v2["columns"]["completion"]  # a copy: the caller may cut it
    assert [r["completion"] for r in event_rows(v2)] == ["a", "b", "c"]


def test_to_columns_is_expands_inverse_for_weighted_rows():
    rows = [{"prompt": "p", "completion": "a", "rewards": {"f": 1.0, "g": 0.5}, "reward": 1.0 + 0.5 * 2,
             "advantage": 0.1, "group": 0, "length": 3, "truncated": False, "answer": "4"},
            {"prompt": "q", "completion": "b", "rewards": {"f": None, "g": 1.0}, "reward": 2.0,
             "advantage": None, "group": 1},
            {"prompt": "p", "completion": "c", "rewards": {"f": 0.0, "g": 0.0}, "reward": 0.0,
             "advantage": -0.1, "group": 2, "length": 9, "truncated": True}]
    payload = to_columns(rows, {"g": 2.0})
    assert payload["prompts"] == ["p", "q"] and payload["columns"]["prompt"] == [0, 1, 0]
    assert expand(orjson.loads(ev.encode(ev.make_event(ev.SAMPLES, 1, **payload)))) == rows
