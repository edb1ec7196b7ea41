"""core.run.events beyond the reader's basics (test_events_reader.py): the envelope and its encoding,
the writer's file and its partial writes, the reader's byte budget, oversized lines, replaced or
truncated files, places that cannot be read, and the one-line summary of what was skipped."""

from __future__ import annotations

import errno
import os
import threading

import orjson
import pytest

from grpo_tui.core.run import events as ev


def _append(path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def _together(target, args) -> None:
    """``target(a)`` for each of ``args``, each in its own thread, all at once; returns when all end."""
    threads = [threading.Thread(target=target, args=(a,)) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _line(step: int, **kw) -> bytes:
    return ev.encode(ev.make_event(ev.METRICS, step, metrics={"reward": float(step)}, **kw))


# -- envelope and encoding -----------------------------------------------------------------------
def test_make_event_fills_the_envelope(monkeypatch):
    monkeypatch.setattr(ev.time, "time", lambda: 1234.5)
    assert ev.make_event(ev.LOG, 3.0, level="info", message="m") == {
        "v": 1, "type": "log", "ts": 1234.5, "step": 3, "level": "info", "message": "m"}
    assert ev.make_event(ev.PHASE) == {"v": 1, "type": "phase", "ts": 1234.5, "step": 0}
    with pytest.raises(ValueError, match="^unknown event type 'lunch'$"):
        ev.make_event("lunch")


def test_encode_is_one_line_with_numpy_and_non_string_keys():
    import numpy as np  # installed with torch
    data = ev.encode({"a": np.float32(0.5), "arr": np.arange(3), 7: "x", "nan": float("nan")})
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert orjson.loads(data) == {"a": 0.5, "arr": [0, 1, 2], "7": "x", "nan": None}


# -- writer --------------------------------------------------------------------------------------
def test_writer_appends_privately_and_closes_once(tmp_path):
    path = tmp_path / "e.jsonl"
    _append(path, b"")  # an existing file is appended to, not truncated
    os.chmod(path, 0o600)
    _append(path, _line(1))
    with ev.EventWriter(path) as w:
        got = w.emit(ev.METRICS, 2, metrics={"reward": 2.0})
        assert got["step"] == 2 and got["type"] == ev.METRICS and got["metrics"] == {"reward": 2.0}
    assert w._fd == -1
    w.close()  # a second close is harmless
    events, stats = ev.read_all(path)
    assert [e["step"] for e in events] == [1, 2] and stats.problems() is None
    fresh = tmp_path / "new.jsonl"
    ev.EventWriter(fresh).close()
    assert oct(fresh.stat().st_mode & 0o777) == "0o600"


def test_writer_finishes_a_line_over_partial_writes(tmp_path, monkeypatch):
    path = tmp_path / "e.jsonl"
    w = ev.EventWriter(path)
    real_write = os.write
    sizes = []

    def dribble(fd, data):
        sizes.append(len(data))
        return real_write(fd, bytes(data[:7]))  # the kernel took only 7 bytes

    monkeypatch.setattr(ev.os, "write", dribble)
    w.emit(ev.LOG, 1, level="info", message="x" * 50)
    monkeypatch.undo()
    w.close()
    events, stats = ev.read_all(path)
    assert [e["message"] for e in events] == ["x" * 50] and stats.corrupt == 0
    assert len(sizes) > 5 and sizes == sorted(sizes, reverse=True)


def test_writers_on_two_threads_never_interleave(tmp_path):
    path = tmp_path / "e.jsonl"
    w = ev.EventWriter(path)

    def burst(tag):
        for i in range(200):
            w.emit(ev.LOG, i, level="info", message=tag * 3000)

    _together(burst, "ab")
    w.close()
    events, stats = ev.read_all(path)
    assert len(events) == 400 and stats.corrupt == 0


# -- reader --------------------------------------------------------------------------------------
def test_reader_respects_a_byte_budget(tmp_path):
    path = tmp_path / "e.jsonl"
    lines = [_line(i) for i in range(1, 6)]
    _append(path, b"".join(lines))
    r = ev.EventReader(path)
    assert [e["step"] for e in r.read_new(max_bytes=len(lines[0]) + 3)] == [1]
    assert r.offset == len(lines[0]) + 3
    assert [e["step"] for e in r.read_new(max_bytes=len(lines[1]))] == [2]
    assert [e["step"] for e in r.read_new()] == [3, 4, 5]
    assert r.read_new(max_bytes=0) == [] and r.read_new() == []


def test_reader_reads_a_file_larger_than_its_chunk(tmp_path):
    path = tmp_path / "e.jsonl"
    big = ev.encode(ev.make_event(ev.LOG, 1, level="info", message="y" * (ev.READ_CHUNK * 16 + 10)))
    _append(path, big + _line(2))
    events = ev.EventReader(path).read_new()
    assert [e["step"] for e in events] == [1, 2] and len(events[0]["message"]) == ev.READ_CHUNK * 16 + 10


def test_oversized_lines_are_skipped_in_bounded_memory_and_reading_goes_on(tmp_path):
    path = tmp_path / "e.jsonl"
    r = ev.EventReader(path, max_line_bytes=200)
    _append(path, _line(1) + b'{"v": 1, "type": "log", "message": "' + b"z" * 300)  # no newline yet
    assert [e["step"] for e in r.read_new()] == [1]
    assert r.stats.oversized == 1 and r._buf == b""  # not buffered
    _append(path, b"z" * 500)  # still the same line
    assert r.read_new() == [] and r.stats.oversized == 1 and r._buf == b""
    _append(path, b'"}\n' + _line(2) + _line(3)[:10])  # its end, a good line, a torn one
    assert [e["step"] for e in r.read_new()] == [2]
    _append(path, _line(3)[10:])
    assert [e["step"] for e in r.read_new()] == [3]
    long_complete = ev.encode(ev.make_event(ev.LOG, 4, level="info", message="w" * 300))
    _append(path, long_complete + _line(5))  # an oversized line that arrives whole
    assert [e["step"] for e in r.read_new()] == [5]
    assert r.stats.oversized == 2 and r.stats.corrupt == 0
    assert r.stats.problems() == "2 oversized line(s) skipped"


def test_a_line_that_becomes_oversized_at_its_newline(tmp_path):
    path = tmp_path / "e.jsonl"
    r = ev.EventReader(path, max_line_bytes=100)
    line = ev.encode(ev.make_event(ev.LOG, 1, level="info", message="q" * 150))
    _append(path, line[:90])
    assert r.read_new() == [] and r._buf == line[:90]  # under the cap: kept for its newline
    _append(path, line[90:] + _line(2))
    assert [e["step"] for e in r.read_new()] == [2] and r.stats.oversized == 1


def test_a_replaced_or_truncated_file_is_read_from_the_start(tmp_path):
    path = tmp_path / "e.jsonl"
    _append(path, _line(1) + _line(2) + _line(3))
    r = ev.EventReader(path)
    assert len(r.read_new()) == 3
    with open(path, "r+b") as fh:  # truncated in place (same inode), then rewritten shorter
        fh.truncate(0)
        fh.write(_line(7))
    assert [e["step"] for e in r.read_new()] == [7]
    other = tmp_path / "other.jsonl"
    _append(other, _line(8) + _line(9) + _line(10) + _line(11))  # longer, a new inode
    os.replace(other, path)
    assert [e["step"] for e in r.read_new()] == [8, 9, 10, 11]


def test_a_same_size_replacement_is_noticed_by_its_inode(tmp_path):
    path = tmp_path / "e.jsonl"
    _append(path, _line(1))
    r = ev.EventReader(path)
    assert [e["step"] for e in r.read_new()] == [1]
    other = tmp_path / "other.jsonl"
    _append(other, _line(2) + _line(3))
    keep = tmp_path / "keep"
    os.link(path, keep)  # hold the old inode so the new file cannot reuse its number
    os.replace(other, path)
    assert [e["step"] for e in r.read_new()] == [2, 3]


def test_places_that_cannot_be_read_are_said_not_raised(tmp_path):
    d = tmp_path / "dir.jsonl"
    d.mkdir()
    r = ev.EventReader(d)
    assert r.read_new() == [] and r.stats.unreadable == "not a regular file"
    assert r.stats.problems() == "cannot read the log: not a regular file"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = ev.EventReader(blocker / "events.jsonl")
    assert r.read_new() == [] and r.stats.unreadable == os.strerror(errno.ENOTDIR)


def test_an_error_without_words_is_still_said(tmp_path, monkeypatch):
    def refuse(*a, **kw):
        raise OSError("odd failure")

    monkeypatch.setattr(ev.os, "open", refuse)
    r = ev.EventReader(tmp_path / "e.jsonl")
    assert r.read_new() == [] and r.stats.unreadable == "odd failure"


def test_problems_is_one_line_listing_each_kind_once():
    s = ev.ReadStats(corrupt=2, first_error="invalid JSON at byte 9", newer_schema=3, unknown_types=7,
                     unknown_names={"g", "f", "e", "d", "c", "b", "a"}, oversized=1, unreadable="EIO")
    assert s.problems() == (
        "cannot read the log: EIO; 2 corrupt line(s) skipped (first: invalid JSON at byte 9); "
        f"3 event(s) from a newer schema than v{ev.SCHEMA_VERSION} skipped -- upgrade grpo-tui to read them; "
        "7 event(s) of unknown type skipped (a, b, c, d, e); 1 oversized line(s) skipped")
    assert ev.ReadStats().problems() is None


def test_decode_rejects_what_is_not_an_event(tmp_path):
    path = tmp_path / "e.jsonl"
    _append(path, b"[1, 2]\n" + b'{"type": "log"}\n' + b'{"v": "1", "type": "log"}\n' + b'{"v": 1, "type": 5}\n'
            + b"\n   \n" + _line(1) + b'{"v": 1, "type": "' + b"t" * 60 + b'"}\n')
    r = ev.EventReader(path)
    assert [e["step"] for e in r.read_new()] == [1]
    st = r.stats
    assert (st.corrupt, st.unknown_types, st.lines) == (4, 1, 6)
    assert st.first_error == "line is not a JSON object"
    assert st.unknown_names == {"t" * 40}
    _append(path, b"{oops\n")
    r2 = ev.EventReader(path)
    r2.read_new()
    assert r2.stats.first_error == "line is not a JSON object" and r2.stats.corrupt == 5


def test_invalid_json_error_names_the_offset(tmp_path):
    path = tmp_path / "e.jsonl"
    _append(path, _line(1) + b"{oops\n")
    r = ev.EventReader(path)
    r.read_new()
    assert r.stats.first_error.startswith(f"invalid JSON at byte {path.stat().st_size}: ")


def test_iterating_a_reader_and_read_all_with_a_type_filter(tmp_path):
    path = tmp_path / "e.jsonl"
    with ev.EventWriter(path) as w:
        w.emit(ev.PHASE, 0, name="training")
        w.emit(ev.METRICS, 1, metrics={})
        w.emit(ev.LOG, 1, level="info", message="m")
    assert [e["type"] for e in ev.EventReader(path)] == ["phase", "metrics", "log"]
    events, stats = ev.read_all(path, types=[ev.METRICS, ev.LOG])
    assert [e["type"] for e in events] == ["metrics", "log"] and stats.lines == 3


def test_emit_defaults_to_step_zero(tmp_path):
    with ev.EventWriter(tmp_path / "e.jsonl") as w:
        assert w.emit(ev.PHASE, name="loading_model")["step"] == 0


def test_counts_add_up_over_several_lines(tmp_path):
    path = tmp_path / "e.jsonl"
    newer = orjson.dumps({"v": ev.SCHEMA_VERSION + 1, "type": "log"}) + b"\n"
    unknown = orjson.dumps({"v": 1, "type": "lunch"}) + b"\n"
    _append(path, newer * 2 + unknown * 3 + b'{"v": 1}\n')
    r = ev.EventReader(path)
    assert r.read_new() == []
    assert (r.stats.newer_schema, r.stats.unknown_types, r.stats.corrupt) == (2, 3, 1)
    assert r.stats.first_error == "line has no schema version or type (not a grpo-tui event)"


def test_a_line_of_exactly_the_cap_is_read_whole_or_torn(tmp_path):
    path = tmp_path / "e.jsonl"

    def fixed(step: int) -> bytes:  # same length for every one-digit step
        return orjson.dumps({"v": 1, "type": "metrics", "ts": 1.5, "step": step, "metrics": {}}) + b"\n"

    line = fixed(1)
    cap = len(line) - 1  # the line without its newline
    r = ev.EventReader(path, max_line_bytes=cap)
    _append(path, line[:-1])  # torn at exactly the cap
    assert r.read_new() == [] and r.stats.oversized == 0
    _append(path, b"\n")  # one byte more: its newline
    assert [e["step"] for e in r.read_new()] == [1]
    _append(path, fixed(2))  # whole, exactly the cap
    assert [e["step"] for e in ev.EventReader(path, max_line_bytes=cap).read_new()] == [1, 2]


def test_each_oversized_partial_line_is_counted_and_a_newline_first_ends_the_skip(tmp_path):
    path = tmp_path / "e.jsonl"
    r = ev.EventReader(path, max_line_bytes=100)
    _append(path, b"x" * 150)
    assert r.read_new() == [] and r.stats.oversized == 1
    _append(path, b"\n" + _line(1) + b"y" * 150)  # the skipped line ends on the very first byte
    assert [e["step"] for e in r.read_new()] == [1] and r.stats.oversized == 2
    _append(path, b"\n" + _line(2))
    assert [e["step"] for e in r.read_new()] == [2] and r.stats.oversized == 2


# -- held events (group commit) ------------------------------------------------------------------
def _steps(path) -> list:
    return [(e["type"], e["step"]) for e in ev.read_all(path)[0]]


def test_held_events_wait_for_the_next_write_and_keep_their_order(tmp_path):
    path = tmp_path / "events.jsonl"
    w = ev.EventWriter(path)
    held = w.hold(ev.METRICS, 1, metrics={"reward": 1.0})
    w.hold(ev.METRICS, 2, metrics={"reward": 2.0})
    assert held["step"] == 1 and held["ts"] > 0 and path.read_bytes() == b""  # made now, not written
    w.emit(ev.CONTROL, 2, command="pause", id="x", state="paused")  # any write sends the held first
    assert _steps(path) == [(ev.METRICS, 1), (ev.METRICS, 2), (ev.CONTROL, 2)]
    w.hold(ev.METRICS, 3, metrics={})
    w.flush()
    w.flush()  # nothing held: nothing written
    w.hold(ev.METRICS, 4, metrics={})
    w.close()  # closing writes what is held
    assert _steps(path) == [(ev.METRICS, 1), (ev.METRICS, 2), (ev.CONTROL, 2), (ev.METRICS, 3), (ev.METRICS, 4)]
    assert path.read_bytes().count(b"\n") == 5


def test_a_held_event_that_cannot_be_encoded_does_not_take_the_others_with_it(tmp_path):
    path = tmp_path / "events.jsonl"
    w = ev.EventWriter(path)
    w.hold(ev.METRICS, 1, metrics={})
    w.hold(ev.LOG, 2, message=object())  # not JSON
    w.hold(ev.METRICS, 3, metrics={})
    w.flush()
    assert _steps(path) == [(ev.METRICS, 1), (ev.METRICS, 3)]
    w.hold(ev.METRICS, 4, metrics={})
    with pytest.raises(TypeError):  # a bad event written now still raises, as before ...
        w.emit(ev.LOG, 5, message=object())
    assert _steps(path)[-1] == (ev.METRICS, 4)  # ... after the held ones went out


def test_held_events_from_two_threads_are_all_written_whole(tmp_path):
    path = tmp_path / "events.jsonl"
    w = ev.EventWriter(path)

    def worker(base: int) -> None:
        for i in range(500):
            w.hold(ev.METRICS, base + i, metrics={"x": 1.0})
            if i % 7 == 0:
                w.emit(ev.LOG, base + i, level="info", message="y" * 300)

    _together(worker, [k * 1000 for k in range(3)])
    w.close()
    events, stats = ev.read_all(path)
    assert stats.problems() is None and sum(e["type"] == ev.METRICS for e in events) == 1500
