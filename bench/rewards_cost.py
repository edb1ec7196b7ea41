"""Cost of the hub presets' reward set (format_strict, format_soft, correctness,
overlong_penalty, repetition_penalty; built by the registry, called the way TRL calls it).

Prints, on this machine:
* ms per 1,000 completions of ~2,000 characters with numeric answers (GSM8K-like golds),
  all five components together (target < 100 ms);
* ms per 1,000 completions of ~2,000 characters with LaTeX answers against symbolic golds
  (math-verify under its deadline), every answer distinct (no cache hits) and as a GRPO
  group repeats them (8 completions, 3 distinct answers per prompt);
* the worst single completion over adversarial answers (CAS bombs, deep nesting, huge
  literals, long near-misses), on the main thread and on a worker thread (target < 0.1 s).

    .venv/bin/python bench/rewards_cost.py [--n 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FILLER = ("First I read the problem carefully and write down what is given. Each box holds {a} pencils and "
          "there are {b} boxes, so the total is {a} * {b} = {c}. Then I check the units and the question again. ")


def completion(rng: random.Random, answer: str, chars: int = 2000) -> tuple[str, int]:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    body = ""
    while len(body) < chars - 60:
        body += FILLER.format(a=a, b=b, c=a * b)
        a, b = rng.randint(2, 99), rng.randint(2, 99)
    text = f"<think>{body}</think>\n<answer>{answer}</answer>"
    return text, len(text) // 4  # ~4 characters a token


def clear_caches() -> None:
    """The reward rules' caches of what they read in texts, so a repeated timing pays what a
    training step pays for new completions (within a run the five functions still share what
    they read of one completion; compiled patterns stay cached, as they do in training)."""
    from grpo_tui.trainer import reward_rules as rr

    for cache in (rr._tag_view, rr._census, rr._masked, rr.read_number, rr.question_allows, rr._math_verify_cached):
        cache.cache_clear()


def run_set(funcs, texts, golds, ids) -> float:
    """CPU seconds of this process (on a shared machine wall time also counts other people's work)."""
    clear_caches()
    t = time.process_time()
    for i in range(0, len(texts), 8):  # TRL calls each reward function once per generation batch
        sl = slice(i, i + 8)
        for f in funcs:
            f(prompts=["q"] * len(texts[sl]), completions=texts[sl], completion_ids=ids[sl], answer=golds[sl],
              trainer_state=None)
    return time.process_time() - t


ADVERSARIAL = ["9^{9^{9}}", "9^{9}!", "{" * 60 + "1" + "}" * 60, "\\frac{1}{" * 12 + "2" + "}" * 12,
               "((99^{99})^{99})", "(9^{99})^{99}", "99!", "9" * 100_000, "1e99999999", "10^{99999999}",
               "\\sqrt{" * 5 + "2" + "}" * 5, "\\frac{99\\sqrt{99}}{98} + \\frac{97\\pi}{96}", "2^{99} - 2^{98}",
               "(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)", "x^{99} + x^{98} + 1", "\\sin(99) + \\cos(98)",
               "72 " * 40, "<answer>" * 200]


def worst_single(funcs) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, which case) of the slowest single completion."""
    from grpo_tui.trainer import reward_rules as rr

    golds = ["72", "\\frac{\\sqrt{3}}{2}", "\\pi", "(1, 2)"]
    cases = [(gold, ans, f"<think>{'a ' * 800}</think><answer>{ans}</answer>", 600)
             for gold in golds for ans in ADVERSARIAL]
    cases.append(("72", "near miss", "<think>" + "a " * 60_000 + "<answer>" * 50 + "</answer>x" * 50, 4096))
    words = random.Random(5)  # recurring blocks at irregular places: the loop measures' most pairs to compare
    babble = " ".join(words.choice(["a", "b", "c", "dd", "eee"]) for _ in range(5000))
    cases.append(("72", "five-word babble", f"<think>{babble}</think><answer>72</answer>", 4096))
    worst = (0.0, 0.0, "")
    for gold, label, text, n_ids in cases:
        for _ in range(2):
            rr._math_verify_cached.cache_clear()  # every try pays the full verdict (no cache hits)
            rr.read_number.cache_clear()
            t, c = time.perf_counter(), time.thread_time()
            for f in funcs:
                f(prompts=["q"], completions=[text], completion_ids=[list(range(n_ids))], answer=[gold])
            wall, cpu = time.perf_counter() - t, time.thread_time() - c
            if wall > worst[0]:
                worst = (wall, cpu, f"gold {gold}, answer {label[:24]}")
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.trainer import reward_rules as rr
    from grpo_tui.trainer.rewards import build_reward_funcs

    cfg = load_preset("gpu-16gb")
    funcs, _ = build_reward_funcs(cfg)
    rng = random.Random(0)
    n = args.n

    golds = [str(rng.randint(1, 5000)) for _ in range(n)]
    forms = [lambda g: g, lambda g: f"${g}.00", lambda g: f"{g} pencils", lambda g: f"\\boxed{{{g}}}",
             lambda g: str(int(g) + 1)]
    built = [completion(rng, forms[i % len(forms)](g)) for i, g in enumerate(golds)]
    texts = [t for t, _ in built]
    ids = [[rng.randint(0, 50000) for _ in range(k)] for _, k in built]
    numeric = min(run_set(funcs, texts, golds, ids) for _ in range(3)) * 1000 / n * 1000
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; per-1,000 figures are CPU time of "
          "this process, the worst single completion is wall time")
    print(f"completions of ~{sum(map(len, texts)) // n} characters, all five components:")
    print(f"  numeric answers                        {numeric:8.1f} ms per 1,000   (target < 100)")

    rr._warm_up()
    m = max(50, n // 4)
    sym_golds, sym_texts, sym_ids = [], [], []
    for i in range(m):
        a, b, c = rng.randint(2, 60), rng.randint(2, 60), rng.randint(2, 60)
        gold = f"\\frac{{{a}\\sqrt{{{b}}}}}{{{c}}}"
        ans = f"\\frac{{{2 * a}\\sqrt{{{b}}}}}{{{2 * c}}}" if i % 2 else f"\\frac{{{a}}}{{{c}}}\\sqrt{{{b}}}"
        t, k = completion(rng, ans)
        sym_golds.append(gold)
        sym_texts.append(t)
        sym_ids.append(list(range(k)))
    distinct = run_set(funcs, sym_texts, sym_golds, sym_ids) * 1000 / m * 1000
    group_golds, group_texts, group_ids = [], [], []
    for i in range(m // 8 + 1):
        a, b, c = rng.randint(2, 60), rng.randint(2, 60), rng.randint(2, 60)
        gold = f"{a}\\sqrt{{{b}}}"
        answers = [f"\\sqrt{{{a * a * b}}}", f"{a}\\sqrt{{{b}}}", f"{a + 1}\\sqrt{{{b}}}"]
        for j in range(8):
            t, k = completion(rng, answers[j % 3])
            group_golds.append(gold)
            group_texts.append(t)
            group_ids.append(list(range(k)))
    grouped = run_set(funcs, group_texts, group_golds, group_ids) * 1000 / len(group_texts) * 1000
    print(f"  LaTeX answers, all distinct            {distinct:8.1f} ms per 1,000   (math-verify, "
          f"CPU budget {rr.MATH_VERIFY_DEADLINE_S * 1000:.0f} ms)")
    print(f"  LaTeX answers, GRPO groups of 8        {grouped:8.1f} ms per 1,000   (3 distinct answers a group)")

    main_worst = worst_single(funcs)
    out: list[tuple[float, float, str]] = []
    th = threading.Thread(target=lambda: out.append(worst_single(funcs)), daemon=True)
    th.start()
    th.join(120)
    thread_worst = out[0] if out else (float("inf"), float("inf"), "did not finish")
    print(f"worst single completion ({len(ADVERSARIAL) * 4 + 2} adversarial, all five components; target < 100 ms):")
    for name, (wall, cpu, label) in (("main thread", main_worst), ("worker thread", thread_worst)):
        print(f"  {name:<14} {wall * 1000:8.1f} ms wall, {cpu * 1000:6.1f} ms CPU   ({label})")


if __name__ == "__main__":
    main()
