"""The app in a real pseudo-terminal (Textual's own Linux driver, not the headless one).

What a user over SSH gets: it draws, `q` leaves the alternate screen cleanly
with exit code 0, detaching from a live run prints how to come back, and on a
16-colour terminal only the 16 ANSI colours are used.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from tui_helpers import synthetic_run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


class Terminal:
    def __init__(self, args: list[str], *, term: str = "xterm-256color", size=(100, 30), extra_env=None):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {**os.environ, "TERM": term, "GRPO_TUI_FAKE_GPUS": "RTX 4090", **(extra_env or {})}
        env.pop("COLORTERM", None)
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "grpo_tui", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.out = b""

    def read_until(self, needle: bytes, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while needle not in self.out:
            if time.monotonic() > end:
                raise AssertionError(f"{needle!r} never appeared; got {self.out[-600:]!r}")
            self.pump(0.1)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    self.out += os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    return

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self, timeout: float = 20.0) -> int:
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.pump(0.1)
        self.pump(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
            raise AssertionError(f"did not exit; got {self.out[-600:]!r}")
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def test_start_screen_in_a_pty_and_q_restores_the_terminal():
    t = Terminal([])
    try:
        t.read_until(b"RTX 4090")  # the hardware survey landed on screen
        t.pump(0.5)
        t.press(b"q")
        assert t.wait() == 0
        assert b"\x1b[?1049l" in t.out  # left the alternate screen
        assert b"Traceback" not in t.out
    finally:
        t.close()


def test_detaching_from_a_live_run_prints_the_way_back():
    live = synthetic_run("20260102-000000-live", state="live", steps=3, max_steps=50)
    t = Terminal(["attach", live.id])
    try:
        t.read_until(b"20260102-000000-live")
        t.pump(0.5)
        t.press(b"q")
        t.read_until(b"Detach")
        t.press(b"q")
        assert t.wait() == 0
        after = t.out.rsplit(b"\x1b[?1049l", 1)[-1]  # what stays in the terminal after the app
        assert b"grpo-tui attach 20260102-000000-live" in re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", after)
    finally:
        t.close()


def test_a_16_colour_terminal_gets_only_the_16_ansi_colours():
    t = Terminal([], term="xterm")  # no 256color, no COLORTERM: Rich detects the standard palette
    try:
        t.read_until(b"RTX 4090")
        t.pump(0.5)
        t.press(b"q")
        assert t.wait() == 0
    finally:
        t.close()
    sgr = re.findall(rb"\x1b\[([0-9;]*)m", t.out)
    params = [p for s in sgr for p in s.split(b";") if p]
    assert params, "no styling at all"
    assert b"38" not in params and b"48" not in params, "256-colour or truecolour codes on a 16-colour terminal"
