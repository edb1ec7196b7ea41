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
(``lora_alpha = lora_rank*2``), read by one evaluator (notebook_env). Imports renamed with ``as`` are read
as the names they stand for (notebook_aliases); a top-level ``if`` whose test is known runs its branch.
Lengths computed from the prompts (``maximum_length + 1``) come from the cell's saved output, else become
``lengths_from_data`` (the trainer measures them at launch). Any other value computed from data or a model,
and a keyword grpo-tui does not take, is listed under "not carried" with the reason.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ConfigError, canonical_keys
from .notebook_aliases import unalias
from .notebook_dataset import call_name, trace_dataset
from .notebook_env import MISSING, Env, Unresolved
from .notebook_sft import sft_stage

_MAGIC = re.compile(r"^\s*[%!]")
_TABLE_OF = {"from_pretrained": "model", "get_peft_model": "lora", "LoraConfig": "lora", "GRPOTrainer": "model", "GRPOConfig": "grpo", "SamplingParams": "grpo",
             "os.environ": "model", "load_dataset": "data"}
_SKIP_KWARGS = {"model", "tokenizer", "processing_class", "task_type"}  # objects / fixed here, not settings


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
    notes: list[str] = field(default_factory=list)  # carried, with a word on where a value came from
    refusal: str = ""  # one line: why no preset is written (not GRPO, images, an environment)


@dataclass
class _Cell:
    index: int
    tree: ast.Module
    text: str
    output: str = ""  # what the cell printed when the notebook's author ran it (its saved stream output)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def read_cells(path: Path) -> list[_Cell]:
    """(cell number, parsed code, saved output) for each code cell; a .py file is one cell numbered 0."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        sources = [(i, _text(c.get("source", "")),
                    "".join(_text(o.get("text", "")) for o in c.get("outputs", []) or [] if o.get("output_type") == "stream"))
                   for i, c in enumerate(nb.get("cells", [])) if c.get("cell_type") == "code"]
    else:
        sources = [(0, path.read_text(encoding="utf-8"), "")]
    cells = []
    for i, src, output in sources:
        text = "\n".join("" if _MAGIC.match(line) else line for line in src.splitlines())
        try:
            cells.append(_Cell(i, ast.parse(text), text, output))
        except SyntaxError:
            continue
    return cells


def import_notebook(path: Path, rewards_file: Path | None = None) -> Imported:
    """Everything carried from ``path``; ``rewards_file`` is where extracted rewards will live."""
    cells = read_cells(path)
    unalias([c.tree for c in cells])  # from trl import SFTTrainer as T: read as SFTTrainer
    out = Imported(path)
    env = Env()
    chat_lengths = False  # the notebook tokenizes prompts with apply_chat_template(add_generation_prompt)
    sampling: dict[str, tuple[ast.Call, int]] = {}
    trainer_rewards: tuple[list[str], int] | None = None
    trainer_dataset: tuple[ast.AST, int] | None = None
    seen: set[str] = set()

    def carry(key: str, node: ast.AST, cell: int, call: str) -> None:
        if key in _SKIP_KWARGS:
            return
        try:
            value = env.eval(node)
        except Unresolved as exc:
            rule = _length_rule(env, key, node, chat_lengths)
            if rule is None:
                out.not_carried.append(f"{key} (cell {cell}, {call}): computed, not a literal ({exc}); "
                                       f"set it with --set {key}=...")
            elif "lengths_from_data" not in seen and rule:
                seen.add("lengths_from_data")
                out.settings.append(Setting("lengths_from_data", rule, cell, call, str(exc)))
                out.notes.append(f"{key} (cell {cell}, {call}): computed from the data ({exc}) and not in the "
                                 f"saved output; lengths_from_data = {rule!r}: the trainer measures the training "
                                 "prompts with the model's tokenizer at launch and says the lengths it set")
            return
        if key == "vllm_sampling_params":
            return
        if key == "max_steps" and value == -1:  # transformers: train num_train_epochs instead
            out.not_carried.append(f"max_steps = -1 (cell {cell}, {call}): the notebook trains for num_train_epochs; "
                                   "grpo-tui counts optimiser steps -- set --set max_steps=N (one epoch is the "
                                   "dataset's rows x num_generations / generation batch)")
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
        for pos, stmt in _as_run(cell.tree.body, env):
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
            env.assign(stmt, cell.index, pos)
            _from_saved_output(env, stmt, cell, out)
            chat_lengths = chat_lengths or any(
                isinstance(n, ast.Call) and call_name(n) == "apply_chat_template"
                and any(k.arg == "add_generation_prompt" and isinstance(k.value, ast.Constant) and k.value.value is True
                        for k in n.keywords) for n in ast.walk(stmt))
        for node in ast.walk(cell.tree):
            if not isinstance(node, ast.Call):
                continue
            name = call_name(node)
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
            elif name == "GRPOTrainer":
                for kw in node.keywords:
                    if kw.arg == "model" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        carry("model_name", kw.value, cell.index, name)  # TRL loads a model id itself
                    if kw.arg == "reward_funcs" and isinstance(kw.value, (ast.List, ast.Tuple)):
                        trainer_rewards = ([ast.unparse(e) for e in kw.value.elts], cell.index)
                    if kw.arg == "train_dataset":
                        trainer_dataset = (kw.value, cell.index)
        for stmt in cell.tree.body:  # tokenizer.chat_template = ... (the notebook's own template)
            if isinstance(stmt, ast.Assign) and any(ast.unparse(t).endswith(".chat_template") for t in stmt.targets):
                out.not_carried.append(f"chat_template (cell {cell.index}): the notebook sets its own chat template; "
                                       "not carried, the model's own template is used")
    for tag in ("reasoning_start", "reasoning_end", "solution_start", "solution_end"):
        if isinstance(env.values.get(tag), str) and env.values[tag]:  # the notebook's own tags, as it names them
            out.settings.append(Setting(tag, env.values[tag], env.cells.get(tag, 0), "tags", repr(env.values[tag])))
        elif tag in env.unresolved:
            out.not_carried.append(f"{tag}: computed in the notebook ({env.unresolved[tag]}); grpo-tui's default "
                                   "is used -- set it with --set " + tag + "=...")
    traces = [sft_stage(cells, env)]  # an SFT stage is read whatever the GRPO dataset is (as of its statements)
    if trainer_dataset:
        traces.insert(0, trace_dataset(cells, env.value, trainer_dataset[0], trainer_dataset[1]))
    else:
        out.not_carried.append("dataset: no GRPOTrainer(train_dataset=...) found; grpo-tui's built-in task is used")
    for trace in traces:
        for key, value, cell_no, call, source in trace.settings:
            out.settings.append(Setting(key, value, cell_no, call, source))
        out.not_carried += trace.not_carried
        out.notes += trace.notes
    out.refusal = _refusal(cells, path)
    if out.refusal:
        return out
    if any(s.key == "fast_inference" and s.value is True for s in out.settings) and "use_vllm" not in seen:
        out.settings.append(Setting("use_vllm", True, 0, "fast_inference", "the colocated engine"))
    if trainer_rewards:
        _rewards(out, cells, trainer_rewards[0], trainer_rewards[1], rewards_file)
    return out


def _as_run(body: list[ast.stmt], env: Env):
    """(position, statement) of a cell's top level, in order; an ``if`` whose test is known when it is
    reached (``if False:``, ``if USE_SFT:`` after ``USE_SFT = True``) is replaced in ``body`` by the branch
    that runs, so everything read afterwards (the SFT stage, the dataset, the rewards) sees that branch as
    top-level code. An ``if`` whose test is not known stays as written."""
    pos = 0
    while pos < len(body):
        stmt = body[pos]
        if isinstance(stmt, ast.If):
            test = env.value(stmt.test)  # as the notebook stands here: the statements before it replayed
            if test is not MISSING:
                body[pos:pos + 1] = stmt.body if test else stmt.orelse
                continue
        yield pos, stmt
        pos += 1


def _refusal(cells: list[_Cell], path: Path) -> str:
    """One line when the notebook trains something a grpo-tui preset would not: not GRPO at all, a
    vision model (images in the prompts), or an environment that plays the episodes (rollout_func)."""
    calls = [(c.index, n) for c in cells for n in ast.walk(c.tree) if isinstance(n, ast.Call)]
    trainers = [(i, n) for i, n in calls if call_name(n) == "GRPOTrainer"]
    if not trainers and not any(call_name(n) == "GRPOConfig" for _, n in calls):
        other = next((f"{call_name(n)} in cell {i}" for i, n in calls
                      if call_name(n) in ("SFTTrainer", "DPOTrainer", "ORPOTrainer", "KTOTrainer", "Trainer")), "")
        return f"{path.name}: not a GRPO notebook (no GRPOConfig or GRPOTrainer call" + \
            (f"; it trains with {other})" if other else ")") + "; nothing written"
    vision = next((i for i, n in calls if call_name(n) == "from_pretrained"
                   and ast.unparse(n.func).split(".")[0] == "FastVisionModel"), None)
    if vision is not None and _images(cells):  # Gemma 4's text notebooks load with FastVisionModel too
        return (f"{path.name}: a vision GRPO notebook (FastVisionModel, cell {vision}: images reach the model with "
                "each prompt); grpo-tui trains text models only, and a text preset would train something else: "
                "nothing written")
    for i, n in trainers:
        env = next((kw.arg for kw in n.keywords if kw.arg in ("rollout_func", "environment_factory", "tools")), None)
        if env:
            return (f"{path.name}: an environment GRPO notebook (GRPOTrainer({env}=...), cell {i}: the episodes are "
                    "played by its code); grpo-tui does not carry an environment, and a preset without it would "
                    "train something else: nothing written")
    return ""


def _images(cells: list[_Cell]) -> bool:
    """The notebook's data carries images: an "image"/"images" column or a {"type": "image"} message part."""
    for c in cells:
        for n in ast.walk(c.tree):
            if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) and n.slice.value in ("image",
                                                                                                       "images"):
                return True
            if isinstance(n, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "type" and isinstance(v, ast.Constant)
                                               and v.value == "image" for k, v in zip(n.keys, n.values)):
                return True
    return False


def _from_saved_output(env: Env, stmt: ast.stmt, cell: _Cell, out: Imported) -> None:
    """A value computed from the data (``maximum_length = int(np.quantile(...))``) that the cell
    also printed (``print("Max Length = ", maximum_length)``): the number the author's run printed
    is taken, and said so. Nothing else is guessed."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return
    name = stmt.targets[0].id
    if name not in env.unresolved or not cell.output:
        return
    for node in ast.walk(cell.tree):
        if not (isinstance(node, ast.Call) and call_name(node) == "print" and node.args
                and isinstance(node.args[-1], ast.Name) and node.args[-1].id == name
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:-1])):
            continue
        prefix = " ".join(a.value for a in node.args[:-1]).strip()
        for line in cell.output.splitlines():
            # the print may follow output that did not end its line (DeepSeek's cell prints a decoded
            # prompt first): the number is what follows the label's last occurrence
            if prefix and prefix in line:
                try:
                    value: Any = int(line.rsplit(prefix, 1)[1].strip())
                except ValueError:
                    continue
                line = line[line.rindex(prefix):]
                out.notes.append(f"{name} = {value}: computed from the data in cell {cell.index} "
                                 f"({env.unresolved[name]}); taken from that cell's saved output {line.strip()!r}")
                env.bind(name, value, cell.index)
                return


def _rhs(env: Env, node: ast.AST) -> ast.AST:
    """An unresolved name's assigned expression (``name = expr`` as the env recorded it), else the node."""
    if isinstance(node, ast.Name) and env.unresolved.get(node.id, "").startswith(f"{node.id} = "):
        try:
            return ast.parse(env.unresolved[node.id].split("=", 1)[1].strip(), mode="eval").body
        except (SyntaxError, IndexError):
            return node
    return node


def _length_rule(env: Env, key: str, node: ast.AST, chat_lengths: bool) -> str | None:
    """The notebooks' computed lengths as a ``lengths_from_data`` rule, else None.

    max_prompt_length = M + N where M = int(np.quantile(L, Q)) (or max(L)) -> "quantile Q + N" / "max + N";
    max_completion_length = max_seq_length - max_prompt_length -> "" (the rule covers it)."""
    expr = _rhs(env, node)
    if key == "max_completion_length":
        ok = (isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Sub) and _is_number(env, expr.left)
              and _length_rule(env, "max_prompt_length", expr.right, chat_lengths) is not None)
        return "" if ok else None
    if key != "max_prompt_length":
        return None
    plus = 0
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add) and _is_number(env, expr.right):
        plus, expr = env.eval(expr.right), expr.left
    measured = _rhs(env, expr)
    if isinstance(measured, ast.Call) and call_name(measured) == "int" and measured.args:
        measured = measured.args[0]
    if not (isinstance(measured, ast.Call) and isinstance(plus, int) and plus >= 0):
        return None
    name = call_name(measured)
    # the trainer measures prompts as it sends them (chat template + generation prompt): take only a column
    # of lengths (tokenized["L"]) where the notebook measured those too, never an inline generator over
    # raw text (``max(len(tokenizer(x)) for x in ...)`` counts something else)
    if not (measured.args and isinstance(measured.args[0], (ast.Subscript, ast.Name)) and chat_lengths):
        return None
    if name == "quantile" and len(measured.args) == 2 and _is_number(env, measured.args[1]):
        q = env.eval(measured.args[1])
        return f"quantile {q:g} + {plus}" if 0 < q <= 1 else None
    if name in ("max", "amax") and len(measured.args) == 1:
        return f"max + {plus}"
    return None


def _is_number(env: Env, node: ast.AST) -> bool:
    try:
        value = env.eval(node)
    except Unresolved:
        return False
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _assigned_name(tree: ast.Module, call: ast.Call) -> str | None:
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Assign) and stmt.value is call and isinstance(stmt.targets[0], ast.Name):
            return stmt.targets[0].id
    return None


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


# -- reward functions -------------------------------------------------------------------------------
_STACK = ("unsloth", "trl", "vllm", "torch", "transformers", "datasets")  # a reward needing these is not plain
_UNSAFE = {"model", "tokenizer", "trainer", "dataset", "training_args", "llm", "vllm_sampling_params"}


def _rewards(out: Imported, cells: list[_Cell], names: list[str], cell_no: int, rewards_file: Path | None) -> None:
    defs: dict[str, tuple[ast.stmt, int]] = {}  # module-level name -> defining statement (last wins)
    order: list[tuple[int, int, ast.stmt]] = []
    # every top-level binding of a name, in notebook order: (cell, "" or the head of the loop / if that sets it, stmt)
    binds: dict[str, list[tuple[int, str, ast.stmt]]] = {}
    for cell in cells:
        if cell.index > cell_no:  # after the GRPOTrainer cell: the inference cells, not what the rewards read
            continue
        for pos, stmt in enumerate(cell.tree.body):
            names_here: list[str] = []
            if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                names_here = [stmt.name]
            elif isinstance(stmt, (ast.Assign, ast.AugAssign)) or (isinstance(stmt, ast.AnnAssign) and stmt.value):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]  # a, b = ... binds both
                names_here = list(dict.fromkeys(n.id for t in targets for n in ast.walk(t)
                                                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)))
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                names_here = [(a.asname or a.name).split(".")[0] for a in stmt.names]
            for n in names_here:
                if not isinstance(stmt, ast.AugAssign):
                    defs[n] = (stmt, cell.index)
                binds.setdefault(n, []).append((cell.index, "", stmt))
            if names_here:
                order.append((cell.index, pos, stmt))
            if isinstance(stmt, (ast.For, ast.While, ast.If, ast.With, ast.Try)):
                head = ast.unparse(stmt).splitlines()[0][:70]
                for name in dict.fromkeys(node.id for node in ast.walk(stmt)  # a loop's own variable: not carried
                                          if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
                                          and not (_vocab_loop(stmt) and node.id in _loop_targets(stmt))):
                    binds.setdefault(name, []).append((cell.index, head, stmt))
                if _vocab_loop(stmt):  # copied as written when a reward needs what it sets
                    order.append((cell.index, pos, stmt))
    import builtins

    file = str(rewards_file) if rewards_file else "rewards.py"  # absolute: presets run from anywhere
    keep: list[ast.stmt] = []
    stubs: list[str] = []
    vocab_rewards: list[str] = []  # copied rewards that read the tokenizer's added tokens
    eos_uses: set[int] = set()  # ids of statements that read tokenizer.eos_token / get_added_vocab() (nothing else)
    for fn in names:
        if fn not in defs or not isinstance(defs[fn][0], ast.FunctionDef):
            out.not_carried.append(f"reward {fn} (cell {cell_no}): not a function defined in the notebook")
            continue
        needed, why = _closure(fn, binds, set(dir(builtins)), eos_uses)
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
        if any(_vocab_loop(s) for s in needed):
            vocab_rewards.append(fn)
    if stubs and not out.rewards:
        out.not_carried.append("rewards: none of the notebook's reward functions could be copied (stubs below); "
                               "grpo-tui's built-in format + correctness are used until you fill them in")
    if keep or stubs:
        ordered = [s for _, _, s in order if s in keep]
        # imports first: a notebook may import a module again in a later cell than its first use
        ordered = [s for s in ordered if isinstance(s, (ast.Import, ast.ImportFrom))] + \
            [s for s in ordered if not isinstance(s, (ast.Import, ast.ImportFrom))]
        header = (f'"""Reward functions carried from {out.path.name} by `grpo-tui import` (copied, not run).\n'
                  'Stubs at the end raise until filled in."""\n\n')
        missing = _not_installed(ordered)
        if missing:
            out.not_carried.append(f"the copied rewards import {', '.join(missing)}, not installed here: "
                                   f"pip install {' '.join(missing)} (the notebook installs it)")
        if any(id(s) in eos_uses for s in ordered):
            model = next((st.value for st in out.settings if st.key == "model_name"), "")
            other = _other_tokenizer(cells, cell_no)
            if other is not None:  # the notebook loads its tokenizer from elsewhere than the model
                model = other
            header += ("# `tokenizer` in the notebook: a stand-in that reads the model's own tokenizer files. Its EOS is\n"
                       "# \"\" when they are not here -- TRL decodes completions without special tokens, so a reward\n"
                       "# never sees it; its added vocabulary (get_added_vocab) refuses to guess when they are not here.\n"
                       "from grpo_tui.trainer.rewards.notebook_tokenizer import TokenizerFacts\n"
                       f"tokenizer = TokenizerFacts({model!r})\n\n")
            if other == "":
                out.not_carried.append("the copied rewards' tokenizer stand-in: the notebook's `tokenizer` is not the "
                                       "model's (it is loaded or built another way, not from a literal name), so it "
                                       f"reads no tokenizer files -- write its name into TokenizerFacts('') in {file}")
            elif not model:
                out.not_carried.append("the copied rewards' tokenizer stand-in: the notebook's model name is not "
                                       f"carried, so it reads no tokenizer files -- write the model into "
                                       f"TokenizerFacts('') in {file}")
            if any(id(s) in eos_uses and _vocab_loop(s) for s in ordered):
                loops = sorted({c for c, _, st in order if st in ordered and _vocab_loop(st)})
                out.notes.append(f"cell {', '.join(map(str, loops))} reads tokenizer.get_added_vocab(): copied as written; "
                                 f"the copied rewards read {model}'s added tokens from its tokenizer files "
                                 "(the hub cache, or fetched once) when they are imported")
            if any(id(s) in eos_uses and not _vocab_loop(s) for s in ordered):
                out.notes.append("tokenizer.eos_token in the copied rewards: the model's EOS from its tokenizer files, "
                                 "else \"\" (TRL decodes completions without special tokens)")
        guards = "".join(f"{fn} = tokenizer.needs_vocab({fn})\n" for fn in vocab_rewards)
        if guards:  # without the tokenizer's files these refuse when called, saying why; the others still run
            guards = "\n# these read the tokenizer's added tokens: they refuse to score when those could not be read\n" + guards
        out.reward_file_text = header + "\n\n".join(_unset_first(s, ordered[:i]) + ast.unparse(s)
                                                    for i, s in enumerate(ordered)) + "\n" + guards + \
            ("\n\n" + "\n\n".join(stubs) if stubs else "")


def _other_tokenizer(cells: list[_Cell], cell_no: int) -> str | None:
    """None when the notebook's ``tokenizer`` is the model's own (Unsloth's ``model, tokenizer =
    FastLanguageModel.from_pretrained(...)``, or that passed through ``get_chat_template(tokenizer, ...)``);
    else the name it is loaded from (``AutoTokenizer.from_pretrained("org/other")``), or "" when that is not
    a literal."""
    last: ast.AST | None = None
    for cell in cells:
        if cell.index > cell_no:
            break
        for stmt in cell.tree.body:
            if isinstance(stmt, ast.Assign) and any(isinstance(n, ast.Name) and n.id == "tokenizer"
                                                    for t in stmt.targets for n in ast.walk(t)):
                value = stmt.value
                if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Name) \
                        and value.args[0].id == "tokenizer":
                    continue  # get_chat_template(tokenizer, ...): the same tokenizer's vocabulary
                last = value
    if last is None or isinstance(last, (ast.Name, ast.Attribute)):  # tokenizer = processor.tokenizer: the model's
        return None
    if isinstance(last, ast.Call) and call_name(last) == "from_pretrained":
        root = ast.unparse(last.func).split(".")[0]
        if root in ("FastLanguageModel", "FastModel", "FastVisionModel"):
            return None
        arg = last.args[0] if last.args else next((k.value for k in last.keywords
                                                    if k.arg in ("pretrained_model_name_or_path", "model_name")), None)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return ""


def _unset_first(stmt: ast.stmt, before: list[ast.stmt]) -> str:
    """Before a copied tokenizer loop: ``name = None`` for each name it sets that nothing copied sets
    earlier, so the file still imports when the tokenizer's files cannot be read (the loop then runs over
    nothing) -- the rewards that read them refuse when called instead (needs_vocab)."""
    if not _vocab_loop(stmt):
        return ""
    earlier = {n.id for s in before for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    unset = [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
             and n.id not in earlier and n.id not in _loop_targets(stmt)]
    return "".join(f"{n} = None  # set below when the tokenizer's added tokens match\n" for n in dict.fromkeys(unset))


def _not_installed(stmts: list[ast.stmt]) -> list[str]:
    """Top-level modules the copied file imports that this Python cannot find (find_spec: nothing imported)."""
    import importlib.util
    import sys

    names = []
    for s in stmts:
        if isinstance(s, ast.Import):
            names += [a.name.split(".")[0] for a in s.names]
        elif isinstance(s, ast.ImportFrom) and s.module and not s.level:
            names.append(s.module.split(".")[0])
    return sorted({n for n in names if n not in sys.stdlib_module_names and importlib.util.find_spec(n) is None})


def _closure(name: str, binds: dict[str, list[tuple[int, str, ast.stmt]]], builtin_names: set[str],
             eos_uses: set[int]) -> tuple[list[ast.stmt], str]:
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
        if n not in binds:
            if n in builtin_names:
                continue
            return [], f"`{n}`, which the notebook does not define at top level"
        chain = _bindings(n, binds[n])
        if isinstance(chain, str):
            return [], chain
        for stmt in chain:
            if stmt in needed:
                continue
            needed.append(stmt)
            if _vocab_loop(stmt):  # the tokenizer's added tokens picked by name: the stand-in answers it
                eos_uses.add(id(stmt))
                todo.extend(x.id for x in ast.walk(stmt) if isinstance(x, ast.Name) and x.id != "tokenizer"
                            and x.id not in _loop_targets(stmt))
                continue
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                mod = stmt.module if isinstance(stmt, ast.ImportFrom) else stmt.names[0].name
                if (mod or "").split(".")[0] in _STACK:
                    return [], f"`{n}` from {mod}"
                continue
            local = _local_names(stmt)
            eos_names = {id(a.value) for a in ast.walk(stmt) if isinstance(a, ast.Attribute) and a.attr == "eos_token"
                         and isinstance(a.value, ast.Name) and a.value.id == "tokenizer"}
            for node in ast.walk(stmt):
                if id(node) in eos_names and "tokenizer" not in local:
                    eos_uses.add(id(stmt))  # tokenizer.eos_token only: the copied file's stand-in answers it
                    continue
                if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Load, ast.Store)) and node.id not in local:
                    todo.append(node.id)  # Store: a `global` the function sets
                elif isinstance(node, (ast.Import, ast.ImportFrom)) and node is not stmt:
                    mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    if (mod or "").split(".")[0] in _STACK:
                        return [], f"`{mod}` (imported inside {name})"
    return needed, ""


def _bindings(name: str, found: list[tuple[int, str, ast.stmt]]) -> list[ast.stmt] | str:
    """The top-level statements that give ``name`` its value when the rewards run, in notebook order:
    its last binding, and the ones before it as long as that one builds on them (``x += ...``,
    ``x = x + ...``, a tokenizer loop that sets it only for a matching token); or why it is not plain
    (a loop / if / with / try sets it at run time)."""
    chain: list[ast.stmt] = []
    for cell, head, stmt in reversed(found):
        if head and not _vocab_loop(stmt):
            return f"`{name}`, which cell {cell} sets at run time ({head})"
        chain.append(stmt)
        if head or isinstance(stmt, ast.AugAssign):
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(x, ast.Name) and x.id == name and isinstance(x.ctx, ast.Load) for x in ast.walk(stmt.value)):
            continue
        break
    return chain[::-1]


def _loop_targets(loop: ast.stmt) -> set[str]:
    if not isinstance(loop, ast.For):
        return set()
    return {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}


def _vocab_loop(stmt: ast.stmt) -> bool:
    """``for token in tokenizer.get_added_vocab()[.keys()]:`` whose body only tests the token and binds
    module-level names (DeepSeek's notebook finds its reasoning tags so): plain once the tokenizer's
    added tokens are known, which the copied file's stand-in reads from the model's tokenizer files."""
    if not isinstance(stmt, ast.For) or stmt.orelse or not isinstance(stmt.target, ast.Name):
        return False
    it = stmt.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "keys" and not it.args:
        it = it.func.value
    if not (isinstance(it, ast.Call) and not it.args and not it.keywords and isinstance(it.func, ast.Attribute)
            and it.func.attr == "get_added_vocab" and isinstance(it.func.value, ast.Name)
            and it.func.value.id == "tokenizer"):
        return False
    allowed = (ast.If, ast.Assign, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load,
               ast.Store, ast.In, ast.NotIn, ast.Eq, ast.NotEq, ast.And, ast.Or, ast.Not, ast.Pass, ast.Break,
               ast.Continue, ast.Is, ast.IsNot)
    return all(isinstance(n, allowed) for s in stmt.body for n in ast.walk(s))


def _local_names(stmt: ast.stmt) -> set[str]:
    """Names a function binds itself: parameters, assignments, its own imports (``import re`` in the
    body), ``except ... as e``, nested functions and classes -- less those it declares ``global``,
    which live at module level and must be copied."""
    names: set[str] = set()
    declared_global: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not stmt:
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Global):  # nonlocal names stay the enclosing function's locals
            declared_global.update(node.names)
        elif isinstance(node, ast.comprehension):
            for t in ast.walk(node.target):
                if isinstance(t, ast.Name):
                    names.add(t.id)
    return names - declared_global


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
    if imp.notes:
        lines.append("#")
        lines.append("# Carried, with where the value came from:")
        lines += [f"#   - {n}" for n in imp.notes]
    lines += ["", "[preset]", f"description = {json.dumps(f'imported from {imp.path.name}')}", "tested = false", ""]
    tables: dict[str, list[str]] = {}
    for s in imp.settings:
        table = "data" if s.key.startswith("dataset") or s.call in ("map", "tags") else _TABLE_OF.get(s.call, "grpo")
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
        elif s.call == "map":
            cite = f"cell {s.cell}: the dataset's .map() -- {s.source}"
        elif s.call == "tags":
            cite = f"cell {s.cell}: {s.key} = {s.source}"
        elif s.key.startswith("warmstart_"):  # the SFT stage (notebook_sft): the notebook's own words
            cite = f"cell {s.cell}: " + (s.source if s.call == "filter" else f"{s.call}({s.source})")
        elif s.key == "lengths_from_data":
            cite = f"cell {s.cell}: {s.call}(max_prompt_length = ...) with {s.source}: measured at launch"
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
