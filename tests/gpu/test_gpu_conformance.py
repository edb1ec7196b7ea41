"""Every call grpo-tui makes into Unsloth, unsloth_zoo, vLLM, vllm-bnb-plugin, NVML and TRL's GRPOConfig,
checked against the real source at the pinned versions (issue 18), and the stand-ins against it too.

The wheels come from the package index once (tests/real_wheels.py: ``pip download --no-deps`` into a
cache outside the clone) and are read with ``ast``, never imported or installed. A version bump in
pyproject's ``[gpu]`` extra that breaks a call fails here, not on a user's GPU. Without the package
index (and no cache) these tests skip and say so.

What this cannot show: behaviour. A keyword that exists can still be handled differently on a GPU.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from grpo_tui.core.planning.presets import load_preset, parse_preset, shipped_dir
from grpo_tui.trainer import gpu_checks as gc
from grpo_tui.trainer.backends import unsloth as ub

import real_wheels as rw

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "grpo_tui"
STANDINS = Path(__file__).resolve().parents[1] / "standins"

pytestmark = pytest.mark.slow  # the first run downloads ~350 MB (vLLM's wheel); cached runs take seconds


def gpu_pins() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = {}
    for req in data["project"]["optional-dependencies"]["gpu"]:
        name, _, version = req.partition("==")
        pins[name.strip()] = version.strip()
    return pins


PINS = gpu_pins()


@pytest.fixture(scope="module")
def unsloth():
    return rw.source_tree("unsloth", PINS["unsloth"])


@pytest.fixture(scope="module")
def zoo():
    return rw.source_tree("unsloth_zoo", PINS["unsloth_zoo"])


@pytest.fixture(scope="module")
def vllm():
    return rw.source_tree("vllm", PINS["vllm"])


@pytest.fixture(scope="module")
def plugin():
    return rw.source_tree("vllm-bnb-plugin", PINS["vllm-bnb-plugin"])


def gpu_configs():
    """Every shipped unsloth preset, plus the variants the code branches on."""
    found = [p.config for p in (parse_preset(path) for path in sorted(shipped_dir().glob("*.toml")))
             if p.ok and p.config.backend == "unsloth"]
    assert found, "no shipped preset uses the unsloth backend"
    base = found[0]
    return found + [base.with_overrides({"full_finetuning": True}),
                    base.with_overrides({"fast_inference": True, "vllm_standby": True}),
                    base.with_overrides({"dtype": "float16"})]


def standin(relpath: str) -> rw.Source:
    return rw.Source(STANDINS / relpath)


def _rules():
    spec = importlib.util.spec_from_file_location("grpo_tui_test_unsloth_rules", STANDINS / "_unsloth_rules.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- Unsloth: the calls ----------------------------------------------------------------------------------
def test_from_pretrained_keywords_exist(unsloth):
    loader = rw.source(unsloth, "unsloth/models/loader.py").params("FastLanguageModel.from_pretrained")
    llama = rw.source(unsloth, "unsloth/models/llama.py").params("FastLlamaModel.from_pretrained")
    vision = rw.source(unsloth, "unsloth/models/vision.py").params("FastBaseModel.from_pretrained")
    assert loader.var_kw  # the rest is forwarded to the model family's loader
    # `from unsloth import FastLanguageModel` reaches this class on CUDA machines.
    assert "from .loader import FastLanguageModel" in rw.source(unsloth, "unsloth/models/__init__.py").text
    assert "from ._gpu_init import *" in rw.source(unsloth, "unsloth/__init__.py").text
    assert re.search(r"^\s*from \.models import \*", rw.source(unsloth, "unsloth/_gpu_init.py").text, re.M)
    used = set()
    for cfg in gpu_configs():
        used |= set(ub.from_pretrained_kwargs(cfg, cfg.model, token="hf_x"))
    assert {"model_name", "fast_inference", "gpu_memory_utilization", "unsloth_vllm_standby"} <= used
    for key in sorted(used):
        assert loader.accepts(key) or (llama.accepts(key) and vision.accepts(key)), \
            f"FastLanguageModel.from_pretrained has no {key!r} (nor do the loaders it forwards to)"


def test_get_peft_model_keywords_exist(unsloth):
    real = rw.source(unsloth, "unsloth/models/llama.py").params("FastLlamaModel.get_peft_model")
    for cfg in gpu_configs():
        for key in ub.peft_kwargs(cfg):
            assert real.accepts(key), f"get_peft_model has no {key!r}"


def test_save_and_lora_calls_exist(unsloth, zoo):
    merged = rw.source(unsloth, "unsloth/save.py").params("unsloth_generic_save_pretrained_merged")
    assert merged.names[:3] == ["self", "save_directory", "tokenizer"] and merged.accepts("save_method")
    assert merged.defaults["save_method"] == "merged_16bit"
    zoo_utils = rw.source(zoo, "unsloth_zoo/vllm_utils.py")
    assert zoo_utils.params("save_lora").names[:2] == ["model", "save_directory"]
    load = zoo_utils.params("load_lora")
    assert load.names == ["model", "save_directory", "load_tensors", "lora_request_id"]


def test_load_lora_exists_only_after_get_peft_model(unsloth):
    """Failure 3: ``model.load_lora`` is attached in patch_peft_fast_inference, which get_peft_model /
    patch_peft_model call, and nowhere on the model from_pretrained returns."""
    utils = rw.source(unsloth, "unsloth/models/_utils.py")
    assert utils.functions_assigning("load_lora") == {"patch_peft_fast_inference"}
    llama = rw.source(unsloth, "unsloth/models/llama.py")
    assert "patch_peft_fast_inference(model)" in llama.segment("FastLlamaModel.patch_peft_model")
    assert "patch_peft_fast_inference" not in llama.segment("FastLlamaModel.from_pretrained")
    assert not llama.functions_assigning("load_lora")


def test_environment_we_set_is_read(unsloth, zoo):
    reads = set()
    for tree, files in ((unsloth, ("unsloth/models/llama.py", "unsloth/models/rl.py", "unsloth/__init__.py")),
                        (zoo, ("unsloth_zoo/__init__.py", "unsloth_zoo/vllm_utils.py"))):
        for f in files:
            reads |= rw.source(tree, f).env_reads()
    for cfg in gpu_configs():
        for key in ub.unsloth_env(cfg):
            assert key in reads, f"{key} is set for Unsloth but nothing there reads it"
    rules = standin("_unsloth_rules.py")
    for name in ("STANDBY_ENV", "UTIL_OVERRIDE_ENV"):
        value = next(n.value.value for n in rules.tree.body if isinstance(n, ast.Assign)
                     and n.targets[0].id == name)
        assert value in reads, f"the stand-in's {name} ({value}) is not read by Unsloth"


# -- Unsloth: the rules the stand-in enforces are the real ones ------------------------------------------
def test_standin_rules_match_unsloth(unsloth, zoo):
    llama = rw.source(unsloth, "unsloth/models/llama.py").segment("FastLlamaModel.from_pretrained")
    assert 'unsloth_vllm_standby and os.environ.get("UNSLOTH_VLLM_STANDBY", "0") == "0"' in llama
    load_vllm = rw.source(zoo, "unsloth_zoo/vllm_utils.py").segment("load_vllm")
    assert "moved bitsandbytes out of tree" in load_vllm and "vllm-bnb-plugin" in load_vllm
    # The standby tiers of the vLLM >= 0.11 branch (the last ones in load_vllm) and the 0.95 headroom:
    # the stand-in's standby_target_util gives the same share for each tier.
    branch = load_vllm[load_vllm.rindex("else:\n        # Standby mode sleep/wake cycle"):]
    tiers = [(float(t), float(u)) for t, u in
             re.findall(r"ten_percent >= ([\d.]+): standby_target_gpu_util = ([\d.]+)", branch)]
    floor = float(re.search(r"else: standby_target_gpu_util = ([\d.]+)", branch).group(1))
    assert len(tiers) == 5 and "standby_target_gpu_util *= 0.95" in branch
    rules = _rules()
    for ten_percent, util in tiers:
        assert rules.standby_target_util(ten_percent * 10) == pytest.approx(util * 0.95)
    assert rules.standby_target_util(min(t for t, _ in tiers) * 10 - 1) == pytest.approx(floor * 0.95)
    assert "if unsloth_vllm_standby and not standby_util_override:" in load_vllm
    rl = rw.source(unsloth, "unsloth/models/rl.py").text
    for text in ("Model is in float16 precision but you want to use bfloat16 precision",
                 "Model is in bfloat16 precision but you want to use float16 precision",
                 "if temperature <= 0:", "elif temperature >= 10:", "args._n_gpu = 1",
                 "per_device_train_batch_size = num_generations", "epsilon_high = 0.28",
                 "args.use_vllm = True", "args.vllm_mode='colocate'", "args.vllm_enable_sleep_mode=True"):
        assert text in rl, text
    assert "does not exist!" in rw.source(zoo, "unsloth_zoo/vllm_utils.py").segment("_build_lora_request")
    zoo_init = rw.source(zoo, "unsloth_zoo/__init__.py").text
    assert 'os.environ["PYTORCH_ALLOC_CONF"] = "expandable_segments:True"' in zoo_init


def test_standin_signatures_match_unsloth(unsloth, zoo):
    fake = standin("unsloth/__init__.py")
    loader = rw.source(unsloth, "unsloth/models/loader.py").params("FastLanguageModel.from_pretrained")
    llama = rw.source(unsloth, "unsloth/models/llama.py")
    for ours, real in ((fake.params("FastLanguageModel.from_pretrained"), loader),
                       (fake.params("FastLanguageModel.get_peft_model"), llama.params("FastLlamaModel.get_peft_model"))):
        assert ours.var_kw == real.var_kw
        for name in ours.names:
            assert real.accepts(name), f"stand-in parameter {name!r} does not exist in Unsloth"
            if name in ours.defaults and name in real.defaults and real.defaults[name] is not ...:
                assert ours.defaults[name] == real.defaults[name], f"default of {name!r} differs"
    zoo_utils = rw.source(zoo, "unsloth_zoo/vllm_utils.py")
    # Bound to the model (functools.partial / a method): the stand-in's parameters are the rest.
    assert fake_inner_params(fake, "load_lora") == zoo_utils.params("load_lora").names[1:]
    assert fake_inner_params(fake, "save_lora") == zoo_utils.params("save_lora").names[1:2]
    merged = rw.source(unsloth, "unsloth/save.py").params("unsloth_generic_save_pretrained_merged")
    assert fake_inner_params(fake, "save_pretrained_merged") == merged.names[1:4]


def fake_inner_params(src: rw.Source, name: str) -> list[str]:
    fn = next(n for n in ast.walk(src.tree) if isinstance(n, ast.FunctionDef) and n.name == name)
    return rw.params_of(fn).names


# -- vLLM and the plugin ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _project() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(PACKAGE.rglob("*.py"))]


def _project_calls(func_name: str) -> list[tuple[Path, ast.Call, ast.FunctionDef | None]]:
    out = []
    for path, tree in _project():
        for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for n in ast.walk(fn):
                if isinstance(n, ast.Call):
                    f = n.func
                    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                    if name == func_name:
                        out.append((path, n, fn))
    return out


def _keywords(call: ast.Call, fn: ast.FunctionDef | None) -> set[str]:
    """Explicit keywords, and for ``**kw`` the keys that function puts into ``kw``."""
    keys = {k.arg for k in call.keywords if k.arg}
    for k in call.keywords:
        if k.arg is None and isinstance(k.value, ast.Name) and fn is not None:
            var = k.value.id
            for n in ast.walk(fn):
                if isinstance(n, (ast.Assign, ast.AnnAssign)):
                    targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                    if any(isinstance(t, ast.Name) and t.id == var for t in targets) and isinstance(n.value, ast.Dict):
                        keys |= {c.value for c in n.value.keys if isinstance(c, ast.Constant)}
                    for t in targets:
                        if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == var \
                                and isinstance(t.slice, ast.Constant):
                            keys.add(t.slice.value)
    return keys


def test_vllm_names_we_import_exist(vllm):
    exported = rw.source(vllm, "vllm/__init__.py").text
    imported = set()
    for path, tree in _project():
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module == "vllm":
                imported |= {a.name for a in n.names}
    assert "SamplingParams" in imported
    for name in imported:
        assert f'"{name}": ' in exported, f"vllm does not export {name}"


def test_sampling_params_and_generate_keywords_exist(vllm):
    fields = rw.source(vllm, "vllm/sampling_params.py").class_fields("SamplingParams")
    calls = _project_calls("SamplingParams")
    assert calls, "grpo-tui builds no SamplingParams?"
    for path, call, fn in calls:
        for key in _keywords(call, fn):
            assert key in fields, f"{path.name}: SamplingParams has no field {key!r}"
    generate = rw.source(vllm, "vllm/entrypoints/llm.py").params("LLM.generate")
    gens = _project_calls("fast_generate")
    assert gens
    for path, call, fn in gens:
        for key in _keywords(call, fn):
            assert generate.accepts(key), f"{path.name}: LLM.generate has no {key!r}"
    inputs = "".join(p.read_text(encoding="utf-8") for p in (vllm / "vllm" / "inputs").glob("*.py"))
    assert "prompt_token_ids: " in inputs  # a TokensPrompt dict is what we hand fast_generate


def test_standin_vllm_matches_vllm(vllm):
    fields = rw.source(vllm, "vllm/sampling_params.py").class_fields("SamplingParams")
    tree = standin("vllm/__init__.py")
    ours = next(n for n in tree.tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "SAMPLING_FIELDS")
    for name in ast.literal_eval(ours.value):
        assert name in fields, f"stand-in SamplingParams accepts {name!r}, vLLM does not"
    lora = rw.source(vllm, "vllm/lora/request.py")
    assert tree.params("LoRARequest.__init__").names[1:] == lora.class_fields("LoRARequest")
    post = lora.segment("LoRARequest.__post_init__")
    assert "self.lora_int_id < 1" in post and 'lora_path cannot be empty' in post
    assert tree.segment("LoRARequest.__init__").count("lora_path cannot be empty") == 1
    generate = rw.source(vllm, "vllm/entrypoints/llm.py").params("LLM.generate")
    fake = standin("unsloth/__init__.py")
    assert ["self", *fake_inner_params(fake, "fast_generate")] == generate.names


def test_bnb_plugin_requirements_and_module(plugin, zoo):
    from packaging.requirements import Requirement
    from packaging.version import Version

    for req in map(Requirement, rw.metadata_requires(plugin)):
        if req.name in PINS:
            assert Version(PINS[req.name]) in req.specifier, f"vllm-bnb-plugin needs {req}, [gpu] pins {PINS[req.name]}"
    assert (plugin / "vllm_bnb_plugin" / "bitsandbytes.py").is_file()
    assert '"vllm_bnb_plugin.bitsandbytes"' in rw.source(zoo, "unsloth_zoo/vllm_utils.py").text


def test_vllm_pins_our_torch(vllm):
    assert gc.vllm_torch_pin(rw.metadata_requires(vllm)) == gc.TESTED_GPU_SET["torch"]


# -- NVML and TRL (installed here; read from their files) ------------------------------------------------
def _pynvml_functions() -> set[str]:
    spec = importlib.util.find_spec("pynvml")
    assert spec and spec.origin, "nvidia-ml-py is a dependency"
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_nvml_function_names_exist():
    real = _pynvml_functions()
    used = set()
    for path in (PACKAGE / "core" / "planning" / "hardware.py",):
        for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.fullmatch(r"nvml[A-Z]\w+", n.value):
                used.add(n.value)
    assert "nvmlDeviceGetEnforcedPowerLimit" in used
    assert used <= real, f"not in pynvml: {sorted(used - real)}"
    fake = rw.Source(PACKAGE / "core" / "planning" / "fakenvml.py")
    methods = {n.name for n in ast.walk(fake.tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("nvml")}
    assert "nvmlDeviceGetEnforcedPowerLimit" in methods
    assert methods <= real, f"fake NVML names not in pynvml: {sorted(methods - real)}"


def test_grpo_config_fields_on_the_gpu_path(monkeypatch, tmp_path):
    import torch
    from trl import GRPOConfig
    from trl import __version__ as trl_version

    from grpo_tui.trainer import vllm_server as vs
    from grpo_tui.trainer.grpo_args import grpo_kwargs

    assert trl_version == gc.TESTED_GPU_SET["trl"]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    used = set()
    for cfg in gpu_configs():
        used |= set(grpo_kwargs(cfg, tmp_path, "cuda", **ub.grpo_overrides(cfg, "cuda")))
    trl_cfg = load_preset("gpu-24gb").with_overrides({"backend": "trl", "use_vllm": True, "vllm_mode": "colocate"})
    used |= set(grpo_kwargs(trl_cfg, tmp_path, "cuda"))
    server = vs.VllmServer([], {}, tmp_path / "log")
    used |= set(grpo_kwargs(trl_cfg.with_overrides({"vllm_mode": "server"}), tmp_path, "cuda",
                            **server.grpo_overrides()))
    assert {"vllm_max_model_length", "vllm_server_port", "fp16", "bf16"} <= used
    assert used <= fields, f"not GRPOConfig fields: {sorted(used - fields)}"


def test_vllm_serve_options_exist():
    from trl.scripts.vllm_serve import ScriptArguments

    from grpo_tui.trainer import vllm_server as vs

    fields = {f.name for f in dataclasses.fields(ScriptArguments)}
    cfg = load_preset("gpu-24gb").with_overrides({"dtype": "bfloat16"})
    argv = vs.serve_command(cfg, "Qwen/Qwen3-4B", 8000)
    options = {a[2:] for a in argv if a.startswith("--")}
    assert "dtype" in options and options <= fields, sorted(options - fields)
