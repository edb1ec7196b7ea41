"""Shared pieces of the fault and security tests (tests/test_faults_*.py, tests/faults/test_security.py).

* ``Pty``: the real app (``python -m grpo_tui ...``) in a pseudo-terminal, as a user over SSH has it;
  it can be SIGKILLed or have its terminal hung up.
* ``DashApp`` + ``until``: the dashboard screen under Textual's Pilot.
* ``warm_tiny_cache``: builds the tiny model once before a test limits the trainer's file sizes.
* ``counts``: what a run's logs hold, per type and per step, read with the core reader.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections import Counter
from pathlib import Path

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.sample_columns import event_rows

from trainer_helpers import SMALL
from tui_helpers import until  # noqa: E402,F401  (re-exported for the fault tests)

REPO = Path(__file__).resolve().parent.parent


class Pty:
    """``python -m grpo_tui ARGS`` on a pty of ``size`` (columns, rows); output kept in ``out``."""

    def __init__(self, args: list[str], *, size=(120, 40), extra_env=None):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", **(extra_env or {})}
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "grpo_tui", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, preexec_fn=_controlling_tty, cwd=str(REPO))
        os.close(slave)
        self.out = b""
        self.closed = False

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.closed:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    self.out += os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    return

    def read_until(self, needle: bytes, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while needle not in self.out:
            if time.monotonic() > end or self.proc.poll() is not None:
                raise AssertionError(f"{needle!r} never appeared; got {self.out[-800:]!r}")
            self.pump(0.1)

    def hang_up(self) -> None:
        """The terminal goes away (SSH dropped): close the master side of the pty."""
        if not self.closed:
            os.close(self.master)
            self.closed = True

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.hang_up()


def _controlling_tty() -> None:
    """In the child: a new session whose controlling terminal is the pty (as under sshd), so
    closing the master sends SIGHUP like a dropped connection does. SIGHUP back to its default, as
    sshd starts a session: an ignored SIGHUP is inherited (a suite run under ``nohup``), and the
    app would then outlive its terminal for a reason no user's SSH session has."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def small_args(**overrides) -> list[str]:
    """``--set`` arguments for the small tiny-run settings (tests/trainer_helpers.SMALL) plus overrides."""
    out = []
    for k, v in {**SMALL, **overrides}.items():
        out += ["--set", f"{k}={v}"]
    return out


def warm_tiny_cache(**overrides) -> None:
    """Build (or find) the cached tiny model in a subprocess, so a trainer started under a
    file-size limit fails at the log write the test aims at, not while saving the model."""
    code = ("from grpo_tui.core.planning.presets import load_preset\n"
            "from grpo_tui.trainer.tiny import ensure_tiny\n"
            f"ensure_tiny(load_preset('cpu-tiny').with_overrides({ {**SMALL, **overrides}!r}))\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, cwd=str(REPO))


def counts(run) -> dict:
    """Per-type event counts and the metrics / samples steps, from the core reader."""
    evs, stats = ev.read_all(run.events)
    samples, sstats = ev.read_all(run.samples)
    return {
        "types": Counter(e["type"] for e in evs),
        "metrics_steps": [e["step"] for e in evs if e["type"] == ev.METRICS],
        "samples_steps": [e["step"] for e in samples if e["type"] == ev.SAMPLES],
        "sample_rows": sum(len(event_rows(e)) for e in samples if e["type"] == ev.SAMPLES),
        "finished": [e for e in evs if e["type"] == ev.FINISHED],
        "alerts": [e for e in evs if e["type"] == ev.ALERT],
        "corrupt": stats.corrupt + sstats.corrupt,
        "events": evs,
    }


def dash_app(run, **kw):
    """A minimal App showing ``DashboardScreen(run)`` (the app's own dashboard, nothing mocked)."""
    from textual.app import App

    from grpo_tui.tui.screens.dashboard import DashboardScreen

    class DashApp(App):
        def on_mount(self) -> None:
            self.push_screen(DashboardScreen(run, **{"resources": False, "poll_interval": 0.05, **kw}))

    return DashApp()


def rendered_text(widget) -> str:
    from textual.geometry import Region

    width, height = widget.outer_size
    strips = widget.render_lines(Region(0, 0, width, height))
    return "\n".join("".join(seg.text for seg in strip).rstrip() for strip in strips)


def wait_finished(run, proc_pid: int, timeout: float = 240.0) -> dict:
    """Wait for the trainer (not our child: the app started it) to write ``finished`` and exit."""
    import psutil

    end = time.monotonic() + timeout
    reader = ev.EventReader(run.events)
    while time.monotonic() < end:
        for e in reader.read_new():
            if e["type"] == ev.FINISHED:
                try:
                    psutil.Process(proc_pid).wait(timeout=30)
                except psutil.NoSuchProcess:
                    pass
                return e
        if not psutil.pid_exists(proc_pid):
            for e in reader.read_new():
                if e["type"] == ev.FINISHED:
                    return e
            raise AssertionError(f"trainer {proc_pid} exited without finished; log: {run.log_tail(30)}")
        time.sleep(0.1)
    raise AssertionError(f"trainer did not finish in {timeout}s; log: {run.log_tail(30)}")


def kill_pid(pid: int | None) -> None:
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
