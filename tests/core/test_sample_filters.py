"""SampleFilter and the store's selection on hand-written rows (every expected set is written
out, never derived from the code under test), and `grpo-tui export`'s filter options."""

from __future__ import annotations

import json

import pytest

from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.run.samples import TEXT_CAP, SampleFilter, SampleStore, normalise_row
from grpo_tui.core.run.synthetic import make_run

# (completion, reward, truncated): ids are the completion text.
ROWS = {
    10: [("alpha answer 12", 2.0, False), ("beta CUT", 0.0, True), ("gamma 7", 1.0, False)],
    11: [("delta Needle", 1.5, False), ("epsilon CUT", -0.5, True), ("zeta", None, False)],
}


def _run():
    """A run with synthetic steps 1-2 and two hand-written sample steps, 10 and 11."""
    run = make_run(2, groups=1)
    w = ev.EventWriter(run.samples)
    for step, rows in ROWS.items():
        w.emit(ev.SAMPLES, step, rows=[
            {"prompt": f"What is {step}? ", "completion": c, "reward": r, "rewards": {"f": r}, "truncated": t,
             "group": 0, "advantage": 0.0, "length": 4}
            for c, r, t in rows])
    w.close()
    store = SampleStore(run)
    store.refresh()
    return run, store


def _sel(store, **kw) -> list[str]:
    return [r["completion"] for r in store.iter_rows(SampleFilter(step_min=10, **kw))]


def test_each_filter_selects_exactly_the_matching_rows():
    _, store = _run()
    assert _sel(store) == ["alpha answer 12", "beta CUT", "gamma 7", "delta Needle", "epsilon CUT", "zeta"]
    assert _sel(store, truncated_only=True) == ["beta CUT", "epsilon CUT"]
    assert _sel(store, search="needle") == ["delta Needle"]  # case-insensitive
    assert _sel(store, search="CUT") == ["beta CUT", "epsilon CUT"]
    assert _sel(store, search="what is 11") == ["delta Needle", "epsilon CUT", "zeta"]  # the prompt counts
    assert _sel(store, search="nowhere") == []
    # a reward bound is inclusive; a row without a numeric reward never passes one
    assert _sel(store, min_reward=1.0) == ["alpha answer 12", "gamma 7", "delta Needle"]
    assert _sel(store, max_reward=0.0) == ["beta CUT", "epsilon CUT"]
    assert _sel(store, min_reward=0.0, max_reward=1.5) == ["beta CUT", "gamma 7", "delta Needle"]
    assert _sel(store, truncated_only=True, min_reward=0.0) == ["beta CUT"]
    assert [r["step"] for r in store.iter_rows(SampleFilter(step_min=11, step_max=11))] == [11, 11, 11]
    assert [r["step"] for r in store.iter_rows(SampleFilter(step_max=10, step_min=10))] == [10, 10, 10]


def test_row_ok_and_step_ok_bounds():
    f = SampleFilter(step_min=3, step_max=5)
    assert [s for s in range(1, 8) if f.step_ok(s)] == [3, 4, 5]
    assert SampleFilter(step_min=3).step_ok(10**9) and not SampleFilter(step_max=3).step_ok(4)
    assert SampleFilter(min_reward=0.5).row_ok({"reward": 0.5}) and not SampleFilter(min_reward=0.5).row_ok({})
    assert not SampleFilter(max_reward=0.5).row_ok({"reward": "0.1"})  # not a number
    assert SampleFilter(max_reward=0.5).row_ok({"reward": 0.5}) and not SampleFilter(max_reward=0.5).row_ok({"reward": 0.6})
    assert SampleFilter(search="x").row_ok({"completion": "aXb"}) and not SampleFilter(search="x").row_ok({})
    assert SampleFilter().empty and not SampleFilter(search="x").empty and not SampleFilter(truncated_only=True).empty


def test_groups_apply_the_filter_and_default_missing_groups_to_zero():
    run, store = _run()
    w = ev.EventWriter(run.samples)
    w.emit(ev.SAMPLES, 12, rows=[{"completion": "a", "reward": 1.0, "group": 1},
                                 {"completion": "b", "reward": 0.0, "group": "x"},
                                 {"completion": "c", "reward": 1.0}, "not a row"])
    w.close()
    assert store.refresh() == 1
    groups = store.groups(12)
    assert {g: [r["completion"] for r in rows] for g, rows in groups.items()} == {1: ["a"], 0: ["b", "c"]}
    only = store.groups(12, SampleFilter(min_reward=1.0))
    assert {g: [r["completion"] for r in rows] for g, rows in only.items()} == {1: ["a"], 0: ["c"]}
    assert store.rows(99) == [] and store.groups(99) == {}


def test_chat_message_rows_and_the_text_cap():
    row = normalise_row({"prompt": [{"role": "user", "content": "q?"}],
                         "completion": [{"role": "assistant", "reasoning_content": "think", "content": "A"}, "raw"],
                         "rewards": None}, 7)
    assert row["prompt"] == "q?" and row["completion"] == "think\nA\nraw" and row["rewards"] == {}
    assert row["step"] == 7 and "truncated_text" not in row
    long = normalise_row({"completion": "x" * (TEXT_CAP + 5), "prompt": None}, 1)
    assert len(long["completion"]) == TEXT_CAP and long["truncated_text"] is True and long["prompt"] == ""
    assert normalise_row({"completion": 12}, 1)["completion"] == "12"
    assert normalise_row(["not", "a", "dict"], 1) is None


def test_reward_names_come_from_the_newest_step_with_rewards():
    _, store = _run()
    assert store.reward_names() == ["f"]


def _cli(run, tmp_path, *args) -> list[str]:
    out = tmp_path / "sel.jsonl"
    assert main(["export", run.id, "-o", str(out), "--steps", "10:", *args]) == 0
    return [json.loads(x)["completion"] for x in out.read_text().splitlines()]


def test_cli_filter_options_select_the_same_rows(tmp_path, capsys):
    run, _ = _run()
    assert _cli(run, tmp_path, "--truncated") == ["beta CUT", "epsilon CUT"]
    assert _cli(run, tmp_path, "--search", "NEEDLE") == ["delta Needle"]
    assert _cli(run, tmp_path, "--min-reward", "1") == ["alpha answer 12", "gamma 7", "delta Needle"]
    assert _cli(run, tmp_path, "--max-reward", "0") == ["beta CUT", "epsilon CUT"]
    assert _cli(run, tmp_path, "--min-reward", "0", "--max-reward", "1.5", "--search", "e") == [
        "beta CUT", "delta Needle"]
    assert "exported 2 completion(s)" in capsys.readouterr().out
    assert _cli(run, tmp_path, "--steps", "11") == ["delta Needle", "epsilon CUT", "zeta"]  # one step
    assert _cli(run, tmp_path, "--steps", "10") == ["alpha answer 12", "beta CUT", "gamma 7"]


def test_step_ranges_read_alike_in_the_browser_and_export():
    from grpo_tui.core.run.samples import parse_steps
    from grpo_tui.tui.screens.samples import parse_filter

    for spec, want in [("", (None, None)), (None, (None, None)), ("  ", (None, None)), ("5", (5, 5)),
                       ("3:7", (3, 7)), ("3:", (3, None)), (":7", (None, 7)), (" 3 : 7 ", (3, 7)),
                       ("-2:0", (-2, 0))]:
        assert parse_steps(spec) == want, spec
    for bad in ("a:b", "1.5", "3:x", "1:2:3"):
        with pytest.raises(ValueError, match=r"^use A:B, A: or :B with step numbers$"):
            parse_steps(bad)
    flt = parse_filter("3:7", "", "", False)
    assert (flt.step_min, flt.step_max) == (3, 7)
    with pytest.raises(ValueError, match=r"^steps: use A:B, A: or :B with step numbers$"):
        parse_filter("x", "", "", False)
