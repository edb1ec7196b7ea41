"""The HTML report (core.reading.report_html, core.reading.svg_chart) on logs written with the real writers: the page is
one self-contained file, its charts draw the dashboard's series, hostile model text stays text, settings
changes / alerts / stalls are marked, and the CLI (`report --format html`, `compare --format html`)."""

from __future__ import annotations

import html
import math
import os
import re
from html.parser import HTMLParser

import pytest

from grpo_tui import cli
from grpo_tui.core.run import events as ev
from grpo_tui.core.run import metric_names as M
from grpo_tui.core.reading import report_html as rh
from grpo_tui.core.reading import svg_chart as sc
from grpo_tui.core.reading.monitor import RunMonitor
from grpo_tui.core.run.synthetic import SyntheticWriter, make_run

HOSTILE = ("<script>alert(1)</script></svg></pre><img src=x onerror=alert(2)>[bold red]rich[/] "
           "\x1b]8;;http://evil.example\x07link\x1b]8;;\x07 \x1b[31mred\x1b[0m \u202eevil&amp;")


def hostile_hook(step: int, group: int, i: int, text: str) -> str:
    return HOSTILE + text if i == 0 else text


class Page(HTMLParser):
    """The page as a browser's parser sees it: elements, and the text inside <pre>."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.pre: list[str] = []
        self._in_pre = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "pre":
            self._in_pre += 1
            self.pre.append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre -= 1

    def handle_data(self, data):
        if self._in_pre:
            self.pre[-1] += data

    def named(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]


def steered_run(steps: int = 40):
    """A run with a settings change at 15, an alert at 20, a 20-minute stall after step 30, evals."""
    w = SyntheticWriter.create(max_steps=steps, plan=True, completion_hook=hostile_hook,
                               config={"max_completion_length": 64})
    w.start()
    w.emit(ev.EVAL, name="held-out", accuracy=0.2, n=50, when="before")
    for s in range(1, steps + 1):
        if s == 31:
            w.t0 += 1200  # the trainer hung for 20 minutes between steps 30 and 31
        w.step()
        if s == 15:
            w.emit(ev.SETTINGS_CHANGED, changes={"learning_rate": {"old": 1e-5, "new": 2e-5},
                                                 "max_completion_length": {"old": 64, "new": 96}})
        if s == 25:  # a resume re-applies the changed settings: no new change to mark
            w.emit(ev.SETTINGS_CHANGED, changes={"learning_rate": {"old": 1e-5, "new": 2e-5}}, resumed=True)
        if s == 5:  # a user's reward function with a hostile name: its metric key reaches legends and titles
            w.emit(ev.METRICS, metrics={M.reward_mean("<img src=x onerror=alert(3)>"): 0.5})
        if s == 20:
            w.alert("no_signal", "zero std <b>everywhere</b> " + HOSTILE, severity="critical", hint="raise temp")
    w.emit(ev.EVAL, name="held-out", accuracy=0.45, n=50, when="after")
    w.finish("completed")
    w.close()
    return w.run


def test_the_page_is_self_contained_and_hostile_text_stays_text():
    run = steered_run()
    text = rh.report_html(run)
    page = Page(text)
    # no script, nothing fetched: a CSP that forbids both, and no element that loads anything
    assert not page.named("script") and not page.named("img") and not page.named("iframe")
    assert not page.named("link") and "@import" not in text and "url(http" not in text
    csp = [m for m in page.named("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"] and "script" not in csp[0]["content"]
    assert not [a for _t, a in page.tags if any(k.startswith("on") for k in a)]  # no event handler attributes
    # the hostile completion is shown as the characters it is (escapes stripped, bidi made visible)
    shown = [p for p in page.pre if "alert(1)" in p]
    assert shown, "the hostile completion is not in the page"
    assert "<script>alert(1)</script></svg></pre><img src=x onerror=alert(2)>[bold red]rich[/]" in shown[0]
    # escape sequences shown as the app shows them (␛ and ␇ stand-ins), never acted on
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "<U+202E>evil&amp;" in shown[0]
    assert "␛]8;;http://evil.example␇link␛]8;;␇ ␛[31mred␛[0m" in shown[0]
    # every <svg> the page opens, it closes: the model's "</svg>" closed nothing
    assert text.count("<svg") == text.count("</svg>")
    # the alert's markup in its message is text too, and so is a reward function's name
    assert "zero std &lt;b&gt;everywhere&lt;/b&gt;" in text
    assert "&lt;img src=x onerror=alert(3)&gt;" in text


def test_every_chart_draws_the_dashboards_series_with_marks():
    run = steered_run()
    loaded = rh.load(run)
    rep = rh.build(run, loaded=loaded)
    text = rh.to_html(rep)
    page = Page(text)
    titles = [c for c in re.findall(r"<figcaption>(.*?)</figcaption>", text)]
    # one chart per health series the dashboard's health panel draws (clipped ratio sits with the lengths)
    for key, label in M.HEALTH_SERIES:
        assert label in titles or key == M.CLIPPED_RATIO
    assert any("every component and the total" in t for t in titles)
    assert any("against the cap" in t for t in titles) and any("clipped ratio" in t for t in titles)
    # every chart drew a non-empty line
    svgs = re.findall(r'<svg class="chart".*?</svg>', text)
    assert len(svgs) == len(titles) >= 8
    for svg in svgs:
        assert re.search(r'<path class="line[^"]*" d="M[0-9.]+,[0-9.]+L', svg), svg[:300]
    # the rewards chart has a line per component and the total, from the monitor's own series
    mon = RunMonitor(run)
    mon.catch_up()
    assert loaded.series[M.REWARD].points() == mon.series[M.REWARD].points()
    legend = text.split("every component and the total</figcaption>")[1].split("</figure>")[0]
    for comp in mon.reward_components + ["total"]:
        assert f"{html.escape(comp)} " in legend
    # the settings change, the alert and the stall are marked on the step axis of every chart
    assert text.count('class="mark m-settings"') == len(svgs) and "learning_rate 1e-05 → 2e-05" in text
    assert [c["step"] for c in loaded.changes] == [15]
    assert "max_completion_length 64 → 96" in text
    assert text.count('class="mark m-alert-critical"') == len(svgs)
    stalls = loaded.stalls()
    assert [(g.since_step, g.step) for g in stalls] == [(30, 31)]
    assert text.count('class="span m-stall"') == len(svgs) and "no progress for 20m" in text
    # on the time axis too: steps against minutes, the stall a band 20 minutes wide over a flat stretch
    timeline = text.split("steps over time (minutes since the first step)</figcaption>")[1].split("</figure>")[0]
    band = re.search(r'class="span m-stall" x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"', timeline)
    assert band and float(band.group(2)) > 200  # 20 of the run's ~21 minutes
    assert 'class="mark m-settings"' in timeline and 'class="mark m-alert-critical"' in timeline
    # eval before -> after, the cap and the plan
    assert "before <b>20.0%</b> → after <b>45.0%</b>" in text
    assert "cap 64" in text and "planned 6349 MB" in text
    # header: stop reason and steps
    assert "completed: reached step 40 of 40" in text
    # the best and worst groups of the first and the last sampled step
    assert "step 1 (" in text and "step 40 (" in text and text.count('class="group best"') == 2
    assert len(page.named("section")) >= 8


def test_chosen_steps_pick_the_nearest_sampled_steps():
    run = make_run(steps=30, samples_every=10)  # sampled steps 10, 20, 30
    chosen = rh.chosen_groups(run, [12, 29, 29])
    assert [c["step"] for c in chosen] == [10, 30]
    for c in chosen:
        best, worst = c["best"], c["worst"]
        assert worst is None or best["mean_reward"] >= worst["mean_reward"]
    assert [c["step"] for c in rh.chosen_groups(run)] == [10, 30]
    for c in rh.chosen_groups(run):  # two groups (even of equal mean): best and worst are different ones
        assert c["groups"] == 2 and c["worst"] is not None and c["worst"]["group"] != c["best"]["group"]


def test_a_quiet_run_has_no_marks_and_an_empty_run_says_not_recorded():
    run = make_run(steps=20)
    text = rh.report_html(run)
    assert "No alerts, stalls or settings changes." in text and "m-stall" not in text.split("</style>")[1]
    empty = make_run(steps=0, state="loading", pid=os.getpid())
    text = rh.report_html(empty)
    assert "not recorded" in text and "No samples recorded." in text


def test_downsample_keeps_the_extremes_of_every_bucket():
    n = 100_000
    xs = [float(i) for i in range(n)]
    ys = [math.sin(i / 500) for i in range(n)]
    ys[54_321] = 50.0  # one spike
    ys[77_777] = -40.0
    ox, oy, lo, hi = sc.downsample(xs, ys, n=400)
    assert len(ox) == len(oy) == 400
    assert max(hi) == 50.0 and min(lo) == -40.0
    assert max(oy) < 1.2  # the means do not show the spike: the band does
    assert ox == sorted(ox) and ox[0] < 250 and ox[-1] > n - 250
    # given min/max (a Series' buckets) are merged as extremes too
    _ox, _oy, lo2, hi2 = sc.downsample(xs, ys, [y - 1 for y in ys], [y + 1 for y in ys], n=10)
    assert max(hi2) == 51.0 and min(lo2) == -41.0
    assert sc.downsample([1, 2], [3, 4], n=10) == ([1, 2], [3, 4], [3, 4], [3, 4])


def test_svg_chart_breaks_lines_at_gaps_escapes_labels_and_ticks_are_round():
    svg = sc.line_chart([sc.Line("<b>x</b>", [1, 2, 3, 4], [1.0, math.nan, 2.0, 3.0])],
                        title="t<script>", marks=[sc.Mark(2, "alert-warning", "</svg><script>")])
    assert "<script>" not in svg and "&lt;/svg&gt;&lt;script&gt;" in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    d = re.search(r'class="line s0" d="([^"]+)"', svg).group(1)
    assert d.count("M") == 2 and d.count("L") == 1  # the NaN broke the line in two
    assert sc.nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0] or \
        [round(v, 6) for v in sc.nice_ticks(0, 1)] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert [round(v) for v in sc.nice_ticks(0, 100_000)] == [0, 20_000, 40_000, 60_000, 80_000, 100_000]
    assert "not recorded" in sc.line_chart([sc.Line("a", [], [])], title="t")
    assert "not recorded" in sc.line_chart([sc.Line("a", [1.0], [math.inf])], title="t")


def test_cli_report_and_compare_write_html_and_refuse_bad_input(tmp_path, capsys):
    a = steered_run(20)
    b = make_run(steps=30, seed=4, config={"learning_rate": 3e-5})
    out = tmp_path / "r.html"
    assert cli.main(["report", a.id, "--format", "html", "-o", str(out), "--steps", "5,20"]) == 0
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "step 5 (" in text and "step 20 (" in text
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    cmp_out = tmp_path / "c.html"
    assert cli.main(["compare", a.id, b.id, "--format", "html", "-o", str(cmp_out)]) == 0
    text = cmp_out.read_text()
    assert "2 runs compared" in text and a.id in text and b.id in text
    assert "learning_rate" in text.split("keys that differ")[1]  # the config diff
    assert "Settings changed during the runs" in text and "learning_rate 1e-05 → 2e-05" in text
    svgs = re.findall(r'<svg class="chart".*?</svg>', text)
    assert svgs and all('class="line s0' in s and 'class="line s1' in s for s in svgs[:2])  # both runs overlaid
    capsys.readouterr()
    for argv, needle in ((["report", a.id, "--steps", "3"], "--format html"),
                         (["report", a.id, "--format", "html", "--steps", "x"], "--steps takes"),
                         (["report", a.id, "--format", "html", "-o", str(tmp_path)], "is a directory"),
                         (["compare", a.id, b.id, "--format", "html", "-o", str(tmp_path / "no" / "c.html")],
                          "does not exist")):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_a_100k_step_run_stays_under_2_mb():
    """Even with an alert every 10 steps (10,000 of them, marked on every chart and listed)."""
    run = make_run(steps=100_000, samples_every=1000, fast=True, cuda=True, plan=True,
                   alerts=[(s, "no_signal", "warning", "x" * 300) for s in range(10, 100_001, 10)])
    text = rh.report_html(run)
    assert len(text.encode()) < 2 * 2**20
    assert "more, not listed here" in text and text.count('<tr class="ev-warning">') == rh.EVENT_ROWS
    svgs = re.findall(r'<svg class="chart".*?</svg>', text)
    assert len(svgs) >= 8
    for svg in svgs:  # a line keeps at most MAX_POINTS points however long the run
        for d in re.findall(r'class="line[^"]*" d="([^"]+)"', svg):
            assert d.count("L") < sc.MAX_POINTS


@pytest.mark.slow  # one real TRL run of the tiny model (~20-45 s on 2 cores)
def test_a_watched_script_and_its_plain_trl_folder_get_the_same_report(tmp_path, grpo_home):
    """A user's own GRPO script under watch(), which also logs completions and saves checkpoints the TRL
    way: the watched run and the TRL output folder (read through `grpo-tui open`'s mirror) both report."""
    import subprocess
    import sys
    from pathlib import Path

    from grpo_tui.core.run.rundir import list_runs

    scripts = Path(__file__).resolve().parents[1] / "scripts"
    out = tmp_path / "out"
    env = dict(os.environ, USER_OUT=str(out), USER_LOG_COMPLETIONS="1", USER_SAVE_STEPS="2", USER_STEPS="2",
               OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(scripts / "user_grpo.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (watched,) = list_runs()
    pages = {}
    for name, ref in (("watched", watched.id), ("folder", str(out))):
        target = tmp_path / f"{name}.html"
        assert cli.main(["report", ref, "--format", "html", "-o", str(target)]) == 0
        pages[name] = target.read_text()
    assert "a script under grpo_tui.watch()" in pages["watched"]
    assert "a plain TRL output folder (grpo-tui open)" in pages["folder"]
    for text in pages.values():
        assert "completed: reached step 2 of 2" in text
        # the reward chart has the user's two reward functions and the total, drawn
        legend = text.split("every component and the total</figcaption>")[1].split("</figure>")[0]
        assert "format_reward" in legend and "correctness_reward" in legend and "total" in legend
        assert re.search(r'<path class="line[^"]*" d="M[0-9.]+,[0-9.]+L', legend)
        assert "step 2 (" in text and 'class="group best"' in text  # the completions TRL logged


def test_marks_crowded_into_a_few_pixels_draw_once_with_a_count():
    marks = [sc.Mark(1000 + i * 0.01, "alert-warning", f"alert {i}") for i in range(500)]
    marks += [sc.Mark(50_000, "settings", "lr 1e-5 → 2e-5"), sc.Mark(90, "stall", "hung", x_end=95)]
    svg = sc.line_chart([sc.Line("a", [0.0, 100_000.0], [0.0, 1.0])], title="t", marks=marks)
    assert svg.count('class="mark m-alert-warning"') == 1 and "alert 0 (and 499 more here)" in svg
    assert svg.count('class="mark m-settings"') == 1 and svg.count('class="span m-stall"') == 1


def test_chosen_steps_are_found_by_bisection_past_asks_corrupt_and_torn_lines():
    """samples.jsonl with an ask event and a corrupt line in it, and a torn last line:
    the nearest sampled step to any wanted step is the one a full scan finds."""
    w = SyntheticWriter.create(max_steps=400, samples_every=7)
    w.start()
    for s in range(1, 401):
        w.step()
        if s == 100:
            w.flush()
            with open(w.run.samples, "ab") as fh:
                fh.write(b'{"v":1,"type":"ask","ts":1,"step":100,"id":"a","rows":[]}\n{not json\n')
    w.close()
    with open(w.run.samples, "ab") as fh:
        fh.write(b'{"v":2,"type":"samples","step":999,')  # torn: the writer is mid-line
    steps = [e["step"] for e in ev.read_all(w.run.samples, types=[ev.SAMPLES])[0]]
    assert steps == list(range(7, 401, 7))
    size = w.run.samples.stat().st_size
    with open(w.run.samples, "rb") as fh:
        for want in [-5, 0, 1, 7, 10, 11, 100, 101, 200, 203, 204, 399, 400, 10_000]:
            got = rh._nearest_samples(fh, size, want)
            best = min(steps, key=lambda s: (abs(s - want), s))
            assert got is not None and got["step"] == best, (want, got and got["step"], best)
    assert [c["step"] for c in rh.chosen_groups(w.run)] == [7, 399]
    assert [c["step"] for c in rh.chosen_groups(w.run, [204, 6])] == [7, 203]


def test_failed_stopped_and_crashed_runs_say_why_they_ended():
    w = SyntheticWriter.create(max_steps=20)
    w.start()
    w.steps(5)
    w.finish("failed", error="ValueError: <b>my reward</b> broke", tb="Traceback ...\nValueError: <b>my reward</b> broke",
             log_tail=["step 5", "ValueError: <b>my reward</b> broke"])
    w.close()
    text = rh.report_html(w.run)
    assert "failed: ValueError: &lt;b&gt;my reward&lt;/b&gt; broke" in text
    assert "What went wrong" in text and "<pre>step 5\nValueError: &lt;b&gt;my reward&lt;/b&gt; broke</pre>" in text
    stopped = make_run(steps=8, max_steps=20, state="stopped")
    assert "stopped by a stop command at step 8 of 20" in rh.report_html(stopped)
    from grpo_tui.core.run.synthetic import dead_pid

    crashed = make_run(steps=6, max_steps=20, state="training", pid=dead_pid())
    text = rh.report_html(crashed)
    assert "crashed: the trainer process is gone" in text and "What went wrong" in text


def test_a_flat_series_keeps_its_floor():
    zeros = sc.line_chart([sc.Line("clipped", [1, 2, 3], [0.0, 0.0, 0.0])], title="t", ylimits=(0.0, None))
    ticks = [float(t) for t in re.findall(r'class="tick" x="[0-9.]+" y="[0-9.]+" text-anchor="end">([-0-9.e]+)<', zeros)]
    assert ticks and min(ticks) == 0.0 and max(ticks) > 0  # not -1..1 around a ratio that cannot go below 0
    free = sc.line_chart([sc.Line("x", [1, 2], [5.0, 5.0])], title="t")
    ticks = [float(t) for t in re.findall(r'class="tick" x="[0-9.]+" y="[0-9.]+" text-anchor="end">([-0-9.e]+)<', free)]
    assert min(ticks) < 5.0 < max(ticks)

