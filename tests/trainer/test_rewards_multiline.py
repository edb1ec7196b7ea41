"""Answers and reasoning that span lines score like one-line ones. Models put the answer on its own
line between the tags (``<answer>\\n12\\n</answer>``) as often as not; a tag pattern without
``re.DOTALL`` scored those 0. Checked through the public reward functions (``build_reward_funcs``),
so the test holds whatever the rules' internals look like."""

from __future__ import annotations

import pytest

from grpo_tui.core.settings.config import RunConfig
from grpo_tui.trainer.rewards import BUILTINS, build_reward_funcs

NAMES = ["format", "correctness", "format_strict", "format_soft"]
REASONING = "<think>\nSeven plus five:\n7 + 5 = 12.\n</think>\n"


def _scores(completion, gold: str = "12") -> dict[str, float | None]:
    funcs, _ = build_reward_funcs(RunConfig(rewards=list(NAMES)))
    return {f.__name__: f(["What is 7 + 5?"], [completion], answer=[gold])[0] for f in funcs}


FULL = {n: BUILTINS[n].max_value for n in NAMES}


@pytest.mark.parametrize("answer", ["<answer>\n12\n</answer>", "<answer>\r\n12\r\n</answer>",
                                    "<answer>\n  12  \n\n</answer>\n"])
def test_a_multi_line_answer_after_multi_line_reasoning_scores_in_full(answer):
    assert _scores(REASONING + answer) == FULL


def test_one_line_and_multi_line_score_the_same():
    one = _scores("<think>Seven plus five: 7 + 5 = 12.</think><answer>12</answer>")
    assert one == FULL
    assert _scores(REASONING + "<answer>\n12\n</answer>") == one


def test_a_multi_line_answer_is_still_checked_for_the_value():
    s = _scores(REASONING + "<answer>\n13\n</answer>")
    assert s["correctness"] == 0.0
    assert s["format"] == FULL["format"]  # well-formed, wrong


def test_chat_messages_with_newlines_score_in_full():
    msg = [{"role": "assistant", "content": REASONING + "<answer>\n12\n</answer>"}]
    assert _scores(msg) == FULL
