"""Training backends. See ``base`` for the interface a backend implements.

``get_backend(name)`` imports the backend module lazily, so choosing ``trl``
never imports Unsloth (which refuses to import without a GPU) and vice versa.
"""

from __future__ import annotations

import importlib

from .base import Backend

# name -> "module:Class" under grpo_tui.trainer.backends
BACKENDS: dict[str, str] = {
    "trl": "trl_backend:TrlBackend",
    "unsloth": "unsloth:UnslothBackend",
}


def get_backend(name: str) -> Backend:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}") from None
    module_name, _, cls_name = target.partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, cls_name)()


__all__ = ["BACKENDS", "Backend", "get_backend"]
