"""Asks on the unsloth backend, by contract with the stand-in unsloth / vllm (tests/standins): the paused
trainer saves the adapter as it is, loads it as a LoRA request and generates through the colocated
engine's ``fast_generate`` with token-id prompts and the run's sampling settings. What this cannot
prove: that Unsloth and vLLM do the same on a GPU."""

from __future__ import annotations

import pytest

from grpo_tui.core.run import events as ev
from grpo_tui.core.run.samples import SampleStore
from standin_helpers import read, use_standins
from trainer_helpers import events, kill, start, wait_exit, wait_for

UNSLOTH = {"backend": "unsloth", "fast_inference": True, "vllm_standby": True, "max_steps": 30,
           "lora_rank": 4, "lora_alpha": 8, "full_finetuning": False}


@pytest.fixture
def standin_env(monkeypatch, tmp_path):
    return use_standins(monkeypatch, tmp_path / "standin.jsonl")


def test_ask_goes_through_fast_generate_with_the_current_adapter(standin_env):
    launched = start(**UNSLOTH)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS, timeout=240, proc=proc)
        cid = run.send_command("pause")
        wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cid, proc=proc)
        cid = run.send_command("ask", prompt="3+4=", gold="7", n=3, temperature=0.7)
        ack = wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cid, proc=proc)
        assert ack.get("answered") == 3, (ack, run.log_tail(20))
        run.send_command("stop")
        assert wait_exit(proc, timeout=240) == 0
    finally:
        kill(proc)
    calls = read(standin_env)
    i_gen = max(i for i, c in enumerate(calls) if c["call"] == "fast_generate" and c["sampling"].get("n") == 3)
    gen = calls[i_gen]
    # The adapter as it is at this step boundary: saved, then loaded as the request it generates with.
    save = next(c for c in reversed(calls[:i_gen]) if c["call"] == "save_lora")
    load = next(c for c in reversed(calls[:i_gen]) if c["call"] == "load_lora")
    assert load["path"] == save["path"] == gen["lora_request"] and load["exists"]
    assert gen["text_prompts"] == 0 and not gen["double_bos"]  # token ids: vLLM adds no second BOS
    assert gen["sampling"]["temperature"] == 0.7 and gen["sampling"]["max_tokens"] == 8
    store = SampleStore(run)
    store.refresh()
    (ask,) = store.asks()
    assert len(ask["rows"]) == 3 and all(r["ask"] and set(r["rewards"]) == {"format", "correctness"}
                                         for r in ask["rows"])
    assert all(isinstance(r["length"], int) for r in ask["rows"]) and sum(r["length"] for r in ask["rows"]) > 0
    assert any(e["type"] == ev.FINISHED and e["status"] == ev.STOPPED for e in events(run))
