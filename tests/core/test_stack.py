"""core.planning.stack: versions without importing the heavy modules, the tested set, conflicts,
and an install command for every missing piece of the GPU path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from grpo_tui.core.planning import stack

TESTED = dict(stack.TESTED_SET)


def test_reads_this_environment_without_importing_torch():
    code = ("import sys; from grpo_tui.core.planning import stack; s = stack.detect(); "
            "print(s.get('torch').version, s.torch_build); "
            "print([m for m in ('torch', 'transformers', 'trl', 'vllm', 'unsloth') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    from importlib.metadata import version

    assert out[0].split()[0] == version("torch")
    assert out[1] == "[]"


def test_torch_cuda_build_of_this_environment_is_consistent():
    cuda, tag = stack.torch_cuda_build()
    assert (tag == "cpu") if cuda is None else tag.startswith("cu")  # every case: test_torch_cuda_build_from_...


def _fake_torch(monkeypatch, tmp_path, version: str | None, version_py: str | None) -> None:
    """torch's distribution as torch_cuda_build sees it: its version and its torch/version.py."""
    import types
    from importlib import metadata

    if version_py is not None:
        (tmp_path / "torch").mkdir()
        (tmp_path / "torch" / "version.py").write_text(version_py)

    def distribution(name):
        if version is None:
            raise metadata.PackageNotFoundError(name)
        return types.SimpleNamespace(version=version, locate_file=lambda rel: tmp_path / rel)

    monkeypatch.setattr(stack, "metadata", types.SimpleNamespace(
        distribution=distribution, PackageNotFoundError=metadata.PackageNotFoundError))


@pytest.mark.parametrize("version, version_py, expected", [
    ("2.13.0+cpu", "cuda: Optional[str] = None\n", (None, "cpu")),
    ("2.13.0+cu128", "cuda: Optional[str] = '12.8'\n", ("12.8", "cu128")),
    ("2.13.0", "cuda: Optional[str] = '12.8'\n", ("12.8", "cu128")),  # PyPI's Linux wheels: no local tag
    ("2.13.0", "cuda = None\n", (None, "cpu")),
    ("2.13.0+cu121", None, ("12.1", "cu121")),  # no version.py: the tag says it
    ("2.13.0+rocm6.4", "cuda = None\n", (None, "rocm6.4")),
    (None, None, (None, "")),  # not installed
])
def test_torch_cuda_build_from_version_file(monkeypatch, tmp_path, version, version_py, expected):
    _fake_torch(monkeypatch, tmp_path, version, version_py)
    assert stack.torch_cuda_build() == expected


def test_the_tested_set_is_ok():
    s = stack.detect(versions=dict(TESTED), torch_build=("12.8", "cu128"), vllm_requires=[])
    assert s.works_together and s.is_tested_set and s.gpu_ready and s.gpu_missing == []
    assert all(p.status == "ok" for p in s.packages)


def test_cpu_machine_lists_every_missing_gpu_piece_with_a_command():
    versions = {k: (v if k in stack.CORE_PIECES else None) for k, v in TESTED.items()}
    versions["torch"] = "2.13.0+cpu"
    s = stack.detect(versions=versions, torch_build=(None, "cpu"))
    assert s.works_together and s.is_tested_set and not s.gpu_ready
    what = " ".join(w for w, _ in s.gpu_missing)
    assert "CPU build" in what
    for piece in ("unsloth", "vllm", "bitsandbytes"):
        assert piece in what
    for _, cmd in s.gpu_missing:
        assert cmd.startswith("pip install")
    torch_cmd = next(c for w, c in s.gpu_missing if "torch" in w)
    assert "download.pytorch.org/whl/cu" in torch_cmd and TESTED["torch"] in torch_cmd


def test_versions_outside_unsloths_ranges_conflict():
    versions = dict(TESTED, trl="1.16.0", datasets="5.0.0")
    s = stack.detect(versions=versions, torch_build=("12.8", "cu128"), vllm_requires=[])
    assert not s.works_together
    bad = {p.name: p.detail for p in s.packages if p.status == "conflict"}
    assert set(bad) == {"trl", "datasets"} and "trl<=1.15.0" in bad["trl"]


def test_other_versions_inside_the_ranges_are_untested_not_conflicts():
    s = stack.detect(versions=dict(TESTED, trl="1.14.0"), torch_build=("12.8", "cu128"), vllm_requires=[])
    assert s.works_together and not s.is_tested_set
    assert s.get("trl").status == "untested" and s.get("trl").detail == f"tested with {TESTED['trl']}"


def test_local_version_tags_are_ignored():
    s = stack.detect(versions=dict(TESTED, torch=TESTED["torch"] + "+cu128"), torch_build=("12.8", "cu128"),
                     vllm_requires=[])
    assert s.get("torch").status == "ok"


def test_vllm_built_for_another_torch_conflicts():
    s = stack.detect(versions=dict(TESTED, torch="2.12.1+cu128"), torch_build=("12.8", "cu128"),
                     vllm_requires=[f"torch=={TESTED['torch']}", "numpy"])
    assert s.get("vllm").status == "conflict" and "built for torch" in s.get("vllm").detail
    assert not s.works_together


def test_tested_set_matches_the_gpu_pins():
    from grpo_tui.trainer.gpu_checks import TESTED_GPU_SET

    for dist, version in stack.TESTED_SET.items():
        if dist in TESTED_GPU_SET:
            assert TESTED_GPU_SET[dist] == version, dist
