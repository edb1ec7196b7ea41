"""One RunConfig resolution per launch (issue 29): from `grpo-tui run --set ...` (and from the start
screen's Enter) to the spawned trainer, the config is built from the user's input once, resolved
once (launcher.resolve: extra rewards, local paths absolute, validated) and that one object is
what every check, run.json and the trainer's command line read. Counted, not assumed: the calls
into core/settings/config.py are counted, and each check records the object it was handed."""

from __future__ import annotations

import collections
import json
import os
import signal
from pathlib import Path

import pytest

from grpo_tui import launcher
from grpo_tui.cli import main
from grpo_tui.core.planning import presets
from grpo_tui.core.run import rundir
from grpo_tui.core.settings.config import RunConfig
from grpo_tui.trainer import preflight
from tui_helpers import until


@pytest.fixture
def counted(monkeypatch):
    """Counts of RunConfig.with_overrides / from_mapping / validate and of launch resolutions, and
    the objects each check was handed. Preset files are parsed before counting starts (reading
    every preset is not this launch's config)."""
    found = presets.discover()
    monkeypatch.setattr(presets, "discover", lambda: found)
    calls: collections.Counter = collections.Counter()
    seen: dict[str, list] = collections.defaultdict(list)

    def count(name, orig, classmethod_=False):
        def wrapper(*a, **k):
            calls[name] += 1
            return orig(*a, **k)
        monkeypatch.setattr(RunConfig, name, classmethod(wrapper) if classmethod_ else wrapper)

    count("with_overrides", RunConfig.with_overrides)
    count("validate", RunConfig.validate)
    count("from_mapping", RunConfig.from_mapping.__func__, classmethod_=True)

    def spy(module, name, key=None, arg=0):
        orig = getattr(module, name)

        def wrapper(*a, **k):
            seen[key or name].append(k["cfg"] if arg == "cfg" else a[arg])
            return orig(*a, **k)
        monkeypatch.setattr(module, name, wrapper)

    spy(preflight, "resolve", "resolutions")
    spy(preflight, "check")
    spy(launcher, "check_memory")
    spy(launcher, "trainer_argv", arg=1)
    spy(launcher, "create_run")
    spy(launcher, "spawn", arg="cfg")
    procs = []
    orig_spawn = launcher.spawn

    def keep(*a, **k):
        procs.append(orig_spawn(*a, **k))
        return procs[-1]
    monkeypatch.setattr(launcher, "spawn", keep)
    yield calls, seen
    for p in procs:  # the trainer this test started: its own session, ended with its group
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def _the_one_object(seen) -> RunConfig:
    assert len(seen["resolutions"]) == 1
    checked = seen["check"] + seen["check_memory"] + seen["trainer_argv"] + seen["spawn"]
    assert len(seen["check"]) == len(seen["check_memory"]) == len(seen["spawn"]) == 1
    first = checked[0]
    assert all(c is first for c in checked)  # handed on, never rebuilt
    assert seen["create_run"] == [first.to_dict()]  # run.json is written from it
    return first


def test_cli_launch_resolves_the_config_once(counted, tmp_path, monkeypatch):
    calls, seen = counted
    monkeypatch.chdir(tmp_path)
    Path("rows.jsonl").write_text(json.dumps({"prompt": "1+1?", "answer": "2"}) + "\n")
    Path("mine.py").write_text("def short(prompts, completions, **kw):\n    return [0.0 for _ in completions]\n")
    code = main(["run", "--preset", "cpu-tiny", "--set", "max_completion_length=48", "--set", "dataset=./rows.jsonl",
                 "--reward", "mine.py:short", "--detach"])
    assert code == 0
    cfg = _the_one_object(seen)
    # the user's --set parsed into a config once; validated once; run.json never read back
    assert dict(calls) == {"with_overrides": 1, "validate": 1}
    run = rundir.list_runs()[0]
    written = run.config()
    assert written["max_completion_length"] == 48 == cfg.max_completion_length
    assert written["dataset"] == str(tmp_path / "rows.jsonl")  # resolved: the trainer runs in the run folder
    assert written["rewards"][-1] == f"{tmp_path / 'mine.py'}:short"


async def test_start_screen_launch_resolves_the_config_once(counted):
    from textual.widgets import Input

    from grpo_tui.tui.screens.start import StartScreen
    from tui_helpers import make_app

    calls, seen = counted
    app = make_app("none")
    app.load_presets = lambda: {"cpu-tiny": presets.discover()["cpu-tiny"]}
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, StartScreen) and app.screen.selected, timeout=60, what="the survey")
        await app.workers.wait_for_complete()
        knob = app.screen.query_one("#knob-max_completion_length", Input)
        knob.focus()
        knob.value = ""
        await pilot.press("4", "8")
        await pilot.pause()
        calls.clear()  # the knobs build a config as they change (the display's); the launch starts here
        await pilot.press("enter")
        await until(pilot, lambda: app.current_run is not None, timeout=60, what="the launch")
        cfg = _the_one_object(seen)
        assert dict(calls) == {"validate": 1}
        assert app.current_run.config()["max_completion_length"] == 48 == cfg.max_completion_length
