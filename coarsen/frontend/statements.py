"""Statements -> structured SSA.

Input: the AST of one function body and bindings for its parameters. Output: instructions
appended to the builder's current block, and the binding of the returned value.

How control flow is lowered:
- `if` builds two regions from copies of the environment; names bound differently on the two
  sides become results of the IF (the phi nodes of the join). A name bound on one side only
  gets a placeholder on the other (Python would raise there; the value is never read).
- `return`, `break`, `continue` set flags (`$ret`, `$brk`, `$cont`, value in `$rv`); the rest of
  a statement list after a statement that may have set one runs under `if not flags`. Loops
  test `$brk`/`$ret` in their condition, so every region keeps a single exit.
- `for i in range(...)` becomes FOR (or WHILE with a counter when the body can break or
  return); `while` becomes WHILE. Names the body assigns that exist before the loop are
  carried (loop-header phis). A carried value whose type widens in the body (int -> float)
  makes the body be lowered again with the wider type.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable

from coarsen.errors import CoarsenTypeError, UnsupportedError
from coarsen.frontend.bindings import Method, Static, describe, leaves, map_leaves, same_structure
from coarsen.frontend.expressions import ExpressionLowering
from coarsen.frontend.scope import assigned_names, contains
from coarsen.frontend.source import SourceInfo
from coarsen.ir.builder import Builder
from coarsen.ir.nodes import Instr, Op, Region, Value
from coarsen.ir.types import BOOL, I64, Type, join

FLAGS = ("$ret", "$brk", "$cont")
_MISSING = object()

_UNSUPPORTED_STMTS: dict[type, tuple[str, str]] = {
    ast.Try: ("try/except", "check the condition with if/else instead"),
    ast.With: ("with statements", "move the context manager outside the compiled function"),
    ast.Raise: ("raise", "validate inputs before calling the compiled function"),
    ast.Global: ("global statements", "pass the value in as an argument and return the result"),
    ast.Nonlocal: ("nonlocal statements", "pass the value in as an argument and return the result"),
    ast.FunctionDef: ("nested function definitions", "define the helper at module level; calls to it are inlined"),
    ast.AsyncFunctionDef: ("async functions", "use a plain def"),
    ast.ClassDef: ("class definitions", "define classes outside; pass arrays and numbers in"),
    ast.Delete: ("del", "just stop using the name"),
    ast.Assert: ("assert", "check preconditions outside the compiled function"),
    ast.Import: ("imports inside the function", "import at module level"),
    ast.ImportFrom: ("imports inside the function", "import at module level"),
    ast.AsyncFor: ("async for", "use for i in range(...)"),
    ast.AsyncWith: ("async with", "move it outside the compiled function"),
    ast.Match: ("match statements", "use if/elif/else"),
}
if hasattr(ast, "TryStar"):
    _UNSUPPORTED_STMTS[ast.TryStar] = _UNSUPPORTED_STMTS[ast.Try]


@dataclass
class TraceContext:
    """State shared by a function and every function inlined into it."""

    builder: Builder
    owned: set[int] = field(default_factory=set)        # arrays created here: writable
    views: dict[int, int] = field(default_factory=dict)  # view value id -> base array id
    call_stack: list[Any] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # value id -> variable it was bound to
    inlined: list[Any] = field(default_factory=list)     # functions inlined, for cache keys


class Lowerer(ExpressionLowering):
    def __init__(self, src: SourceInfo, ctx: TraceContext) -> None:
        self.src = src
        self.ctx = ctx
        self.b = ctx.builder
        self.env: dict[str, Any] = {}

    # ------------------------------------------------------------------ errors
    def unsupported(self, what: str, node: ast.AST | None, hint: str | None = None):
        raise UnsupportedError(what, self.src.loc(node), hint)

    def type_error(self, what: str, node: ast.AST | None, hint: str | None = None):
        raise CoarsenTypeError(what, self.src.loc(node), hint)

    # ------------------------------------------------------------------ function
    def lower_function(self, args: dict[str, Any]) -> Any:
        self.env.update(args)
        node = self.src.node
        self.lower_body(node.body)
        if self.constant_of(self.env.get("$ret")) is not True:
            if "$rv" not in self.env:
                self.unsupported(f"{node.name} does not return a value", node,
                                 "end the function with `return <expression>`")
            self.unsupported(f"{node.name} may reach its end without returning a value", node,
                             "make every path end in a return statement")
        return self.env["$rv"]

    # ------------------------------------------------------------------ statement lists
    def lower_body(self, stmts: list[ast.stmt]) -> None:
        for k, stmt in enumerate(stmts):
            self.lower_stmt(stmt)
            exiting = self.exit_condition()
            if exiting is True:
                return   # the rest is dead code
            if exiting is not None:
                rest = stmts[k + 1:]
                if rest:
                    self.lower_guarded(exiting, rest)
                return

    def exit_condition(self) -> Value | bool | None:
        """True if a flag is surely set, a bool Value if one may be, None if none can be."""
        live = []
        for flag in FLAGS:
            value = self.env.get(flag)
            constant = self.constant_of(value)
            if value is None or constant is False:
                continue
            if constant is True:
                return True
            live.append(value)
        if not live:
            return None
        result = live[0]
        for other in live[1:]:
            result = self.b.emit(Op.OR, (result, other))
        return result

    def lower_guarded(self, exiting: Value, rest: list[ast.stmt]) -> None:
        """Run `rest` only when no exit flag is set (the code after a maybe-return)."""
        live = [f for f in FLAGS if f in self.env and self.constant_of(self.env[f]) is not False]
        proceed = self.b.emit(Op.NOT, (exiting,))

        def then() -> None:
            self.lower_body(rest)

        def otherwise() -> None:
            if len(live) == 1:   # on this side the single live flag is known to be set
                self.env[live[0]] = self.b.const(True)

        self.lower_if(proceed, then, otherwise, None)

    # ------------------------------------------------------------------ statements
    def lower_stmt(self, stmt: ast.stmt) -> None:
        method = getattr(self, f"stmt_{type(stmt).__name__}", None)
        if method is not None:
            method(stmt)
            return
        what, hint = _UNSUPPORTED_STMTS.get(type(stmt), (f"the statement {type(stmt).__name__}", None))
        self.unsupported(f"{what} are not supported" if what.endswith("s") else f"{what} is not supported",
                         stmt, hint)

    def stmt_Pass(self, stmt: ast.Pass) -> None:
        pass

    def stmt_Expr(self, stmt: ast.Expr) -> None:
        if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return   # docstring
        if isinstance(stmt.value, ast.Call):
            self.unsupported("calls whose result is discarded are not supported", stmt,
                             "coarsen functions have no side effects (no print, no list.append); "
                             "assign the result or remove the call")
        self.unsupported("an expression statement has no effect", stmt, "remove it")

    def stmt_Assign(self, stmt: ast.Assign) -> None:
        value = self.expr(stmt.value)
        for target in stmt.targets:
            self.assign(target, value, stmt)

    def stmt_AnnAssign(self, stmt: ast.AnnAssign) -> None:
        if stmt.value is None:
            return
        self.assign(stmt.target, self.expr(stmt.value), stmt)

    def stmt_AugAssign(self, stmt: ast.AugAssign) -> None:
        target = stmt.target
        if isinstance(target, ast.Name):
            old = self.lookup(target.id, target)
            if isinstance(old, Value) and old.type.is_array:
                if not self.is_owned(old):
                    self.unsupported(f"`{target.id} {self.op_symbol(stmt.op)}= ...` would modify the input "
                                     f"array `{target.id}` in place", stmt,
                                     f"write `{target.id} = {target.id} {self.op_symbol(stmt.op)} ...` to make a new array")
                self.check_unaliased(target.id, old, stmt)
            new = self.binop(stmt.op, old, self.expr(stmt.value), stmt)
            self.assign(target, new, stmt)
            if isinstance(old, Value) and old.type.is_array and isinstance(new, Value) and new.type.is_array:
                # NumPy's `a += v` updates `a` in place: it stays the caller's own, writable array
                self.ctx.owned.add(new.id)
        elif isinstance(target, ast.Subscript):
            old = self.expr(target)
            self.assign(target, self.binop(stmt.op, old, self.expr(stmt.value), stmt), stmt)
        else:
            self.unsupported("augmented assignment to this target is not supported", stmt)

    def stmt_Return(self, stmt: ast.Return) -> None:
        if stmt.value is None:
            self.unsupported("return without a value is not supported", stmt,
                             "return the number or array the function computes")
        self.env["$rv"] = self.expr(stmt.value)
        self.env["$ret"] = self.b.const(True)

    def stmt_Break(self, stmt: ast.Break) -> None:
        self.env["$brk"] = self.b.const(True)

    def stmt_Continue(self, stmt: ast.Continue) -> None:
        self.env["$cont"] = self.b.const(True)

    def stmt_If(self, stmt: ast.If) -> None:
        cond = self.truth(self.expr(stmt.test), stmt.test)
        self.lower_if(cond, lambda: self.lower_body(stmt.body),
                      lambda: self.lower_body(stmt.orelse), stmt)

    # ------------------------------------------------------------------ assignment
    def assign(self, target: ast.expr, value: Any, stmt: ast.stmt) -> None:
        if isinstance(target, ast.Name):
            if isinstance(value, Method):
                self.unsupported("methods cannot be stored in variables", stmt, "call the method directly")
            self.env[target.id] = value
            if isinstance(value, Value) and not value.hint:
                self.ctx.names.setdefault(value.id, target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if any(isinstance(t, ast.Starred) for t in target.elts):
                self.unsupported("starred assignment is not supported", target, "unpack each element by name")
            if not isinstance(value, tuple):
                self.unsupported(f"cannot unpack {describe(value)} into {len(target.elts)} names", target,
                                 "unpack tuples only; index arrays explicitly: a, b = x[0], x[1]")
            if len(value) != len(target.elts):
                self.type_error(f"cannot unpack a tuple of {len(value)} into {len(target.elts)} names", target)
            for t, v in zip(target.elts, value):
                self.assign(t, v, stmt)
        elif isinstance(target, ast.Subscript):
            self.setitem(target, value)
        elif isinstance(target, ast.Attribute):
            self.unsupported("assignment to an attribute is not supported", target,
                             "coarsen functions compute values; return them instead of storing them")
        else:
            self.unsupported(f"assignment to {type(target).__name__} is not supported", target)

    def check_unaliased(self, name: str, array: Value, node: ast.AST) -> None:
        """Writing through `name` must not be observable through another name (value semantics)."""
        for other, binding in self.env.items():
            if other == name or other.startswith("$"):
                continue
            for leaf in leaves(binding):
                if leaf.id == array.id or self.ctx.views.get(leaf.id) == array.id:
                    self.unsupported(f"`{name}` is also reachable as `{other}`; a write through one name "
                                     f"would be seen through the other", node,
                                     f"make an independent array: {other} = {name}.copy()")

    def setitem(self, target: ast.Subscript, value: Any) -> None:
        base = target.value
        if not isinstance(base, ast.Name):
            self.unsupported("writes through chained subscripts or attributes are not supported", target,
                             "index once with a tuple: a[i, j] = v")
        array = self.lookup(base.id, base)
        if isinstance(array, (tuple, dict)):
            self.unsupported(f"cannot assign into {describe(array)} `{base.id}`", target,
                             "tuples and argument dicts are read-only; build a new one")
        if not isinstance(array, Value) or not array.type.is_array:
            self.unsupported(f"`{base.id}` is not an array; element assignment needs an array", target)
        if not self.is_owned(array):
            self.unsupported(f"cannot write into `{base.id}`: only arrays created inside the function "
                             f"(np.zeros, np.ones, np.empty, .copy()) can be written", target,
                             f"write into a copy: {base.id} = {base.id}.copy()")
        self.check_unaliased(base.id, array, target)
        pattern, index = self.index(target.slice, array, target)
        value = self.as_value(value, target)
        if value.type.dtype != "f64":
            value = self.b.emit(Op.CAST, (value,), {"dtype": "f64"})
        updated = self.b.emit(Op.SETITEM, (array, *index, value), {"index": pattern},
                              self.src.loc(target), hint=base.id)
        self.ctx.owned.add(updated.id)
        self.env[base.id] = updated

    # ------------------------------------------------------------------ if / join
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
        pairs: list[tuple[Value, Value, Type]] = []
        plans: dict[str, Any] = {}
        for name in dict.fromkeys([*env_t, *env_e]):
            a, c = env_t.get(name, _MISSING), env_e.get(name, _MISSING)
            if a is c:
                merged[name] = a
                continue
            if a is _MISSING or c is _MISSING:
                present = c if a is _MISSING else a
                if isinstance(present, (Static, Method)):
                    merged[name] = present
                    continue
                block = block_t if a is _MISSING else block_e
                with self.b.reopen(block):
                    filler = self.false_or_placeholder(name, present)
                a, c = (filler, c) if a is _MISSING else (a, filler)
            if isinstance(a, (Static, Method)) or isinstance(c, (Static, Method)):
                if a == c:
                    merged[name] = a
                    continue
                self.type_error(f"`{name}` is {describe(a)} on one path and {describe(c)} on the other", node)
            if not same_structure(a, c):
                self.type_error(f"`{name}` is {describe(a)} on one path and {describe(c)} on the other",
                                node, "give the variable the same kind of value on every path")
            plans[name] = self._plan_pairs(name, a, c, pairs, node)
        results = self._emit_if(cond, block_t, block_e, pairs, node)
        for name, plan in plans.items():
            merged[name] = _resolve(plan, results)
        return merged

    def _plan_pairs(self, name, a, c, pairs, node):
        flat_c = list(leaves(c))
        counter = iter(range(len(flat_c)))

        def plan(x: Value) -> Any:
            y = flat_c[next(counter)]
            if x.id == y.id:
                return x
            cx, cy = self.constant_of(x), self.constant_of(y)
            if cx is not None and cx == cy and type(cx) is type(cy):
                return self.b.const(cx)
            t = join(x.type, y.type)
            if t is None:
                self.type_error(f"`{name}` is {describe(x)} on one path and {describe(y)} on the other",
                                node, "initialise it with the same kind of value (an array: np.zeros(...))")
            pairs.append((x, y, t, name.lstrip("$")))
            return _Slot(len(pairs) - 1, name)
        return map_leaves(a, plan)

    def _emit_if(self, cond, block_t, block_e, pairs, node) -> list[Value]:
        yields_t, yields_e = [], []
        for block, side, out in ((block_t, 0, yields_t), (block_e, 1, yields_e)):
            with self.b.reopen(block):
                for pair in pairs:
                    out.append(self.cast_to(pair[side], pair[2]))
        regions = (Region((), tuple(block_t), tuple(yields_t)), Region((), tuple(block_e), tuple(yields_e)))
        hints = [p[3] for p in pairs]
        results = self.b.emit_control(Op.IF, (cond,), [p[2] for p in pairs], regions,
                                      self.src.loc(node), hints)
        for (x, y, _, _), r in zip(pairs, results):
            if x.id in self.ctx.owned and y.id in self.ctx.owned:
                self.ctx.owned.add(r.id)
        return list(results)

    def false_or_placeholder(self, name: str, like: Any) -> Any:
        """A value for a name bound on one side of a join only (never read on the other)."""
        if name in FLAGS:
            return self.b.const(False)

        def dummy(v: Value) -> Value:
            if v.type.rank == 0:
                return self.b.const({"f64": 0.0, "i64": 0, "bool": False}[v.type.dtype])
            zero = self.b.const(0)
            out = self.b.emit(Op.ZEROS, (zero,) * v.type.rank)
            self.ctx.owned.add(out.id)
            return out
        return map_leaves(like, dummy)

    def cast_to(self, value: Value, type: Type) -> Value:
        if value.type == type:
            return value
        return self.b.emit(Op.CAST, (value,), {"dtype": type.dtype})

    # ------------------------------------------------------------------ loops
    def stmt_For(self, stmt: ast.For) -> None:
        if stmt.orelse:
            self.unsupported("for/else is not supported", stmt, "use a flag variable")
        start, stop, step = self.range_bounds(stmt.iter)
        if not isinstance(stmt.target, ast.Name):
            self.unsupported("only a single name can be a for-loop target", stmt.target,
                             "for i in range(n): a, b = xs[i, 0], xs[i, 1]")
        exits = contains(stmt.body, ast.Break, True) or contains(stmt.body, ast.Return, False)
        if exits:
            self.lower_counted_while(stmt, start, stop, step)
            return
        carried = self.carried_names(stmt.body, extra=[stmt.target.id])
        target = stmt.target.id
        self._loop_target = target

        def body(params: list[Value]) -> None:
            self.env[target] = params[0]
            self.lower_body(stmt.body)

        results = self.lower_loop(carried, body, None, stmt, index=(start, stop, step))
        self.env.update(results)

    def stmt_While(self, stmt: ast.While) -> None:
        if stmt.orelse:
            self.unsupported("while/else is not supported", stmt, "use a flag variable")
        self.lower_while(stmt, stmt.body, lambda: self.expr(stmt.test), stmt.test, [])

    def lower_counted_while(self, stmt: ast.For, start: Value, stop: Value, step: Value) -> None:
        counter = f"$i{id(stmt)}"
        self.env[counter] = start
        step_const = self.constant_of(step)
        if step_const == 0:
            self.unsupported("range() step must not be zero", stmt.iter)

        def test() -> Value:
            i = self.env[counter]
            if step_const is not None:
                return self.b.emit(Op.LT if step_const > 0 else Op.GT, (i, stop))
            zero = self.b.const(0)
            up = self.b.emit(Op.AND, (self.b.emit(Op.GT, (step, zero)), self.b.emit(Op.LT, (i, stop))))
            down = self.b.emit(Op.AND, (self.b.emit(Op.LT, (step, zero)), self.b.emit(Op.GT, (i, stop))))
            return self.b.emit(Op.OR, (up, down))

        def prologue() -> None:
            i = self.env[counter]
            self.env[stmt.target.id] = i
            self.env[counter] = self.b.emit(Op.ADD, (i, step))

        self.lower_while(stmt, stmt.body, test, stmt.iter, [counter, stmt.target.id], prologue)
        del self.env[counter]

    def lower_while(self, stmt, body_stmts, test, test_node, extra, prologue=None) -> None:
        saved = {f: self.env.pop(f) for f in ("$brk", "$cont") if f in self.env}
        if contains(body_stmts, ast.Break, True):
            self.env["$brk"] = self.b.const(False)
        if contains(body_stmts, ast.Return, False) and "$ret" not in self.env:
            self.env["$ret"] = self.b.const(False)
        carried = self.carried_names(body_stmts, extra=[*extra, "$brk", "$ret", "$rv"])

        def cond() -> Value:
            stop = [self.env[f] for f in ("$brk", "$ret") if f in self.env]
            if not stop:
                return self.truth(test(), test_node)
            exiting = stop[0] if len(stop) == 1 else self.b.emit(Op.OR, tuple(stop))
            holder: dict[str, Any] = {}

            def go() -> None:
                self.env["$test"] = self.truth(test(), test_node)

            def halt() -> None:
                self.env["$test"] = self.b.const(False)
            self.lower_if(self.b.emit(Op.NOT, (exiting,)), go, halt, test_node)
            holder["v"] = self.env.pop("$test")
            return holder["v"]

        def body(params: list[Value]) -> None:
            if prologue:
                prologue()
            self.lower_body(body_stmts)

        results = self.lower_loop(carried, body, cond, stmt)
        self.env.update(results)
        self.env.pop("$brk", None)
        self.env.pop("$cont", None)
        self.env.update(saved)

    def carried_names(self, body: list[ast.stmt], extra: list[str]) -> list[str]:
        names = assigned_names(body) | set(extra)
        return [n for n in self.env if n in names and not isinstance(self.env[n], (Static, Method))]

    def lower_loop(self, carried: list[str], body_fn, cond_fn, stmt, index=None) -> dict[str, Any]:
        """Lower a loop body (and WHILE condition) with `carried` names as loop-header phis.

        Retries with widened types, or with `$rv` added, until the yields match the params.
        """
        carried = list(carried)
        before = dict(self.env)
        inits = {n: before[n] for n in carried}
        widened: dict[int, Type] = {}   # position among the flattened carried leaves -> type
        for _attempt in range(8):
            flat_inits = [v for n in carried for v in leaves(inits[n])]
            types = [widened.get(k, v.type) for k, v in enumerate(flat_inits)]
            owned = [self.is_owned(v) for v in flat_inits]
            body_region, body_env, params = self._loop_region(
                carried, inits, types, owned, body_fn, index is not None, before)
            new_names = [n for n in ("$rv", "$ret") if n in body_env and n not in inits
                         and not isinstance(body_env[n], (Static, Method))]
            if new_names:   # a return inside the loop: carry its value, with a placeholder init
                self.env = before
                for n in new_names:
                    inits[n] = self.false_or_placeholder(n, body_env[n])
                    before[n] = inits[n]
                    carried.append(n)
                continue
            yields = []
            for n in carried:
                out = body_env[n]
                if not same_structure(out, inits[n]):
                    self.type_error(f"`{n}` changes from {describe(inits[n])} to {describe(out)} in the loop",
                                    stmt, "keep the same kind of value in a variable across iterations")
                yields.extend(leaves(out))
            retry = False
            for k, (y, t) in enumerate(zip(yields, types)):
                wide = join(y.type, t)
                if wide is None:
                    self.type_error(f"`{y.hint or carried}` is {t} before the loop and {y.type} inside it",
                                    stmt, "initialise it before the loop with the kind of value it will "
                                    "hold (an array: np.zeros(...), a float: 0.0)")
                if wide != t:
                    widened[k] = wide
                    retry = True
                if owned[k] and y.id not in self.ctx.owned:
                    self.ctx.owned.discard(flat_inits[k].id)   # the loop may store a foreign array
                    retry = True
            if retry:
                self.env = before
                continue
            with self.b.reopen(body_region[0]):
                yields = [self.cast_to(y, t) for y, t in zip(yields, types)]
            self.env = before
            flat_init_values = [self.cast_to(v, t) for v, t in zip(flat_inits, types)]
            regions, args = self._loop_regions(body_region, yields, cond_fn, carried, inits, types,
                                               owned, before, index, flat_init_values)
            op = Op.FOR if index is not None else Op.WHILE
            results = self.b.emit_control(op, args, types, regions, self.src.loc(stmt),
                                          [p.hint for p in params])
            for k, r in enumerate(results):
                if owned[k]:
                    self.ctx.owned.add(r.id)
            it = iter(results)
            return {n: map_leaves(inits[n], lambda _v: next(it)) for n in carried}
        raise self.type_error("the types of the loop's variables do not settle", stmt)

    def _bind_params(self, carried, inits, types, owned, before) -> list[Value]:
        flat = [(n, v) for n in carried for v in leaves(inits[n])]
        params = [self.b.new_value(t, n.lstrip("$")) for (n, v), t in zip(flat, types)]
        for p, is_owned in zip(params, owned):
            if is_owned:
                self.ctx.owned.add(p.id)
        it = iter(params)
        self.env = dict(before)
        self.env.pop("$cont", None)
        for n in carried:
            self.env[n] = map_leaves(inits[n], lambda _v: next(it))
        return params

    def _loop_region(self, carried, inits, types, owned, body_fn, counted, before):
        with self.b.region() as block:
            params = self._bind_params(carried, inits, types, owned, before)
            index = self.b.new_value(I64, getattr(self, "_loop_target", "") or "i") if counted else None
            body_fn([index] if counted else params)
            env = self.env
        return (block, tuple(([index] if counted else []) + params)), env, params

    def _loop_regions(self, body_region, yields, cond_fn, carried, inits, types, owned, before,
                      index, init_values):
        block, params = body_region
        body = Region(params, tuple(block), tuple(yields))
        if index is not None:
            start, stop, step = index
            return (body,), (start, stop, step, *init_values)
        with self.b.region() as cond_block:
            cond_params = self._bind_params(carried, inits, types, owned, before)
            test = cond_fn()
        self.env = before
        cond = Region(tuple(cond_params), tuple(cond_block), (test,))
        return (cond, body), tuple(init_values)

    def range_bounds(self, node: ast.expr) -> tuple[Value, Value, Value]:
        if not (isinstance(node, ast.Call) and self.static_callee(node.func) is range):
            self.unsupported("for loops must run over range(...)", node,
                             "iterate over indices: for i in range(len(xs)): x = xs[i]")
        if node.keywords or not 1 <= len(node.args) <= 3:
            self.unsupported("range() takes 1 to 3 positional arguments here", node)
        values = [self.as_value(self.expr(a), a) for a in node.args]
        for v, a in zip(values, node.args):
            if v.type.rank or v.type.dtype == "f64":
                self.type_error(f"range() needs integers, got {v.type}", a, "convert with int(...)")
        values = [self.cast_to(v, I64) for v in values]
        if len(values) == 1:
            return self.b.const(0), values[0], self.b.const(1)
        if len(values) == 2:
            return values[0], values[1], self.b.const(1)
        if self.constant_of(values[2]) == 0:
            self.unsupported("range() step must not be zero", node)
        return values[0], values[1], values[2]


def _resolve(plan: Any, results: list[Value]) -> Any:
    if isinstance(plan, _Slot):
        return results[plan.id]
    if isinstance(plan, tuple):
        return tuple(_resolve(p, results) for p in plan)
    if isinstance(plan, dict):
        return {k: _resolve(p, results) for k, p in plan.items()}
    return plan


class _Slot:
    """A placeholder for an IF result while the join is being planned."""

    __slots__ = ("id", "name")

    def __init__(self, id: int, name: str) -> None:
        self.id = id
        self.name = name
