"""`if` and the join after it (a mixin of the `Lowerer` in `statements`).

Input: a bool condition and two callbacks that lower each side into the current environment.
Output: an IF instruction whose results are the phi nodes of the join, and the environment
after it. Names bound differently on the two sides become IF results (widened to a common
type); a name bound on one side only gets a placeholder on the other (Python would raise if it
were read there). A condition known at compile time lowers only the side it selects.
"""
from __future__ import annotations

import ast
from typing import Any, Callable

from coarsen.frontend.bindings import (Conflict, ListItems, MaybeBound, Method, Static, describe, freeze, holders,
                                      leaves, lists_in, map_leaves, same_structure)
from coarsen.ir.nodes import Op, Region, Value
from coarsen.ir.types import Type, join

FLAGS = ("$ret", "$brk", "$cont")
_MISSING = object()


class BranchLowering:
    def lower_if(self, cond: Value, then: Callable[[], None], otherwise: Callable[[], None],
                 node: ast.AST | None) -> None:
        constant = self.constant_of(cond)
        if constant is not None:   # a branch decided at compile time leaves no IF behind
            (then if constant else otherwise)()
            return
        before = self.env
        branches = []
        for build in (then, otherwise):
            with self.b.region() as block:
                self.env = dict(before)
                build()
                branches.append((block, self.env))
        self.env = self.join(cond, branches, node)

    def join(self, cond: Value, branches, node: ast.AST | None) -> dict[str, Any]:
        """Merge two branch environments into the environment after an IF."""
        (block_t, env_t), (block_e, env_e) = branches
        merged: dict[str, Any] = {}
        pairs: list[tuple[Value, Value, Type, str]] = []
        plans: dict[str, Any] = {}
        for name in dict.fromkeys([*env_t, *env_e]):
            a, c = env_t.get(name, _MISSING), env_e.get(name, _MISSING)
            if a is c:
                merged[name] = a
                continue
            if isinstance(a, Conflict) or isinstance(c, Conflict):
                merged[name] = a if isinstance(a, Conflict) else c
                continue
            if a is _MISSING or c is _MISSING:
                present = c if a is _MISSING else a
                if isinstance(present, (Static, Method)):
                    merged[name] = present
                    continue
                block = block_t if a is _MISSING else block_e
                if not name.startswith("$") and not isinstance(present, (Value, MaybeBound)):
                    merged[name] = Conflict(   # a list, tuple or dict: Python structure, no flag
                        f"`{name}` is bound on one path only into here (the branch at line "
                        f"{self.src.loc(node).lineno if node is not None else '?'})",
                        "bind it before the branch too")
                    continue
                with self.b.reopen(block):
                    if name.startswith("$"):   # the return value and flags: read where bound only
                        filler = self.false_or_placeholder(name, present)
                    else:   # a user's name: reading it checks that it is bound (MaybeBound)
                        inner = present.value if isinstance(present, MaybeBound) else present
                        filler = MaybeBound(self.false_or_placeholder(name, inner), self.b.const(False))
                a, c = (filler, c) if a is _MISSING else (a, filler)
            if isinstance(a, MaybeBound) != isinstance(c, MaybeBound) \
                    and isinstance(a, (Value, MaybeBound)) and isinstance(c, (Value, MaybeBound)):
                with self.b.reopen(block_e if isinstance(a, MaybeBound) else block_t):   # bound there
                    a, c = (a, MaybeBound(c, self.b.const(True))) if isinstance(a, MaybeBound) \
                        else (MaybeBound(a, self.b.const(True)), c)
            if (isinstance(a, (Static, Method)) or isinstance(c, (Static, Method))) and a == c:
                merged[name] = a
                continue
            problem = self._conflict(name, a, c, node)
            if problem is not None:
                if name.startswith("$"):   # a return value or an expression's value: used right away
                    self.type_error(*problem)
                merged[name] = Conflict(problem[0], problem[2])   # an error only if it is read
                continue
            plans[name] = self._plan_pairs(name, a, c, pairs, node, cond, env_t, env_e)
        results = self._emit_if(cond, block_t, block_e, pairs, node)
        for name, plan in plans.items():
            merged[name] = _resolve(plan, results)
        # a list another name held on one side only (`k = m` in one branch, `k = m if c else
        # [...]`) is joined apart from that name: it can no longer be changed through either
        # (`SharedList`)
        shared = {id(x) for name in plans if name != "$rv" for env in (env_t, env_e)
                  for x in lists_in(env.get(name)) if holders(env, x, True) > 1}
        if shared:
            merged = {name: freeze(b, shared) for name, b in merged.items()}
        return merged

    def _conflict(self, name: str, a: Any, c: Any, node) -> tuple[str, Any, str] | None:
        """(message, node, hint) if the two sides' bindings of `name` have no common type."""
        shown = name.lstrip("$").split("@")[0]
        shown = {"rv": "the return value", "value": "the expression's value"}.get(shown, f"`{shown}`")
        where = f" (after the branch at line {self.src.loc(node).lineno})" if node is not None else ""
        hint = "give the variable the same kind of value on every path (an array: np.zeros(...))"
        if isinstance(a, (Static, Method)) or isinstance(c, (Static, Method)) or not same_structure(a, c):
            if any(callable(getattr(b, "obj", None)) or hasattr(getattr(b, "obj", b), "describe") for b in (a, c)):
                hint = "call each function on its own path (an if around the calls), or call both and choose with np.where"
            return f"{shown} is {describe(a)} on one path and {describe(c)} on the other{where}", node, hint
        for x, y in zip(leaves(a), leaves(c)):
            if join(x.type, y.type) is None:
                return f"{shown} is {describe(x)} on one path and {describe(y)} on the other{where}", node, hint
            if not x.type.rank and not y.type.rank and x.type.dtype != y.type.dtype and any(
                    "i64" in self.numpy_dtypes(v) and join(x.type, y.type).dtype == "f64" for v in (x, y)):
                # a NumPy int64 joined with a float: float64 after the join, where NumPy's int64
                # wraps and divides by zero to 0 on the path that kept it
                return (f"{shown} is {describe(x)} on one path and {describe(y)} on the other{where}, a "
                        "NumPy int64 on one of them: one float64 would change what it computes there", node,
                        "convert on both paths (float(k))")
            if x.type.rank and y.type.rank and x.type.dtype != y.type.dtype:
                # arrays of two dtypes: a mask indexes by selection, an int array by position, and
                # int64 wraps where float64 does not; one joined dtype would be wrong on one path
                return (f"{shown} is {describe(x)} on one path and {describe(y)} on the other{where}: one "
                        "dtype would change what it means on one of them", node,
                        "convert on both paths (m.astype(int) on each, or .astype(float))")
        return None

    def _plan_pairs(self, name, a, c, pairs, node, cond: Value, env_t: dict, env_e: dict):
        def pair(x: Any, y: Any) -> Any:
            if x is y:   # (a list both sides hold stays that list: its other holders still see it)
                return x
            if isinstance(x, Value):
                return plan(x, y)
            if isinstance(x, MaybeBound):
                return MaybeBound(pair(x.value, y.value), pair(x.flag, y.flag))
            if isinstance(x, tuple):
                items = tuple(pair(u, v) for u, v in zip(x, y))
                # a list each side holds in one place only (written on one side) is still a
                # list; otherwise a tuple, whose items cannot be written (the other holders
                # would be joined apart)
                unique = isinstance(x, ListItems) and isinstance(y, ListItems) \
                    and holders(env_t, x, True) == 1 and holders(env_e, y, True) == 1
                return ListItems(items) if unique else items
            if isinstance(x, dict):
                return {k: pair(x[k], y[k]) for k in x}
            return x

        def plan(x: Value, y: Value) -> Any:
            if x.id == y.id:
                return x
            cx, cy = self.constant_of(x), self.constant_of(y)
            if cx is not None and cx == cy and type(cx) is type(cy):
                return self.b.const(cx)
            if type(cx) is bool and type(cy) is bool:   # flags: `if c then True else False` is c
                return cond if cx else self.b.emit(Op.NOT, (cond,))
            t = join(x.type, y.type)   # not None: `_conflict` checked
            pairs.append((x, y, t, name.lstrip("$").split("@")[0]))
            return _Slot(len(pairs) - 1, name)
        return pair(a, c)

    def _emit_if(self, cond, block_t, block_e, pairs, node) -> list[Value]:
        if not pairs and not any(i.op is Op.CHECK for block in (block_t, block_e) for i in walk_instrs(block)):
            return []   # no results: every op is pure but a run-time check, so the whole IF is dead
        yields_t, yields_e = [], []
        if any(p[2].dtype == "f64" and p[0].type.dtype != p[1].type.dtype for p in pairs):
            self.ctx.widened_joins += 1
        for block, side, out in ((block_t, 0, yields_t), (block_e, 1, yields_e)):
            with self.b.reopen(block):
                for pair in pairs:
                    out.append(self.cast_to(pair[side], pair[2]))
        regions = (Region((), tuple(block_t), tuple(yields_t)), Region((), tuple(block_e), tuple(yields_e)))
        hints = [p[3] for p in pairs]
        results = self.b.emit_control(Op.IF, (cond,), [p[2] for p in pairs], regions,
                                      self.src.loc(node), hints)
        for yt, ye, r in zip(yields_t, yields_e, results):
            self.ctx.aliases.same(r, yt, ye)   # the join may be either side's array
        for (x, y, _t, _name), r in zip(pairs, results):
            if not r.type.rank:
                self.mark_joined(r, (x, y))   # a NumPy scalar on both paths, or on one (`mixed_scalars`)
        return list(results)

    def false_or_placeholder(self, name: str, like: Any) -> Any:
        """A value for a name bound on one side of a join only (never read on the other)."""
        if name in FLAGS:
            return self.b.const(False)

        def dummy(v: Value) -> Value:
            if v.type.rank == 0:
                return self.b.const({"f64": 0.0, "i64": 0, "bool": False}[v.type.dtype])
            zero = self.b.const(0)
            return self.ctx.aliases.fresh(self.b.emit(Op.ZEROS, (zero,) * v.type.rank))
        return map_leaves(like, dummy)

    def cast_to(self, value: Value, type: Type) -> Value:
        if value.type == type:
            return value
        out = self.b.emit(Op.CAST, (value,), {"dtype": type.dtype})
        if not out.type.rank:
            self.mark_scalar(out, (value,))   # a NumPy scalar stays one (np.argmax's index)
        return self.ctx.aliases.fresh(out)

    def convert(self, value: Value, dtype: str, node: ast.AST | None) -> Value:
        """A conversion the program asks for (`float(n)`, `x.astype(float)`): `explicit`, so
        that it is computed where it stands (`segments`: an int read as float64 from here on;
        an implicit cast, one an f64-only op needs, leaves NumPy's integer arithmetic alone)."""
        if value.type.dtype == dtype:
            return self.emit(Op.COPY, (value,), node) if value.type.rank else value
        out = self.b.emit(Op.CAST, (value,), {"dtype": dtype, "explicit": True}, self.src.loc(node))
        return self.ctx.aliases.fresh(out) if out.type.rank else out


def _resolve(plan: Any, results: list[Value]) -> Any:
    if isinstance(plan, _Slot):
        return results[plan.id]
    if isinstance(plan, MaybeBound):
        return MaybeBound(_resolve(plan.value, results), _resolve(plan.flag, results))
    if isinstance(plan, tuple):
        items = tuple(_resolve(p, results) for p in plan)
        return plan if all(a is b for a, b in zip(items, plan)) else type(plan)(items) \
            if isinstance(plan, ListItems) else items
    if isinstance(plan, dict):
        return {k: _resolve(p, results) for k, p in plan.items()}
    return plan


class _Slot:
    """A placeholder for an IF result while the join is being planned."""

    __slots__ = ("id", "name")

    def __init__(self, id: int, name: str) -> None:
        self.id = id
        self.name = name


def walk_instrs(instrs):
    """The instructions of a block, nested regions included."""
    for instr in instrs:
        yield instr
        for sub in instr.regions:
            yield from walk_instrs(sub.instrs)
