"""The hack classes of issue 11 against the hub presets' reward set, called the way TRL calls
it (by keyword, with completion_ids and the gold column). Each class: adversarial cases that
must not pay, and the honest forms that must keep paying. docs/rewards.md links here."""

from __future__ import annotations

import math
import threading
import time

import pytest

from grpo_tui.core.settings.config import RunConfig
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer import reward_rules as rr
from grpo_tui.trainer.rewards import build_reward_funcs

HUB = load_preset("gpu-16gb")  # the hub presets' anti-hacking set, weights 1/1/2/1/0.5
CAP = HUB.max_completion_length
WHY = ("In April Natalia sold 48 clips. In May she sold half as many, 48 / 2 = 24 clips. "
       "Altogether she sold 48 + 24 = 72 clips.")
T = rr.Tags()
correct = rr.make_correctness(T)


def ids_for(text: str, n: int | None = None) -> list[int]:
    words = text.split()
    return list(range(1, (n if n is not None else len(words)) + 1))


def totals(completions, gold="72", cfg: RunConfig = HUB, ids=None):
    funcs, weights = build_reward_funcs(cfg)
    ids = ids or [ids_for(rr.split_completion(c)[1]) for c in completions]
    per = [f(prompts=["q"] * len(completions), completions=completions, completion_ids=ids,
             answer=[gold] * len(completions), trainer_state=None) for f in funcs]
    return [sum(w * s for w, s in zip(weights, col) if s is not None) for col in zip(*per)]


def full(ans: str, reasoning: str = WHY) -> str:
    return f"<think>{reasoning}</think>\n<answer>{ans}</answer>"


HONEST, WRONG = totals([full("72"), full("71")])


def paid(ans: str, gold: str = "72") -> bool:
    return correct(["q"], [full(ans)], answer=[gold]) == [1.0]


def test_controls():
    assert HONEST == pytest.approx(3.0) and WRONG == pytest.approx(1.0)


# -- the honest forms keep paying -----------------------------------------------------------------
@pytest.mark.parametrize("ans,gold", [
    ("72", "72"), ("$72.00", "72"), ("72 clips", "72"), ("\\frac{144}{2}", "72"), ("1,818", "1818"),
    ("x = 72", "72"), ("7.2e1", "72"), ("７２", "72"), ("٧٢", "72"), ("\\boxed{72}", "72"), ("\n72\n", "72"),
    ("$\\boxed{72}$", "72"), ("The answer is 72.", "72"), ("**72**", "72"), ("72 km/h", "72"),
    ("7.2 \\times 10^{1}", "72"), ("144/2", "72"), ("\\$72", "72"), ("72\\text{ clips}", "72"), ("-3", "-3"),
    ("\u22123", "-3"), ("0.5", "\\frac{1}{2}"), ("\\dfrac{1}{2}", "0.5"), ("1{,}818", "1818"), ("50", "50%"),
    ("50\\%", "50%"), ("Answer: 72", "72"), ("72 miles per hour", "72"),
])
def test_honest_forms_pay(ans, gold):
    assert paid(ans, gold), ans


def test_honest_forms_pay_full_total():
    forms = ["$72.00", "72 clips", "\\frac{144}{2}", "x = 72", "7.2e1", "７２", "٧٢", "\\boxed{72}", "\n72\n"]
    assert totals([full(f) for f in forms]) == pytest.approx([HONEST] * len(forms))


def test_reasoning_field_and_prefilled_tag_pay_in_full():
    msg = [{"role": "assistant", "reasoning_content": WHY, "content": "<answer>72</answer>"}]
    prefilled = f"{WHY}</think>\n<answer>72</answer>"
    assert totals([msg, prefilled]) == pytest.approx([HONEST, HONEST])


# -- 1. unworked arithmetic ---------------------------------------------------------------------------
@pytest.mark.parametrize("ans", ["6 \\times 12", "48 + 48/2", "6*12", "80 - 8", "(72+0)", "2^{3} \\cdot 9",
                                 "\\frac{144}{2} + 0", "\\sqrt{5184}", "8 \\cdot 9", "36 \\cdot 2 = 72"])
def test_unworked_arithmetic_is_not_an_answer(ans):
    assert not paid(ans)
    assert totals([full(ans)]) == pytest.approx([WRONG])


def test_evaluation_uses_the_same_rule():
    from grpo_tui.trainer import evaluate

    assert evaluate.answers_match is rr.answers_match and evaluate.extract_answer is rr.extract_answer
    assert not rr.answers_match("6 \\times 12", "72") and rr.answers_match("72", "72")


# -- 2. hedges, decided by what the answer contains ---------------------------------------------------
@pytest.mark.parametrize("ans", [
    "71 | 72", "71 \\lor 72", "72，71", "71 或 72", "71 ~ 72", "71 ... 72", "71 \\mid 72", "71 \\to 72",
    "\\boxed{71} \\boxed{72}", "71 = 72", "71 or 72", "71, 72", "71; 72", "71\n72", "71 and 72", "71 – 72",
    "71 \\vee 72", "71 ∨ 72", "71、72", "71 oder 72", "72 or more", "~72", "≈72", "72+", "72 \\pm 1", "71/72 72",
    "71 \\quad 72", "71 \\text{ or } 72", "72 or", "at least 72", "72 (or 71)", "[71, 72]", "{71, 72}",
])
def test_hedges_do_not_pay(ans):
    assert not paid(ans)


@pytest.mark.parametrize("ans", ["\\sqrt{2} \\lor 1", "1 | \\sqrt{2}", "\\sqrt{2}，1", "\\sqrt{2} or 1", "1 = \\sqrt{2}",
                                 "\\sqrt{2} \\cdots 1", "\\boxed{1}\\boxed{\\sqrt{2}}", "\\sqrt{2} 或 1"])
def test_symbolic_hedges_do_not_pay(ans):
    assert not rr.answers_match(ans, "\\sqrt{2}")


def test_symbolic_answers_still_verified(monkeypatch):
    monkeypatch.setattr(rr, "MATH_VERIFY_DEADLINE_S", 5.0)  # logic, not speed (a loaded CI box)
    assert rr.answers_match("\\frac{2\\sqrt{3}}{4}", "\\frac{\\sqrt{3}}{2}")
    assert rr.answers_match("x = \\sqrt{2}", "\\sqrt{2}")
    assert rr.answers_match("(1, 2)", "(1,2)")
    assert not rr.answers_match("\\sqrt{3}", "\\sqrt{2}")


# -- 3. percent and other value-changing units ---------------------------------------------------------
@pytest.mark.parametrize("ans", ["72%", "72 %", "72\\%", "72 percent", "72 per cent", "72％", "72٪", "72pct",
                                 "72 thousand", "72k", "72M", "72 dozen", "72 squared", "72% clips"])
def test_percent_and_magnitudes_are_other_values(ans):
    assert not paid(ans)


def test_percent_gold_takes_percent():
    assert paid("72%", "72%") and paid("72 percent", "72%")


# -- 4. where the answer sits ------------------------------------------------------------------------
@pytest.mark.parametrize("completion", [
    f"<think>{WHY} <answer>72</answer></think>\nno idea",                     # inside the reasoning
    f"<think>{WHY} <answer>72</answer></think>\n<answer>71</answer>",         # inside, and a wrong one after
    f"<answer>72</answer><think>{WHY}</think>",                                # before the reasoning
    f"<think>{WHY}</think><ANSWER>71</ANSWER><answer>72</answer>",            # decoy upper-case tag first
    f"<think>{WHY}</think><Answer>71</Answer>\n<answer>72</answer>",
    f"<think>{WHY}</think>< answer >71</answer><answer>72</answer>",          # decoy spaced tag
    f"<think>{WHY}</think><answer>72</answer></ANSWER>",                       # stray upper-case closing tag
    f"<think>{WHY}\n<answer>72</answer>",                                      # reasoning never closed
    f"{WHY} <answer>72</answer> more thinking</think>\nno idea",               # prefilled tag, answer inside
    f"<think>{WHY}</think><answer>72</answer><think>again</think>",            # a new reasoning after
    [{"role": "assistant", "reasoning_content": f"{WHY} <answer>72</answer>", "content": "done"}],
    [{"role": "assistant", "thinking": "<answer>72</answer>", "content": "<ANSWER>72</ANSWER>"}],
], ids=lambda c: repr(c)[-40:])
def test_answer_must_come_after_the_reasoning(completion):
    assert correct(["q"], [completion], answer=["72"]) == [0.0]
    assert totals([completion])[0] <= WRONG + 1e-9


def test_decoy_reasoning_tags_break_the_format():
    fmt = rr.make_format_strict(T)
    assert fmt(None, [f"<THINK>{WHY}</THINK><answer>72</answer>", f"<think>{WHY}</think><think x>"
                      f"</think><answer>72</answer>"]) == [0.0, 0.0]


# -- 5. truncation never pays more than stopping earlier ----------------------------------------------
def test_truncated_never_above_the_same_text_stopped_earlier():
    """Every prefix pair of adversarial and honest texts: at the cap vs 5 tokens before it."""
    funcs, weights = build_reward_funcs(HUB)
    heads = [full("72"), full("71"), "<think>", "", full("72").replace("</answer>", "")]
    fillers = ["Wait, let me recompute that once more.", "so so so", "Also one could consider other views here.",
               "<answer>72</answer>", "the the"]
    checked = 0
    for head in heads:
        for filler in fillers:
            words = (head + (" " + filler) * CAP).split(" ")
            early, at_cap = " ".join(words[:CAP - 5]), " ".join(words[:CAP])
            texts, ids = [early, at_cap], [list(range(CAP - 5)), list(range(CAP))]
            per = [f(prompts=["q"] * 2, completions=texts, completion_ids=ids, answer=["72"] * 2) for f in funcs]
            tot = [sum(w * s for w, s in zip(weights, col) if s is not None) for col in zip(*per)]
            assert tot[1] <= tot[0] + 1e-9, (head[:20], filler)
            checked += 1
    assert checked == 25


def test_hub_presets_floor_truncation_and_docs_agree():
    from pathlib import Path

    from grpo_tui.core.planning.presets import discover

    hub = [p for p in discover().values() if p.ok and "overlong_penalty" in p.config.rewards]
    assert len(hub) >= 7
    assert all(p.config.floor_truncated_reward for p in hub), [p.name for p in hub if not p.config.floor_truncated_reward]
    docs = (Path(__file__).resolve().parents[2] / "docs" / "rewards.md").read_text()
    assert "floor_truncated_reward = true" in docs and "zero_truncated_reward = true" not in docs


def test_floor_is_the_lowest_total():
    """At the cap every built-in scores its floor: format 0, correctness 0, penalties -1."""
    right = full("72")
    tot = totals([right], ids=[list(range(CAP))])
    assert tot == pytest.approx([-1.0 - 0.5])


# -- 6. the loop penalty is exactly 0 on ordinary reasoning --------------------------------------------
ORDINARY = [
    WHY,
    "Let me think step by step. The total number of apples is 12. The total number of pears is 7. "
    "So the total number of fruits is 12 + 7 = 19. Let me check: 12 + 7 = 19. Yes, the total is 19.",
    "First, 3 boxes with 12 pencils each: 3 * 12 = 36. Then he gives away 6: 36 - 6 = 30. "
    "Let me double check: 3 * 12 = 36, and 36 - 6 = 30. So the answer is 30. The answer is 30.",
    " ".join(f"Step {i}: add {i} to the running total, which gives {i * (i + 1) // 2}." for i in range(1, 40)),
]


def _qwen_like_ids(text: str) -> list[int]:
    """Digits one token each, words one token each (Qwen tokenises numbers digit by digit)."""
    import re

    vocab: dict[str, int] = {}
    return [vocab.setdefault(t, len(vocab)) for t in re.findall(r"\d|[A-Za-z]+|[^\sA-Za-z\d]", text)]


def test_repetition_penalty_is_zero_on_ordinary_reasoning():
    rep = rr.make_repetition_penalty()
    assert rep(None, ORDINARY) == [0.0] * len(ORDINARY)
    assert rep(None, ORDINARY, completion_ids=[_qwen_like_ids(t) for t in ORDINARY]) == [0.0] * len(ORDINARY)
    # TRL's 3-gram measure charges the same texts (what the attack found)
    assert max(rr.repeated_ngram_share(_qwen_like_ids(t), 3) for t in ORDINARY) > 0.1


def test_repetition_penalty_bites_on_loops():
    rep = rr.make_repetition_penalty()
    loop = WHY + " " + "Wait, let me recompute that once more. " * 40
    half = WHY + " " + ORDINARY[1] + " " + "so the answer is 72 " * 30
    a, b = rep(None, [loop, half], completion_ids=[_qwen_like_ids(loop), _qwen_like_ids(half)])
    assert a < -0.7 and -0.8 < b < -0.2


def test_all_correct_group_advantage_favours_the_work():
    from grpo_tui.trainer.rewards.audit import advantages

    verbose = full("72", WHY + " Let me double-check each quantity again before I answer. " + WHY.replace(".", ";"))
    group = [full("72"), verbose, "<think>.</think><answer>72</answer>", "<answer>72</answer>"]
    adv = advantages(totals(group), "group")
    assert adv[0] == pytest.approx(adv[1]) and adv[0] > 0 > adv[2] and adv[0] > adv[3]


# -- 7. a token reasoning is not the format -------------------------------------------------------------
@pytest.mark.parametrize("r", [".", "", " ", "ok", "...", "72", "so 72", "-- -- --"])
def test_trivial_reasoning_is_not_the_format(r):
    c = f"<think>{r}</think><answer>72</answer>"
    assert totals([c])[0] < HONEST - 0.5
    assert rr.make_format_strict(T)(None, [c]) == [0.0]


def test_min_reasoning_chars_is_configurable():
    c = "<think>so 72</think><answer>72</answer>"
    assert totals([c], cfg=HUB.with_overrides({"min_reasoning_chars": 4})) == pytest.approx([HONEST])
    with pytest.raises(Exception, match="min_reasoning_chars"):
        RunConfig(min_reasoning_chars=-1).validate()


# -- 8. bad gold is an error naming the column ------------------------------------------------------------
@pytest.mark.parametrize("gold,match", [
    ([float("nan")], "answer: gold answer \\(row 0\\) is nan"),
    (["nan"], "is 'nan'"),
    ("72", "got one str '72'"),
    ([], "0 gold answer\\(s\\) for 1 completions"),
    ([[72]], "is a list"),
    ([float("inf")], "is inf"),
])
def test_bad_gold_is_a_clear_error(gold, match):
    with pytest.raises(rr.GoldError, match=match):
        correct(["q"], [full("72")], answer=gold)


def test_solution_column_named_in_the_error():
    with pytest.raises(rr.GoldError, match="^solution:"):
        correct(["q"], [full("72")], solution="72")


def test_numeric_golds_of_any_type():
    import numpy as np

    assert correct(["q"] * 3, [full("72")] * 3, answer=[72, 72.0, np.int64(72)]) == [1.0, 1.0, 1.0]
    assert correct(["q"], [full("72")], answer=[None]) == [None]


@pytest.mark.parametrize("body,match", [
    ('{"question": "q", "answer": NaN}\n', "row 1.*nan"),
    ('{"question": "q", "answer": "4"}\n{"question": "q", "answer": null}\n', "row 2 has no gold"),
    ('{"question": "q", "solution": [1, 2]}\n', "'solution'.*is a list"),
])
def test_bad_gold_refused_at_launch(tmp_path, body, match):
    from grpo_tui.core.settings.config import ConfigError
    from grpo_tui.trainer.rewards import validate_reward_specs

    path = tmp_path / "data.jsonl"
    path.write_text(body)
    with pytest.raises(ConfigError, match=match) as info:
        validate_reward_specs(RunConfig(dataset=str(path), rewards=["correctness"]))
    assert info.value.field.startswith("dataset column")


def test_csv_gold_checked_at_launch(tmp_path):
    from grpo_tui.core.settings.config import ConfigError
    from grpo_tui.trainer.rewards import validate_reward_specs

    path = tmp_path / "data.csv"
    path.write_text("question,answer\nq1,4\nq2,\n")
    with pytest.raises(ConfigError, match="row 2 has no gold"):
        validate_reward_specs(RunConfig(dataset=str(path), rewards=["correctness"]))
    path.write_text("question,answer\nq1,4\nq2,5\n")
    validate_reward_specs(RunConfig(dataset=str(path), rewards=["correctness"]))


# -- 9. cost is bounded per completion, on any thread ------------------------------------------------------
COSTLY = ["9^{9^{9}}", "9^{9}!", "{" * 60 + "1" + "}" * 60, "\\frac{1}{" * 12 + "2" + "}" * 12, "((99^{99})^{99})",
          "99!!", "9" * 100_000, "1e99999999", "10^{99999999}", "2^{2^{2^{2}}}", "(9^{99})^{99}!", "\\sqrt{" * 30 + "2" + "}" * 30]


def _worst(golds, answers) -> float:
    """CPU seconds of the slowest call on this thread (wall time on a shared CI box also counts
    other jobs; the wall-clock figures are bench/rewards_cost.py's). math-verify's one-time import
    and warm-up are paid first: they are per process, not per completion."""
    rr._warm_up()
    worst = 0.0
    for gold in golds:
        for a in answers:
            t = time.thread_time()
            correct(["q"], [full(a)], answer=[gold])
            worst = max(worst, time.thread_time() - t)
    return worst


def test_costly_answers_are_refused_fast_on_the_main_thread():
    assert _worst(["72", "\\sqrt{2}"], COSTLY) < 0.5  # target < 0.1 s: bench/rewards_cost.py measures it


def test_costly_answers_are_refused_fast_off_the_main_thread():
    out: list[float] = []
    th = threading.Thread(target=lambda: out.append(_worst(["72", "\\sqrt{2}"], COSTLY)), daemon=True)
    th.start()
    th.join(30)
    assert not th.is_alive(), "a reward call hung off the main thread"
    assert out and out[0] < 0.5


def test_the_deadline_stops_a_slow_parse_on_a_worker_thread():
    def spin():
        while True:
            pass

    result: list[object] = []

    def worker():
        t = time.perf_counter()
        try:
            rr._call_with_deadline(spin, 0.05)
        except rr._Deadline:
            result.append(time.perf_counter() - t)

    th = threading.Thread(target=worker, daemon=True)
    th.start()
    th.join(10)
    assert not th.is_alive() and result and result[0] < 5.0  # a hang would never return


def test_long_completions_stay_linear():
    n = 50_000
    texts = ["<think>" + "a " * n + "</think><answer>" + "1 " * n + "</answer>x",
             "<think>" + "a " * n + "<answer>" * 50 + "</answer>x" * 50,
             "<ANSWER>" * 5000 + "<think>" * 5000]
    funcs, _ = build_reward_funcs(HUB)
    t = time.perf_counter()
    for f in funcs:
        f(prompts=["q"] * 3, completions=texts, completion_ids=[list(range(CAP))] * 3, answer=["1"] * 3)
    assert time.perf_counter() - t < 3.0
    assert math.isfinite(t)


# -- red-team follow-ups (/work/REWARD_ATTACKS.md) ----------------------------------------------------------
@pytest.mark.parametrize("ans,gold", [
    ("**Answer:** 72", "72"), ("**72** clips", "72"), ("72 €", "72"), ("72€", "72"), ("1 818", "1818"),
    ("1\u2009818", "1818"), ("1\u202f818", "1818"), ("(-5)", "-5"), ("8 cm^2", "8"), ("8 cm²", "8"),
    ("72 (clips)", "72"), ("72 clips!", "72"),
])
def test_more_honest_forms_pay(ans, gold):
    assert paid(ans, gold), ans


@pytest.mark.parametrize("ans", ["72!", "0 072", "71 72", "72 (or 71)", "72 000", "72 €71", "(71)"])
def test_the_new_forms_open_no_hedge(ans):
    assert not paid(ans)


@pytest.mark.parametrize("decoy", ["<ans\u200bwer>71</ans\u200bwer>", "<ans\u00adwer>71</ans\u00adwer>",
                                   "<ａｎｓｗｅｒ>71</ａｎｓｗｅｒ>", "&lt;answer&gt;71&lt;/answer&gt;"])
def test_decoys_spelled_with_invisible_or_folded_characters_count(decoy):
    assert correct(["q"], [f"<think>{WHY}</think>{decoy}<answer>72</answer>"], answer=["72"]) == [0.0]


def test_symbolic_verdict_does_not_depend_on_machine_load():
    """The deadline is CPU time of the calling thread: two busy threads in the process (GIL
    contention, a loaded box) must not turn a correct answer into a wrong one."""
    rr._warm_up()
    stop = threading.Event()

    def hog():
        while not stop.is_set():
            pass

    hogs = [threading.Thread(target=hog, daemon=True) for _ in range(2)]
    for h in hogs:
        h.start()
    try:
        verdicts = []
        for _ in range(3):
            rr._math_verify_cached.cache_clear()
            verdicts.append(rr.answers_match("(x-1)(x+1)", "x^2-1"))
    finally:
        stop.set()
    assert verdicts == [True, True, True]
