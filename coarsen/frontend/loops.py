"""Loops -> FOR / WHILE (a mixin of the `Lowerer` in `statements`).

Input: a `for ... in range(...)` or `while` statement. Output: one FOR or WHILE instruction
whose region parameters are the loop-header phis of the names the body may rebind (and the
exit flags), and the environment after the loop.

- `for i in range(a, b, step)` becomes FOR, or a WHILE over a counter when the body can break
  or return (the condition tests the flags, so every region keeps a single exit);
- a carried value whose type widens in the body (int -> float) makes the body be lowered again
  with the wider type; so does a `return` inside the loop (its value becomes carried) and a
  carried array whose possible storages grow (`aliases.LoopStorages`).
"""
from __future__ import annotations

import ast
from typing import Any

from coarsen.frontend.aliases import LoopStorages
from coarsen.frontend.bindings import (Conflict, MaybeBound, Method, SharedList, Static, describe, freeze, holders,
                                      leaves, lists_in, map_leaves, same_structure)
from coarsen.errors import UnsupportedError
from coarsen.frontend.scope import assigned_names, contains, local_names
from coarsen.ir.nodes import Op, Region, Value
from coarsen.ir.types import BOOL, F64, I64, Type, join


class ReadBeforeBind(Exception):
    """Internal signal (not a coarsen error, so no `try` in the user's code folds it): the body
    of `loop` read `name`, a local it binds further down, before binding it in this pass; the
    value is an earlier iteration's, so `loop` carries the name (`LoopLowering.lower_loop`)."""

    def __init__(self, name: str, loop: ast.stmt):
        super().__init__(name)
        self.name, self.loop = name, loop


# The types tried, in order, for a name carried by `ReadBeforeBind` until the body's binding
# tells its type (a first pass whose reads refuse the guess tries the next one).
_GUESSES = (F64, Type("f64", 1), Type("f64", 2), I64, BOOL, Type("f64", 3), Type("i64", 1))


def hint_of(name: str) -> str:
    """The printed name of an environment entry: `$brk` -> `brk`, `$i.next@3:4` -> `i.next`."""
    return name.lstrip("$").split("@")[0]


class LoopLowering:
    @property
    def local_names(self) -> frozenset[str]:
        """The function's locals by Python's rule (`scope.local_names`), once per function."""
        names = self.__dict__.get("_local_names")
        if names is None:
            names = self.__dict__["_local_names"] = local_names(self.src.node)
        return names

    def unbound_local(self, name: str, node: ast.AST) -> Value:
        """A read of a local that no path into here has bound: an earlier iteration's value if a
        loop around binds it further down (that loop carries it: `ReadBeforeBind`), else
        Python's UnboundLocalError where the read runs (not the module's global of that name)."""
        for loop, assigned, before in self.__dict__.get("_loops", ()):   # outermost first
            if name in assigned and name not in before:
                raise ReadBeforeBind(name, loop)
        from coarsen.frontend.exceptions import python_error
        message = f"cannot access local variable '{name}' where it is not associated with a value"
        python_error(self, UnboundLocalError(message), node, f"assign `{name}` before this line")
        return self.b.const(0.0)   # under a run-time check that raises where this runs

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
        from coarsen.frontend.random import LoopFrame
        frame = LoopFrame(len(self.ctx.loop_uids), (start, stop, step), len(self.ctx.draws))
        self.ctx.loop_uids.append(stmt)

        def body(params: list[Value]) -> None:
            self.env[target] = params[0]
            del self.ctx.draws[frame.mark:]   # a body lowered again (wider types) draws again
            frame.index = params[0]
            frame.depth = len(self.b._blocks)
            self.ctx.loop_frames.append(frame)   # random draws in the body: made per iteration
            try:
                self.lower_body(stmt.body)
            finally:
                self.ctx.loop_frames.pop()

        results = self.lower_loop(carried, body, None, stmt, index=(start, stop, step), index_name=target)
        self.env.update(results)

    def stmt_While(self, stmt: ast.While) -> None:
        if stmt.orelse:
            self.unsupported("while/else is not supported", stmt, "use a flag variable")
        self.refuse_walrus(stmt.test, "a while loop's condition")
        endless = isinstance(stmt.test, ast.Constant) and bool(stmt.test.value)
        self.lower_while(stmt, stmt.body, lambda: self.expr(stmt.test), stmt.test, [], runs_once=endless)
        if endless and "$ret" in self.env and not contains(stmt.body, ast.Break, True):
            self.env["$ret"] = self.b.const(True)   # `while True` without break ends only by return

    def lower_counted_while(self, stmt: ast.For, start: Value, stop: Value, step: Value) -> None:
        # unique per loop statement and deterministic (printing must not depend on memory addresses)
        counter = f"${stmt.target.id}.next@{stmt.lineno}:{stmt.col_offset}"
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

        self.lower_while(stmt, stmt.body, test, stmt.iter, [counter, stmt.target.id], prologue,
                         runs_once=self.runs_once((start, stop, step)))
        del self.env[counter]

    def lower_while(self, stmt, body_stmts, test, test_node, extra, prologue=None, runs_once=False) -> None:
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
            for flag in ("$brk", "$ret"):   # the condition tested them: false on entry
                if flag in self.env:
                    self.env[flag] = self.b.const(False)
            if prologue:
                prologue()
            self.lower_body(body_stmts)

        results = self.lower_loop(carried, body, cond, stmt, runs_once=runs_once)
        self.env.update(results)
        self.env.pop("$brk", None)
        self.env.pop("$cont", None)
        self.env.update(saved)

    def runs_once(self, bounds: tuple[Value, Value, Value]) -> bool:
        """Whether range(start, stop, step) is known when tracing to run at least once."""
        start, stop, step = (self.constant_of(v) for v in bounds)
        return all(isinstance(v, int) for v in (start, stop, step)) and step != 0 \
            and len(range(start, stop, step)) > 0

    def read_outside(self, stmt: ast.stmt) -> frozenset[str]:
        """The names the function may read after the loop statement `stmt`: below it, or
        anywhere in a loop around it (a name first bound in a loop body is carried out of the
        loop only then). Once per loop statement (the body is lowered again on retries)."""
        cache = self.__dict__.setdefault("_read_outside", {})
        names = cache.get(id(stmt))
        if names is None:
            inside = {id(n) for n in ast.walk(stmt)}
            end = (stmt.end_lineno or stmt.lineno, stmt.end_col_offset or 0)
            around = set()
            for loop in ast.walk(self.src.node):
                if isinstance(loop, (ast.For, ast.While)) and loop is not stmt:
                    ids = {id(n) for n in ast.walk(loop)}
                    if id(stmt) in ids:
                        around |= ids
            names = cache[id(stmt)] = frozenset(
                n.id for n in ast.walk(self.src.node)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and id(n) not in inside
                and ((n.lineno, n.col_offset) >= end or id(n) in around))
        return names

    def carried_names(self, body: list[ast.stmt], extra: list[str]) -> list[str]:
        names = assigned_names(body) | set(extra)
        return [n for n in self.env if n in names and not isinstance(self.env[n], (Static, Method, Conflict))]

    def lower_loop(self, carried: list[str], body_fn, cond_fn, stmt, index=None,
                   index_name: str = "i", runs_once: bool = False) -> dict[str, Any]:
        """Lower a loop body (and WHILE condition) with `carried` names as loop-header phis.

        Retries with widened types, with `$rv` added, or with carried arrays' storages grown
        (see `aliases.LoopStorages`) until the yields match the params. A name the body binds
        first and the function reads after the loop (`for i in range(n): y = ...` then
        `return y`) is carried as a `MaybeBound`, unbound before the loop; it is plainly bound
        after the loop when every pass through the body binds it and the loop runs at least
        once (`runs_once`, or constant range bounds), else reading it checks when running.
        """
        if index is not None:
            runs_once = runs_once or self.runs_once(index)
        loops = self.__dict__.setdefault("_loops", [])
        if isinstance(stmt, (ast.For, ast.While)):
            loops.append((stmt, frozenset(assigned_names(stmt.body)), frozenset(self.env)))
        try:
            out = self._lower_loop(carried, body_fn, cond_fn, stmt, index, index_name, runs_once)
            if self.shared_after_loop:   # the other holders of a list a carried name held
                self.env = {n: freeze(b, self.shared_after_loop) for n, b in self.env.items()}
            return out
        finally:
            if isinstance(stmt, (ast.For, ast.While)):
                loops.pop()

    def _lower_loop(self, carried, body_fn, cond_fn, stmt, index, index_name, runs_once) -> dict[str, Any]:
        carried = list(carried)
        before = dict(self.env)
        inits = {n: before[n] for n in carried}
        widened: dict[int, Type] = {}   # position among the flattened carried leaves -> type
        marks: dict[int, tuple] = {}    # ... -> NumPy scalar or not (`Lowerer.scalar_mark`), widened likewise
        storages: LoopStorages | None = None
        guessed: dict[str, int] = {}   # read before bound (`ReadBeforeBind`), type not yet seen -> guess
        refused: UnsupportedError | None = None
        attempts = 0
        while attempts < 32 + 8 * len(carried):   # each name read early costs a few passes
            attempts += 1
            flat_inits = [v for n in carried for v in leaves(inits[n])]
            types = [widened.get(k, v.type) for k, v in enumerate(flat_inits)]
            for k, v in enumerate(flat_inits):
                if k not in marks:
                    marks[k] = self.joined_mark([(self.scalar_mark(v), v.type.dtype)], types[k].dtype)
            if storages is None:
                storages = LoopStorages(self.ctx.aliases, id(stmt), flat_inits)
            storages.extend(flat_inits)
            try:
                body_region, body_env, params = self._loop_region(
                    carried, inits, types, marks, storages, body_fn, index_name if index is not None else None,
                    before, index)
            except ReadBeforeBind as signal:
                if signal.loop is not stmt or signal.name in inits:
                    raise
                self.env = before
                guessed[signal.name] = 0
                inits[signal.name] = before[signal.name] = self._unbound(_GUESSES[0])
                carried.append(signal.name)
                continue
            except UnsupportedError as err:
                if not guessed:
                    raise
                refused = refused or err   # the guessed type refused by a read: try the next
                name = next(reversed(guessed))
                guessed[name] += 1
                if guessed[name] == len(_GUESSES):
                    raise refused from None
                self.env = before
                inits[name] = before[name] = self._unbound(_GUESSES[guessed[name]])
                continue
            if guessed:   # the body bound them: their placeholders take the binding's type
                retry = False
                for n in guessed:
                    out = body_env[n]
                    inner = out.value if isinstance(out, MaybeBound) else out
                    if not isinstance(inner, Value):
                        self.type_error(f"`{n}` is read before the loop body binds it, to "
                                        f"{describe(out)}: only a number or an array can be", stmt,
                                        f"bind `{n}` before the loop")
                    if inner.type != inits[n].value.type:
                        inits[n] = before[n] = self._unbound(inner.type)
                        retry = True
                guessed.clear()
                if retry:
                    self.env = before
                    continue
            new_names = [n for n in ("$rv", "$ret") if n in body_env and n not in inits
                         and not isinstance(body_env[n], (Static, Method, Conflict))]
            if isinstance(stmt, (ast.For, ast.While)):   # a user's name first bound in the body
                new_names += [n for n in body_env if not n.startswith("$") and n not in inits
                              and n not in before and isinstance(body_env[n], (Value, MaybeBound))
                              and n in self.read_outside(stmt)]
            if new_names:   # a return inside the loop: carry its value, with a placeholder init
                self.env = before
                for n in new_names:
                    if n.startswith("$"):
                        inits[n] = self.false_or_placeholder(n, body_env[n])
                    else:
                        out = body_env[n]
                        inner = out.value if isinstance(out, MaybeBound) else out
                        inits[n] = MaybeBound(self.false_or_placeholder(n, inner), self.b.const(False))
                    before[n] = inits[n]
                    carried.append(n)
                continue
            self.refuse_rebound_statics(stmt, before, body_env, carried)
            yields = []
            always = set()   # names every pass through the body binds
            for n in carried:
                out = body_env[n]
                if isinstance(inits[n], MaybeBound) and isinstance(out, Value):
                    with self.b.reopen(body_region[0]):
                        out = MaybeBound(out, self.b.const(True))
                if isinstance(out, MaybeBound) and self.constant_of(out.flag) is True:
                    always.add(n)
                if not same_structure(out, inits[n]):
                    self.type_error(f"`{n}` changes from {describe(inits[n])} to {describe(out)} in the loop",
                                    stmt, "keep the same kind of value in a variable across iterations")
                yields.extend(leaves(out))
            retry = False
            owners = [n for n in carried for _ in leaves(inits[n])]
            for k, (y, t) in enumerate(zip(yields, types)):
                wide = join(y.type, t)
                placeholder = owners[k].startswith("$") or isinstance(inits[owners[k]], MaybeBound)
                if wide is not None and wide != t and not placeholder:
                    self.refuse_changed_dtype(owners[k], t, y, marks[k], wide, stmt)
                if wide is None:
                    self.type_error(f"`{(y.hint or params[k].hint).lstrip('$')}` is {t} before the loop and "
                                    f"{y.type} inside it",
                                    stmt, "initialise it before the loop with the kind of value it will "
                                    "hold (an array: np.zeros(...), a float: 0.0)")
                if wide != t:
                    widened[k] = wide
                    retry = True
                    if wide.dtype == "f64" and t.dtype != "f64":
                        self.ctx.widened_joins += 1
                mark = self.joined_mark([(marks[k], t.dtype), (self.scalar_mark(y), y.type.dtype)], wide.dtype)
                if mark != marks[k]:   # a NumPy scalar at entry, a Python number after a pass (or back)
                    marks[k] = mark
                    retry = True
            if storages.update(yields):
                retry = True
            if retry:
                self.env = before
                continue
            with self.b.reopen(body_region[0]):
                yields = [self.cast_to(y, t) for y, t in zip(yields, types)]
            self.env = before
            flat_init_values = [self.cast_to(v, t) for v, t in zip(flat_inits, types)]
            try:
                regions, args = self._loop_regions(body_region, yields, cond_fn, carried, inits, types, marks,
                                                   storages, before, index, flat_init_values)
            except ReadBeforeBind as signal:   # the condition reads a name the body binds: it
                if signal.loop is not stmt or signal.name in inits:   # raises at the first test
                    raise                                            # unless bound before
                self.env = before
                inits[signal.name] = before[signal.name] = self._unbound(_GUESSES[0])
                guessed[signal.name] = 0
                carried.append(signal.name)
                continue
            op = Op.FOR if index is not None else Op.WHILE
            results = self.b.emit_control(op, args, types, regions, self.src.loc(stmt),
                                          [p.hint for p in params])
            storages.bind(results)
            for k, r in enumerate(results):
                self.set_mark(r, marks[k])
            it = iter(results)
            out = {n: map_leaves(inits[n], lambda _v: next(it)) for n in carried}
            # a carried list is rebuilt from the loop's results, apart from any other name that
            # held it (`k = m` in the body): neither may change it after the loop (`SharedList`)
            shared = {n: {id(x) for env, b in ((before, inits[n]), (body_env, body_env.get(n)))
                          for x in lists_in(b) if holders(env, x, True) > 1} for n in carried}
            self.shared_after_loop = set().union(*shared.values())
            if self.shared_after_loop:
                out.update((n, SharedList(out[n])) for n in carried if shared[n] and isinstance(out[n], tuple))
            if runs_once:   # the first pass binds them: no run-time check after the loop
                out.update((n, out[n].value) for n in always if isinstance(out[n], MaybeBound))
            return out
        raise self.type_error("the types of the loop's variables do not settle", stmt)

    def refuse_rebound_statics(self, stmt, before: dict, body_env: dict, carried) -> None:
        """A name the trace holds as a Python object (None, a function, a string, a module) that the
        body binds to something else: the next pass and the code after the loop would see that,
        while the trace decided them with the binding before the loop (`prev = None` then
        `if prev is not None:` ... `prev = x[i]`). Refused at the loop."""
        if not isinstance(stmt, (ast.For, ast.While)):
            return
        for name in sorted(assigned_names(stmt.body)):
            if name in carried or name not in before or name not in body_env:
                continue
            old, new = before[name], body_env[name]
            if new is old or (isinstance(old, (Static, Method)) and isinstance(new, (Static, Method)) and old == new):
                continue
            self.type_error(f"`{name}` is {describe(old)} before the loop and {describe(new)} after its body: "
                            "the compiled loop decides what it does with the binding before the loop", stmt,
                            f"give `{name}` the kind of value the loop binds before it too (a number or "
                            "an array, with a separate flag for 'not set yet': found = False)")

    def refuse_changed_dtype(self, name: str, before: Type, y: Value, mark, wide: Type, stmt) -> None:
        """A loop carry whose dtype the body changes keeps its dtype before the loop on a path that
        runs the body zero times: refused for arrays (a mask selects, an int array gathers; int64
        wraps where float64 does not) and for a NumPy int64 made a float (it wraps, divides by
        zero to 0). A Python int summed into floats (`s = 0`) is a float on every path that matters."""
        numpy_int = "i64" in mark[1] or "i64" in self.numpy_dtypes(y)
        if before.rank or (wide.dtype == "f64" and numpy_int):
            what = "array" if before.rank else "NumPy scalar"
            self.type_error(f"`{name}` is a {before.dtype} {what} before the loop and {y.type.dtype} inside it: "
                            "where the body runs zero times it keeps its dtype, one dtype would change what "
                            "it computes on one of the paths", stmt,
                            f"convert it before the loop too ({name} = {name}.astype(...)"
                            f"{'' if before.rank else ' or float(...)'})")

    def _unbound(self, type: Type) -> MaybeBound:
        """The loop-entry binding of a name an earlier iteration binds: unbound, a placeholder."""
        return MaybeBound(self.false_or_placeholder("", self.b.new_value(type, "")), self.b.const(False))

    def _bind_params(self, carried, inits, types, storages, before, marks) -> list[Value]:
        flat = [(n, v) for n in carried for v in leaves(inits[n])]
        params = [self.b.new_value(t, hint_of(n)) for (n, v), t in zip(flat, types)]
        for k, p in enumerate(params):
            self.set_mark(p, marks[k])
        storages.bind(params)
        it = iter(params)
        self.env = dict(before)
        self.env.pop("$cont", None)
        for n in carried:
            self.env[n] = map_leaves(inits[n], lambda _v: next(it))
        return params

    def _loop_region(self, carried, inits, types, marks, storages, body_fn, index_name, before, bounds=None):
        counted = index_name is not None
        storages.body_start = self.b.next_id
        with self.b.region() as block:
            params = self._bind_params(carried, inits, types, storages, before, marks)
            index = self.b.new_value(I64, index_name) if counted else None
            if counted:
                self.ctx.range_ints.add(index.id)   # within a range's int64 bounds (`int_sum`)
            if counted and bounds is not None:   # counting up from a constant: a lower bound (aliases)
                start, step = self.constant_of(bounds[0]), self.constant_of(bounds[2])
                if isinstance(start, int) and isinstance(step, int) and step > 0:
                    starts = getattr(self.ctx, "loop_starts", None)
                    if starts is None:
                        starts = self.ctx.loop_starts = {}
                    starts[index.id] = start
            body_fn([index] if counted else params)
            env = self.env
        return (block, tuple(([index] if counted else []) + params)), env, params

    def _loop_regions(self, body_region, yields, cond_fn, carried, inits, types, marks, storages, before,
                      index, init_values):
        block, params = body_region
        body = Region(params, tuple(block), tuple(yields))
        if index is not None:
            start, stop, step = index
            return (body,), (start, stop, step, *init_values)
        with self.b.region() as cond_block:
            cond_params = self._bind_params(carried, inits, types, storages, before, marks)
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
