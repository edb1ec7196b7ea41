"""The training stack: what is installed, whether it is the tested set, and how
to get what the GPU path is missing.

Nothing heavy is imported: versions come from ``importlib.metadata`` and
torch's CUDA build from the text of ``torch/version.py`` (importing torch
costs seconds and, with CUDA, a context). So `grpo-tui doctor` stays fast and
works even when an import would crash.

``TESTED_SET`` is the set this project's tests run (pyproject's pins) plus the
GPU pieces; the engineer who pins the ``[gpu]`` extra updates the GPU entries
here. ``CONSTRAINTS`` are the ranges Unsloth accepts for its neighbours
(DESIGN.md "Pinned together"): an installed version outside them means the
set will not work together, whatever the tested set says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# distribution -> version this project tests (None: not pinned yet)
TESTED_SET: dict[str, str | None] = {
    "torch": "2.13.0",
    "transformers": "5.17.0",
    "trl": "1.15.0",
    "peft": "0.21.2",
    "accelerate": "1.15.0",
    "datasets": "4.8.5",
    # GPU path (filled in with the [gpu] extra's pins)
    "unsloth": "2026.10.9",
    "unsloth_zoo": "2026.10.9",
    "vllm": "0.31.0",  # newest vLLM built for torch 2.13.0 that TRL 1.15 accepts (docs/gpu.md)
    "bitsandbytes": "0.50.2",
    # vLLM >= 0.28 moved bitsandbytes out of tree: 4-bit with fast_inference needs the plugin
    # (unsloth_zoo/vllm_utils.py raises without it). Its requirements: vllm, bitsandbytes>=0.48.1.
    "vllm-bnb-plugin": "0.0.3",
}

# Ranges Unsloth accepts for its neighbours (DESIGN.md, "Pinned together").
CONSTRAINTS: dict[str, str] = {
    "trl": "<=1.15.0",
    "transformers": "<=5.17.0",
    "datasets": "<5",
    "torch": "<2.15",
}

GPU_PIECES = ("unsloth", "unsloth_zoo", "vllm", "bitsandbytes", "vllm-bnb-plugin")
CORE_PIECES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")

# How to install each piece of the GPU path. The [gpu] extra (pinned to the
# tested set) when this install of grpo-tui provides it, else the plain names.
# vLLM 0.31's kernels link libcudart.so.13: torch must be a CUDA 13 build too (docs/gpu.md).
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu130"
INSTALL: dict[str, str] = {
    "torch-cuda": f'pip install --force-reinstall --index-url {TORCH_CUDA_INDEX} "torch=={TESTED_SET["torch"]}"',
    "unsloth": "pip install unsloth",
    "unsloth_zoo": "pip install unsloth_zoo",
    "vllm": "pip install vllm",
    "bitsandbytes": "pip install bitsandbytes",
    "vllm-bnb-plugin": "pip install vllm-bnb-plugin",
}
GPU_EXTRA_INSTALL = 'pip install "grpo-tui[gpu]"'


def has_gpu_extra() -> bool:
    try:
        extras = metadata.metadata("grpo-tui").get_all("Provides-Extra") or []
    except Exception:
        return False
    return "gpu" in extras


@dataclass
class Package:
    name: str
    version: str | None  # installed, None: missing
    tested: str | None
    constraint: str | None = None
    status: str = "ok"  # ok | untested | conflict | missing
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Stack:
    packages: list[Package]
    torch_cuda: str | None  # CUDA version torch was built with, None: CPU build or no torch
    torch_build: str = ""  # "cpu", "cu128", "" (no torch)
    gpu_missing: list[tuple[str, str]] = field(default_factory=list)  # (what, install command)

    @property
    def works_together(self) -> bool:
        return not any(p.status == "conflict" for p in self.packages)

    @property
    def is_tested_set(self) -> bool:
        return all(p.status == "ok" for p in self.packages if p.name in CORE_PIECES)

    @property
    def gpu_ready(self) -> bool:
        return not self.gpu_missing and self.works_together

    def get(self, name: str) -> Package | None:
        return next((p for p in self.packages if p.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "packages": [p.to_dict() for p in self.packages],
            "torch_cuda": self.torch_cuda,
            "torch_build": self.torch_build,
            "works_together": self.works_together,
            "is_tested_set": self.is_tested_set,
            "gpu_ready": self.gpu_ready,
            "gpu_missing": [{"what": w, "install": c} for w, c in self.gpu_missing],
        }


def installed_version(dist: str) -> str | None:
    for name in (dist, dist.replace("_", "-"), dist.replace("-", "_")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        except Exception:
            return None
    return None


def torch_cuda_build() -> tuple[str | None, str]:
    """(cuda version, build tag) read from torch/version.py without importing torch."""
    try:
        dist = metadata.distribution("torch")
    except metadata.PackageNotFoundError:
        return None, ""
    except Exception:
        return None, ""
    local = dist.version.split("+", 1)[1] if "+" in dist.version else ""
    try:
        text = Path(str(dist.locate_file("torch/version.py"))).read_text(encoding="utf-8")
    except OSError:
        text = ""
    m = re.search(r"^cuda(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
    cuda = m.group(1) if m else None
    if cuda is None and local.startswith("cu"):
        digits = local[2:]
        cuda = f"{digits[:-1]}.{digits[-1]}" if len(digits) >= 2 else None
    tag = local or (f"cu{cuda.replace('.', '')}" if cuda else "cpu")
    return cuda, tag


def _satisfies(version: str, spec: str) -> bool | None:
    try:
        from packaging.specifiers import SpecifierSet
        from packaging.version import Version

        return Version(version) in SpecifierSet(spec)
    except Exception:
        return None


def _base(version: str) -> str:
    return version.split("+", 1)[0]


def detect(tested: dict[str, str | None] | None = None, versions: dict[str, str | None] | None = None,
           torch_build: tuple[str | None, str] | None = None, vllm_requires: list[str] | None = None) -> Stack:
    """Read the installed stack. ``versions``/``torch_build`` override detection (tests)."""
    tested = TESTED_SET if tested is None else tested
    pkgs: list[Package] = []
    for name, want in tested.items():
        have = versions.get(name) if versions is not None else installed_version(name)
        pkg = Package(name, have, want, CONSTRAINTS.get(name))
        if have is None:
            pkg.status = "missing"
        elif pkg.constraint and _satisfies(_base(have), pkg.constraint) is False:
            pkg.status = "conflict"
            pkg.detail = f"Unsloth needs {name}{pkg.constraint}"
        elif want is not None and _base(have) != want:
            pkg.status = "untested"
            pkg.detail = f"tested with {want}"
        pkgs.append(pkg)
    cuda, tag = torch_build if torch_build is not None else torch_cuda_build()
    stack = Stack(pkgs, cuda, tag)
    torch_pkg = stack.get("torch")
    if torch_pkg is not None and torch_pkg.version is not None and cuda is None:
        stack.gpu_missing.append(("torch with CUDA (this torch is a CPU build)", INSTALL["torch-cuda"]))
    elif torch_pkg is not None and torch_pkg.version is None:
        stack.gpu_missing.append(("torch", INSTALL["torch-cuda"]))
    missing = [n for n in GPU_PIECES if (p := stack.get(n)) is not None and p.version is None]
    if missing and has_gpu_extra():
        stack.gpu_missing.append((", ".join(missing), GPU_EXTRA_INSTALL))
    elif missing:
        # Pinned: an unpinned `pip install vllm` pulls a vLLM built for another torch.
        pinned = [f'"{n}=={tested[n]}"' if tested.get(n) else n for n in missing]
        stack.gpu_missing.append((", ".join(missing), "pip install " + " ".join(pinned)))
    # vLLM wheels pin one torch exactly: another torch makes the pair unusable.
    vllm, torch_pkg = stack.get("vllm"), stack.get("torch")
    if vllm is not None and vllm.version and torch_pkg is not None and torch_pkg.version:
        pin = vllm_torch_pin(vllm_requires if vllm_requires is not None else _requires("vllm"))
        if pin and _base(torch_pkg.version) != pin:
            vllm.status = "conflict"
            vllm.detail = f"vllm {vllm.version} is built for torch {pin}, torch {torch_pkg.version} is installed"
    return stack


def _requires(dist: str) -> list[str]:
    try:
        return list(metadata.requires(dist) or [])
    except Exception:
        return []


def vllm_torch_pin(requires: list[str]) -> str | None:
    """The exact torch a vLLM wheel's metadata pins (``torch==2.13.0``), if any."""
    for req in requires:
        m = re.match(r"^torch\s*==\s*([0-9][^;,\s]*)", req.strip())
        if m:
            return m.group(1)
    return None
