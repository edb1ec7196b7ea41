"""GGUF files as a model source: the files users already have from Ollama or LM Studio.

``model`` names a GGUF file either as a local path (``~/models/x.Q4_K_M.gguf``) or
as a hub repository plus a file name (``owner/repo/x.Q4_K_M.gguf``). Transformers'
GGUF loader (with the ``gguf`` package) dequantizes it into an ordinary PyTorch
model with its tokenizer and chat template. That takes tens of seconds, and the
loaded model refuses ``save_pretrained``, so the result is written once with
safetensors (state dict, config without ``quantization_config``, the tokenizer's
own save) into the model cache, and every later load is a plain
``from_pretrained`` of that folder.

Pre-flight (``check_local``) reads the file's header with ``gguf.GGUFReader``
(numpy only, no torch) and refuses, in one line, an architecture transformers
cannot map or a quantisation the ``gguf`` package cannot dequantize. It is
skipped when the file was already converted.

Import-light at module level: torch/transformers are imported inside functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.settings.config import ConfigError
from ..core.run.rundir import cache_home, private_dir

SUFFIX = ".gguf"
MAGIC = b"GGUF"
CONVERTED_MARK = "grpo-tui-gguf.json"  # written last: marks a complete conversion
CONVERTER_VERSION = 3  # part of the cache key: a changed conversion is redone, not reused
# 3: a tied embedding is written as model.embed_tokens.weight (2 wrote only lm_head.weight, which vLLM ignores)

Phase = Callable[[str, str], None]  # (phase name, message)


def model_cache_root() -> Path:
    """Fetched and converted models. ``GRPO_TUI_MODEL_CACHE`` overrides (CI keeps it between runs)."""
    env = os.environ.get("GRPO_TUI_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    shared = os.environ.get("GRPO_TUI_CACHE")
    return (Path(shared).expanduser() if shared else cache_home()) / "models"


@dataclass(frozen=True)
class GgufRef:
    """Where a GGUF file is: a local path (repo None) or a file inside a hub repository."""

    filename: str
    repo: str | None = None


def is_gguf(model: str) -> bool:
    return model.lower().endswith(SUFFIX)


def parse(model: str) -> GgufRef | None:
    """``model`` as a GGUF reference, or None when it does not name a .gguf file."""
    if not is_gguf(model):
        return None
    path = Path(model).expanduser()
    if path.exists() or model.startswith((".", "/", "~")):
        return GgufRef(str(path))
    parts = model.split("/")
    if len(parts) < 3 or not all(parts):
        raise ConfigError("model", f"{model}: no such GGUF file",
                          "give a path to a .gguf file, or owner/repo/file.gguf for one on the hub")
    return GgufRef("/".join(parts[2:]), "/".join(parts[:2]))


# -- pre-flight ----------------------------------------------------------------------------
def supported_architectures() -> list[str]:
    """The GGUF architectures transformers maps onto its models (its own table; imports no torch)."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    return sorted(k for k in GGUF_CONFIG_MAPPING if k not in ("general", "tokenizer"))


def dequantizable() -> set[str]:
    import gguf.quants

    return {"F32", "F16"} | {t.name for t in gguf.quants._type_traits}


def inspect(path: Path) -> tuple[str, set[str]]:
    """(architecture, tensor quantisation types) read from the file's header."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    field = reader.fields.get("general.architecture")
    arch = str(field.contents()) if field is not None else "unknown"
    return arch, {t.tensor_type.name for t in reader.tensors}


def check_file(path: Path, label: str = "model") -> None:
    """One-line ConfigError when transformers cannot load this GGUF file."""
    if not path.is_file():
        raise ConfigError(label, f"GGUF file {path} does not exist", "give the path of an existing .gguf file")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ConfigError(label, f"cannot read {path} ({exc.strerror or exc})") from None
    if magic != MAGIC:
        raise ConfigError(label, f"{path.name} is not a GGUF file (it does not start with 'GGUF')",
                          "give a .gguf model file")
    try:
        arch, qtypes = inspect(path)
    except Exception as exc:  # truncated or corrupt header
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise ConfigError(label, f"{path.name}: unreadable GGUF header ({first})",
                          "download the file again") from None
    archs = supported_architectures()
    if arch not in archs:
        raise ConfigError(label, f"{path.name} is a {arch!r} model; transformers reads GGUF only for "
                          f"{', '.join(archs)}", "use the original (non-GGUF) model from the hub")
    bad = sorted(qtypes - dequantizable())
    if bad:
        raise ConfigError(label, f"{path.name} uses quantisation {', '.join(bad)}, which the gguf package "
                          "cannot dequantize", "use a Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0 or F16 file of the model")


def check_config(cfg) -> None:
    """Pre-flight: a GGUF model needs the trl backend (Unsloth and vLLM load their own formats), and a
    local file must be one transformers can read."""
    if is_gguf(cfg.model) and cfg.backend != "trl":
        raise ConfigError("model", f"a GGUF file is loaded by the trl backend only, not {cfg.backend!r}",
                          "--set backend=trl, or use the original hub model with unsloth")
    check_local(cfg.model)


def check_local(model: str) -> None:
    """Pre-flight for ``model`` naming a local GGUF file (hub GGUFs are checked when fetched)."""
    ref = parse(model)
    if ref is None or ref.repo is not None:
        return
    path = Path(ref.filename)
    if path.is_file() and (converted_dir(path) / CONVERTED_MARK).is_file():
        return  # converted before: the header was checked then
    check_file(path)


# -- conversion ----------------------------------------------------------------------------
def converted_dir(path: Path) -> Path:
    """The cache folder for one GGUF file, keyed by its resolved path, size and mtime (cheap to compute,
    changes when the file is replaced)."""
    path = path.expanduser().resolve()
    st = path.stat()
    key = hashlib.sha256(f"{CONVERTER_VERSION}\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return model_cache_root() / "gguf" / f"{path.stem}-{key}"


def convert(path: Path, phase: Phase | None = None) -> Path:
    """Dequantize ``path`` once into a plain transformers folder (safetensors) and return that folder."""
    path = path.expanduser().resolve()
    dest = converted_dir(path)
    if (dest / CONVERTED_MARK).is_file():
        return dest
    check_file(path)
    if phase:
        phase("converting_model", f"dequantizing {path.name} once (about 30 s for 135M parameters); "
                                  "later runs load the cached copy")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    _fix_special_tokens(model, tokenizer)
    private_dir(dest.parent)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_weights(model, tmp / "model.safetensors")
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(model).__name__]
    config.save_pretrained(str(tmp))
    model.generation_config.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / CONVERTED_MARK).write_text(json.dumps({"gguf": str(path), "size": path.stat().st_size}, indent=2))
    try:
        os.rename(tmp, dest)
    except OSError:  # another process finished first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def save_weights(model, path: Path) -> None:
    """The weights as ``save_pretrained`` writes them (it refuses a model loaded from GGUF; the tensors
    are plain now). A tied pair (SmolLM2's embedding and LM head) is one tensor, which safetensors will
    not store twice: keep the name the model's ``_tied_weights_keys`` says is the source
    (``model.embed_tokens.weight``), as transformers does. Loaders that do not tie from the config
    (vLLM) read the embedding under that name and skip ``lm_head.weight`` when the head is tied."""
    from safetensors.torch import save_file
    from transformers.modeling_utils import remove_tied_weights_from_state_dict

    state = remove_tied_weights_from_state_dict(dict(model.state_dict()), model)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata={"format": "pt"})


def _fix_special_tokens(model, tokenizer) -> None:
    """GGUF tokenizers can come back with the wrong EOS (SmolLM2's says ``<|im_start|>``): TRL stops
    generation at the tokenizer's EOS, so take it from the model's generation config, which
    carries the file's own ``tokenizer.ggml.eos_token_id``."""
    eos_id = model.generation_config.eos_token_id
    if isinstance(eos_id, list):
        eos_id = eos_id[0] if eos_id else None
    if eos_id is not None and tokenizer.eos_token_id != eos_id:
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(int(eos_id))
    # BPE decoding must not "clean up" spaces before punctuation (transformers warns: destructive).
    tokenizer.clean_up_tokenization_spaces = False
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos:
        tokenizer.model_max_length = int(max_pos)
    if tokenizer.pad_token is None:
        pad_id = model.generation_config.pad_token_id
        tokenizer.pad_token = (tokenizer.convert_ids_to_tokens(int(pad_id)) if pad_id is not None
                               else tokenizer.eos_token)


def fetch_from_hub(ref: GgufRef) -> Path:
    """The local path of a hub GGUF (downloaded, or from the hub cache when offline)."""
    from huggingface_hub import hf_hub_download

    from .hub import go_offline, hub_reachable

    if not hub_reachable():
        go_offline()
    return Path(hf_hub_download(ref.repo, ref.filename))
