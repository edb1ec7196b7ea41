"""Fail fast without a network: decide once, before transformers/datasets are
imported, whether the Hugging Face hub is reachable.

huggingface_hub reads ``HF_HUB_OFFLINE`` when it is imported, and otherwise
retries each request five times with back-off (about a minute per file).
``prepare_offline(cfg)`` probes the hub (one TCP connect, 3 s) only when the
config names a hub model or dataset, and when it is unreachable sets the
offline switches so loading uses the local cache or fails at once with a
one-line error naming what could not be reached.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse

from ..core.settings.config import RunConfig

_TRUE = ("1", "true", "True", "YES", "yes", "on")


def offline_forced() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") in _TRUE


def hub_reachable(timeout: float = 3.0) -> bool:
    if offline_forced():
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def needs_hub(cfg: RunConfig) -> bool:
    from .sources import classify
    from .tiny import TINY_MODEL

    model_from_hub = cfg.model != TINY_MODEL and not os.path.exists(os.path.expanduser(cfg.model))
    warmstart_from_hub = cfg.warmstart_on and bool(cfg.warmstart_dataset) and classify(cfg.warmstart_dataset) == "hub"
    return model_from_hub or classify(cfg.dataset) == "hub" or warmstart_from_hub


def go_offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # Already imported? Flip the flags they read at import time too.
    hc = sys.modules.get("huggingface_hub.constants")
    if hc is not None:
        hc.HF_HUB_OFFLINE = True
    dc = sys.modules.get("datasets.config")
    if dc is not None:
        dc.HF_HUB_OFFLINE = True
        dc.HF_DATASETS_OFFLINE = True


def prepare_offline(cfg: RunConfig) -> bool:
    """True when the hub will be used online; False when we are (now) offline."""
    if needs_hub(cfg) and hub_reachable():
        return True
    if needs_hub(cfg):
        go_offline()
    return False
