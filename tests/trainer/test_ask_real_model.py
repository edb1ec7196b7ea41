"""Asking a real pretrained model while paused (cpu-smollm2: SmolLM2-135M-Instruct from the package
index, cached outside the clone; see tests/trainer/test_real_model_cpu.py): its own chat template renders the
question, and the answer is real text scored by the hub presets' reward set."""

from __future__ import annotations

import pytest

from grpo_tui import launcher as launch
from grpo_tui.core.run import events as ev
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.core.run.samples import SampleStore
from test_real_model_cpu import COMPONENTS, smollm2  # noqa: F401  (the fixture)
from trainer_helpers import kill, wait_exit, wait_for

pytestmark = pytest.mark.slow


def test_ask_the_paused_smollm2(smollm2):  # noqa: F811
    cfg = load_preset("cpu-smollm2").with_overrides({"max_steps": 1, "save_steps": 1000, "eval_size": 0,
                                                     "num_generations": 2, "per_device_train_batch_size": 2})
    launched = launch.launch(cfg)
    run, proc = launched.run, launched.proc
    try:
        pause = run.send_command("pause")  # taken at the first step boundary, before step 1
        wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == pause, timeout=600, proc=proc)
        cid = run.send_command("ask", prompt="Tom has 3 apples and buys 4 more. How many apples does he have?",
                               gold="7", n=2, max_tokens=48)
        ack = wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cid, timeout=600, proc=proc)
        assert ack.get("answered") == 2, (ack, run.log_tail(20))
        run.send_command("resume")
        assert wait_exit(proc, timeout=600) == 0, run.log_tail(30)
    finally:
        kill(proc)
    store = SampleStore(run)
    store.refresh()
    (ask,) = store.asks()
    rows = ask["rows"]
    assert len(rows) == 2
    for r in rows:
        assert set(r["rewards"]) == COMPONENTS and isinstance(r["reward"], float)
        assert "Tom has 3 apples" in r["prompt"] and r["prompt"].startswith("system: ")
        assert 1 <= r["length"] <= 48 and r["truncated"] == (r["length"] == 48)
    words = [w for r in rows for w in r["completion"].split() if w.isalpha()]
    assert len(words) >= 8, [r["completion"] for r in rows]  # a real model's words, not a toy's characters
