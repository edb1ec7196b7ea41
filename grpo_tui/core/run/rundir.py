"""Run directories: where a run lives, how it is created, steered and summarised.

Layout of ``<runs root>/<run id>/`` (the directory and its files are private: 0700/0600)::

    run.json        resolved RunConfig + hardware snapshot + launch info (written once)
    events.jsonl    the small event stream (see core.run.events)
    samples.jsonl   one ``samples`` event per step (big; read on demand)
    trainer.log     the trainer's stdout/stderr
    commands/       pending commands, one JSON file each (see send_command)
    settings.json   settings changed while the run trained, in force (core.run.live_settings)
    adapter/        the saved LoRA adapter (on stop / finish)
    checkpoints/    trainer checkpoints (for --resume)
    exports/        sample exports

The runs root is ``$GRPO_TUI_HOME/runs`` when that variable is set (tests use it),
else ``platformdirs.user_data_dir("grpo-tui")/runs``.

A run directory is created under a dot-prefixed temporary name and renamed
into place only once run.json is complete, so a failed launch never leaves a
half-made directory that ``runs`` would list.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import events as ev
from . import metric_names as M
from . import stall
from ..util.formatting import duration
from ..util.paths import cache_home, config_home, home, runs_root  # noqa: F401  (re-exported: their old home)

RUN_JSON = "run.json"
EVENTS = "events.jsonl"
SAMPLES = "samples.jsonl"
TRAINER_LOG = "trainer.log"
TRAINER_PID = "trainer.pid"
COMMANDS = "commands"
ADAPTER = "adapter"
CHECKPOINTS = "checkpoints"
EXPORTS = "exports"

COMMAND_NAMES = ("pause", "resume", "stop", "checkpoint", "ask", "set")
# Eval results by "when", in the order they are taken (base model, before training, after the format
# warm start, after training, on request).
EVAL_ORDER = ("base", "before", "warmstart", "after", "manual")

# Run states shown to users.
LAUNCHING = "launching"  # run.json written, trainer not started yet
LOADING = "loading"
TRAINING = "training"
PAUSED = "paused"
STOPPING = "stopping"
COMPLETED = ev.COMPLETED
STOPPED = ev.STOPPED
FAILED = ev.FAILED
CRASHED = "crashed"
LIVE_STATES = (LAUNCHING, LOADING, TRAINING, PAUSED, STOPPING)


def private_dir(path: Path) -> Path:
    """mkdir -p with 0700 on the leaf (and on parents we create)."""
    created = []  # Path.mkdir gives parents the default mode, not ``mode``: fix the ones we make
    p = path
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for p in created:
        os.chmod(p, 0o700)
    os.chmod(path, 0o700)
    return path


def atomic_write(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Write via a temporary file in the same directory, then rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    raw = data.encode() if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class RunNotFound(LookupError):
    pass


@dataclass
class RunDir:
    path: Path

    # -- paths -------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.path.name

    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    @property
    def events(self) -> Path:
        return self.path / EVENTS

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES

    @property
    def trainer_log(self) -> Path:
        return self.path / TRAINER_LOG

    @property
    def commands(self) -> Path:
        return self.path / COMMANDS

    @property
    def adapter(self) -> Path:
        return self.path / ADAPTER

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def exports(self) -> Path:
        return self.path / EXPORTS

    # -- contents --------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """run.json as a dict (config, hardware, created, ...)."""
        return json.loads(self.run_json.read_text())

    def config(self) -> dict[str, Any]:
        return self.info().get("config", {})

    def log_tail(self, lines: int = 20) -> list[str]:
        try:
            with open(self.trainer_log, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 16384))
                text = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:]

    def latest_checkpoint(self) -> Path | None:
        if not self.checkpoints.is_dir():
            return None
        cps = [p for p in self.checkpoints.glob("checkpoint-*") if p.is_dir()]
        cps.sort(key=lambda p: int(p.name.rsplit("-", 1)[-1]) if p.name.rsplit("-", 1)[-1].isdigit() else -1)
        return cps[-1] if cps else None

    def launched_pid(self) -> tuple[int | None, float | None]:
        """(pid, create_time) the launcher recorded in trainer.pid, if any."""
        try:
            data = json.loads((self.path / TRAINER_PID).read_text())
            return int(data["pid"]), data.get("create_time")
        except (OSError, ValueError, KeyError, TypeError):
            return None, None

    # -- commands --------------------------------------------------------------------
    def send_command(self, command: str, **payload: Any) -> str:
        """Queue a command for the trainer; returns its id. Any process may call this."""
        if command not in COMMAND_NAMES:
            raise ValueError(f"unknown command {command!r}; use one of {', '.join(COMMAND_NAMES)}")
        # No parents=True here: a command for a deleted run must fail, not re-create its directory.
        try:
            self.commands.mkdir(mode=0o700, exist_ok=True)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "the run directory no longer exists", str(self.path)) from None
        # Sortable, unique across processes: time_ns, then pid and randomness.
        cid = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(3).hex()}"
        body = json.dumps({"id": cid, "command": command, "ts": time.time(), **payload})
        atomic_write(self.commands / f"{cid}.json", body)
        return cid

    def pending_commands(self) -> list[dict[str, Any]]:
        """Commands not yet taken, oldest first (the trainer takes them)."""
        # The trainer asks every step: one scandir (pathlib's glob cost ~0.1 ms a step).
        try:
            with os.scandir(self.commands) as it:
                names = sorted(e.name for e in it if e.name.endswith(".json") and not e.name.startswith("."))
        except OSError:  # no commands folder (yet), or not a folder
            return []
        out = []
        for name in names:
            p = self.commands / name
            try:
                data = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            data["_path"] = str(p)
            out.append(data)
        return out


def list_runs() -> list[RunDir]:
    """All runs, newest first (by id, which starts with the creation time)."""
    root = runs_root()
    if not root.is_dir():
        return []
    out = [RunDir(p) for p in root.iterdir() if not p.name.startswith(".") and (p / RUN_JSON).is_file()]
    out.sort(key=lambda r: r.id, reverse=True)
    return out


def new_run_id(preset: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in preset)[:32] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{os.urandom(2).hex()}"


def create_run(config: dict[str, Any], *, hardware: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None, run_id: str | None = None) -> RunDir:
    """Create a run directory atomically with its run.json."""
    root = private_dir(runs_root())
    rid = run_id or new_run_id(str(config.get("name", "run")))
    tmp = root / f".{rid}.creating"
    private_dir(tmp)
    try:
        for sub in (COMMANDS, CHECKPOINTS, EXPORTS):
            private_dir(tmp / sub)
        info = {"id": rid, "created": time.time(), "config": config, "hardware": hardware or {}, **(extra or {})}
        atomic_write(tmp / RUN_JSON, json.dumps(info, indent=2))
        final = root / rid
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunDir(final)


# -- liveness ---------------------------------------------------------------------------
def pid_alive(pid: int | None, create_time: float | None = None) -> bool:
    """True when the process exists, is not a zombie, and (if given) started at create_time."""
    if not pid:
        return False
    try:
        import psutil

        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if create_time is not None and abs(proc.create_time() - float(create_time)) > 1.0:
            return False  # the pid was reused by another process
        return True
    except Exception:
        return False


@dataclass
class RunSummary:
    """What ``runs`` lists and headers show: folded from the event stream."""

    id: str
    path: Path
    preset: str = ""
    model: str = ""
    backend: str = ""
    state: str = LAUNCHING
    step: int = 0
    max_steps: int = 0
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    last_ts: float | None = None
    pid: int | None = None
    pid_create_time: float | None = None
    phase: str = ""
    phase_message: str = ""
    best_reward: float | None = None
    last_reward: float | None = None
    first_window_reward: float | None = None
    last_window_reward: float | None = None
    error: str | None = None
    log_tail: list[str] = field(default_factory=list)
    eval: dict[str, Any] = field(default_factory=dict)
    adapter_path: str | None = None
    source: str = ""  # "" launched by grpo-tui, "watched" (grpo_tui.watch in a user's script), "trl-folder"
    rewards_seen: list[float] = field(default_factory=list, repr=False)
    # stalls (core.run.stall): the last sign of progress, the recent median step time, and the verdict
    progress_ts: float | None = None
    median_step_s: float | None = None
    stalled_since: float | None = None
    stall_line: str = ""
    # the trainer's estimate of a step at launch (core.planning.cpu_speed; CPU runs of measured models), and the
    # step that start began from: until a step is measured, the estimate sets the stall allowance
    expected_step_s: float | None = None
    start_step: int = 0
    # `grpo-tui set` while it trained: {step, changes: {key: {old, new}}}, in order (core.run.live_settings)
    settings_changes: list[dict[str, Any]] = field(default_factory=list)
    fork_of: str = ""  # "RUN@STEP" for a run forked from another's checkpoint (`grpo-tui run --fork`)

    def changes_line(self, limit: int = 60) -> str:
        """'learning_rate@12, max_completion_length@40' ('' when nothing was changed)."""
        text = ", ".join(f"{k}@{c['step']}" for c in self.settings_changes for k in c["changes"])
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def first_step_line(self) -> str:
        """'first step: expected ~4m10s' while a live run waits for its first step ('' otherwise)."""
        if self.state != TRAINING or self.step > self.start_step or not self.expected_step_s:
            return ""
        return f"first step: expected ~{duration(self.expected_step_s)}"

    def accuracies(self) -> list[tuple[str, float]]:
        """(when, held-out accuracy) from the eval events, in EVAL_ORDER."""
        out = []
        for when in EVAL_ORDER:
            acc = (self.eval.get(when) or {}).get("accuracy")
            if isinstance(acc, (int, float)) and not isinstance(acc, bool):
                out.append((when, float(acc)))
        return out

    def eval_line(self) -> str:
        """'before 21.0% -> after 43.0%' ('' when the run has not evaluated)."""
        return " -> ".join(f"{when} {100 * acc:.1f}%" for when, acc in self.accuracies())

    def eval_source(self) -> tuple[str | None, int | None]:
        """(rows evaluated on, how many) of the newest eval result."""
        for when in reversed(EVAL_ORDER):
            got = self.eval.get(when)
            if got:
                return got.get("name"), got.get("n")
        return None, None

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


class RunSummarizer:
    """Folds events into a RunSummary incrementally (used by `runs`, headless attach, the app)."""

    WINDOW = 30

    def __init__(self, run: RunDir):
        self.run = run
        info: dict[str, Any] = {}
        try:
            info = run.info()
        except (OSError, ValueError):
            pass
        cfg = info.get("config", {})
        self.summary = RunSummary(
            id=run.id, path=run.path, preset=str(cfg.get("name", "")), model=str(cfg.get("model", "")),
            backend=str(cfg.get("backend", "")), max_steps=int(cfg.get("max_steps", 0) or 0),
            created=float(info.get("created", 0.0) or 0.0), source=str(info.get("source", "") or ""),
        )
        fork = info.get("fork_of")
        if isinstance(fork, dict) and fork.get("run"):
            self.summary.fork_of = f"{fork['run']}@{fork.get('step', '?')}"
        self.finished = False
        self._reward_steps: list[int] = []  # step of each rewards_seen entry
        self._step_times: deque[float] = deque(maxlen=101)  # seconds per step, recent steps (stalls)
        self._progress_step = 0
        self.summary.progress_ts = self.summary.created or None

    def feed(self, events: list[ev.Event]) -> None:
        s = self.summary
        for e in events:
            t = e["type"]
            s.last_ts = e.get("ts", s.last_ts)
            step = e.get("step", 0)
            if isinstance(step, int) and step > s.step:
                s.step = step
            self._progress(e, t, step)
            if t == ev.RUN_STARTED:
                # A resumed run appends a new run_started after an earlier finished event.
                self.finished = False
                s.error, s.log_tail = None, []
                s.pid = e.get("pid")
                s.pid_create_time = e.get("pid_create_time")
                s.started = e.get("ts")
                if isinstance(step, int):  # a resume restarts from its checkpoint's step
                    s.step = step
                if e.get("max_steps"):
                    s.max_steps = int(e["max_steps"])
                s.state = LOADING
                s.start_step = s.step
                expected = e.get("expected_step_s")
                s.expected_step_s = float(expected) if isinstance(expected, (int, float)) and expected > 0 else None
            elif t == ev.PHASE:
                s.phase = str(e.get("name", ""))
                s.phase_message = str(e.get("message", ""))
                if not s.max_steps and s.phase == "training" and isinstance(e.get("total"), int):
                    s.max_steps = e["total"]  # a watched script training by epochs: known once training begins
                if not self.finished and s.state not in (PAUSED, STOPPING):
                    s.state = TRAINING if s.phase == "training" else LOADING
            elif t == ev.METRICS:
                r = (e.get("metrics") or {}).get(M.REWARD)
                if isinstance(r, (int, float)):
                    s.last_reward = float(r)
                    s.best_reward = r if s.best_reward is None else max(s.best_reward, r)
                    # A resumed run replays the steps after its checkpoint: the newer value wins.
                    while self._reward_steps and self._reward_steps[-1] >= step:
                        self._reward_steps.pop()
                        s.rewards_seen.pop()
                    s.rewards_seen.append(float(r))
                    self._reward_steps.append(step if isinstance(step, int) else 0)
                if not self.finished and s.state in (LOADING, LAUNCHING):
                    s.state = TRAINING
            elif t == ev.CONTROL:
                if not self.finished:
                    st = e.get("state")
                    if st in (PAUSED, TRAINING, STOPPING):
                        s.state = st
            elif t == ev.SETTINGS_CHANGED:
                if isinstance(e.get("changes"), dict) and e["changes"] and not e.get("resumed"):
                    s.settings_changes.append({"step": step, "changes": e["changes"]})
            elif t == ev.EVAL:
                s.eval[str(e.get("when", "manual"))] = {
                    "accuracy": e.get("accuracy"), "n": e.get("n"), "name": e.get("name")}
            elif t == ev.FINISHED:
                self.finished = True
                s.state = str(e.get("status", FAILED))
                s.ended = e.get("ts")
                s.error = e.get("error")
                s.log_tail = list(e.get("log_tail") or [])
                s.adapter_path = e.get("adapter_path")
        r = s.rewards_seen
        if r:
            w = min(self.WINDOW, len(r))
            s.first_window_reward = sum(r[:w]) / w
            s.last_window_reward = sum(r[-w:]) / w

    def _progress(self, e: ev.Event, t: str, step: Any) -> None:
        """Remember the last sign of progress and how long steps take (core.run.stall)."""
        s, ts = self.summary, e.get("ts")
        if not isinstance(ts, (int, float)):
            return
        if t == ev.METRICS:
            if not isinstance(step, int) or step <= self._progress_step:
                return
            if s.progress_ts is not None and self._progress_step and s.state == TRAINING:
                self._step_times.append((ts - s.progress_ts) / (step - self._progress_step))
            self._progress_step = step
        elif t == ev.RUN_STARTED:
            self._progress_step = step if isinstance(step, int) else 0
        elif t not in (ev.PHASE, ev.CONTROL, ev.EVAL, ev.CHECKPOINT) and s.state not in (LOADING, LAUNCHING):
            return  # logs and alerts are no progress while training (loading: every event is)
        s.progress_ts = float(ts)

    def check_stall(self, now: float | None = None, gpu_idle_since: float | None = None):
        """Fill ``stalled_since`` / ``stall_line`` for a live run that stopped making progress."""
        s = self.summary
        now = time.time() if now is None else now
        if self.policy is None:
            self.policy = stall.StallPolicy.load()
        s.median_step_s = stall.median(self._step_times)
        found = stall.check(s.state, s.progress_ts, s.median_step_s, now, self.policy, gpu_idle_since,
                            expected_step_s=s.expected_step_s)
        s.stalled_since = found.since if found else None
        s.stall_line = found.line(now) if found else ""
        if found and not s.log_tail:
            s.log_tail = self.run.log_tail()
        return found

    policy = None  # core.run.stall.StallPolicy, loaded on first use

    def check_alive(self, now: float | None = None, gpu_idle_since: float | None = None) -> RunSummary:
        """Mark a live-looking run whose trainer is gone as crashed; a live one that makes no
        progress gets its stall verdict (``check_stall``)."""
        s = self.summary
        if s.source == "trl-folder":  # no trainer of ours to ask (core.run.trl_folder): state from what TRL wrote
            if not self.finished:
                s.state = "last written " + time.strftime("%H:%M", time.localtime(s.last_ts or s.created))
            return s
        if not self.finished and s.state != LAUNCHING and not pid_alive(s.pid, s.pid_create_time):
            s.state = CRASHED
            s.log_tail = self.run.log_tail()
        elif not self.finished and s.state == LAUNCHING:
            # The launcher writes trainer.pid right after spawning; gone before
            # run_started means the trainer died during start-up.
            pid, ctime = self.run.launched_pid()
            if pid and not pid_alive(pid, ctime):
                s.state = CRASHED
                s.log_tail = self.run.log_tail()
        self.check_stall(now, gpu_idle_since)
        return s


def summarize(run: RunDir) -> RunSummary:
    folder = RunSummarizer(run)
    reader = ev.EventReader(run.events, max_line_bytes=ev.MAX_EVENT_LINE)
    while True:  # 4 MiB at a time: a 100,000-step log never sits in memory as one list of dicts
        before = reader.offset
        events = reader.read_new(4 * 2**20)
        if not events:
            if reader.offset == before:  # the end (or a log that cannot be read: a directory...)
                break
            continue  # inside one long line
        folder.feed(events)
    return folder.check_alive()


def iter_summaries() -> Iterator[RunSummary]:
    for run in list_runs():
        yield summarize(run)
