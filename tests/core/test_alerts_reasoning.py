"""The reasoning_collapse alert: the sampled completions' reasoning shrinks while they still
answer (issue 11, hack class 7), fed from samples events as the trainer writes them."""

from __future__ import annotations

from grpo_tui.core.reading import alerts as al
from grpo_tui.core.run import events as ev

WHY = "In April she sold 48 clips. In May half as many, 48 / 2 = 24. Altogether 48 + 24 = 72 clips."


def samples(step: int, reasoning: str, n: int = 8, chat: bool = False) -> dict:
    if chat:
        comp = [{"role": "assistant", "reasoning_content": reasoning, "content": "<answer>72</answer>"}]
    else:
        comp = f"<think>{reasoning}</think><answer>72</answer>"
    return ev.make_event(ev.SAMPLES, step, rows=[{"completion": comp, "reward": 3.0} for _ in range(n)])


def feed(engine, reasonings, chat=False):
    fired = []
    for step, r in enumerate(reasonings, 1):
        fired += engine.feed(samples(step, r, chat=chat))
    return fired


def test_fires_when_reasoning_collapses():
    engine = al.AlertEngine.from_config({"reasoning_start": "<think>", "reasoning_end": "</think>"})
    fired = feed(engine, [WHY] * 6 + ["."] * 4)
    assert [a.code for a in fired] == [al.REASONING_COLLAPSE]
    assert fired[0].since_step == 7 and fired[0].step == 9
    assert "min_reasoning_chars" in fired[0].hint and "rewards audit" in fired[0].hint


def test_reasoning_content_and_custom_tags_count():
    engine = al.AlertEngine.from_config({})
    assert [a.code for a in feed(engine, [WHY] * 6 + [""] * 3, chat=True)] == [al.REASONING_COLLAPSE]
    engine = al.AlertEngine.from_config({"reasoning_start": "<r>", "reasoning_end": "</r>"})
    rows = [{"completion": f"<r>{r}</r><answer>72</answer>"} for r in [WHY]]
    assert al.reasoning_length(rows[0]["completion"], ("<r>", "</r>")) == len(WHY)
    assert al.reasoning_length(f"{WHY}</think><answer>72</answer>") == len(WHY)  # pre-filled opening tag
    assert al.reasoning_length("<answer>72</answer>") == 0


def test_quiet_on_steady_or_growing_reasoning_and_on_short_baselines():
    def codes(fired):
        return [a.code for a in fired if a.code == al.REASONING_COLLAPSE]

    engine = al.AlertEngine.from_config({})
    assert codes(feed(engine, [WHY] * 6 + [WHY + " " + WHY] * 6 + [WHY[: len(WHY) // 2]] * 6)) == []
    engine = al.AlertEngine.from_config({})
    assert codes(feed(engine, ["3+4=7"] * 6 + [""] * 6)) == []  # never reasoned: nothing collapsed
