"""Shipped presets validate, fit their class, respect TRL's rules and cite their
numbers; user presets override shipped ones; broken files are reported."""

from __future__ import annotations

import json
import re
import sys

import pytest

from grpo_tui import cli
from grpo_tui.core.planning import planner
from grpo_tui.core.settings.config import ConfigError
from grpo_tui.core.planning.hardware import lookup_gpu
from grpo_tui.core.planning.presets import discover, load_preset, shipped_dir, user_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SHIPPED = sorted(p.stem for p in shipped_dir().glob("*.toml"))
GPU = [n for n in SHIPPED if n.startswith("gpu-")]
# The smallest common card of each class: a preset must fit it.
CLASS_CARD = {8: "4060 laptop", 12: "4070", 16: "T4", 24: "L4", 40: "A100-40", 80: "H100", 141: "H200"}
# Numbers that size a run: each must carry a source comment on its line.
CITED = ("load_in_4bit", "max_seq_length", "gpu_memory_utilization", "vllm_standby", "lora_rank", "lora_alpha",
         "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps", "max_prompt_length",
         "max_completion_length", "learning_rate", "optim", "loss_type", "max_steps", "temperature")


def test_the_classes_are_all_there():
    assert {"cpu-tiny", "cpu-small"} <= set(SHIPPED)
    classes = {int(tomllib.loads((shipped_dir() / f"{n}.toml").read_text())["preset"]["vram_class_gb"])
               for n in GPU}
    assert classes == set(CLASS_CARD)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset_validates(name):
    presets = discover()
    p = presets[name]
    assert p.ok, p.error
    assert p.source == "shipped"
    assert p.meta.get("description") and "vram_class_gb" in p.meta and "tested" in p.meta
    c = p.config
    # TRL: the generation batch divides into whole groups; prompt + completion fit the sequence
    assert (c.per_device_train_batch_size * c.gradient_accumulation_steps) % c.num_generations == 0
    assert c.num_generations >= 2
    assert c.max_prompt_length + c.max_completion_length <= c.max_seq_length
    assert c.rewards and c.loss_type in ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo")


@pytest.mark.parametrize("name", GPU)
def test_gpu_preset_fits_its_class(name):
    p = discover()[name]
    card = lookup_gpu(CLASS_CARD[int(p.meta["vram_class_gb"])])
    pl = planner.plan(p.config, card.vram_gb)
    assert pl.verdict == "fits", pl.explain()
    planner.check_launch(p.config, card.vram_gb)  # the launcher would accept it


@pytest.mark.parametrize("name", GPU)
def test_gpu_preset_shape(name):
    c = discover()[name].config
    assert c.backend == "unsloth" and c.fast_inference and c.use_vllm and c.vllm_mode == "colocate"
    assert c.dataset == "openai/gsm8k" and c.dataset_config == "main"
    assert c.device != "cpu"
    assert planner.model_spec(c.model).estimated is False  # the planner knows the architecture


def test_cpu_small_uses_a_real_hub_model_on_cpu():
    c = discover()["cpu-small"].config
    assert c.device == "cpu" and c.backend == "trl" and "/" in c.model and not c.load_in_4bit
    assert c.dataset == "openai/gsm8k" and c.dataset_config == "main"


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "cpu-tiny"])
def test_every_sizing_number_cites_its_source(name):
    text = (shipped_dir() / f"{name}.toml").read_text()
    header = text.split("[preset]", 1)[0]
    assert "Sources:" in header
    tags = set(re.findall(r"\[([A-Z][A-Z0-9-]+)\]", header))
    assert tags, "the header defines the source tags"
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key in CITED:
            assert "#" in line, f"{name}: {key} has no source comment"
            comment = line.split("#", 1)[1]
            if name != "cpu-small" or "[" in comment:
                cited = set(re.findall(r"\[([A-Z][A-Z0-9-]+)\]", comment))
                assert cited <= tags, f"{name}: {key} cites {cited - tags}, not defined in the header"


# -- user presets ---------------------------------------------------------------------------
def _write(name: str, text: str):
    d = user_dir()
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.toml").write_text(text)
    return d / f"{name}.toml"


USER_OVERRIDE = """
[preset]
description = "my T4 settings"
vram_class_gb = 16
tested = true

[model]
backend = "unsloth"
model = "Qwen/Qwen2.5-3B-Instruct"
load_in_4bit = true
fast_inference = true
use_vllm = true
vllm_standby = false
gpu_memory_utilization = 0.5
max_seq_length = 512

[grpo]
num_generations = 4
per_device_train_batch_size = 4
max_prompt_length = 128
max_completion_length = 256
"""


def test_user_preset_overrides_shipped(capsys):
    path = _write("gpu-16gb", USER_OVERRIDE)
    presets = discover()
    p = presets["gpu-16gb"]
    assert p.source == "user" and p.path == path and p.overrides == shipped_dir() / "gpu-16gb.toml"
    assert p.tested and p.config.model == "Qwen/Qwen2.5-3B-Instruct"
    assert load_preset("gpu-16gb").max_seq_length == 512
    assert cli.main(["presets", "--gpu", "T4"]) == 0
    out = capsys.readouterr().out
    assert "gpu-16gb (user)" in out and "your presets replace shipped ones: gpu-16gb" in out
    assert str(user_dir()) in out.replace("\n", "")  # where to put presets is shown


def test_new_user_preset_is_listed_and_planned(capsys):
    _write("mine", USER_OVERRIDE)
    assert cli.main(["presets", "--vram", "16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    mine = next(p for p in data["presets"] if p["name"] == "mine")
    assert mine["source"] == "user" and mine["overrides"] is None and mine["plan"]["verdict"] == "fits"
    assert data["user_presets_dir"] == str(user_dir())


BROKEN = {
    "bad-toml": ("[model\nmodel = 1", "not valid TOML"),
    "bad-field": ("[grpo]\nnum_generatons = 4\n", "num_generatons: unknown field (did you mean 'num_generations'?)"),
    "bad-value": ("[grpo]\nlora_rank = 'big'\n", "lora_rank: 'big' is not a valid int"),
    "bad-group": ("[grpo]\ntop_p = 50\n", "top_p: must be in (0, 1] (TRL and vLLM), got 50"),
    "bad-meta": ("[preset]\nvram_class_gb = 'lots'\n", "preset.vram_class_gb: 'lots' is not a int"),
    "bad-twice": ("[model]\nlora_rank = 8\n[lora]\nlora_rank = 16\n", "lora.lora_rank: set twice in this file"),
}


def test_broken_user_presets_are_reported_and_the_rest_load(capsys):
    paths = {name: _write(name, text) for name, (text, _) in BROKEN.items()}
    presets = discover()
    for name, (_, reason) in BROKEN.items():
        p = presets[name]
        assert not p.ok
        assert p.error.startswith(str(paths[name])), p.error  # the file
        assert reason in p.error, p.error  # the field and the reason
        with pytest.raises(ConfigError):
            load_preset(name)
    assert all(presets[n].ok for n in SHIPPED)  # the others still load
    assert cli.main(["presets", "--gpu", "T4"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in BROKEN:
        assert f"broken preset {name}:" in out
    assert "* recommended: gpu-16gb" in out


def test_presets_are_listed_smallest_gpu_first_and_broken_last():
    """The app's preset table and `grpo-tui presets` share discover()'s order (not the file names',
    which put gpu-141gb before gpu-16gb)."""
    name, (text, _) = next(iter(BROKEN.items()))
    _write(name, text)
    names = list(discover())
    shipped = [n for n in names if n in SHIPPED]
    assert shipped[:3] == ["cpu-small", "cpu-smollm2", "cpu-tiny"]
    assert shipped[3:] == ["gpu-8gb", "gpu-12gb", "gpu-16gb", "gpu-24gb", "gpu-40gb", "gpu-80gb", "gpu-141gb"]
    assert names[-1] == name


def test_broken_user_override_does_not_fall_back_silently():
    _write("gpu-8gb", "[grpo]\nnum_generations = 1\n")
    p = discover()["gpu-8gb"]
    assert p.source == "user" and not p.ok and p.overrides is not None
    with pytest.raises(ConfigError, match="num_generations: must be at least 2"):
        load_preset("gpu-8gb")


def test_plan_cli_for_a_preset(capsys):
    assert cli.main(["plan", "gpu-16gb", "--gpu", "T4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["plan"]["verdict"] == "fits" and data["target"]["vram_gb"] == pytest.approx(15.0)
    assert set(data["plan"]["parts_gb"]) == set(planner.PART_LABELS)
    assert cli.main(["plan", "gpu-16gb", "--gpu", "T4", "--set", "vllm_standby=true",
                     "--set", "max_seq_length=2048", "--set", "max_completion_length=1792",
                     "--set", "load_in_4bit=false"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "verdict: no" in out and "0.76 (asked 0.5)" in out and "GRPO logits / loss buffers" in out


@pytest.mark.parametrize("argv,message", [
    (["plan", "nope", "--vram", "16"], "unknown preset 'nope'"),
    (["plan", "gpu-16gb", "--vram", "-3"], "--vram must be a positive number"),
    (["plan", "gpu-16gb", "--gpu", "GTX 9999"], "unknown GPU 'GTX 9999'"),
    (["plan", "gpu-16gb", "--set", "top_k=-5"], "top_k: must be -1, 0 (both: off) or a positive count"),
    (["plan", "gpu-16gb", "--set", "lora_rnk=8"], "lora_rnk: unknown field"),
    (["presets", "--gpu", "nonsense"], "unknown GPU 'nonsense'"),
])
def test_bad_input_exits_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
