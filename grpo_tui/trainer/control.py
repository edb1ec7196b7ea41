"""Commands from the run directory, honoured at step boundaries.

Any process queues a command file (``RunDir.send_command``); the trainer takes
them in order here, deletes each file and acknowledges it with a ``control``
event carrying the command id and the state after it. ``pause`` blocks the
training loop in a sleep-poll (0.2 s, no CPU burnt) until ``resume`` or
``stop``; ``checkpoint`` asks the Trainer to save at this step boundary.
With several training processes every rank polls at the same boundary and
follows the main process's decision (``rank_sync``).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

from ..core.run import events as ev
from ..core.run.rundir import PAUSED, STOPPING, TRAINING
from . import distributed, rank_sync
from .context import TrainerContext
from .rank_sync import RankSync

POLL_S = 0.2


def take_commands(run, names: tuple[str, ...] | None = None) -> list[dict]:
    """The pending commands (only ``names`` when given), oldest first, each file deleted."""
    cmds = [c for c in run.pending_commands() if names is None or c.get("command") in names]
    for c in cmds:
        try:
            os.unlink(c["_path"])
        except OSError:
            pass
    return cmds


class FolderChanges:
    """Whether a folder may hold new files since the last look, for the price of one stat.

    The trainer looks for commands at every step boundary (20 a second on the tiny preset); listing
    the folder each time was a tenth of our hooks' cost. A new file changes the folder's mtime, but
    mtimes are coarse (a kernel tick; seconds on some filesystems): a file added within the tick of
    the last change leaves it as it was. So it also says yes while the last change is recent
    (``RECENT_S``, by the wall clock the mtime is written with), and at least every ``RESCAN_S``."""

    RECENT_S = 2.0
    RESCAN_S = 1.0

    def __init__(self, path: str | os.PathLike[str], clock=time.monotonic, wall=time.time):
        self.path = os.fspath(path)  # a str: pathlib's own work every step cost more than the stat
        self._clock, self._wall = clock, wall
        self._seen: int | None = None
        self._at = -float("inf")

    def changed(self) -> bool:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            mtime = None  # no folder (yet): look, as before
        now = self._clock()
        if mtime is None or mtime != self._seen or now - self._at >= self.RESCAN_S \
                or self._wall() - mtime / 1e9 < self.RECENT_S:
            self._seen, self._at = mtime, now
            return True
        return False


@dataclass
class Decision:
    save_checkpoint: bool = False
    stop: bool = False


class Controller:
    """Takes the run's commands (main process only) and keeps every rank on the same decision.
    ``sync`` and ``is_main`` default to this process's: ``rank_sync.for_this_process()`` and the
    launcher's ``RANK``."""

    def __init__(self, ctx: TrainerContext, sync: RankSync | None = None, is_main: bool | None = None):
        self.ctx = ctx
        self.paused = False
        self._sync = sync
        self.is_main = distributed.is_main_process() if is_main is None else is_main
        self._rank_state = TRAINING
        self._changes: FolderChanges | None = None
        self.before_wait: Callable[[], None] | None = None  # called once when a pause starts blocking

    @property
    def sync(self) -> RankSync:
        if self._sync is None:  # resolved late: the process group is up only once the Trainer exists
            self._sync = rank_sync.for_this_process()
        return self._sync

    def _take(self) -> list[dict]:
        if not self.is_main:  # the command files belong to the main process
            return []
        if self._changes is None:
            self._changes = FolderChanges(self.ctx.run.commands)
        if not self.paused and not self._changes.changed():  # paused: every poll looks (5 a second)
            return []
        with self.ctx.commands_lock:
            return take_commands(self.ctx.run)

    def _ack(self, cmd: dict, state: str, **extra) -> None:
        self.ctx.emit(ev.CONTROL, command=cmd.get("command"), id=cmd.get("id"), state=state, **extra)

    def _apply_commands(self, d: Decision, can_save_now: bool) -> bool:
        """Apply the pending commands in order; True when a checkpoint is wanted right now (asked for
        while paused, when the trainer's own save after a step will not come)."""
        save_now = False
        for cmd in self._take():
            name = cmd.get("command")
            if d.stop and name in ("pause", "resume"):
                self._ack(cmd, STOPPING)  # after a stop in the same batch: the run is ending, not pausing
            elif name == "pause":
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
                self._ack(cmd, STOPPING if d.stop else PAUSED if self.paused else TRAINING)
                if self.paused and can_save_now:
                    save_now = True
                else:
                    d.save_checkpoint = True
            elif name == "ask":
                self._ask(cmd)
            elif name == "set":
                self._set(cmd, STOPPING if d.stop else PAUSED if self.paused else TRAINING)
            else:
                self._ack(cmd, PAUSED if self.paused else TRAINING, error=f"unknown command {name!r}")
        return save_now

    def _ask(self, cmd: dict) -> None:
        """Answer an ask with the live policy (trainer.ask); only while paused, never changing training."""
        from ..core.run.asks import AskError
        from .ask import AskCancelled, answer

        state = PAUSED if self.paused else TRAINING
        asker = self.ctx.extras.get("asker")
        if not self.paused:
            return self._ack(cmd, state, error="the run is not paused; pause it first, then ask")
        if asker is None:
            return self._ack(cmd, state, error="this trainer cannot generate (no model to ask)")
        if distributed.world_size() > 1:
            return self._ack(cmd, state, error="asks are not supported with several training processes")
        try:
            result = answer(self.ctx, cmd, asker)
        except AskError as exc:
            return self._ack(cmd, state, error=str(exc))
        except AskCancelled as exc:
            return self._ack(cmd, state, error=str(exc))
        except Exception as exc:  # an ask must never end the run
            self.ctx.log(f"ask failed: {type(exc).__name__}: {exc}", "warning")
            return self._ack(cmd, state, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        self._ack(cmd, state, **result)

    def _set(self, cmd: dict, state: str) -> None:
        """Change settings from the next step on (trainer.live_settings); acknowledged with the old and new
        values, and a ``settings_changed`` event that readers mark on their charts."""
        from ..core.run.live_settings import SettingsError, apply_to_config, load_overrides, parse_changes, save_overrides
        from . import live_settings

        trainer = self.ctx.extras.get("trainer")
        if state == STOPPING:
            return self._ack(cmd, state, error="the run is stopping; settings were not changed")
        if trainer is None:
            return self._ack(cmd, state, error="this trainer cannot change its settings")
        if distributed.world_size() > 1:
            return self._ack(cmd, state, error="settings cannot change with several training processes")
        try:
            hardware = self.ctx.run.info().get("hardware")
        except (OSError, ValueError):
            hardware = None
        try:
            changes = parse_changes(dict(cmd.get("settings") or {}), self.ctx.cfg, hardware=hardware,
                                    watched=bool(self.ctx.extras.get("watched")),
                                    has_reference=live_settings.has_reference(trainer))
            result = live_settings.apply(trainer, changes, self.ctx.cfg)
        except (SettingsError, live_settings.Refused) as exc:
            return self._ack(cmd, state, error=str(exc))
        except Exception as exc:  # a change must never end the run
            self.ctx.log(f"set failed: {type(exc).__name__}: {exc}", "warning")
            return self._ack(cmd, state, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        self.ctx.cfg = apply_to_config(self.ctx.cfg, changes)
        try:  # kept for --resume and forks
            save_overrides(self.ctx.run, {**load_overrides(self.ctx.run), **changes}, self.ctx.step)
        except OSError as exc:
            self.ctx.log(f"settings change not saved for --resume: {exc.strerror or exc}", "warning")
        self.ctx.emit(ev.SETTINGS_CHANGED, changes=result, id=cmd.get("id"))
        self._ack(cmd, state, changes=result)

    def restore_settings(self) -> None:
        """A resumed run (or a fork) starts with the changes in force (settings.json), applied to the
        trainer after its checkpoint is loaded; announced as one ``settings_changed`` event."""
        from ..core.run.live_settings import apply_to_config, load_overrides
        from . import live_settings

        trainer = self.ctx.extras.get("trainer")
        overrides = load_overrides(self.ctx.run) if self.is_main else {}
        if trainer is None or not overrides:
            return
        try:
            result = live_settings.apply(trainer, overrides, self.ctx.cfg)
        except Exception as exc:  # the run goes on with its launch settings, and says so
            self.ctx.log(f"settings from settings.json not applied: {type(exc).__name__}: {exc}", "warning")
            return
        self.ctx.cfg = apply_to_config(self.ctx.cfg, overrides)
        self.ctx.emit(ev.SETTINGS_CHANGED, changes=result, resumed=True)

    def poll(self, save_now=None) -> Decision:
        """Apply pending commands; blocks while paused. Returns what the trainer must do now.

        ``save_now()`` saves a checkpoint immediately; it is used for a checkpoint asked for while paused
        (the trainer's own save happens only after a step, which a paused run does not take). Every rank
        calls this at the same step boundary and gets the same decision."""
        d = Decision()
        waited = False
        while True:
            wants_save_now = self._apply_commands(d, save_now is not None)
            agreed = self.sync.agree({"paused": self.paused, "save": d.save_checkpoint, "save_now": wants_save_now,
                                      "stop": d.stop or self.ctx.stop_requested.is_set()})
            self.paused = bool(agreed["paused"])
            d.save_checkpoint = bool(agreed["save"])
            if agreed["save_now"] and save_now is not None:
                save_now()
            if agreed["stop"]:
                d.stop = True
                self.paused = False
                if not self.ctx.stop_requested.is_set():
                    self.ctx.request_stop("stop from another training process")
            if not self.is_main:
                self._note(d.stop)
            if not self.paused:
                return d
            if not waited and self.before_wait is not None:
                waited = True
                self.before_wait()  # e.g. write what the trainer held back: the paused step shows whole
            time.sleep(POLL_S)

    def _note(self, stopping: bool) -> None:
        """A line in trainer.log when a non-main rank follows a pause, resume or stop (only the main
        process writes events)."""
        state = STOPPING if stopping else PAUSED if self.paused else TRAINING
        if state != self._rank_state:
            self._rank_state = state
            print(f"rank {distributed.rank()}: {state} at step {self.ctx.step}", file=sys.stderr, flush=True)
