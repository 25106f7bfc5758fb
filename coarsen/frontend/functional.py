"""Calls that take a function: functools.reduce, map, the operator module, np.piecewise.

Input: the call's argument bindings; a function argument is any binding the frontend can call
(a module-level function, a lambda or nested def, a NumPy function, `operator.mul`), called
through `Lowerer.call_binding` as if the program had written the call. Output: bindings.
Invariants: sequences are lists and tuples known when tracing (their items are unrolled, as
`sum(xs)` is); an array in their place is refused with a loop as the hint. np.piecewise
applies each function to the whole array and selects (NumPy applies it to the selected
elements), so it accepts a function only where that is the same thing: it is made of
elementwise operations of its argument and numbers, nothing else; anything else is refused.
"""
from __future__ import annotations

import ast
import builtins
import functools
import operator
from typing import Any

import numpy as np

from coarsen.frontend.bindings import ListItems, Static, describe
from coarsen.ir.nodes import ELEMENTWISE, Op, Value

_BINARY = {operator.add: ast.Add, operator.sub: ast.Sub, operator.mul: ast.Mult,
           operator.truediv: ast.Div, operator.floordiv: ast.FloorDiv, operator.mod: ast.Mod,
           operator.pow: ast.Pow, operator.matmul: ast.MatMult}
_COMPARE = {operator.lt: Op.LT, operator.le: Op.LE, operator.gt: Op.GT, operator.ge: Op.GE}


def _binary(op):
    def lower(lw, args, kwargs, node):
        if kwargs or len(args) != 2:
            lw.type_error(f"operator.{op.__name__.lower()} takes two arguments", node)
        written = ast.copy_location(ast.BinOp(left=ast.Constant(None), op=op(), right=ast.Constant(None)), node)
        return lw.binop(op(), args[0], args[1], written)   # as `a op b` (Python's `**`, not np.power)
    return lower


def _compare(op: Op, name: str):
    def lower(lw, args, kwargs, node):
        if kwargs or len(args) != 2:
            lw.type_error(f"operator.{name} takes two arguments", node)
        return lw.emit(op, tuple(lw.as_value(a, node) for a in args), node)
    return lower


def _neg(lw, args, kwargs, node):
    if kwargs or len(args) != 1:
        lw.type_error("operator.neg takes one argument", node)
    return lw.emit(Op.NEG, (lw.as_value(args[0], node),), node)


def _sequence(lw, binding: Any, node, what: str) -> tuple:
    if isinstance(binding, (tuple, list)):
        return tuple(binding)
    lw.unsupported(f"{what} of {describe(binding)} is not supported: sequences are lists and tuples "
                   "here", node, "for an array, write a for loop over its rows (or a vectorised expression)")


def _reduce(lw, args, kwargs, node):
    if kwargs or not 2 <= len(args) <= 3:
        lw.type_error("functools.reduce(function, iterable[, initial]) takes two or three arguments", node)
    fn, items = args[0], _sequence(lw, args[1], node, "functools.reduce()")
    if len(args) == 3:
        items = (args[2], *items)
    if not items:
        lw.type_error("reduce() of empty iterable with no initial value", node)
    out = items[0]
    for item in items[1:]:
        out = lw.call_binding(fn, [out, item], {}, node)
    return out


def _map(lw, args, kwargs, node):
    """map(f, xs, ...): the results as a tuple (what list(), sum() and for loops read)."""
    if kwargs or len(args) < 2:
        lw.type_error("map(function, iterable, ...) takes a function and iterables", node)
    seqs = [_sequence(lw, a, node, "map()") for a in args[1:]]
    return tuple(lw.call_binding(args[0], list(items), {}, node) for items in zip(*seqs))


def _piecewise(lw, args, kwargs, node):
    from coarsen.ops import lowering as L

    x, condlist, funclist, *extra = list(args) + [kwargs.pop(k) for k in ("condlist", "funclist") if k in kwargs]
    if lw.as_value(x, node).type.dtype != "f64":   # (before L.array, which converts to float64)
        lw.unsupported("np.piecewise() of an integer or boolean array: NumPy's result keeps that dtype "
                       "(function values are truncated)", node, "convert first: x.astype(float)")
    x = L.array(lw, x, node, "piecewise")
    conds = list(condlist) if isinstance(condlist, (tuple, list)) else [condlist]
    conds = [lw.as_value(c, node) for c in conds]
    for c in conds:
        if c.type.dtype != "bool" or c.type.rank != x.type.rank:
            lw.type_error(f"np.piecewise(): a condition must be a boolean array shaped as x, got {describe(c)}",
                          node, "compare x itself: x < 0")
        _same_shape(lw, c, x, node)
    funcs = list(funclist) if isinstance(funclist, (tuple, list)) else [funclist]
    if len(funcs) == len(conds) + 1:   # the last one applies where no condition holds
        anyone = lw.b.const(False)
        for c in conds:
            anyone = lw.emit(Op.OR, (anyone, c), node)
        conds.append(lw.emit(Op.NOT, (anyone,), node))
    elif len(funcs) != len(conds):
        lw.type_error(f"with {len(conds)} condition(s), either {len(conds)} or {len(conds) + 1} functions are "
                      f"expected, got {len(funcs)}", node)
    dims = [lw.emit(Op.SHAPE, (x,), node, {"dim": d}) for d in range(x.type.rank)]
    out = lw.emit(Op.ZEROS, dims, node)   # zeros shaped as x
    for cond, f in zip(conds, funcs):
        value = _piece(lw, f, x, extra, kwargs, node)
        out = lw.emit(Op.WHERE, (cond, value, out), node)
    return out


def _same_shape(lw, cond: Value, x: Value, node) -> None:
    """NumPy's IndexError where a condition is not shaped as x (it indexes x with it)."""
    from coarsen.frontend.exceptions import runtime_check

    for d in range(x.type.rank):
        n, m = (lw.emit(Op.SHAPE, (v,), node, {"dim": d}) for v in (x, cond))
        runtime_check(lw, lw.emit(Op.NE, (n, m), node), IndexError,
                      f"np.piecewise(): boolean index did not match indexed array along axis {d}", node)


_PIECE_OPS = ELEMENTWISE | {Op.CONST, Op.CAST, Op.INT_POWER, Op.COPY}


def _piece(lw, f: Any, x: Value, extra: list, kwargs: dict, node) -> Value:
    """f(x) where that equals NumPy's f(x[cond]) placed back: elementwise in x (see the module)."""
    from coarsen.frontend.closures import LocalFunction

    if not (isinstance(f, Static) and (callable(f.obj) or isinstance(f.obj, LocalFunction))):
        value = lw.as_value(f, node)   # a number: the value there
        if value.type.rank:
            lw.type_error("np.piecewise(): a value in funclist must be a number or a function", node)
        return lw.emit(Op.CAST, (value,), node, {"dtype": "f64"}) if value.type.dtype != "f64" else value
    start = lw.b.mark()
    value = lw.as_value(lw.call_binding(f, [x, *extra], dict(kwargs), node), node)
    made = {x.id}
    for instr in lw.b.since(start):
        outside = [a for a in instr.args if a.type.rank and a.id not in made]
        if instr.op not in _PIECE_OPS or outside:
            name = getattr(f.obj, "__name__", None) or "the function"
            what = f"{instr.op.value} of another array" if outside and instr.op in _PIECE_OPS else instr.op.value
            lw.unsupported(f"np.piecewise(): {name} is not elementwise in its argument ({what}); NumPy "
                           "applies it to the selected elements only", node,
                           "write np.where(cond, f(x), g(x)) (f and g see the whole array), or select "
                           "with x[cond] yourself")
        if instr.op is not Op.CONST:   # an array constant is another array (sized as all of x)
            made.update(r.id for r in instr.results)
    if value.type.rank > x.type.rank:
        lw.type_error("np.piecewise(): a function returned an array of higher rank than x", node)
    return lw.emit(Op.CAST, (value,), node, {"dtype": "f64"}) if value.type.dtype != "f64" else value


def register(calls: dict) -> None:
    for fn, op in _BINARY.items():
        calls[fn] = _binary(op)
    for fn, op in _COMPARE.items():
        calls[fn] = _compare(op, fn.__name__)
    calls[operator.neg] = _neg
    calls[functools.reduce] = _reduce
    calls[builtins.map] = _map
    calls[np.piecewise] = _piecewise
