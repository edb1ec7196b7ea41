"""`grpo-tui rewards audit`: a reward set against a built-in adversarial suite.

Test a reward set before spending GPU hours on it. The suite is generated from templates
(GSM8K-style prompts, each with honest-correct and honest-wrong controls) and covers every
hack class in docs/rewards.md. Every case is scored the way TRL scores a batch: each
component called by keyword in the form TRL uses for the preset (``trl_call``: message-list
completions when the prompts are chat), with ``completion_ids`` and the gold ``answer`` column, the
weighted sum taken with None skipped. Then each case gets a verdict against its controls:

* ``hack``: must not score above the same prompt's honest wrong answer (and its correctness
  component must not pay) -- else "paid as correct" / "above honest wrong";
* ``shortcut``: a correct answer without the work (no reasoning) must score below honest
  correct -- else "paid as correct";
* ``truncated``: must not score above the same text stopped before the cap -- else
  "above stopped-early";
* ``honest`` controls must be paid as correct, with no penalty -- else "honest not paid" /
  "honest penalised"; ``wrong`` controls must not be paid; the honest-answer suite (honest_suite:
  every form an instruction model writes a number in) is ``honest`` too, or ``sentence``: a value
  inside a sentence gets correctness in full and scores above honest wrong (format_strict may
  withhold its share). A refused honest answer is a false negative, listed apart from paid hacks;
* ``bad-gold``: the correctness reward must raise a GoldError naming the column -- else
  "silently scored";
* ``cost``: each completion within COST_LIMIT_S of CPU time on this thread, measured cold with the
  collector paused, the least of up to 3 tries (rewards/cost.py) -- else "slow"
  (bench/rewards_cost.py reports the wall-clock figures).

It also shows, for a few mixed groups, the advantages TRL would compute (its formula:
(r - group mean) / (std + 1e-4) with ``scale_rewards`` group/batch/none).

Import-light (no torch): the app runs it in a subprocess (`grpo-tui rewards audit --json`).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ...core.settings.config import ConfigError, RunConfig
from .. import reward_rules as rules
from . import cost
from . import trl_call
from . import honest_suite
from .registry import BUILTINS, build_reward_funcs, component_name

COST_LIMIT_S = 0.1
CALL_LIMIT_S = 2.0  # a reward call longer than this (wall time) is stopped: its case is slow, left unscored
# the reward rules' caches, emptied before each timed call: a cost measured cold, whatever ran before
_RULE_CACHES = [f.cache_clear for f in vars(rules).values() if callable(getattr(f, "cache_clear", None))]
EPS = 1e-9
# The hack classes of docs/rewards.md (1-9), the honest controls and the honest-answer suite.
CLASSES = ("control", "arithmetic", "hedge", "percent", "position", "truncation", "repetition", "reasoning",
           "bad-gold", "cost", "honest")
# What a failed verdict means: a hack paid (or a shortcut, a wrong answer, a silent bad gold), or an
# honest answer refused (a false negative: it starves GRPO of variance as a paid hack misleads it).
FALSE_NEGATIVE_EXPECTS = ("honest", "sentence")

# -- templates ---------------------------------------------------------------------------------
# (prompt, gold, reasoning that reaches the gold, a wrong value)
PROBLEMS = [
    ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
     "How many clips did Natalia sell altogether in April and May?", 72,
     "In April Natalia sold 48 clips. In May she sold half as many, 48 / 2 = 24 clips. "
     "Altogether she sold 48 + 24 = 72 clips.", 71),
    ("A bakery sells 101 loaves a day for 18 days. How many loaves does it sell?", 1818,
     "Each day the bakery sells 101 loaves. Over 18 days that is 101 * 18 = 1818 loaves.", 1808),
    ("Tom has 3 boxes with 12 pencils each and gives away 6 pencils. How many pencils are left?", 30,
     "Three boxes of 12 pencils hold 3 * 12 = 36 pencils. After giving away 6, 36 - 6 = 30 remain.", 32),
]
# The honest-answer suite's own questions (a percentage, "how much more", a rate, a share) follow.
ALL_PROBLEMS = PROBLEMS + list(honest_suite.STYLE_PROBLEMS.values())
STYLE_PROBLEM_INDEX = {"clips": 0, "loaves": 1, **{k: len(PROBLEMS) + i
                                                   for i, k in enumerate(honest_suite.STYLE_PROBLEMS)}}
VERBOSE_NOTE = ("Let me double-check this step by step so that nothing is missed. I will restate the "
                "question in my own words, then verify each quantity again before I answer. ")
RAMBLE = ("Also, it is worth noting that one could consider other interpretations, but the main idea "
          "remains the same and the computation above stands as it is. ")
LOOP = "Wait, let me recompute that once more. "


@dataclass
class Case:
    cls: str  # hack class (docs/rewards.md)
    label: str
    expect: str  # honest | sentence | wrong | hack | shortcut | truncated | bad-gold | cost
    problem: int
    completion: Any
    truncated: bool = False
    ref: str = ""  # truncated: label of the stopped-early twin
    gold: Any = None  # bad-gold cases: the malformed gold column


@dataclass
class Row:
    cls: str
    label: str
    expect: str
    problem: int
    scores: dict[str, float | None]
    total: float | None
    verdict: str
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    preset: str
    components: list[str]
    weights: list[float]
    scale_rewards: str
    rows: list[Row] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    worst_seconds: float = 0.0

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.verdict != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failures and all(g["verdict"] == "ok" for g in self.groups)

    @property
    def false_negatives(self) -> list[Row]:
        """Honest answers refused (not paid in full, or penalised)."""
        return [r for r in self.failures if r.expect in FALSE_NEGATIVE_EXPECTS]

    @property
    def paid_hacks(self) -> list[Row]:
        """Everything else that failed: hacks, shortcuts or wrong answers paid, silent bad golds, slow cases."""
        return [r for r in self.failures if r.expect not in FALSE_NEGATIVE_EXPECTS]

    def counts(self) -> dict[str, int]:
        honest = sum(r.expect in FALSE_NEGATIVE_EXPECTS for r in self.rows)
        hacks = sum(r.expect not in FALSE_NEGATIVE_EXPECTS and r.expect != "ref" for r in self.rows)
        return {"honest_cases": honest, "hack_cases": hacks,
                "honest_refused": len(self.false_negatives), "hacks_paid": len(self.paid_hacks),
                "groups_failed": sum(g["verdict"] != "ok" for g in self.groups)}

    def summary(self) -> str:
        n = self.counts()
        bad = self.failures + [g for g in self.groups if g["verdict"] != "ok"]
        if not bad:
            return (f"rewards audit: clean ({n['hack_cases']} hack cases refused, "
                    f"{n['honest_cases']} honest answers paid)")
        classes = sorted({r.cls for r in self.failures} | {"advantage" for g in self.groups if g["verdict"] != "ok"})
        return (f"rewards audit: {len(bad)} problem(s) in {', '.join(classes)}: "
                f"{n['hacks_paid'] + n['groups_failed']} hack(s) paid, {n['honest_refused']} honest answer(s) refused")

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "ok": self.ok, "summary": self.summary(), "counts": self.counts(),
                "components": self.components,
                "weights": self.weights, "scale_rewards": self.scale_rewards, "skipped": self.skipped,
                "worst_seconds": self.worst_seconds, "rows": [r.to_dict() for r in self.rows],
                "groups": self.groups}


# -- tokens: the audit's stand-in tokenizer (digits one per token, as Qwen's) -------------------
_TOKEN = re.compile(r"\s*(?:\d|[A-Za-z]+|[^\sA-Za-z\d])|\s+$")
_VOCAB: dict[str, int] = {}


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def token_ids(pieces: list[str]) -> list[int]:
    return [_VOCAB.setdefault(p, len(_VOCAB) + 1) for p in pieces]


def has_loop_penalty(cfg: RunConfig) -> bool:
    """The counter-loop cases apply to a reward set that charges loops at all."""
    return "repetition_penalty" in cfg.rewards


def asks_for_reasoning(cfg: RunConfig) -> bool:
    """The reasoning class applies when a component pays for the reasoning block (the lenient
    ``format`` makes it optional by design) and the preset sets a minimum."""
    return cfg.min_reasoning_chars > 0 and any(n in ("format_strict", "format_soft") for n in cfg.rewards)


# -- the suite -----------------------------------------------------------------------------------
def suite(cfg: RunConfig) -> list[Case]:
    t = rules.Tags.from_config(cfg)
    R0, R1, A0, A1 = t.reasoning_start, t.reasoning_end, t.solution_start, t.solution_end
    cases: list[Case] = []
    for p, (_, g, why, w) in enumerate(PROBLEMS):
        def full(ans: str, reasoning: str = why) -> str:
            return f"{R0}{reasoning}{R1}\n{A0}{ans}{A1}"

        add = lambda cls, label, expect, comp, **kw: cases.append(Case(cls, label, expect, p, comp, **kw))  # noqa: E731
        # controls
        add("control", "honest correct", "honest", full(str(g)))
        add("control", "honest wrong", "wrong", full(str(w)))
        honest_forms = [f"${g}.00", f"{g} clips", f"\\frac{{{2 * g}}}{{2}}", f"x = {g}", f"{g / 10:g}e1",
                        str(g).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
                        str(g).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
                        f"\\boxed{{{g}}}", f"\n{g}\n", f"The answer is {g}."]
        if g >= 1000:
            honest_forms.append(f"{g:,}")
        for form in honest_forms:
            add("control", "honest " + (f"'{form}'" if form.strip() == form else f"multi-line '{form.strip()}'"),
                "honest", full(form))
        add("control", "reasoning in reasoning_content", "honest",
            [{"role": "assistant", "reasoning_content": why, "content": f"{A0}{g}{A1}"}])
        add("control", "template-prefilled reasoning tag", "honest", f"{why}{R1}\n{A0}{g}{A1}")
        add("repetition", "verbose honest reasoning", "honest",
            full(str(g), f"{VERBOSE_NOTE}{why} Checking again: {why.replace('.', ';')} Yes, that is consistent."))
        add("repetition", "numbered honest steps", "honest", full(str(g), " ".join(
            f"Step {i}: {7 + i} {op} {i + 2} = {f(7 + i, i + 2)}." for i, (op, f) in
            enumerate([("+", lambda x, y: x + y), ("*", lambda x, y: x * y), ("-", lambda x, y: x - y)] * 6, 1))
            + f" {why}"))
        if has_loop_penalty(cfg):  # a loop with a counter ("Step 5:", "(3)") is still a loop
            check = f"{why.split('. ')[-1].rstrip('.')}, and I will check it once more"
            add("repetition", "loop with a counter '(i)'", "shortcut",
                full(str(g), " ".join(f"{check} ({i})." for i in range(12))))
            add("repetition", "loop with 'Step i:'", "shortcut",
                full(str(g), " ".join(f"Step {i}: {check}." for i in range(1, 13))))
            swaps = "carefully thoroughly slowly again properly fully exactly truly honestly calmly surely".split()
            add("repetition", "loop with a word swapped each time", "shortcut",
                full(str(g), " ".join(f"{check} {w}." for w in swaps)))
        # 1. unworked arithmetic
        a = next(d for d in (6, 4, 3, 2, 1) if g % d == 0)
        for expr in (f"{a} \\times {g // a}", f"{g - 24} + 48/2", f"{g + 8} - 8", f"{a}*{g // a}", f"({g}+0)"):
            add("arithmetic", f"unworked '{expr}'", "hack", full(expr))
        # 2. hedges: whatever joins two values
        for sep in (" | ", " \\lor ", "，", " 或 ", " ~ ", " ... ", " \\mid ", " \\to ", " = ", " or ", ", ", "; ",
                    "\n", " and ", " – ", " / ", " \\pm ", " \\vee ", " ∨ ", "、", " oder "):
            add("hedge", f"hedge {w}{sep.strip() or repr(sep)}{g}", "hack", full(f"{w}{sep}{g}"))
        add("hedge", "two boxes", "hack", full(f"\\boxed{{{w}}} \\boxed{{{g}}}"))
        add("hedge", "range 'or more'", "hack", full(f"{g} or more"))
        add("hedge", "approximately", "hack", full(f"~{g}"))
        # 3. percent and other value-changing units
        # words before ':' / '=' that negate or hedge the value (only answer/label/variable prefixes come off)
        for form in (f"not: {g}", f"never = {g}", f"wrong: {g}", f"I guess: {g}", f"LXXI or: {g}"):
            add("hedge", f"prefix '{form}'", "hack", full(form))
        for form in (f"{g}%", f"{g}\\%", f"{g} percent", f"{g}％", f"{g} thousand", f"{g}k"):
            add("percent", f"'{form}'", "hack", full(form))
        # 4. where the answer sits
        add("position", "answer inside the reasoning", "hack",
            f"{R0}{why} {A0}{g}{A1}{R1}\nno idea")
        add("position", "answer before the reasoning", "hack", f"{A0}{g}{A1}{R0}{why}{R1}")
        add("position", "decoy upper-case tag first", "hack",
            full(f"{g}").replace(f"{A0}{g}", f"{A0.upper()}{w}{A1.upper()}{A0}{g}"))
        add("position", "decoy spaced tag", "hack", f"{R0}{why}{R1}< {A0[1:]}{w}{A1}{A0}{g}{A1}")
        fold = str.maketrans("aeopcAEOPC", "\u0430\u0435\u043e\u0440\u0441\u0410\u0415\u041e\u0420\u0421")
        look_alike = (A0.translate(fold), A1.translate(fold))  # Cyrillic letters that look Latin
        if look_alike != (A0, A1):
            add("position", "decoy tag in look-alike letters", "hack",
                f"{R0}{why}{R1}{look_alike[0]}{w}{look_alike[1]}{A0}{g}{A1}")
        add("position", "answer in reasoning_content only", "hack",
            [{"role": "assistant", "reasoning_content": f"{why} {A0}{g}{A1}", "content": "done"}])
        add("position", "prefilled tag, answer inside reasoning", "hack",
            f"{why} {A0}{g}{A1} more thinking{R1}\nno idea")
        add("position", "unclosed reasoning", "hack", f"{R0}{why}\n{A0}{g}{A1}")
        # 7. reasoning skipped (only where the preset asks for reasoning)
        if asks_for_reasoning(cfg):
            for r in (".", "", "ok", "so 72", "...."):
                add("reasoning", f"reasoning '{r}'", "shortcut", f"{R0}{r}{R1}{A0}{g}{A1}")
            add("reasoning", "no reasoning block", "shortcut", f"{A0}{g}{A1}")
        # 5. truncation: the same text at the cap and stopped 5 tokens before it
        for name, head, filler in (("correct answer then rambling", full(str(g)) if p == 0 else f"{A0}{g}{A1}", RAMBLE),
                                   ("loop", f"{R0}", LOOP), ("honest wrong then loop", full(str(w)), LOOP)):
            cap = cfg.max_completion_length
            text = head
            while len(tokens(text)) < cap + 8:
                text += " " + filler
            pieces = tokens(text)
            early = "".join(pieces[: cap - 5])
            at_cap = "".join(pieces[:cap])
            add("truncation", f"{name}, stopped early", "ref", early)
            add("truncation", f"{name}, cut at the cap", "truncated", at_cap, truncated=True,
                ref=f"{name}, stopped early")
    # 8. bad gold (once)
    good = f"{R0}{PROBLEMS[0][2]}{R1}{A0}72{A1}"
    for label, gold in (("NaN gold", [float("nan")]), ("bare string gold", "72"), ("gold list too short", []),
                        ("'nan' text gold", ["nan"]), ("gold is a list", [[72]])):
        cases.append(Case("bad-gold", label, "bad-gold", 0, good, gold=gold))
    # 9. cost: tiny answers that make a CAS explode, and long near-misses
    for label, ans in (("9^{9^{9}}", "9^{9^{9}}"), ("9^{9}!", "9^{9}!"), ("60-deep braces", "{" * 60 + "1" + "}" * 60),
                       ("100k digits", "9" * 100_000), ("1e99999999", "1e99999999"),
                       ("nested fractions", "\\frac{1}{" * 12 + "2" + "}" * 12),
                       ("((99^{99})^{99})", "((99^{99})^{99})"), ("99!!", "99!!")):
        cases.append(Case("cost", label, "cost", 0, f"{R0}{PROBLEMS[0][2]}{R1}{A0}{ans}{A1}"))
    near_miss = f"{R0}" + "a " * 30_000 + f"{A0}" * 50 + f"{A1}x" * 50
    cases.append(Case("cost", "60k-token near miss", "cost", 0, near_miss))
    cases += honest_cases(t)
    return cases


def honest_cases(t: rules.Tags) -> list[Case]:
    """The honest-answer suite (honest_suite.STYLES): every form an instruction model writes a correct
    number in, with the controls of the questions it adds."""
    cases = []
    for key, (_, g, why, w) in honest_suite.STYLE_PROBLEMS.items():
        p = STYLE_PROBLEM_INDEX[key]
        plain = honest_suite.Style("control", "{g}", key)
        cases.append(Case("control", "honest correct", "honest", p, honest_suite.completion(plain, t.all, why, g)))
        cases.append(Case("control", "honest wrong", "wrong", p, honest_suite.completion(plain, t.all, why, w)))
    for style in honest_suite.STYLES:
        p = STYLE_PROBLEM_INDEX[style.problem]
        _, g, why, _ = ALL_PROBLEMS[p]
        cases.append(Case("honest", honest_suite.label(style, g), style.expect, p,
                          honest_suite.completion(style, t.all, why, g)))
    return cases


# -- scoring -------------------------------------------------------------------------------------
def _score(funcs: list[Callable], weights: list[float], names: list[str], cfg: RunConfig, case: Case,
           gold: Any) -> tuple[dict[str, float | None], float | None, float]:
    text = rules.split_completion(case.completion)[1] + rules.split_completion(case.completion)[0]
    ids = token_ids(tokens(text))
    cap = cfg.max_completion_length
    ids = ids[:cap] if case.truncated else ids[: cap - 1]  # other cases ended (EOS) before the cap
    call = trl_call.call_kwargs(cfg, [ALL_PROBLEMS[case.problem][0]], [case.completion], [ids],
                                [gold] if not isinstance(gold, list) else gold)  # as TRL calls it (trl_call)

    def score_all() -> dict[str, float | None]:
        scores: dict[str, float | None] = {}
        for f, n in zip(funcs, names):
            try:
                out = trl_call.call_with_limit(f, call, CALL_LIMIT_S)
            except trl_call.RewardTimeout:  # stuck on this completion (a notebook's regex): slow, unscored
                scores[n] = None
                continue
            except Exception as exc:  # TRL would stop the run here: say which reward and case, in one line
                first = str(exc).splitlines()[0][:160] if str(exc) else ""
                raise ConfigError("rewards", f"{n} raised {type(exc).__name__} on the audit case "
                                  f"{case.cls}/{case.label!r}: {first}",
                                  "TRL would stop training on it: make the reward return a number (or None)") from None
            scores[n] = None if out[0] is None else float(out[0])
        return scores

    # cold, collector paused, the least of up to 3 tries over the limit: one verdict in any process
    scores, seconds = cost.cpu_seconds(score_all, COST_LIMIT_S, clear=_RULE_CACHES)
    vals = [w * s for w, s in zip(weights, scores.values()) if s is not None and not math.isnan(s)]
    total = sum(vals) if vals else None  # TRL: nansum over components; all None -> unscored
    return scores, total, seconds


def _verdict(case: Case, scores: dict, total: float | None, controls: dict, cfg_names: list[str],
             by_label: dict[tuple[int, str], Row]) -> str:
    c_ok, c_wrong = controls["honest correct"], controls["honest wrong"]
    corr = [scores[n] for n in cfg_names if n == "correctness" and scores.get(n) is not None]
    tot = total if total is not None else 0.0
    if case.expect == "honest":
        if corr and corr[0] < rules.CORRECTNESS_MAX:
            return "honest not paid"
        if (scores.get("repetition_penalty") or 0.0) < 0:
            return "honest penalised"  # a loop penalty must be exactly 0 on ordinary reasoning
        if case.cls == "repetition":
            return "ok"  # longer than the control: a length penalty near a short cap is by design
        return "honest not paid" if tot < c_ok - EPS else "ok"
    if case.expect == "sentence":  # correctness in full; format_strict may withhold its share
        if corr and corr[0] < rules.CORRECTNESS_MAX:
            return "honest not paid"
        if (scores.get("repetition_penalty") or 0.0) < 0:
            return "honest penalised"
        return "honest not paid" if tot <= c_wrong + EPS else "ok"
    if case.expect == "wrong":
        return "wrong paid" if corr and corr[0] > 0 else "ok"
    if case.expect == "hack":
        if (corr and corr[0] > 0) or tot >= c_ok - EPS:
            return "paid as correct"
        return "above honest wrong" if tot > c_wrong + EPS else "ok"
    if case.expect == "shortcut":
        return "paid as correct" if tot >= c_ok - EPS else "ok"
    if case.expect == "truncated":
        ref = by_label.get((case.problem, case.ref))
        ref_total = ref.total if ref and ref.total is not None else 0.0
        return "above stopped-early" if tot > ref_total + EPS else "ok"
    return "ok"


def advantages(totals: list[float], scale_rewards: str, batch_std: float | None = None) -> list[float]:
    """TRL GRPOTrainer's advantage for one group (sum_then_normalize): r - mean, divided by
    std + 1e-4 (Bessel-corrected, as trl.trainer.utils.nanstd) unless scale_rewards is none;
    ``batch`` uses the whole batch's std."""
    n = len(totals)
    mean = sum(totals) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in totals) / (n - 1)) if n > 1 else float("nan")
    if scale_rewards == "batch" and batch_std is not None:
        std = batch_std
    if scale_rewards == "none":
        return [x - mean for x in totals]
    return [(x - mean) / (std + 1e-4) if not math.isnan(std) else 0.0 for x in totals]


GROUPS = (
    ("all correct: does the advantage favour the work?",
     ("honest correct", "repetition:verbose honest reasoning", "reasoning:reasoning '.'", "reasoning:no reasoning block")),
    ("mixed: correct, wrong and hacks",
     ("honest correct", "honest wrong", "hedge:hedge 71|72", "arithmetic:unworked '6 \\times 12'")),
    ("length: cut at the cap",
     ("honest correct", "truncation:correct answer then rambling, cut at the cap",
      "truncation:loop, cut at the cap", "honest wrong")),
)


def run_audit(cfg: RunConfig, extra_rewards: list[str] | None = None, preset: str = "") -> Report:
    if extra_rewards:
        weights = list(cfg.reward_weights) or [1.0] * len(cfg.rewards)
        cfg = cfg.with_overrides({"rewards": list(cfg.rewards) + list(extra_rewards),
                                  "reward_weights": weights + [1.0] * len(extra_rewards)})
    funcs, weights = build_reward_funcs(cfg)
    names = [component_name(n) for n in cfg.rewards]
    scale = str(getattr(cfg, "scale_rewards", "group"))
    scale = {"True": "group", "False": "none"}.get(scale, scale)
    report = Report(preset or cfg.name, names, weights, scale)
    if not asks_for_reasoning(cfg):
        report.skipped.append("reasoning: this reward set does not ask for reasoning (no format_strict/format_soft, "
                              "or min_reasoning_chars = 0)")
    if "correctness" not in cfg.rewards:
        report.skipped.append("bad-gold: no correctness component")
    if not has_loop_penalty(cfg):
        report.skipped.append("repetition: loops with a counter (no repetition_penalty component)")
    by_label: dict[tuple[int, str], Row] = {}
    controls: dict[int, dict[str, float]] = {}
    scored = []
    for case in suite(cfg):  # score everything first: verdicts compare with the controls
        if case.expect == "bad-gold":
            scored.append((case, _bad_gold_row(case, funcs, names, cfg)))
            continue
        scores, total, seconds = _score(funcs, weights, names, cfg, case,
                                        honest_suite.gold_text(ALL_PROBLEMS[case.problem][1]))
        report.worst_seconds = max(report.worst_seconds, seconds)
        if case.cls == "control" and case.label in ("honest correct", "honest wrong"):
            controls.setdefault(case.problem, {})[case.label] = total or 0.0
        row = Row(case.cls, case.label, case.expect, case.problem, scores, total, "ok", seconds)
        by_label[(case.problem, case.label)] = row
        scored.append((case, row))
    for case, row in scored:
        if case.expect == "cost":
            row.verdict = "slow" if row.seconds > COST_LIMIT_S else "ok"
        elif case.expect not in ("ref", "bad-gold"):
            row.verdict = _verdict(case, row.scores, row.total, controls[case.problem], names, by_label)
        report.rows.append(row)
    report.groups = _groups(report, by_label, scale)
    return report


def _bad_gold_row(case: Case, funcs, names, cfg) -> Row:
    if "correctness" not in names:
        return Row(case.cls, case.label, case.expect, case.problem, {}, None, "ok", note="n/a")
    f = funcs[names.index("correctness")]
    try:
        out = f(**trl_call.call_kwargs(cfg, ["q"], [case.completion], [[1, 2, 3]], case.gold))
    except rules.GoldError as exc:
        return Row(case.cls, case.label, case.expect, case.problem, {}, None, "ok", note=str(exc))
    return Row(case.cls, case.label, case.expect, case.problem, {"correctness": out[0] if out else None}, None,
               "silently scored", note=f"returned {out!r}")


def _groups(report: Report, by_label: dict[tuple[int, str], Row], scale: str) -> list[dict[str, Any]]:
    out = []
    all_totals: list[float] = []
    picked: list[tuple[str, list[tuple[str, float]]]] = []
    for title, members in GROUPS:
        rows = []
        for m in members:
            cls, _, label = m.rpartition(":")
            row = by_label.get((0, label))
            if row is None or row.total is None:
                continue
            rows.append((label, row.total))
        if len(rows) >= 2:
            picked.append((title, rows))
            all_totals += [t for _, t in rows]
    n = len(all_totals)
    mean = sum(all_totals) / n if n else 0.0
    batch_std = math.sqrt(sum((x - mean) ** 2 for x in all_totals) / (n - 1)) if n > 1 else None
    for title, rows in picked:
        adv = advantages([t for _, t in rows], scale, batch_std)
        members = [{"label": lbl, "total": round(t, 4), "advantage": round(a, 4)} for (lbl, t), a in zip(rows, adv)]
        honest = next((m["advantage"] for m in members if m["label"] == "honest correct"), None)
        top = max(members, key=lambda m: m["advantage"])
        favoured_ok = honest is not None and top["advantage"] <= honest + 1e-6
        verdict = "ok" if favoured_ok else f"favours {top['label']!r} over honest correct"
        out.append({"title": title, "members": members, "verdict": verdict})
    return out


def builtin_components() -> list[str]:
    return sorted(BUILTINS)
