"""The functions and methods compiled code may call, each lowered to IR ops.

`CALLS` maps a Python callable (np.exp, math.exp, builtins.abs, ...) to a handler
`(lowerer, args, kwargs, node) -> binding`; `METHODS` maps an array method name to
`(lowerer, array, args, kwargs, node) -> binding`. Plain Python functions not listed here are
inlined. Anything else raises UnsupportedError.
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Callable

import numpy as np

from coarsen.frontend.bindings import Static, describe
from coarsen.ir.nodes import Op, Value

Handler = Callable[..., Any]
CALLS: dict[Any, Handler] = {}
METHODS: dict[str, Handler] = {}


def _register(table: dict, keys, handler: Handler) -> None:
    for key in keys:
        if key in table:
            raise KeyError(f"duplicate call handler for {key!r}")
        table[key] = handler


def _arity(lw, args, kwargs, node, n: int, name: str, allowed_kw=()) -> None:
    extra = set(kwargs) - set(allowed_kw)
    if extra:
        lw.unsupported(f"{name}() keyword argument(s) {', '.join(sorted(extra))} not supported", node)
    if len(args) != n:
        lw.type_error(f"{name}() takes {n} argument(s) here, got {len(args)}", node)


def _unary(op: Op, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        _arity(lw, args, kwargs, node, 1, name)
        return lw.emit(op, (lw.as_value(args[0], node),), node)
    return handler


def _binary(op: Op, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        _arity(lw, args, kwargs, node, 2, name)
        return lw.emit(op, tuple(lw.as_value(a, node) for a in args), node)
    return handler


_UNARY = {
    Op.EXP: ([np.exp, math.exp], "exp"),
    Op.LOG1P: ([np.log1p, math.log1p], "log1p"),
    Op.EXPM1: ([np.expm1, math.expm1], "expm1"),
    Op.SQRT: ([np.sqrt, math.sqrt], "sqrt"),
    Op.SIN: ([np.sin, math.sin], "sin"),
    Op.COS: ([np.cos, math.cos], "cos"),
    Op.TAN: ([np.tan, math.tan], "tan"),
    Op.TANH: ([np.tanh, math.tanh], "tanh"),
    Op.ARCTAN: ([np.arctan, math.atan], "arctan"),
    Op.SINH: ([np.sinh, math.sinh], "sinh"),
    Op.COSH: ([np.cosh, math.cosh], "cosh"),
    Op.ABS: ([np.abs, np.fabs, math.fabs, builtins.abs], "abs"),
    Op.SIGN: ([np.sign], "sign"),
}
for _op, (_fns, _name) in _UNARY.items():
    _register(CALLS, _fns, _unary(_op, _name))
_register(CALLS, [np.maximum, np.fmax], _binary(Op.MAXIMUM, "maximum"))
_register(CALLS, [np.minimum, np.fmin], _binary(Op.MINIMUM, "minimum"))
_register(CALLS, [np.power, builtins.pow, math.pow], _binary(Op.POW, "power"))


def _log(lw, args, kwargs, node):
    if len(args) == 2 and not kwargs:   # math.log(x, base)
        x, base = (lw.as_value(a, node) for a in args)
        return lw.emit(Op.DIV, (lw.emit(Op.LOG, (x,), node), lw.emit(Op.LOG, (base,), node)), node)
    _arity(lw, args, kwargs, node, 1, "log")
    return lw.emit(Op.LOG, (lw.as_value(args[0], node),), node)


def _log_base(base: float) -> Handler:
    def handler(lw, args, kwargs, node):
        _arity(lw, args, kwargs, node, 1, "log")
        log = lw.emit(Op.LOG, (lw.as_value(args[0], node),), node)
        return lw.emit(Op.DIV, (log, lw.b.const(math.log(base))), node)
    return handler


def _square(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 1, "square")
    x = lw.as_value(args[0], node)
    return lw.emit(Op.MUL, (x, x), node)


def _where(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 3, "where")
    cond, a, b = (lw.as_value(x, node) for x in args)
    if cond.type.dtype != "bool":
        cond = lw.emit(Op.NE, (cond, lw.b.const(0)), node)
    return lw.emit(Op.WHERE, (cond, a, b), node)


def _clip(lw, args, kwargs, node):
    names = ["a", "a_min", "a_max"]
    values = list(args) + [kwargs[k] for k in names[len(args):] if k in kwargs]
    _arity(lw, values, {}, node, 3, "clip")
    x, lo, hi = values
    if any(isinstance(v, Static) and v.obj is None for v in (lo, hi)):
        lw.unsupported("clip() with a None bound is not supported", node, "use np.maximum or np.minimum")
    return lw.emit(Op.CLIP, tuple(lw.as_value(v, node) for v in values), node)


def _reduce_args(lw, args, kwargs, node, name):
    if len(args) > 1:
        kwargs = {"axis": args[1], **kwargs}
    extra = set(kwargs) - {"axis", "keepdims"}
    if extra:
        lw.unsupported(f"{name}() keyword argument(s) {', '.join(sorted(extra))} not supported", node)
    axis = lw.static_value(kwargs["axis"], node, "axis") if "axis" in kwargs else None
    if axis is not None and not isinstance(axis, int):
        lw.unsupported(f"{name}() over several axes is not supported", node, "reduce one axis at a time")
    keepdims = bool(lw.static_value(kwargs["keepdims"], node, "keepdims")) if "keepdims" in kwargs else False
    return axis, keepdims


def _reduction(op: Op, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        if not args:
            lw.type_error(f"{name}() needs an array", node)
        x = lw.as_value(args[0], node)
        axis, keepdims = _reduce_args(lw, args, kwargs, node, name)
        if axis is not None and axis < 0:
            axis += x.type.rank
        return lw.emit(op, (x,), node, {"axis": axis, "keepdims": keepdims})
    return handler


for _op, _fns, _name in ((Op.SUM, [np.sum], "sum"), (Op.MEAN, [np.mean], "mean"),
                         (Op.PROD, [np.prod], "prod"), (Op.MAX, [np.max, np.amax], "max"),
                         (Op.MIN, [np.min, np.amin], "min")):
    _register(CALLS, _fns, _reduction(_op, _name))


def _matmul(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 2, "matmul")
    a, b = (lw.as_value(x, node) for x in args)
    if a.type.rank == 0 or b.type.rank == 0:
        return lw.emit(Op.MUL, (a, b), node)   # np.dot with a scalar scales
    return lw.emit(Op.MATMUL, (a, b), node)


def _dims(lw, shape: Any, node) -> list[Value]:
    items = shape if isinstance(shape, tuple) else (shape,)
    dims = []
    for item in items:
        v = lw.as_value(item, node)
        if v.type.rank or v.type.dtype == "f64":
            lw.type_error(f"array dimensions must be integers, got {describe(item)}", node)
        dims.append(lw.cast_to(v, v.type.with_dtype("i64")))
    return dims


def _check_dtype(lw, kwargs, node, name) -> None:
    extra = set(kwargs) - {"dtype", "shape"}
    if extra:
        lw.unsupported(f"{name}() keyword argument(s) {', '.join(sorted(extra))} not supported", node)
    if "dtype" in kwargs:
        dtype = kwargs["dtype"].obj if isinstance(kwargs["dtype"], Static) else None
        if dtype not in (float, np.float64, None, "float64"):
            shown = getattr(dtype, "__name__", repr(dtype))
            lw.unsupported(f"np.{name}(..., dtype={shown}) is not supported: arrays hold float64", node,
                           "leave out dtype (or use dtype=float)")


def _creation(op: Op, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        _check_dtype(lw, kwargs, node, name)
        shape = args[0] if args else kwargs.get("shape")
        if shape is None or len(args) > 1:
            lw.type_error(f"{name}() takes a shape", node)
        return lw.emit(op, _dims(lw, shape, node), node)
    return handler


def _creation_like(op: Op, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        _check_dtype(lw, kwargs, node, name)
        _arity(lw, args, {}, node, 1, name)
        x = lw.as_value(args[0], node)
        if not x.type.rank:
            lw.unsupported(f"{name}() of a scalar is not supported", node, "use 0.0 or 1.0")
        dims = [lw.emit(Op.SHAPE, (x,), node, {"dim": d}) for d in range(x.type.rank)]
        return lw.emit(op, dims, node)
    return handler


for _op, _name in ((Op.ZEROS, "zeros"), (Op.ONES, "ones"), (Op.EMPTY, "empty")):
    _register(CALLS, [getattr(np, _name)], _creation(_op, _name))
    _register(CALLS, [getattr(np, _name + "_like")], _creation_like(_op, _name + "_like"))


def _copy(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 1, "copy")
    x = lw.as_value(args[0], node)
    if not x.type.rank:
        return x
    return lw.emit(Op.COPY, (x,), node)


def _array(lw, args, kwargs, node):
    _check_dtype(lw, kwargs, node, "array")
    _arity(lw, args, {}, node, 1, "array")
    items = args[0]
    if isinstance(items, Value):
        return _copy(lw, [items], {}, node)
    if not isinstance(items, tuple) or any(not isinstance(i, Value) or i.type.rank for i in items):
        lw.unsupported("np.array() of nested lists or arrays is not supported", node,
                       "build it with np.zeros(...) and element writes")
    values = [lw.cast_to(i, i.type.with_dtype("f64")) for i in items]
    return lw.emit(Op.STACK, values, node)


def _asarray(lw, args, kwargs, node):
    """np.asarray returns an array argument itself (no copy): writes through it are seen."""
    _check_dtype(lw, kwargs, node, "asarray")
    _arity(lw, args, {}, node, 1, "asarray")
    if isinstance(args[0], Value) and args[0].type.rank:
        return args[0]
    return _array(lw, args, kwargs, node)


def _reshape(lw, x: Value, shape_args: list, node):
    shape = shape_args[0] if len(shape_args) == 1 else tuple(shape_args)
    return lw.emit(Op.RESHAPE, (x, *_dims(lw, shape, node)), node)


def _np_reshape(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 2, "reshape")
    return _reshape(lw, lw.as_value(args[0], node), [args[1]], node)


def _transpose(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 1, "transpose")
    x = lw.as_value(args[0], node)
    return lw.emit(Op.TRANSPOSE, (x,), node)


def _cast(dtype: str, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        _arity(lw, args, kwargs, node, 1, name)
        x = lw.as_value(args[0], node)
        if x.type.rank:
            lw.unsupported(f"{name}() of an array is not supported", node, "index an element first")
        return lw.cast_to(x, x.type.with_dtype(dtype))
    return handler


def _bool(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 1, "bool")
    return lw.truth(args[0], node)


def _minmax(op: Op, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        if kwargs:
            lw.unsupported(f"{name}() with keyword arguments is not supported", node)
        if len(args) < 2:
            lw.unsupported(f"{name}() of a single iterable is not supported", node,
                           f"use np.{name}(x) for an array, or {name}(a, b) for numbers")
        values = [lw.as_value(a, node) for a in args]
        out = values[0]
        for v in values[1:]:
            out = lw.emit(op, (out, v), node)
        return out
    return handler


def _len(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 1, "len")
    x = args[0]
    if isinstance(x, tuple):
        return lw.b.const(len(x))
    x = lw.as_value(x, node)
    if not x.type.rank:
        lw.type_error("len() of a scalar", node)
    return lw.emit(Op.SHAPE, (x,), node, {"dim": 0})


def _no_builtin_sum(lw, args, kwargs, node):
    lw.unsupported("the builtin sum() is not supported", node, "use np.sum(x) or accumulate in a for loop")


_register(CALLS, [np.log, math.log], _log)
_register(CALLS, [np.log10, math.log10], _log_base(10.0))
_register(CALLS, [np.log2, math.log2], _log_base(2.0))
_register(CALLS, [np.square], _square)
_register(CALLS, [np.where], _where)
_register(CALLS, [np.clip], _clip)
_register(CALLS, [np.dot, np.matmul], _matmul)
_register(CALLS, [np.copy], _copy)
_register(CALLS, [np.array], _array)
_register(CALLS, [np.asarray], _asarray)
_register(CALLS, [np.reshape], _np_reshape)
_register(CALLS, [np.transpose], _transpose)
_register(CALLS, [builtins.float, np.float64], _cast("f64", "float"))
_register(CALLS, [builtins.int, np.int64], _cast("i64", "int"))
_register(CALLS, [builtins.bool], _bool)
_register(CALLS, [builtins.max], _minmax(Op.MAXIMUM, "max"))
_register(CALLS, [builtins.min], _minmax(Op.MINIMUM, "min"))
_register(CALLS, [builtins.len], _len)
_register(CALLS, [builtins.sum], _no_builtin_sum)


# ---------------------------------------------------------------------- array methods
def _method_reduction(name: str) -> Handler:
    fn = CALLS[getattr(np, name)]

    def handler(lw, x, args, kwargs, node):
        return fn(lw, [x, *args], kwargs, node)
    return handler


for _name in ("sum", "mean", "prod", "max", "min"):
    METHODS[_name] = _method_reduction(_name)
METHODS["copy"] = lambda lw, x, args, kwargs, node: _copy(lw, [x, *args], kwargs, node)
METHODS["dot"] = lambda lw, x, args, kwargs, node: _matmul(lw, [x, *args], kwargs, node)
METHODS["transpose"] = lambda lw, x, args, kwargs, node: _transpose(lw, [x, *args], kwargs, node)
METHODS["reshape"] = lambda lw, x, args, kwargs, node: _reshape(lw, x, args, node)
