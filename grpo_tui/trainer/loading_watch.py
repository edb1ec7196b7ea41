"""Stop commands while the model loads.

The controller takes commands at step boundaries, but loading a hub model can
take minutes (download, 4-bit load, vLLM engine build) before there is one.
This thread takes only ``stop`` commands in that time, acknowledges them at
once and asks for the stop, which ``TrainerContext.phase`` honours at the
next phase boundary. Pause and checkpoint wait for the first step, when they
mean something. The thread ends when training begins or a stop is taken.
"""

from __future__ import annotations

import threading

from ..core.run import events as ev
from ..core.run.rundir import STOPPING
from .context import TrainerContext
from .control import take_commands

POLL_S = 0.5


class LoadingWatch:
    def __init__(self, ctx: TrainerContext, poll_s: float = POLL_S):
        self.ctx = ctx
        self.poll_s = poll_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="grpo-tui-loading-watch", daemon=True)

    def start(self) -> "LoadingWatch":
        self._thread.start()
        return self

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._done.wait(self.poll_s):
            if self._check():
                return

    def _check(self) -> bool:
        """One look at the command queue; True when there is nothing more to watch for."""
        ctx = self.ctx
        with ctx.commands_lock:  # not while the controller takes commands, and not once it has begun
            if not ctx.loading or ctx.stop_requested.is_set():
                return True
            stops = take_commands(ctx.run, ("stop",))
            if not stops:
                return False
            ctx.request_stop("stop command")
        for cmd in stops:
            ctx.emit(ev.CONTROL, command="stop", id=cmd.get("id"), state=STOPPING,
                     message="stopping before training: the run ends when the current loading phase does")
        return True
