"""Commands from the run directory, honoured at step boundaries.

Any process queues a command file (``RunDir.send_command``); the trainer takes
them in order here, deletes each file and acknowledges it with a ``control``
event carrying the command id and the state after it. ``pause`` blocks the
training loop in a sleep-poll (0.2 s, no CPU burnt) until ``resume`` or
``stop``; ``checkpoint`` asks the Trainer to save at this step boundary.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ..core import events as ev
from ..core.rundir import PAUSED, STOPPING, TRAINING
from .context import TrainerContext

POLL_S = 0.2


@dataclass
class Decision:
    save_checkpoint: bool = False
    stop: bool = False


class Controller:
    def __init__(self, ctx: TrainerContext):
        self.ctx = ctx
        self.paused = False

    def _take(self) -> list[dict]:
        cmds = self.ctx.run.pending_commands()
        for c in cmds:
            try:
                os.unlink(c["_path"])
            except OSError:
                pass
        return cmds

    def _ack(self, cmd: dict, state: str, **extra) -> None:
        self.ctx.emit(ev.CONTROL, command=cmd.get("command"), id=cmd.get("id"), state=state, **extra)

    def poll(self, save_now=None) -> Decision:
        """Apply pending commands; blocks while paused. Returns what the trainer must do now.

        ``save_now()`` saves a checkpoint immediately; it is used for a checkpoint asked for while paused
        (the trainer's own save happens only after a step, which a paused run does not take)."""
        d = Decision()
        while True:
            for cmd in self._take():
                name = cmd.get("command")
                if name == "pause":
                    self.paused = True
                    self._ack(cmd, PAUSED)
                elif name == "resume":
                    self.paused = False
                    self._ack(cmd, TRAINING)
                elif name == "stop":
                    self.paused = False
                    d.stop = True
                    self.ctx.request_stop("stop command")
                    self._ack(cmd, STOPPING)
                elif name == "checkpoint":
                    self._ack(cmd, PAUSED if self.paused else TRAINING)
                    if self.paused and save_now is not None:
                        save_now()
                    else:
                        d.save_checkpoint = True
                else:
                    self._ack(cmd, PAUSED if self.paused else TRAINING, error=f"unknown command {name!r}")
            if self.ctx.stop_requested.is_set():
                d.stop = True
                self.paused = False
            if not self.paused:
                return d
            time.sleep(POLL_S)
