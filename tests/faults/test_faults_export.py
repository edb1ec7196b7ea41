"""Exporting onto a full disk or into a place that cannot be written (issue 7), end to end through
`grpo-tui export` on a real run: a clear one-line error, a non-zero exit, no partial file and no
temporary file left behind. (core/reading/export.py's own tests, including the permission refusals that root
would ignore, inject their failures in-process: tests/core/test_export_atomic.py.)
"""

from __future__ import annotations

import functools
import resource
import subprocess
import sys

import pytest

from fault_helpers import REPO
from trainer_helpers import start, wait_exit

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")


@pytest.fixture
def opt() -> str:
    """The command's output option, as its --help shows it (a broken `export --help` fails here)."""
    r = subprocess.run([sys.executable, "-m", "grpo_tui", "export", "--help"], capture_output=True, text=True,
                       timeout=60, cwd=str(REPO))
    assert r.returncode == 0 and "--format" in r.stdout and "--output" in r.stdout, r.stdout + r.stderr
    return "--output"


@pytest.fixture
def finished_run(opt):
    launched = start(max_steps=3)
    assert wait_exit(launched.proc, timeout=180) == 0
    return launched.run


def _export(run, fmt: str, opt: str, target, limit: int | None = None) -> subprocess.CompletedProcess:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run_ = functools.partial(subprocess.run, preexec_fn=cap) if limit else subprocess.run
    return run_([sys.executable, "-m", "grpo_tui", "export", run.id, "--format", fmt, opt, str(target)],
                capture_output=True, text=True, timeout=120, cwd=str(REPO))


def _one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) <= 2 and lines, r.stderr
    return lines[0]


@pytest.mark.parametrize("fmt", ["jsonl", "md"])
def test_export_onto_a_full_disk_leaves_nothing(finished_run, opt, tmp_path, fmt):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / f"samples.{fmt}"
    ok = _export(finished_run, fmt, opt, target)  # the real size first: the limit must cut it
    assert ok.returncode == 0, ok.stderr
    size = target.stat().st_size
    assert size > 2048
    target.unlink()
    r = _export(finished_run, fmt, opt, target, limit=size // 2)
    err = _one_line_error(r)
    assert "too large" in err.lower() or "no space" in err.lower() or "disk" in err.lower(), err
    assert list(out_dir.iterdir()) == [], "a partial or temporary file was left behind"


def test_export_into_an_unwritable_place_is_one_clear_line(finished_run, opt, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = _export(finished_run, "jsonl", opt, blocker / "samples.jsonl")
    err = _one_line_error(r)
    assert "a-file" in err and "is not a directory" in err, err
    assert blocker.read_text() == "not a directory"
    # A missing folder: named, and not created.
    r = _export(finished_run, "jsonl", opt, tmp_path / "missing" / "samples.jsonl")
    err = _one_line_error(r)
    assert "missing" in err and "does not exist" in err, err
    assert not (tmp_path / "missing").exists()
