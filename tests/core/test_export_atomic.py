"""core.reading.export's promises beyond the happy path: an existing file at the target survives a failed
export (the rows go to a temporary file renamed into place), failures are one line naming the place
and the reason, and the places and defaults it picks. Failures are injected in-process, so every
case runs the same as root (CI) and as a normal user."""

from __future__ import annotations

import errno
import json
import os
import re

import pytest

import grpo_tui.core.reading.export as export_mod
from grpo_tui.core.reading.export import ExportError, export
from grpo_tui.core.run.samples import SampleFilter
from grpo_tui.core.run.synthetic import make_run

PRECIOUS = b"an earlier export the user kept\n"


@pytest.fixture
def out(tmp_path):
    """An empty folder for the exports (tmp_path also holds the test's GRPO_TUI_HOME)."""
    d = tmp_path / "out"
    d.mkdir()
    return d


def _fail_after(monkeypatch, err: int, after: int = 1024) -> None:
    """The destination's disk fails once ``after`` bytes were written."""
    real_fdopen = os.fdopen

    class Failing:
        def __init__(self, fd, mode):
            self.fh = real_fdopen(fd, mode)
            self.written = 0

        def write(self, data):
            if self.written + len(data) > after:
                raise OSError(err, os.strerror(err))
            self.written += len(data)
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(export_mod.os, "fdopen", Failing)


@pytest.mark.parametrize("fmt", ["jsonl", "md"])
def test_a_failed_export_keeps_the_existing_file_and_leaves_nothing_else(out, monkeypatch, fmt):
    run = make_run(4)
    target = out / f"kept.{fmt}"
    target.write_bytes(PRECIOUS)
    _fail_after(monkeypatch, errno.ENOSPC)
    with pytest.raises(ExportError) as info:
        export(run, fmt, target)
    monkeypatch.undo()
    assert target.read_bytes() == PRECIOUS
    assert sorted(p.name for p in out.iterdir()) == [target.name]  # no temporary file left
    assert str(info.value) == f"cannot export to {target}: no space left on the disk; nothing was written"


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EFBIG])
def test_a_disk_that_fills_up_leaves_no_partial_file(out, monkeypatch, err):
    run = make_run(3)
    _fail_after(monkeypatch, err)
    with pytest.raises(ExportError) as info:
        export(run, "jsonl", out / "s.jsonl")
    monkeypatch.undo()
    assert "nothing was written" in str(info.value) and "\n" not in str(info.value)
    assert list(out.iterdir()) == []


def test_an_interrupted_export_keeps_the_existing_file(out, monkeypatch):
    run = make_run(3)
    target = out / "kept.jsonl"
    target.write_bytes(PRECIOUS)

    def interrupted(rows):
        yield from list(rows)[:2]
        raise KeyboardInterrupt

    store_rows = export_mod.SampleStore.iter_rows
    monkeypatch.setattr(export_mod.SampleStore, "iter_rows", lambda self, flt=None: interrupted(store_rows(self, flt)))
    with pytest.raises(KeyboardInterrupt):
        export(run, "jsonl", target)
    assert target.read_bytes() == PRECIOUS and [p.name for p in out.iterdir()] == ["kept.jsonl"]


def test_a_successful_export_replaces_the_file_whole_and_privately(out):
    run = make_run(3)
    target = out / "kept.jsonl"
    target.write_bytes(PRECIOUS * 1000)  # longer than the export: a write in place would leave a tail
    os.chmod(target, 0o644)
    path, n = export(run, "jsonl", target)
    lines = target.read_bytes().splitlines()
    assert path == target and n == len(lines) > 0
    assert all(json.loads(line)["step"] in (1, 2, 3) for line in lines)
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in out.iterdir()] == ["kept.jsonl"]


@pytest.mark.parametrize("err, reason", [
    (errno.EACCES, "permission denied (read-only place?)"),
    (errno.EPERM, "permission denied"),
    (errno.EROFS, "read-only file system"),
    (errno.EDQUOT, "disk quota exceeded"),
    (errno.EFBIG, "file too large for this disk or limit"),
])
def test_an_unwritable_place_is_one_line_naming_it(out, monkeypatch, err, reason):
    """Read-only directory, read-only mount, quota: the file cannot be created (root ignores permission
    bits, so the refusal is injected at os.open rather than made with chmod)."""
    run = make_run(2)
    real_open = os.open

    def refuse(path, flags, *a, **kw):
        if str(path).startswith(str(out)):
            raise OSError(err, os.strerror(err), str(path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(export_mod.os, "open", refuse)
    with pytest.raises(ExportError) as info:
        export(run, "jsonl", out / "x.jsonl")
    assert str(info.value) == f"cannot export to {out / 'x.jsonl'}: {reason}; nothing was written"
    assert list(out.iterdir()) == []


def test_a_parent_that_is_a_file_or_missing_is_named(out):
    run = make_run(2)
    blocker = out / "a-file"
    blocker.write_text("x")
    with pytest.raises(ExportError) as info:
        export(run, "md", blocker / "out.md")
    assert str(info.value) == f"cannot export to {blocker / 'out.md'}: {blocker} is not a directory; nothing was written"
    with pytest.raises(ExportError) as info:
        export(run, "md", out / "no" / "out.md")
    assert str(info.value) == (f"cannot export to {out / 'no' / 'out.md'}: {out / 'no'} does not exist; "
                               "nothing was written")
    assert blocker.read_text() == "x"


def test_other_errors_keep_the_systems_words(out, monkeypatch):
    run = make_run(2)
    _fail_after(monkeypatch, errno.EIO, after=0)
    with pytest.raises(ExportError) as info:
        export(run, "jsonl", out / "x.jsonl")
    assert str(info.value) == f"cannot export to {out / 'x.jsonl'}: {os.strerror(errno.EIO)}; nothing was written"


def test_unknown_format_is_refused_before_anything_is_written(out):
    run = make_run(2)
    with pytest.raises(ExportError, match="unknown export format 'csv': use jsonl or md"):
        export(run, "csv", out / "x.csv")
    assert list(out.iterdir()) == []


def test_defaults_jsonl_into_the_runs_exports_folder_or_into_a_named_folder(out):
    run = make_run(2)
    path, n = export(run)
    assert path.parent == run.exports and re.fullmatch(r"samples-\d{8}-\d{6}\.jsonl", path.name)
    assert n == len(path.read_bytes().splitlines()) > 0
    assert oct(run.exports.stat().st_mode & 0o777) == "0o700"
    folder = out / "out"
    folder.mkdir()
    path2, n2 = export(run, "md", folder)
    assert path2.parent == folder and re.fullmatch(r"samples-\d{8}-\d{6}\.md", path2.name) and n2 == n


def test_given_rows_are_written_as_given(out):
    run = make_run(1)
    rows = [{"step": 5, "completion": "x", "when": object.__new__(type("T", (), {"__str__": lambda s: "T!"}))}]
    path, n = export(run, "jsonl", out / "x.jsonl", rows=rows)
    assert n == 1 and json.loads(path.read_text()) == {"step": 5, "completion": "x", "when": "T!"}
    path, n = export(run, "jsonl", out / "none.jsonl", SampleFilter(search="no such text anywhere"))
    assert n == 0 and path.read_bytes() == b""


def test_markdown_layout_counts_and_figures(out):
    run = make_run(1)
    rows = [
        {"step": 3, "group": 0, "prompt": "P1", "answer": "7", "completion": "c1", "reward": 1.23456,
         "rewards": {"fmt": 1, "ok": 0.23456}, "advantage": -0.5, "length": 9, "truncated": True},
        {"step": 3, "group": 0, "prompt": "P1", "answer": "7", "completion": "c2", "reward": True,
         "rewards": {}, "advantage": None},
        {"step": 3, "group": 1, "prompt": "P2", "answer": "", "completion": "c3", "reward": 0.0, "rewards": {}},
        {"step": 4, "group": 1, "prompt": "P2", "completion": "c4", "reward": 2, "rewards": {}},
    ]
    path, n = export(run, "md", out / "x.md", rows=rows)
    text = path.read_text()
    assert n == 4
    assert text.startswith(f"# Samples of run {run.id}\n\n## Step 3\n\n### Group 0\n\n**Prompt**\n\n")
    assert text.count("## Step 3\n") == 1 and text.count("## Step 4\n") == 1
    assert text.count("### Group 0\n") == 1 and text.count("### Group 1\n") == 2  # group 1 again under step 4
    assert text.count("Gold answer: 7\n") == 1 and "Gold answer: \n" not in text
    assert "**Completion 1** — reward 1.23 (fmt 1, ok 0.235) · advantage -0.5 · 9 tokens · truncated\n" in text
    assert "**Completion 2** — reward – () · advantage – · ? tokens\n" in text
    assert "**Completion 4** — reward 2 () · advantage – · ? tokens\n" in text
    assert text.index("c1") < text.index("c2") < text.index("c3") < text.index("## Step 4") < text.index("c4")
    _, none = export(run, "md", out / "none.md", rows=[])
    assert none == 0 and (out / "none.md").read_text() == f"# Samples of run {run.id}\n\nNo samples matched.\n"


def test_markdown_document_exactly(out):
    run = make_run(1)
    rows = [{"step": 2, "group": 0, "prompt": "P?", "answer": "7", "completion": "C!", "reward": 1.0,
             "rewards": {"r": 1.0}, "advantage": 0.5, "length": 3, "truncated": False},
            {"group": 0, "prompt": "Q", "reward": 0.25, "rewards": {"n" * 50: 0.25}}]  # no step, no text
    path, n = export(run, "md", out / "x.md", rows=rows)
    assert n == 2
    assert path.read_text() == (
        f"# Samples of run {run.id}\n"
        "\n## Step 2\n"
        "\n### Group 0\n\n**Prompt**\n\n```text\nP?\n```\n"
        "\nGold answer: 7\n"
        "\n**Completion 1** — reward 1 (r 1) · advantage 0.5 · 3 tokens\n\n"
        "```text\nC!\n```\n"
        "\n## Step 0\n"
        "\n### Group 0\n\n**Prompt**\n\n```text\nQ\n```\n"
        f"\n**Completion 2** — reward 0.25 ({'n' * 39}\u2026 0.25) · advantage – · ? tokens\n\n"
        "```text\n\n```\n")


def test_a_long_gold_answer_is_cut_at_200_characters(out):
    run = make_run(1)
    path, _ = export(run, "md", out / "x.md", rows=[{"step": 1, "group": 0, "prompt": "p", "answer": "9" * 300,
                                                    "completion": "c"}])
    assert f"\nGold answer: {'9' * 199}\u2026\n" in path.read_text()


def test_an_error_without_an_errno_keeps_its_own_words(out, monkeypatch):
    run = make_run(2)

    def rows():
        yield {"step": 1, "completion": "x"}
        raise OSError("the disk said no")

    with pytest.raises(ExportError) as info:
        export(run, "jsonl", out / "x.jsonl", rows=rows())
    assert str(info.value) == f"cannot export to {out / 'x.jsonl'}: the disk said no; nothing was written"


@pytest.mark.parametrize("raised, expected", [(OSError(errno.EIO, "I/O error"), ExportError),
                                              (KeyboardInterrupt(), KeyboardInterrupt)])
def test_a_temporary_file_removed_by_someone_else_still_ends_cleanly(out, raised, expected):
    """The folder emptied under a running export (the user cleans up): the error is still the export's."""
    run = make_run(1)

    def rows():
        yield {"step": 1, "completion": "x"}
        for p in out.glob(".*.tmp"):
            p.unlink()
        raise raised

    with pytest.raises(expected):
        export(run, "jsonl", out / "x.jsonl", rows=rows())
    assert list(out.iterdir()) == []


def test_markdown_row_without_a_prompt_shows_an_empty_prompt_block(out):
    run = make_run(1)
    path, _ = export(run, "md", out / "x.md", rows=[{"step": 1, "group": 0, "completion": "c"}])
    assert "\n### Group 0\n\n**Prompt**\n\n```text\n\n```\n" in path.read_text()
