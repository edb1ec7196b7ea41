"""Issue 25: how many GRPO groups have zero reward variance with the reward rules before and after
honest answer styles were paid (a group whose totals are all equal gives every completion advantage 0:
nothing is learnt from it). Two sets:

* real completions: a run's samples.jsonl (e.g. cpu-smollm2, SmolLM2-135M-Instruct), rescored:
  format_strict, format_soft and correctness recomputed with each version of the rules (a truncated
  completion scores their floor, 0), overlong_penalty and repetition_penalty taken as the run recorded
  them (the issue does not change them), weighted as the run weighted them;
* honest-style answers: groups of 4 worked completions on the built-in word problems, each right or
  wrong at random (p = 0.5), the final answer written in a style drawn at random from those instruction
  models use (bare, sentences, "####", a CJK measure word, ...); the hub presets' weights.

"Before" is the rules as of --before (a git revision; default: the commit before issue 25), loaded
from git. Prints one line per set.

    .venv/bin/python bench/zero_variance.py [--samples RUN/samples.jsonl ...] [--before REV] [--groups 400]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grpo_tui.core.run.sample_columns import event_rows  # noqa: E402
from grpo_tui.trainer import reward_rules as after  # noqa: E402
from grpo_tui.trainer.word_problems import word_problems  # noqa: E402

BEFORE_REV = "9847fb8"  # the last commit before issue 25 changed the rules
RECOMPUTED = ("format_strict", "format_soft", "correctness")
HUB_WEIGHTS = {"format_strict": 1.0, "format_soft": 1.0, "correctness": 2.0}
# The final-answer styles of the honest set ({g}: the value): what small instruction models write.
STYLES = ("{g}", "{g}", "She has {g} left.", "The answer is {g}.", "Therefore, the answer is {g}.", "Total: {g}",
          "So the total is {g} dollars.", "{g} dollars", "#### {g}", "{g}个", "La respuesta es {g}.", "**{g}**",
          "\\boxed{{{g}}}", "There are {g} in all.")


def load_before(rev: str):
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:grpo_tui/trainer/reward_rules.py"],
                         capture_output=True, text=True, check=True).stdout
    path = Path("/tmp") / f"reward_rules_{rev}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("grpo_tui.trainer._reward_rules_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)  # its relative imports resolve in grpo_tui.trainer
    return mod


def components(rules) -> dict:
    t = rules.Tags()
    return {"format_strict": rules.make_format_strict(t), "format_soft": rules.make_format_soft(t),
            "correctness": rules.make_correctness(t)}


def zero_variance(groups: list[list[float]]) -> int:
    return sum(1 for g in groups if len(g) > 1 and statistics.pstdev(g) < 1e-9)


def rescore_run(path: Path, funcs_by_rules: dict) -> dict:
    groups: dict[str, dict[tuple, list[float]]] = {name: {} for name in funcs_by_rules}
    recorded: dict[tuple, list[float]] = {}
    n_rows = same = blocks = block_sentences = last_sentences = 0
    tags = after.Tags()
    for line in path.read_text().splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("type") != "samples":
            continue
        weights = ev.get("weights") or {}
        for row in event_rows(ev):
            if not isinstance(row, dict):
                continue
            n_rows += 1
            # how the model writes its answer: in a block (bare or a sentence), or a closing sentence
            ans = after.extract_answer(row.get("completion"), tags)
            blocks += ans is not None
            block_sentences += ans is not None and after.is_sentence_answer(ans)
            text = after.split_completion(row.get("completion"))[1].strip()
            last = re.split(r"(?<=[.!?])\s+|\n+", text)[-1] if text else ""
            last_sentences += after.is_sentence_answer(last)
            key = (ev.get("step"), row.get("group"))
            rewards = row.get("rewards") or {}
            recorded.setdefault(key, []).append(
                sum(weights.get(k, 1.0) * v for k, v in rewards.items() if v is not None))
            for name, funcs in funcs_by_rules.items():
                total = 0.0
                for k, v in rewards.items():
                    if k in RECOMPUTED:
                        got = funcs[k](prompts=[row.get("prompt")], completions=[row.get("completion")],
                                       answer=[row.get("answer")])[0]
                        v = 0.0 if row.get("truncated") else got
                    if v is not None:
                        total += weights.get(k, 1.0) * v
                groups[name].setdefault(key, []).append(total)
            same += abs(groups["before"][key][-1] - recorded[key][-1]) < 1e-6  # the rescoring checked
    out = {"completions": n_rows, "groups": len(recorded), "recorded": zero_variance(list(recorded.values())),
           "as_recorded": same, "blocks": blocks, "block_sentences": block_sentences, "last_sentences": last_sentences}
    for name, g in groups.items():
        out[name] = zero_variance(list(g.values()))
        out[name + "_paid"] = sum(1 for gr in g.values() for x in gr if x >= 2.0)
    return out


def honest_set(n_groups: int, funcs_by_rules: dict, seed: int = 25) -> dict:
    rng = random.Random(seed)
    problems = word_problems(rng, n_groups)
    out: dict = {"groups": n_groups}
    totals: dict[str, list[list[float]]] = {name: [] for name in funcs_by_rules}
    right = {name: 0 for name in funcs_by_rules}
    n_right = 0
    for p in problems:
        gold = int(p["answer"])
        members = []
        for _ in range(4):
            correct = rng.random() < 0.5
            n_right += correct
            value = gold if correct else gold + rng.choice((-3, -2, -1, 1, 2, 5, 10))
            members.append((correct, f"<think>{p['steps']}</think>\n<answer>{rng.choice(STYLES).format(g=value)}"
                                     f"</answer>"))
        for name, funcs in funcs_by_rules.items():
            group = []
            for correct, c in members:
                s = {k: f(prompts=[p["question"]], completions=[c], answer=[p["answer"]])[0] for k, f in funcs.items()}
                group.append(sum(HUB_WEIGHTS[k] * v for k, v in s.items()))
                right[name] += bool(correct and s["correctness"] == 1.0)
            totals[name].append(group)
    for name in funcs_by_rules:
        out[name] = zero_variance(totals[name])
        out[name + "_right_paid"] = f"{right[name]}/{n_right}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", nargs="*", default=[], type=Path, help="samples.jsonl files of real runs")
    ap.add_argument("--before", default=BEFORE_REV, help="git revision of the rules before (default %(default)s)")
    ap.add_argument("--groups", type=int, default=400, help="groups of the honest-style set")
    args = ap.parse_args()
    funcs = {"before": components(load_before(args.before)), "after": components(after)}
    for path in args.samples:
        r = rescore_run(path, funcs)
        print(f"{path}: {r['completions']} completions in {r['groups']} groups; zero-variance groups: "
              f"recorded {r['recorded']}, before {r['before']}, after {r['after']}; completions scoring >= 2.0: "
              f"before {r['before_paid']}, after {r['after_paid']} (rescored 'before' equals the recorded total "
              f"for {r['as_recorded']} of {r['completions']})")
        print(f"  answer blocks: {r['blocks']} ({r['block_sentences']} of them a sentence); completions whose last "
              f"sentence states one value: {r['last_sentences']}")
    h = honest_set(args.groups, funcs)
    print(f"honest-style set: {h['groups']} groups of 4; zero-variance groups: before {h['before']}, "
          f"after {h['after']}; right answers paid: before {h['before_right_paid']}, after {h['after_right_paid']}")


if __name__ == "__main__":
    main()
