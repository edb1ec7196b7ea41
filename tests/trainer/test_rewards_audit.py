"""`grpo-tui rewards audit`: every shipped preset audits clean, a reward set that pays a hack
fails (exit 1), and the advantages it shows are TRL's."""

from __future__ import annotations

import json
import textwrap

import pytest

from grpo_tui.cli import main
from grpo_tui.core.presets import discover, load_preset
from grpo_tui.trainer.rewards.audit import CLASSES, advantages, run_audit, suite


def test_every_shipped_preset_audits_clean():
    """Every verdict but the timed one ('slow': test_rewards_audit_cost.py keeps it, comparing runs)."""
    presets = [p for p in discover().values() if p.ok and p.source == "shipped"]
    assert len(presets) >= 8
    for p in presets:
        report = run_audit(p.config, preset=p.name)
        bad = [(r.cls, r.label, r.verdict) for r in report.failures if r.verdict != "slow"]
        assert not bad and all(g["verdict"] == "ok" for g in report.groups), (p.name, bad, report.groups)


def test_suite_covers_every_class_with_controls_per_prompt():
    cases = suite(load_preset("gpu-16gb"))
    assert {c.cls for c in cases} == set(CLASSES)
    for problem in {c.problem for c in cases if c.cls != "cost"}:
        labels = {c.label for c in cases if c.problem == problem}
        assert {"honest correct", "honest wrong"} <= labels


def _reward_file(tmp_path, body: str) -> str:
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_a_naive_correctness_reward_fails_the_audit(tmp_path, capsys):
    """The last number anywhere in the completion: pays hedges, percentages and misplaced answers, and
    misses honest forms (full-width digits)."""
    path = _reward_file(tmp_path, """
        import re
        def last_number(prompts, completions, completion_ids=None, answer=None, **kw):
            out = []
            for c, g in zip(completions, answer):
                text = c if isinstance(c, str) else str(c)
                nums = re.findall(r"\\d+", text)
                out.append(1.0 if nums and nums[-1] == str(g) else 0.0)
            return out
    """)
    report = run_audit(load_preset("gpu-16gb"), extra_rewards=[f"{path}:last_number"])
    bad = {r.cls for r in report.failures}
    assert {"hedge", "percent", "position", "control"} <= bad
    assert all(r.verdict in ("above honest wrong", "paid as correct") for r in report.failures if r.cls == "hedge")
    assert {r.verdict for r in report.failures if r.cls == "control"} == {"honest not paid"}
    assert main(["rewards", "audit", "--preset", "gpu-16gb", "--reward", f"{path}:last_number"]) == 1
    out = capsys.readouterr().out
    assert "above honest wrong" in out and "last_number" in out


def test_a_reward_that_pays_at_the_cap_fails_the_truncation_class(tmp_path):
    path = _reward_file(tmp_path, """
        def long_is_good(prompts, completions, completion_ids=None, **kw):
            return [len(ids) / 100 for ids in completion_ids]
    """)
    cfg = load_preset("gpu-16gb").with_overrides({"floor_truncated_reward": False})
    report = run_audit(cfg, extra_rewards=[f"{path}:long_is_good"])
    assert {r.verdict for r in report.failures if r.cls == "truncation"} == {"above stopped-early"}
    # with the floor, a user function's positive pay is withheld at the cap: clean again
    report = run_audit(load_preset("gpu-16gb"), extra_rewards=[f"{path}:long_is_good"])
    assert not [r for r in report.failures if r.cls == "truncation"]


def test_skipping_the_minimum_is_visible(capsys):
    assert main(["rewards", "audit", "--preset", "gpu-16gb", "--set", "min_reasoning_chars=0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and any(s.startswith("reasoning:") for s in data["skipped"])
    assert not [r for r in data["rows"] if r["cls"] == "reasoning"]


def test_json_output_and_exit_code_when_clean(capsys):
    assert main(["rewards", "audit", "--preset", "cpu-small", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["worst_seconds"] < 5
    assert {"correctness", "format_strict"} <= set(data["components"])
    groups = {g["title"]: g for g in data["groups"]}
    allc = next(g for t, g in groups.items() if t.startswith("all correct"))
    adv = {m["label"]: m["advantage"] for m in allc["members"]}
    assert adv["honest correct"] > adv["no reasoning block"]


def test_unknown_preset_is_a_usage_error(capsys):
    assert main(["rewards", "audit", "--preset", "no-such-preset"]) == 2
    assert "no-such-preset" in capsys.readouterr().err


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantages_are_trls(scale):
    torch = pytest.importorskip("torch")
    from trl.trainer.utils import nanstd

    groups = [[3.0, 1.0, 1.0, -1.5], [3.0, 3.0, 2.25, 2.25]]
    flat = torch.tensor([x for g in groups for x in g])
    view = flat.view(-1, 4)
    mean = torch.nanmean(view, dim=1).repeat_interleave(4)
    if scale == "group":
        std = nanstd(view, dim=1).repeat_interleave(4)
    else:
        std = nanstd(flat).expand_as(flat)
    expected = flat - mean if scale == "none" else (flat - mean) / (std + 1e-4)
    batch_std = float(nanstd(flat))
    ours = [a for g in groups for a in advantages(g, scale, batch_std)]
    assert ours == pytest.approx(expected.tolist(), abs=1e-5)
