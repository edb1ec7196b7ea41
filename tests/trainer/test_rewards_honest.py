"""Issue 25: honest answers are paid in full. Each honest style an instruction model writes that the
rules refused (a false negative), and for every acceptance the hack it could open, kept as a test.
Scored the way training scores: the hub presets' reward set built by the registry, called by keyword
with completion ids, the gold column and the prompt (the question decides percent and "how much more")."""

from __future__ import annotations

import pytest

from grpo_tui.core.planning.presets import load_preset
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


# -- the forms an instruction model writes a number in ---------------------------------------------------
PERCENT_Q = "Of 80 students, 20 walk to school. What percentage of the students walk to school?"
MORE_Q = "A wallet costs $100. Betty has only half of the money she needs. How much more money does Betty need?"
TIMES_Q = "Tom jumped 3 times on Monday and 69 times on Tuesday. How many times did he jump?"


@pytest.mark.parametrize("ans,gold,question", [
    ("25%", "25", PERCENT_Q), ("25 percent", "25", PERCENT_Q), ("25 %", "25", PERCENT_Q),
    ("$18/hour", "18", Q), ("$18/day", "18", Q), ("$18 per hour", "18", Q), ("18 dollars/day", "18", Q),
    ("$50 more", "50", MORE_Q), ("50 more dollars", "50", MORE_Q), ("72 times", "72", TIMES_Q),
    ("#### 18", "18", Q), ("####18", "18", Q),
    ("72个", "72", Q), ("72 个", "72", Q), ("72個", "72", Q), ("72个发夹", "72", Q), ("72元", "72", Q), ("72개", "72", Q),
    ("18 dólares", "18", Q), ("18 euros", "18", Q), ("72 яблока", "72", Q),
])
def test_refused_honest_styles_are_paid_in_full(ans, gold, question):
    assert total(full(ans), gold, question) == pytest.approx(HONEST), (ans, scores(full(ans), gold, question))


@pytest.mark.parametrize("ans,gold,question", [
    ("72%", "72", Q), ("72 percent", "72", Q), ("25%", "25", "If 25% of the 80 apples are red, how many are red?"),
    ("25%", "25", "What is 25 percent of 100?"),                  # asks for a value, names a percent
    ("$5 more", "5", Q), ("5 more", "5", "How many clips are left?"), ("72 or more", "72", MORE_Q),
    ("more than 50", "50", MORE_Q), ("72 times", "72", Q),
    ("#### 71 #### 72", "72", Q), ("#### 72 or 71", "72", Q),
    ("72个左右", "72", Q), ("72万", "72", Q), ("72多个", "72", Q), ("72千", "72", Q), ("72个或71个", "72", Q),
    ("72/x", "72", Q), ("72 mil dólares", "72", Q), ("72 o más", "72", Q), ("72 oder mehr", "72", Q),
    ("72 тысячи", "72", Q), ("18 dólares o 19", "18", Q),
])
def test_each_new_acceptance_opens_no_hack(ans, gold, question):
    """Percent only where the question asks for a percentage; "more" only where it asks "how much
    more"; one "####"; a CJK measure word, not a magnitude or a hedge; accented unit words, not
    other languages' magnitudes or hedges."""
    assert scores(full(ans), gold, question)["correctness"] == 0.0, ans
    assert total(full(ans), gold, question) <= WRONG + 1e-9


# -- sentences: exactly one value --------------------------------------------------------------------------
SENTENCES = ["She sold 72 clips.", "Therefore, the answer is 72.", "Total clips: 72", "La respuesta es 72.",
             "She sold 72 clips in April and May.", "So Natalia sold 72 clips altogether.", "Il y a 72 clips.",
             "她一共卖了72个发夹。", "Natalia sold a total of 72 clips!", "In total, she sold 1,818 loaves."]


@pytest.mark.parametrize("ans", SENTENCES)
def test_a_sentence_with_one_value_equal_to_the_gold_is_paid(ans):
    gold = "1818" if "1,818" in ans else "72"
    s = scores(full(ans), gold)
    assert s["correctness"] == 1.0, (ans, s)
    assert s["format_strict"] == 0.0  # the strict layout is the bare value: it withholds its 0.5
    assert total(full(ans), gold) == pytest.approx(HONEST - rr.FORMAT_STRICT_MAX)
    assert scores(full(ans.replace("72", "71").replace("1,818", "1,808")), gold)["correctness"] == 0.0


@pytest.mark.parametrize("ans", [
    "She sold 71 or 72 clips.", "She sold 48 + 24 = 72 clips.", "She sold 71 clips, or maybe 72.",
    "April 48, May 24, total 72.", "It is not 72.", "It isn't 72.", "It is about 72.", "It is approximately 72.",
    "Maybe 72.", "I guess 72.", "At least 72 clips.", "More than 72 clips.", "Seventy-one, or 72.",
    "Seventy one clips, 72.", "LXXI clips, 72.", "Is it 72?", "She sold ~72 clips.", "She sold 72+ clips.",
    "She sold 72 thousand clips.", "She sold 72k clips.", "She sold 72 or so clips.", "72 clips, give or take",
    "La respuesta es 71 o 72.", "No es 72.", "Es más de 72.", "Nicht 72.", "她卖了大约72个。", "她卖了72多个。",
    "She sold 72 clips (or 71).", "She sold 72 clips; wait, 71.", "She may have sold 72 clips.",
    "72 is wrong.", "It could be 72.", "She sold between 70 and 72 clips.", "On day 3 she sold 72 clips.",
    "She sold 72² clips.", "She sold 72 clips and ½ more.", "Ⅻ clips, 72.", "她卖了七十一，72个。", "72개 정도",
])
def test_a_sentence_listing_two_values_or_hedging_is_refused(ans):
    """The attacks on the sentence rule: a second value (digits, spelled out, Roman), arithmetic,
    a negation, a hedge or range word in several languages, a magnitude, a question."""
    assert scores(full(ans))["correctness"] == 0.0, ans
    assert total(full(ans)) <= WRONG + 1e-9


def test_a_percent_sentence_pays_only_a_percent_question():
    assert scores(full("25% of the students walk."), "25", PERCENT_Q)["correctness"] == 1.0
    assert scores(full("The answer is 72%."), "72")["correctness"] == 0.0


def test_bare_forms_keep_the_strict_share():
    """Wrappers a reader strips are the bare value: strict pays ("The answer is 72." included)."""
    for ans in ("72", "The answer is 72.", "**Answer:** 72", "\\boxed{72}", "72 clips", "$72.00", "#### 72", "72个"):
        assert scores(full(ans))["format_strict"] == rr.FORMAT_STRICT_MAX, ans


def test_evaluation_reads_sentences_like_the_reward():
    assert rr.answers_match("She sold 72 clips.", "72") and not rr.answers_match("She sold 71 or 72 clips.", "72")
    assert rr.answers_match("25%", "25", PERCENT_Q) and not rr.answers_match("25%", "25")


def test_held_out_accuracy_reads_the_question_as_the_reward_does():
    from grpo_tui.trainer import evaluate

    done = [full("25%"), full("She sold 72 clips."), full("25%")]
    chat = [{"role": "user", "content": PERCENT_Q}]
    assert evaluate.score(done, ["25", "72", "25"], HUB, [chat, Q, Q]) == [True, True, False]
    assert evaluate.score(done[:1], ["25"], HUB) == [False]  # no question: a percent is not a plain 25


@pytest.mark.parametrize("prompt,allowed", [
    ("<|im_start|>system\nSolve.<|im_end|>\n<|im_start|>user\nOf 80 students, 20 walk. What percentage of them "
     "walk?<|im_end|>\n<|im_start|>assistant\n", {"percent"}),   # a prompt rendered by a chat template
    ([{"role": "system", "content": "What percentage?"}, {"role": "user", "content": Q}], set()),  # the user's
    ("How much more than 2.5 liters does she need?", {"more"}),
    ("<start_of_turn>user\nHow many more apples?<end_of_turn>\n<start_of_turn>model\n", {"more"}),
    ("Give the share of boys in percent.", {"percent"}),
    ("If 25% of the 80 apples are red, how many are red?", set()),
    ("What is 25 percent of 100?", set()),
    ("She has 5 more apples than Tom. How many apples does she have?", set()),
])
def test_what_the_question_asks_for(prompt, allowed):
    assert rr.question_allows(rr.question_text(prompt)) == frozenset(allowed)


def test_a_gold_is_never_read_as_a_sentence():
    assert not rr.answers_match("66", "Route 66") and rr.answers_match("route 66", "Route 66")
