"""Deciding once whether the hub is needed and reachable (trainer.hub): a run that needs nothing from
the hub never probes it; one that does and cannot reach it goes offline before anything retries."""

from __future__ import annotations

import pytest

from grpo_tui.core.settings.config import RunConfig
from grpo_tui.trainer import hub


@pytest.mark.parametrize("over, needed", [
    ({"model": "builtin:tiny", "dataset": "builtin:arith"}, False),
    ({"model": "builtin:tiny", "dataset": "openai/gsm8k"}, True),
    ({"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "dataset": "builtin:arith"}, True),
    # an imported notebook's SFT stage reads its own hub set: the warm start needs the hub too
    ({"model": "builtin:tiny", "dataset": "builtin:arith", "warmstart_steps": 2,
      "warmstart_dataset": "unsloth/OpenMathReasoning-mini"}, True),
    ({"model": "builtin:tiny", "dataset": "builtin:arith", "warmstart_epochs": 1.0,
      "warmstart_dataset": "unsloth/OpenMathReasoning-mini"}, True),
    ({"model": "builtin:tiny", "dataset": "builtin:arith", "warmstart_steps": 0,
      "warmstart_dataset": "unsloth/OpenMathReasoning-mini"}, False),  # no warm start: not read
])
def test_what_needs_the_hub(over, needed):
    assert hub.needs_hub(RunConfig(**over)) is needed


def test_offline_is_forced_without_a_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub.socket, "create_connection", lambda *a, **k: pytest.fail("probed the network"))
    assert hub.hub_reachable() is False
