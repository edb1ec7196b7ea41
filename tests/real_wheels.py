"""The pinned GPU libraries' real source, for conformance tests: fetched, cached, read, never imported.

``source_tree(dist, version)`` downloads the wheel once (``pip download --no-deps``), keeps only its
Python files and metadata in a cache folder outside the clone, and returns that folder. The cache
survives between runs: ``$GRPO_TUI_TEST_WHEELS``, else ``~/.cache/grpo-tui-test-wheels``. vLLM's wheel
is about 320 MB (mostly CUDA kernels); its Python files are about 30 MB, so the wheel itself is not kept.

``Source`` parses one file with ``ast`` and answers: a function's parameters, the environment
variables read, whether a string occurs in a function. Nothing here imports unsloth or vllm, and
they are never installed: Unsloth refuses to import without a GPU.

When the package index cannot be reached, ``source_tree`` skips the calling test and says so; any
other failure (a version that does not exist, a wheel without the file) fails it.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

CACHE_ENV = "GRPO_TUI_TEST_WHEELS"
KEEP = (".py", "METADATA", "entry_points.txt", "top_level.txt")
NETWORK_HINTS = ("connection", "network", "timed out", "temporary failure", "name resolution", "unreachable",
                 "max retries", "proxy", "ssl", "no route")


def cache_dir() -> Path:
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "grpo-tui-test-wheels")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _norm(dist: str) -> str:
    return dist.replace("-", "_").lower()


def _download(dist: str, version: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(into), f"{dist}=={version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip(f"package index unreachable: `pip download {dist}=={version}` took over 15 minutes")
    wheels = [p for p in into.glob("*.whl") if [_norm(x) for x in p.name.split("-")[:2]] == [_norm(dist), version]]
    if proc.returncode != 0 or not wheels:
        text = (proc.stderr or proc.stdout or "").strip()
        last = text.splitlines()[-1][:200] if text else f"rc {proc.returncode}"
        # pip says "no matching distribution" both for a version that does not exist and for an index it
        # cannot reach: tell them apart by fetching a package every index has.
        if any(h in text.lower() for h in NETWORK_HINTS) or not _index_reachable(into):
            pytest.skip(f"package index unreachable (pip download fetches nothing, not even {PROBE}): {last}")
        raise AssertionError(f"pip download {dist}=={version} failed (rc {proc.returncode}): {text[-1500:]}")
    return wheels[0]


PROBE = "six"


def _index_reachable(into: Path) -> bool:
    probe = into / ".probe"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
           "-d", str(probe), PROBE]
    try:
        ok = subprocess.run(cmd, capture_output=True, timeout=300).returncode == 0 and any(probe.glob("*.whl"))
    except subprocess.TimeoutExpired:
        ok = False
    shutil.rmtree(probe, ignore_errors=True)
    return ok


def source_tree(dist: str, version: str) -> Path:
    """A folder with the wheel's .py files and dist-info metadata (downloaded once, then cached)."""
    root = cache_dir()
    tree = root / f"{_norm(dist)}-{version}-src"
    if (tree / ".complete").is_file():
        return tree
    staging = root / f".{_norm(dist)}-{version}-download"
    wheel = _download(dist, version, staging)
    partial = root / f".{_norm(dist)}-{version}-partial"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(KEEP):
                zf.extract(name, partial)
    (partial / ".complete").write_text(wheel.name + "\n")
    shutil.rmtree(tree, ignore_errors=True)
    partial.rename(tree)
    shutil.rmtree(staging, ignore_errors=True)  # the wheel itself (vLLM's is ~320 MB) is not kept
    return tree


def metadata_requires(tree: Path) -> list[str]:
    meta = next(tree.glob("*.dist-info/METADATA"))
    return [ln.split(":", 1)[1].strip() for ln in meta.read_text(encoding="utf-8").splitlines()
            if ln.startswith("Requires-Dist:")]


# -- reading source --------------------------------------------------------------------------------
@dataclass
class Params:
    names: list[str]  # positional-or-keyword and keyword-only, in order
    defaults: dict[str, object]  # literal defaults only
    var_kw: bool
    var_pos: bool

    def accepts(self, key: str) -> bool:
        return key in self.names


def _literal(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except Exception:
        return ...


def params_of(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Params:
    a = fn.args
    pos = [x.arg for x in a.posonlyargs + a.args]
    names = pos + [x.arg for x in a.kwonlyargs]
    defaults = dict(zip(pos[len(pos) - len(a.defaults):], (_literal(d) for d in a.defaults)))
    defaults.update({x.arg: _literal(d) for x, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
    return Params(names, defaults, a.kwarg is not None, a.vararg is not None)


class Source:
    """One Python file, parsed."""

    def __init__(self, path: Path):
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.tree = ast.parse(self.text, filename=str(path))

    def function(self, qualname: str) -> ast.FunctionDef:
        """``name`` (module level) or ``Class.name``; AssertionError when it does not exist."""
        parts = qualname.split(".")
        scope: list[ast.stmt] = self.tree.body
        node = None
        for part in parts:
            node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                         and n.name == part), None)
            assert node is not None, f"{qualname} not found in {self.path.name}"
            scope = node.body
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)), f"{qualname} is not a function"
        return node

    def params(self, qualname: str) -> Params:
        return params_of(self.function(qualname))

    def segment(self, qualname: str) -> str:
        return ast.get_source_segment(self.text, self.function(qualname)) or ""

    def class_fields(self, name: str) -> list[str]:
        """Annotated attributes of a class body (dataclass / msgspec Struct fields), in order."""
        node = next((n for n in self.tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
        assert node is not None, f"class {name} not found in {self.path.name}"
        return [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]

    def functions_assigning(self, attr: str) -> set[str]:
        """Names of the functions whose body assigns ``<something>.<attr> = ...``."""
        out = set()
        for fn in ast.walk(self.tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(fn):
                    if isinstance(n, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == attr
                                                         for t in n.targets):
                        out.add(fn.name)
        return out

    def env_reads(self) -> set[str]:
        return env_reads(self.tree)


def env_reads(tree: ast.AST) -> set[str]:
    """Environment variable names read: os.environ.get("X"), os.getenv("X"), os.environ["X"], "X" in os.environ."""
    def is_environ(n: ast.AST) -> bool:
        return isinstance(n, ast.Attribute) and n.attr == "environ" or isinstance(n, ast.Name) and n.id == "environ"

    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and n.args and isinstance(n.args[0], ast.Constant) \
                and isinstance(n.args[0].value, str):
            f = n.func
            if isinstance(f, ast.Attribute) and (f.attr == "getenv" or f.attr == "get" and is_environ(f.value)):
                out.add(n.args[0].value)
        elif isinstance(n, ast.Subscript) and is_environ(n.value) and isinstance(n.slice, ast.Constant):
            out.add(n.slice.value)
        elif isinstance(n, ast.Compare) and isinstance(n.left, ast.Constant) and any(is_environ(c) for c in n.comparators):
            out.add(n.left.value)
    return out


@lru_cache(maxsize=None)
def source(tree: Path, relpath: str) -> Source:
    path = tree / relpath
    assert path.is_file(), f"{relpath} is not in {tree.name}"
    return Source(path)
