"""The start screen's reward-audit line: computed by `grpo-tui rewards audit --json` in a
subprocess off the UI thread, for the selected preset, shown literally."""

from __future__ import annotations

import textwrap

from textual.widgets import Static

from grpo_tui.core.planning.presets import parse_preset
from grpo_tui.tui import reward_audit
from tui_helpers import fixed_hardware, fixed_presets


async def _audit_text(app, pilot) -> str:
    for _ in range(1200):  # the subprocess takes a few seconds on a busy CI box
        text = str(app.screen.query_one("#audit", Static).render())
        if text and "auditing" not in text:
            return text
        await pilot.pause(0.05)
    raise AssertionError("the audit line never filled")


async def test_start_screen_shows_the_selected_presets_audit():
    from grpo_tui.tui.app import GrpoApp

    hw = fixed_hardware("RTX 4090")
    app = GrpoApp(detect_hardware=lambda: hw, load_presets=fixed_presets)
    async with app.run_test(size=(120, 40)) as pilot:
        text = await _audit_text(app, pilot)
        assert "rewards audit: clean" in text


async def test_a_reward_set_that_pays_a_hack_shows_red(tmp_path):
    from grpo_tui.tui.app import GrpoApp

    (tmp_path / "naive.py").write_text(textwrap.dedent("""
        import re
        def last_number(prompts, completions, completion_ids=None, answer=None, **kw):
            return [1.0 if re.findall(r"\\d+", str(c))[-1:] == [str(g)] else 0.0 for c, g in zip(completions, answer)]
    """))
    (tmp_path / "naive-rewards.toml").write_text(textwrap.dedent(f"""
        [preset]
        description = "a preset whose own reward pays hedges"
        vram_class_gb = 0
        [model]
        device = "cpu"
        [rewards]
        rewards = ["format_strict", "correctness", "{tmp_path / 'naive.py'}:last_number"]
    """))
    preset = parse_preset(tmp_path / "naive-rewards.toml", "user")
    assert preset.ok, preset.error
    hw = fixed_hardware("RTX 4090")
    app = GrpoApp(detect_hardware=lambda: hw, load_presets=lambda: {preset.name: preset}, preset=preset.name)
    async with app.run_test(size=(120, 40)) as pilot:
        text = await _audit_text(app, pilot)
    assert "problem(s)" in text and "hedge" in text and "grpo-tui rewards audit --preset naive-rewards" in text


def test_audit_line_reports_a_broken_preset(tmp_path):
    line = reward_audit.audit("no-such-preset-xyz")
    assert line.ok is None and "could not run" in line.text and "no-such-preset-xyz" in line.text


async def test_one_audit_at_a_time_and_the_last_selected_wins(monkeypatch):
    """Scrolling through the presets starts one subprocess at a time; the preset selected while
    one ran is audited next, the ones scrolled past are not."""
    import threading

    from grpo_tui.tui.app import GrpoApp

    calls: list[str] = []
    gate = threading.Event()
    real = reward_audit.audit

    def slow_audit(preset, path=None):
        calls.append(preset)
        gate.wait(20)
        return real(preset, path)

    monkeypatch.setattr(reward_audit, "audit", slow_audit)
    hw = fixed_hardware("RTX 4090")
    app = GrpoApp(detect_hardware=lambda: hw, load_presets=fixed_presets)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if calls:
                break
            await pilot.pause(0.05)
        assert calls == ["demo-24gb"]  # the recommended preset (rows: demo-16gb, demo-24gb, demo-cpu)
        await pilot.press("up", "down", "down")  # scroll past two presets while its audit runs
        await pilot.pause(0.2)
        assert app.screen.selected == "demo-cpu" and calls == ["demo-24gb"]
        gate.set()
        for _ in range(400):
            if len(calls) == 2 and "clean" in str(app.screen.query_one("#audit", Static).render()):
                break
            await pilot.pause(0.05)
        assert calls == ["demo-24gb", "demo-cpu"]  # demo-16gb, scrolled past, was never audited
        assert "clean" in str(app.screen.query_one("#audit", Static).render())
