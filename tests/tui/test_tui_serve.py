"""`grpo-tui --serve`: the app reaches a browser's websocket, on loopback, and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("textual_serve")
aiohttp = pytest.importorskip("aiohttp")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def browser_session(port: int) -> bytes:
    """What a browser tab receives in its first seconds (the app's screen updates)."""
    got = b""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30") as ws:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (b"Presets" in got and b"RTX 4090" in got):
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout=5)
                except asyncio.TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.BINARY:
                    got += msg.data
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    got += msg.data.encode()
                else:
                    break
    return got


def test_serve_on_loopback_shows_the_start_screen_in_a_browser_session():
    port = free_port()
    env = {**os.environ, "GRPO_TUI_FAKE_GPUS": "RTX 4090"}
    proc = subprocess.Popen([sys.executable, "-m", "grpo_tui", "--serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.2)
        got = asyncio.run(browser_session(port))
        assert b"Presets" in got and b"RTX 4090" in got
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "ssh -L" in out and f"127.0.0.1:{port}" in out


def test_serve_with_unknown_preset_is_one_line_exit_2():
    out = subprocess.run([sys.executable, "-m", "grpo_tui", "--serve", "--preset", "nope"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.strip().startswith("grpo-tui: error:")
    assert "unknown preset" in out.stderr
