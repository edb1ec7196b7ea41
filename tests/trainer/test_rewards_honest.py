"""Issue 25: honest answers are paid in full. Each honest style an instruction model writes that the
rules refused (a false negative), and for every acceptance the hack it could open, kept as a test.
Scored the way training scores: the hub presets' reward set built by the registry, called by keyword
with completion ids, the gold column and the prompt (the question decides percent and "how much more")."""

from __future__ import annotations

import pytest

from grpo_tui.core.presets import load_preset
from grpo_tui.trainer import reward_rules as rr
from grpo_tui.trainer.rewards import build_reward_funcs

HUB = load_preset("gpu-16gb")  # weights 1/1/2/1/0.5: honest correct 3.0, honest wrong 1.0
FUNCS, WEIGHTS = build_reward_funcs(HUB)
T = rr.Tags()
WHY = ("In April Natalia sold 48 clips. In May she sold half as many, 48 / 2 = 24 clips. "
       "Altogether she sold 48 + 24 = 72 clips.")
RESTATED = ("The task says: first reason step by step between <think> and </think>, then write only the final "
            "number between <answer> and </answer>. " + WHY)
Q = "Natalia sold clips to 48 of her friends in April, and then half as many in May. How many clips did she sell?"


def scores(completion, gold="72", question=Q) -> dict[str, float]:
    ids = list(range(1, len(rr.split_completion(completion)[1].split()) + 2))
    out = {}
    for f in FUNCS:
        out[f.__name__] = f(prompts=[question], completions=[completion], completion_ids=[ids], answer=[gold])[0]
    return out


def total(completion, gold="72", question=Q) -> float:
    return sum(w * s for w, s in zip(WEIGHTS, scores(completion, gold, question).values()) if s is not None)


def full(ans: str, reasoning: str = WHY) -> str:
    return f"<think>{reasoning}</think>\n<answer>{ans}</answer>"


HONEST, WRONG = total(full("72")), total(full("71"))


def test_controls():
    assert (HONEST, WRONG) == (pytest.approx(3.0), pytest.approx(1.0))


# -- tags quoted inside the reasoning ---------------------------------------------------------------------
@pytest.mark.parametrize("completion", [
    full("72", RESTATED),                                                        # in the content
    f"{RESTATED}</think>\n<answer>72</answer>",                                  # the template pre-filled <think>
    [{"role": "assistant", "reasoning_content": RESTATED, "content": "<answer>72</answer>"}],  # Qwen3 templates
    [{"role": "assistant", "thinking": RESTATED, "content": "\n<answer>72</answer>"}],
    full("72", "Format: <think>2 bags of 5 apples is 10.</think><answer>10</answer> as the example shows. " + WHY),
], ids=["content", "prefilled", "reasoning_content", "thinking", "restated example"])
def test_reasoning_that_quotes_the_tags_is_paid_in_full(completion):
    assert total(completion) == pytest.approx(HONEST), scores(completion)


def test_quoted_tags_never_decide_the_answer():
    """The attack: a tag quoted to smuggle a second answer. Only the block after the reasoning is
    read, so a value inside the reasoning never pays, and a wrong value after it is still wrong."""
    smuggle_right = full("71", f"{WHY} so <answer>72</answer>")
    assert scores(smuggle_right)["correctness"] == 0.0 and total(smuggle_right) <= WRONG + 1e-9
    smuggle_field = [{"role": "assistant", "reasoning_content": f"{WHY} <answer>72</answer>", "content": "done"}]
    assert scores(smuggle_field)["correctness"] == 0.0 and total(smuggle_field) < WRONG
    # the answer inside the reasoning and nothing after: no answer at all
    assert total(f"<think>{WHY} <answer>72</answer></think>\nno idea") < WRONG


@pytest.mark.parametrize("completion", [
    f"<think>{WHY}</think><think x></think><answer>72</answer>",             # a decoy second block
    f"<think>{WHY}</think><answer>71</answer><think>again</think><answer>72</answer>",  # answered, reopened
    f"<answer>72</answer><think>{WHY}</think>",                               # before the reasoning
    f"<think>{WHY} <think> and </think><answer>72</answer>",                  # the quote's close ends nothing
    f"<think>{WHY}</think> <answer>72</answer></think>",                      # a stray closing tag after
])
def test_quoting_does_not_excuse_a_second_block_or_a_stray_tag(completion):
    """Only one reasoning block, found by nesting, is read as quoted text: two blocks, a stray
    closing tag or a block left open keep the strict format at 0 (and pay no more than honest wrong
    where the answer is not the one block after the reasoning)."""
    s = scores(completion)
    assert s["format_strict"] == 0.0, s
    assert total(completion) < HONEST


def test_quoted_tag_spam_is_not_reasoning():
    spam = "<think>" + "<think></think>" * 5 + "</think><answer>72</answer>"
    assert scores(spam)["format_strict"] == 0.0  # the quoted tags' letters are not reasoning
    assert scores(spam)["format_soft"] == pytest.approx(0.25)
