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

from coarsen import ops
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


def _elementwise(spec, numpy: bool = False) -> Handler:
    """np.X(a, ...) for a registry elementwise op: its operands, nothing else. A NumPy ufunc's
    scalar result is a NumPy scalar (np.add of two bools is their logical or: refused)."""
    op = Op[spec.member]

    def handler(lw, args, kwargs, node):
        _arity(lw, args, kwargs, node, spec.arity, spec.name)
        values = tuple(lw.as_value(a, node) for a in args)
        if numpy and op in (Op.ADD, Op.SUB, Op.NEG) and all(
                v.type.dtype == "bool" or "bool" in lw.numpy_dtypes(v) for v in values):
            lw.refuse_numpy_bool(op, node)
        out = lw.emit(op, values, node, ufunc=numpy)
        if numpy and not out.type.rank:
            lw.mark_scalar(out)
        return out
    return handler


def _method(lower: Handler) -> Handler:
    return lambda lw, x, args, kwargs, node: lower(lw, [x, *args], kwargs, node)


# from the op registry: each entry's callables (structural and composite entries bring their
# own lowering, elementwise ones take their operands); methods of arrays likewise
for _obj, _spec in ops.callables():
    _register(CALLS, [_obj], _spec.lower if _spec.kind != "elementwise"
              else _elementwise(_spec, isinstance(_obj, np.ufunc)))
for _spec in [*ops.structural(), *ops.COMPOSITES]:
    for _name in _spec.methods:
        _register(METHODS, [_name], _method(_spec.lower))


# ------------------------------------------------------------------ the math module's spellings
# The registry maps math.X and np.X to one op; the math spelling keeps Python's semantics:
# - math functions take numbers: an array argument is a TypeError in Python ("only 0-dimensional
#   arrays can be converted to Python scalars"), never an elementwise result;
# - ints and bools are converted to float first (math.fabs(-2) is 2.0, math.pow(2, -1) is 0.5);
# - a domain error (a NaN from a number, a pole) raises ValueError("math domain error") and the
#   overflow of a finite argument OverflowError("math range error"), CPython's `math_1` rules,
#   where np.X returns NumPy's nan/inf: a run-time check on the argument (or the result where
#   the boundary is the overflow), raised when tracing where the argument is known.
_DOMAIN, _RANGE = "math domain error", "math range error"
_INT_RESULTS = {"floor", "ceil", "trunc"}   # math.floor(int) is the int itself


def _math_conditions(lw, name: str, xs: list, r, node) -> list:
    """(condition, exception class, message): where math.<name>(*xs) = r raises."""
    c = lw.b.const

    def e(op, *a):
        return lw.emit(op, a, node)

    def mag(v):
        return e(Op.ABS, v)
    x = xs[0]
    inf = c(math.inf)
    if name == "sqrt":
        return [(e(Op.LT, x, c(0.0)), ValueError, _DOMAIN)]
    if name in ("log", "log10", "log2"):
        out = [(e(Op.LE, v, c(0.0)), ValueError, _DOMAIN) for v in xs]
        if len(xs) == 2:   # log(x, 1): log(x) / 0.0
            out.append((e(Op.EQ, xs[1], c(1.0)), ZeroDivisionError, "float division by zero"))
        return out
    if name == "log1p":
        return [(e(Op.LE, x, c(-1.0)), ValueError, _DOMAIN)]
    if name in ("asin", "acos"):
        return [(e(Op.GT, mag(x), c(1.0)), ValueError, _DOMAIN)]
    if name == "acosh":
        return [(e(Op.LT, x, c(1.0)), ValueError, _DOMAIN)]
    if name == "atanh":
        return [(e(Op.GE, mag(x), c(1.0)), ValueError, _DOMAIN)]
    if name in ("sin", "cos", "tan"):
        return [(e(Op.EQ, mag(x), inf), ValueError, _DOMAIN)]
    if name in ("exp", "expm1", "cosh", "sinh"):   # inf only from overflow (or an infinite x)
        return [(e(Op.AND, e(Op.EQ, mag(r), inf), e(Op.LT, mag(x), inf)), OverflowError, _RANGE)]
    if name in ("gamma", "lgamma"):
        # 0, -1, -2, ...; gamma(-inf) is a domain error too, lgamma(-inf) is inf
        pole = e(Op.AND, e(Op.LE, x, c(0.0)), e(Op.EQ, e(Op.FLOOR, x), x))
        pole = e(Op.AND, pole, e(Op.LT, mag(x), inf)) if name == "lgamma" else pole
        over = e(Op.AND, e(Op.EQ, mag(r), inf), e(Op.LT, mag(x), inf))
        return [(pole, ValueError, _DOMAIN), (e(Op.AND, over, e(Op.NOT, pole)), OverflowError, _RANGE)]
    if name == "pow":
        y = xs[1]
        finite = e(Op.AND, e(Op.LT, mag(x), inf), e(Op.LT, mag(y), inf))
        nan = e(Op.NE, r, r)
        big = e(Op.EQ, mag(r), inf)
        zero = e(Op.EQ, x, c(0.0))
        domain = e(Op.AND, finite, e(Op.OR, nan, e(Op.AND, big, zero)))
        over = e(Op.AND, finite, e(Op.AND, big, e(Op.NOT, zero)))
        return [(domain, ValueError, _DOMAIN), (over, OverflowError, _RANGE)]
    return []


def _math_check(lw, bad, exc, message: str, name: str, node) -> None:
    from coarsen.frontend.exceptions import python_error, runtime_check

    if lw.constant_of(bad) is True:
        python_error(lw, exc(message), node, f"np.{name}() returns NumPy's nan/inf instead of raising")
        return
    runtime_check(lw, bad, exc, message, node)


def _math_spelling(name: str, handler: Handler) -> Handler:
    def lower(lw, args, kwargs, node):
        values = []
        for a in args:
            v = lw.as_value(a, node)
            if v.type.rank:
                lw.type_error(f"math.{name}() of an array: math functions take numbers (Python raises "
                              "TypeError: only 0-dimensional arrays can be converted to Python scalars)",
                              node, f"use {_NUMPY_NAMES.get(name, 'np.' + name)}(x) for an elementwise result")
            if v.type.dtype != "f64" and name not in _INT_RESULTS:
                v = lw.cast_to(v, v.type.with_dtype("f64"))
            values.append(v)
        r = handler(lw, values, kwargs, node)
        if isinstance(r, Value) and not r.type.rank:
            for bad, exc, message in _math_conditions(lw, name, values, r, node):
                _math_check(lw, bad, exc, message, name, node)
            r = lw.python_scalar(r)   # math.sqrt(x[0]) is a Python float
        return r
    return lower


_NUMPY_NAMES = {"asin": "np.arcsin", "acos": "np.arccos", "atan": "np.arctan", "asinh": "np.arcsinh",
                "acosh": "np.arccosh", "atanh": "np.arctanh", "atan2": "np.arctan2", "pow": "np.power",
                "fabs": "np.abs", "radians": "np.deg2rad", "degrees": "np.rad2deg", "lgamma": "scipy.special.gammaln",
                "erf": "scipy.special.erf", "erfc": "scipy.special.erfc", "gamma": "scipy.special.gamma"}
for _obj in list(CALLS):
    if getattr(_obj, "__module__", None) == "math" and getattr(math, getattr(_obj, "__name__", ""), None) is _obj \
            and _obj is not math.fsum:   # math.fsum takes an iterable (`ops.tallies`)
        CALLS[_obj] = _math_spelling(_obj.__name__, CALLS[_obj])


def _dims(lw, shape: Any, node) -> list[Value]:
    items = shape if isinstance(shape, tuple) else (shape,)
    dims = []
    for item in items:
        v = lw.as_value(item, node)
        if v.type.rank or v.type.dtype == "f64":
            lw.type_error(f"array dimensions must be integers, got {describe(item)}", node)
        dims.append(lw.cast_to(v, v.type.with_dtype("i64")))
    return dims


# int64 only: an int32 array computes in int32 in NumPy (wrapping), which compiled code would not (#11)
_INT_DTYPES = (int, np.int64, np.intp, "int", "int64")


def _check_dtype(lw, kwargs, node, name, integers: bool = False) -> bool:
    """Refuses a dtype other than float64; with `integers`, an integer dtype is allowed too
    (index arrays: np.array([...], dtype=int)), and the result says it was asked for."""
    extra = set(kwargs) - {"dtype", "shape"}
    if extra:
        lw.unsupported(f"{name}() keyword argument(s) {', '.join(sorted(extra))} not supported", node)
    if "dtype" in kwargs:
        dtype = kwargs["dtype"].obj if isinstance(kwargs["dtype"], Static) else None
        if integers and any(dtype is d or dtype == d for d in _INT_DTYPES):
            return True
        if dtype not in (float, np.float64, None, "float64"):
            shown = getattr(dtype, "__name__", repr(dtype))
            lw.unsupported(f"np.{name}(..., dtype={shown}) is not supported: arrays hold float64"
                           + (" or int64" if integers else ""), node,
                           "leave out dtype (or use dtype=float" + (", or dtype=int)" if integers else ")"))
    return False


def _creation(op: Op, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        _check_dtype(lw, kwargs, node, name)
        shape = args[0] if args else kwargs.get("shape")
        if shape is None or len(args) > 1:
            lw.type_error(f"{name}() takes a shape", node)
        return lw.emit(op, _dims(lw, shape, node), node)
    return handler


def _creation_like(op: Op, name: str) -> Handler:
    """np.zeros_like(x) / ones_like / empty_like: x's shape and, as NumPy, x's dtype (an int or
    bool x gives an int or bool array: `z = np.zeros_like(i); z[k] = i[k] / 2` would truncate
    into it in NumPy, so such writes are refused, not computed in float64); dtype=float asks for
    floats."""
    def handler(lw, args, kwargs, node):
        _check_dtype(lw, kwargs, node, name)
        _arity(lw, args, {}, node, 1, name)
        x = lw.as_value(args[0], node)
        if "shape" in kwargs and kwargs["shape"] is not None:   # x's dtype, this shape
            dims = _dims(lw, kwargs["shape"], node)
        else:
            if not x.type.rank:
                lw.unsupported(f"{name}() of a scalar is not supported", node, "use 0.0 or 1.0")
            dims = [lw.emit(Op.SHAPE, (x,), node, {"dim": d}) for d in range(x.type.rank)]
        out = lw.emit(op, dims, node)
        if x.type.dtype != "f64" and "dtype" not in kwargs:
            out = lw.cast_to(out, out.type.with_dtype(x.type.dtype))
        return out
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
    if _check_dtype(lw, kwargs, node, "array", integers=True):   # an index array: int64
        out = lw.as_value(_array(lw, args, {}, node), node)
        return lw.cast_to(out, out.type.with_dtype("i64")) if out.type.rank else out
    _arity(lw, args, {}, node, 1, "array")
    items = args[0]
    if isinstance(items, Value):
        if _float_asked(kwargs) and items.type.dtype != "f64":   # np.array(i, dtype=float)
            return lw.convert(items, "f64", node)
        return _copy(lw, [items], {}, node)
    if not isinstance(items, tuple):
        lw.type_error(f"np.array() of {describe(items)}", node)
    # a list of numbers is one STACK; nested lists and lists of arrays stack their rows
    from coarsen.ops.constructors import nested_array

    return nested_array(lw, items, node)


def _float_asked(kwargs) -> bool:
    dtype = kwargs["dtype"].obj if isinstance(kwargs.get("dtype"), Static) else None
    return dtype in (float, np.float64, "float64", "float")


def _asarray(lw, args, kwargs, node):
    """np.asarray returns an array argument itself (no copy): writes through it are seen;
    with dtype=float an int array is converted (a new array, as NumPy's)."""
    _check_dtype(lw, kwargs, node, "asarray")
    _arity(lw, args, {}, node, 1, "asarray")
    if isinstance(args[0], Value) and args[0].type.rank:
        if _float_asked(kwargs) and args[0].type.dtype != "f64":
            return lw.convert(args[0], "f64", node)
        return args[0]
    return _array(lw, args, kwargs, node)


def _reshape(lw, x: Value, shape_args: list, node, kwargs=None):
    """x.reshape(shape) in C order, or order="F": x.T reshaped to the reversed shape, then .T
    (the same elements in the same places); no other keyword is taken."""
    kwargs = dict(kwargs or {})
    order = kwargs.pop("order", None)
    order = "C" if order is None else order.obj if isinstance(order, Static) else None
    if kwargs or order not in ("C", "F"):
        lw.unsupported(f"reshape() with {', '.join(sorted(kwargs)) or f'order={order!r}'} is not supported",
                       node, "reshape(shape), reshape(shape, order='C') or order='F'")
    if not shape_args:
        lw.type_error("reshape() takes a shape", node)
    shape = shape_args[0] if len(shape_args) == 1 else tuple(shape_args)
    dims = _dims(lw, shape, node)
    if order == "C":
        return lw.emit(Op.RESHAPE, (x, *dims), node)
    flipped = lw.emit(Op.RESHAPE, (lw.emit(Op.TRANSPOSE, (x,), node), *reversed(dims)), node)
    return lw.emit(Op.TRANSPOSE, (flipped,), node)


def _np_reshape(lw, args, kwargs, node):
    _arity(lw, args, {k: v for k, v in kwargs.items() if k != "order"}, node, 2, "reshape")
    return _reshape(lw, lw.as_value(args[0], node), [args[1]], node,
                    {"order": kwargs["order"]} if "order" in kwargs else None)


def _cast(dtype: str, name: str) -> Handler:
    def handler(lw, args, kwargs, node):
        _arity(lw, args, kwargs, node, 1, name)
        if dtype == "f64" and isinstance(args[0], Static) and isinstance(args[0].obj, str):
            # float("inf"), float("-inf"), float("nan"): constants (any other text is an error)
            try:
                return lw.b.const(float(args[0].obj))
            except ValueError:
                lw.type_error(f"float({args[0].obj!r}) is not a number", node)
        x = lw.as_value(args[0], node)
        if x.type.rank:
            lw.unsupported(f"{name}() of an array is not supported", node, "index an element first")
        if name == "np.int64":   # a NumPy scalar from here on (`Lowerer.int_product`): it wraps
            return lw.numpy_int(x, node)
        if name == "np.float64":   # a NumPy scalar (returned as one); x itself keeps its kind
            if x.type.dtype == "f64" and x.id in lw.ctx.numpy_scalars:
                return x
            out = lw.b.emit(Op.CAST, (lw.convert(x, "f64", node),), {"dtype": "f64", "explicit": True, "numpy": True},
                            lw.src.loc(node))
            lw.ctx.numpy_scalars.add(out.id)
            return out
        return lw.python_scalar(lw.convert(x, dtype, node))   # int(a[0]), float(x[0]): Python's from here on
    return handler


def _bool(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 1, "bool")
    return lw.python_scalar(lw.truth(args[0], node))   # bool(x[0] > 0) is Python's


def _len(lw, args, kwargs, node):
    _arity(lw, args, kwargs, node, 1, "len")
    x = args[0]
    if isinstance(x, (tuple, list, dict)):   # (list: a list argument; dict: known when tracing,
        return lw.b.const(len(x))            # a module-level one's size is watched, `deps.Reads.keys`)
    x = lw.as_value(x, node)
    if not x.type.rank:
        lw.type_error("len() of a scalar", node)
    return lw.emit(Op.SHAPE, (x,), node, {"dim": 0})


def _shape_of(attr: str):
    """np.shape(x), np.ndim(x), np.size(x): x's attribute, for a scalar or a list too (np.size's
    axis argument is not taken)."""
    def handler(lw, args, kwargs, node):
        _arity(lw, args, kwargs, node, 1, f"np.{attr}")
        return lw.shape_attribute(lw.as_value(args[0], node), attr, node)
    return handler


def _no_builtin_sum(lw, args, kwargs, node):
    lw.unsupported("the builtin sum() is not supported", node, "use np.sum(x) or accumulate in a for loop")


_register(CALLS, [np.copy], _copy)
_register(CALLS, [np.shape], _shape_of("shape"))
_register(CALLS, [np.ndim], _shape_of("ndim"))
_register(CALLS, [np.size], _shape_of("size"))
_register(CALLS, [np.array], _array)
_register(CALLS, [np.asarray], _asarray)
_register(CALLS, [np.reshape], _np_reshape)
_register(CALLS, [builtins.float], _cast("f64", "float"))
_register(CALLS, [np.float64], _cast("f64", "np.float64"))
_register(CALLS, [builtins.int], _cast("i64", "int"))
_register(CALLS, [np.int64], _cast("i64", "np.int64"))
_register(CALLS, [builtins.bool], _bool)
_register(CALLS, [builtins.len], _len)
_register(CALLS, [builtins.sum], _no_builtin_sum)


# isinstance, hasattr, callable, type: folded when tracing (`introspection`)
from coarsen.frontend import introspection  # noqa: E402

introspection.register(CALLS)

# functools.reduce, map, operator.*, np.piecewise: calls that take a function (`functional`)
from coarsen.frontend import functional  # noqa: E402

functional.register(CALLS)

def _fill_diagonal_value(lw, args, kwargs, node):
    lw.unsupported("np.fill_diagonal() used as a value (it returns None)", node,
                   "call it as a statement: np.fill_diagonal(a, v) fills a in place")


CALLS[np.fill_diagonal] = _fill_diagonal_value

# np.vectorize(f): a loop over the broadcast elements calling f (`vectorize`)
from coarsen.frontend import vectorize  # noqa: E402

vectorize.register(CALLS)


# ---------------------------------------------------------------------- array methods
METHODS["copy"] = lambda lw, x, args, kwargs, node: _copy(lw, [x, *args], kwargs, node)
METHODS["reshape"] = lambda lw, x, args, kwargs, node: _reshape(lw, x, args, node, kwargs)


def _astype(lw, x, args, kwargs, node):
    """x.astype(float | int | bool): a float64, int64 (truncating toward zero, as NumPy) or
    bool copy (index arrays: idx.astype(int))."""
    _arity(lw, args, kwargs, node, 1, "astype")
    dtype = args[0].obj if isinstance(args[0], Static) else None
    if any(dtype is d or dtype == d for d in _INT_DTYPES):
        target = "i64"
    elif dtype in (float, np.float64, "float", "float64"):
        target = "f64"
    elif dtype in (bool, np.bool_, "bool"):
        target = "bool"
    else:
        shown = getattr(dtype, "__name__", repr(dtype))
        lw.unsupported(f".astype({shown}) is not supported", node, "use .astype(float), .astype(int) or .astype(bool)")
    x = lw.as_value(x, node)
    return lw.convert(x, target, node)


METHODS["astype"] = _astype


def _name_key(obj: Any) -> Any:
    """The object itself where hashable (np.add.outer is a new bound method at each access,
    equal to the others), else its id."""
    try:
        hash(obj)
        return obj
    except TypeError:
        return ("id", id(obj))


def supported_names() -> list[str]:
    """Every supported callable as users spell it: np.exp, np.linalg.det, math.lgamma, ..."""
    from coarsen import ops
    from coarsen.ops.spec import resolve

    dotted = {}   # the registry's own spelling of each callable (SciPy's ufuncs have no module)
    for spec in [*ops.REGISTRY.entries.values(), *ops.COMPOSITES]:
        for path in spec.callables:
            obj = resolve(path)
            if obj is not None:
                dotted.setdefault(_name_key(obj), path.replace("numpy.", "np.", 1).replace("builtins.", "", 1))
    names = []
    for obj in CALLS:
        if _name_key(obj) in dotted:
            names.append(dotted[_name_key(obj)])
            continue
        module = getattr(obj, "__module__", None) or ("numpy" if isinstance(obj, np.ufunc) else "")
        short = {"numpy": "np", "builtins": ""}.get(module.split(".")[0], module.split(".")[0])
        if module.startswith("numpy.linalg"):
            short = "np.linalg"
        if module.startswith("scipy"):
            short = "scipy.special"
        name = getattr(obj, "__name__", None)
        if name:
            names.append(f"{short}.{name}" if short else name)
    return sorted(set(names))


# Unsupported NumPy/SciPy callables and the supported ones that do their job (by meaning:
# their names are seldom alike). Results whose length depends on the data (unique, nonzero,
# argwhere, one-argument where) have no static shape, so their neighbours are the masks and
# sorts that compute the same thing at a fixed shape.
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "unique": ("np.sort", "np.searchsorted", "np.count_nonzero"),
    "nonzero": ("np.where", "np.count_nonzero", "np.argsort"),
    "flatnonzero": ("np.where", "np.count_nonzero", "np.argsort"),
    "argwhere": ("np.where", "np.count_nonzero", "np.argsort"),
    "extract": ("np.where", "np.sum"),
    "compress": ("np.where", "np.take"),
    "histogram": ("np.searchsorted", "np.count_nonzero", "np.add.at"),
    "polyfit": ("np.linalg.solve", "np.vander", "np.polyval"),
    "polyder": ("np.polyval",),
    "polygamma": ("scipy.special.digamma", "scipy.special.gammaln"),
    "eig": ("np.linalg.det", "np.linalg.solve", "np.linalg.norm"),
    "einsum_path": ("np.einsum",),
    "lexsort": ("np.argsort",),
    "partition": ("np.sort",),
    "argpartition": ("np.argsort",),
    "apply_along_axis": ("coarsen.vmap", "a loop over the axis"),
    "fft": ("a loop (no FFT in coarsen)",),
}


def nearest(written: str, obj: Any = None, n: int = 3) -> list[str]:
    """The supported callables closest to an unsupported one: those that do its job
    (`ALTERNATIVES`), else those whose names are alike."""
    import difflib

    wanted = getattr(obj, "__name__", None) or written.rsplit(".", 1)[-1]
    if wanted in ALTERNATIVES:
        return list(ALTERNATIVES[wanted])
    names = supported_names()
    leaf: dict[str, list[str]] = {}
    for name in names:
        leaf.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    close = difflib.get_close_matches(wanted, list(leaf), n=n, cutoff=0.6)
    if not close:   # a longer name around a supported one (nan_to_num ~ nansum; count_nonzero)
        close = [c for c in leaf if len(c) > 2 and (c in wanted or wanted in c)][:n]
    # a leaf several callables share (np.add.reduce, np.maximum.reduce): the one most like
    # what was written, one per leaf
    return [max(leaf[c], key=lambda full: difflib.SequenceMatcher(None, written, full).ratio()) for c in close]
