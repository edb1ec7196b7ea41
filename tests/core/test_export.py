"""core.run.samples + core.reading.export + `grpo-tui export` over synthetic runs."""

from __future__ import annotations

import json

from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.reading.export import export
from grpo_tui.core.run.samples import SampleFilter, SampleStore
from grpo_tui.core.run.synthetic import make_run

EVIL = ("[bold red]RED[/] [link=http://x]l[/link] \x1b[31mansi\x1b[0m \x1b]52;c;aGk=\x07 "
        "\x1b]0;pwned\x07 \u202etxet\u202c nul\x00 <script>alert(1)</script> # heading")


def _evil(step: int, group: int, idx: int, text: str) -> str:
    return EVIL if (step, group, idx) == (2, 0, 0) else text


def test_store_indexes_steps_and_filters():
    run = make_run(6, groups=2)
    store = SampleStore(run)
    assert store.refresh() == 6
    assert store.steps == [1, 2, 3, 4, 5, 6]
    rows = store.rows(3)
    assert rows and all(r["step"] == 3 for r in rows)
    assert set(store.groups(3)) == {0, 1}
    everything = list(store.iter_rows())
    assert len(everything) == sum(len(store.rows(s)) for s in store.steps)
    hi = max(r["reward"] for r in everything)
    top = list(store.iter_rows(SampleFilter(min_reward=hi)))
    assert top and all(r["reward"] >= hi for r in top) and len(top) < len(everything)
    some = list(store.iter_rows(SampleFilter(step_min=2, step_max=3)))
    assert {r["step"] for r in some} == {2, 3}
    # search: the row the needle came from is found, and every hit contains it (hand-written rows for
    # search and truncated-only with exact expected sets: test_sample_filters.py)
    needle = everything[5]["completion"][:6]
    found = list(store.iter_rows(SampleFilter(search=needle.upper())))
    assert everything[5] in found and len(found) < len(everything)
    assert all(needle.lower() in (r["prompt"] + "\n" + r["completion"]).lower() for r in found)


def test_store_follows_a_growing_file_and_skips_torn_and_corrupt_lines():
    run = make_run(2)
    store = SampleStore(run)
    store.refresh()
    with open(run.samples, "ab") as fh:
        fh.write(b"{not json}\n")
        line = ev.encode(ev.make_event(ev.SAMPLES, 3, rows=[{"prompt": "p", "completion": "c", "reward": 1.0,
                                                             "rewards": {"f": 1.0}, "group": 0}]))
        fh.write(line[:10])  # torn: not yet a step
    assert store.refresh() == 0 and store.skipped == 1
    with open(run.samples, "ab") as fh:
        fh.write(line[10:])
    assert store.refresh() == 1
    assert store.rows(3)[0]["completion"] == "c"


def test_jsonl_export_has_every_row_with_all_fields_and_is_ascii(tmp_path):
    run = make_run(4, completion_hook=_evil)
    path, n = export(run, "jsonl", tmp_path / "out.jsonl")
    lines = path.read_bytes().splitlines()
    store = SampleStore(run)
    store.refresh()
    assert n == len(lines) == sum(len(store.rows(s)) for s in (1, 2, 3, 4)) > 0
    row = json.loads(lines[0])
    for key in ("step", "prompt", "completion", "rewards", "reward", "advantage", "length", "truncated", "group"):
        assert key in row
    assert all(b < 0x80 for line in lines for b in line)  # bidi/controls only as \u escapes
    assert any(json.loads(line)["completion"] == EVIL for line in lines)  # exact data kept
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_markdown_export_renders_model_text_literally(tmp_path):
    run = make_run(3, completion_hook=_evil)
    path, n = export(run, "md", tmp_path / "out.md", SampleFilter(step_min=2, step_max=2))
    data = path.read_bytes()
    assert n > 0 and b"## Step 2" in data and b"## Step 1" not in data
    assert b"\x1b" not in data and b"\x00" not in data and "\u202e".encode() not in data
    assert b"[bold red]RED[/]" in data  # literal, inside a fence
    text = data.decode()
    fence_open = text.index("[bold red]")
    assert text.rfind("```", 0, fence_open) > text.rfind("\n\n**", 0, fence_open)  # inside a code block


def test_default_destination_is_the_runs_exports_folder():
    run = make_run(2)
    path, n = export(run, "md")
    assert path.parent == run.exports and path.exists() and n > 0


def test_cli_export_prints_path_and_count_and_rejects_bad_steps(tmp_path, capsys):
    run = make_run(3)
    assert main(["export", run.id, "--format", "jsonl", "-o", str(tmp_path / "a.jsonl"), "--steps", "2:"]) == 0
    out = capsys.readouterr().out
    n = sum(1 for _ in open(tmp_path / "a.jsonl"))
    assert f"exported {n} completion(s)" in out and str(tmp_path / "a.jsonl") in out
    assert {json.loads(x)["step"] for x in open(tmp_path / "a.jsonl")} == {2, 3}
    assert main(["export", run.id, "--steps", "x:y"]) == 2
    assert "--steps" in capsys.readouterr().err
