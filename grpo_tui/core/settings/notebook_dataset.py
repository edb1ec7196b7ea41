"""The GRPO dataset of a notebook, as `grpo-tui import` carries it (read with ``ast``, nothing run).

The dataset is the one that reaches ``GRPOTrainer(train_dataset=...)``: that name is followed back
through its assignments (``.map`` / ``.filter`` / ``.select`` / ``[...]`` / a function that builds it)
to its ``load_dataset`` call -- not the first ``load_dataset`` in the notebook, which in Unsloth's
FP8 / Qwen3 notebooks is the SFT warm-up set. Its ``.map`` formatting is carried as far as it is
declarative: message lists (``prompt_form = "chat"``), the system message verbatim, the question and
answer columns. A dataset built in code (``Dataset.from_list``) is said in one line; an SFT stage
is read by notebook_sft.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .notebook_env import MISSING

# grpo-tui's dataset reads these columns (trainer.datasets PROMPT_COLUMNS / ANSWER_COLUMNS).
PROMPT_COLUMNS = ("prompt", "question", "problem", "input", "query")
ANSWER_COLUMNS = ("answer", "solution", "target", "output", "label")
# Dataset methods that keep the rows' source (their receiver is the dataset followed).
_PASS_THROUGH = {"map", "filter", "select", "shuffle", "remove_columns", "rename_column", "rename_columns",
                 "select_columns", "cast_column", "train_test_split", "flatten", "sort", "with_format"}
_BUILT = {"from_list", "from_dict", "from_pandas", "from_generator", "from_csv", "from_json", "from_parquet"}


@dataclass
class DatasetTrace:
    settings: list[tuple[str, Any, int, str, str]] = field(default_factory=list)  # key, value, cell, call, source
    not_carried: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def call_name(call: ast.Call) -> str:
    """The called name: ``load_dataset`` for ``load_dataset(...)`` and ``datasets.load_dataset(...)``."""
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _statements(cells: Iterable[Any]) -> list[tuple[int, int, ast.stmt]]:
    return [(c.index, pos, stmt) for c in cells for pos, stmt in enumerate(c.tree.body)]


def _last_assignment(stmts, name: str, before: tuple[int, int]) -> tuple[ast.AST, tuple[int, int]] | None:
    hit = None
    for cell, pos, stmt in stmts:
        if (cell, pos) >= before:
            break
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            hit = (stmt.value, (cell, pos))
    return hit


def trace_dataset(cells: list[Any], literal: Callable[[ast.AST], Any], node: ast.AST,
                  trainer_cell: int) -> DatasetTrace:
    """What ``train_dataset=node`` (in cell ``trainer_cell``) is. ``literal(node)`` is the node's
    value over the notebook's literal assignments, or MISSING."""
    out = DatasetTrace()
    stmts = _statements(cells)
    funcs = {stmt.name: (stmt, cell) for cell, _, stmt in stmts if isinstance(stmt, ast.FunctionDef)}
    trainer_pos = next(((c, p) for c, p, st in stmts if c == trainer_cell and any(
        isinstance(n, ast.Call) and call_name(n) == "GRPOTrainer" for n in ast.walk(st))), (trainer_cell, 10 ** 6))
    maps: list[tuple[ast.AST, int]] = []  # the .map functions applied, newest first
    where, cur = trainer_pos, node
    found: tuple[ast.Call, int, dict[str, Any]] | None = None
    for _ in range(50):
        if isinstance(cur, ast.Name):
            hit = _last_assignment(stmts, cur.id, where)
            if hit is None:
                out.not_carried.append(f"dataset (cell {trainer_cell}): train_dataset = {cur.id}, which is not "
                                       "assigned at the notebook's top level; grpo-tui's built-in task is used")
                return out
            cur, where = hit
        elif isinstance(cur, ast.Subscript):  # new_dataset["train"]
            cur = cur.value
        elif isinstance(cur, ast.Call) and call_name(cur) == "load_dataset":
            found = (cur, where[0], {})
            break
        elif isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute) and call_name(cur) in _PASS_THROUGH:
            if call_name(cur) == "map" and cur.args:
                maps.append((cur.args[0], where[0]))
            cur = cur.func.value
        elif isinstance(cur, ast.Call) and call_name(cur) in _BUILT:
            if _role_dicts(cur):  # the rows' prompts are message lists: TRL hands rewards chat completions
                out.settings.append(("prompt_form", "chat", where[0], "map", "message lists in the built rows"))
            out.not_carried.append(
                f"dataset (cell {where[0]}): built in code ({ast.unparse(cur.func)}(...)); not carried -- "
                "grpo-tui's built-in task builtin:arith is used. Write the rows to a .jsonl file (prompt, answer "
                "columns) and --set dataset=that.jsonl to train on them")
            return out
        elif isinstance(cur, ast.Call) and isinstance(cur.func, ast.Name) and cur.func.id in funcs:
            fn, fn_cell = funcs[cur.func.id]
            defaults = _defaults(fn, literal)
            for n in ast.walk(fn):
                if isinstance(n, ast.Call) and call_name(n) == "map" and n.args:
                    maps.append((n.args[0], fn_cell))
            call = next((n for n in ast.walk(fn) if isinstance(n, ast.Call) and call_name(n) == "load_dataset"), None)
            if call is None:
                out.not_carried.append(f"dataset (cell {fn_cell}): {fn.name}() builds it without load_dataset; "
                                       "not carried, grpo-tui's built-in task is used")
                return out
            split = _subscript_split(fn, call, defaults)
            found = (call, fn_cell, {"split": split} if split else {})
            break
        else:
            out.not_carried.append(f"dataset (cell {where[0]}): {ast.unparse(cur)[:80]} is not read here; "
                                   "grpo-tui's built-in task is used")
            return out
    if found is None:
        return out
    _load(out, found, literal)
    _mapping(out, maps, funcs, literal)
    return out


def _defaults(fn: ast.FunctionDef, literal) -> dict[str, Any]:
    args = fn.args.args[len(fn.args.args) - len(fn.args.defaults):]
    out = {}
    for a, d in zip(args, fn.args.defaults):
        v = literal(d)
        if v is not MISSING:
            out[a.arg] = v
    return out


def _subscript_split(fn: ast.FunctionDef, call: ast.Call, defaults: dict[str, Any]) -> str | None:
    """load_dataset(...)[split] inside a function: the split parameter's default."""
    for n in ast.walk(fn):
        if isinstance(n, ast.Subscript) and n.value is call:
            if isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str):
                return n.slice.value
            if isinstance(n.slice, ast.Name) and isinstance(defaults.get(n.slice.id), str):
                return defaults[n.slice.id]
    return None


def _load(out: DatasetTrace, found: tuple[ast.Call, int, dict[str, Any]], literal) -> None:
    call, cell, extra = found
    args = [literal(a) for a in call.args]
    if not args or any(a is MISSING for a in args) or not isinstance(args[0], str):
        out.not_carried.append(f"dataset (cell {cell}): load_dataset arguments are computed "
                               f"({ast.unparse(call)[:80]}); grpo-tui's built-in task is used")
        return
    out.settings.append(("dataset", args[0], cell, "load_dataset", ast.unparse(call.args[0])))
    if len(args) > 1 and isinstance(args[1], str):
        out.settings.append(("dataset_config", args[1], cell, "load_dataset", ast.unparse(call.args[1])))
    split = next((literal(k.value) for k in call.keywords if k.arg == "split"), extra.get("split"))
    if isinstance(split, str):
        out.settings.append(("dataset_split", split, cell, "load_dataset", repr(split)))
    streaming = streamed(call, literal)
    if streaming:  # the same rows, downloaded whole here
        out.not_carried.append(f"dataset (cell {cell}, load_dataset): streaming = {streaming} -- "
                               "grpo-tui downloads the split whole before training; for a large set name a slice "
                               "(--set dataset_split='SPLIT[:N]')")


def streamed(call: ast.Call, value: Callable[[ast.AST], Any]) -> str:
    """``load_dataset(..., streaming=X)``'s X as written when it may be true (``value`` reads it), else "";
    grpo-tui downloads a split whole either way, which the GRPO set and the SFT set both say."""
    node = next((k.value for k in call.keywords if k.arg == "streaming"), None)
    return "" if node is None or value(node) is False else ast.unparse(node)[:40]


def _map_bodies(maps, funcs) -> list[tuple[ast.AST, int]]:
    bodies = []
    for fn, cell in maps:
        if isinstance(fn, ast.Name) and fn.id in funcs:
            bodies.append((funcs[fn.id][0], funcs[fn.id][1]))
        else:
            bodies.append((fn, cell))
    return bodies


def _column(node: ast.AST) -> str | None:
    """``x["question"]`` (possibly inside a call, e.g. extract_hash_answer(x["answer"])) -> "question"."""
    for n in ast.walk(node):
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str):
            return n.slice.value
    return None


def _role_dicts(node: ast.AST) -> bool:
    return any(isinstance(d, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "role" for k in d.keys)
               for d in ast.walk(node))


def _templated(body: ast.AST) -> bool:
    """A map whose "prompt" is the chat template applied to text (tokenize=False): the prompts TRL
    sees are then plain strings, and so are the completions."""
    for d in ast.walk(body):
        if isinstance(d, ast.Dict):
            for k, v in zip(d.keys, d.values):
                if isinstance(k, ast.Constant) and k.value == "prompt" and any(
                        isinstance(c, ast.Call) and call_name(c) == "apply_chat_template" for c in ast.walk(v)):
                    return True
    return False


def _mapping(out: DatasetTrace, maps, funcs, literal) -> None:
    chat_cell = None
    bodies = _map_bodies(maps, funcs)
    templated = next((cell for body, cell in bodies if _templated(body)), None)  # newest map first
    if templated is not None:
        out.settings.append(("prompt_form", "text", templated, "map", "apply_chat_template to text"))
        out.notes.append(f"prompt_form = text (cell {templated}): the notebook's .map() applies the chat template "
                         "itself, so TRL hands its rewards plain-string completions")
        return
    for body, cell in bodies:
        for d in ast.walk(body):
            if not isinstance(d, ast.Dict):
                continue
            keys = {k.value: v for k, v in zip(d.keys, d.values) if isinstance(k, ast.Constant)}
            if "role" in keys and "content" in keys:
                chat_cell = cell
                role = literal(keys["role"])
                if role == "system":
                    text = literal(keys["content"])
                    if isinstance(text, str):
                        out.settings.append(("system_prompt", text, cell, "map",
                                             f"the system message ({ast.unparse(keys['content'])[:40]})"))
                    else:
                        out.not_carried.append(
                            f"system_prompt (cell {cell}): the system message is computed "
                            f"({ast.unparse(keys['content'])[:60]}); set it with --set system_prompt=...")
                elif role == "user":
                    col = _column(keys["content"])
                    if col and col not in PROMPT_COLUMNS:
                        out.not_carried.append(f"prompt column (cell {cell}): the notebook asks {col!r}, which "
                                               f"grpo-tui does not read (it reads {', '.join(PROMPT_COLUMNS)})")
            elif "answer" in keys:
                col = _column(keys["answer"])
                if col and col not in ANSWER_COLUMNS:
                    out.not_carried.append(f"answer column (cell {cell}): {col!r} is not one grpo-tui reads "
                                           f"({', '.join(ANSWER_COLUMNS)})")
    if chat_cell is not None:
        out.settings.append(("prompt_form", "chat", chat_cell, "map", "message lists"))
        out.notes.append(f"prompt_form = chat (cell {chat_cell}): the notebook's .map() builds message lists, so TRL "
                         "hands its rewards completions as [{'role': 'assistant', 'content': ...}]")
    elif maps:
        out.not_carried.append(f"dataset mapping (cell {maps[0][1]}): the notebook's own .map() is not run; grpo-tui "
                               "builds prompts from the question/answer columns with system_prompt")
