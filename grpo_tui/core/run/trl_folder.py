"""A plain TRL output folder, read as a grpo-tui run (``grpo-tui open PATH``): read-only.

TRL writes two things a dashboard can use, with no grpo-tui code in the loop:

* ``trainer_state.json`` -- ``log_history``, one dict per logged step under TRL's own metric names, plus
  the training summary (``train_runtime`` ...) when training ends. Written into each
  ``checkpoint-<N>/`` at every save and into the output folder by ``trainer.save_state()``; we read
  whichever of the output folder's and the newest checkpoint's was written last.
* ``completions/completions_<step>.parquet`` (``log_completions=True``) -- step, prompt, completion, one
  column per reward function, any extra logged columns, advantage.

``TrlFolder`` turns them into the events of ``core.run.events`` (``run_started``, ``phase``, ``metrics`` per
step, ``samples`` per completions file, ``log`` + ``finished`` for the summary). ``Opened`` keeps a
mirror run directory of those events under ``cache_home()/opened/`` -- the same files every reader of a
launched run reads (monitor, samples store, report, export), so the app shows an opened folder with no
code of its own -- and brings it up to date with ``sync()`` (``Follower`` calls it once a second while
a view is open). Nothing is ever written into the TRL folder.

Timestamps: log_history has none. The newest entry gets the state file's modification time and earlier
ones are placed back from it by TRL's logged ``step_time``; a completions file's time is its own.
State: ``finished`` once the summary is logged (completed, or stopped when it ended before
``max_steps``) or a state file says ``global_step`` reached ``max_steps``; otherwise the run reads "last written HH:MM" (``rundir.RunSummarizer.check_alive``).

Bad input: a folder with neither file, or a damaged file, is a ``FolderError`` (one line; the CLI exits
2). A file modified in the last ``RECENT_S`` seconds that does not parse is taken as being written
("not yet written") and read again at the next sync. pyarrow is imported only when a completions file
is read.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import orjson

from . import events as ev
from . import metric_names as M
from .messages import chat_text
from ..util.numbers import finite
from ..util.paths import cache_home
from .rundir import RUN_JSON, RunDir, atomic_write, private_dir

SOURCE = "trl-folder"
STATE_FILE = "trainer_state.json"
COMPLETIONS = "completions"
MIRROR_STATE = ".mirror.json"
RECENT_S = 10.0  # a file that does not parse and changed this recently is still being written
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss")
_COMPLETIONS_RE = re.compile(r"^completions_(\d+)\.parquet$")
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
_ROW_KEYS = ("step", "prompt", "completion", "advantage", "image", "images")


class FolderError(ValueError):
    """A TRL folder that cannot be read (one line, for the CLI's exit 2)."""


class NotYetWritten(Exception):
    """A file that is being written (it parses at a later read)."""


def _recent(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime < RECENT_S
    except OSError:
        return False


def newest_checkpoint_state(folder: Path) -> Path | None:
    best: tuple[int, Path] | None = None
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    for entry in entries:
        m = _CHECKPOINT_RE.match(entry.name)
        if m and (best is None or int(m.group(1)) > best[0]):
            state = Path(entry.path) / STATE_FILE
            if state.is_file():
                best = (int(m.group(1)), state)
    return best[1] if best else None


def state_file(folder: Path) -> Path | None:
    """The output folder's trainer_state.json or the newest checkpoint's, whichever was written last."""
    own = folder / STATE_FILE
    cp = newest_checkpoint_state(folder)
    found = [p for p in (own, cp) if p is not None and p.is_file()]
    if not found:
        return None
    return max(found, key=lambda p: p.stat().st_mtime)


def completion_files(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every completions parquet, in step order."""
    d = folder / COMPLETIONS
    try:
        entries = list(os.scandir(d))
    except OSError:
        return []
    out = [(int(m.group(1)), Path(e.path)) for e in entries if (m := _COMPLETIONS_RE.match(e.name))]
    out.sort()
    return out


def looks_like(folder: Path) -> bool:
    return folder.is_dir() and (state_file(folder) is not None or bool(completion_files(folder)))


def read_state(path: Path) -> dict[str, Any]:
    """trainer_state.json as a dict with a ``log_history`` list."""
    try:
        data = orjson.loads(path.read_bytes())
        if not isinstance(data, dict) or not isinstance(data.get("log_history"), list):
            raise ValueError("no log_history list")
        return data
    except (OSError, ValueError) as exc:
        if _recent(path):
            raise NotYetWritten(str(path)) from None
        raise FolderError(f"{path}: damaged trainer_state.json ({_first_line(exc)}); "
                          "TRL rewrites it at the next save") from None


def read_completions(path: Path) -> list[dict[str, Any]]:
    """A completions parquet's rows (dicts, TRL's columns)."""
    try:
        import pyarrow.parquet as pq  # lazily: only an opened folder with completions pays for it

        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError for torn files
        if _recent(path):
            raise NotYetWritten(str(path)) from None
        raise FolderError(f"{path}: damaged completions file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:160] if text else type(exc).__name__)


def _num(v: Any) -> float | None:
    return finite(v, bools=True)  # TRL's log history: flags count as 0/1


def _text(value: Any) -> str:
    return chat_text(value)  # prompts/completions may be chat message lists, as the sample store reads them


def reward_names(log_history: list[dict[str, Any]]) -> list[str]:
    """Reward function names from ``rewards/<fn>/mean`` keys, in first-seen order."""
    names: list[str] = []
    for entry in log_history[:50]:
        for k in entry:
            name = M.component_of(k)
            if name is not None and name not in names:
                names.append(name)
    return names


def metrics_events(entries: list[dict[str, Any]], t_end: float) -> Iterator[ev.Event]:
    """``metrics`` events (entries of one step merged) and, for the summary entry, ``log`` + nothing else:
    the caller writes ``finished``. Timestamps placed back from ``t_end`` by the logged step times."""
    merged: list[tuple[int, dict[str, float], bool]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        step = entry.get("step")
        if not isinstance(step, int):
            continue
        summary = any(k in entry for k in SUMMARY_KEYS)
        values = {k: float(v) for k, v in entry.items()
                  if (type(v) is float or type(v) is int) and k != "step" and math.isfinite(v)}
        if merged and merged[-1][0] == step and not summary and not merged[-1][2]:
            merged[-1][1].update(values)
        else:
            merged.append((step, values, summary))
    ts = t_end
    stamps: list[float] = []
    for i in range(len(merged) - 1, -1, -1):
        stamps.append(ts)
        step, values, summary = merged[i]
        prev_step = merged[i - 1][0] if i > 0 else step
        per_step = values.get(M.STEP_TIME) if not summary else 0.0
        ts -= (per_step or 0.0) * max(1, step - prev_step) if i > 0 else 0.0
    stamps.reverse()
    for (step, values, summary), t in zip(merged, stamps):
        if summary:
            e = ev.make_event(ev.LOG, step, level="info", message="training summary", summary=values)
        else:
            e = ev.make_event(ev.METRICS, step, metrics=values)
        e["ts"] = t
        yield e


def sample_rows(rows: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """TRL's completion columns as the samples schema: rewards per function, total (unweighted sum:
    the folder does not record the weights), advantage, group (consecutive rows of one prompt)."""
    out = []
    group, last_prompt = -1, object()
    for r in rows:
        cols = names or [k for k, v in r.items() if k not in _ROW_KEYS and _num(v) is not None]
        rewards = {k: _num(r.get(k)) for k in cols if k in r}
        valid = [v for v in rewards.values() if v is not None]
        prompt = _text(r.get("prompt"))
        if prompt != last_prompt:
            group, last_prompt = group + 1, prompt
        row: dict[str, Any] = {"prompt": prompt, "completion": _text(r.get("completion")), "rewards": rewards,
                               M.SAMPLE_REWARD: sum(valid) if valid else None, "advantage": _num(r.get("advantage")),
                               "group": group}
        extra = {k: v for k, v in r.items() if k not in _ROW_KEYS and k not in rewards
                 and isinstance(v, (str, int, float, bool))}
        if extra:
            row["extra"] = extra
        out.append(row)
    return out


def _model_name(folder: Path, state: Path | None) -> str:
    for d in ([state.parent] if state is not None else []) + [folder]:
        for name, key in (("adapter_config.json", "base_model_name_or_path"), ("config.json", "_name_or_path")):
            try:
                value = orjson.loads((d / name).read_bytes()).get(key)
            except (OSError, ValueError, AttributeError):
                continue
            if value:
                return str(value)
    return ""


def mirror_path(folder: Path) -> Path:
    folder = folder.resolve()
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in folder.name)[:40] or "trl"
    return cache_home() / "opened" / f"{safe}-{digest}"


class Opened:
    """A TRL folder's mirror run directory, brought up to date by ``sync()`` (any number of processes:
    a lock file makes one of them write at a time)."""

    def __init__(self, folder: Path, mirror: Path | None = None):
        self.folder = Path(folder).resolve()
        self.mirror = mirror or mirror_path(self.folder)
        self.run = RunDir(self.mirror)
        self.pending: str | None = None  # "not yet written" file, if the last sync met one
        self.samples_left = 0  # completions files not mirrored yet

    # -- state of the mirror -----------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            data = orjson.loads((self.mirror / MIRROR_STATE).read_bytes())
            if data.get("folder") == str(self.folder):
                return data
        except (OSError, ValueError):
            pass
        return {}

    def _save(self, st: dict[str, Any]) -> None:
        atomic_write(self.mirror / MIRROR_STATE, orjson.dumps(st))

    def _reset(self, state: Path | None, log_history: list[dict[str, Any]], state_data: dict[str, Any]) -> dict:
        """A fresh mirror: run.json, empty streams, run_started."""
        for stream in (self.run.events, self.run.samples):
            stream.unlink(missing_ok=True)
        max_steps = int(state_data.get("max_steps") or 0)
        names = reward_names(log_history)
        config = {"name": self.folder.name, "model": _model_name(self.folder, state), "backend": "trl",
                  "max_steps": max_steps, "rewards": names,
                  "logging_steps": int(state_data.get("logging_steps") or 1)}
        info = {"id": self.mirror.name, "created": _mtime(self.folder), "config": config, "hardware": {},
                "source": SOURCE, "folder": str(self.folder), "read_only": True}
        atomic_write(self.run.run_json, orjson.dumps(info, option=orjson.OPT_INDENT_2))
        first_ts = _first_write(self.folder)
        with ev.EventWriter(self.run.events) as w:
            e = ev.make_event(ev.RUN_STARTED, 0, pid=None, pid_create_time=None, config=config, hardware={},
                              resumed_from=None, max_steps=max_steps, source=SOURCE, folder=str(self.folder))
            e["ts"] = first_ts
            w.write(e)
            p = ev.make_event(ev.PHASE, 0, name="training", message=f"TRL output folder {self.folder}",
                              progress=None, current=0, total=max_steps or None)
            p["ts"] = first_ts
            w.write(p)
        return {"folder": str(self.folder), "entries": 0, "first": None, "last_step": 0, "finished": False,
                "max_steps": max_steps, "names": names, "parquet": {}}

    # -- sync ------------------------------------------------------------------------------------
    def sync(self, samples_budget: int | None = None) -> bool:
        """Mirror what the folder gained since the last sync; True when events were added. At most
        ``samples_budget`` completions files are read (None: all); the rest wait for the next call."""
        private_dir(self.mirror)
        with open(self.mirror / ".lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # another process is syncing this folder right now
            try:
                return self._sync(samples_budget)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _sync(self, samples_budget: int | None) -> bool:
        if not self.folder.is_dir():
            raise FolderError(f"{self.folder}: the folder is gone")
        self.pending = None
        state = state_file(self.folder)
        st = self._load()
        data: dict[str, Any] = {}
        sig = _signature(state)
        if state is not None and (sig != st.get("state_sig") or not self.run.run_json.is_file()):
            try:
                data = read_state(state)  # 10,000 logged steps: ~0.2 s of parsing, so only when it changed
            except NotYetWritten:
                self.pending = f"{state} not yet written"
                sig = None
        elif state is not None:
            return self._sync_samples(st, samples_budget, save=True)
        history = data.get("log_history") or []
        first = orjson.dumps(history[0]).decode() if history else None
        if (not st or not self.run.run_json.is_file()
                or len(history) < st.get("entries", 0) and data
                or st.get("first") and first and st["first"] != first):
            st = self._reset(state, history, data)  # new, or the folder now holds another run
        changed = False
        with ev.EventWriter(self.run.events) as w:
            if data and len(history) > st["entries"]:
                if not st["names"]:
                    st["names"] = reward_names(history)
                if not st.get("max_steps") and data.get("max_steps"):
                    st["max_steps"] = int(data["max_steps"])
                    p = ev.make_event(ev.PHASE, st["last_step"], name="training", message="training",
                                      progress=None, current=st["last_step"], total=st["max_steps"])
                    w.write(p)
                t_end = state.stat().st_mtime if state is not None else time.time()
                batch = _Batch(w)
                new = [e for e in history[st["entries"]:] if isinstance(e, dict)
                       and isinstance(e.get("step"), int) and (e["step"] > st["last_step"] or _is_summary(e))]
                for e in metrics_events(new, t_end):
                    batch.write(e)
                    changed = True
                    if e["type"] == ev.LOG and not st["finished"]:
                        st["finished"] = True
                        status = ev.COMPLETED if e["step"] >= (st.get("max_steps") or 0) else ev.STOPPED
                        f = ev.make_event(ev.FINISHED, e["step"], status=status, error=None, traceback=None,
                                          log_tail=[], adapter_path=None)
                        f["ts"] = e["ts"]
                        batch.write(f)
                    else:
                        st["last_step"] = max(st["last_step"], e["step"])
                batch.flush()
                st["entries"] = len(history)
                st["first"] = first
            # TRL saves a last checkpoint at max_steps; the summary itself reaches a file only through
            # trainer.save_state(). Either one says training ended.
            gs = data.get("global_step")
            if (not st["finished"] and isinstance(gs, int) and st.get("max_steps")
                    and gs >= st["max_steps"] and st["last_step"] >= gs):
                st["finished"] = True
                f = ev.make_event(ev.FINISHED, gs, status=ev.COMPLETED, error=None, traceback=None, log_tail=[],
                                  adapter_path=None)
                f["ts"] = state.stat().st_mtime if state is not None else time.time()
                w.write(f)
                changed = True
        if data:
            st["state_sig"] = sig
        changed = self._sync_samples(st, samples_budget) or changed
        self._save(st)
        return changed

    def _sync_samples(self, st: dict[str, Any], budget: int | None, save: bool = False) -> bool:
        changed = self._mirror_samples(st, budget)
        if save and changed:
            self._save(st)
        return changed

    def _mirror_samples(self, st: dict[str, Any], budget: int | None) -> bool:
        done: dict[str, list] = st["parquet"]
        todo = []
        for step, path in completion_files(self.folder):
            try:
                s = path.stat()
            except OSError:
                continue
            key = [s.st_size, s.st_mtime_ns]
            if done.get(path.name) != key:
                todo.append((step, path, key, s.st_mtime))
        self.samples_left = len(todo)
        if not todo:
            return False
        changed = False
        with ev.EventWriter(self.run.samples) as w:
            for step, path, key, mtime in todo[:budget] if budget is not None else todo:
                try:
                    rows = read_completions(path)
                except NotYetWritten:
                    self.pending = f"{path.name} not yet written"
                    break  # keep step order: the files after it wait too
                except FolderError as exc:  # found damaged while following: say so in the log, go on
                    with ev.EventWriter(self.run.events) as log:
                        log.emit(ev.LOG, step, level="warning", message=f"skipped: {exc}")
                    done[path.name] = key
                    self.samples_left -= 1
                    continue
                e = ev.make_event(ev.SAMPLES, step, rows=sample_rows(rows, st["names"]))
                e["ts"] = mtime
                w.write(e)
                done[path.name] = key
                self.samples_left -= 1
                changed = True
        return changed


class _Batch:
    """Encodes events and appends them in 1 MiB writes (10,000 steps: one write per MiB, not per line)."""

    def __init__(self, writer: ev.EventWriter):
        self.writer = writer
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, event: ev.Event) -> None:
        data = ev.encode(event)
        self.parts.append(data)
        self.size += len(data)
        if self.size >= 2**20:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            view = memoryview(b"".join(self.parts))
            while view:
                n = os.write(self.writer._fd, view)
                view = view[n:]
            self.parts, self.size = [], 0


def _signature(path: Path | None) -> list | None:
    try:
        s = path.stat() if path is not None else None
    except OSError:
        return None
    return [str(path), s.st_size, s.st_mtime_ns] if s is not None else None


def _is_summary(entry: dict[str, Any]) -> bool:
    return any(k in entry for k in SUMMARY_KEYS)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _first_write(folder: Path) -> float:
    files = completion_files(folder)
    times = [_mtime(files[0][1])] if files else []
    st = state_file(folder)
    if st is not None:
        times.append(_mtime(st))
    return min(times) if times else _mtime(folder)


def open_folder(path: str | os.PathLike[str], *, samples_budget: int | None = None) -> Opened:
    """Check ``path`` is a TRL output folder and bring its mirror up to date (FolderError if not)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FolderError(f"{folder}: " + ("not a folder" if folder.exists() else "no such folder"))
    if not looks_like(folder):
        raise FolderError(f"{folder} is not a grpo-tui run directory (no {RUN_JSON}) and not a TRL output "
                          f"folder (no {STATE_FILE}, no {COMPLETIONS}/completions_<step>.parquet)")
    opened = Opened(folder)
    for _, f in completion_files(folder):
        check_parquet(f)
    opened.sync(samples_budget)  # a damaged trainer_state.json raises FolderError from here
    return opened


def check_parquet(path: Path) -> None:
    """A cheap look for damage without pyarrow: a parquet file starts and ends with ``PAR1``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4))
            tail = fh.read(4)
    except OSError as exc:
        raise FolderError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if (head != b"PAR1" or tail != b"PAR1" or size < 12) and not _recent(path):
        raise FolderError(f"{path}: damaged completions file (not a whole parquet file); "
                          "move it away to open the folder")


class Follower:
    """Keeps an ``Opened`` mirror current from a daemon thread while a view reads it.

    Metrics are mirrored in this process (cheap: the state file is parsed only when it changed).
    Completions files are read by a short-lived child process (``python -m grpo_tui.core.run.trl_folder
    PATH``) whenever new ones appear, at most every ``child_every`` seconds: pyarrow and the parquet
    tables then never sit in the app's memory (pyarrow's import alone is ~40 MB), and a first open of
    1,000 files does not compete with the first frame. ``in_process=True`` reads them here instead."""

    def __init__(self, opened: Opened, interval: float = 1.0, *, in_process: bool = False,
                 child_every: float = 5.0):
        self.opened = opened
        self.interval = interval
        self.in_process = in_process
        self.child_every = child_every
        self.error: str | None = None
        self._stop = threading.Event()
        self._last_child = -math.inf
        self._thread = threading.Thread(target=self._run, name="grpo-tui-trl-folder", daemon=True)

    def start(self) -> "Follower":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            try:
                self.opened.sync(None if self.in_process else 0)
                if self.opened.samples_left and not self.in_process:
                    self._child()
                self.error = None
            except FolderError as exc:
                self.error = str(exc)
            except Exception as exc:  # a reader thread never takes the view down
                self.error = f"{type(exc).__name__}: {exc}"
            if self._stop.wait(self.interval):
                return

    def _child(self) -> None:
        now = time.monotonic()
        if now - self._last_child < self.child_every:
            return
        self._last_child = now
        import subprocess
        import sys

        done = subprocess.run([sys.executable, "-m", __name__, str(self.opened.folder)], capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0:
            lines = (done.stderr or "").strip().splitlines()
            raise FolderError(lines[-1] if lines else f"completions reader exited {done.returncode}")


def forget(folder: Path) -> None:
    """Remove a folder's mirror (it is rebuilt at the next open)."""
    shutil.rmtree(mirror_path(folder), ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m grpo_tui.core.run.trl_folder PATH``: bring PATH's mirror up to date (the Follower's child)."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    try:
        Opened(Path(argv[0])).sync()
    except (FolderError, IndexError) as exc:
        print(f"grpo-tui: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
