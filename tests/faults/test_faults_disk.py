"""Running out of disk (issue 7), against the real trainer.

"Disk full" is simulated without root or mounts: the trainer is started under a small
RLIMIT_FSIZE, so a write that would grow a file past the limit fails with EFBIG -- exactly where a
full disk fails with ENOSPC (Python ignores SIGXFSZ, so the write raises OSError).

* The samples stream hits the limit mid-run: the trainer stops cleanly with a ``failed`` finished
  event naming the error; every event written before it reads back intact; readers show "failed".
* Even the event log cannot be written: the trainer says so in one line on stderr (trainer.log)
  and exits non-zero; readers show the run as crashed with that line.
"""

from __future__ import annotations

import functools
import resource
import subprocess
import sys

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui import launcher as launch
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.rundir import summarize

from fault_helpers import counts, warm_tiny_cache
from trainer_helpers import SMALL, kill, wait_exit

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")


def _start_limited(monkeypatch, limit: int, **overrides):
    """Launch the real trainer with its files capped at ``limit`` bytes."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    warm_tiny_cache(**overrides)  # the cached model must not be what hits the limit
    cfg = load_preset("cpu-tiny").with_overrides({**SMALL, **overrides})
    launched = launch.launch(cfg, spawn_trainer=False)
    monkeypatch.setattr(launch.subprocess, "Popen", functools.partial(subprocess.Popen, preexec_fn=cap))
    try:
        proc = launch.spawn(launched.run)
    finally:
        monkeypatch.undo()
    return launched.run, proc


def test_disk_full_while_writing_samples_fails_cleanly(monkeypatch):
    # 16 prompts x 8 completions a step: ~8 KB of samples a step (as columns) against ~1 KB of
    # metrics, so the samples stream reaches the 24 KB cap around step 3 while events.jsonl still
    # has room for the rest, the finished event and its traceback included.
    run, proc = _start_limited(monkeypatch, 24_000, max_steps=40, num_generations=8,
                               per_device_train_batch_size=128)
    try:
        assert wait_exit(proc, timeout=240) == 1
    finally:
        kill(proc)
    c = counts(run)
    assert c["corrupt"] == 0
    fin = c["finished"]
    assert len(fin) == 1 and fin[0]["status"] == ev.FAILED, run.log_tail(20)
    assert "File too large" in fin[0]["error"] or "No space" in fin[0]["error"], fin[0]["error"]
    assert fin[0]["step"] < 40
    n = len(c["metrics_steps"])
    assert n >= 1 and c["metrics_steps"] == list(range(1, n + 1))
    assert c["samples_steps"] == list(range(1, len(c["samples_steps"]) + 1))
    s = summarize(run)
    assert s.state == "failed" and "File too large" in (s.error or "")


def test_event_log_unwritable_says_so_on_stderr(monkeypatch):
    run, proc = _start_limited(monkeypatch, 600, max_steps=3)  # not even run_started fits
    try:
        assert wait_exit(proc, timeout=120) != 0
    finally:
        kill(proc)
    log = run.trainer_log.read_text(errors="replace")
    lines = [ln for ln in log.splitlines() if "cannot write" in ln]
    assert lines and str(run.events) in lines[0] and "File too large" in lines[0], log[-1500:]
    assert "Traceback" not in log  # one clear line, not a stack dump
    s = summarize(run)
    assert s.state == "crashed" and any("cannot write" in ln for ln in s.log_tail)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 256 KiB filesystem (needs root and mount rights; skipped elsewhere)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_real_disk_full_under_the_run_directory(monkeypatch, small_tmpfs):
    """ENOSPC for real: everything in the run directory (both logs and trainer.log) hits a full
    filesystem. Nothing can record the end, so readers must tell it from the dead pid: crashed,
    with every event written before intact."""
    monkeypatch.setenv("GRPO_TUI_HOME", str(small_tmpfs / "home"))
    warm_tiny_cache(max_steps=400, num_generations=8, per_device_train_batch_size=32)
    cfg = load_preset("cpu-tiny").with_overrides({**SMALL, "max_steps": 400, "num_generations": 8,
                                                  "per_device_train_batch_size": 32})
    launched = launch.launch(cfg)
    run, proc = launched.run, launched.proc
    try:
        assert wait_exit(proc, timeout=300) != 0
    finally:
        kill(proc)
    c = counts(run)
    assert c["corrupt"] == 0  # a torn last line at most, never a broken one in the middle
    n = len(c["metrics_steps"])
    assert 1 <= n < 400 and c["metrics_steps"] == list(range(1, n + 1))
    s = summarize(run)
    if c["finished"]:  # the finished event found room after all: then it names the error
        assert s.state == "failed" and "No space" in (s.error or ""), s.error
    else:
        assert s.state == "crashed"
