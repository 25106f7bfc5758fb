"""NumPy's NaN-ignoring reductions beyond nansum/nanmean (`reductions`): nanmax, nanmin,
nanargmax, nanargmin, nanprod, nanvar, nanstd, lowered as NumPy's own `nanfunctions` compute
them, to the ops of np.max, np.argmax, np.prod, np.sum:

- nanmax/nanmin: NaN replaced by -inf/+inf, then np.max/np.min (axis, keepdims as theirs); a
  slice of NaNs only is NaN (NumPy warns "All-NaN slice encountered"; coarsen does not warn);
- nanargmax/nanargmin: NaN replaced the same way, then np.argmax/argmin (so [nan, -inf] gives
  0, as NumPy); a slice of NaNs only is NumPy's ValueError when running;
- nanprod: NaN replaced by 1, then np.prod;
- nanvar/nanstd (ddof, keepdims): the mean of the present elements (sum / count), the sum of
  squared deviations of the present ones divided by count - ddof; NaN where that is <= 0
  (NumPy warns "Degrees of freedom <= 0 for slice.").
The replacement is an `np.where`, so no derivative reaches a NaN entry (it gets 0). Integer
and bool arrays hold no NaN: the plain reduction (NumPy calls it too).
"""
from __future__ import annotations

from coarsen.ops import lowering as L
from coarsen.ops.spec import Composite, O


def _array(lw, args, kwargs, node, name):
    from coarsen.ops.reductions import absent

    a = args[0] if args else kwargs.pop("a", None)
    if absent(a):
        lw.type_error(f"{name}() needs an array", node)
    return lw.as_value(a, node)


def _replaced(lw, x, fill: float, node):
    present = lw.emit(O.EQ, (x, x), node)
    return lw.emit(O.WHERE, (present, x, lw.b.const(fill)), node)


def _all_nan(lw, x, args, kwargs, node):
    """1.0 where a slice (as np.min(x, *args, **kwargs) reduces) holds NaNs only, else 0.0."""
    from coarsen.ops.reductions import _reduction_lower

    isnan = lw.emit(O.NE, (x, x), node)
    return _reduction_lower("min")(lw, [lw.cast_to(isnan, isnan.type.with_dtype("f64")), *args], dict(kwargs), node)


def _extremum(op: str):
    name = "nan" + op

    def lower(lw, args, kwargs, node):
        from coarsen.ops.reductions import _reduction_lower

        x = _array(lw, args, kwargs, node, name)
        plain = _reduction_lower(op)
        if x.type.dtype != "f64" or not x.type.rank:   # no NaN to skip, or a scalar: itself
            return plain(lw, [x, *args[1:]], kwargs, node)
        fill = float("-inf") if op == "max" else float("inf")
        out = plain(lw, [_replaced(lw, x, fill, node), *args[1:]], dict(kwargs), node)
        empty = _all_nan(lw, x, args[1:], kwargs, node)
        return lw.emit(O.WHERE, (lw.emit(O.EQ, (empty, lw.b.const(1.0)), node), lw.b.const(float("nan")), out), node)
    return lower


def _arg_extremum(op: str):
    name = "nanarg" + op

    def lower(lw, args, kwargs, node):
        from coarsen.frontend.exceptions import runtime_check
        from coarsen.ops.reductions import _arg_extremum as plain_arg, reduce

        x = _array(lw, args, kwargs, node, name)
        plain = plain_arg("MAX" if op == "max" else "MIN", "arg" + op)
        if x.type.dtype != "f64" or not x.type.rank:
            return plain(lw, [x, *args[1:]], kwargs, node)
        fill = float("-inf") if op == "max" else float("inf")
        out = plain(lw, [_replaced(lw, x, fill, node), *args[1:]], dict(kwargs), node)
        empty = _all_nan(lw, x, args[1:], kwargs, node)
        if empty.type.rank:
            empty = reduce(lw, "MAX", empty, None, False, node)
        runtime_check(lw, lw.emit(O.EQ, (empty, lw.b.const(1.0)), node), ValueError, "All-NaN slice encountered",
                      node)
        return out
    return lower


def _nanprod(lw, args, kwargs, node):
    from coarsen.ops.reductions import _reduction_lower

    x = _array(lw, args, kwargs, node, "nanprod")
    if x.type.dtype == "f64":
        x = _replaced(lw, x, 1.0, node)
    return _reduction_lower("prod")(lw, [x, *args[1:]], kwargs, node)


def _nanvar(std: bool):
    name = "nanstd" if std else "nanvar"

    def lower(lw, args, kwargs, node):
        from coarsen.ir.types import Type
        from coarsen.ops.reductions import _axis_keep, _var, dtype_target, reduce

        x = _array(lw, args, kwargs, node, name)
        if x.type.dtype != "f64":   # no NaN: np.var / np.std (NumPy calls them)
            return _var(lw, [x, *args[1:]], kwargs, node, std=std)
        x = L.array(lw, x, node, name)
        axis, keep, (dtype, ddof) = _axis_keep(lw, x, args[1:], kwargs, node, "var", extra=("dtype", "ddof"))
        x = dtype_target(lw, dtype, node, name, x)
        ddof = lw.as_value(ddof, node) if ddof is not None else lw.b.const(0)
        present = lw.emit(O.EQ, (x, x), node)
        counted = lw.cast_to(present, present.type.with_dtype("f64"))
        x0 = lw.emit(O.WHERE, (present, x, lw.b.const(0.0)), node)
        mean = lw.emit(O.DIV, (reduce(lw, "SUM", x0, axis, True, node), reduce(lw, "SUM", counted, axis, True, node)),
                       node)
        dev = lw.emit(O.WHERE, (present, lw.emit(O.SUB, (x0, mean), node), lw.b.const(0.0)), node)
        total = reduce(lw, "SUM", lw.emit(O.MUL, (dev, dev), node), axis, keep, node)
        dof = lw.emit(O.SUB, (reduce(lw, "SUM", counted, axis, keep, node), lw.cast_to(ddof, Type("f64"))), node)
        bad = lw.emit(O.LE, (dof, lw.b.const(0.0)), node)
        safe = lw.emit(O.WHERE, (bad, lw.b.const(1.0), dof), node)
        var = lw.emit(O.WHERE, (bad, lw.b.const(float("nan")), lw.emit(O.DIV, (total, safe), node)), node)
        return lw.emit(O.SQRT, (var,), node) if std else var
    return lower


# one NaN, at flat position 1, so no slice of the shapes below is NaNs only (NumPy warns there)
_NAN = "np.where(np.arange(x.size).reshape(x.shape) == 1, np.nan, x)"
_SHAPES = [(3, 4), (5,)]
COMPOSITES = [
    Composite("nanmax", ("numpy.nanmax",), _extremum("max"),
              examples=((f"np.nanmax({_NAN}, axis=0)", ((-3.0, 3.0),), _SHAPES),
                        (f"np.nanmax({_NAN})", ((-3.0, 3.0),), _SHAPES))),
    Composite("nanmin", ("numpy.nanmin",), _extremum("min"),
              examples=((f"np.nanmin({_NAN}, axis=-1, keepdims=True)", ((-3.0, 3.0),), _SHAPES),)),
    Composite("nanargmax", ("numpy.nanargmax",), _arg_extremum("max"),
              examples=((f"x * np.nanargmax({_NAN})", ((-3.0, 3.0),), _SHAPES),)),
    Composite("nanargmin", ("numpy.nanargmin",), _arg_extremum("min"),
              examples=((f"x * np.nanargmin({_NAN}, axis=0, keepdims=True)", ((-3.0, 3.0),), _SHAPES),)),
    Composite("nanprod", ("numpy.nanprod",), _nanprod,
              examples=((f"np.nanprod({_NAN}, axis=0)", ((-2.0, 2.0),), _SHAPES),)),
    Composite("nanvar", ("numpy.nanvar",), _nanvar(False),
              examples=((f"np.nanvar({_NAN}, axis=0)", ((-3.0, 3.0),), _SHAPES),
                        (f"np.nanvar({_NAN}, ddof=1)", ((-3.0, 3.0),), _SHAPES))),
    Composite("nanstd", ("numpy.nanstd",), _nanvar(True),
              examples=((f"np.nanstd(x, axis=0, keepdims=True) + np.nanstd({_NAN})", ((-3.0, 3.0),), _SHAPES),)),
]
