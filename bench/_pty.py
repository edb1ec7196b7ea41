"""A child process on a pseudo-terminal of a given size, as a user over SSH runs the app: shared by the
benches that measure the app's first frame, memory and terminal output (app_attach, compare_runs).

It reads everything the child writes (counting the bytes, noting when given byte strings first appear),
and reports the child's RSS. The child is the calling script itself, started with ``argv`` (its
``--child ...`` mode); every child is started here in its own session and ended by ``close`` (ctrl+q,
then SIGKILL of its group after 5 s). Not a benchmark: run_all skips names starting with "_".
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from typing import Sequence


class PtyChild:
    def __init__(self, argv: Sequence[str], size: tuple[int, int] = (120, 40), env_extra: dict | None = None,
                 needles: Sequence[bytes] = (), peak_rss: bool = False):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(size[0]), LINES=str(size[1]),
                   **(env_extra or {}))
        self.t0 = time.monotonic()  # the parent's clock for the child's start
        self.t0_wall = time.time()  # the same moment on the clock the child writes into marker files
        self.proc = subprocess.Popen([sys.executable, *argv], stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self.master = master
        self.bytes = 0
        self.peak_rss = 0
        self._unseen = [bytes(n) for n in needles]
        self._tail = b""  # the last bytes read, long enough for a needle split across two reads
        self.seen_at: float | None = None  # seconds from start until every needle had appeared
        self._lock = threading.Lock()
        threading.Thread(target=self._drain, daemon=True).start()
        if peak_rss:
            threading.Thread(target=self._watch_rss, daemon=True).start()

    def _drain(self) -> None:
        keep = max((len(n) for n in self._unseen), default=1) - 1
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.bytes += len(data)
                if self._unseen:
                    window = self._tail + data
                    self._unseen = [n for n in self._unseen if n not in window]
                    self._tail = window[-keep:] if keep else b""
                    if not self._unseen:
                        self.seen_at = time.monotonic() - self.t0

    def _watch_rss(self) -> None:
        import psutil

        try:
            p = psutil.Process(self.proc.pid)
            while self.proc.poll() is None:
                self.peak_rss = max(self.peak_rss, p.memory_info().rss)
                time.sleep(0.02)
        except Exception:
            pass

    def count(self) -> int:
        with self._lock:
            return self.bytes

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the app exited early (rc {self.proc.returncode})")

    def close(self) -> None:
        try:
            os.write(self.master, b"\x11")  # ctrl+q
            self.proc.wait(5)
        except Exception:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(5)
        try:
            os.close(self.master)
        except OSError:
            pass
