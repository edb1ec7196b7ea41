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
does differently (a constant rate, no warm-up, no weight decay, AdamW in 32-bit) is listed as not
carried.
"""

from __future__ import annotations

import ast
from typing import Any, Callable

from .notebook_dataset import MISSING, DatasetTrace, _last_assignment, _name, _statements

# Steps between the load and the SFTTrainer that keep the rows' source (datasets and pandas).
_KEEPS_SOURCE = {"map", "filter", "select", "shuffle", "remove_columns", "rename_column", "rename_columns",
                 "select_columns", "cast_column", "train_test_split", "flatten", "sort", "with_format",
                 "to_pandas", "copy", "reset_index", "dropna", "head", "sample"}
_FROM_ROWS = {"from_pandas", "from_list", "from_dict"}
TRL_SFT_LR = 2e-5  # trl 1.15 SFTConfig.learning_rate default
TRL_EPOCHS = 3.0  # transformers TrainingArguments.num_train_epochs default
_NOT_CARRIED = {"warmup_steps": "no warm-up", "warmup_ratio": "no warm-up", "lr_scheduler_type": "a constant rate",
                "weight_decay": "no weight decay", "optim": "AdamW in 32-bit"}


def sft_stage(cells: list[Any], literal: Callable[[ast.AST], Any], sft_cells: list[int]) -> DatasetTrace:
    out = DatasetTrace()
    stmts = _statements(cells)
    for cell_no in sft_cells[-1:]:  # the last SFT stage before GRPO, as the notebook runs it
        call = next((n for c, _, st in stmts if c == cell_no for n in ast.walk(st)
                     if isinstance(n, ast.Call) and _name(n) == "SFTTrainer"), None)
        if call is None:
            continue
        why = _carry(out, stmts, literal, call, cell_no)
        if why:
            out.settings = [s for s in out.settings if not s[0].startswith("warmstart_")]
            out.not_carried.append(
                f"SFT stage (cell {cell_no}, SFTTrainer): the notebook fine-tunes the format with SFT before GRPO; "
                f"not carried ({why}) -- the preset trains GRPO only, from the base model. grpo-tui's own format "
                "warm start (--set warmstart_steps=N, warmstart_dataset=...) does that stage from rows with a "
                "worked solution")
    return out


def _carry(out: DatasetTrace, stmts, literal, call: ast.Call, cell_no: int) -> str:
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    if "train_dataset" not in kw:
        return "no train_dataset"
    pos = next((c, p) for c, p, st in stmts if c == cell_no and any(n is call for n in ast.walk(st)))
    found = _load_call(stmts, kw["train_dataset"], pos)
    if found is None:
        return f"train_dataset = {ast.unparse(kw['train_dataset'])[:60]} is not traced back to a load_dataset call"
    load, load_cell = found
    args = [literal(a) for a in load.args]
    if not args or not isinstance(args[0], str):
        return f"its load_dataset arguments are computed ({ast.unparse(load)[:60]})"
    out.settings.append(("warmstart_dataset", args[0], load_cell, "load_dataset", ast.unparse(load.args[0])))
    if len(args) > 1 and isinstance(args[1], str):
        out.settings.append(("warmstart_dataset_config", args[1], load_cell, "load_dataset",
                             ast.unparse(load.args[1])))
    split = next((literal(k.value) for k in load.keywords if k.arg == "split"), "train")
    out.settings.append(("warmstart_dataset_split", split if isinstance(split, str) else "train", load_cell,
                         "load_dataset", f"split = {split!r}"))
    cfg = _sft_config(stmts, kw.get("args"), pos)
    if cfg is None:
        return "its SFTConfig is not a call written in the notebook"
    conf, conf_cell = cfg
    ckw = {k.arg: k.value for k in conf.keywords if k.arg}
    value = {k: literal(v) for k, v in ckw.items()}
    batch = value.get("per_device_train_batch_size", 8)
    accum = value.get("gradient_accumulation_steps", 1)
    if not (isinstance(batch, int) and isinstance(accum, int)) or batch < 1 or accum < 1:
        return "its batch size is computed"
    out.settings.append(("warmstart_batch_size", batch * accum, conf_cell, "SFTConfig",
                         f"per_device_train_batch_size {batch} x gradient_accumulation_steps {accum}"))
    lr = value.get("learning_rate", TRL_SFT_LR)
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        return "its learning rate is computed"
    out.settings.append(("warmstart_learning_rate", float(lr), conf_cell, "SFTConfig",
                         f"learning_rate = {ast.unparse(ckw['learning_rate'])}" if "learning_rate" in ckw
                         else f"learning_rate: TRL's default {lr:g}"))
    steps = value.get("max_steps", -1)
    if isinstance(steps, int) and steps > 0:
        out.settings.append(("warmstart_steps", steps, conf_cell, "SFTConfig", f"max_steps = {ast.unparse(ckw['max_steps'])}"))
    else:
        epochs = value.get("num_train_epochs", TRL_EPOCHS)
        if not isinstance(epochs, (int, float)) or epochs <= 0:
            return "its num_train_epochs is computed"
        out.settings.append(("warmstart_steps", 0, conf_cell, "SFTConfig", "no max_steps: epochs count"))
        out.settings.append(("warmstart_epochs", float(epochs), conf_cell, "SFTConfig",
                             f"num_train_epochs = {ast.unparse(ckw['num_train_epochs'])}" if "num_train_epochs" in ckw
                             else f"num_train_epochs: the default {TRL_EPOCHS:g}"))
    between = [(c, st) for c, p, st in stmts if (load_cell, -1) < (c, p) < pos]
    numeric = next((c for c, st in between for n in ast.walk(st)
                    if isinstance(n, ast.Call) and _name(n) == "to_numeric"), None)
    if numeric is not None:
        out.settings.append(("warmstart_numeric_answers", True, numeric, "filter",
                             "pd.to_numeric(...) keeps the rows whose answer is a number"))
    cap = _length_cap(between, literal)
    if cap is not None:
        out.settings.append(("warmstart_max_tokens", cap[0], cap[1], "filter", f"keeps {cap[2]} (tokens of the chat text)"))
    skipped = sorted(k for k in ckw if k in _NOT_CARRIED)
    if skipped:
        out.not_carried.append(f"SFT stage (cell {conf_cell}, SFTConfig): {', '.join(skipped)} -- the warm start uses "
                               f"{', '.join(dict.fromkeys(_NOT_CARRIED[k] for k in skipped))}")
    out.notes.append(f"SFT stage (cell {cell_no}, SFTTrainer) carried as the format warm start: the rows of "
                     f"{args[0]} written as the notebook's tags around the worked solution and the answer, after "
                     "its system prompt, training the LoRA adapter GRPO then goes on with")
    return ""


def _load_call(stmts, node: ast.AST, where: tuple[int, int]) -> tuple[ast.Call, int] | None:
    """Follow the SFT rows back to their load_dataset call, through datasets' and pandas' steps."""
    cur = node
    for _ in range(60):
        if isinstance(cur, ast.Name):
            hit = _last_assignment(stmts, cur.id, where)
            if hit is None:
                return None
            cur, where = hit
        elif isinstance(cur, ast.Subscript):  # df[[cols]], df.iloc[...], ds["train"]
            cur = cur.value
        elif isinstance(cur, ast.Attribute) and cur.attr in ("iloc", "loc"):
            cur = cur.value
        elif isinstance(cur, ast.Call) and _name(cur) == "load_dataset":
            return cur, where[0]
        elif isinstance(cur, ast.Call) and _name(cur) in _FROM_ROWS and cur.args:
            cur = cur.args[0]
        elif isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute) and _name(cur) in _KEEPS_SOURCE:
            cur = cur.func.value
        else:
            return None
    return None


def _sft_config(stmts, node: ast.AST | None, where: tuple[int, int]) -> tuple[ast.Call, int] | None:
    if isinstance(node, ast.Call) and _name(node) == "SFTConfig":
        return node, where[0]
    if isinstance(node, ast.Name):
        hit = _last_assignment(stmts, node.id, where)
        if hit and isinstance(hit[0], ast.Call) and _name(hit[0]) == "SFTConfig":
            return hit[0], hit[1][0]
    return None


def _length_cap(between, literal) -> tuple[int, int, str] | None:
    """``df.loc[df["N"] <= max_seq_length / 2]`` where ``df["N"]`` is the token count of each row's chat
    text (``len(tokenizer.apply_chat_template(...))``): the cap, its cell and how it was written."""
    counted = set()
    for _, st in between:
        if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Subscript):
            text = ast.unparse(st.value)
            col = st.targets[0].slice
            if "apply_chat_template" in text and "len(" in text and isinstance(col, ast.Constant):
                counted.add(col.value)
    for c, st in between:
        for n in ast.walk(st):
            if (isinstance(n, ast.Compare) and len(n.ops) == 1 and isinstance(n.ops[0], (ast.LtE, ast.Lt))
                    and isinstance(n.left, ast.Subscript) and isinstance(n.left.slice, ast.Constant)
                    and n.left.slice.value in counted):
                v = literal(n.comparators[0])
                if v is MISSING or not isinstance(v, (int, float)) or isinstance(v, bool) or v < 1:
                    return None
                cap = int(v) - (1 if isinstance(n.ops[0], ast.Lt) and float(v).is_integer() else 0)
                return cap, c, ast.unparse(n)
    return None
