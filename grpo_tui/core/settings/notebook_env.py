"""What a notebook's top level knows of its names as it runs (`grpo-tui import`, read with ``ast``).

One evaluator for every value the importer reads: ``Env`` is replayed statement by statement in
notebook order, keeping each name's literal value (or why it has none); every change is kept with the
position of the statement that made it, so a value can be read as the notebook had it at any statement
(``Env.value(node, where)``): an SFT cell's ``lr`` may be set again later for GRPO.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

MISSING = object()  # not a literal here
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
Where = tuple[int, int]  # (cell number, statement index in the cell)


def _too_big(op: ast.operator, left: Any, right: Any) -> bool:
    """A power or a repetition whose result no setting could be (and that takes long to compute)."""
    if isinstance(op, ast.Pow) and isinstance(right, int) and isinstance(left, int):
        return abs(right) > 10_000 and abs(left) > 1
    if isinstance(op, ast.Mult):
        seq, n = (left, right) if isinstance(left, (str, list)) else (right, left)
        return isinstance(seq, (str, list)) and isinstance(n, int) and len(seq) * n > 1_000_000
    return False


class Unresolved(Exception):
    """A value that is not a literal (or arithmetic over literals)."""


def bound_names(stmt: ast.AST) -> set[str]:
    """Module-level names a top-level statement binds (not those of a function body or comprehension)."""
    names: set[str] = set()
    todo = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        todo.extend(ast.iter_child_nodes(node))
    return names


def _walrus(stmt: ast.AST) -> list[str]:
    """Names an assignment expression binds at module level (``print(n := len(ds))``; inside a
    comprehension too, as Python scopes them; not inside a function or lambda, nor in ``if False:``)."""
    names, todo = [], [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Constant):  # if False: never runs
            todo.extend(node.body if node.test.value else node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return names


class Env:
    """Literal module-level assignments, in notebook order, each change kept with its statement's place."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.unresolved: dict[str, str] = {}
        self.cells: dict[str, int] = {}  # name -> the cell of its last assignment
        self._where: Where = (0, 0)  # the statement being replayed
        self._log: dict[str, list[tuple[Where, Any, str, int]]] = {}  # name -> (where, value or MISSING, why, cell)
        self._before: dict[Where, Env] = {}

    # -- reading ---------------------------------------------------------------------------------
    def eval(self, node: ast.AST) -> Any:
        try:
            return self._eval(node)
        except (TypeError, ValueError, ArithmeticError):  # "a" < 1, 1 / 0, {[]: 1}: Python would raise there
            raise Unresolved(ast.unparse(node)) from None

    def _eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            value = self.eval(node.operand)
            return -value if isinstance(node.op, ast.USub) else not value
        if isinstance(node, ast.BoolOp):  # USE_SFT and not SKIP: Python's value, read only as far as it runs
            for v in node.values[:-1]:
                value = self.eval(v)
                if bool(value) != isinstance(node.op, ast.And):
                    return value
            return self.eval(node.values[-1])
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):  # MODE == "sft"
            left = self.eval(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = self.eval(right_node)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = self.eval(node.left), self.eval(node.right)
            if _too_big(node.op, left, right):  # 9 ** 9 ** 9, "=" * 10 ** 12: the import would hang on it
                raise Unresolved(ast.unparse(node))
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.JoinedStr):  # f"...{reasoning_start}..." over literal names
            return "".join(str(self.eval(v.value)) if isinstance(v, ast.FormattedValue) else str(v.value)
                           for v in node.values)
        if isinstance(node, ast.Name):
            if node.id in self.values:
                return self.values[node.id]
            raise Unresolved(self.unresolved.get(node.id, node.id))
        raise Unresolved(ast.unparse(node))

    def value(self, node: ast.AST | None, where: Where | None = None) -> Any:
        """``node``'s value, or MISSING when it is not a literal: as things stand now, or as the notebook
        has them just before the statement at ``where`` runs."""
        if node is None:
            return MISSING
        try:
            return (self if where is None else self.before(where)).eval(node)
        except Unresolved:
            return MISSING

    def before(self, where: Where) -> Env:
        """The names as they were just before the statement at ``where`` (its own changes not yet made)."""
        if where not in self._before:
            env = Env()
            for name, changes in self._log.items():
                last = None
                for change in changes:
                    if change[0] >= where:
                        break
                    last = change
                if last is not None:
                    env._put(name, last[1], last[2], last[3])
            self._before[where] = env
        return self._before[where]

    # -- replaying -------------------------------------------------------------------------------
    def _put(self, name: str, value: Any, why: str, cell: int) -> None:
        self.cells[name] = cell
        if value is MISSING:
            self.values.pop(name, None)
            self.unresolved[name] = why
        else:
            self.values[name] = value
            self.unresolved.pop(name, None)
        self._log.setdefault(name, []).append((self._where, value, why, cell))
        self._before.clear()

    def bind(self, name: str, value: Any, cell: int) -> None:
        """``name`` has ``value`` from the statement being replayed on (e.g. read from the cell's output)."""
        self._put(name, value, "", cell)

    def _forget(self, names, cell: int, stmt: ast.stmt) -> None:
        """Names bound other than by a literal assignment: no literal value from here on -- a tag the
        notebook picks in a loop over the tokenizer is not the None it was set to before."""
        head = ast.unparse(stmt).splitlines()[0][:70]
        for name in dict.fromkeys(names):
            if name in self.values or name in self.unresolved:
                self._put(name, MISSING, f"{name}: set at run time in cell {cell} ({head})", cell)

    def assign(self, stmt: ast.stmt, cell: int = 0, pos: int = 0) -> None:
        """Replay one top-level statement (statement ``pos`` of cell ``cell``)."""
        self._where = (cell, pos)
        self._assign(stmt, cell)
        self._forget(_walrus(stmt), cell, stmt)  # (n := ...) inside it

    def _assign(self, stmt: ast.stmt, cell: int) -> None:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            try:
                self._put(name, self.eval(stmt.value), "", cell)
            except Unresolved:
                self._put(name, MISSING, f"{name} = {ast.unparse(stmt.value)}", cell)
            return
        if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):  # a = b = 3
            for t in stmt.targets:
                self._assign(ast.Assign(targets=[t], value=stmt.value), cell)
            return
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], (ast.Tuple, ast.List))
                and isinstance(stmt.value, (ast.Tuple, ast.List)) and len(stmt.value.elts) == len(stmt.targets[0].elts)
                and all(isinstance(t, ast.Name) for t in stmt.targets[0].elts)
                and not any(isinstance(e, ast.Starred) for e in stmt.value.elts)):  # a, b = 16, 0
            values = {}
            for t, v in zip(stmt.targets[0].elts, stmt.value.elts):  # all read before any is bound, as Python does
                try:
                    values[t.id] = self.eval(v)
                except Unresolved:
                    values[t.id] = MISSING
            for name, v in values.items():
                self._put(name, v, f"{name}: set at run time in cell {cell} ({ast.unparse(stmt)[:70]})", cell)
            return
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            self._assign(ast.Assign(targets=[stmt.target], value=stmt.value), cell)  # max_steps: int = 100
            return
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):  # lora_rank *= 2
            name = stmt.target.id
            self._assign(ast.Assign(targets=[ast.Name(name, ast.Store())],
                                    value=ast.BinOp(ast.Name(name, ast.Load()), stmt.op, stmt.value)), cell)
            return
        if isinstance(stmt, ast.If):  # if False: never runs; if USE_SFT: (True before it) does
            try:
                test = self.eval(stmt.test)
            except Unresolved:
                test = MISSING
            if test is not MISSING:
                for s in stmt.body if test else stmt.orelse:
                    self._assign(s, cell)
                return
        if isinstance(stmt, (ast.Expr, ast.Pass, ast.Assert, ast.Global, ast.Nonlocal, ast.Delete)):
            return
        # any other binding (a, b = f(), a loop, with, try, an import, a def): no literal value from here on
        self._forget(sorted(bound_names(stmt)), cell, stmt)
