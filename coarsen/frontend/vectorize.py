"""np.vectorize: a Python scalar function applied to each element of broadcast arrays.

Input: `np.vectorize(f, otypes=...)` made inside the compiled function (a lambda, a nested def,
a module-level function) or at module level (`@np.vectorize`, `vf = np.vectorize(f)`), and its
call's argument bindings. Output: the array NumPy's vectorize returns, as one counted loop over
the broadcast elements that calls f (inlined) on scalars, as NumPy calls it on each element:
branches, loops and math.* in f work as in any compiled loop, and the derivative is the loop's.

Invariants (NumPy's, or refused): the arguments broadcast exactly (times ones, which keeps -0.0
and NaN, never plus zeros); the output dtype is otypes[0] (float, int or bool) or, without
otypes, that of f's result, which NumPy takes from the first element's call: where f returns an
int on one path and a float on another (the join widens it) the first element decides in NumPy,
so that is refused unless otypes names the dtype; size-0 arguments without otypes are NumPy's
ValueError. f's result is stored in a float64 array (element writes are float64), exact for
floats and bools; an int64 result beyond 2**53 is refused when running. `excluded`, `signature`
and functions with several results are refused with a hint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coarsen.frontend.bindings import Static, describe
from coarsen.ir.nodes import Op, Value

_DTYPES = {"f64": np.float64, "i64": np.int64, "bool": np.bool_}
_EMPTY = "cannot call `vectorize` on size 0 inputs unless `otypes` is set"


@dataclass(frozen=True)
class Vectorized:
    """np.vectorize(f, otypes) made inside a compiled function: f a binding (a function the
    frontend can call), dtype "f64"/"i64"/"bool" from otypes, or None."""
    func: Any
    dtype: str | None
    name: str

    @property
    def __name__(self) -> str:
        return self.name


def _otype(lw, otypes, node) -> str | None:
    if otypes is None:
        return None
    items = list(otypes) if isinstance(otypes, (list, tuple)) else list(otypes) if isinstance(otypes, str) \
        else [otypes]
    if len(items) != 1:
        lw.unsupported(f"np.vectorize() with otypes={otypes!r} (several results) is not supported", node,
                       "vectorize a function of one result, one call per result")
    try:
        dtype = np.dtype(items[0])
    except TypeError:
        dtype = None
    for name, np_type in _DTYPES.items():
        if dtype == np.dtype(np_type):
            return name
    lw.unsupported(f"np.vectorize() with otypes={otypes!r} is not supported", node,
                   "give otypes=[float], [int] or [bool]")


def _refuse_options(lw, excluded, signature, node) -> None:
    if excluded:
        lw.unsupported("np.vectorize() with excluded= is not supported", node,
                       "bind the excluded arguments first: np.vectorize(lambda x: f(x, y))")
    if signature is not None:
        lw.unsupported("np.vectorize() with signature= is not supported", node,
                       "write the loop over the core dimensions, or use coarsen.vmap")


def make(lw, args, kwargs, node):
    """np.vectorize(pyfunc, otypes=None, doc=None, excluded=None, cache=False, signature=None)."""
    from coarsen.ops import lowering as L

    names = ["pyfunc", "otypes", "doc", "excluded", "cache", "signature"]
    func, otypes, _, excluded, _, signature = L.positional(lw, args, kwargs, node, names, "vectorize", 1)
    _refuse_options(lw, L.static(lw, excluded, node, "excluded"), L.static(lw, signature, node, "signature"), node)
    dtype = _otype(lw, L.static(lw, otypes, node, "otypes"), node)
    name = getattr(func.obj, "__name__", "the function") if isinstance(func, Static) else "the function"
    return Static(Vectorized(func, dtype, name))


def of_numpy(lw, obj: np.vectorize, node) -> Vectorized:
    """A module-level np.vectorize object (`@np.vectorize`)."""
    _refuse_options(lw, obj.excluded, obj.signature, node)
    otypes = obj.otypes if obj.otypes else None
    return Vectorized(Static(obj.pyfunc), _otype(lw, otypes, node), getattr(obj.pyfunc, "__name__", "f"))


def _ones(lw, dims, dtype: str, node):
    ones = lw.emit(Op.ONES, dims, node)
    return ones if dtype == "f64" else lw.cast_to(ones, ones.type.with_dtype(dtype))


def _broadcast_exactly(lw, xs: list[Value], node) -> tuple[list[Value], list[Value]]:
    """The arguments broadcast against each other (each times ones of the common shape: x * 1
    is x, -0.0 and NaN included; bools and ones) and the common shape's lengths."""
    rank = max(x.type.rank for x in xs)
    if rank == 0:
        return xs, []
    ref = None   # only its shape is read: NumPy's broadcast shape, and its error where none
    for x in xs:
        x = lw.cast_to(x, x.type.with_dtype("f64")) if x.type.dtype != "f64" else x
        ref = x if ref is None else lw.emit(Op.MUL, (ref, x), node)
    dims = [lw.emit(Op.SHAPE, (ref,), node, {"dim": d}) for d in range(rank)]
    out = []
    for x in xs:
        if x.type.dtype == "bool":
            out.append(lw.emit(Op.AND, (x, _ones(lw, dims, "bool", node)), node))
        else:
            out.append(lw.emit(Op.MUL, (x, _ones(lw, dims, x.type.dtype, node)), node))
    return out, dims


def call(lw, vec: Vectorized, args, kwargs, node):
    """vf(*arrays): a loop over the broadcast elements, out[i] = f(a[i], b[i], ...)."""
    from coarsen.errors import UnsupportedAtRunTime
    from coarsen.frontend.exceptions import runtime_check
    from coarsen.ops import lowering as L
    from coarsen.ops.shape import ravel, reshape

    if kwargs:
        lw.unsupported(f"a vectorized {vec.name}() called with keyword arguments is not supported", node,
                       "pass the arguments by position")
    if not args:
        lw.type_error(f"a vectorized {vec.name}() needs an argument", node)
    xs = [L.array(lw, a, node, "vectorize", min_rank=0) if not isinstance(a, Value) else a for a in args]
    for x in xs:
        if not isinstance(x, Value):
            lw.unsupported(f"np.vectorize() of {describe(x)}", node, "pass numbers or arrays")
    xs, dims = _broadcast_exactly(lw, xs, node)
    flat = [ravel(lw, x, node) for x in xs]
    total = L.size(lw, flat[0], node)
    if vec.dtype is None:
        runtime_check(lw, lw.emit(Op.EQ, (total, lw.b.const(0)), node), ValueError, _EMPTY, node)
    acc = f"$vectorize@{getattr(node, 'lineno', 0)}:{getattr(node, 'col_offset', 0)}"
    out_dtype: list[str] = []
    loc = lw.src.loc(node)

    def body(params: list[Value]) -> None:
        i = params[0]
        elements = [L.index_along(lw, x, 0, i, node) for x in flat]
        joins = lw.ctx.widened_joins
        value = lw.call_binding(vec.func, elements, {}, node)
        if not isinstance(value, Value) or value.type.rank:
            lw.unsupported(f"np.vectorize(): {vec.name} returned {describe(value)}, not one number", node,
                           "vectorize a function of numbers that returns one number")
        dtype = vec.dtype or value.type.dtype
        if vec.dtype is None and value.type.dtype == "f64" and lw.ctx.widened_joins != joins:
            lw.unsupported(f"np.vectorize(): {vec.name} returns an int on one path and a float on another; "
                           "NumPy's result dtype is then that of its first element's call", node,
                           "give otypes=[float] (or return floats on every path)")
        if value.type.dtype != dtype:   # otypes: NumPy converts each result (astype)
            value = lw.cast_to(value, value.type.with_dtype(dtype))
        if dtype == "i64":
            big = lw.emit(Op.GT, (lw.emit(Op.ABS, (value,), node), lw.b.const(2 ** 53)), node)
            lw.b.emit(Op.CHECK, (big,), {"exc": UnsupportedAtRunTime, "args": (
                f"np.vectorize(): {vec.name} returned an int beyond 2**53, which coarsen's float64 element "
                "store would round", loc.filename, loc.lineno, loc.col, "give otypes=[float]")}, loc)
            lw.ctx.runtime_raises.append(UnsupportedAtRunTime)
        out_dtype.append(dtype)
        stored = lw.cast_to(value, value.type.with_dtype("f64")) if dtype != "f64" else value
        before = lw.env[acc]
        lw.env[acc] = lw.b.emit(Op.SETITEM, (before, i, stored), {"index": ("i",)}, loc, hint="out")
        lw.ctx.aliases.same(lw.env[acc], before)   # the same storage, updated

    lw.env[acc] = lw.emit(Op.ZEROS, [total], node)
    try:
        results = lw.lower_loop([acc], body, None, node, index=(lw.b.const(0), total, lw.b.const(1)),
                                index_name="$i")
    finally:
        lw.env.pop(acc, None)
    out = results[acc]
    dtype = out_dtype[-1] if out_dtype else "f64"
    out = reshape(lw, out, dims, node) if dims else L.index_along(lw, out, 0, lw.b.const(0), node)
    return lw.cast_to(out, out.type.with_dtype(dtype)) if dtype != "f64" else out


def register(calls: dict) -> None:
    calls[np.vectorize] = make


def is_vectorized(obj: Any) -> bool:
    return isinstance(obj, (Vectorized, np.vectorize))


def lower_call(lw, obj, args, kwargs, node):
    vec = of_numpy(lw, obj, node) if isinstance(obj, np.vectorize) else obj
    return call(lw, vec, args, kwargs, node)


__all__ = ["Vectorized", "make", "call", "register", "is_vectorized", "lower_call"]
