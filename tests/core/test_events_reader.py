"""The event log reader: tailing, torn last line, corrupt lines, unknown types, newer schema."""

from __future__ import annotations

import os

import orjson

from grpo_tui.core.run import events as ev


def _append(path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def test_tails_a_growing_file(tmp_path):
    path = tmp_path / "events.jsonl"
    reader = ev.EventReader(path)
    assert reader.read_new() == []  # not created yet
    w = ev.EventWriter(path)
    w.emit(ev.METRICS, 1, metrics={"reward": 0.5})
    w.emit(ev.METRICS, 2, metrics={"reward": 0.7})
    got = reader.read_new()
    assert [e["step"] for e in got] == [1, 2]
    assert reader.read_new() == []
    w.emit(ev.CONTROL, 3, command="pause", id="x", state="paused")
    got = reader.read_new()
    assert [(e["type"], e["step"]) for e in got] == [(ev.CONTROL, 3)]
    w.close()


def test_torn_last_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "events.jsonl"
    line = ev.encode(ev.make_event(ev.METRICS, 5, metrics={"reward": 1.0}))
    _append(path, ev.encode(ev.make_event(ev.PHASE, 0, name="training")))
    _append(path, line[:17])  # a writer killed mid-line
    reader = ev.EventReader(path)
    got = reader.read_new()
    assert [e["type"] for e in got] == [ev.PHASE]
    assert reader.stats.corrupt == 0 and reader.stats.problems() is None
    _append(path, line[17:])  # the rest arrives
    got = reader.read_new()
    assert [(e["type"], e["step"]) for e in got] == [(ev.METRICS, 5)]


def test_corrupt_lines_skipped_counted_and_reported_once(tmp_path):
    path = tmp_path / "events.jsonl"
    good = ev.encode(ev.make_event(ev.METRICS, 1, metrics={"reward": 1.0}))
    _append(path, good + b"{not json\n" + b"[1,2]\n" + b'{"no":"envelope"}\n' + good)
    events, stats = ev.read_all(path)
    assert len(events) == 2
    assert stats.corrupt == 3
    problems = stats.problems()
    assert problems is not None and problems.count("corrupt") == 1 and "3 corrupt" in problems
    assert "invalid JSON" in stats.first_error


def test_unknown_types_and_newer_schema_are_skipped_and_counted(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [
        {"v": 1, "type": "metrics", "ts": 0, "step": 1, "metrics": {}},
        {"v": 1, "type": "hologram", "ts": 0, "step": 1},
        {"v": ev.SCHEMA_VERSION + 1, "type": "metrics", "ts": 0, "step": 2, "metrics": {}},
        {"v": 1, "type": "finished", "ts": 0, "step": 2, "status": "completed"},
    ]
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    events, stats = ev.read_all(path)
    assert [e["type"] for e in events] == ["metrics", "finished"]
    assert stats.unknown_types == 1 and "hologram" in stats.unknown_names
    assert stats.newer_schema == 1
    text = stats.problems()
    assert "unknown type" in text and "newer schema" in text


def test_type_filter_and_replaced_file(tmp_path):
    path = tmp_path / "events.jsonl"
    w = ev.EventWriter(path)
    w.emit(ev.METRICS, 1, metrics={})
    w.emit(ev.CONTROL, 1, command="stop", id="a", state="stopping")
    w.close()
    reader = ev.EventReader(path, types=[ev.CONTROL])
    assert [e["type"] for e in reader.read_new()] == [ev.CONTROL]
    # A file replaced underneath (new inode, shorter) is read again from the start.
    tmp = tmp_path / "new.jsonl"
    tmp.write_bytes(ev.encode(ev.make_event(ev.CONTROL, 9, command="pause", id="b", state="paused")))
    os.replace(tmp, path)
    assert [e["step"] for e in reader.read_new()] == [9]


def test_nan_metrics_encode_as_null(tmp_path):
    path = tmp_path / "events.jsonl"
    with ev.EventWriter(path) as w:
        w.emit(ev.METRICS, 1, metrics={"kl": float("nan"), "reward": 0.5})
    events, stats = ev.read_all(path)
    assert stats.corrupt == 0
    assert events[0]["metrics"] == {"kl": None, "reward": 0.5}
