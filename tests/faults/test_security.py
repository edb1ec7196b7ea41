"""Security (issue 7): private files, no network listeners, data parsed as data, user code only when
named, untrusted model output rendered literally on every surface.

Against the real trainer (cpu-tiny) and the real app (in a pty, and under Pilot).
"""

from __future__ import annotations

import ast
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.rundir import RunDir, config_home, home, runs_root

from fault_helpers import REPO, Pty, dash_app, rendered_text, until
from trainer_helpers import kill, start, wait_exit, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes, ptys")

# Model output that tries everything: Rich markup, a Rich link, SGR colour, an OSC 52 clipboard write,
# an OSC 0 title change, an OSC 8 hyperlink, a bidi override, BEL / BS / DEL, a C1 CSI.
EVIL = ("[bold red]RED[/] [link=https://evil.example]click[/link] \x1b[31mansi\x1b[0m "
        "\x1b]52;c;ZXZpbA==\x07 \x1b]0;pwned-title\x07 \x1b]8;;https://evil.example\x07osc8\x1b]8;;\x07 "
        "\u202eevil-bidi\u202c \x07bell \x08bs \x7fdel \x9b31mc1 <script>alert(1)</script> ``` end")
FORBIDDEN_BYTES = {
    "OSC 52 clipboard write": b"\x1b]52",
    "OSC 0 title change": b"\x1b]0;pwned",
    "OSC 8 hyperlink to the model's URL": b"\x1b]8;;https://evil",
    "the model's SGR colour": b"\x1b[31mansi",
    "bidi override U+202E": "\u202e".encode(),
    "raw BEL before 'bell'": b"\x07bell",
    "C1 CSI": "\x9b".encode(),
}


def _nets(pid: int) -> list:
    """The inet sockets of a process and its children. A process that cannot be inspected fails the
    test (it could listen unseen); only a child that exited between the listing and the look is passed
    over, and the process itself must still be there."""
    parent = psutil.Process(pid)
    procs = [parent, *parent.children(recursive=True)]
    out = []
    for p in procs:
        try:
            out += p.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            if p is parent:
                raise
    return out


def test_the_socket_check_sees_a_listener():
    """_nets can fail: a socket listening on loopback in this process and a child's are both seen."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in _nets(os.getpid()))
    child = subprocess.Popen([sys.executable, "-c", "import socket, sys, time; s = socket.socket(); "
                              "s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); "
                              "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        assert any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in _nets(os.getpid()))
    finally:
        child.kill()
        child.wait()


def _modes(root: Path) -> list[str]:
    """Paths under root (itself included) readable/writable/executable by group or others."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for p in [Path(dirpath), *(Path(dirpath) / f for f in filenames)]:
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            if mode & 0o077:
                bad.append(f"{oct(mode)} {p}")
    return sorted(set(bad))


def test_real_run_is_private_and_listens_nowhere():
    launched = start(max_steps=40, save_steps=20)  # a checkpoint and the adapter get written too
    run, proc = launched.run, launched.proc
    app = None
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 1, proc=proc)
        run.send_command("pause")
        wait_for(run, lambda e: e["type"] == ev.CONTROL, proc=proc, timeout=60)
        app = Pty(["attach", run.id])
        app.read_until(run.id.encode(), timeout=60)
        app.pump(1.0)
        for who, pid in (("trainer", proc.pid), ("app", app.proc.pid)):
            listening = [c for c in _nets(pid) if c.status == psutil.CONN_LISTEN]
            assert not listening, f"the {who} listens on {listening}"
            assert not _nets(pid), f"the {who} has network sockets: {_nets(pid)}"
        app.close()
        run.send_command("resume")
        assert wait_exit(proc, timeout=180) == 0
    finally:
        if app is not None:
            app.close()
        kill(proc)
    assert (run.adapter).is_dir() and any(run.checkpoints.iterdir())
    assert _modes(home()) == []  # runs root, run dir, logs, commands, checkpoints, adapter, exports


def test_config_and_settings_are_private():
    from grpo_tui.tui.settings import AppSettings

    s = AppSettings.load()
    s.save()
    assert _modes(config_home()) == []


# -- data is parsed as data ---------------------------------------------------------------------
DANGEROUS_CALLS = {"eval", "exec", "compile", "__import__"}
DANGEROUS_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "joblib", "cloudpickle"}


def _dangerous(tree: ast.AST, path: Path) -> list[str]:
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if any((n or "").split(".")[0] in DANGEROUS_MODULES for n in names):
                found.append(f"{where} imports {names}")
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        kw = {k.arg: k.value for k in node.keywords}
        if isinstance(f, ast.Name) and name in DANGEROUS_CALLS:
            found.append(f"{where} calls {name}()")
        if name == "load" and isinstance(f, ast.Attribute) and getattr(f.value, "id", "") == "torch":
            wo = kw.get("weights_only")
            if not (isinstance(wo, ast.Constant) and wo.value is True):
                found.append(f"{where} torch.load without weights_only=True")
        if isinstance(f, ast.Attribute) and name in ("load", "unsafe_load") and getattr(f.value, "id", "") == "yaml":
            found.append(f"{where} yaml.{name}")
        if name == "system" and getattr(getattr(f, "value", None), "id", "") == "os":
            found.append(f"{where} os.system")
        sh = kw.get("shell")
        if isinstance(sh, ast.Constant) and sh.value is True:
            found.append(f"{where} shell=True")
    return found


# The one shell the package may start: the notification command the user wrote in their own
# settings file (0600), like a git hook. Nothing from a run is pasted into it: the notice reaches it
# as JSON on stdin and GRPO_TUI_* environment variables (tests/core/test_notify.py checks both).
ALLOWED_SHELL = {"grpo_tui/core/reading/notify.py": "settings.command"}


def _allowed(finding: str) -> bool:
    path, _, rest = finding.partition(":")
    if rest.endswith("shell=True") and path in ALLOWED_SHELL:
        line = int(rest.split(" ", 1)[0])
        return ALLOWED_SHELL[path] in (REPO / path).read_text(encoding="utf-8").splitlines()[line - 1]
    return False


def test_no_unpickling_eval_or_shell_in_the_package():
    found = []
    for path in sorted((REPO / "grpo_tui").rglob("*.py")):
        found += _dangerous(ast.parse(path.read_text(encoding="utf-8")), path)
    found = [f for f in found if not _allowed(f)]
    assert found == [], "\n".join(found)


def test_the_notify_shell_is_the_only_allowance():
    """Only the line that runs the user's own command is allowed: any other line of notify.py, or the
    same call in another file, is still a finding."""
    lines = (REPO / "grpo_tui/core/reading/notify.py").read_text(encoding="utf-8").splitlines()
    allowed_line = next(i for i, line in enumerate(lines, 1) if "settings.command" in line and "shell=True" in line)
    other_line = next(i for i, line in enumerate(lines, 1) if "settings.command" not in line)
    assert _allowed(f"grpo_tui/core/reading/notify.py:{allowed_line} shell=True")
    assert not _allowed(f"grpo_tui/core/reading/notify.py:{other_line} shell=True")
    assert not _allowed(f"grpo_tui/core/reading/report.py:{allowed_line} shell=True")
    assert not _allowed(f"grpo_tui/core/reading/notify.py:{allowed_line} os.system")


def test_the_scanner_catches_what_it_looks_for():
    src = ("import pickle\nimport torch\neval('1')\ntorch.load('x')\ntorch.load('x', weights_only=False)\n"
           "subprocess.run('ls', shell=True)\nos.system('ls')\n")
    assert len(_dangerous(ast.parse(src), REPO / "x.py")) == 6


# -- user reward code runs only when the user names it -----------------------------------------------
def test_user_reward_code_runs_only_when_named(tmp_path):
    marker = tmp_path / "imported"
    reward = tmp_path / "sneaky_reward.py"
    reward.write_text(f"open({str(marker)!r}, 'a').write('x')\n"
                      "def score(prompts, completions, **kw):\n    return [0.0 for _ in completions]\n")
    presets = config_home() / "presets"
    presets.mkdir(parents=True)
    text = (REPO / "presets" / "cpu-tiny.toml").read_text()
    text = re.sub(r'(?m)^rewards = \[.*\]$', f'rewards = ["format", "{reward}:score"]', text)
    (presets / "sneaky.toml").write_text(text)
    # A run whose config names it, attached to and reported on.
    from tui_helpers import synthetic_run

    synthetic_run("20260101-000000-sneaky", steps=3)
    run = RunDir(runs_root() / "20260101-000000-sneaky")
    info = run.info()
    info["config"]["rewards"] = ["format", f"{reward}:score"]
    run.run_json.write_text(__import__("json").dumps(info))
    for args in (["presets"], ["plan", "--preset", "sneaky"], ["runs"], ["report", run.id],
                 ["attach", "--headless", run.id]):
        r = subprocess.run([sys.executable, "-m", "grpo_tui", *args], capture_output=True, text=True,
                           timeout=120, cwd=str(REPO))
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert not marker.exists(), f"`grpo-tui {' '.join(args)}` imported the user's reward code"
    # The app's start screen lists it (and the run) without importing it.
    t = Pty([])
    try:
        t.read_until(b"sneaky", timeout=60)
        t.pump(1.0)
    finally:
        t.close()
    assert not marker.exists(), "the app imported the user's reward code"
    # Named by the user (running the preset): now, and only now, it is imported.
    r = subprocess.run([sys.executable, "-m", "grpo_tui", "run", "--preset", "sneaky", "--detach",
                        "--set", "max_steps=1"], capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert marker.exists(), r.stdout + r.stderr
    for d in runs_root().iterdir():  # whatever that started, end it
        pid = RunDir(d).launched_pid()[0]
        if pid:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


# -- untrusted model output --------------------------------------------------------------------------
def _evil_run() -> RunDir:
    """A real short run, plus one samples step whose texts are EVIL (written by the real writer)."""
    launched = start(max_steps=2)
    assert wait_exit(launched.proc, timeout=180) == 0
    run = launched.run
    last = [e for e in ev.read_all(run.samples)[0] if e["type"] == ev.SAMPLES][-1]
    cols = last["columns"]  # the real writer's columns, with hostile texts in them
    n = len(cols["completion"])
    cols = {**cols, "prompt": [0] * n, "completion": [f"{EVIL} #{i}" for i in range(n)],
            "reward": [9.0 + i for i in range(n)], "answer": [EVIL] * n}
    with ev.EventWriter(run.samples) as w:
        w.emit(ev.SAMPLES, step=3, prompts=[f"prompt {EVIL}"], columns=cols)
    with ev.EventWriter(run.events) as w:  # and in alerts and logs the app shows
        w.emit(ev.ALERT, step=2, code="evil", severity="warning", message=EVIL, hint=EVIL, since_step=1)
    return run


def _clean_bytes(out: bytes, surface: str) -> None:
    for what, needle in FORBIDDEN_BYTES.items():
        assert needle not in out, f"{surface}: {what} reached the output"


async def test_untrusted_output_is_literal_in_app_and_report(tmp_path):
    run = _evil_run()
    # 1. The app under Pilot: the markup shows as typed, in the plain style.
    app = dash_app(run)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.screen.loaded and app.screen.monitor.samples_step == 3, timeout=20,
                    what="evil samples loaded")
        await until(pilot, lambda: "RED" in rendered_text(app.screen.query_one("#samples-text")), what="drawn")
        text = rendered_text(app.screen.query_one("#samples-text"))
        assert "[bold red]RED[/]" in text and "[link=https://evil.example]click[/link]" in text
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    # 2. The app in a real terminal: no escape from the model reaches the terminal.
    t = Pty(["attach", run.id], size=(160, 50))
    try:
        t.read_until(b"RED", timeout=60)
        t.pump(1.0)
        os.write(t.master, b"q")
        t.proc.wait(timeout=20)
        t.pump(0.3)
    finally:
        t.close()
    assert b"[bold red]RED[/]" in t.out
    _clean_bytes(t.out, "app in a pty")
    # 3. The Markdown report (stdout and file).
    out_md = tmp_path / "report.md"
    r = subprocess.run([sys.executable, "-m", "grpo_tui", "report", run.id, "-o", str(out_md)],
                       capture_output=True, timeout=120, cwd=str(REPO))
    assert r.returncode == 0, r.stderr
    md = out_md.read_bytes()
    assert b"[bold red]RED[/]" in md, "the evil group is not in the report"
    _clean_bytes(md, "report")
    assert b"\x1b" not in md
    r = subprocess.run([sys.executable, "-m", "grpo_tui", "report", run.id], capture_output=True, timeout=120,
                       cwd=str(REPO))
    _clean_bytes(r.stdout, "report on stdout")
    assert b"\x1b" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "grpo_tui", "report", run.id, "--format", "json"], capture_output=True,
                       timeout=120, cwd=str(REPO))
    assert r.returncode == 0 and b"[bold red]RED[/]" in r.stdout, r.stderr
    _clean_bytes(r.stdout, "JSON report on stdout")  # exact data, but as inert \u escapes


def test_untrusted_output_is_literal_in_the_markdown_export(tmp_path):
    run = _evil_run()
    out = tmp_path / "export.md"
    r = subprocess.run([sys.executable, "-m", "grpo_tui", "export", run.id, "--format", "md", "--output", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert b"RED" in data
    _clean_bytes(data, "Markdown export")
    assert b"\x1b" not in data
