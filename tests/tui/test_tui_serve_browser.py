"""`grpo-tui --serve` in a real browser: headless Chromium opens the page, textual-serve's xterm.js
connects and draws the app, the start screen's presets are on the terminal, a key press changes
the screen.

Chromium is driven over the DevTools protocol (aiohttp's websocket client, already a textual-serve
dependency). The terminal is read from xterm.js's own buffer (what it draws on its canvas): a
script installed before the page's own catches the Terminal object the page creates. Skipped only
when no Chromium is installed (.ci/run installs Debian's `chromium`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

pytest.importorskip("textual_serve")
aiohttp = pytest.importorskip("aiohttp")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")

# Runs before textual.js: the page does `this.terminal = new Terminal(...)`; a setter on
# Object.prototype sees that assignment and keeps the terminal where the test can read it.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    if (value && value.buffer && !window.__grpoTerminal) window.__grpoTerminal = value;
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
  },
});
"""
SCREEN_TEXT = """
(() => {
  const t = window.__grpoTerminal;
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) { const line = b.getLine(b.viewportY + i); rows.push(line ? line.translateToString(true) : ""); }
  return rows.join("\\n");
})()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert proc.poll() is None, f"{what} exited: {proc.stdout.read() if proc.stdout else ''}"
            assert time.monotonic() < deadline, f"{what} never listened on {port}"
            time.sleep(0.2)


class DevTools:
    """The few DevTools protocol calls this test needs, over one page session."""

    def __init__(self, ws, session: str):
        self.ws, self.session, self.ids = ws, session, itertools.count(1)

    async def call(self, method: str, **params):
        mid = next(self.ids)
        await self.ws.send_str(json.dumps({"id": mid, "method": method, "params": params, "sessionId": self.session}))
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == mid:
                assert "error" not in msg, msg["error"]
                return msg.get("result", {})

    async def screen(self) -> str:
        got = await self.call("Runtime.evaluate", expression=SCREEN_TEXT, returnByValue=True)
        return got.get("result", {}).get("value") or ""

    async def wait_screen(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await self.screen()
            if re.search(pattern, text):
                return text
            await asyncio.sleep(0.25)
        raise AssertionError(f"never on screen: {pattern!r}; last screen:\n{text}")

    async def type(self, text: str) -> None:
        """Keys as the user types them into the focused terminal (xterm.js reads its hidden textarea)."""
        await self.call("Input.insertText", text=text)


async def drive(browser_ws: str, url: str) -> tuple[str, str]:
    async with aiohttp.ClientSession() as http, http.ws_connect(browser_ws, max_msg_size=0) as ws:
        ids = itertools.count(10_000)

        async def browser_call(method: str, **params):
            mid = next(ids)
            await ws.send_str(json.dumps({"id": mid, "method": method, "params": params}))
            while True:
                msg = json.loads((await ws.receive()).data)
                if msg.get("id") == mid:
                    return msg["result"]

        target = (await browser_call("Target.createTarget", url="about:blank"))["targetId"]
        session = (await browser_call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        page = DevTools(ws, session)
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
        await page.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1,
                        mobile=False)
        await page.call("Page.navigate", url=url)
        first = await page.wait_screen(r"Presets[\s\S]*cpu-tiny[\s\S]*fits", timeout=90)
        await page.call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
        await page.type("?")  # the app's help: a different screen
        after = await page.wait_screen(r"Keys on the start screen", timeout=30)
        return first, after


def test_serve_in_headless_chromium_shows_presets_and_takes_keys(tmp_path):
    port, devtools_port = free_port(), free_port()
    env = {**os.environ, "GRPO_TUI_FAKE_GPUS": "RTX 4090", "GRPO_TUI_HOME": str(tmp_path / "home")}
    server = subprocess.Popen([sys.executable, "-m", "grpo_tui", "--serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    profile = tempfile.mkdtemp(prefix="grpo-chromium-")
    browser = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--disable-extensions", f"--user-data-dir={profile}",
                                f"--remote-debugging-port={devtools_port}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_listening(port, server, "grpo-tui --serve")
        wait_listening(devtools_port, browser, "chromium")
        version = json.loads(__import__("urllib.request").request.urlopen(
            f"http://127.0.0.1:{devtools_port}/json/version", timeout=10).read())
        first, after = asyncio.run(drive(version["webSocketDebuggerUrl"], f"http://127.0.0.1:{port}/"))
        assert "RTX 4090" in first and "★" in first  # the simulated card, and the recommended preset
        assert "Keys on the start screen" not in first and "Enter" in after
    finally:
        for proc in (browser, server):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in (browser, server):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        shutil.rmtree(profile, ignore_errors=True)
