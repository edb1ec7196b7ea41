"""core.run.samples.SampleStore limits: oversized lines are skipped and counted; the step cache stays bounded."""

from __future__ import annotations

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.samples import SampleStore
from grpo_tui.core.run.synthetic import make_run


def _samples_line(step: int, completion: str) -> bytes:
    return ev.encode(ev.make_event(ev.SAMPLES, step, rows=[{"prompt": "p", "completion": completion, "reward": 0.5,
                                                            "rewards": {"f": 0.5}, "group": 0}]))


def test_oversized_sample_line_is_skipped_and_counted_and_later_steps_still_index(monkeypatch):
    run = make_run(2)
    store = SampleStore(run)
    store.refresh()
    base = store.skipped
    small = _samples_line(4, "ok")
    monkeypatch.setattr(ev, "MAX_EVENT_LINE", len(small) + 100)
    with open(run.samples, "ab") as fh:
        fh.write(_samples_line(3, "x" * (len(small) * 4)))  # over the cap
        fh.write(small)
    store.refresh()
    assert store.skipped == base + 1
    assert 3 not in store.steps and 4 in store.steps
    assert store.rows(4)[0]["completion"] == "ok"


def test_step_cache_is_bounded_and_evicted_steps_reload_identically():
    run = make_run(8)
    store = SampleStore(run, cache_steps=2)
    store.refresh()
    first = [dict(r) for r in store.rows(1)]
    for step in store.steps:
        store.rows(step)
        assert len(store._cache) <= 2
    assert 1 not in store._cache
    assert store.rows(1) == first
