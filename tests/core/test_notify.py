"""Notifications (core.reading.notify): a local HTTP server on 127.0.0.1 and a command that writes a file
stand in for Slack / Discord / ntfy. Runs are synthetic (written through the real writer) except the
end-to-end test, where the launcher starts the watcher beside a real CPU trainer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.reading import notify
from grpo_tui.core.run import stall
from grpo_tui.core.settings.config import ConfigError, RunConfig
from grpo_tui.core.run.synthetic import dead_pid, make_run

REPO = Path(__file__).resolve().parents[2]


class Hook:
    """A webhook receiver on 127.0.0.1: records every POST; ``status`` and ``hold`` shape its answer."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.status = 200
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.posts.append((self.path, json.loads(body)))
                hook.arrived.set()
                hook.hold.wait(10)
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def settings_file(home: Path, **notify_table) -> Path:
    cfg = home / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    lines = ["[notify]"]
    for k, v in notify_table.items():
        lines.append(f"{k} = {json.dumps(v)}")
    (cfg / "settings.toml").write_text("\n".join(lines) + "\n")
    return cfg / "settings.toml"


def _wait(pred, what, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def _check(runs=None):
    w = notify.Watcher(runs)
    sent, _ = w.check_once()
    w.sender.join(15)
    return sent, w


def test_a_finished_run_is_announced_once_to_the_webhook_and_the_command(grpo_home, hook, tmp_path):
    out = tmp_path / "cmd"
    settings_file(grpo_home, webhook=f"{hook.url}/hook", command=f"cat > {out}-$GRPO_TUI_EVENT.json")
    run = make_run(40, t0=time.time() - 100, run_id="20260101-000000-done")
    sent, _ = _check()
    assert [n.event for n in sent] == ["completed"]
    assert len(hook.posts) == 1
    path, body = hook.posts[0]
    assert path == "/hook" and body["event"] == "completed" and body["run"] == run.id
    assert body["text"] == body["content"] and "step 40/40" in body["text"] and "reward" in body["text"]
    written = json.loads(Path(f"{out}-completed.json").read_text())
    assert written["run"] == run.id and written["state"] == "completed"
    # a second sender (the app, another watcher) finds the marker and stays quiet
    sent2, _ = _check()
    assert sent2 == [] and len(hook.posts) == 1
    assert (run.path / "notified").is_dir() and "HTTP 200" in (run.path / "notify.log").read_text()


def test_no_completion_text_leaves_the_machine_unless_asked(grpo_home, hook):
    settings_file(grpo_home, webhook=hook.url)
    secret = "SECRET-COMPLETION-TEXT"
    make_run(5, t0=time.time() - 100, state="failed", completion_hook=lambda s, g, i, t: secret + t)
    _check()
    assert len(hook.posts) == 1
    body = json.dumps(hook.posts[0][1])
    assert hook.posts[0][1]["event"] == "failed" and "(RuntimeError)" in body  # the exception's type only
    assert secret not in body and "injected failure" not in body  # no completion, no error text
    # asked for: the error line and the log's last lines ride along (completions still never do)
    settings_file(grpo_home, webhook=hook.url, include_text=True)
    run2 = make_run(5, t0=time.time() - 100, state="failed", completion_hook=lambda s, g, i, t: secret + t)
    _check([run2])
    body = json.dumps(hook.posts[-1][1])
    assert hook.posts[-1][1]["run"] == run2.id and "injected failure" in body and secret not in body


def test_alerts_by_severity_crashes_and_stalls(grpo_home, hook, monkeypatch):
    settings_file(grpo_home, webhook=hook.url)
    now = time.time()
    alerts = make_run(30, t0=now - 100, run_id="20260101-000000-alerts",
                      alerts=[(10, "length_drift", "warning", "lengths grew"),
                              (20, "reward_collapse", "critical", "reward fell to 0")])
    crashed = make_run(8, max_steps=50, t0=now - 100, state="training", pid=dead_pid(),
                       run_id="20260101-000000-crashed")
    monkeypatch.setenv(stall.ENV_AFTER, "60")
    stalled = make_run(8, max_steps=50, t0=now - 1000, state="training", pid=os.getpid(),
                       run_id="20260101-000000-stalled")
    sent, _ = _check()
    got = {(n.run_id, n.event, n.severity) for n in sent}
    assert got == {(alerts.id, "completed", "info"), (alerts.id, "alert", "critical"),
                   (crashed.id, "crashed", "critical"), (stalled.id, "stalled", "warning")}
    texts = {p[1]["run"] + ":" + p[1]["event"]: p[1]["text"] for p in hook.posts}
    assert "stalled since" in texts[f"{stalled.id}:stalled"]
    assert "reward fell to 0" in texts[f"{alerts.id}:alert"]
    assert len(hook.posts) == 4
    # warnings too, when asked; the critical one is not sent again
    settings_file(grpo_home, webhook=hook.url, alert_severity="warning")
    sent, _ = _check()
    assert [(n.event, n.data.get("code")) for n in sent] == [("alert", "length_drift")]


def test_old_events_are_history_not_news(grpo_home, hook):
    settings_file(grpo_home, webhook=hook.url, max_age_s=600)
    make_run(10, t0=time.time() - 5000)  # finished over an hour ago
    sent, _ = _check()
    assert sent == [] and hook.posts == []


def test_per_run_settings_override_the_user_settings(grpo_home, hook, tmp_path):
    out = tmp_path / "cmd.json"
    settings_file(grpo_home, webhook=hook.url, command=f"cat > {out}")
    only_failures = make_run(5, t0=time.time() - 100, config={"notify_on": ["failed", "crashed"]})
    no_webhook = make_run(5, t0=time.time() - 100, state="failed", config={"notify_webhook": "off"})
    sent, _ = _check()
    assert [(n.run_id, n.event) for n in sent] == [(no_webhook.id, "failed")]
    assert hook.posts == [] and json.loads(out.read_text())["run"] == no_webhook.id
    assert only_failures.id not in {n.run_id for n in sent}


def test_a_failing_or_slow_webhook_is_logged_and_never_blocks(grpo_home, hook):
    settings_file(grpo_home, webhook=hook.url, timeout_s=1)
    hook.hold.clear()  # the server takes the request and does not answer
    run = make_run(5, t0=time.time() - 100)
    w = notify.Watcher()
    started = time.monotonic()
    sent, _ = w.check_once()
    assert len(sent) == 1 and time.monotonic() - started < 0.9  # sending happens in the background
    assert hook.arrived.wait(10)
    w.sender.join(10)
    assert w.sender.errors and "timed out" in w.sender.errors[0]
    assert "FAILED webhook http://127.0.0.1:" in (run.path / "notify.log").read_text()
    hook.hold.set()
    hook.status = 500
    run2 = make_run(5, t0=time.time() - 100)
    _, w2 = _check([run2])
    assert "HTTP Error 500" in w2.sender.errors[0]
    settings_file(grpo_home, webhook="http://127.0.0.1:9/refused")
    run3 = make_run(5, t0=time.time() - 100)
    _, w3 = _check([run3])
    assert w3.sender.errors and "refused" in w3.sender.errors[0].lower()


def test_payload_shapes_for_slack_discord_and_ntfy():
    n = notify.Notice("k", "failed", "r1", "grpo-tui: r1 failed", "run r1 failed (ValueError): step 3", "critical", 3)
    s = notify.Settings(webhook="https://hooks.slack.com/services/T/B/X")
    assert notify.request(n, s) == ("https://hooks.slack.com/services/T/B/X",
                                    json.dumps({"text": "grpo-tui: r1 failed\nrun r1 failed (ValueError): step 3"}).encode())
    s = notify.Settings(webhook="https://discord.com/api/webhooks/1/abc")
    assert json.loads(notify.request(n, s)[1]) == {"content": "grpo-tui: r1 failed\nrun r1 failed (ValueError): step 3"}
    s = notify.Settings(webhook="https://ntfy.sh/my-topic")
    url, body = notify.request(n, s)
    assert url == "https://ntfy.sh/" and json.loads(body) == {
        "topic": "my-topic", "title": "grpo-tui: r1 failed", "message": "run r1 failed (ValueError): step 3",
        "priority": 5, "tags": ["failed"]}
    assert notify._safe_url("https://hooks.slack.com/services/T/B/X") == "https://hooks.slack.com/…"


def test_bad_settings_and_bad_run_fields(grpo_home):
    with pytest.raises(ConfigError, match="notify_on"):
        RunConfig().with_overrides({"notify_on": "finished"}).validate()
    with pytest.raises(ConfigError, match="notify_webhook"):
        RunConfig().with_overrides({"notify_webhook": "file:///etc/passwd"}).validate()
    with pytest.raises(ConfigError, match="notify_alerts"):
        RunConfig().with_overrides({"notify_alerts": "loud"}).validate()
    settings_file(grpo_home, webhook="http://127.0.0.1:1/", on=["finishd"])
    out = subprocess.run([sys.executable, "-m", "grpo_tui", "notify", "--once"], capture_output=True, text=True,
                         cwd=REPO, timeout=60, env={**os.environ, "GRPO_TUI_HOME": str(grpo_home)})
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "finishd" in out.stderr
    out = subprocess.run([sys.executable, "-m", "grpo_tui", "run", "--preset", "cpu-tiny", "--headless",
                          "--set", "notify_on=finishd"], capture_output=True, text=True, cwd=REPO, timeout=60,
                         env={**os.environ, "GRPO_TUI_HOME": str(grpo_home)})
    assert out.returncode == 2 and "notify_on" in out.stderr and not (grpo_home / "runs").exists()


def test_cli_test_notice(grpo_home, hook):
    settings_file(grpo_home, webhook=f"{hook.url}/t")
    env = {**os.environ, "GRPO_TUI_HOME": str(grpo_home)}
    out = subprocess.run([sys.executable, "-m", "grpo_tui", "notify", "--test"], capture_output=True, text=True,
                         cwd=REPO, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert hook.posts[0][0] == "/t" and hook.posts[0][1]["event"] == "test"
    hook.status = 404
    out = subprocess.run([sys.executable, "-m", "grpo_tui", "notify", "--test"], capture_output=True, text=True,
                         cwd=REPO, timeout=60, env=env)
    assert out.returncode == 1 and "404" in out.stderr


@pytest.mark.slow
def test_the_launcher_starts_a_watcher_that_announces_the_end_of_a_real_run(grpo_home, hook):
    from trainer_helpers import kill, start, wait_exit

    settings_file(grpo_home, webhook=f"{hook.url}/e2e")
    launched = start(max_steps=3)
    try:
        assert wait_exit(launched.proc) == 0, launched.run.log_tail(30)
        _wait(lambda: hook.posts, "the completed notice from the launcher's watcher", timeout=60)
        assert [(p, b["event"], b["run"]) for p, b in hook.posts] == [("/e2e", "completed", launched.run.id)]
        _wait(lambda: "HTTP 200" in (launched.run.path / "notify.log").read_text(), "the watcher's log line")
        # the watcher ends with the run (--until-done): no process left reading the run
        import psutil

        def watchers():
            return [p for p in psutil.process_iter(["cmdline"])
                    if "notify" in (p.info["cmdline"] or []) and str(launched.run.path) in (p.info["cmdline"] or [])]
        _wait(lambda: not watchers(), "the watcher to exit", timeout=30)
        assert len(hook.posts) == 1
    finally:
        kill(launched.proc)


def test_claim_is_once_across_racing_senders():
    run = make_run(3)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def race():
        barrier.wait()
        results.append(notify.claim(run, "completed-1"))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


async def test_the_app_sends_while_it_is_open(grpo_home, hook):
    from tui_helpers import make_app

    settings_file(grpo_home, webhook=hook.url)
    run = make_run(6, t0=time.time() - 100, state="failed")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if hook.posts:
                break
            await pilot.pause(0.05)
        assert [(b["event"], b["run"]) for _p, b in hook.posts] == [("failed", run.id)]
    assert app._notifier is not None and not app._notifier._thread.is_alive()
