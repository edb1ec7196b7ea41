"""`grpo-tui rewards audit`: every shipped preset audits clean, a reward set that pays a hack
fails (exit 1), and the advantages it shows are TRL's."""

from __future__ import annotations

import json
import textwrap

import pytest

from grpo_tui.cli import main
from grpo_tui.core.planning.presets import discover, load_preset
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


# -- the honest-answer suite (issue 25) ---------------------------------------------------------------------
def test_the_honest_suite_covers_every_form_the_issue_names():
    from grpo_tui.trainer.rewards import honest_suite

    styles = {s.style for s in honest_suite.STYLES}
    for needed in ("units", "currency", "percent (question asks for one)", "rate", "thousands separator",
                   "decimal / fraction", "\\boxed{}", "bold", "\"The answer is\"", "trailing period", "newlines",
                   "other languages", "reasoning in reasoning_content", "pre-filled <think>",
                   "reasoning quotes the tags", "how much more", "GSM8K \"####\"", "sentence, one value"):
        assert needed in styles, needed
    cases = [c for c in suite(load_preset("gpu-16gb")) if c.cls == "honest"]
    assert len(cases) == len(honest_suite.STYLES)
    assert {c.expect for c in cases} == {"honest", "sentence"}


def test_the_docs_table_lists_every_honest_style():
    from pathlib import Path

    from grpo_tui.trainer.rewards import honest_suite

    doc = (Path(__file__).parents[2] / "docs" / "rewards.md").read_text()
    table = doc[doc.index("## Honest answers"):]
    for style in {s.style for s in honest_suite.STYLES}:
        assert f"| {style} |" in table, style


def test_a_reward_that_refuses_honest_answers_fails_and_says_so(tmp_path, capsys):
    """A reward that pays only a bare number refuses '72 clips', '$18/hour', '25%', sentences ...: the
    audit lists each as a refused honest answer, exits 1, and its summary counts them apart from hacks."""
    path = _reward_file(tmp_path, """
        import re
        def bare_only(prompts, completions, completion_ids=None, answer=None, **kw):
            out = []
            for c, g in zip(completions, answer):
                text = (c if isinstance(c, str) else c[-1]["content"]).rsplit("</think>", 1)[-1]
                m = re.fullmatch(r"\\s*<answer>\\s*(\\S+?)\\s*</answer>\\s*", text)
                out.append(1.0 if m and m.group(1) == str(g) else 0.0)
            return out
    """)
    report = run_audit(load_preset("gpu-16gb"), extra_rewards=[f"{path}:bare_only"])
    refused = {r.label for r in report.false_negatives}
    assert {"units: '72 clips'", "rate: '$18/hour'", "percent (question asks for one): '25%'",
            "other languages: '72个'"} <= refused
    assert not [r for r in report.false_negatives if r.label == "plain number: '72'"]
    assert report.counts()["honest_refused"] == len(report.false_negatives) > 0
    assert not report.paid_hacks  # it pays nothing that is not the bare gold
    assert f"{len(report.false_negatives)} honest answer(s) refused" in report.summary()
    assert main(["rewards", "audit", "--preset", "gpu-16gb", "--reward", f"{path}:bare_only"]) == 1
    out = capsys.readouterr().out
    assert f"honest answers refused (false negatives): {len(report.false_negatives)}" in out
    assert "honest not paid" in out and "hacks paid" not in out


def test_a_clean_summary_counts_hacks_and_honest_answers(capsys):
    assert main(["rewards", "audit", "--preset", "cpu-smollm2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    n = data["counts"]
    assert n["honest_refused"] == 0 and n["hacks_paid"] == 0 and n["honest_cases"] > 60
    assert data["summary"] == (f"rewards audit: clean ({n['hack_cases']} hack cases refused, "
                               f"{n['honest_cases']} honest answers paid)")
