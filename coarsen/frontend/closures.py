"""Nested functions, lambdas and recursion (a mixin of the `Lowerer`, tried first).

- `def g(...)` inside a traced function and `lambda ...: expr` bind a `LocalFunction`; a
  call inlines its body in a new `Lowerer` whose environment is the enclosing function's as
  it is at the call (Python's late-binding closures; assignments inside stay local, and the
  callee may not write into arrays it did not create). Defaults are evaluated at the `def`.
  A function made in a comprehension closes over the comprehension's own variables: called
  after it, it sees their last values (`[lambda v: v * k for k in range(3)]` all use k = 2),
  not a name of the enclosing function that the comprehension's variable shadowed.
- Recursion (of module-level or local functions) is inlined call by call, so it terminates
  when its depth is fixed by values known when tracing (literals, Python ints folded as
  constants, argument shapes in a shape-specialised trace: `frontend.trace`): the branch that
  stops it is decided at trace time; a `for` over a constant range whose body recurses is
  unrolled (`containers`), so that each call's arguments have their own shapes. Deeper than
  `RECURSION_LIMIT` levels, or more than `CALL_LIMIT` inlined calls of one function, it is
  refused at the call (recursion that depends on data cannot be unrolled).
"""
from __future__ import annotations

import ast
import dataclasses
from typing import Any

from coarsen.frontend.bindings import Static, leaves, list_ids
from coarsen.frontend.scope import assigned_names, local_names
from coarsen.ir.nodes import Value

RECURSION_LIMIT = 24
CALL_LIMIT = 4096


@dataclasses.dataclass(eq=False)
class LocalFunction:
    node: ast.FunctionDef          # a lambda is wrapped as `def <lambda>(...): return expr`
    definer: Any                   # the Lowerer whose environment the body closes over
    defaults: tuple                # bindings of the defaults, evaluated at the definition
    cells: tuple = ()              # the scopes of the comprehensions it was made in (outermost
                                   # first): empty while the comprehension runs, then its
                                   # variables' final values, which shadow the definer's names

    @property
    def __name__(self) -> str:
        return self.node.name

    def describe(self) -> str:
        what = "a lambda" if self.node.name == "<lambda>" else f"the function {self.node.name}"
        return f"{what} (defined at line {self.definer.src.loc(self.node).lineno})"


def _as_def(node: ast.Lambda) -> ast.FunctionDef:
    fn = ast.FunctionDef(name="<lambda>", args=node.args, body=[ast.Return(node.body)], decorator_list=[],
                         returns=None, type_comment=None)
    ast.copy_location(fn, node)
    ast.copy_location(fn.body[0], node.body)
    return fn


def check_recursion(lw, fn: Any, name: str, node: ast.AST) -> None:
    """Refuse a recursion that does not stop when tracing (see the module docstring)."""
    depth = sum(1 for f in lw.ctx.call_stack if f is fn)
    counts = lw.ctx.__dict__.setdefault("inline_counts", {})
    counts[id(fn)] = counts.get(id(fn), 0) + 1
    if depth >= RECURSION_LIMIT or counts[id(fn)] > CALL_LIMIT:
        stack = lw.ctx.call_stack
        last = max(k for k, f in enumerate(stack) if f is fn)
        cycle = " -> ".join(getattr(f, "__name__", "?") for f in stack[last:]) + f" -> {name}"
        lw.unsupported(f"the recursion of {name} ({cycle}) does not stop when tracing (deeper than "
                       f"{RECURSION_LIMIT} levels or {CALL_LIMIT} calls)", node,
                       "recursion is unrolled: its depth must be fixed by literals, Python ints or the "
                       "arguments' shapes (a.shape[0], len(x)); rewrite recursion that depends on data "
                       "as a loop")


class ClosureLowering:
    def stmt_FunctionDef(self, stmt: ast.FunctionDef) -> None:
        if stmt.decorator_list:
            self.unsupported("decorated nested functions are not supported", stmt, "define it without decorators")
        self.env[stmt.name] = Static(self._local_function(stmt, stmt))

    def expr_Lambda(self, node: ast.Lambda) -> Static:
        return Static(self._local_function(_as_def(node), node))

    def _local_function(self, fn: ast.FunctionDef, node: ast.AST) -> LocalFunction:
        a = fn.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
            self.unsupported("nested functions with *args, **kwargs, keyword-only or positional-only "
                             "parameters are not supported", node, "list the parameters explicitly")
        defaults = tuple(self.expr(d) for d in a.defaults)
        return LocalFunction(fn, self, defaults, tuple(getattr(self, "comprehension_cells", ())))

    def expr_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and isinstance(self.env.get(node.func.id), Static) \
                and isinstance(self.env[node.func.id].obj, LocalFunction):
            return self.call_local(self.env[node.func.id].obj, node)
        if isinstance(node.func, (ast.Subscript, ast.Lambda)):   # fs[1](x), (lambda v: ...)(x)
            callee = self.expr(node.func)
            if isinstance(callee, Static) and isinstance(callee.obj, LocalFunction):
                return self.call_local(callee.obj, node)
        return super().expr_Call(node)

    def call_binding(self, callee: Any, args: list, kwargs: dict, node: ast.AST, arg_nodes=()) -> Any:
        if isinstance(callee, Static) and isinstance(callee.obj, LocalFunction):
            return self.inline_local(callee.obj, args, kwargs, node)
        return super().call_binding(callee, args, kwargs, node, arg_nodes)

    def call_local(self, lf: LocalFunction, node: ast.Call) -> Any:
        args, _, kwargs = self.call_arguments(node, self.expr)
        return self.inline_local(lf, args, kwargs, node)

    def inline_local(self, lf: LocalFunction, args: list, kwargs: dict, node: ast.AST) -> Any:
        check_recursion(self, lf, lf.node.name, node)
        params = [p.arg for p in lf.node.args.args]
        if len(args) > len(params):
            self.type_error(f"{lf.node.name}() takes {len(params)} arguments, got {len(args)}", node)
        bound = dict(zip(params, args))
        for k, v in kwargs.items():
            if k not in params or k in bound:
                self.type_error(f"{lf.node.name}() got an unexpected or repeated argument `{k}`", node)
            bound[k] = v
        first_default = len(params) - len(lf.defaults)
        for k, name in enumerate(params):
            if name not in bound:
                if k < first_default:
                    self.type_error(f"{lf.node.name}() is missing the argument `{name}`", node)
                bound[name] = lf.defaults[k - first_default]
        src = dataclasses.replace(lf.definer.src, node=lf.node)
        callee = type(self)(src, self.ctx)
        # the closure: the enclosing variables as they are bound now (not its control flags)
        callee.env = {n: v for n, v in lf.definer.env.items() if not n.startswith("$")}
        # Python's late binding: a name the function does not bind itself is read from the
        # enclosing function as it is when read (`lookup` goes through `outer`), so a closure
        # made by a nested function sees a later rebinding in the outer one
        # its own locals (Python's rule: bound anywhere in it) start unbound, whatever the
        # enclosing function binds under the same names: `z = y * 2; y = 3.0` raises
        for name in local_names(lf.node) - set(params):
            callee.env.pop(name, None)
        callee.outer, callee.snapshot = lf.definer, dict(callee.env)
        callee.own_names = {p.arg for p in lf.node.args.args} | assigned_names(lf.node.body) | {
            s.name for s in ast.walk(lf.node) if isinstance(s, ast.FunctionDef) and s is not lf.node}
        for cells in lf.cells:   # made in a comprehension that has ended: its variables' last values
            callee.env.update(cells)
            for n in cells:
                callee.snapshot.pop(n, None)
        callee.foreign = frozenset().union(
            lf.definer.foreign,
            *(self.ctx.aliases.storages(v) for b in bound.values() for v in leaves(b) if v.type.rank),
            *(self.ctx.aliases.storages(v) for b in callee.env.values() for v in leaves(b)
              if isinstance(v, Value) and v.type.rank))
        callee.foreign_lists = lf.definer.foreign_lists | list_ids(bound.values()) | list_ids(callee.env.values())
        self.ctx.call_stack.append(lf)
        try:
            return callee.lower_function(bound)
        finally:
            self.ctx.call_stack.pop()


__all__ = ["ClosureLowering", "LocalFunction", "check_recursion"]
