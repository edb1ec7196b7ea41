"""The start screen's reward-audit line: computed by `grpo-tui rewards audit --json` in a
subprocess off the UI thread, for the selected preset, shown literally."""

from __future__ import annotations

import textwrap

from textual.widgets import Static

from grpo_tui.core.presets import parse_preset
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
