"""Asks: a paused run answers prompts with its live policy (`grpo-tui ask`), for real on the tiny
model, and an ask never changes what training does next."""

from __future__ import annotations

import json

import pytest

from grpo_tui.cli import main
from grpo_tui.core.run import events as ev
from grpo_tui.core.run.asks import AskError, check_request
from grpo_tui.core.run.samples import SampleFilter, SampleStore
from trainer_helpers import events, kill, start, wait_exit, wait_for

# Metrics that depend on the numbers trained, not on wall time or memory.
TRAINED = ("reward", "reward_std", "loss", "grad_norm", "completions/mean_length", "rewards/format/mean",
           "rewards/correctness/mean", "entropy")


def _pause(run, proc) -> dict:
    cid = run.send_command("pause")
    return wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cid, proc=proc)


def _ack(run, cid, proc) -> dict:
    return wait_for(run, lambda e: e["type"] == ev.CONTROL and e.get("id") == cid, proc=proc)


def test_ask_while_paused_answers_scores_and_keeps_the_rows(capsys, tmp_path):
    launched = start(max_steps=40)
    run, proc = launched.run, launched.proc
    try:
        wait_for(run, lambda e: e["type"] == ev.METRICS, proc=proc)
        # Asked while training: the CLI refuses before queuing anything.
        if not any(e["type"] == ev.CONTROL for e in events(run)):
            assert main(["ask", run.id, "1+1=", "--gold", "2"]) == 2
            assert "pause it first" in capsys.readouterr().err
            assert not [c for c in run.pending_commands() if c["command"] == "ask"]
        paused = _pause(run, proc)

        assert main(["ask", run.id, "12+7=", "--n", "3", "--gold", "19", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        rows = answer["rows"]
        assert len(rows) == 3
        for r in rows:
            assert r["ask"] is True and r["ask_id"] == answer["id"]
            assert set(r["rewards"]) == {"format", "correctness"}  # every reward function of the run
            assert isinstance(r["reward"], float) and r["answer"] == "19"
            assert r["prompt"].endswith("12+7=") and 1 <= r["length"] <= 8 and isinstance(r["truncated"], bool)
            assert r["step"] == paused["step"]
        assert any(isinstance(r["advantage"], float) for r in rows) or len({r["reward"] for r in rows}) == 1

        # Held-out questions carry their own gold answers; accuracy is reported.
        assert main(["ask", run.id, "--heldout", "4", "--json"]) == 0
        held = json.loads(capsys.readouterr().out)
        assert len(held["rows"]) == 4 and {r["group"] for r in held["rows"]} == {0, 1, 2, 3}
        assert all(r["answer"] not in (None, "") for r in held["rows"]) and len(held["rows"]) > 0
        assert held["accuracy"] is not None and 0.0 <= held["accuracy"] <= 1.0

        # Too long for the model: the trainer says so, and the run stays paused and alive.
        assert main(["ask", run.id, "12+7=", "--max-tokens", "4000"]) == 1
        assert "the model takes at most" in capsys.readouterr().out

        # More generation at once than the run's own generation batch plans memory for: refused.
        assert main(["ask", run.id, "12+7=", "--n", "16", "--max-tokens", "100"]) == 1
        assert "plans memory for" in capsys.readouterr().out

        # An ask that reaches a training (not paused) trainer is refused by the trainer too.
        resume = run.send_command("resume")
        _ack(run, resume, proc)
        cid = run.send_command("ask", prompt="1+1=", n=1)
        ack = _ack(run, cid, proc)
        assert "not paused" in ack["error"] and ack["state"] == "training"

        stop = run.send_command("stop")
        assert wait_exit(proc) == 0
    finally:
        kill(proc)
    assert any(e["type"] == ev.CONTROL and e.get("id") == stop for e in events(run))
    # The asks are kept in the run and exported with the samples, marked.
    store = SampleStore(run)
    store.refresh()
    asks = store.asks()
    assert [len(a["rows"]) for a in asks] == [3, 4]
    assert [a["request"].get("heldout", 0) for a in asks] == [0, 4]
    out = tmp_path / "all.jsonl"
    assert main(["export", run.id, "-o", str(out)]) == 0
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(1 for r in exported if r.get("ask")) == 7
    assert sum(1 for r in exported if not r.get("ask")) > 0  # the training samples are still there
    no_asks = list(store.iter_rows(SampleFilter(asks=False)))
    assert no_asks and not any(r.get("ask") for r in no_asks)


def _metrics(run) -> dict[int, dict]:
    return {e["step"]: e["metrics"] for e in events(run) if e["type"] == ev.METRICS}


@pytest.mark.slow
def test_asks_while_paused_do_not_change_training():
    """Same seed, paused at the same boundary; one run answers asks (sampled and greedy) before
    resuming: every trained number afterwards is identical."""
    common = {"max_steps": 5, "seed": 11, "logging_steps": 1}
    a, b = start(**common), start(**common)
    try:
        # Both paused at their first boundary (before step 1), queued before either can start training.
        pauses = {id(x): x.run.send_command("pause") for x in (a, b)}
        for launched, asks in ((a, True), (b, False)):
            run, proc = launched.run, launched.proc
            _ack(run, pauses[id(launched)], proc)
            if asks:
                for payload in ({"prompt": "3+4=", "gold": "7", "n": 4},
                                {"prompt": "9+9=", "n": 2, "temperature": 0.0},
                                {"heldout": 3}):
                    ack = _ack(run, run.send_command("ask", **payload), proc)
                    assert ack.get("answered", 0) > 0, ack
            _ack(run, run.send_command("resume"), proc)
        assert wait_exit(a.proc) == 0 and wait_exit(b.proc) == 0
    finally:
        kill(a.proc)
        kill(b.proc)
    ma, mb = _metrics(a.run), _metrics(b.run)
    assert sorted(ma) == sorted(mb) == [1, 2, 3, 4, 5]
    compared = 0
    for step in ma:
        for key in TRAINED:
            if key in ma[step]:
                assert ma[step][key] == mb[step][key], (step, key)
                compared += 1
    assert compared >= 20


@pytest.mark.parametrize("payload, message", [
    ({"prompt": "  "}, "empty"),
    ({"prompt": "x" * 20_001}, "characters"),
    ({"prompt": "2+2", "n": 0}, "n must be"),
    ({"prompt": "2+2", "n": 17}, "n must be"),
    ({"prompt": "2+2", "temperature": 2.5}, "temperature"),
    ({"prompt": "2+2", "max_tokens": 0}, "max_tokens"),
    ({"heldout": 65}, "heldout"),
    ({"prompt": ["not", "text"]}, "text"),
])
def test_bad_asks_are_one_clear_line(payload, message):
    with pytest.raises(AskError, match=message):
        check_request(payload)


def test_good_ask_defaults():
    assert check_request({"prompt": "2+2="}).n == 4
    req = check_request({"heldout": 8})
    assert (req.n, req.prompt, req.heldout) == (1, "", 8)


@pytest.mark.parametrize("argv, message", [
    (["ask", "latest", ""], "empty"),
    (["ask", "latest", "2+2", "--heldout", "3"], "not both"),
    (["ask", "latest", "2+2", "--n", "99"], "n must be"),
])
def test_cli_refuses_bad_asks_with_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_refuses_an_ask_for_a_finished_run(capsys):
    launched = start(max_steps=1)
    assert wait_exit(launched.proc) == 0
    assert main(["ask", launched.run.id, "2+2="]) == 2
    assert "completed" in capsys.readouterr().err
    assert not launched.run.pending_commands()


def test_a_stop_cancels_a_generating_ask():
    """The stopping criterion ends generation as soon as a stop is seen (real tiny model)."""
    from types import SimpleNamespace

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.trainer.ask import AskCancelled, HfAsker
    from grpo_tui.trainer.tiny import ensure_tiny

    cfg = load_preset("cpu-tiny")
    path = ensure_tiny(cfg)
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path))
    trainer = SimpleNamespace(model=model, processing_class=tok, eos_token_ids=[tok.eos_token_id])
    asker = HfAsker(trainer)
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": None, "min_p": None, "repetition_penalty": 1.0,
              "max_tokens": 64}
    calls = []

    def stop_now():
        calls.append(1)
        return True

    model.train()
    with pytest.raises(AskCancelled):
        asker.generate("1+2=", 2, params, stop_now)
    assert calls and model.training  # asked once, and the model is back in training mode
    done = asker.generate("1+2=", 2, params, lambda: False)
    assert len(done) == 2 and all(c.length > 0 for c in done)


def test_a_watched_script_cannot_be_asked_and_says_why(capsys):
    """A user's own script owns its model: refused in one line, nothing queued (a paused run)."""
    import os

    from grpo_tui.core.run.rundir import atomic_write, summarize
    from grpo_tui.core.run.synthetic import make_run

    run = make_run(3, state="paused", pid=os.getpid())
    info = run.info()
    atomic_write(run.run_json, json.dumps({**info, "source": "watched"}))
    assert summarize(run).state == "paused"
    assert main(["ask", run.id, "2+2=", "--gold", "4"]) == 2
    assert "watched" in capsys.readouterr().err
    assert not run.pending_commands()
    # The same run launched by grpo-tui (no source) would be asked: the command is queued.
    atomic_write(run.run_json, json.dumps(info))
    assert main(["ask", run.id, "2+2=", "--timeout", "0.5"]) == 1  # queued; no trainer here to answer
    assert [c["command"] for c in run.pending_commands()] == ["ask"]
