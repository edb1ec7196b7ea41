"""The audit's honest-answer suite: every form an instruction model writes a correct number in.

A reward that pays 0 to an honest right answer starves GRPO (a group whose answers are all right
but written differently has no reward variance) as surely as a paid hack misleads it, so
`grpo-tui rewards audit` scores these beside the hacks and fails on a false negative. Each style is
one row of docs/rewards.md's table ("Honest answers: each style, what it earns"); the completions are
worked reasoning in the preset's tags with only the final answer's form changing.

Expectations: ``honest`` is paid in full (the prompt's honest-correct total); ``sentence`` is a value
inside a sentence: correctness pays in full and format_strict withholds its share for the extra
words, so it must still score above the honest wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# (prompt, gold, reasoning that reaches the gold, a wrong value): the questions that ask for a
# percentage, "how much more", a rate and a share (the clips and loaves problems are the audit's own).
STYLE_PROBLEMS = {
    "percent": ("Of 80 students in a class, 20 walk to school. What percentage of the students walk to school?",
                25, "20 of the 80 students walk: 20 / 80 = 0.25 of the class, which is 25 in every 100.", 20),
    "more": ("A wallet costs $100. Betty has $45 and her parents give her $50. How much more money does Betty need?",
             5, "Betty has 45 + 50 = 95 dollars. The wallet costs 100 dollars, so she is 100 - 95 = 5 short.", 15),
    "rate": ("Weng earned $216 for 12 hours of babysitting. How much does she earn per hour?",
             18, "She earned 216 dollars in 12 hours, so each hour brings 216 / 12 = 18 dollars.", 12),
    "share": ("Two friends share 5 pizzas equally. How many pizzas does each friend get?",
              2.5, "Five pizzas split between two friends is 5 / 2 = 2.5 pizzas for each of them.", 2),
}


@dataclass(frozen=True)
class Style:
    style: str  # its row in docs/rewards.md
    form: str  # the answer as written; {g} is the gold
    problem: str = "clips"  # clips | loaves (the audit's problems 0 and 1) or a STYLE_PROBLEMS key
    expect: str = "honest"  # honest | sentence
    shape: str = "tags"  # tags | reasoning_content | prefilled


QUOTING = "The instructions say: reason between {R0} and {R1}, then write only the final number between {A0} and {A1}. "
STYLES = (
    Style("plain number", "{g}"),
    Style("units", "{g} clips"), Style("units", "{g} clips in total"), Style("units", "{g} (clips)"),
    Style("currency", "${g}", "rate"), Style("currency", "${g}.00", "rate"), Style("currency", "{g} dollars", "rate"),
    Style("currency", "€{g}", "rate"), Style("currency", "{g} €", "rate"), Style("currency", "USD {g}", "rate"),
    Style("rate", "${g}/hour", "rate"), Style("rate", "${g}/hr", "rate"), Style("rate", "${g} per hour", "rate"),
    Style("rate", "{g} dollars/hour", "rate"),
    Style("percent (question asks for one)", "{g}%", "percent"), Style("percent (question asks for one)",
                                                                     "{g} percent", "percent"),
    Style("percent (question asks for one)", "{g}\\%", "percent"),
    Style("how much more", "${g} more", "more"), Style("how much more", "{g} more dollars", "more"),
    Style("how much more", "${g}", "more"),
    Style("thousands separator", "1,818", "loaves"), Style("thousands separator", "1 818", "loaves"),
    Style("thousands separator", "1{{,}}818", "loaves"), Style("thousands separator", "1,818 loaves", "loaves"),
    Style("decimal / fraction", "{g}", "share"), Style("decimal / fraction", "2.50", "share"),
    Style("decimal / fraction", "5/2", "share"), Style("decimal / fraction", "\\frac{{5}}{{2}}", "share"),
    Style("decimal / fraction", "2 1/2", "share"), Style("decimal / fraction", "2.5 pizzas", "share"),
    Style("\\boxed{}", "\\boxed{{{g}}}"), Style("\\boxed{}", "$\\boxed{{{g}}}$"),
    Style("\\boxed{}", "\\boxed{{{g} \\text{{ clips}}}}"),
    Style("bold", "**{g}**"), Style("bold", "**Answer:** {g}"), Style("bold", "**{g} clips**"),
    Style("\"The answer is\"", "The answer is {g}"),
    Style("\"The answer is\"", "The final answer is $\\boxed{{{g}}}$."),
    Style("\"The answer is\"", "Final answer: {g}"),
    Style("trailing period", "{g}."), Style("newlines", "\n{g}\n"), Style("newlines", "\n\n{g}\n\n"),
    Style("GSM8K \"####\"", "#### {g}"),
    Style("other languages", "{g}个"), Style("other languages", "{g}個"), Style("other languages", "{g}개"),
    Style("other languages", "{g} dólares", "rate"), Style("other languages", "{g} pinzas"),
    Style("other languages", "{g} скрепки"),
    Style("sentence, one value", "She sold {g} clips.", expect="sentence"),
    Style("sentence, one value", "Therefore, the answer is {g}.", expect="sentence"),
    Style("sentence, one value", "Total clips: {g}", expect="sentence"),
    Style("sentence, one value", "La respuesta es {g}.", expect="sentence"),
    Style("sentence, one value", "她一共卖了{g}个发夹。", expect="sentence"),
    Style("reasoning in reasoning_content", "{g}", shape="reasoning_content"),
    Style("pre-filled <think>", "{g}", shape="prefilled"),
    Style("reasoning quotes the tags", "{g}", shape="quoting"),
    Style("reasoning quotes the tags", "{g}", shape="quoting_reasoning_content"),
    Style("reasoning quotes the tags", "{g}", shape="quoting_prefilled"),
)


def gold_text(g: Any) -> str:
    return f"{g:g}" if isinstance(g, float) else str(g)


def completion(style: Style, tags: tuple[str, str, str, str], why: str, g: Any) -> Any:
    """The worked completion of one style (a string, or chat messages for reasoning_content)."""
    R0, R1, A0, A1 = tags
    ans = style.form.format(g=gold_text(g))
    quoted = QUOTING.format(R0=R0, R1=R1, A0=A0, A1=A1) + why
    shape = style.shape
    if shape in ("reasoning_content", "quoting_reasoning_content"):
        reasoning = quoted if shape.startswith("quoting") else why
        return [{"role": "assistant", "reasoning_content": reasoning, "content": f"{A0}{ans}{A1}"}]
    if shape in ("prefilled", "quoting_prefilled"):
        return f"{quoted if shape.startswith('quoting') else why}{R1}\n{A0}{ans}{A1}"
    return f"{R0}{quoted if shape == 'quoting' else why}{R1}\n{A0}{ans}{A1}"


_SHAPES = {"tags": "", "reasoning_content": "", "prefilled": "", "quoting": " (in the content)",
           "quoting_reasoning_content": " (in reasoning_content)", "quoting_prefilled": " (pre-filled <think>)"}


def label(style: Style, g: Any) -> str:
    """The case's name in the audit: its style and the answer as written (model-like text: shown literally)."""
    if style.shape != "tags":
        return style.style + _SHAPES[style.shape]
    shown = style.form.format(g=gold_text(g)).replace("\n", "\\n")
    return f"{style.style}: '{shown}'"
