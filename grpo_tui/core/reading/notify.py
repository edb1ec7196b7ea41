"""Notifications: tell the user when a run needs them (finished, failed, crashed, stalled, an alert).

Settings (``Settings.resolve``): the user settings' ``[notify]`` table (``core.settings.user_settings``), then a
run's own ``notify_*`` fields (``--set notify_webhook=... notify_on=failed,crashed``); ``"off"``
switches a target off for one run. Targets:

* ``webhook``: an HTTP(S) URL that gets a POST with a JSON body shaped for the service the URL
  belongs to -- Slack (``{"text"}``), Discord (``{"content"}``), ntfy (``{"topic", "title",
  "message", "priority", "tags"}`` to the server's root) -- or, for any other URL, a generic object
  carrying ``text`` and ``content`` too (so Slack- and Discord-compatible receivers take it) plus the
  event, run, step and figures. ``format`` forces one shape.
* ``command``: run through the shell with the notice as JSON on stdin and in ``GRPO_TUI_EVENT``,
  ``GRPO_TUI_RUN``, ``GRPO_TUI_TITLE``, ``GRPO_TUI_MESSAGE`` (never pasted into the command line).

What leaves the machine: the run id, preset, model, state, step, reward figures, held-out accuracy,
the alert's own message, and for failures the exception's type. No completion, prompt or log text
unless ``include_text = true`` (then a failure's error line and the last lines of trainer.log ride
along: they can hold model output).

Once per event: before sending, a sender claims the notice by creating
``<run>/notified/<key>`` with O_EXCL; whoever creates it sends, everyone else skips. So the app, a
``grpo-tui notify`` watcher and the watcher the launcher starts never send twice. Every attempt is
logged to ``<run>/notify.log``. Sending runs in a background thread with a timeout; a failure is
logged, never raised: it must never slow or break anything.

Who sends what: any reader can, because a hung or killed trainer cannot speak for itself --
``Watcher`` folds each run's log (``RunSummarizer``: state, crash check, stall verdict) and turns what
changed into notices. The launcher starts ``grpo-tui notify RUN --until-done`` beside each trainer
when notifications are configured; the app runs a ``Watcher`` while it is open; users of their own
scripts run ``grpo-tui notify`` (all runs) under tmux or systemd. Events older than ``max_age_s``
when a watcher first sees them (a run that finished last week) are not announced.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..run import events as ev
from ..run.rundir import LIVE_STATES, RunDir, RunSummarizer, list_runs
# the sender's settings rules, imported back: notify.Settings, notify.EVENTS ... as before
from ..settings.notify_settings import (
    EVENTS, FORMATS, OFF, SEVERITIES, Settings, SettingsError, check_events, check_webhook,
)

NOTIFIED = "notified"
LOG = "notify.log"


@dataclass
class Notice:
    key: str  # unique per run and event: the marker file's name
    event: str  # one of EVENTS
    run_id: str
    title: str
    message: str
    severity: str = "info"  # info / warning / critical
    step: int = 0
    ts: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    detail: str = ""  # error line / log lines: sent only with include_text

    def body(self, include_text: bool) -> dict[str, Any]:
        out = {"event": self.event, "run": self.run_id, "title": self.title, "message": self.message,
               "severity": self.severity, "step": self.step, "ts": self.ts, **self.data}
        if include_text and self.detail:
            out["detail"] = self.detail
        return out


# -- what happened ------------------------------------------------------------------------------------
def _figures(s) -> str:
    parts = [f"step {s.step}/{s.max_steps}" if s.max_steps else f"step {s.step}"]
    if s.first_window_reward is not None and s.last_window_reward is not None:
        parts.append(f"reward {s.first_window_reward:.3f} → {s.last_window_reward:.3f}")
    acc = s.eval_line()
    if acc:
        parts.append(f"held-out {acc}")
    return ", ".join(parts)


def notices_for(run: RunDir, s, alerts: list[dict[str, Any]], settings: Settings, now: float,
                since: float) -> list[Notice]:
    """Notices due for one run's summary and new alert events. ``since``: the watcher's first look
    at the run minus max_age (older events are history)."""
    out: list[Notice] = []
    base = {"preset": s.preset, "model": s.model, "state": s.state, "max_steps": s.max_steps,
            "best_reward": s.best_reward, "last_reward": s.last_reward}
    tag = f"{s.id}"
    if s.state in ("completed", "stopped", "failed") and s.ended and s.ended >= since:
        sev = "critical" if s.state == "failed" else "info"
        why = ""
        if s.state == "failed" and s.error:
            why = f" ({str(s.error).split(':', 1)[0].strip()[:60]})"  # the exception's type only
        detail = str(s.error or "") + ("\n" + "\n".join(s.log_tail[-10:]) if s.log_tail else "")
        out.append(Notice(f"{s.state}-{int(s.ended * 1000)}", s.state, s.id, f"grpo-tui: {tag} {s.state}",
                          f"run {s.id} {s.state}{why}: {_figures(s)}", sev, s.step, s.ended, base, detail))
    elif s.state == "crashed" and (s.last_ts or s.created or 0) >= since:
        start = int((s.started or s.created or 0) * 1000)
        out.append(Notice(f"crashed-{start}", "crashed", s.id, f"grpo-tui: {tag} crashed",
                          f"run {s.id} crashed: the trainer (pid {s.pid or '?'}) is gone without finishing; "
                          f"{_figures(s)}", "critical", s.step, now, base, "\n".join(s.log_tail[-10:])))
    if s.stalled_since is not None and s.state in LIVE_STATES:
        out.append(Notice(f"stalled-{int(s.stalled_since * 1000)}", "stalled", s.id, f"grpo-tui: {tag} stalled",
                          f"run {s.id} {s.stall_line}; {_figures(s)}", "warning", s.step, now,
                          {**base, "stalled_since": s.stalled_since}, "\n".join(s.log_tail[-10:])))
    for a in alerts:
        ts = a.get("ts") or 0.0
        if ts < since:
            continue
        code = re.sub(r"[^A-Za-z0-9_.-]", "_", str(a.get("code") or "alert"))[:40]
        sev = str(a.get("severity") or "warning")
        out.append(Notice(f"alert-{code}-{int(a.get('step') or 0)}-{int(ts * 1000)}", "alert", s.id,
                          f"grpo-tui: {tag} {sev} alert {code}",
                          f"run {s.id} at step {a.get('step')}: {str(a.get('message') or '')[:300]}", sev,
                          int(a.get("step") or 0), ts, {**base, "code": code, "hint": a.get("hint")}))
    return [n for n in out if settings.wants(n.event, n.severity)]


# -- once only --------------------------------------------------------------------------------------------
def claim(run: RunDir, key: str) -> bool:
    """True for the one process that creates the marker for this notice."""
    d = run.path / NOTIFIED
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(d / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError:
        return False  # a read-only run directory: nobody can book it, so nobody sends (no duplicates)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "ts": time.time()}))
    return True


def log(run: RunDir | None, line: str) -> None:
    if run is None:
        return
    try:
        fd = os.open(run.path / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    except OSError:
        pass


# -- sending --------------------------------------------------------------------------------------------
def service(url: str, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "hooks.slack.com":
        return "slack"
    if host in ("discord.com", "discordapp.com") or host.endswith(".discord.com"):
        return "discord"
    if host == "ntfy.sh" or host.startswith("ntfy."):
        return "ntfy"
    return "json"


def request(notice: Notice, settings: Settings) -> tuple[str, bytes]:
    """(URL to POST to, JSON body) for the webhook's service."""
    url = settings.webhook
    kind = service(url, settings.format)
    text = f"{notice.title}\n{notice.message}"
    if settings.include_text and notice.detail:
        text += "\n" + notice.detail[-1500:]
    if kind == "slack":
        body: dict[str, Any] = {"text": text}
    elif kind == "discord":
        body = {"content": text[:2000]}
    elif kind == "ntfy":  # JSON publishing goes to the server's root with the topic in the body
        parts = urllib.parse.urlsplit(url)
        topic = parts.path.strip("/").split("/")[0]
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
        body = {"topic": topic, "title": notice.title, "message": text.split("\n", 1)[-1],
                "priority": {"critical": 5, "warning": 4}.get(notice.severity, 3),
                "tags": [notice.event]}
    else:
        body = {"text": text, "content": text[:2000], **notice.body(settings.include_text)}
    return url, json.dumps(body, default=str).encode()


def deliver(notice: Notice, settings: Settings, run: RunDir | None) -> list[str]:
    """Send now (blocking, bounded by timeout_s per target); returns the errors, also logged."""
    errors = []
    if settings.webhook:
        url, body = request(notice, settings)
        try:
            req = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "grpo-tui-notify"})
            with urllib.request.urlopen(req, timeout=settings.timeout_s) as resp:
                status = resp.status
            log(run, f"{notice.key}: webhook {_safe_url(url)} -> HTTP {status}")
        except Exception as exc:  # HTTP errors, refused connections, timeouts, DNS: logged, never raised
            errors.append(f"webhook {_safe_url(url)}: {exc}")
    if settings.command:
        payload = json.dumps(notice.body(settings.include_text), default=str)
        env = {**os.environ, "GRPO_TUI_EVENT": notice.event, "GRPO_TUI_RUN": notice.run_id,
               "GRPO_TUI_TITLE": notice.title, "GRPO_TUI_MESSAGE": notice.message,
               "GRPO_TUI_RUN_DIR": str(run.path) if run else ""}
        try:
            r = subprocess.run(settings.command, shell=True, input=payload, text=True, env=env,
                               capture_output=True, timeout=settings.timeout_s, start_new_session=True)
            log(run, f"{notice.key}: command exited {r.returncode}")
            if r.returncode:
                errors.append(f"command exited {r.returncode}: {(r.stderr or '').strip()[:200]}")
        except Exception as exc:
            errors.append(f"command: {exc}")
    for e in errors:
        log(run, f"{notice.key}: FAILED {e}")
    return errors


def _safe_url(url: str) -> str:
    """Scheme and host only: webhook paths are secrets (Slack, Discord)."""
    p = urllib.parse.urlsplit(url)
    return f"{p.scheme}://{p.netloc}/…" if p.path not in ("", "/") else f"{p.scheme}://{p.netloc}/"


class Sender:
    """Sends in daemon threads; ``join()`` waits for what is in flight (a CLI about to exit)."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self.sent: list[Notice] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def submit(self, notice: Notice, settings: Settings, run: RunDir) -> None:
        def work() -> None:
            errs = deliver(notice, settings, run)
            with self._lock:
                self.sent.append(notice)
                self.errors.extend(errs)

        t = threading.Thread(target=work, name=f"grpo-tui-notify-{notice.key}", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def join(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, end - time.monotonic()))


# -- watching ---------------------------------------------------------------------------------------------
class RunWatch:
    """One run, folded incrementally (its summary, crash and stall verdicts, its alert events)."""

    TYPES = (ev.RUN_STARTED, ev.PHASE, ev.METRICS, ev.CONTROL, ev.EVAL, ev.FINISHED, ev.ALERT, ev.CHECKPOINT)

    def __init__(self, run: RunDir, now: float, max_age_s: float) -> None:
        self.run = run
        self.reader = ev.EventReader(run.events, types=self.TYPES, max_line_bytes=ev.MAX_EVENT_LINE)
        self.folder = RunSummarizer(run)
        self.since = now - max_age_s
        self.settings: Settings | None = None
        self.settings_error: str | None = None

    def check(self, now: float) -> tuple[list[Notice], str]:
        """(notices due, the run's state with the crash verdict applied)."""
        alerts = []
        while True:
            before = self.reader.offset
            events = self.reader.read_new(2**20)
            if events:
                self.folder.feed(events)
                alerts += [e for e in events if e["type"] == ev.ALERT]
            elif self.reader.offset == before:
                break
        s = self.folder.summary
        saved = (s.state, s.log_tail)
        self.folder.check_alive(now)
        verdict = s.state
        out = list(self._notices(s, alerts, now))
        s.state, s.log_tail = saved  # keep the fold as the log says (a resume folds onto the log)
        return out, verdict

    def _notices(self, s, alerts, now) -> list[Notice]:
        if self.settings is None:
            try:
                self.settings = Settings.resolve(self.run.config() if self.run.run_json.exists() else {})
            except (SettingsError, OSError, ValueError) as exc:
                self.settings_error = str(exc)
                self.settings = Settings()
        if not self.settings.active:
            return []
        return notices_for(self.run, s, alerts, self.settings, now, self.since)


class Watcher:
    """Checks runs every ``interval`` seconds and sends what is due (once, see ``claim``).

    ``runs``: the runs to follow (None: every run under the runs root, new ones included);
    ``until_done``: stop once every followed run has ended (finished or crashed) and nothing is in flight."""

    def __init__(self, runs: list[RunDir] | None = None, *, interval: float = 5.0, until_done: bool = False,
                 clock=time.time, max_age_s: float | None = None) -> None:
        self.fixed = runs
        self.interval = interval
        self.until_done = until_done
        self.clock = clock
        self.max_age_s = max_age_s
        self.watches: dict[Path, RunWatch] = {}
        self.sender = Sender()
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self.problems: list[str] = []

    def _runs(self) -> list[RunDir]:
        return list(self.fixed) if self.fixed is not None else list_runs()

    def check_once(self) -> tuple[list[Notice], bool]:
        """One pass: (notices claimed and submitted, every followed run has ended)."""
        now = self.clock()
        sent: list[Notice] = []
        all_done = True
        for run in self._runs():
            w = self.watches.get(run.path)
            if w is None:
                age = self.max_age_s
                if age is None:
                    try:
                        age = Settings.resolve(run.config() if run.run_json.exists() else {}).max_age_s
                    except (SettingsError, OSError, ValueError):
                        age = Settings.max_age_s
                w = self.watches[run.path] = RunWatch(run, now, age)
            try:
                notices, state = w.check(now)
            except OSError as exc:
                self.problems.append(f"{run.id}: {exc}")
                continue
            if w.settings_error and w.settings_error not in self.problems:
                self.problems.append(w.settings_error)
            if state in LIVE_STATES:
                all_done = False
            for n in notices:
                if claim(run, n.key):
                    self.sender.submit(n, w.settings or Settings(), run)
                    sent.append(n)
        return sent, all_done

    def run_forever(self) -> None:
        while not self.stop_event.is_set():
            _sent, done = self.check_once()
            if self.until_done and done:
                break
            self.stop_event.wait(self.interval)
        self.sender.join(max((w.settings.timeout_s for w in self.watches.values() if w.settings), default=10) + 1)

    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self.run_forever, name="grpo-tui-notify", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)


def configured(run_config: dict[str, Any] | None = None) -> bool:
    """Whether notifications have a target (user settings or this run's fields); False on bad settings."""
    try:
        return Settings.resolve(run_config).active
    except SettingsError:
        return False


def spawn_watcher(run: RunDir) -> int | None:
    """Start ``grpo-tui notify RUN --until-done`` beside a launched trainer (own session, output in
    notify.log) when notifications are configured; its pid, or None. Never raises."""
    import sys

    try:
        if not configured(run.config()):
            return None
        fd = os.open(run.path / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            proc = subprocess.Popen([sys.executable, "-m", "grpo_tui", "notify", str(run.path), "--until-done"],
                                    stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        finally:
            os.close(fd)
        return proc.pid
    except Exception as exc:  # a notification watcher must never stop a launch
        log(run, f"could not start the notification watcher: {exc}")
        return None
