"""core.run.samples.SampleStore's index on hand-written samples.jsonl files: what it counts as a new
step, what it skips (and counts), a rewritten or replaced file, the step cache, and the answers of
`grpo-tui ask` kept beside the training steps."""

from __future__ import annotations

import orjson
import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run import samples as samples_mod
from grpo_tui.core.run.samples import TEXT_CAP, SampleFilter, SampleStore, normalise_row
from grpo_tui.core.run.synthetic import make_run


def _row(text: str, reward: float = 1.0, **kw) -> dict:
    return {"prompt": "p", "completion": text, "reward": reward, "rewards": {"f": reward}, "group": 0, **kw}


def _line(step: int, *texts: str, type_: str = ev.SAMPLES, **kw) -> bytes:
    return ev.encode(ev.make_event(type_, step, rows=[_row(t) for t in texts], **kw))


def _store(data: bytes, **kw) -> SampleStore:
    run = make_run(0, state="loading")
    run.samples.write_bytes(data)
    return SampleStore(run, **kw)


def _texts(rows) -> list[str]:
    return [r["completion"] for r in rows]


def test_new_steps_are_counted_once_and_a_rewritten_step_shows_its_newest_rows():
    store = _store(b"\n" + _line(1, "a") + b"\n  \n" + _line(2, "b"))  # blank lines first and between
    assert store.refresh() == 2 and store.steps == [1, 2]
    assert store.refresh() == 0  # nothing appended: nothing new, nothing re-read
    assert _texts(store.rows(1)) == ["a"]  # cached now
    with open(store.run.samples, "ab") as fh:
        fh.write(_line(1, "a2") + _line(3, "c"))
    assert store.refresh() == 1 and store.steps == [1, 2, 3]  # step 1 again is not a new step
    assert _texts(store.rows(1)) == ["a2"]  # the cached rows were dropped


def test_what_is_skipped_and_counted_and_what_is_only_passed_over():
    store = _store(_line(1, "ok")
                   + b"{not json\n"                                         # skipped, counted
                   + orjson.dumps({**ev.make_event(ev.SAMPLES, 2), "v": ev.SCHEMA_VERSION + 1, "rows": []}) + b"\n"  # newer schema
                   + orjson.dumps({"type": "samples", "step": 3, "rows": [_row("no v")]}) + b"\n"  # v missing: 0
                   + b"[1, 2]\n"                                            # passed over
                   + orjson.dumps({"v": 1, "type": "samples", "step": "4"}) + b"\n"  # step not an int
                   + _line(5, "m", type_=ev.METRICS) + b"\n")              # another type
    assert store.refresh() == 2 and store.steps == [1, 3]
    assert store.skipped == 2
    assert _texts(store.rows(3)) == ["no v"]


def test_a_file_replaced_by_a_shorter_one_is_indexed_afresh():
    store = _store(_line(1, "a") + _line(2, "b") + _line(3, "c", type_=ev.ASK, id="q1"))
    assert store.refresh() == 2 and len(store.asks()) == 1
    assert _texts(store.rows(2)) == ["b"]
    store.run.samples.write_bytes(_line(7, "z"))
    assert store.refresh() == 1 and store.steps == [7] and store.asks() == []
    assert _texts(store.rows(7)) == ["z"] and store.rows(2) == []


def test_a_torn_line_waits_and_a_replacement_drops_it():
    line = _line(1, "a")
    store = _store(line[:15])
    assert store.refresh() == 0 and store._pending == line[:15]
    store.run.samples.write_bytes(b"")
    assert store.refresh() == 0
    store.run.samples.write_bytes(_line(2, "b"))
    assert store.refresh() == 1 and store.steps == [2] and store._pending == b""


def test_an_oversized_line_is_skipped_once_in_small_reads(monkeypatch):
    monkeypatch.setattr(ev, "MAX_EVENT_LINE", 300)
    monkeypatch.setattr(samples_mod, "CHUNK", 64)  # the line spans many reads
    big = _line(2, "x" * 1000)
    store = _store(_line(1, "a") + big + _line(3, "c"))
    assert store.refresh() == 2 and store.steps == [1, 3] and store.skipped == 1
    assert _texts(store.rows(3)) == ["c"]
    with open(store.run.samples, "ab") as fh:  # one that arrives whole, within one read
        fh.write(_line(4, "y" * 400))
    monkeypatch.setattr(samples_mod, "CHUNK", 1 << 20)
    assert store.refresh() == 0 and store.skipped == 2


def test_an_oversized_line_without_its_newline_yet(monkeypatch):
    monkeypatch.setattr(ev, "MAX_EVENT_LINE", 300)
    monkeypatch.setattr(samples_mod, "CHUNK", 100)
    big = _line(2, "x" * 1000)
    store = _store(_line(1, "a") + big[:700])
    assert store.refresh() == 1 and store.skipped == 1
    with open(store.run.samples, "ab") as fh:
        fh.write(big[700:] + _line(3, "c"))
    assert store.refresh() == 1 and store.steps == [1, 3] and store.skipped == 1


def test_missing_file_and_a_directory_read_as_empty():
    run = make_run(0, state="loading")
    run.samples.unlink(missing_ok=True)
    store = SampleStore(run)
    assert store.refresh() == 0 and store.steps == [] and list(store.iter_rows()) == []
    run.samples.mkdir()
    assert store.refresh() == 0


def test_the_step_cache_is_bounded():
    store = _store(b"".join(_line(s, f"t{s}") for s in range(1, 5)), cache_steps=2)
    store.refresh()
    for s in (1, 2, 3):
        store.rows(s)
    assert list(store._cache) == [2, 3]
    store.rows(2)  # a hit moves it to the newest end
    store.rows(4)
    assert list(store._cache) == [2, 4]


def test_a_step_whose_line_changed_underneath_reads_as_empty():
    store = _store(_line(1, "a"))
    store.refresh()
    data = bytearray(store.run.samples.read_bytes())
    data[0:1] = b"#"  # same size, no longer JSON (no refresh happened since)
    store.run.samples.write_bytes(bytes(data))
    assert store.rows(1) == []


def test_asks_are_kept_in_order_marked_and_filtered_with_the_rows():
    store = _store(_line(1, "s1") + _line(1, "ask one", "ask two", type_=ev.ASK, id="q1")
                   + _line(2, "s2") + _line(2, "ask three", type_=ev.ASK, id="q2")
                   + ev.encode({**ev.make_event(ev.ASK, 2, id="q3"), "rows": None}))
    assert store.refresh() == 2 and store.steps == [1, 2]  # asks are not training steps
    asks = store.asks()
    assert [(a["id"], a["step"], _texts(a["rows"])) for a in asks] == [
        ("q1", 1, ["ask one", "ask two"]), ("q2", 2, ["ask three"]), ("q3", 2, [])]
    assert all(r["ask"] is True and r["ask_id"] == a["id"] and r["step"] == a["step"] for a in asks for r in a["rows"])
    assert _texts(store.iter_rows()) == ["s1", "s2", "ask one", "ask two", "ask three"]
    assert _texts(store.iter_rows(SampleFilter(asks=False))) == ["s1", "s2"]
    assert _texts(store.iter_rows(SampleFilter(step_min=2))) == ["s2", "ask three"]
    assert _texts(store.iter_rows(SampleFilter(search="TWO"))) == ["ask two"]


def test_normalise_row_text_cap_boundary_and_thinking_messages():
    at_cap = normalise_row({"completion": "x" * TEXT_CAP}, 1)
    assert len(at_cap["completion"]) == TEXT_CAP and "truncated_text" not in at_cap
    msg = normalise_row({"completion": [{"thinking": "hmm"}, {"content": "A"}]}, 1)
    assert msg["completion"] == "hmm\nA"


@pytest.mark.parametrize("row", [{"completion": "x"}, {"prompt": "x"}])
def test_search_does_not_match_a_missing_field(row):
    assert not SampleFilter(search="none").row_ok(row)


def test_an_oversized_line_arriving_over_three_reads_is_counted_once(monkeypatch):
    monkeypatch.setattr(ev, "MAX_EVENT_LINE", 300)
    monkeypatch.setattr(samples_mod, "CHUNK", 100)
    big = _line(2, "x" * 1500)
    store = _store(_line(1, "a") + big[:500])
    assert store.refresh() == 1 and store.skipped == 1
    for part in (big[500:1000], big[1000:] + _line(3, "c")):
        with open(store.run.samples, "ab") as fh:
            fh.write(part)
        store.refresh()
    assert store.steps == [1, 3] and store.skipped == 1


def test_each_skipped_line_adds_one(monkeypatch):
    monkeypatch.setattr(ev, "MAX_EVENT_LINE", 300)
    monkeypatch.setattr(samples_mod, "CHUNK", 100)  # both big lines overflow a read
    newer = orjson.dumps({**ev.make_event(ev.SAMPLES, 9), "v": ev.SCHEMA_VERSION + 1}) + b"\n"
    store = _store(newer + b"{bad\n" + b"{bad\n" + _line(2, "x" * 500) + _line(3, "y" * 500) + _line(4, "d"))
    assert store.refresh() == 1 and store.steps == [4] and store.skipped == 5


def test_lines_of_exactly_the_cap_are_indexed(monkeypatch):
    line = _line(1, "a")
    monkeypatch.setattr(ev, "MAX_EVENT_LINE", len(line) - 1)  # the line without its newline
    store = _store(line)
    assert store.refresh() == 1 and store.skipped == 0
    monkeypatch.setattr(samples_mod, "CHUNK", 10)
    torn = _store(line[:-1])  # all of it but the newline, read in small pieces
    assert torn.refresh() == 0 and torn.skipped == 0
    with open(torn.run.samples, "ab") as fh:
        fh.write(b"\n")
    assert torn.refresh() == 1 and torn.steps == [1]


def test_the_skip_resumes_right_after_the_oversized_lines_newline(monkeypatch):
    monkeypatch.setattr(ev, "MAX_EVENT_LINE", 300)
    monkeypatch.setattr(samples_mod, "CHUNK", 400)  # one skip read holds the newline and two more lines
    store = _store(_line(1, "a") + _line(2, "x" * 1000) + _line(3, "c") + _line(4, "d") + _line(5, "e"))
    assert store.refresh() == 4 and store.steps == [1, 3, 4, 5] and store.skipped == 1


def test_a_newline_on_a_read_boundary_ends_the_skip(monkeypatch):
    monkeypatch.setattr(ev, "MAX_EVENT_LINE", 300)
    monkeypatch.setattr(samples_mod, "CHUNK", 512)
    # a line whose newline is byte 512: the first read ends just before it, the skip starts on it
    line = b""
    n = 400
    while len(line) != 513:
        line = _line(1, "x" * n)
        n += 513 - len(line)
    store = _store(line + _line(2, "b") + _line(3, "c"))
    assert store.refresh() == 2 and store.steps == [2, 3] and store.skipped == 1


def test_asks_with_non_ascii_text_are_read_by_their_byte_offsets():
    store = _store(_line(1, "ask ½ — ünïcode ✓", type_=ev.ASK, id="q1") + _line(1, "second", type_=ev.ASK, id="q2"))
    store.refresh()
    assert [(a["id"], _texts(a["rows"])) for a in store.asks()] == [("q1", ["ask ½ — ünïcode ✓"]),
                                                                    ("q2", ["second"])]


def test_an_ask_line_spoiled_underneath_is_passed_over_not_the_rest():
    store = _store(_line(1, "one", type_=ev.ASK, id="q1") + _line(1, "two", type_=ev.ASK, id="q2"))
    store.refresh()
    data = bytearray(store.run.samples.read_bytes())
    data[0:1] = b"#"
    store.run.samples.write_bytes(bytes(data))
    assert [a["id"] for a in store.asks()] == ["q2"]
