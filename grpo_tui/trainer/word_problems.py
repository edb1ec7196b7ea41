"""The built-in ``word_problems`` task: multi-step arithmetic word problems with gold numbers.

Written for this project (no dataset is copied): each template is a short story
with two or three operations on small whole numbers, and a function computing
the gold answer from the same numbers, so every row's answer is right by
construction, and writes out the worked steps that reach it (the reasoning the format warm start
shows the model). Numbers are drawn so that every intermediate result is a whole,
non-negative number (no "half a marble"). Small enough for a 135M-parameter
model to have a chance, hard enough that it does not start out solving them.
"""

from __future__ import annotations

import random
from typing import Any, Callable

NAMES = ("Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Isla", "Jonah", "Kira", "Liam",
         "Maya", "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara")
ITEMS = ("apples", "marbles", "stickers", "pencils", "cookies", "stamps", "shells", "cards")


# (question, gold answer, worked steps that reach it)
Problem = tuple[str, int, str]


def _name(rng: random.Random) -> str:
    return rng.choice(NAMES)


def _buy_then_give(rng: random.Random) -> Problem:
    n, item = _name(rng), rng.choice(ITEMS)
    a, b, c = rng.randint(2, 20), rng.randint(2, 5), rng.randint(2, 6)
    d = rng.randint(1, a + b * c - 1)
    return (f"{n} has {a} {item}. {n} buys {b} packs with {c} {item} in each pack, then gives {d} {item} "
            f"to a friend. How many {item} does {n} have now?", a + b * c - d,
            f"{b} packs of {c} is {b} * {c} = {b * c} {item}. {a} + {b * c} = {a + b * c}. "
            f"After giving {d} away: {a + b * c} - {d} = {a + b * c - d}.")


def _trays_sold(rng: random.Random) -> Problem:
    a, b = rng.randint(2, 6), rng.randint(3, 12)
    c = rng.randint(1, a * b - 1)
    return (f"A baker makes {a} trays of muffins with {b} muffins on each tray. She sells {c} muffins. "
            f"How many muffins are left?", a * b - c,
            f"{a} trays of {b} is {a} * {b} = {a * b} muffins. After selling {c}: {a * b} - {c} = {a * b - c}.")


def _pages(rng: random.Random) -> Problem:
    n = _name(rng)
    a, b, c = rng.randint(3, 15), rng.randint(2, 7), rng.randint(1, 20)
    return (f"{n} reads {a} pages every day for {b} days, and then {c} more pages on the weekend. "
            f"How many pages does {n} read in total?", a * b + c,
            f"{a} pages for {b} days is {a} * {b} = {a * b} pages. Plus {c} more: {a * b} + {c} = {a * b + c}.")


def _money(rng: random.Random) -> Problem:
    n = _name(rng)
    b, c, k = rng.randint(2, 15), rng.randint(2, 9), rng.randint(2, 4)
    a = b + k * c + rng.randint(0, 30)
    return (f"{n} has {a} dollars. {n} spends {b} dollars on lunch and buys {k} books that cost {c} dollars "
            f"each. How many dollars does {n} have left?", a - b - k * c,
            f"{k} books at {c} dollars cost {k} * {c} = {k * c} dollars. Spent in all: {b} + {k * c} = {b + k * c}. "
            f"Left: {a} - {b + k * c} = {a - b - k * c}.")


def _share(rng: random.Random) -> Problem:
    item = rng.choice(ITEMS)
    per, kids = rng.randint(2, 8), rng.randint(2, 6)
    boxes = rng.randint(1, 4) * kids
    total = boxes * per
    # boxes * per is a multiple of kids by construction
    return (f"There are {boxes} boxes with {per} {item} in each box. The {item} are shared equally among "
            f"{kids} children. How many {item} does each child get?", total // kids,
            f"{boxes} boxes of {per} is {boxes} * {per} = {total} {item}. "
            f"Shared by {kids}: {total} / {kids} = {total // kids}.")


def _bus(rng: random.Random) -> Problem:
    a, b = rng.randint(5, 30), rng.randint(2, 15)
    c = rng.randint(1, a + b)
    d = rng.randint(0, 10)
    return (f"A bus has {a} passengers. At the first stop {b} people get on. At the second stop {c} people "
            f"get off and {d} people get on. How many passengers are on the bus now?", a + b - c + d,
            f"After the first stop: {a} + {b} = {a + b}. {c} get off: {a + b} - {c} = {a + b - c}. "
            f"{d} get on: {a + b - c} + {d} = {a + b - c + d}.")


def _garden(rng: random.Random) -> Problem:
    n = _name(rng)
    rows, per, dead = rng.randint(2, 9), rng.randint(2, 9), rng.randint(1, 5)
    dead = min(dead, rows * per)
    dies = f"{dead} plant does not grow" if dead == 1 else f"{dead} plants do not grow"
    return (f"{n} plants {rows} rows of tomatoes with {per} plants in each row. {dies.capitalize()}. "
            f"Each plant that grows gives 2 tomatoes. How many tomatoes does {n} pick?", 2 * (rows * per - dead),
            f"{rows} rows of {per} is {rows} * {per} = {rows * per} plants. {rows * per} - {dead} = "
            f"{rows * per - dead} grow. Each gives 2: {rows * per - dead} * 2 = {2 * (rows * per - dead)}.")


def _saving(rng: random.Random) -> Problem:
    n = _name(rng)
    start, weekly, weeks = rng.randint(0, 20), rng.randint(2, 10), rng.randint(2, 8)
    return (f"{n} has saved {start} dollars and saves {weekly} dollars every week. How many dollars will "
            f"{n} have after {weeks} weeks?", start + weekly * weeks,
            f"{weeks} weeks of {weekly} dollars is {weeks} * {weekly} = {weekly * weeks} dollars. "
            f"{start} + {weekly * weeks} = {start + weekly * weeks}.")


TEMPLATES: tuple[Callable[[random.Random], Problem], ...] = (
    _buy_then_give, _trays_sold, _pages, _money, _share, _bus, _garden, _saving,
)


def instruction(cfg) -> str:
    """The format asked for at the end of each question (chat models): with it in the user turn,
    SmolLM2-135M-Instruct used the tags in 2 of 8 samples before any training, 0 of 8 with the same
    words only in the system prompt (docs/trainer.md)."""
    return (f"Think step by step between {cfg.reasoning_start} and {cfg.reasoning_end}, then give only the final "
            f"number between {cfg.solution_start} and {cfg.solution_end}.")


def word_problems(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """``n`` rows of ``{"question", "answer", "steps"}``; templates in turn from a random start, numbers
    random. ``steps`` is the worked solution (the format warm start's reasoning, trainer.warmstart)."""
    out = []
    offset = rng.randrange(len(TEMPLATES))
    for i in range(n):
        question, answer, steps = TEMPLATES[(offset + i) % len(TEMPLATES)](rng)
        out.append({"question": question, "answer": str(answer), "steps": steps})
    return out
