"""Statements -> structured SSA.

Input: the AST of one function body and bindings for its parameters. Output: instructions
appended to the builder's current block, and the binding of the returned value.

How control flow is lowered:
- `if` builds two regions from copies of the environment and joins them (`branches`);
- `return`, `break`, `continue` set flags (`$ret`, `$brk`, `$cont`, value in `$rv`); the rest of
  a statement list after a statement that may have set one runs under `if not flags`. Loops
  test `$brk`/`$ret` in their condition, so every region keeps a single exit;
- `for i in range(...)` and `while` become FOR / WHILE (`loops`).
Element writes and in-place `+=` on arrays get value semantics (a new SSA value), allowed only
where Python could not tell the difference (`aliases`).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coarsen.errors import CoarsenTypeError, UnsupportedError
from coarsen.frontend.aliases import AliasInfo
from coarsen.frontend.bindings import Method, SharedList, Static, describe, leaves
from coarsen.frontend.branches import FLAGS, BranchLowering
from coarsen.frontend.closures import ClosureLowering
from coarsen.frontend.containers import ContainerLowering, ListItems
from coarsen.frontend.expressions import ExpressionLowering
from coarsen.frontend.loops import LoopLowering
from coarsen.frontend.source import SourceInfo
from coarsen.ir.builder import Builder
from coarsen.ir.nodes import Op, Value
from coarsen.ir.types import F64, I64, Type
from coarsen.ir.typing import index_rank

_UNSUPPORTED_STMTS: dict[type, tuple[str, str]] = {
    # statement type -> (what, hint); the message is f"{what} not supported"
    ast.Try: ("try/except is", "check the condition with if/else instead"),
    ast.With: ("with statements are", "move the context manager outside the compiled function"),
    ast.Raise: ("raise is", "validate inputs before calling the compiled function"),
    ast.Global: ("global statements are", "pass the value in as an argument and return the result"),
    ast.Nonlocal: ("nonlocal statements are", "pass the value in as an argument and return the result"),
    ast.FunctionDef: ("nested function definitions are", "define the helper at module level; calls to it are inlined"),
    ast.AsyncFunctionDef: ("async functions are", "use a plain def"),
    ast.ClassDef: ("class definitions are", "define classes outside; pass arrays and numbers in"),
    ast.Delete: ("del is", "just stop using the name"),
    ast.Import: ("imports inside the function are", "import at module level"),
    ast.ImportFrom: ("imports inside the function are", "import at module level"),
    ast.AsyncFor: ("async for is", "use for i in range(...)"),
    ast.AsyncWith: ("async with is", "move it outside the compiled function"),
    ast.Match: ("match statements are", "use if/elif/else"),
}
if hasattr(ast, "TryStar"):
    _UNSUPPORTED_STMTS[ast.TryStar] = _UNSUPPORTED_STMTS[ast.Try]


@dataclass
class TraceContext:
    """State shared by a function and every function inlined into it."""

    builder: Builder
    aliases: AliasInfo = field(default_factory=AliasInfo)   # storages of arrays; which are ours
    call_stack: list[Any] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # value id -> variable it was bound to
    inlined: list[Any] = field(default_factory=list)     # functions inlined, for cache keys
    reads: Any = None   # a coarsen.deps.Reads: every outside value resolved (cache keys, guards)
    # the non-empty tuples passed in as arguments, by id (held here, so no other object gets
    # their id): only those are surely tuples, a list literal is a tuple binding too
    tuple_args: dict = field(default_factory=dict)
    # random draws (#22, `random`): (Draw, hidden parameter) in program order; the classes of
    # the generator arguments; argument leaves by value id (sizes of draws from x.shape)
    draws: list = field(default_factory=list)
    generator_classes: list = field(default_factory=list)
    param_index: dict = field(default_factory=dict)
    runtime_raises: list = field(default_factory=list)   # exception classes of run-time checks
    # joins (branches, loop carries) that widened an int or bool to float64 (`vectorize`: NumPy
    # takes its result dtype from the first element's call, which such a join does not tell)
    widened_joins: int = 0
    loop_frames: list = field(default_factory=list)   # the FOR loops being lowered (random draws)
    loop_uids: list = field(default_factory=list)
    # scalars NumPy gives (elements, reductions, np.* results and what is computed from them):
    # their int64 wraps, their bools add logically (`Lowerer.int_product`, `refuse_numpy_bool`);
    # `mixed_scalars`: NumPy's on some paths into a join or loop carry, Python's on others (id ->
    # the dtypes it has where it is NumPy's: np.True_ joined with an int is an int after the join)
    numpy_scalars: set = field(default_factory=set)
    mixed_scalars: dict = field(default_factory=dict)
    range_ints: set = field(default_factory=set)   # counted loops' indices, sizes (`int_sum`)
    narrow: dict = field(default_factory=dict)   # constant id -> NumPy dtype of narrow outside data (`narrow`)


class Lowerer(ClosureLowering, ContainerLowering, LoopLowering, BranchLowering, ExpressionLowering):
    """Lowers one function body; an inlined call gets its own `Lowerer` on the same context."""

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
            if isinstance(stmt, ast.Raise):   # a run-time check (else it raised when tracing):
                return                        # the rest of the block never runs
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
            for flag in live:   # on this side no flag is set: the rest needs no further guards
                self.env[flag] = self.b.const(False)
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
        what, hint = _UNSUPPORTED_STMTS.get(type(stmt), (f"the statement {type(stmt).__name__} is", None))
        self.unsupported(f"{what} not supported", stmt, hint)

    def stmt_Pass(self, stmt: ast.Pass) -> None:
        pass

    def stmt_Expr(self, stmt: ast.Expr) -> None:
        if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return   # docstring
        if isinstance(stmt.value, (ast.Yield, ast.YieldFrom)):
            self.unsupported("generators (yield) are not supported", stmt, "return an array built in a loop")
        if self.list_mutation(stmt):   # xs.append(v): see `containers`
            return
        if self.add_at(stmt.value):   # np.add.at(x, idx, v)
            return
        if self.fill_diagonal(stmt.value):   # np.fill_diagonal(a, v)
            return
        if isinstance(stmt.value, ast.Call):
            callee = ast.unparse(stmt.value.func)
            if callee.endswith("seed"):   # np.random.seed(s), rng.seed(s)
                self.unsupported(f"seeding a generator ({callee}()) is not supported inside a compiled function",
                                 stmt, "seed outside and pass the generator in (rs = np.random.RandomState(seed); "
                                       "f(x, rs)), or draw outside and pass the numbers in")
            self.unsupported(f"calling {callee}() for its side effects is not supported "
                             "(its result is discarded)", stmt,
                             "compiled functions have no side effects (no print, no list.append); "
                             "assign the result or remove the call")
        self.unsupported("an expression statement has no effect", stmt, "remove it")

    def stmt_Assign(self, stmt: ast.Assign) -> None:
        masked_write = len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Subscript)
        value = self.operand(stmt.value) if masked_write else self.expr(stmt.value)   # y[m] = z[m]
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
            if isinstance(old, (ListItems, SharedList)) and isinstance(stmt.op, (ast.Add, ast.Mult)):
                # `xs += [v]` extends the list itself, others holding it see the change (a
                # tuple's `t += (v,)` makes a new tuple)
                self.refuse_shared_list(target.id, f"{target.id} {self.op_symbol(stmt.op)}= ...", stmt)
            in_place = isinstance(old, Value) and old.type.is_array
            symbol = self.op_symbol(stmt.op)
            if in_place:   # NumPy updates the array itself: the rules of an element write apply
                if not self.is_owned(old) and not self.adopt_argument(target.id, old, stmt):
                    self.unsupported(f"`{target.id} {symbol}= ...` would modify `{target.id}` in place, and "
                                     f"`{target.id}` is not an array this function created (an argument, "
                                     "a module-level array, or a view of one)", stmt,
                                     f"write `{target.id} = {target.id} {symbol} ...` to make a new array")
                self.check_unaliased(target.id, old, stmt)
            new = self.binop(stmt.op, old, self.expr(stmt.value), stmt)
            if in_place:
                if new.type.rank != old.type.rank or new.type.dtype != old.type.dtype:
                    self.type_error(f"`{target.id} {symbol}= ...` would make `{target.id}` ({old.type}) a "
                                    f"{new.type}, but an in-place update keeps the array's shape and dtype",
                                    stmt, f"write `{target.id} = {target.id} {symbol} ...` for a new array")
                self.ctx.aliases.same(new, old)   # same storage, still the function's own
            self.assign(target, new, stmt)
        elif isinstance(target, ast.Subscript):
            old = self.operand(target)
            if isinstance(old, tuple):   # xs[0] += [v] extends the inner list itself
                self.unsupported(f"`{ast.unparse(target)} {self.op_symbol(stmt.op)}= ...` changes a list held by "
                                 "another list in place", stmt,
                                 f"build the new item and store it: {ast.unparse(target)} = "
                                 f"{ast.unparse(target)} + [...]")
            from coarsen.frontend.masks import Masked
            if isinstance(old, Masked):   # y[m] *= 2: y = where(m, y * 2, y)
                array = self.writable(target)
                self.write_masked(target, array, old, self.operand(stmt.value), stmt.op)
                return
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

    def stmt_Raise(self, stmt: ast.Raise) -> None:
        from coarsen.frontend.exceptions import lower_raise   # decided when tracing
        lower_raise(self, stmt)

    def stmt_Assert(self, stmt: ast.Assert) -> None:
        from coarsen.frontend.exceptions import lower_assert   # a run-time check, or decided when tracing
        lower_assert(self, stmt)

    def stmt_Try(self, stmt: ast.Try) -> None:
        from coarsen.frontend.exceptions import lower_try   # decided when tracing
        lower_try(self, stmt)

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
            if isinstance(value, Value) and value.type.rank:
                value = self.unpack_array(value, len(target.elts), target, stmt)
            if isinstance(value, list):   # a list argument
                value = tuple(value)
            if not isinstance(value, tuple):
                self.unsupported(f"cannot unpack {describe(value)} into {len(target.elts)} names", target,
                                 "unpack tuples only; index arrays explicitly: a, b = x[0], x[1]")
            if len(value) != len(target.elts):
                self.type_error(f"cannot unpack a tuple of {len(value)} into {len(target.elts)} names", target)
            for k, (t, v) in enumerate(zip(target.elts, value)):
                self.check_pending_views(t, value[k + 1:], stmt)
                self.assign(t, v, stmt)
        elif isinstance(target, ast.Subscript):
            self.setitem(target, value)
        elif isinstance(target, ast.Attribute):
            self.unsupported("assignment to an attribute is not supported", target,
                             "coarsen functions compute values; return them instead of storing them")
        else:
            self.unsupported(f"assignment to {type(target).__name__} is not supported", target)

    def check_pending_views(self, target: ast.expr, pending: tuple, stmt: ast.stmt) -> None:
        """`Y[0], Y[1] = Y[1], Y[0]`: NumPy evaluates the right side to views of Y, and the first
        store changes what the second copies (Y ends with two equal rows, not swapped). A
        store into an array that a right-side value still to be stored may view is refused:
        value semantics would swap."""
        base = target
        while isinstance(base, ast.Subscript):
            base = base.value
        if not (isinstance(target, ast.Subscript) and isinstance(base, ast.Name)):
            return
        array = self.env.get(base.id)
        if not isinstance(array, Value) or not array.type.rank:
            return
        index = target.slice.elts[0] if isinstance(target.slice, ast.Tuple) else target.slice
        written = (self.b.const(index.value) if isinstance(index, ast.Constant) and type(index.value) is int
                   and target.value is base else None)
        aliases = self.ctx.aliases
        for leaf in (v for b in pending for v in leaves(b)):
            if aliases.overlap(leaf, array) and not (
                    written is not None and leaf.id in aliases.rows
                    and aliases.disjoint_row(leaf, array, written, self.index_defs())):
                read = aliases.reads.get(leaf.id, "it")
                self.unsupported(
                    f"`{ast.unparse(target)} = ...` writes into `{base.id}`, and `{read}`, stored after it, "
                    f"is a view of `{base.id}`: NumPy then stores the values this write changed (not a swap)",
                    stmt, f"copy the right side's views: ... = {read}.copy(), ... (a swap), or store them one "
                          "by one")

    def unpack_array(self, array: Value, count: int, target: ast.expr, stmt: ast.stmt) -> tuple:
        """`x, y = p` of an array: its rows p[0], p[1], ... (views, as NumPy's), after the
        ValueError Python raises when the leading axis is not `count` long (known at run time)."""
        from coarsen.frontend.exceptions import runtime_check
        n = self.emit(Op.SHAPE, (array,), target, {"dim": 0})
        for test, what in ((Op.GT, "too many values to unpack"), (Op.LT, "not enough values to unpack")):
            bad = self.emit(test, (n, self.b.const(count)), target)
            runtime_check(self, bad, ValueError, f"{self.src.loc(target)}: {what} (expected {count})", target)
        source = ast.unparse(stmt.value) if isinstance(stmt, ast.Assign) else (array.hint or "x")
        rows = []
        for k in range(count):
            index = self.b.const(k)
            row = self.emit(Op.GETITEM, (array, index), target, {"index": ("i",)})
            self.ctx.aliases.row_view(row, array, ("i",), [index], f"{source}[{k}]")
            rows.append(row)
        return tuple(rows)

    def check_unaliased(self, name: str, array: Value, node: ast.AST, written: Value | None = None) -> None:
        """Writing through `name` must not be observable through another name (value semantics).
        `written`: the write's leading integer index, if any (a row view of another row is
        not affected: `aliases.disjoint_row`)."""
        aliases = self.ctx.aliases
        defs = None
        for other, binding in self.env.items():
            if other == name or other.startswith("$"):
                continue
            for leaf in leaves(binding):
                if aliases.overlap(leaf, array):
                    if written is not None and leaf.id in aliases.rows:
                        defs = defs if defs is not None else self.index_defs()
                        if aliases.disjoint_row(leaf, array, written, defs):
                            continue
                    read = aliases.reads.get(leaf.id)
                    fix = (f"copy what you read: {other} = {read}.copy()" if read is not None
                           else f"to change `{name}` alone, copy it before writing: {name} = {name}.copy(); "
                                f"to change `{other}` too, write through `{other}` (NumPy's views are not "
                                "followed here)")
                    self.unsupported(f"`{name}` is also reachable as `{other}`; a write through one name "
                                     f"would be seen through the other", node, fix)

    def adopt_argument(self, name: str, array: Value, node: ast.AST) -> bool:
        """A write into `name`, an argument array of the traced function itself (not of an
        inlined helper), as it was passed in: allowed where the caller's array is written back
        afterwards (`trace(..., writes=True)`: jit, grad, value_and_grad), refused otherwise.
        The compiled code writes into its own copy: the derivative is taken with respect to the
        value passed in, and the caller's array ends as plain Python leaves it."""
        ctx = self.ctx
        p = getattr(ctx, "arg_params", {}).get(name)
        if (p is None or getattr(ctx, "top", None) is not self or self.ctx.aliases.storages(array) != {p.id}
                or array.id not in self.ctx.aliases.whole):
            return False
        if not ctx.arg_writes_allowed:
            how = "modify in place" if isinstance(node, ast.AugAssign) else "write into"
            self.unsupported(f"cannot {how} the argument array `{name}` here: coarsen.jit, grad and "
                             "value_and_grad write the final contents back into the caller's array, this "
                             "transformation (vjp, jvp, jacobians, vmap, a traced call) does not", node,
                             f"write into a copy: {name}_new = {name}.copy()")
        self.ctx.aliases.owned.add(p.id)
        ctx.arg_writes[name] = p
        return True

    def index_defs(self) -> dict:
        """What `aliases.disjoint_indices` needs to know of integer scalars defined so far:
        constants, ADD/SUB, and the lower bounds of counted loops' indices."""
        defs: dict = {vid: ("const", c) for vid, c in self.b.constants.items()
                      if isinstance(c, int) and not isinstance(c, bool)}
        for block in self.b._blocks:
            for instr in block:
                if instr.op in (Op.ADD, Op.SUB) and instr.results and instr.result.type == I64:
                    defs[instr.result.id] = (instr.op, instr.args[0], instr.args[1])
        for vid, start in getattr(self.ctx, "loop_starts", {}).items():
            defs[("start", vid)] = start
        return defs

    def write_indexed(self, name: str, array: Value, pattern, index: list[Value], value: Any, node: ast.AST,
                      add: bool = False) -> None:
        """`name[i0, ...] = value` with int64 index arrays (and ints) on the leading axes, NumPy's
        semantics (a repeated index keeps its last value; `add`: np.add.at, they accumulate):
        a SETITEM with pattern ("a",) * k and the value broadcast to the gathered shape (see
        `coarsen.ops.indexing`)."""
        pattern = list(pattern)
        while pattern and pattern[-1] == "s000":
            pattern.pop()
        if any(p not in ("a", "i") for p in pattern):
            self.unsupported("writing through index arrays is supported with the index arrays and integers on "
                             "the leading axes (x[idx] = v, X[idx] = rows, X[idx, j] = v, X[i0, i1] = v), not "
                             "after a slice or with np.newaxis", node,
                             "move the indexed axis first: xt = x.T.copy(); xt[idx] = v.T; x = xt.T.copy()")
        if len(pattern) > 3:
            self.unsupported("more than three index arrays and integers in one write are not supported", node,
                             "write in steps, or in a loop")
        arrays = [i if p == "a" else self.cast_to(self.emit(Op.STACK, (self.cast_to(i, F64),), node),
                                                   Type("i64", 1))
                  for p, i in zip(pattern, index)]
        gathered = self.emit(Op.TAKE, (array, *arrays), node, {"axes": tuple(range(len(arrays))), "name": name})
        value = self.as_value(value, node)
        if value.type.rank > gathered.type.rank:
            self.type_error(f"cannot write {describe(value)} into `{name}[...]`, which selects an array of rank "
                            f"{gathered.type.rank}", node, "index down to the part the value fills")
        if value.type.dtype != "f64":
            value = self.cast_to(value, Type("f64", value.type.rank))
        dims = [self.emit(Op.SHAPE, (gathered,), node, {"dim": d}) for d in range(gathered.type.rank)]
        full = self.emit(Op.ADD, (self.emit(Op.ZEROS, dims, node), value), node)
        updated = self.b.emit(Op.SETITEM, (array, *arrays, full), {"index": ("a",) * len(arrays), "add": add},
                              self.src.loc(node), hint=name)
        self.ctx.aliases.same(updated, array)   # the same storage, updated
        self.env[name] = updated

    def add_at(self, call: ast.expr) -> bool:
        """`np.add.at(x, indices, v)` (x a name; indices an int, an index array or a tuple of
        them): x's elements at the indices get v added, repeated indices accumulating."""
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "at"):
            return False
        owner = self.expr(call.func.value)
        if not (isinstance(owner, Static) and owner.obj is np.add):
            return False
        if len(call.args) != 3 or call.keywords:
            self.unsupported("np.add.at takes three positional arguments here: np.add.at(x, indices, v)", call)
        target, where, value = call.args
        if not isinstance(target, ast.Name):
            self.unsupported("np.add.at writes into a named array here", call, "y = ...; np.add.at(y, idx, v)")
        array = self.lookup(target.id, target)
        if not isinstance(array, Value) or not array.type.is_array or array.type.dtype != "f64":
            self.unsupported(f"np.add.at into `{target.id}`, which is not a float array, is not supported", call)
        if not self.is_owned(array) and not self.adopt_argument(target.id, array, call):
            self.unsupported(f"np.add.at cannot write into `{target.id}`: only arrays created inside the function "
                             "can be written, not an argument, a module-level array or a view of one", call,
                             f"write into a copy: {target.id}_copy = {target.id}.copy()")
        if isinstance(where, ast.Tuple):
            parts = [(self.expr(p), p) for p in where.elts]
        else:   # a tuple held in a name indexes several axes, as written in place
            held = self.expr(where)
            parts = [(b, where) for b in held] if type(held) is tuple else [(held, where)]
        pattern, index = [], []
        for binding, part in parts:
            if isinstance(binding, (tuple, list)):   # a list of ints: NumPy's index array
                i = self._int_list(binding) or self._int_values(binding, part)
                if i is None:
                    self.unsupported("np.add.at indices in a list must all be integers", part,
                                     "index with integers or integer arrays")
            else:
                i = self.index_value(binding, part, arrays=True)
            pattern.append("a" if i.type.rank else "i")
            index.append(i)
        self.check_unaliased(target.id, array, call)
        self.write_indexed(target.id, array, pattern, index, self.expr(value), call, add=True)
        return True

    def fill_diagonal(self, call: ast.expr) -> bool:
        """`np.fill_diagonal(a, v)` (a a named float matrix the function owns, v a number): a's
        elements a[i, i] become v, in place (a rebound to where(i == j, v, a): the derivative
        reaches v from the diagonal's adjoints and a from the rest). NumPy's wrap=True (a tall
        matrix's diagonal restarting every n + 1 rows), a vector v (repeated along the
        diagonal) and arrays of rank > 2 are refused."""
        if not (isinstance(call, ast.Call) and self.static_callee(call.func) is np.fill_diagonal):
            return False
        from coarsen.ops import lowering as L

        args, _, kwargs = self.call_arguments(call, self.expr)
        a, val, wrap = L.positional(self, args, kwargs, call, ["a", "val", "wrap"], "fill_diagonal", 2)
        target = call.args[0] if call.args else call
        if not isinstance(target, ast.Name):
            self.unsupported("np.fill_diagonal writes into a named array here", call, "a = ...; np.fill_diagonal(a, v)")
        if L.static(self, wrap, call, "wrap"):
            self.unsupported("np.fill_diagonal(..., wrap=True) is not supported", call,
                             "fill a square matrix, or set the wrapped elements with a[i, j] = v")
        array = self.lookup(target.id, target)
        if not isinstance(array, Value) or array.type.rank != 2 or array.type.dtype != "f64":
            self.unsupported(f"np.fill_diagonal of `{target.id}`, which is not a float matrix, is not supported",
                             call, "fill a float matrix (arrays of rank > 2: loop over a[i, i, i] = v)")
        value = self.as_value(val, call)
        if value.type.rank:
            self.unsupported("np.fill_diagonal with an array of values is not supported (NumPy repeats it along "
                             "the diagonal)", call, "fill with a number, or a = a - np.diag(np.diag(a)) + np.diag(v) "
                             "for a square a and a vector v of its length")
        if not self.is_owned(array) and not self.adopt_argument(target.id, array, call):
            self.unsupported(f"np.fill_diagonal cannot write into `{target.id}`: only arrays created inside the "
                             "function can be written, not an argument, a module-level array or a view of one", call,
                             f"write into a copy: {target.id}_copy = {target.id}.copy()")
        self.check_unaliased(target.id, array, call)
        if value.type.dtype != "f64":
            value = self.cast_to(value, value.type.with_dtype("f64"))
        rows = self.emit(Op.IOTA, (self.emit(Op.SHAPE, (array,), call, {"dim": 0}),), call)
        cols = self.emit(Op.IOTA, (self.emit(Op.SHAPE, (array,), call, {"dim": 1}),), call)
        on = self.emit(Op.EQ, (L.newaxis(self, rows, 1, call), L.newaxis(self, cols, 0, call)), call)
        updated = self.emit(Op.WHERE, (on, value, array), call)
        self.ctx.aliases.same(updated, array)   # the same storage, updated
        self.env[target.id] = updated
        return True

    def write_masked(self, target: ast.Subscript, array: Value, selection, value: Any,
                     op: ast.operator | None = None) -> None:
        """`y[m] = value` / `y[m] op= value` with a boolean mask m: y = where(m, ..., y) (`masks`)."""
        from coarsen.frontend import masks
        name = target.value.id
        if selection.base.id != array.id:
            self.unsupported(f"`{ast.unparse(target)}` changes while it is written", target)
        self.check_unaliased(name, array, target)
        updated = masks.write(self, name, array, selection, value, target, op)
        self.ctx.aliases.same(updated, array)   # the same storage, updated
        self.env[name] = updated

    def writable(self, target: ast.Subscript) -> Value:
        """The array `name` of a write `name[...] = ...`, refused where Python's write would be
        seen elsewhere (an argument, a module-level array or a view of one) or is not to an array."""
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
        if array.type.dtype != "f64":
            self.unsupported(f"cannot write into `{base.id}`, an array of {array.type.dtype}", target,
                             f"make a float array first: {base.id} = np.where({base.id}, 1.0, 0.0)")
        if not self.is_owned(array) and not self.adopt_argument(base.id, array, target):
            local = base.id if base.id in self.env else f"{base.id.lower()}_copy"
            self.unsupported(f"cannot write into `{base.id}`: only arrays created inside the function "
                             f"(np.zeros, np.ones, np.empty, .copy(), arithmetic) can be written, not an "
                             f"argument, a module-level array or a view of one", target,
                             f"write into a copy: {local} = {base.id}.copy()")
        return array

    def setitem(self, target: ast.Subscript, value: Any) -> None:
        from coarsen.frontend import masks
        root = target
        while isinstance(root, ast.Subscript):
            root = root.value
        if isinstance(root, ast.Name) and isinstance(self.lookup(root.id, root), (tuple, list)):
            if isinstance(value, masks.Masked):
                masks.escaping(self, target, value.text)
            return self.write_list_item(target, root.id, value)   # xs[i] = v, xs[i][j] = v
        array = self.writable(target)
        base = target.value
        pattern, index = self.index(target.slice, array, target, arrays=True, masks=True)
        if pattern == ("m",):   # y[m] = v
            return self.write_masked(target, array, masks.select(self, array, index[0], target), value)
        if isinstance(value, masks.Masked):
            masks.escaping(self, target, value.text)
        if "a" in pattern:   # through index arrays
            self.check_unaliased(base.id, array, target)
            return self.write_indexed(base.id, array, pattern, index, value, target)
        self.check_unaliased(base.id, array, target, index[0] if pattern[:1] == ("i",) else None)
        value = self.as_value(value, target)
        selected = index_rank(pattern, array.type.rank)
        if value.type.rank > selected:
            self.type_error(f"cannot write {describe(value)} into `{base.id}[...]`, which selects "
                            + ("one element" if not selected else f"an array of rank {selected}"), target,
                            "index down to the part the value fills")
        if value.type.dtype != "f64":
            value = self.b.emit(Op.CAST, (value,), {"dtype": "f64"})
        updated = self.b.emit(Op.SETITEM, (array, *index, value), {"index": pattern},
                              self.src.loc(target), hint=base.id)
        self.ctx.aliases.same(updated, array)   # the same storage, updated
        self.env[base.id] = updated
