"""Read an Unsloth / TRL GRPO notebook (.ipynb) or script (.py) and write a grpo-tui preset.

Nothing is executed: each code cell is parsed with ``ast`` (IPython's ``%`` / ``!`` lines are
blanked first). What is carried, each line citing its cell:

* ``os.environ["UNSLOTH_VLLM_STANDBY"] = "1"``;
* ``FastLanguageModel.from_pretrained`` / ``FastModel.from_pretrained`` keywords (backend unsloth);
* ``get_peft_model`` keywords;
* ``GRPOConfig`` keywords, and the ``SamplingParams`` its ``vllm_sampling_params`` names;
* ``load_dataset("name", "config", split=...)`` with literal arguments;
* ``GRPOTrainer(reward_funcs=[...])``: a reward function that is plain Python (it and what it uses:
  imports, literal constants, regexes, other plain functions) is copied into a rewards file and
  named as ``file.py:function``; any other becomes a stub in that file to fill in, not used until
  the user adds it.

Values are the literal ones, or names and arithmetic over earlier literal assignments
(``lora_alpha = lora_rank*2``). A value computed from data or a model (``maximum_length + 1``),
and a keyword grpo-tui does not take, is listed under "not carried" with the reason.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ConfigError, canonical_keys

_MAGIC = re.compile(r"^\s*[%!]")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_TABLE_OF = {"from_pretrained": "model", "get_peft_model": "lora", "LoraConfig": "lora", "GRPOTrainer": "model", "GRPOConfig": "grpo", "SamplingParams": "grpo",
             "os.environ": "model", "load_dataset": "data"}
_SKIP_KWARGS = {"model", "tokenizer", "processing_class", "task_type"}  # objects / fixed here, not settings


class Unresolved(Exception):
    """A value that is not a literal (or arithmetic over literals)."""


@dataclass
class Setting:
    key: str
    value: Any
    cell: int
    call: str
    source: str  # the keyword as written


@dataclass
class Imported:
    path: Path
    settings: list[Setting] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)
    rewards: list[str] = field(default_factory=list)  # file.py:function
    reward_file_text: str = ""
    stubs: list[str] = field(default_factory=list)


@dataclass
class _Cell:
    index: int
    tree: ast.Module
    text: str


def read_cells(path: Path) -> list[_Cell]:
    """(cell number, parsed code) for each code cell; a .py file is one cell numbered 0."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        sources = [(i, "".join(c.get("source", [])) if isinstance(c.get("source"), list) else c.get("source", ""))
                   for i, c in enumerate(nb.get("cells", [])) if c.get("cell_type") == "code"]
    else:
        sources = [(0, path.read_text(encoding="utf-8"))]
    cells = []
    for i, src in sources:
        text = "\n".join("" if _MAGIC.match(line) else line for line in src.splitlines())
        try:
            cells.append(_Cell(i, ast.parse(text), text))
        except SyntaxError:
            continue
    return cells


class _Env:
    """Literal module-level assignments, in notebook order."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.unresolved: dict[str, str] = {}

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.eval(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.Name):
            if node.id in self.values:
                return self.values[node.id]
            raise Unresolved(self.unresolved.get(node.id, node.id))
        raise Unresolved(ast.unparse(node))

    def assign(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            try:
                self.values[name] = self.eval(stmt.value)
                self.unresolved.pop(name, None)
            except Unresolved:
                self.values.pop(name, None)
                self.unresolved[name] = f"{name} = {ast.unparse(stmt.value)}"


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def import_notebook(path: Path, rewards_file: Path | None = None) -> Imported:
    """Everything carried from ``path``; ``rewards_file`` is where extracted rewards will live."""
    cells = read_cells(path)
    out = Imported(path)
    env = _Env()
    sampling: dict[str, tuple[ast.Call, int]] = {}
    trainer_rewards: tuple[list[str], int] | None = None
    seen: set[str] = set()

    def carry(key: str, node: ast.AST, cell: int, call: str) -> None:
        if key in _SKIP_KWARGS:
            return
        try:
            value = env.eval(node)
        except Unresolved as exc:
            out.not_carried.append(f"{key} (cell {cell}, {call}): computed, not a literal ({exc}); "
                                   f"set it with --set {key}=...")
            return
        if key == "vllm_sampling_params":
            return
        try:
            canonical_keys({key: value})
        except ConfigError as exc:
            out.not_carried.append(f"{key} (cell {cell}, {call}): {exc.reason}" + (f" ({exc.fix})" if exc.fix else ""))
            return
        if key in seen:  # the last call wins, as in the notebook
            out.settings = [s for s in out.settings if s.key != key]
        seen.add(key)
        out.settings.append(Setting(key, value, cell, call, ast.unparse(node)))

    for cell in cells:
        for stmt in cell.tree.body:
            # os.environ["UNSLOTH_VLLM_STANDBY"] = "1"
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Subscript):
                tgt = stmt.targets[0]
                if ast.unparse(tgt.value) == "os.environ":
                    try:
                        var = env.eval(tgt.slice)
                    except Unresolved:
                        var = None
                    if var == "UNSLOTH_VLLM_STANDBY":
                        carry("UNSLOTH_VLLM_STANDBY", stmt.value, cell.index, "os.environ")
                continue
            env.assign(stmt)
        for node in ast.walk(cell.tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            if name == "SamplingParams":
                parent = _assigned_name(cell.tree, node)
                if parent:
                    sampling[parent] = (node, cell.index)
            elif name == "from_pretrained" and ast.unparse(node.func).split(".")[0] in ("FastLanguageModel", "FastModel",
                                                                                      "FastVisionModel"):
                out.settings.append(Setting("backend", "unsloth", cell.index, "from_pretrained", "Unsloth"))
                seen.add("backend")
                if node.args:
                    carry("model_name", node.args[0], cell.index, name)
                for kw in node.keywords:
                    if kw.arg:
                        carry(kw.arg, kw.value, cell.index, name)
            elif name == "from_pretrained" and ast.unparse(node.func).split(".")[0] == "AutoModelForCausalLM":
                if "backend" not in seen:
                    out.settings.append(Setting("backend", "trl", cell.index, "from_pretrained", "transformers"))
                    seen.add("backend")
                if node.args:
                    carry("model_name", node.args[0], cell.index, name)
            elif name in ("get_peft_model", "GRPOConfig", "LoraConfig"):
                for kw in node.keywords:
                    if not kw.arg:
                        continue
                    if name == "GRPOConfig" and kw.arg == "vllm_sampling_params" and isinstance(kw.value, ast.Name):
                        hit = sampling.get(kw.value.id)
                        if hit is None:
                            out.not_carried.append(f"vllm_sampling_params (cell {cell.index}): {kw.value.id} is not a "
                                                   "SamplingParams(...) call in an earlier cell")
                            continue
                        for skw in hit[0].keywords:
                            if skw.arg:
                                key = {"seed": "sampling_seed"}.get(skw.arg, skw.arg)
                                if skw.arg in ("stop",) and _mentions(skw.value, "tokenizer"):
                                    out.not_carried.append(
                                        f"stop (cell {hit[1]}, SamplingParams): {ast.unparse(skw.value)} needs the "
                                        "tokenizer; write the token itself, e.g. --set 'stop=[\"<|endoftext|>\"]'")
                                    continue
                                carry(key, skw.value, hit[1], "SamplingParams")
                        continue
                    carry(kw.arg, kw.value, cell.index, name)
            elif name == "load_dataset" and node.args:
                try:
                    args = [env.eval(a) for a in node.args]
                    split = next((env.eval(k.value) for k in node.keywords if k.arg == "split"), None)
                except Unresolved as exc:
                    out.not_carried.append(f"dataset (cell {cell.index}): load_dataset arguments are computed ({exc})")
                    continue
                if "dataset" not in seen:
                    out.settings.append(Setting("dataset", args[0], cell.index, name, ast.unparse(node.args[0])))
                    if len(args) > 1:
                        out.settings.append(Setting("dataset_config", args[1], cell.index, name,
                                                    ast.unparse(node.args[1])))
                    if isinstance(split, str):
                        out.settings.append(Setting("dataset_split", split, cell.index, name, repr(split)))
                    seen.add("dataset")
                    out.not_carried.append(f"dataset mapping (cell {cell.index}): the notebook's own .map() prompt "
                                           "formatting is not run; grpo-tui builds prompts from the question/answer "
                                           "columns with system_prompt")
            elif name == "GRPOTrainer":
                for kw in node.keywords:
                    if kw.arg == "model" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        carry("model_name", kw.value, cell.index, name)  # TRL loads a model id itself
                    if kw.arg == "reward_funcs" and isinstance(kw.value, (ast.List, ast.Tuple)):
                        trainer_rewards = ([ast.unparse(e) for e in kw.value.elts], cell.index)
    if any(s.key == "fast_inference" and s.value is True for s in out.settings) and "use_vllm" not in seen:
        out.settings.append(Setting("use_vllm", True, 0, "fast_inference", "the colocated engine"))
    if trainer_rewards:
        _rewards(out, cells, trainer_rewards[0], trainer_rewards[1], rewards_file)
    return out


def _assigned_name(tree: ast.Module, call: ast.Call) -> str | None:
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Assign) and stmt.value is call and isinstance(stmt.targets[0], ast.Name):
            return stmt.targets[0].id
    return None


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


# -- reward functions -------------------------------------------------------------------------------
_UNSAFE = {"model", "tokenizer", "trainer", "dataset", "training_args", "llm", "vllm_sampling_params"}


def _rewards(out: Imported, cells: list[_Cell], names: list[str], cell_no: int, rewards_file: Path | None) -> None:
    defs: dict[str, tuple[ast.stmt, int]] = {}  # module-level name -> defining statement (last wins)
    order: list[tuple[int, int, ast.stmt]] = []
    for cell in cells:
        for pos, stmt in enumerate(cell.tree.body):
            names_here: list[str] = []
            if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                names_here = [stmt.name]
            elif isinstance(stmt, ast.Assign):
                names_here = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                names_here = [(a.asname or a.name).split(".")[0] for a in stmt.names]
            for n in names_here:
                defs[n] = (stmt, cell.index)
            if names_here:
                order.append((cell.index, pos, stmt))
    import builtins

    file = str(rewards_file) if rewards_file else "rewards.py"  # absolute: presets run from anywhere
    keep: list[ast.stmt] = []
    stubs: list[str] = []
    for fn in names:
        if fn not in defs or not isinstance(defs[fn][0], ast.FunctionDef):
            out.not_carried.append(f"reward {fn} (cell {cell_no}): not a function defined in the notebook")
            continue
        needed, why = _closure(fn, defs, set(dir(builtins)))
        if why:
            stub = defs[fn][0]
            stubs.append(f"def {fn}({ast.unparse(stub.args)}):\n"
                         f"    # TODO: from {out.path.name} cell {defs[fn][1]}; not copied because it uses {why}\n"
                         f"    raise NotImplementedError({fn!r})\n")
            out.stubs.append(f"{fn} (cell {defs[fn][1]}) uses {why}: fill in the stub in {file}, then "
                             f"--reward {file}:{fn}")
            continue
        keep.extend(s for s in needed if s not in keep)
        out.rewards.append(f"{file}:{fn}")
    if keep or stubs:
        ordered = [s for _, _, s in order if s in keep]
        header = (f'"""Reward functions carried from {out.path.name} by `grpo-tui import` (copied, not run).\n'
                  'Stubs at the end raise until filled in."""\n\n')
        out.reward_file_text = header + "\n\n".join(ast.unparse(s) for s in ordered) + "\n" + \
            ("\n\n" + "\n\n".join(stubs) if stubs else "")


def _closure(name: str, defs: dict[str, tuple[ast.stmt, int]], builtin_names: set[str]) -> tuple[list[ast.stmt], str]:
    """The statements ``name`` needs (itself, imports, literal constants, regexes, plain functions),
    or the first thing that makes it not plain."""
    needed: list[ast.stmt] = []
    todo, done = [name], set()
    while todo:
        n = todo.pop()
        if n in done:
            continue
        done.add(n)
        if n in _UNSAFE:
            return [], f"`{n}`"
        if n not in defs:
            if n in builtin_names:
                continue
            return [], f"`{n}`, which the notebook does not define at top level"
        stmt = defs[n][0]
        needed.append(stmt)
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            mod = stmt.module if isinstance(stmt, ast.ImportFrom) else stmt.names[0].name
            if (mod or "").split(".")[0] in ("unsloth", "trl", "vllm", "torch", "transformers", "datasets"):
                return [], f"`{n}` from {mod}"
            continue
        local = _local_names(stmt)
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
                todo.append(node.id)
    return needed, ""


def _local_names(stmt: ast.stmt) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)) and node is not stmt and isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.comprehension):
            for t in ast.walk(node.target):
                if isinstance(t, ast.Name):
                    names.add(t.id)
    return names


# -- the preset ------------------------------------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if v is None:
        raise Unresolved("None")
    raise Unresolved(repr(v))


def preset_text(imp: Imported, name: str) -> str:
    lines = [f"# {name}: imported from {imp.path.name} by `grpo-tui import` (nothing was run).",
             "# Each setting cites the notebook cell it came from."]
    if imp.not_carried or imp.stubs:
        lines.append("#")
        lines.append("# Not carried:")
        lines += [f"#   - {n}" for n in imp.not_carried + [f"reward {s}" for s in imp.stubs]]
    lines += ["", "[preset]", f"description = {json.dumps(f'imported from {imp.path.name}')}", "tested = false", ""]
    tables: dict[str, list[str]] = {}
    for s in imp.settings:
        table = "data" if s.key.startswith("dataset") else _TABLE_OF.get(s.call, "grpo")
        if s.key in ("backend", "use_vllm"):
            table = "model"
        try:
            value = _toml_value(s.value)
        except Unresolved:
            continue
        where = f"cell {s.cell}" if s.call not in ("Unsloth", "fast_inference") else s.call
        cite = f"{where}: {s.call}({s.key} = {s.source})" if s.call not in ("fast_inference",) \
            else "fast_inference: Unsloth generates with the colocated engine"
        if s.key == "backend":
            cite = f"cell {s.cell}: {s.source}'s from_pretrained"
        cite = cite.replace("\n", " ")
        tables.setdefault(table, []).append(f"{s.key} = {value}  # {cite}")
    if imp.rewards:
        tables.setdefault("rewards", []).append(f"rewards = {_toml_value(imp.rewards)}  # GRPOTrainer(reward_funcs=...)")
    for table in ("model", "lora", "grpo", "data", "rewards"):
        if table in tables:
            lines.append(f"[{table}]")
            lines += tables[table]
            lines.append("")
    return "\n".join(lines)
