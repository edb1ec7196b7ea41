"""A notebook's SFT stage as grpo-tui's format warm start (`grpo-tui import`, read with ``ast``).

Unsloth's Qwen3 (4B), LFM2.5, Llama FP8 and Qwen3 8B FP8 GRPO notebooks first fine-tune the output
format with TRL's ``SFTTrainer`` on ``unsloth/OpenMathReasoning-mini`` (split ``cot``): only rows
with a numeric ``expected_answer``, only rows whose chat-formatted text is at most
``max_seq_length / 2`` tokens, each written as reasoning_start + worked solution + reasoning_end +
solution_start + answer + solution_end after the notebook's system prompt. That is what the warm
start (trainer.warmstart) does with the notebook's tags and system prompt, so the stage is carried
as ``warmstart_*`` settings: the dataset followed from ``SFTTrainer(train_dataset=...)`` back to its
``load_dataset`` (through the pandas steps in between), the batch (per-device x accumulation), the
learning rate, ``max_steps`` or ``num_train_epochs``, and the two row filters. What the warm start
does differently (a constant rate, no warm-up, no weight decay, AdamW in 32-bit, no packing, every row
where the notebook kept a part) is listed as not carried.

The stage is the last ``SFTTrainer`` the notebook trains (``.train()`` / ``unsloth_train``) before its
GRPOTrainer, at top level (not in ``if False:``, not in a function); earlier and later ones are said.
Values are read as they are at the statement that uses them (notebook_env.Env.value; a name set again
later for GRPO does not count), and a row filter only when the rows went through it (one merely printed
does not). Rows from the notebook's own files, a path not on this machine, or a computed value make the
stage not carried, said in one line, with nothing of it carried.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from .notebook_dataset import DatasetTrace, _last_assignment, _statements, call_name, streamed
from .notebook_env import MISSING, Env, bound_names

# Steps between the load and the SFTTrainer that keep the rows' source (datasets and pandas).
_KEEPS_SOURCE = {"map", "filter", "select", "shuffle", "remove_columns", "rename_column", "rename_columns",
                 "select_columns", "cast_column", "train_test_split", "flatten", "sort", "with_format",
                 "to_pandas", "copy", "reset_index", "dropna", "head", "sample"}
_FROM_ROWS = {"from_pandas", "from_list", "from_dict"}
TRL_SFT_LR = 2e-5  # trl 1.15 SFTConfig.learning_rate default
TRL_EPOCHS = 3.0  # transformers TrainingArguments.num_train_epochs default
HF_LR = 5e-5  # transformers TrainingArguments.learning_rate default (an SFTTrainer given TrainingArguments)
_NOT_CARRIED = {"warmup_steps": "no warm-up", "warmup_ratio": "no warm-up", "lr_scheduler_type": "a constant rate",
                "weight_decay": "no weight decay", "optim": "AdamW in 32-bit",
                "packing": "one example a row, no packing", "neftune_noise_alpha": "no noise on the embeddings"}
# load_dataset's packaged builders: the rows are the notebook's own files (data_files=), not a hub dataset
_BUILDERS = {"json", "csv", "parquet", "text", "arrow", "pandas", "sql", "generator", "webdataset", "xml",
             "imagefolder", "audiofolder", "videofolder"}
_ANSWER_COLUMNS = {"answer", "solution", "target", "output", "label", "expected_answer"}  # as trainer.warmstart reads
_ROW_SUBSETS = {"select", "head", "sample", "train_test_split", "filter", "dropna", "shard", "take", "skip"}


def sft_stage(cells: list[Any], env: Env) -> DatasetTrace:
    """The SFT stage the notebook trains last before GRPO, as warmstart_* settings (or one line saying why
    not). ``env`` is the notebook replayed (notebook_env): each value is read as of the statement using it."""
    out = DatasetTrace()
    stmts = _statements(cells)
    grpo = next(((c, p) for c, p, st in stmts for n in _live(st)
                 if isinstance(n, ast.Call) and call_name(n) == "GRPOTrainer"), (10 ** 9, 0))
    stages = [((c, p), n, st) for c, p, st in stmts for n in _live(st)
              if isinstance(n, ast.Call) and call_name(n) == "SFTTrainer"]
    stages.sort(key=lambda s: (s[0], s[1].lineno, s[1].col_offset))
    for c, p, st in stmts:  # an SFTTrainer inside a function runs only if called: not read
        for fn in (n for n in ast.walk(st) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            if any(isinstance(n, ast.Call) and call_name(n) == "SFTTrainer" for n in ast.walk(fn)):
                out.not_carried.append(f"SFT stage (cell {c}, SFTTrainer inside {fn.name}()): not carried -- "
                                       "only a stage written at the notebook's top level is read")
                break
    for pos, _, _ in stages:
        if pos > grpo:
            out.not_carried.append(f"SFT stage (cell {pos[0]}, SFTTrainer): it trains after GRPO; not carried "
                                   "(the warm start runs before GRPO)")
    trained = []
    for stage in (s for s in stages if s[0] < grpo):
        run = _trained(stmts, stage, grpo)
        guard = _guard(stage[2], stage[1]) or (run and _guard(*run))
        if guard:  # it trains only when a test the notebook computes holds
            out.not_carried.append(f"SFT stage (cell {stage[0][0]}, SFTTrainer): it runs only if {guard}, which is "
                                   "not a literal before it; not carried -- if it runs, set the warm start yourself "
                                   "(--set warmstart_steps=N, warmstart_dataset=...)")
        elif run:
            trained.append(stage)
        elif isinstance(stage[2], (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
            # trained or not in there, it is not read: said rather than dropped
            out.not_carried.append(f"SFT stage (cell {stage[0][0]}, SFTTrainer): inside "
                                   f"`{ast.unparse(stage[2]).splitlines()[0][:60]}`; not carried -- only a stage "
                                   "written at the notebook's top level is read")
    for pos, _, _ in trained[:-1]:
        out.not_carried.append(f"SFT stage (cell {pos[0]}, SFTTrainer): an earlier SFT stage; not carried -- the "
                               f"warm start is one stage, the notebook's last before GRPO (cell {trained[-1][0][0]})")
    for pos, call, _ in trained[-1:]:
        why = _carry(out, stmts, env, call, pos)
        if why:
            out.settings = [s for s in out.settings if not s[0].startswith("warmstart_")]
            out.notes = [n for n in out.notes if not n.startswith("SFT stage")]
            out.not_carried = [n for n in out.not_carried if not n.startswith(f"SFT stage (cell {pos[0]}, SFTConfig)")
                               and not n.startswith(f"SFT stage (cell {pos[0]}): ")]
            out.not_carried.append(
                f"SFT stage (cell {pos[0]}, SFTTrainer): the notebook fine-tunes the format with SFT before GRPO; "
                f"not carried ({why}) -- the preset trains GRPO only, from the base model. grpo-tui's own format "
                "warm start (--set warmstart_steps=N, warmstart_dataset=...) does that stage from rows with a "
                "worked solution")
    return out


def _live(stmt: ast.AST):
    """The nodes of a top-level statement that run when it runs: not a function's or lambda's body, not
    the branch of ``if False:`` (Unsloth's notebooks keep saving code there) that never runs."""
    todo = [stmt]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.If, ast.While)) and isinstance(node.test, ast.Constant):
            todo.append(node.test)
            todo.extend(node.body if node.test.value else node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _guard(stmt: ast.AST, target: ast.AST) -> str:
    """The test of an ``if`` / ``while`` around ``target`` (a node of top-level ``stmt``) whose value is
    not known before it runs (the importer has already replaced an ``if`` it knows by its branch), as
    written; "" when there is none."""
    todo = [(stmt, "")]
    while todo:
        node, guard = todo.pop()
        if node is target:
            return guard
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.If, ast.While)) and not isinstance(node.test, ast.Constant):
            todo.append((node.test, guard))
            todo.extend((n, guard or f"`{ast.unparse(node.test)[:60]}`") for n in node.body + node.orelse)
            continue
        todo.extend((n, guard) for n in ast.iter_child_nodes(node))
    return ""


def _trained(stmts, stage, before: tuple[int, int]) -> tuple[ast.stmt, ast.AST] | None:
    """Where the stage is trained (the top-level statement, the call): ``trainer = SFTTrainer(...)``
    followed by ``trainer.train()`` (or ``unsloth_train(trainer)``) before GRPO and before the name is
    bound again; or ``SFTTrainer(...).train()``. None when it is not."""
    pos, call, st = stage
    hit = next((n for n in _live(st) if isinstance(n, ast.Attribute) and n.attr == "train" and n.value is call), None)
    if hit is not None:
        return st, hit
    if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)
            and st.value is call):
        return None
    name = st.targets[0].id
    for c, p, later in stmts:
        if not pos < (c, p) < before:
            continue
        for n in _live(later):
            if isinstance(n, ast.Call) and (
                    (isinstance(n.func, ast.Attribute) and n.func.attr == "train" and isinstance(n.func.value, ast.Name)
                     and n.func.value.id == name)
                    or ("train" in call_name(n) and any(isinstance(a, ast.Name) and a.id == name for a in n.args))):
                return later, n
        if name in bound_names(later):
            return None
    return None


def _carry(out: DatasetTrace, stmts, env: Env, call: ast.Call, pos: tuple[int, int]) -> str:
    cell_no = pos[0]
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    if "train_dataset" not in kw:
        return "no train_dataset"
    found = _load_call(stmts, kw["train_dataset"], pos)
    if isinstance(found, str):
        return found
    load, load_pos, chain, key, row_steps = found
    load_cell = load_pos[0]
    lkw = {k.arg: k.value for k in load.keywords if k.arg}
    path_node = load.args[0] if load.args else lkw.get("path")
    name_node = load.args[1] if len(load.args) > 1 else lkw.get("name")
    path = env.value(path_node, load_pos)
    if not isinstance(path, str) or not path:
        return f"its load_dataset arguments are computed ({ast.unparse(load)[:60]})"
    if path in _BUILDERS or "data_files" in lkw or "data_dir" in lkw:
        return (f"its rows are the notebook's own files ({ast.unparse(load)[:80]}); point warmstart_dataset at "
                "a copy of them here")
    if path.startswith((".", "/", "~")) or Path(path).suffix.lower() in (".json", ".jsonl", ".csv", ".parquet"):
        if not Path(path).expanduser().exists():
            return f"its load_dataset reads {path}, which is not on this machine"
    split_node = lkw.get("split")
    split = env.value(split_node, load_pos) if split_node is not None else None
    if split_node is not None and split is not None and not isinstance(split, str):
        return f"its split is not one split name ({ast.unparse(split_node)[:60]})"
    if split is None and key is not None:
        split, split_src = key, f"split picked by [{key!r}] on its result"
    else:
        split_src = f"split = {split!r}" if split is not None else "no split: the train split"
    config = env.value(name_node, load_pos) if name_node is not None else None
    if name_node is not None and config is not None and not isinstance(config, str):
        return f"its dataset config is computed ({ast.unparse(name_node)[:60]})"
    cfg = _sft_config(stmts, kw.get("args"), pos)
    if cfg is None:
        return f"its args = {ast.unparse(kw['args'])[:60]} is not an SFTConfig / TrainingArguments call written in " \
               "the notebook"
    conf, conf_pos, defaults_lr, conf_name = cfg
    for c, what in ((call, "SFTTrainer"), (load, "load_dataset"), (conf, conf_name)):
        if c is not None and (any(k.arg is None for k in c.keywords) or any(isinstance(a, ast.Starred) for a in c.args)):
            return f"its {what} call takes **kwargs / *args ({ast.unparse(c)[:60]}), whose values are not read here"
    conf_cell = conf_pos[0]
    ckw = {k.arg: k.value for k in conf.keywords if k.arg} if conf is not None else {}
    value = {k: env.value(v, conf_pos) for k, v in ckw.items()}
    settings: list[tuple[str, Any, int, str, str]] = []
    settings.append(("warmstart_dataset", path, load_cell, "load_dataset", ast.unparse(path_node)))
    if isinstance(config, str) and config:
        settings.append(("warmstart_dataset_config", config, load_cell, "load_dataset", ast.unparse(name_node)))
    settings.append(("warmstart_dataset_split", split if isinstance(split, str) and split else "train", load_cell,
                     "load_dataset", split_src))
    batch = value.get("per_device_train_batch_size", 8)
    accum = value.get("gradient_accumulation_steps", 1)
    if not (_is_int(batch) and _is_int(accum)) or batch < 1 or accum < 1:
        return "its batch size is computed"
    settings.append(("warmstart_batch_size", batch * accum, conf_cell, conf_name,
                     f"per_device_train_batch_size {batch} x gradient_accumulation_steps {accum}"))
    lr = value.get("learning_rate", defaults_lr)
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        return "its learning rate is computed"
    if not lr > 0:
        return f"its learning rate is {lr!r}: that stage changes no weight"
    settings.append(("warmstart_learning_rate", float(lr), conf_cell, conf_name,
                     f"learning_rate = {ast.unparse(ckw['learning_rate'])}" if "learning_rate" in ckw
                     else f"learning_rate: the default {lr:g}" + ("" if conf is not None else " (no args)")))
    steps = value.get("max_steps", -1)
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)
    if not _is_int(steps):
        return "its max_steps is computed"
    if steps > 0:
        settings.append(("warmstart_steps", steps, conf_cell, conf_name, f"max_steps = {ast.unparse(ckw['max_steps'])}"))
    else:
        epochs = value.get("num_train_epochs", TRL_EPOCHS)
        if not isinstance(epochs, (int, float)) or isinstance(epochs, bool):
            return "its num_train_epochs is computed"
        if not epochs > 0:
            return f"its num_train_epochs is {epochs!r} with no max_steps: that stage trains no step"
        settings.append(("warmstart_steps", 0, conf_cell, conf_name, "no max_steps: epochs count"))
        settings.append(("warmstart_epochs", float(epochs), conf_cell, conf_name,
                         f"num_train_epochs = {ast.unparse(ckw['num_train_epochs'])}" if "num_train_epochs" in ckw
                         else f"num_train_epochs: the default {TRL_EPOCHS:g}"))
    # the row filters: only steps the SFT rows went through (the chain of assignments followed, and the
    # names those read, e.g. keep = pd.to_numeric(...)), never a filter merely printed
    feeders = _feeders(stmts, chain)
    to_numeric = next(((c, n) for (c, _), st in feeders for n in _live(st)
                       if isinstance(n, ast.Call) and call_name(n) == "to_numeric"), None)
    numeric = None
    if to_numeric is not None:
        cols = {n.slice.value for n in ast.walk(to_numeric[1]) if isinstance(n, ast.Subscript)
                and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)}
        if cols and not cols & _ANSWER_COLUMNS:  # a number test on another column than the answer
            out.not_carried.append(f"SFT stage (cell {to_numeric[0]}): {ast.unparse(to_numeric[1])[:80]} keeps rows by "
                                   "a column that is not the answer; the warm start's numeric filter reads the "
                                   "answer only, so it is not carried")
        else:
            numeric = to_numeric[0]
            settings.append(("warmstart_numeric_answers", True, numeric, "filter",
                             "pd.to_numeric(...) keeps the rows whose answer is a number"))
    between = [(c, st) for c, p, st in stmts if load_pos <= (c, p) < pos]
    cap, low = _length_cap(between, feeders, env)
    if low is not None:
        out.not_carried.append(f"SFT stage (cell {low[0]}): the length filter {low[1]} keeps only rows above that "
                               "many tokens; the warm start has no lower bound and trains on the shorter rows too -- "
                               "not carried")
    if cap is not None and cap[0] is None:
        out.not_carried.append(f"SFT stage (cell {cap[1]}): the length filter {cap[2]} is computed; not carried -- "
                               "set warmstart_max_tokens=N")
        cap = None
    if cap is not None:
        settings.append(("warmstart_max_tokens", cap[0], cap[1], "filter", f"keeps {cap[2]} (tokens of the chat text)"))
    out.settings += settings
    subsets = list(dict.fromkeys(row_steps))
    if subsets:
        out.not_carried.append(f"SFT stage (cell {cell_no}): the notebook trains on part of the rows "
                               f"({'; '.join(subsets)[:160]}); the warm start reads every row of the split that has a "
                               "worked solution" + (" (and passes the filters carried)" if numeric or cap else "")
                               + " -- set warmstart_examples=N to cap them")
    streaming = streamed(load, lambda n: env.value(n, load_pos))
    if streaming:  # the same rows either way, but a set streamed for its size is downloaded whole
        out.not_carried.append(f"SFT stage (cell {load_cell}, load_dataset): streaming = {streaming} "
                               "-- the warm start downloads the split whole before it reads it; for a large set "
                               "name a slice (--set warmstart_dataset_split='SPLIT[:N]')")
    skipped = sorted(k for k in ckw if k in _NOT_CARRIED)
    if skipped:
        out.not_carried.append(f"SFT stage (cell {conf_cell}, {conf_name}): {', '.join(skipped)} -- the warm start "
                               f"uses {', '.join(dict.fromkeys(_NOT_CARRIED[k] for k in skipped))}")
    if value.get("assistant_only_loss") is not True and value.get("completion_only_loss") is not True:
        # TRL's SFTTrainer on a text column learns every token; the warm start learns the reply only
        # (trainer.warmstart.example_tensors), the part GRPO goes on to sample.
        out.not_carried.append(f"SFT stage (cell {cell_no}, SFTTrainer): the loss -- the notebook learns every "
                               "token of the chat text (system prompt and question too); the warm start learns "
                               "the reply only")
    out.notes.append(f"SFT stage (cell {cell_no}, SFTTrainer) carried as the format warm start: the rows of "
                     f"{path} written as the notebook's tags around the worked solution and the answer, after "
                     "its system prompt, training the LoRA adapter GRPO then goes on with")
    return ""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _load_call(stmts, node: ast.AST, where: tuple[int, int]):
    """Follow the SFT rows back to their load_dataset call, through datasets' and pandas' steps:
    (the call, its statement's position, the positions of the statements followed, the split a
    ``ds["cot"]`` subscript picks, the steps that keep only part of the rows); else why not."""
    cur = node
    chain = [where]
    key: str | None = None  # ds["cot"] on what load_dataset returned (a DatasetDict)
    subsets: list[str] = []
    for _ in range(60):
        if isinstance(cur, ast.Name):
            hit = _last_assignment(stmts, cur.id, where)
            if hit is None:
                return f"train_dataset = {ast.unparse(node)[:60]} is not traced back to a load_dataset call"
            cur, where = hit
            chain.append(where)
        elif isinstance(cur, ast.Subscript):  # df[[cols]], df.iloc[...], ds["train"], df[mask]
            sl = cur.slice
            if isinstance(sl, ast.Constant) and isinstance(sl.value, str):
                key = sl.value
            elif isinstance(sl, ast.Slice):
                subsets.append(ast.unparse(cur))
            cur = cur.value
        elif isinstance(cur, ast.Attribute) and cur.attr in ("iloc", "loc"):
            cur = cur.value
        elif isinstance(cur, ast.Call) and call_name(cur) == "load_dataset":
            return cur, where, chain, key, subsets
        elif isinstance(cur, ast.Call) and call_name(cur) in _FROM_ROWS and cur.args:
            cur = cur.args[0]
        elif isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute) and call_name(cur) in _KEEPS_SOURCE:
            if call_name(cur) in _ROW_SUBSETS:
                subsets.append(ast.unparse(cur)[:80] if call_name(cur) != "train_test_split" or key is None
                               else f"{ast.unparse(cur)[:70]}[{key!r}]")
                key = None  # train_test_split(...)["train"] is a part, not a split of the dataset
            cur = cur.func.value
        else:
            return f"train_dataset = {ast.unparse(node)[:60]} is not traced back to a load_dataset call"
    return f"train_dataset = {ast.unparse(node)[:60]} is not traced back to a load_dataset call"


def _feeders(stmts, chain: list[tuple[int, int]]) -> list[tuple[tuple[int, int], ast.stmt]]:
    """The statements followed to the load, and the top-level assignments of the names they read
    (two levels: ``keep = pd.to_numeric(...)`` read by ``df = df.iloc[np.where(keep)[0]]``)."""
    at = {(c, p): st for c, p, st in stmts}
    picked = {w: at[w] for w in chain if w in at}
    frontier = list(picked)
    for _ in range(2):
        nxt = []
        for w in frontier:
            for n in _live(picked[w]):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                    hit = _last_assignment(stmts, n.id, w)
                    if hit and hit[1] not in picked:
                        picked[hit[1]] = at[hit[1]]
                        nxt.append(hit[1])
        frontier = nxt
    return sorted(picked.items(), key=lambda kv: kv[0])


def _sft_config(stmts, node: ast.AST | None, where: tuple[int, int]):
    """(the config call or None, its position, the learning rate it defaults to, its name)."""
    if node is None:  # TRL makes SFTConfig() itself
        return None, where, TRL_SFT_LR, "SFTConfig"
    if isinstance(node, ast.Name):
        hit = _last_assignment(stmts, node.id, where)
        if not hit:
            return None
        node, where = hit
    if isinstance(node, ast.Call) and call_name(node) == "SFTConfig":
        return node, where, TRL_SFT_LR, "SFTConfig"
    if isinstance(node, ast.Call) and call_name(node) in ("TrainingArguments", "UnslothTrainingArguments"):
        return node, where, HF_LR, call_name(node)
    return None


def _counts_tokens(node: ast.AST) -> bool:
    """``len(tokenizer.apply_chat_template(m))``: the token count (not ``tokenize=False``'s characters, not
    ``return_dict=True``'s keys)."""
    if not (isinstance(node, ast.Call) and call_name(node) == "len" and isinstance(node.func, ast.Name)
            and len(node.args) == 1 and isinstance(node.args[0], ast.Call)
            and call_name(node.args[0]) == "apply_chat_template"):
        return False
    kws = {k.arg: k.value for k in node.args[0].keywords}
    for k, ok in (("tokenize", True), ("return_dict", False)):
        if k in kws and not (isinstance(kws[k], ast.Constant) and kws[k].value is ok):
            return False
    return True


def _length_cap(between, feeders, env: Env) -> tuple[tuple[int | None, int, str] | None, tuple[int, str] | None]:
    """``df.loc[df["N"] <= max_seq_length / 2]`` where ``df["N"]`` is the token count of each row's chat
    text (``len(tokenizer.apply_chat_template(...))``), or a name bound to it (``L = df["N"]``): the cap
    (None: computed), its cell and how it was written; and a lower bound beside it (``df["N"] > 10``),
    its cell and how it was written -- the warm start has none, so that one is only said."""
    counted: set[str] = set()  # columns of token counts
    names: set[str] = set()  # names bound to such a column, or to the counts themselves

    def counts(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in names
        return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                and node.slice.value in counted)

    for _, st in between:
        if not (isinstance(st, ast.Assign) and len(st.targets) == 1):
            continue
        v = st.value
        computed = _counts_tokens(v) or (isinstance(v, ast.Call) and call_name(v) in ("apply", "map") and v.args
                                         and isinstance(v.args[0], ast.Lambda) and _counts_tokens(v.args[0].body))
        target = st.targets[0]
        if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) and computed:
            counted.add(target.slice.value)
        elif isinstance(target, ast.Name):
            (names.add if computed or counts(v) else names.discard)(target.id)
    flip = {ast.GtE: ast.LtE, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.Lt: ast.Gt}
    cap = low = None
    for w, st in feeders:
        for n in _live(st):
            if not isinstance(n, ast.Compare):
                continue
            sides = [n.left, *n.comparators]  # 10 < df["N"] <= 1024 is two tests
            for left, op, right in zip(sides, n.ops, sides[1:]):
                if type(op) not in flip or counts(left) == counts(right):
                    continue
                if counts(right):  # 1024 >= df["N"] is df["N"] <= 1024
                    left, op, right = right, flip[type(op)](), left
                pair = ast.Compare(left=left, ops=[op], comparators=[right])
                if isinstance(op, (ast.Gt, ast.GtE)):
                    low = low or (w[0], ast.unparse(pair))
                    continue
                if cap is not None:
                    continue
                v = env.value(right, w)
                if v is MISSING or not isinstance(v, (int, float)) or isinstance(v, bool) or v < 1:
                    v = None  # computed: said
                elif isinstance(op, ast.Lt) and float(v).is_integer():
                    v = int(v) - 1
                cap = (None if v is None else int(v)), w[0], ast.unparse(pair)
    return cap, low
