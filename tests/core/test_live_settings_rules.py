"""core.run.live_settings: what a live run may change, checked before a `set` command is written; and the
lists (runs, report, compare) that show the changes a trainer acknowledged."""

from __future__ import annotations

import pytest

from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.run import live_settings as ls
from grpo_tui.core.run import rundir as rd
from grpo_tui.core.reading.compare import Comparison, to_markdown
from grpo_tui.core.settings.config import RunConfig
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.reading.report import build_report, to_markdown as report_md


def tiny() -> RunConfig:
    return load_preset("cpu-tiny")


def test_live_keys_are_typed_and_reward_weights_take_both_forms():
    cfg = tiny()
    got = ls.parse_changes(["learning_rate=1e-4", "top_k=-1", "reward_weights=[0.5, 2]", "epsilon_high=0.28"], cfg)
    assert got == {"learning_rate": 1e-4, "top_k": -1, "reward_weights.format": 0.5,
                   "reward_weights.correctness": 2.0, "epsilon_high": 0.28}
    assert ls.parse_changes(["reward_weights.correctness=3"], cfg) == {"reward_weights.correctness": 3.0}
    assert ls.apply_to_config(cfg, got).reward_weights == [0.5, 2.0]
    assert ls.apply_to_config(cfg, got).learning_rate == 1e-4


@pytest.mark.parametrize("item,says", [
    ("num_generations=2", "num_generations: cannot change while the run trains (the batch shape is fixed)"),
    ("model=gpt2", "model: cannot change while the run trains"),
    ("lora_rank=4", "lora_rank: cannot change while the run trains"),
    ("nonsense=1", "nonsense: not a setting a run can change"),
    ("reward_weights=[1]", "1 weights for 2 rewards"),
    ("reward_weights.length=1", "this run has no reward 'length'"),
    ("top_p=0", "top_p: must be in (0, 1]"),
    ("learning_rate=abc", "learning_rate: 'abc' is not a valid float"),
    ("learning_rate=inf", "learning_rate: 'inf' is not a finite number"),
    ("reward_weights=1,nan", "reward_weights: '1,nan' is not a finite number"),
    ("beta=nan", "beta: 'nan' is not a finite number"),
    ("max_completion_length=97", "97 is above this run's ceiling of 96 (max_seq_length 128 - max_prompt_length 32)"),
])
def test_refusals_name_the_key_and_why(item, says):
    with pytest.raises(ls.SettingsError) as exc:
        ls.parse_changes([item], tiny())
    assert says in str(exc.value) and "\n" not in str(exc.value)


def test_watched_scripts_take_only_the_learning_rate_and_reward_weights():
    cfg = tiny()
    assert ls.parse_changes(["learning_rate=1e-5", "reward_weights.format=0"], cfg, watched=True)
    with pytest.raises(ls.SettingsError, match="beta: cannot change in a watched script"):
        ls.parse_changes(["beta=0.1"], cfg, watched=True)


def test_beta_needs_a_reference_model():
    with pytest.raises(ls.SettingsError, match="no reference model"):
        ls.parse_changes(["beta=0.04"], tiny(), has_reference=False)
    assert ls.parse_changes(["beta=0.04"], tiny(), has_reference=True) == {"beta": 0.04}


def test_the_cap_ceiling_on_a_gpu_is_the_planners():
    from grpo_tui.core.planning import planner

    cfg = load_preset("gpu-8gb").with_overrides({"max_seq_length": 16384})  # the context does not bind
    ceiling, why = ls.completion_ceiling(cfg, {"vram_gb": 7.6})
    assert 0 < ceiling < cfg.max_seq_length - cfg.max_prompt_length and "memory planner" in why and "7.6 GiB" in why
    assert planner.plan(cfg.with_overrides({"max_completion_length": ceiling}), 7.6).verdict != planner.NO
    assert planner.plan(cfg.with_overrides({"max_completion_length": ceiling + 1}), 7.6).verdict == planner.NO
    assert ls.completion_ceiling(cfg, {"vram_gb": 6.0})[0] < ceiling < ls.completion_ceiling(cfg, {"vram_gb": 11.0})[0]
    with pytest.raises(ls.SettingsError, match=f"above this run's ceiling of {ceiling} .the memory planner"):
        ls.parse_changes([f"max_completion_length={ceiling + 1}"], cfg, hardware={"vram_gb": 7.6})
    assert ls.parse_changes([f"max_completion_length={ceiling}"], cfg, hardware={"vram_gb": 7.6})


def _changed_run() -> rd.RunDir:
    run = rd.create_run(tiny().to_dict(), extra={"fork_of": {"run": "PARENT", "step": 4}})
    with ev.EventWriter(run.events) as w:
        w.emit(ev.RUN_STARTED, 4, pid=1, config={}, max_steps=10)
        for s in range(5, 8):
            w.emit(ev.METRICS, s, metrics={"reward": 0.5})
        w.emit(ev.SETTINGS_CHANGED, 6, changes={"learning_rate": {"old": 1.5e-3, "new": 1e-2}}, id="c1")
        w.emit(ev.SETTINGS_CHANGED, 6, changes={"learning_rate": {"old": 1.5e-3, "new": 1e-2}}, resumed=True)
        w.emit(ev.FINISHED, 7, status=ev.COMPLETED)
    ls.save_overrides(run, {"learning_rate": 1e-2}, 6)
    return run


def test_runs_report_and_compare_list_the_changes_and_the_lineage(capsys):
    run = _changed_run()
    s = rd.summarize(run)
    assert s.settings_changes == [{"step": 6, "changes": {"learning_rate": {"old": 1.5e-3, "new": 1e-2}}}]
    assert s.fork_of == "PARENT@4" and s.changes_line() == "learning_rate@6"
    capsys.readouterr()
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "learning_rate@6" in out and "fork of PARENT@4" in out
    md = report_md(build_report(run))
    assert "## Settings changed while training" in md and "| 6 | learning\\_rate | 0.0015 | 0.01 |" in md
    assert "Forked from PARENT@4" in md
    other = rd.create_run(tiny().to_dict())
    c = Comparison([run, other])
    c.load()
    cmp_md = to_markdown(c)
    assert "is a fork of PARENT@4" in cmp_md and "| 6 | learning\\_rate | 0.0015 | 0.01 |" in cmp_md
    assert ls.effective_config(run).learning_rate == 1e-2  # what --resume and a fork start from


def test_set_refuses_a_finished_run_and_bad_keys_before_writing(capsys):
    run = _changed_run()
    assert main(["set", run.id, "learning_rate=1e-3"]) == 2
    assert "is completed; there is no trainer to change" in capsys.readouterr().err
    assert not list(run.commands.glob("*.json"))


def test_a_watched_scripts_run_is_not_forked(capsys):
    run = rd.create_run(tiny().to_dict(), extra={"source": "watched"})
    (run.checkpoints / "checkpoint-2").mkdir()
    (run.checkpoints / "checkpoint-2" / "trainer_state.json").write_text("{}")
    before = {r.id for r in rd.list_runs()}
    assert main(["run", "--fork", run.id]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a watched script: grpo-tui cannot rebuild its trainer" in err and len(err.splitlines()) == 1
    assert {r.id for r in rd.list_runs()} == before


def test_epsilon_high_in_force_is_its_own_value_or_epsilons():
    cfg = tiny()
    assert ls.current_value(cfg, "epsilon_high") == cfg.epsilon
    assert ls.current_value(cfg, "epsilon_high", {"epsilon": 0.1}) == 0.1
    assert ls.current_value(cfg.with_overrides({"epsilon_high": 0.28}), "epsilon_high", {"epsilon": 0.1}) == 0.28
    assert ls.apply_to_config(cfg, {"epsilon_high": 0.3}).epsilon_high == 0.3  # a fork launches with it
