"""The HTML report in a real browser: headless Chromium, with its network switched off (DevTools'
offline emulation), opens the file; the test reads what Chromium laid out -- every chart's lines have a
drawn length and a box, the page asked for nothing but itself, no script exists, the hostile completion
reads as the characters it is -- takes a screenshot, and checks light and dark follow the system
setting. Skipped only when no Chromium is installed (.ci/run installs Debian's `chromium`).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request

import pytest

from grpo_tui.core.reading import report_html as rh

aiohttp = pytest.importorskip("aiohttp")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")

# Read from the laid-out page (DevTools evaluates it; the page itself runs no script).
INSPECT = """
(() => {
  const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
    const lines = [...svg.querySelectorAll('path.line')].map(p => {
      const b = p.getBBox();
      return {len: p.getTotalLength(), w: b.width, h: b.height};
    });
    const r = svg.getBoundingClientRect();
    return {title: svg.querySelector('title').textContent, lines, w: r.width, h: r.height};
  });
  const pres = [...document.querySelectorAll('pre.model')].map(p => p.textContent);
  return {charts, pres, scripts: document.querySelectorAll('script').length,
          loaders: document.querySelectorAll('img,iframe,object,embed,link,video,audio').length,
          bg: getComputedStyle(document.body).backgroundColor,
          line0: getComputedStyle(document.querySelector('path.line.s0')).stroke,
          title: document.title};
})()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def inspect(browser_ws: str, url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.ws_connect(browser_ws, max_msg_size=0) as ws:
        ids = itertools.count(1)
        requests: list[str] = []
        loaded = asyncio.Event()

        async def call(method: str, session: str | None = None, **params):
            mid = next(ids)
            msg = {"id": mid, "method": method, "params": params}
            if session:
                msg["sessionId"] = session
            await ws.send_str(json.dumps(msg))
            while True:
                got = json.loads((await asyncio.wait_for(ws.receive(), 60)).data)
                if got.get("method") == "Network.requestWillBeSent":
                    requests.append(got["params"]["request"]["url"])
                elif got.get("method") == "Page.loadEventFired":
                    loaded.set()
                if got.get("id") == mid:
                    assert "error" not in got, got["error"]
                    return got.get("result", {})

        target = (await call("Target.createTarget", url="about:blank"))["targetId"]
        s = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        await call("Network.enable", s)
        await call("Network.emulateNetworkConditions", s, offline=True, latency=0, downloadThroughput=-1,
                   uploadThroughput=-1)
        await call("Page.enable", s)
        await call("Emulation.setDeviceMetricsOverride", s, width=1340, height=2200, deviceScaleFactor=1,
                   mobile=False)
        out: dict = {}
        for scheme in ("light", "dark"):
            await call("Emulation.setEmulatedMedia", s, features=[{"name": "prefers-color-scheme", "value": scheme}])
            loaded.clear()
            await call("Page.navigate", s, url=url)
            for _ in range(300):  # the load event arrives among the replies
                if loaded.is_set():
                    break
                await call("Runtime.evaluate", s, expression="1")
                await asyncio.sleep(0.05)
            assert loaded.is_set(), "the page never finished loading"
            got = await call("Runtime.evaluate", s, expression=INSPECT, returnByValue=True)
            out[scheme] = got["result"]["value"]
            shot = await call("Page.captureScreenshot", s, format="png")
            out[scheme]["png"] = base64.b64decode(shot["data"])
        out["requests"] = requests
        return out


def test_headless_chromium_offline_draws_every_chart_and_shows_hostile_text_literally(tmp_path):
    from test_report_html import HOSTILE, steered_run  # the same steered run as the unit tests

    from grpo_tui.core.run.synthetic import make_run

    run = steered_run()
    page = tmp_path / "report.html"
    page.write_text(rh.report_html(run))
    compared = tmp_path / "compare.html"  # the compare page: two runs overlaid
    compared.write_text(rh.compare_html([run, make_run(steps=30, seed=2)]))
    port = free_port()
    profile = tempfile.mkdtemp(prefix="grpo-chromium-")
    browser = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--disable-extensions", f"--user-data-dir={profile}", "--hide-scrollbars",
                                f"--remote-debugging-port={port}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        version = None
        for _ in range(300):
            try:
                version = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=2).read())
                break
            except OSError:
                assert browser.poll() is None, "chromium exited"
                asyncio.run(asyncio.sleep(0.1))
        assert version, "chromium never listened"
        got = asyncio.run(inspect(version["webSocketDebuggerUrl"], page.as_uri()))
        got_cmp = asyncio.run(inspect(version["webSocketDebuggerUrl"], compared.as_uri()))
    finally:
        try:
            os.killpg(browser.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            browser.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait(timeout=5)
        shutil.rmtree(profile, ignore_errors=True)

    light, dark = got["light"], got["dark"]
    # the page asked for nothing but itself, and has no script and no element that loads anything
    assert set(got["requests"]) == {page.as_uri()}, got["requests"]
    assert light["scripts"] == 0 and light["loaders"] == 0
    assert light["title"].startswith("grpo-tui run report")
    # every chart was laid out and every line in it drawn with a length and a box
    assert len(light["charts"]) >= 8
    for chart in light["charts"]:
        assert chart["w"] > 300 and chart["h"] > 100, chart["title"]
        assert any(ln["len"] > 10 and ln["w"] > 10 for ln in chart["lines"]), chart
        for ln in chart["lines"]:  # a series of one point (the hostile-named reward) is a dot, still drawn
            assert ln["len"] > 0 and ln["w"] > 0, (chart["title"], ln)
    # the hostile completion reads as its characters: escapes stripped, bidi control made visible
    literal = HOSTILE.split("\x1b")[0]  # "<script>alert(1)</script></svg></pre><img ...>[bold red]rich[/] "
    assert any(literal in p for p in light["pres"]), light["pres"][:2]
    assert any("<U+202E>evil&amp;" in p and "␛[31mred␛[0m" in p for p in light["pres"])
    # light and dark follow the system setting
    assert light["bg"] == "rgb(255, 255, 255)" and dark["bg"] == "rgb(13, 17, 23)"
    assert light["line0"] != dark["line0"]
    # a real screenshot of each: PNGs of a full page with content (a blank page compresses to a few KB)
    for scheme in (light, dark):
        png = scheme["png"]
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 60_000, len(png)
    (tmp_path / "light.png").write_bytes(light["png"])
    # the compare page: every chart draws a line per run that has the metric, and asks for nothing else
    cmp_light = got_cmp["light"]
    assert set(got_cmp["requests"]) == {compared.as_uri()} and cmp_light["scripts"] == 0
    assert len(cmp_light["charts"]) >= 8
    for chart in cmp_light["charts"]:
        drawn = [ln for ln in chart["lines"] if ln["len"] > 10 and ln["w"] > 10]
        if "onerror" in chart["title"]:  # the hostile-named reward: one point in one run, a dot
            assert [ln["len"] > 0 for ln in chart["lines"]] == [True], chart
        else:  # held-out accuracy: only the steered run evaluates
            assert len(drawn) == (1 if "accuracy" in chart["title"] else 2), chart
