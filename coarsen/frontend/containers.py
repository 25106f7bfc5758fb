"""Python containers and iteration (a mixin of the `Lowerer`, before the loop and expression
mixins so that its methods are tried first).

Lists and tuples are compile-time structure (tuples of bindings), as list literals already
were: a list the function builds has a length known when tracing. So
- `xs.append(v)` extends the tuple bound to `xs`; a `for i in range(...)` loop that appends
  is unrolled, which needs bounds known when tracing (else: UnsupportedError at the loop);
- a list comprehension or generator expression (several `for`s nest) over a tuple, a range
  with bounds known when tracing, or an array of known length (a shape-specialised trace) is
  unrolled; `sum(f(i) for i in range(n))` of numbers with n known only at run time is a
  counted loop; other comprehensions of a run-time length are refused;
- `for x in xs` over a tuple is unrolled; over an array (`for row in X`) it is a counted loop
  over the leading axis, the target bound to `X[i]`; `enumerate`, `zip` (arrays: the shortest
  leading axis) and `reversed` (also of a `range`) work on both;
- a list or tuple of scalars passed where an array is expected (`np.sum([a, b])`) is stacked
  into a rank-1 array; the builtins `sum`, `min`, `max` of one tuple fold over its items, of
  an array reduce its leading axis (`sum`) or all of it (1-D `min`/`max`).
A loop over a tuple or an unrolled range cannot `break`, `continue` or `return` (refused).
"""
from __future__ import annotations

import ast
import builtins
import math
from typing import Any, Callable

import numpy as np

from coarsen.frontend.bindings import ListItems, SharedList, Static, describe, holders
from coarsen.frontend.scope import contains
from coarsen.ir.nodes import Op, Value

UNROLL_LIMIT = 10_000   # iterations of a loop unrolled at trace time


class _Items:
    """What a `for` iterates over: `static` bindings (unrolled), or `count` items of arrays,
    the k-th made by `item(k)` from an i64 index value."""

    def __init__(self, static: tuple | None = None, count: Value | None = None,
                 item: Callable[[Value], Any] | None = None) -> None:
        self.static, self.count, self.item = static, count, item


class ContainerLowering:
    # ------------------------------------------------------------------ for loops
    def stmt_For(self, stmt: ast.For) -> None:
        if self._is_range(stmt.iter) or self._is_reversed_range(stmt.iter):
            if self._appends(stmt.body):
                return self._unrolled_range(stmt)
            if self._indexes_list(stmt):   # xs[i]: the item is known only per unrolled iteration
                return self._unrolled_range(stmt, "a list indexed by the loop's variable")
            if self._recurses(stmt.body) and None not in (self.constant_of(v) for v in self.range_bounds(stmt.iter)):
                # a recursive call whose arguments' shapes follow the loop's variable (the
                # minors of a cofactor expansion): each iteration's call is inlined on its own
                return self._unrolled_range(stmt, "a recursive call")
            return super().stmt_For(stmt)
        if stmt.orelse:
            self.unsupported("for/else is not supported", stmt, "use a flag variable")
        items = self.iteration(stmt.iter)
        exits = contains(stmt.body, ast.Break, True) or contains(stmt.body, ast.Continue, True) \
            or contains(stmt.body, ast.Return, False)
        if items.static is None and not exits and self._appends(stmt.body):
            # `for x in inputs: out.append(...)` (autograd's rnn.py): over an array whose length is
            # known (a shape-specialised trace, asked for by the refusal below) the loop unrolls
            count = self.constant_of(items.count)
            if count is not None and count <= UNROLL_LIMIT:
                items = _Items(static=tuple(items.item(self.b.const(i)) for i in range(count)))
        if exits:
            if items.static is None:   # over an array's leading axis
                return self._exiting_item_loop(stmt, items)
            self.unsupported("break, continue and return are not supported in a loop over a list, "
                             "tuple or array", stmt,
                             "loop over indices: for i in range(len(xs)): x = xs[i]")
        if items.static is not None:
            self._unroll(stmt, items.static)
            return
        targets = _target_names(stmt.target)
        carried = self.carried_names(stmt.body, extra=targets)

        def body(params: list[Value]) -> None:
            self.assign(stmt.target, items.item(params[0]), stmt)
            self.lower_body(stmt.body)

        zero, one = self.b.const(0), self.b.const(1)
        results = self.lower_loop(carried, body, None, stmt, index=(zero, items.count, one), index_name="i")
        self.env.update(results)

    def _exiting_item_loop(self, stmt: ast.For, items: _Items) -> None:
        """`for v in x:` with break, continue or return: a counted while loop over x's leading
        axis whose prologue binds v = x[i] (as `for i in range(...)` with exits is lowered)."""
        counter = f"$item.next@{stmt.lineno}:{stmt.col_offset}"
        self.env[counter] = self.b.const(0)

        def test() -> Value:
            return self.b.emit(Op.LT, (self.env[counter], items.count))

        def prologue() -> None:
            i = self.env[counter]
            self.assign(stmt.target, items.item(i), stmt)
            self.env[counter] = self.b.emit(Op.ADD, (i, self.b.const(1)))

        count = self.constant_of(items.count)
        self.lower_while(stmt, stmt.body, test, stmt.iter, [counter, *_target_names(stmt.target)], prologue,
                         runs_once=isinstance(count, int) and count > 0)
        del self.env[counter]

    def _unroll(self, stmt: ast.For, items) -> None:
        if len(items) > UNROLL_LIMIT:
            self.unsupported(f"a loop of {len(items)} iterations is too long to unroll", stmt)
        for item in items:
            self.assign(stmt.target, item, stmt)
            self.lower_body(stmt.body)

    def _unrolled_range(self, stmt: ast.For, why: str = "a list that grows in a loop") -> None:
        """A counted loop that appends to a list, or indexes one by its variable: unrolled (the
        list's length, and so the loop's range, must be known when tracing)."""
        start, stop, step = (self.constant_of(v) for v in self.range_bounds(stmt.iter))
        if None in (start, stop, step):
            self.unsupported(f"{why} needs the loop's range known when tracing", stmt.iter,
                             "use Python ints or shapes for the bounds, or an array (np.array(xs)) for the list")
        if stmt.orelse or contains(stmt.body, ast.Break, True) or contains(stmt.body, ast.Continue, True) \
                or contains(stmt.body, ast.Return, False):
            self.unsupported(f"break, continue and return are not supported in a loop unrolled for {why}",
                             stmt, "loop without early exits (a flag variable)")
        self._unroll(stmt, [self.b.const(i) for i in range(start, stop, step)])

    def _appends(self, body: list[ast.stmt]) -> bool:
        """Whether the loop body grows a name bound to a list (a tuple binding): `xs.append(v)`,
        `xs.extend(ys)`, `xs += [v]`, `xs = xs + [v]`."""
        def bound_to_list(target: ast.expr) -> bool:
            return isinstance(target, ast.Name) and isinstance(self.env.get(target.id), tuple)

        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("append", "extend") and bound_to_list(node.func.value):
                return True
            if isinstance(node, ast.AugAssign) and bound_to_list(node.target):
                return True
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp) \
                    and any(bound_to_list(t) for t in node.targets):
                return True
        return False

    def _recurses(self, body: list[ast.stmt]) -> bool:
        """Whether the loop body calls, by name, a function being inlined (recursion)."""
        stack = self.ctx.call_stack
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and not isinstance(self.env.get(node.func.id), (Value, tuple)):
                obj = self.static_callee(node.func)
                if obj is not None and any(obj is f for f in stack):
                    return True
        return False

    def _indexes_list(self, stmt: ast.For) -> bool:
        """Whether the loop body indexes a name bound to a list (a tuple binding) with an index
        that reads the loop's variable (`xs[i]`, `Ws[n - 1 - i]`)."""
        targets = set(_target_names(stmt.target))
        for node in ast.walk(ast.Module(body=stmt.body, type_ignores=[])):
            if not isinstance(node, ast.Subscript):
                continue
            base = node.value
            while isinstance(base, ast.Subscript) and isinstance(node.ctx, ast.Store):   # xs[i][j] = v
                base = base.value
            if isinstance(base, ast.Name) and self._list_name(base.id) \
                    and any(isinstance(n, ast.Name) and n.id in targets for n in ast.walk(node.slice)):
                return True
        return False

    def _list_name(self, name: str) -> bool:
        """A name bound to a list here (a tuple binding), or a module-level list or tuple."""
        if name in self.env:
            return isinstance(self.env[name], (tuple, list))   # (list: a list argument)
        return name not in self.local_names and isinstance(self.src.namespace.get(name), (list, tuple))

    def _is_range(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Call) and self.static_callee(node.func) is range

    def _is_reversed_range(self, node: ast.expr) -> bool:
        return (isinstance(node, ast.Call) and self.static_callee(node.func) is reversed
                and len(node.args) == 1 and self._is_range(node.args[0]))

    def range_bounds(self, node: ast.expr) -> tuple[Value, Value, Value]:
        if not self._is_reversed_range(node):
            return super().range_bounds(node)
        # reversed(range(a, b, s)) == range(a + (n - 1) * s, a - s, -s), n = its length
        # (when n <= 0 the start is at or past the stop, so the range is empty as well)
        a, b, s = super().range_bounds(node.args[0])
        s_const = self.constant_of(s)
        if s_const is None:
            self.unsupported("reversed(range(...)) needs a step known when tracing", node)
        shift = s_const - 1 if s_const > 0 else s_const + 1
        n = self.b.emit(Op.FLOORDIV, (self.b.emit(Op.ADD, (self.b.emit(Op.SUB, (b, a)), self.b.const(shift))), s))
        last = self.b.emit(Op.ADD, (a, self.b.emit(Op.MUL, (self.b.emit(Op.SUB, (n, self.b.const(1))), s))))
        return last, self.b.emit(Op.SUB, (a, s)), self.b.const(-s_const)

    # ------------------------------------------------------------------ iterables
    def iteration(self, node: ast.expr) -> _Items:
        """The items of an iterable expression (see `_Items`)."""
        if isinstance(node, ast.Call):
            fn = self.static_callee(node.func)
            if fn is zip and not node.keywords:   # zip(*rows): the starred list's items
                parts = [self._items_of(v, node) for v in self._star_args(node)]
                if parts and all(p.static is not None for p in parts):
                    return _Items(static=tuple(zip(*(p.static for p in parts))))
            if fn in (enumerate, zip, reversed) and any(isinstance(a, ast.Starred) for a in node.args):
                self.unsupported(f"*args in {fn.__name__}() is not supported", node)
            if fn is enumerate:
                if len(node.args) != 1 or (node.keywords and node.keywords[0].arg != "start") or len(node.keywords) > 1:
                    self.unsupported("enumerate(xs) or enumerate(xs, start=k) only", node)
                start = self.static_value(self.expr(node.keywords[0].value), node, "enumerate's start") \
                    if node.keywords else 0
                inner = self.iteration(node.args[0])
                if inner.static is not None:
                    return _Items(static=tuple((self.b.const(start + k), x) for k, x in enumerate(inner.static)))
                return _Items(count=inner.count, item=lambda i: (
                    self.b.emit(Op.ADD, (i, self.b.const(start))), inner.item(i)))
            if fn is zip:
                if node.keywords or not node.args:
                    self.unsupported("zip(a, b, ...) without keywords only", node)
                parts = [self.iteration(a) for a in node.args]
                if all(p.static is not None for p in parts):
                    return _Items(static=tuple(zip(*(p.static for p in parts))))
                if any(p.static is not None for p in parts):
                    self.unsupported("zip of a list or tuple with an array is not supported", node,
                                     "zip arrays with arrays, or lists with lists")
                count = parts[0].count
                for p in parts[1:]:
                    count = self.b.emit(Op.MINIMUM, (count, p.count))
                return _Items(count=count, item=lambda i: tuple(p.item(i) for p in parts))
            if fn is reversed:
                if len(node.args) != 1 or node.keywords:
                    self.unsupported("reversed() takes one argument", node)
                if self._is_range(node.args[0]):
                    return self._range_items(node)
                inner = self.iteration(node.args[0])
                if inner.static is not None:
                    return _Items(static=tuple(reversed(inner.static)))
                last = self.b.emit(Op.SUB, (inner.count, self.b.const(1)))
                return _Items(count=inner.count, item=lambda i: inner.item(self.b.emit(Op.SUB, (last, i))))
            if fn is range:
                return self._range_items(node)
        return self._items_of(self.expr(node), node)

    def _items_of(self, value: Any, node: ast.AST) -> _Items:
        if isinstance(value, (tuple, list)):   # a list argument too (its length is in the signature)
            return _Items(static=tuple(value))
        if isinstance(value, dict):
            return _Items(static=tuple(Static(k) for k in value))
        if isinstance(value, Value) and value.type.rank:
            x = value
            count = self.emit(Op.SHAPE, (x,), node, {"dim": 0})
            return _Items(count=count, item=lambda i: self.emit(Op.GETITEM, (x, i), node, {"index": ("i",)}))
        self.unsupported(f"cannot iterate over {describe(value)}", node,
                         "iterate over a list, a tuple, an array, or range(...)")

    def _star_args(self, node: ast.Call) -> list:
        """The bindings of a call's positional arguments, a starred list or tuple spread."""
        out = []
        for a in node.args:
            if not isinstance(a, ast.Starred):
                out.append(self.expr(a))
                continue
            items = self.expr(a.value)
            if not isinstance(items, (tuple, list)):
                self.unsupported(f"*{ast.unparse(a.value)} spreads {describe(items)}; only a list or tuple "
                                 "known when tracing can be spread here", a,
                                 "pass the arguments one by one")
            out.extend(items)
        return out

    def _range_items(self, node: ast.Call) -> _Items:
        start, stop, step = self.range_bounds(node)
        consts = [self.constant_of(v) for v in (start, stop, step)]
        if None not in consts:
            items = range(*consts)
            if len(items) > UNROLL_LIMIT:
                self.unsupported(f"a range of {len(items)} items is too long to unroll here", node)
            return _Items(static=tuple(self.b.const(i) for i in items))
        if self.constant_of(step) != 1 or self.constant_of(start) != 0:
            self.unsupported("range(n) with n unknown when tracing can only be iterated by a for loop here",
                             node, "for i in range(...) directly")
        return _Items(count=stop, item=lambda i: i)

    # ------------------------------------------------------------------ lists
    def expr_ListComp(self, node: ast.ListComp | ast.GeneratorExp) -> tuple:
        """`[f(v) for v in xs if c]` (several `for`s nest) is unrolled into a tuple; so is a
        generator expression (`sum(x[i] ** 2 for i in range(n))`): its consumers (sum, max,
        min, np.sum, np.array, ...) take it as they take a list. Summed (`_masked`), an item
        whose condition is decided only when the program runs is `where(c, item, 0)`."""
        what = "a generator expression" if isinstance(node, ast.GeneratorExp) else "a list comprehension"
        self.refuse_walrus(node, what)
        out: list = []
        bound = {n for g in node.generators for n in _target_names(g.target)}
        saved = {n: self.env[n] for n in bound if n in self.env}
        masking, self._mask_zero = bool(getattr(self, "_mask_zero", 0)), 0   # not for comprehensions inside
        cells: dict = {}   # the comprehension's scope, for the functions made in it (`closures`)
        outer_cells = getattr(self, "comprehension_cells", ())
        self.comprehension_cells = (*outer_cells, cells)
        try:
            self._comprehend(node, list(node.generators), out, what, masking, None)
        finally:
            self.comprehension_cells = outer_cells
            cells.update((n, self.env[n]) for n in bound if n in self.env)
            self._mask_zero = masking
            for n in bound:
                self.env.pop(n, None)
            self.env.update(saved)
        return ListItems(out) if isinstance(node, ast.ListComp) else tuple(out)

    expr_GeneratorExp = expr_ListComp

    def _comprehend(self, node, generators: list, out: list, what: str, masking: bool, mask) -> None:
        gen, rest = generators[0], generators[1:]
        if gen.is_async:
            self.unsupported("async comprehensions are not supported", node)
        items = self.iteration(gen.iter)
        count = self.constant_of(items.count) if items.static is None else None
        if count is not None and count <= UNROLL_LIMIT:   # over an array of known length (shaped traces)
            items = _Items(static=tuple(items.item(self.b.const(i)) for i in range(count)))
        if items.static is None:
            self.unsupported(f"{what} needs a length known when tracing (a list, a tuple, a range of "
                             "Python ints or of an argument's shape); this one's length is known only "
                             "when the program runs", gen.iter,
                             "for a length that comes from data, write a for loop: accumulate a sum "
                             "(s = s + ...) or fill np.zeros(n) element by element")
        if len(items.static) > UNROLL_LIMIT:
            self.unsupported(f"{what} of {len(items.static)} items is too long to unroll", gen.iter)
        for item in items.static:
            self.assign(gen.target, item, node)
            keep, item_mask = True, mask
            for cond in gen.ifs:
                c = self.expr(cond)
                if masking and not isinstance(c, Static) and self.constant_of(c) is None:
                    t = self.truth(c, cond)   # decided when the program runs: masked in the sum
                    item_mask = t if item_mask is None else self.emit(Op.AND, (item_mask, t), cond)
                    continue
                if not isinstance(c, Static) and self.constant_of(c) is None:
                    self.unsupported(f"{what}'s condition is known only when the program runs, so the "
                                     "length of what it makes is too", cond,
                                     "sum(v for v in x if v > 0) (a sum of kept items) compiles; otherwise "
                                     "keep every item and select: np.where(x > 0, x, 0.0)")
                keep = keep and bool(self.static_value(c, cond, f"{what}'s condition"))
            if not keep:
                continue
            if rest:
                self._comprehend(node, rest, out, what, masking, item_mask)
            elif item_mask is None:
                out.append(self.expr(node.elt))
            else:
                value = self.as_value(self.expr(node.elt), node.elt)
                zero = self.b.const(0.0 if value.type.dtype == "f64" else 0)
                out.append(self.emit(Op.WHERE, (item_mask, value, zero), node.elt))

    def expr_Call(self, node: ast.Call) -> Any:
        """builtins over one list, tuple or array: sum(xs), max(xs), min(xs); other calls as before."""
        # builtins are called by name; looking up a name emits nothing (a method's base would)
        fn = self.static_callee(node.func) if isinstance(node.func, ast.Name) else None
        if fn is None and isinstance(node.func, ast.Attribute) and node.func.attr in ("sum", "prod") \
                and isinstance(node.func.value, ast.Name) and isinstance(self.env.get(node.func.value.id, Static(None)), Static):
            fn = self.static_callee(node.func)   # np.sum: a module's attribute, nothing emitted
        if fn is np.sum and len(node.args) == 1 and not node.keywords \
                and self._runtime_range_generator(node.args[0]):   # np.sum([f(i) for i in range(n)])
            return self._sum_loop(node)
        if fn is np.sum and len(node.args) == 1 and not node.keywords and self._data_conditions(node.args[0]):
            items = self._masked(node.args[0])
            return _fold(self, (self.b.const(0.0), *items), Op.ADD, node) if isinstance(items, tuple) else \
                super().expr_Call(node)
        if fn is builtins.sum and not any(isinstance(a, ast.Starred) for a in node.args):
            if node.args and not node.keywords and len(node.args) <= 2 and self._runtime_range_generator(node.args[0]):
                return self._sum_loop(node)
            args = [self.operand(a) if isinstance(a, ast.Subscript) else self._masked(a) for a in node.args[:1]] \
                + [self.expr(a) for a in node.args[1:]]
            from coarsen.frontend import masks
            if args and isinstance(args[0], masks.Masked):   # sum(x[m])
                return masks.reduce(self, "sum", args[0], args[1:], node.keywords, node)
            return _builtin_sum(self, args, node.keywords, node)
        simple = len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred)
        if fn in (builtins.list, builtins.tuple) and simple:   # list(genexp), tuple(xs): the same items
            items = self.expr(node.args[0])
            if isinstance(items, (tuple, list)):   # (list: a list argument)
                return ListItems(items) if fn is builtins.list else tuple(items)   # list(): a new list
            self.unsupported(f"{fn.__name__}() of {describe(items)} is not supported", node,
                             "build the list with a comprehension, or use the array itself")
        if fn is builtins.zip and node.args and not node.keywords:
            # zip(*pairs) of lists and tuples, outside a for loop (`xs, ys = zip(*pairs)`): tuples
            parts = self._star_args(node)
            if not all(isinstance(p, (tuple, list)) for p in parts):
                self.unsupported("zip() of arrays is supported as a for loop's iterable only", node,
                                 "for a, b in zip(x, y): ...")
            return tuple(tuple(z) for z in zip(*parts))
        if fn in (builtins.any, builtins.all) and simple:
            return _any_all(self, fn.__name__, self.expr(node.args[0]), node)
        if fn is math.prod and simple:
            items = self.expr(node.args[0])
            if isinstance(items, tuple):
                return _fold(self, (self.b.const(1), *items), Op.MUL, node)
        if fn in (builtins.max, builtins.min) and len(node.args) == 1 and not node.keywords \
                and not isinstance(node.args[0], ast.Starred):
            return _extremum(self, fn.__name__, self.expr(node.args[0]), node)
        return super().expr_Call(node)

    def _data_conditions(self, node: ast.expr) -> bool:
        """A comprehension with an `if` (a sum of it may mask items whose condition is data)."""
        return isinstance(node, (ast.GeneratorExp, ast.ListComp)) and any(g.ifs for g in node.generators)

    def _masked(self, node: ast.expr) -> Any:
        """The items of a comprehension summed by its consumer: an item whose `if` is decided
        only when the program runs is `where(condition, item, 0)` (a sum of the kept items)."""
        if not self._data_conditions(node):
            return self.expr(node)
        self._mask_zero = getattr(self, "_mask_zero", 0) + 1
        try:
            return self.expr(node)
        finally:
            self._mask_zero -= 1

    def _runtime_range_generator(self, node: ast.expr) -> bool:
        """`(f(i) for i in range(a, b))` (or a list comprehension) without conditions whose
        bounds are known only when the program runs: `sum` of it is a counted loop."""
        if not isinstance(node, (ast.GeneratorExp, ast.ListComp)) or len(node.generators) != 1:
            return False
        gen = node.generators[0]
        if gen.ifs or gen.is_async or not isinstance(gen.target, ast.Name) or not self._is_range(gen.iter):
            return False
        start, stop, step = self.range_bounds(gen.iter)
        return None in (self.constant_of(start), self.constant_of(stop), self.constant_of(step))

    def _sum_loop(self, node: ast.Call) -> Value:
        """sum(f(i) for i in range(n)) with n known only at run time: `s = start; for i in
        range(n): s = s + f(i)` (Python's order of additions), scalar items only."""
        gen = node.args[0].generators[0]
        bounds = self.range_bounds(gen.iter)
        start = self.as_value(self.expr(node.args[1]), node.args[1]) if len(node.args) == 2 else \
            self.b.const(0.0 if self.static_callee(node.func) is np.sum else 0)
        if start.type.rank:
            self.unsupported("sum(..., start) over a run-time range needs a number as its start", node)
        acc = "$gsum"

        def body(params: list[Value]) -> None:
            self.assign(gen.target, params[0], node)
            item = self.as_value(self.expr(node.args[0].elt), node.args[0].elt)
            if item.type.rank:
                self.unsupported("sum() of arrays over a range known only when the program runs is not "
                                 "supported", node.args[0],
                                 "accumulate in a for loop: s = np.zeros(...); for i in range(n): s = s + ...")
            self.env[acc] = self.emit(Op.ADD, (self.env[acc], item), node)

        saved = self.env.get(acc)
        self.env[acc] = start
        try:
            results = self.lower_loop([acc], body, None, node, index=bounds, index_name=gen.target.id)
        finally:
            self.env.pop(acc, None)
            if saved is not None:
                self.env[acc] = saved
        return results[acc]

    def list_mutation(self, stmt: ast.Expr) -> bool:
        """`xs.append(v)` / `xs.extend(ys)` on a list: the name is bound to the longer tuple."""
        call = stmt.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
            name, method = call.func.value.id, call.func.attr
            if isinstance(self.env.get(name), tuple) and method in ("append", "extend"):
                if len(call.args) != 1 or call.keywords:
                    self.unsupported(f"list.{method} takes one argument", call)
                self.refuse_shared_list(name, f"{name}.{method}(...)", call)
                value = self.expr(call.args[0])
                if method == "extend":
                    if not isinstance(value, tuple):
                        self.unsupported(f"list.extend of {describe(value)} is not supported", call)
                    self.env[name] = ListItems(self.env[name] + value)
                else:
                    self.env[name] = ListItems(self.env[name] + (value,))
                return True
        return False

    def write_list_item(self, target: ast.Subscript, name: str, value: Any) -> None:
        """`xs[i] = v` (and `xs[i][j] = v` into a list of lists) of a list the function made
        (a `ListItems`), at indices known when tracing: `xs` is bound to a new list with the
        item replaced, so later reads see it. Refused where Python's write would be seen
        through another holder (`refuse_shared_list`; an inner list that also sits elsewhere,
        `[[0.0] * 3] * 2`), into list arguments (the caller's list) and tuples."""
        chain = []
        node = target
        while isinstance(node, ast.Subscript):
            chain.append(node)
            node = node.value
        chain.reverse()   # xs[i], then xs[i][j]
        text = ast.unparse(target)
        items = self.lookup(name, node)
        if isinstance(items, list):
            self.unsupported(f"`{text} = ...` writes into `{name}`, a list argument of the function; list "
                             "arguments are read-only here (the write would change the caller's list)", target,
                             f"write into a copy: {name} = list({name})")
        if name not in self.env:
            self.unsupported(f"`{text} = ...` writes into `{name}`, a module-level list (every later call "
                             "would see the change)", target, f"write into a copy: {name}_copy = list({name})")
        self.refuse_shared_list(name, f"{text} = ...", target, "changes")
        path: list = []   # (list, index) from the outermost
        for k, sub in enumerate(chain):
            held = ast.unparse(sub.value)
            if isinstance(items, Value) and items.type.rank:
                self.unsupported(f"`{text} = ...` writes into an array held by the list `{name}` (Python writes "
                                 "the array itself, which every holder sees)", target,
                                 f"take it out, write, and store it back: a = {held}.copy(); a[...] = v; "
                                 f"{held} = a")
            if not isinstance(items, ListItems):
                self.unsupported(f"cannot write into `{held}`, {describe(items)}: only the items of lists made "
                                 "in this function can be written", target,
                                 f"make a new list: {held} = [...] (tuples are immutable)")
            if isinstance(sub.slice, ast.Slice):
                self.unsupported("slice assignment into a list is not supported", target,
                                 f"build the new list: {held} = {held}[:i] + [...] + {held}[j:]")
            key = self.constant_of(b) if isinstance(b := self.expr(sub.slice), Value) and not b.type.rank \
                else (b.obj if isinstance(b, Static) else None)
            if type(key) is not int:
                self.unsupported(f"`{text} = ...` needs a list index known when tracing (a constant, or the "
                                 "variable of a for loop over a range of Python ints, which is unrolled)", sub.slice,
                                 "for an index known only when the program runs, fill an array: "
                                 "xs = np.zeros(n), then xs[i] = v")
            if not -len(items) <= key < len(items):
                from coarsen.frontend.exceptions import fail
                fail(self, IndexError("list assignment index out of range"),
                     f"list index {key} is out of range for {describe(items)}", sub)
            key %= len(items)
            if k and id(items) in self.foreign_lists:
                self.refuse_foreign_list(f"{text} = ...", target)
            if k and holders(self.env, items) > 1:
                self.unsupported(f"`{text} = ...` changes the list `{held}`, which is also held elsewhere "
                                 "(`[[0.0] * 3] * 2` repeats one list; a name or another list may hold it): "
                                 "Python's write would change every holder", target,
                                 "make each inner list its own: [[0.0] * 3 for _ in range(2)]")
            path.append((items, key))
            items = items[key]
        for items, key in reversed(path):
            value = ListItems(items[:key] + (value,) + items[key + 1:])
        self.env[name] = value

    def refuse_foreign_list(self, change: str, node: ast.AST) -> None:
        self.unsupported(f"`{change}` changes a list that the calling or enclosing function passed in or "
                         "holds; lists are values here, so it would keep the old items", node,
                         "return the new list and rebind it in the caller: xs = helper(xs), building it "
                         "with xs = xs + [...] or a comprehension")

    def refuse_shared_list(self, name: str, change: str, node: ast.AST, verb: str = "grows") -> None:
        """A list reachable through another name or container (`acc = out`, `xs = ys = []`,
        `rows = [out]`): changing it through `name` would leave the others with the old items
        (lists are values here), so the change is refused. Found by identity: a list display
        is a new `ListItems` each time; an empty plain tuple is one object everywhere."""
        loops = getattr(self, "_loops", ())
        if loops and name in loops[-1][2]:
            # a compiled loop carries numbers and arrays only: the longer list would be dropped;
            # over an argument's rows (`for x in inputs:`) a trace with the shapes known unrolls it
            self.b.shape_queried = True
            self.unsupported(f"`{change}` {verb} a list made before this loop, which coarsen compiles "
                             "as a loop (a while loop, or one over an array's items), not unrolled", node,
                             "loop over range(n) with n known when tracing (that loop is unrolled), "
                             "or fill an array: out = np.zeros(n), then out[i] = ...")
        items = self.env[name]
        if id(items) in self.foreign_lists:
            self.refuse_foreign_list(change, node)
        if isinstance(items, SharedList):
            self.unsupported(f"`{change}` changes {describe(items)}; lists are values here, so the other "
                             "name would keep the old items", node,
                             f"make a new list: {name} = {name} + [...], or copy it where it is shared: "
                             f"k = list({name})")
        if not (isinstance(items, ListItems) or items):
            return

        others = [n for n, b in self.env.items() if n != name and not n.startswith("$") and holders({n: b}, items)]
        if others:
            self.unsupported(f"`{change}` changes a list that `{others[0]}` also holds; lists "
                             f"are values here, so `{others[0]}` would keep the old items", node,
                             f"change the list through one name only (drop `{others[0]}`), or make a new "
                             f"list: {name} = {name} + [...]")

    def as_value(self, binding: Any, node: ast.AST) -> Value:
        """A list or tuple of scalars where an array is expected: stacked (np.sum([a, b]))."""
        if isinstance(binding, tuple) and binding and all(isinstance(b, Value) and not b.type.rank for b in binding):
            return self.emit(Op.STACK, tuple(self.cast_to(b, b.type.with_dtype("f64")) if b.type.dtype != "f64" else b
                                             for b in binding), node)
        return super().as_value(binding, node)


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _target_names(t)]
    return []


# ---------------------------------------------------------------------- builtins over containers
def _fold(lw, items: tuple, op: Op, node) -> Value:
    values = [lw.as_value(v, node) for v in items]
    out = values[0]
    for v in values[1:]:
        out = lw.emit(op, (out, v), node)
    return out


def _builtin_sum(lw, args, kwargs, node):
    if kwargs or not 1 <= len(args) <= 2:
        lw.unsupported("sum(xs) or sum(xs, start) only", node)
    xs, start = args[0], (args[1] if len(args) == 2 else lw.b.const(0))
    if isinstance(xs, (tuple, list)):   # (list: a list argument, or a slice of one)
        return _fold(lw, (start, *xs), Op.ADD, node)
    x = lw.as_value(xs, node)
    if not x.type.rank:
        lw.type_error("sum() of a number", node)
    total = lw.emit(Op.SUM, (x,), node, {"axis": 0, "keepdims": False} if x.type.rank > 1 else {"axis": None})
    return lw.emit(Op.ADD, (lw.as_value(start, node), total), node)


def _any_all(lw, name: str, xs: Any, node) -> Value:
    """any(...) / all(...) of a list, tuple or generator expression of truth values."""
    if not isinstance(xs, tuple):
        lw.unsupported(f"{name}() of {describe(xs)} is not supported", node, f"use np.{name}(x) for an array")
    out = lw.b.const(name == "all")
    for x in xs:
        t = lw.truth(lw.as_value(x, node), node)
        out = lw.emit(Op.OR if name == "any" else Op.AND, (out, t), node)
    return out


def _extremum(lw, name: str, xs: Any, node) -> Value:
    from coarsen.ops.binary import python_extremum

    op2, reduce_op = {"max": ("MAXIMUM", Op.MAX), "min": ("MINIMUM", Op.MIN)}[name]
    if isinstance(xs, (tuple, list)):
        if not xs:
            lw.unsupported(f"{name}() of an empty sequence", node)
        return python_extremum(lw, [lw.as_value(v, node) for v in xs], op2, node)
    x = lw.as_value(xs, node)
    if x.type.rank == 1:
        if x.type.dtype == "f64":
            # Python's max keeps the first element and takes each later one that compares
            # greater: a NaN first stays, a NaN later is skipped. So NaNs after the first
            # element count as the first element (the max of x[:1]: an empty x is a
            # ValueError, as in Python).
            head = lw.emit(Op.GETITEM, (x, lw.b.const(1)), node, {"index": ("s010",)})
            first = lw.emit(reduce_op, (head,), node, {"axis": None})
            x = lw.emit(Op.WHERE, (lw.emit(Op.NE, (x, x), node), first, x), node)
        return lw.emit(reduce_op, (x,), node, {"axis": None})
    lw.unsupported(f"{name}() of {describe(xs)}: only lists, tuples and 1-D arrays", node,
                   f"use np.{name}(x, axis=0)")
