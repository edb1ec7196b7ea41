"""Imports renamed with ``as`` (``from trl import SFTTrainer as T``), undone before a notebook is read.

The importer finds the training stack's calls by name (``GRPOConfig``, ``SFTTrainer``, ``load_dataset``,
``FastLanguageModel.from_pretrained``...); under another name a call would be passed over without a word.
So each ``from <stack module> import A as B`` is read as ``from ... import A``, and every ``B`` as ``A`` --
unless the notebook binds ``A`` itself (``class GRPOTrainer(Base)``), where the two must stay apart.
"""

from __future__ import annotations

import ast

from .notebook_env import bound_names

STACK = ("unsloth", "trl", "datasets", "transformers", "peft", "vllm")


def unalias(trees: list[ast.Module]) -> dict[str, str]:
    """Rename the stack's aliased imports back in ``trees`` (in place); the renames made, alias -> name."""
    aliases: dict[str, set[str]] = {}
    imports: list[ast.alias] = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in STACK:
                for a in node.names:
                    if a.asname and a.asname != a.name and a.name != "*":
                        aliases.setdefault(a.asname, set()).add(a.name)
                        imports.append(a)
    if not aliases:
        return {}
    own = {n for tree in trees for stmt in tree.body if not isinstance(stmt, (ast.Import, ast.ImportFrom))
           for n in bound_names(stmt)}
    # one alias for two names (C for SFTConfig, later for GRPOConfig), or a name the notebook binds itself
    renames = {b: next(iter(a)) for b, a in aliases.items() if len(a) == 1 and not a & own}
    for a in imports:
        if a.asname in renames:
            a.asname = None
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in renames:
                node.id = renames[node.id]
    return renames
