"""Red-team cases against the shipped reward sets, beyond tests/trainer/test_rewards_hacks.py (issue 11).

The reward functions are built exactly as training builds them (a preset -> build_reward_funcs)
and called the way TRL 1.15 calls them: by keyword, with completion_ids, the gold column,
trainer_state, log_extra and log_metric; completions as plain strings and as chat messages
(with and without reasoning_content). Each case asserts the right behaviour: honest forms are
paid, hacks are not, odd input never raises or gives a non-finite reward. Cases that still fail
on the current rules are written up in /work/REWARD_ATTACKS.md, not here.
"""

from __future__ import annotations

import gc
import math
import threading
import time
import types

import pytest

from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer import reward_rules as rr
from grpo_tui.trainer.rewards import build_reward_funcs

PRESETS = ("gpu-16gb", "cpu-smollm2")
CFG = {name: load_preset(name) for name in PRESETS}
BUILT = {name: build_reward_funcs(cfg) for name, cfg in CFG.items()}
WHY = ("In April Natalia sold 48 clips. In May she sold half as many, 48 / 2 = 24 clips. "
       "Altogether she sold 48 + 24 = 72 clips.")
STATE = types.SimpleNamespace(global_step=3, max_steps=10, epoch=0.1)
PROMPT = [{"role": "user", "content": "Natalia sold clips to 48 of her friends... How many clips?"}]


def short_ids(c) -> list[int]:
    reasoning, content = rr.split_completion(c)
    return list(range(1, len((reasoning + " " + content).split()) + 2))


def scores(completions, gold="72", preset="gpu-16gb", ids=None):
    """Per completion: (weighted total, [component values]), as TRL sums them (None skipped)."""
    funcs, weights = BUILT[preset]
    n = len(completions)
    ids = ids if ids is not None else [short_ids(c) for c in completions]
    cols = []
    for f in funcs:
        out = f(prompts=[PROMPT] * n, completions=completions, completion_ids=ids, answer=[gold] * n,
                trainer_state=STATE, log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None)
        assert len(out) == n, f.__name__
        cols.append(out)
    rows = list(zip(*cols))
    return [(sum(w * s for w, s in zip(weights, row) if s is not None), list(row)) for row in rows]


def total(c, gold="72", preset="gpu-16gb", ids=None) -> float:
    return scores([c], gold, preset, None if ids is None else [ids])[0][0]


def full(ans: str, reasoning: str = WHY) -> str:
    return f"<think>{reasoning}</think>\n<answer>{ans}</answer>"


def chat(content, reasoning=None):
    msg = {"role": "assistant", "content": content}
    if reasoning is not None:
        msg["reasoning_content"] = reasoning
    return [msg]


HONEST = total(full("72"))
WRONG = total(full("71"))
MARGIN = 0.25


@pytest.mark.parametrize("preset", PRESETS)
def test_controls_per_preset(preset):
    assert total(full("72"), preset=preset) == pytest.approx(3.0)
    assert total(full("71"), preset=preset) == pytest.approx(1.0)
    assert total(chat("<answer>72</answer>", WHY), preset=preset) == pytest.approx(3.0)
    assert total(chat(full("72")), preset=preset) == pytest.approx(3.0)


# -- numbers that are not the gold (or not one number) are not paid -----------------------------------
@pytest.mark.parametrize("ans", [
    "72.0000001", "071.5", "0x48", "LXXII", "seventy-two", "Seventy two", "⁷²", "\u221272", "-72", "-0",
    "72 72", "72\n72", "72,0", "7,2", "72,000", "72^1", "72!", "72_{10}", "\\sqrt{5184}", "--72", "72 - 0",
    "72 minus 0", "x = 72, y = 71", "x = y = 72", "72 = 72", "\\approx 72", "\\text{71}72", "\\boxed{71}72",
    "\\mathrm{72 or 71}", "72\\text{ or }71", "71 dollars 72", "72 apples or 71", "\\frac72", "7\u200b2",
    "\u200f72", "72\u200e", "72\x00", "72\ud800", "nan", "inf", "\\infty", "sNaN", "1e999999999", "1e1000",
    "\\frac{1}{0}", "0/0", "9.9 \\times 10^{999}", "1" + "0" * 127, "7" * 5000,
])
def test_numeric_oddities_are_not_paid(ans):
    t, comps = scores([full(ans)])[0]
    assert comps[2] == 0.0, ans
    assert t <= WRONG + 1e-9


# -- honest forms keep paying (beyond test_rewards_hacks) -----------------------------------------------
@pytest.mark.parametrize("ans,gold", [
    ("72e0", "72"), ("72e+0", "72"), ("7.2E1", "72"), ("\\text{72}", "72"), ("\\boxed{\\text{72}}", "72"),
    ("72/1", "72"), ("\\frac{72}{1}", "72"), ("72.0", "72"), ("72.", "72"), ("+72", "72"), ("72.00", "72"),
    ("72°", "72"), ("72 clips.", "72"), ("$72", "72"), ("72 dollars", "72"), ("\\$72.00", "72"),
    ("72.50", "72.5"), ("1,818.00", "1818"), ("Final answer: \\boxed{72}", "72"), ("\\(72\\)", "72"),
    ("72 clips in total", "72"), ("72 USD", "72"), ("72", "72.0"), ("1818", "1,818"), ("0.75", "3/4"),
    ("3/4", "0.75"), ("75%", "75%"), ("\\$ 72", "72"), ("72 hours", "72"), ("$1,818.50", "1818.5"),
    ("5 m/s", "5"), ("12 years old", "12"), ("Total = 72", "72"), ("x=72", "72"), ("\\text{72 clips}", "72"),
    ("72 \\text{clips}", "72"), ("\\boxed{72 \\text{ clips}}", "72"), ("72\\%", "72%"), ("1.5", "3/2"),
    ("\\frac{3}{2}", "1.5"), ("- 5", "-5"), ("−5", "-5"), ("$0.50", "0.5"), ("\\textbf{72}", "72"),
    ("72\\,\\text{clips}", "72"), ("Rs. 72", "72"), ("₹72", "72"), ("€72", "72"), ("७२", "72"), ("๗๒", "72"),
    ("𝟕𝟐", "72"),
])
def test_more_honest_forms_pay_in_full(ans, gold):
    assert total(full(ans), gold) == pytest.approx(HONEST), ans


# -- where the answer sits, with messages ----------------------------------------------------------------
def test_answer_in_reasoning_content_is_not_an_answer():
    assert scores([chat("", WHY + " <answer>72</answer>")])[0][1][2] == 0.0
    assert scores([chat("no idea", WHY + " <answer>72</answer>")])[0][1][2] == 0.0


def test_answer_tag_inside_think_is_not_paid():
    for c in (f"<think>{WHY} <answer>72</answer></think>", chat(f"<think>{WHY} <answer>72</answer></think>")):
        t, comps = scores([c])[0]
        assert comps[2] == 0.0 and t < WRONG


def test_typed_content_blocks_read_like_a_string():
    blocks = [{"role": "assistant", "content": [{"type": "text", "text": full("72")}]}]
    assert total(blocks) == pytest.approx(HONEST)


def test_only_the_assistant_speaks():
    for c in ([{"role": "tool", "content": full("72")}], [{"role": "user", "content": full("72")}]):
        assert total(c) == 0.0


def test_an_answer_without_reasoning_earns_less_than_the_worked_one():
    bare = total("<answer>72</answer>")
    assert bare < HONEST - 0.5
    assert scores(["<answer>72</answer>"])[0][1][0] == 0.0  # no strict-format credit


@pytest.mark.parametrize("reasoning", [".", "...", "  ", "\u200b" * 40, "\ud800" * 40, "- - - - - - - -", "ok"])
def test_token_reasoning_gets_no_strict_format(reasoning):
    assert scores([full("72", reasoning)])[0][1][0] == 0.0
    assert scores([chat("<answer>72</answer>", reasoning)])[0][1][0] == 0.0


@pytest.mark.parametrize("c", ["", "   \n ", "\n", None, [], [{"role": "assistant", "content": None}],
                               [{"role": "assistant", "content": ""}]])
def test_empty_completions_score_nothing(c):
    t, comps = scores([c])[0]
    assert t == 0.0 and all(v == 0.0 for v in comps)


# -- odd input: one finite value per completion, no exception, in one batch ----------------------------
ODD = [
    None, 5, [], {"role": "assistant", "content": full("72")}, ["<answer>72</answer>"],
    [{"role": "assistant", "content": [None, 5, {"text": None}]}],
    [{"role": "assistant", "content": "<answer>72</answer>", "reasoning_content": ["a", "b"]}],
    [{"role": "assistant", "content": "<answer>72</answer>", "thinking": WHY}],
    full("72\ud800"), "<think>" + "\udcff" * 50 + "</think><answer>72</answer>", "\x00" * 1000 + full("72"),
    full("{" * 5000 + "72" + "}" * 5000), full("\\boxed{" * 3000 + "72" + "}" * 3000),
    "\u202e" + full("27"), "<think>x</think>\u2067<answer>72</answer>\u2069", "<" * 12_288,
    "<think>" + "< answer x>" * 1000 + "</think>", full("\\frac{" * 500), full("^" * 500),
    full("(" * 2000), full("!" * 2000), full("\\" * 2000), "</think>" * 100, "<answer>" * 100,
]


@pytest.mark.parametrize("gold", ["72", "\\frac{1}{2}", "x^2+1", "(1,2)", "seventy"])
def test_odd_input_never_raises_or_goes_non_finite(gold):
    out = scores(ODD, gold=gold)
    assert len(out) == len(ODD)
    for t, comps in out:
        assert math.isfinite(t)
        assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in comps)


def test_a_megabyte_completion_is_scored():
    big = "<think>" + "abc def " * 131_072 + "</think><answer>72</answer>"
    assert len(big) > 1_000_000
    t, comps = scores([big], ids=[list(range(1, 600))])[0]
    assert comps[2] == 1.0 and math.isfinite(t)


# -- length: truncation and the overlong buffer ---------------------------------------------------------
def test_truncation_never_pays_more_than_stopping_earlier_anywhere():
    cap = CFG["gpu-16gb"].max_completion_length
    loop = " ".join(f"step {i}: we add {i} and {i + 1} to get {2 * i + 1}." for i in range(400))
    texts = [full("72"), full("71"), "<think>" + loop, full("72") + " " + loop, loop, ""]
    for text in texts:
        at_cap = total(text, ids=list(range(1, cap + 1)))
        for n in (1, cap // 2, cap - cap // 5, cap - 10, cap - 1):
            assert at_cap <= total(text, ids=list(range(1, n + 1))) + 1e-9, (text[:40], n)


def test_overlong_penalty_falls_monotonically_through_the_buffer():
    cap = CFG["gpu-16gb"].max_completion_length
    seq = [total(full("72"), ids=list(range(1, n + 1))) for n in range(cap - cap // 5 - 5, cap + 2)]
    assert all(a >= b - 1e-12 for a, b in zip(seq, seq[1:]))
    assert seq[0] == pytest.approx(HONEST)
    assert seq[-1] == pytest.approx(-1.5)  # every component at its floor


@pytest.mark.parametrize("preset", PRESETS)
def test_a_truncated_correct_answer_scores_below_an_honest_wrong_one(preset):
    cap = CFG[preset].max_completion_length
    truncated = total(full("72") + " and more", preset=preset, ids=list(range(1, cap + 1)))
    assert truncated < total(full("71"), preset=preset)


# -- padding and loops ----------------------------------------------------------------------------------
def test_long_non_repeating_filler_earns_nothing_over_honest_wrong():
    filler = " ".join(f"Step {i}: consider quantity {i * 7 % 101} which relates to item {i * 13 % 97}."
                      for i in range(500))
    cap = CFG["gpu-16gb"].max_completion_length
    assert total(full("71", filler), ids=list(range(1, cap - 200))) <= WRONG + 1e-9
    assert total(full("72", filler), ids=list(range(1, cap - 200))) <= HONEST + 1e-9


def test_a_pure_loop_is_charged():
    block = list(range(1000, 1030))
    t, comps = scores([full("72", "loop")], ids=[block * 20])[0]
    assert comps[4] <= -0.8


def test_synonym_cycling_is_not_a_loop_and_gains_nothing():
    syn = ["thus", "hence", "therefore", "so", "consequently", "accordingly", "ergo", "then"]
    text = " ".join(f"{syn[i % 8]} {syn[i * 3 % 8]} {syn[i * 5 % 8]} value {i}" for i in range(100))
    assert total(full("71", text)) <= WRONG + 1e-9


# -- decoys a reader would see as tags: these ARE refused (others are in REWARD_ATTACKS.md) --------------
@pytest.mark.parametrize("decoy", ["<ANSWER>71</ANSWER>", "< answer >71</ answer >", "<Answer id=1>71</Answer>",
                                   "<answer\t>71</answer>", "<answer/>71"])
def test_spelled_decoy_tags_are_counted(decoy):
    c = f"<think>{WHY}</think>{decoy}<answer>72</answer>"
    t, comps = scores([c])[0]
    assert comps[2] == 0.0 and t <= WRONG + 1e-9


# -- cost: realistic worst cases stay cheap on a worker thread ------------------------------------------
COSTLY = {
    "lt": "<" * 12_288, "lt-a": "<a" * 6_144, "loose tags": "< answer x>" * 1_117,
    "open answers": "<think>" + WHY + "</think>" + "<answer>" * 1_536,
    "loose ends": full("72") + "</ think >" * 1_228, "punctuation reasoning": "<think>" + "." * 12_288 + "</think><answer>72</answer>",
    "braces": full("{" * 12_288), "boxes": full("\\boxed{" * 1_755), "digits": full("1" * 12_288),
}


def test_adversarial_completions_cost_little_cpu_off_the_main_thread():
    """CPU time of the thread (not wall time: the box is shared), max over 3 runs, all components."""
    worst: dict[str, float] = {}

    def work():
        for name, c in COSTLY.items():
            for _ in range(3):
                gc.collect()  # a collection of the whole test session's heap is not this reward's cost
                gc.disable()
                try:
                    t0 = time.thread_time()
                    scores([c], ids=[list(range(1, 700))])
                    worst[name] = max(worst.get(name, 0.0), time.thread_time() - t0)
                finally:
                    gc.enable()

    th = threading.Thread(target=work)
    th.start()
    th.join(60)
    assert not th.is_alive() and set(worst) == set(COSTLY)
    assert max(worst.values()) < 0.05, worst


# -- holes found by this red team and closed by issue 11 (deec0f1): kept closed --------------------------
@pytest.mark.parametrize("ans,gold", [
    ("**Answer:** 72", "72"), ("**72** clips", "72"), ("72 €", "72"), ("72€", "72"), ("1 818", "1818"),
    ("1\u2009818", "1818"), ("1\u202f818", "1818"), ("(-5)", "-5"), ("8 cm^2", "8"), ("8 cm²", "8"),
    ("72 (clips)", "72"), ("72 m²", "72"), ("72 clips!", "72"),
])
def test_formerly_refused_honest_forms_pay(ans, gold):
    assert total(full(ans), gold) == pytest.approx(HONEST), ans


@pytest.mark.parametrize("decoy", ["<ans\u200bwer>71</ans\u200bwer>", "<ans\u00adwer>71</ans\u00adwer>",
                                   "<ａｎｓｗｅｒ>71</ａｎｓｗｅｒ>", "&lt;answer&gt;71&lt;/answer&gt;",
                                   "<answer\u200b>71</answer\u200b>"])
def test_invisible_or_escaped_decoy_tags_are_counted(decoy):
    t, comps = scores([f"<think>{WHY}</think>{decoy}<answer>72</answer>"])[0]
    assert comps[2] == 0.0 and t <= WRONG + 1e-9


SYMBOLIC_HONEST = [("(x-1)(x+1)", "x^2-1"), ("\\sin(\\pi/3)", "\\frac{\\sqrt{3}}{2}"),
                   ("\\frac{2\\sqrt{3}}{4}", "\\frac{\\sqrt{3}}{2}"), ("1+x^2", "x^2+1"), ("\\sqrt{18}", "3\\sqrt{2}"),
                   ("(1, 2)", "(1,2)")]


def test_symbolic_verdicts_do_not_depend_on_a_busy_process():
    """The wall-clock deadline refused (x-1)(x+1) = x^2-1 on a loaded box and flipped sin(pi/3);
    here two GIL-busy threads compete with a worker thread that scores honest symbolic answers."""
    rr.answers_match("1", "x^2+1")  # the one-off warm-up, outside the measurement
    verdicts: list[bool] = []
    stop = threading.Event()

    def hog():
        while not stop.is_set():
            pass

    def work():
        for ans, gold in SYMBOLIC_HONEST:
            rr._math_verify_cached.cache_clear()
            verdicts.append(rr.answers_match(ans, gold))

    hogs = [threading.Thread(target=hog, daemon=True) for _ in range(2)]
    for h in hogs:
        h.start()
    try:
        w = threading.Thread(target=work)
        w.start()
        w.join(60)
    finally:
        stop.set()
        for h in hogs:
            h.join()
    assert verdicts == [True] * len(SYMBOLIC_HONEST)


# -- the same rules with Unsloth's notebook tags (a user's config, not the defaults) ---------------------
UNSLOTH_TAGS = dict(reasoning_start="<start_working_out>", reasoning_end="<end_working_out>",
                    solution_start="<SOLUTION>", solution_end="</SOLUTION>")


@pytest.mark.parametrize("completion,expected", [
    ("<start_working_out>{w}<end_working_out><SOLUTION>72</SOLUTION>", 3.0),
    ("<start_working_out>{w}<end_working_out><SOLUTION>71</SOLUTION>", 1.0),
    ("{w}<end_working_out><SOLUTION>72</SOLUTION>", 3.0),  # the template pre-filled the opening tag
    ("<start_working_out>{w}<end_working_out><solution>71</solution><SOLUTION>72</SOLUTION>", 0.25),  # decoy
    # answer inside the reasoning: quoted tags are the reasoning's text (issue 25), so only the two
    # reasoning tags earn format_soft (0.5 before, when the quoted answer tags counted too)
    ("<start_working_out>{w}<SOLUTION>72</SOLUTION><end_working_out>", 0.25),
])
def test_custom_tags_keep_the_rules(completion, expected):
    import dataclasses

    cfg = dataclasses.replace(CFG["cpu-smollm2"], **UNSLOTH_TAGS)
    funcs, weights = build_reward_funcs(cfg)
    c = completion.format(w=WHY)
    comps = [f(prompts=[PROMPT], completions=[c], completion_ids=[short_ids(c)], answer=["72"], trainer_state=STATE)[0]
             for f in funcs]
    assert sum(w * s for w, s in zip(weights, comps)) == pytest.approx(expected)


# -- H7: the CPU-time watchdog of a short-lived reward thread ------------------------------------
def test_deadline_watchdog_is_quiet_and_gone_when_short_lived_threads_exit():
    """Many short-lived threads each verify a symbolic answer and exit at once: the watchdog must
    never read the CPU clock of a thread that has exited (OSError Errno 22 in 'reward-deadline',
    seen in 3-11 of 50 threads before) and must not outlive its call."""
    pytest.importorskip("math_verify")
    rr.answers_match("1", "x^2+1")  # warm-up outside the loop
    rr._math_verify_cached.cache_clear()
    errors, verdicts = [], []
    old = threading.excepthook
    threading.excepthook = lambda a: errors.append(f"{a.thread.name if a.thread else '?'}: {a.exc_value!r}")
    try:
        for i in range(120):
            t = threading.Thread(target=lambda i=i: verdicts.append(rr.answers_match(f"x^2+{i}", "x^2+1")))
            t.start()
            t.join()
        # any late watchdog would have finished by now: joined threads had their watchdog joined
        left = [t.name for t in threading.enumerate() if t.name == "reward-deadline"]
    finally:
        threading.excepthook = old
    assert len(verdicts) == 120 and verdicts.count(True) == 1  # only x^2+1 itself
    assert errors == []
    assert left == []


# -- H9: a stop string that is a reward tag -----------------------------------------------------
def test_a_stop_at_the_closing_answer_tag_keeps_the_tag_on_vllm():
    """vLLM returns the text before a stop string unless include_stop_str_in_output: stop="</answer>"
    would strip the closing tag from every completion (honest correct 0.375 instead of 3.0). grpo-tui
    turns the flag on for it, says so in one notice line, and vLLM gets it."""
    import dataclasses

    from grpo_tui.core.settings import fields
    from grpo_tui.trainer.library_args import grpo_extra_kwargs, uses_vllm

    for stop in (["</answer>"], ["<|im_end|>", "</answer>"], ["</answer>\n"]):
        cfg = dataclasses.replace(CFG["gpu-16gb"], stop=stop).validate()
        assert uses_vllm(cfg) and not cfg.include_stop_str_in_output
        assert fields.keeps_stop_text(cfg), stop
        notes = [n for n in cfg.notices() if n.startswith("include_stop_str_in_output -> true")]
        assert len(notes) == 1 and "</answer>" in notes[0], cfg.notices()
        assert grpo_extra_kwargs(cfg, "cuda")["generation_kwargs"]["include_stop_str_in_output"] is True
    # what vLLM returns then is the whole answer block, paid as before
    assert total(full("72")) == pytest.approx(3.0)
    assert total(f"<think>{WHY}</think>\n<answer>72") < 1.0  # what it returned without the flag
    # a stop string unrelated to the tags changes nothing; an explicit flag gives no notice
    plain = dataclasses.replace(CFG["gpu-16gb"], stop=["<|im_end|>"]).validate()
    assert not fields.keeps_stop_text(plain) and not any("include_stop" in n for n in plain.notices())
    kept = dataclasses.replace(CFG["gpu-16gb"], stop=["</answer>"], include_stop_str_in_output=True).validate()
    assert not any("include_stop" in n for n in kept.notices())


@pytest.mark.parametrize("stop", ["</think>", "<answer>", "</think>\n", ">", "</", "</answer", "think", "<", "answer>"])
def test_a_stop_string_that_ends_completions_before_the_answer_is_refused(stop):
    """A stop string that is (inside) a reasoning tag or the opening answer tag, or that stops
    part-way into the closing tag, leaves no complete answer in any completion: refused at
    validation with one line naming `stop`, on every backend."""
    import dataclasses

    from grpo_tui.core.settings.config import ConfigError

    for preset in PRESETS:
        with pytest.raises(ConfigError) as e:
            dataclasses.replace(CFG[preset], stop=[stop]).validate()
        assert e.value.field == "stop" and "\n" not in str(e.value).strip(), str(e.value)


# -- H8: words before ':' / '=' ------------------------------------------------------------------
@pytest.mark.parametrize("ans", ["not: 72", "never = 72", "seventy one = 72", "seventy one or: 72", "LXXI or: 72",
                                 "wrong: 72", "I guess: 72", "no: 72", "not = 72", "maybe: 72", "or: 72"])
def test_words_before_the_value_that_negate_or_hedge_it_are_not_one_number(ans):
    """Only a small set of prefixes comes off before the value (answer, a label word, one variable
    name): a negation, a spelled-out number (a false equation in words) or a hedge is not one value."""
    (t, comps), = scores([full(ans)])
    assert comps[2] == 0.0 and t <= total(full("71")) + 1e-9, (ans, t, comps)


@pytest.mark.parametrize("ans", ["x = 72", "x=72", "Answer: 72", "**Answer:** 72", "The answer is 72", "answer 72",
                                 "Final answer: 72", "The final answer is: 72", "Total: 72", "Total = 72",
                                 "The total is 72", "n_1 = 72", "x_{1} = 72", "N: 72", "Total cost: $72", "Result: 72"])
def test_harmless_prefixes_before_the_value_still_pay(ans):
    assert total(full(ans)) == pytest.approx(3.0), ans


# -- H1: a loop with a counter ------------------------------------------------------------------
CHECK = "Let me check again{}: 48 + 24 = 72, and 72 is the total number of clips she sold."
COUNTER_LOOPS = {
    "(i)": " ".join(CHECK.format(f" ({i})") for i in range(14)),
    "Step i:": " ".join(f"Step {i}: " + CHECK.format("") for i in range(1, 15)),
    "attempt i of 14": " ".join(CHECK.format(f" (attempt {i} of 14)") for i in range(1, 15)),
    "spelled": " ".join(CHECK.format(f" for the {w} time") for w in
                        "first second third fourth fifth sixth seventh eighth ninth tenth".split()),
    "9 -> 10 -> 11": " ".join(f"Check {i}: " + CHECK.format("") for i in range(7, 19)),
}
PURE_LOOP = " ".join([CHECK.format("")] * 14)
# Honest reasoning that must keep the loop penalty at exactly 0: numbered steps doing different
# arithmetic, worked enumerations whose steps change a value besides the step number, restatements.
OPS = [("+", lambda a, b: a + b), ("*", lambda a, b: a * b), ("-", lambda a, b: a - b)]
HONEST_LONG = [
    "Step 1: 12*3=36. Step 2: 36+4=40. Step 3: 40-8=32. Step 4: 32/4=8. Step 5: 8*7=56. Step 6: 56+16=72. "
    "Step 7: check 72-16=56. Step 8: 56/7=8. So the answer is 72.",
    " ".join(f"Step {i}: {10 + i} {op} {i + 2} = {f(10 + i, i + 2)}." for i, (op, f) in
             enumerate(OPS * 9, start=1)) + " Adding the results gives the total.",
    " ".join(f"Day {d}: Natalia goes to the market again and sells 5 more clips to her friends, so she now has "
             f"{100 - 5 * d} clips left in her box." for d in range(1, 13)),
    " ".join(f"Step {i}: add {i} to the running total, which gives {i * (i + 1) // 2}." for i in range(1, 25)),
    " ".join(f"In week {w} she saves {3 * w} dollars, so after week {w} she has saved {3 * w * (w + 1) // 2} dollars "
             f"in total." for w in range(1, 11)),
    WHY + " Let me check: half of 48 is 48 / 2 = 24, and 48 + 24 = 72. To be sure, April gave 48 clips and May "
    "gave 24 clips, which is 72 clips together. Checking once more: 24 is half of 48, and 48 + 24 = 72.",
]


def _rep(texts, ids=None):
    return rr.make_repetition_penalty()(None, texts, completion_ids=ids)


def _word_ids(text):
    import re

    vocab: dict[str, int] = {}
    return [vocab.setdefault(t, len(vocab)) for t in re.findall(r"\d|[A-Za-z]+|[^\sA-Za-z\d]", text)]


@pytest.mark.parametrize("kind", list(COUNTER_LOOPS))
def test_a_loop_with_a_counter_is_charged_like_the_same_loop_without_it(kind):
    loop = COUNTER_LOOPS[kind]
    pure, = _rep([" ".join([CHECK.format("")] * loop.count("48 + 24 = 72"))])  # as many iterations
    for ids in (None, [_word_ids(loop)]):
        pen, = _rep([loop], ids)
        assert pen < -0.5 and pen <= pure + 0.15, (kind, pen, pure)
    # the whole reward set: a counter loop ending on the right answer scores well below honest correct
    assert total(full("72", loop)) < total(full("72")) - 0.25  # was 2.997 of 3.0


@pytest.mark.parametrize("i", range(len(HONEST_LONG)))
def test_long_honest_numbered_reasoning_has_no_loop_penalty(i):
    text = HONEST_LONG[i]
    assert rr.counter_loop_share(text) == 0.0
    assert _rep([text], [_word_ids(text)]) == [0.0]  # with token ids, as TRL calls it
    if i != 2:  # without ids the 10-word exact measure charges the 17-word sentence the Day steps repeat
        assert _rep([text]) == [0.0]


def _smollm2_tokenizer():
    import glob
    import os

    root = os.environ.get("GRPO_TUI_MODEL_CACHE") or os.path.expanduser("~/.cache/grpo-tui-ci")
    dirs = [d for d in sorted(glob.glob(os.path.join(root, "gguf", "SmolLM2-135M-Instruct*")))
            if os.path.isfile(os.path.join(d, "tokenizer.json")) or os.path.isfile(os.path.join(d, "tokenizer_config.json"))]
    if not dirs:
        pytest.skip("SmolLM2's tokenizer is not in the model cache (tests/trainer/test_real_model_cpu.py fetches it)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(dirs[0])


def test_counter_loops_with_the_real_smollm2_tokenizer():
    """The red team's measurements (cpu-smollm2's tokenizer): counter loops scored ~0 penalty."""
    tok = _smollm2_tokenizer()

    def scored(reasoning, ans="71"):
        c = full(ans, reasoning)
        ids = tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert len(ids) < 768  # not truncated: the loop penalty alone is measured
        return scores([c], ids=[ids])[0]

    pure = scored(PURE_LOOP)[1][4]
    for kind in ("(i)", "Step i:"):
        t, comps = scored(COUNTER_LOOPS[kind])
        assert comps[4] < -0.5 and comps[4] <= pure + 0.15 and t < 0.75, (kind, t, comps)
        assert scored(COUNTER_LOOPS[kind], "72")[0] < 2.75
    for text in HONEST_LONG:
        assert scored(text)[1][4] == 0.0, text[:60]


# -- H5: look-alike letters in a decoy tag; a box boxed again --------------------------------------
@pytest.mark.parametrize("decoy", ["<\u0430nswer>71</\u0430nswer>", "<\u03b1nswer>71</\u03b1nswer>",
                                   "<ANSW\u0415R>71</ANSW\u0415R>", "<\u0430ns\u200bwer>71</\u0430nswer>",
                                   "<\u0430n\u0455w\u0435r>71</\u0430n\u0455w\u0435r>"])
def test_decoy_answer_tags_spelled_with_look_alike_letters_are_counted(decoy):
    """Cyrillic/Greek letters that look like Latin ones spell a tag a reader takes for <answer>:
    counted like any decoy spelling, so the completion is not paid (it was 2.5, correctness 1.0)."""
    (t, comps), = scores([f"<think>{WHY}</think>{decoy}<answer>72</answer>"])
    assert comps[2] == 0.0 and t <= total(full("71")), (decoy, t, comps)


def test_text_in_other_scripts_is_not_a_decoy():
    """The fold applies to tag counting only: Russian or Greek reasoning is reasoning."""
    assert total(full("72", "Сначала 48 клипов, потом половина: 48 / 2 = 24. Всего 48 + 24 = 72.")) == 3.0
    assert total(full("72", "Πρώτα 48, μετά 24: 48 + 24 = 72 συνολικά.")) == 3.0


@pytest.mark.parametrize("ans,paid", [("\\boxed{\\boxed{72}}", True), ("\\boxed{ \\boxed{72} }", True),
                                      ("\\boxed{\\boxed{\\boxed{72}}}", True), ("\\boxed{\\boxed{71} \\boxed{72}}", False),
                                      ("\\boxed{\\boxed{71}72}", False), ("\\boxed{\\boxed{72}} \\boxed{71}", False)])
def test_a_box_boxed_again_is_one_box(ans, paid):
    assert (total(full(ans)) == pytest.approx(3.0)) is paid, ans


# -- H1 follow-up: a word swapped each time, and loops written in other scripts ---------------------
SWAPS = "carefully thoroughly slowly quickly again once more twice properly fully really exactly truly".split()
WORD_LOOPS = {
    "a word swapped each time": " ".join(CHECK.replace("again", w) for w in SWAPS),
    "Russian, with a counter": " ".join(f"Проверка {i}: 48 + 24 = 72, и 72 это общее число заколок, которые она продала."
                                        for i in range(1, 15)),
    "Chinese, with a counter": " ".join(f"第{i}次检查：48 + 24 = 72，所以她一共卖了72个发夹，这个答案是正确的，我再确认一下这个计算。"
                                        for i in range(1, 15)),
    "× and a counter": " ".join(f"Check ({i}): 48 × 1.5 = 72 — and 72 is the total number of clips sold in April and May."
                                for i in range(1, 15)),
}


@pytest.mark.parametrize("kind", list(WORD_LOOPS))
def test_a_loop_that_changes_one_word_or_is_written_in_another_script_is_charged(kind):
    """One changed word per iteration dodged both measures (exact repeats, and a counter that had
    to be a number); non-ASCII text is compared in a fixed-width encoding."""
    loop = WORD_LOOPS[kind]
    assert rr.counter_loop_share(loop) > 0.6, kind
    pen, = _rep([loop], [_word_ids(loop)])
    assert pen < -0.6, (kind, pen)


@pytest.mark.parametrize("text", [
    "Сначала 48 клипов в апреле. В мае она продала вдвое меньше: 48 / 2 = 24. Всего 48 + 24 = 72. "
    "Проверим: 24 это половина от 48, значит сумма 72 верна, и ответ 72 заколки. " * 1,
    "四月卖了48个，五月卖了一半，也就是48 ÷ 2 = 24个。两个月一共卖了48 + 24 = 72个。再检查一遍：24是48的一半，72是总数。",
    " ".join(f"The {c} box holds {n} apples and {m} pears, {n + m} fruits in all." for c, n, m in
             zip("red blue green yellow white black pink grey".split(), range(3, 11), range(9, 1, -1))),
])
def test_honest_text_that_varies_more_than_one_word_is_not_a_loop(text):
    assert rr.counter_loop_share(text) == 0.0
