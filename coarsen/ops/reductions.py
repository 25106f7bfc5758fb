"""Reductions and scans beyond sum/mean/prod/max/min: cumsum, cumprod, diff, var, std,
argmax/argmin, and scipy.special's logsumexp, softmax, log_softmax, all with axis (and
keepdims where NumPy has it).

Two primitives, the scans `cumsum` and `cumprod` along a static axis (`rt.cumsum`; VJPs: the
reverse cumulative sum, and a division-free backward sweep exact at zeros). The rest lower to
reductions and elementwise ops: logsumexp subtracts the max (finite or not) before exp.
"""
from __future__ import annotations

from coarsen.ir.types import Type
from coarsen.ops import lowering as L
from coarsen.ops.spec import Composite, O, Structural


def _scan_type(types, attrs):
    from coarsen.ir.typing import TypeRuleError

    (x,) = types
    if x.rank == 0:
        raise TypeRuleError("a scan of a scalar")
    if not 0 <= attrs["axis"] < x.rank:
        raise TypeRuleError(f"axis {attrs['axis']} is out of bounds for an array of rank {x.rank}")
    return Type("f64", x.rank)


def _int_scan_type(types, attrs):
    """cumsum/cumprod: integers stay int64, as NumPy (exact beyond 2**53)."""
    t = _scan_type(types, attrs)
    return Type("i64", t.rank) if types[0].dtype == "i64" else t


def _scan(name: str):
    def evaluate(instr, x):
        from kernels import scans

        return getattr(scans, name)(x, instr.attrs["axis"])

    def emit(instr, a):
        return f"rt.{name}({a[0]}, {instr.attrs['axis']})"
    return evaluate, emit


def _cumsum_vjp(rev, instr, code, declared):
    rev.accum(instr.args[0], f"rt.rcumsum({rev.d(instr.result)}, {instr.attrs['axis']})", code, declared)


def _cumprod_vjp(rev, instr, code, declared):
    x = instr.args[0]
    rev.accum(x, f"rt.cumprod_grad({rev.ref(x)}, {rev.d(instr.result)}, {instr.attrs['axis']})", code, declared)


def _cumsum_jvp(fwd, instr, args, result, tangents):
    return fwd.emit(O.CUMSUM, (tangents[0],), dict(instr.attrs))


def _cumprod_jvp(fwd, instr, args, result, tangents):
    """The tangent of cumprod(x) along t: `cumprod_jvp(x, t)`, a division-free forward sweep
    (exact where elements are zero)."""
    return fwd.emit(O.CUMPROD_JVP, (args[0], fwd.fit(tangents[0], args[0])), dict(instr.attrs))


def _prod_jvp(fwd, instr, args, result, tangents):
    """The tangent of prod(x) along t, sum_j t_j prod_{k != j} x_k: the last element of
    cumprod's tangent along the axis, after a leading 1 (so an empty axis gives 0); exact at
    zeros (no division)."""
    (x,), t = args, fwd.fit(tangents[0], args[0])
    axis, keep = instr.attrs.get("axis"), bool(instr.attrs.get("keepdims"))
    if axis is None:
        size = fwd.b.const(1)
        for d in range(x.type.rank):
            size = fwd.emit(O.MUL, (size, fwd.emit(O.SHAPE, (x,), {"dim": d})))
        x, t, ax = fwd.emit(O.RESHAPE, (x, size)), fwd.emit(O.RESHAPE, (t, size)), 0
    else:
        ax = axis % x.type.rank
    dims = [fwd.b.const(1) if d == ax else fwd.emit(O.SHAPE, (x,), {"dim": d}) for d in range(x.type.rank)]
    xs = fwd.emit(O.CONCAT, (fwd.emit(O.ONES, dims), x), {"axis": ax})
    ts = fwd.emit(O.CONCAT, (fwd.emit(O.ZEROS, dims), t), {"axis": ax})
    sweep = fwd.emit(O.CUMPROD_JVP, (xs, ts), {"axis": ax})
    last = fwd.emit(O.GETITEM, (sweep, fwd.b.const(-1)), {"index": ("s000",) * ax + ("i",)})
    if not keep:
        return last
    if axis is None:   # a (1, ..., 1) array
        return fwd.emit(O.ADD, (fwd.emit(O.ZEROS, (fwd.b.const(1),) * instr.args[0].type.rank), last))
    return fwd.emit(O.GETITEM, (last,), {"index": ("s000",) * ax + ("n",)})


def _cumprod_jvp_type(types, attrs):
    from coarsen.ir.typing import TypeRuleError

    x, t = types
    if x.rank != t.rank:
        raise TypeRuleError("cumprod_jvp takes a tangent of its operand's rank")
    return _scan_type((x,), attrs)


def _cumprod_jvp_eval(instr, x, t):
    from kernels import scans

    return scans.cumprod_jvp(x, t, instr.attrs["axis"])


def _cumprod_jvp_vjp(rev, instr, code, declared):
    """Linear in the tangent t: its transpose is cumprod's VJP; through x (reverse over forward:
    a Hessian of cumprod or prod) `cumprod_jvp_grad`, the tangent of cumprod's VJP along t.
    Both division-free sweeps (`kernels.scans`), exact at zeros."""
    x, t = instr.args
    axis, d = instr.attrs["axis"], rev.d(instr.result)
    if x.id in rev.active:
        rev.accum(x, f"rt.cumprod_jvp_grad({rev.ref(x)}, {rev.ref(t)}, {d}, {axis})", code, declared)
    if t.id in rev.active:
        rev.accum(t, f"rt.cumprod_grad({rev.ref(x)}, {d}, {axis})", code, declared)


def _cumprod_jvp_jvp(fwd, instr, args, result, tangents):
    """Forward over forward: linear in t (`cumprod_jvp(x, dt)`), and through x the second
    directional derivative of cumprod, `cumprod_jvp2(x, t, dx)`."""
    (x, t), (dx, dt) = args, tangents
    out = None
    if dt is not None:
        out = fwd.emit(O.CUMPROD_JVP, (x, fwd.fit(dt, x)), dict(instr.attrs))
    if dx is not None:
        second = fwd.emit(O.CUMPROD_JVP2, (x, fwd.fit(t, x), fwd.fit(dx, x)), dict(instr.attrs))
        out = second if out is None else fwd.emit(O.ADD, (out, second))
    return out if out is not None else fwd.zeros_like(result)


def _cumprod_jvp2_type(types, attrs):
    from coarsen.ir.typing import TypeRuleError

    if len({t.rank for t in types}) != 1:
        raise TypeRuleError("cumprod_jvp2 takes two tangents of its operand's rank")
    return _scan_type(types[:1], attrs)


def _cumprod_jvp2_eval(instr, x, t, u):
    from kernels import scans

    return scans.cumprod_jvp2(x, t, u, instr.attrs["axis"])


def _cumprod_jvp2_vjp(rev, instr, code, declared):
    from coarsen.errors import UnsupportedError

    raise UnsupportedError("a third derivative of np.cumprod (or np.prod) is not supported", instr.loc,
                           "differentiate cumprod at most twice, or write the product as a loop")


# ------------------------------------------------------------------ lowerings
# NumPy's own signatures (`inspect.signature(np.sum)`): positional parameters after the array,
# then keyword-only ones. A call binds its arguments by these, so `np.mean(X, 1, None, None,
# True)` is keepdims=True, as in NumPy; a parameter coarsen cannot honour (out=, where=,
# initial=, a dtype other than float64/int64) is refused, never dropped.
SIGNATURES = {
    "sum": (("a", "axis", "dtype", "out", "keepdims", "initial", "where"), ()),
    "prod": (("a", "axis", "dtype", "out", "keepdims", "initial", "where"), ()),
    "mean": (("a", "axis", "dtype", "out", "keepdims"), ("where",)),
    "max": (("a", "axis", "out", "keepdims", "initial", "where"), ()),
    "min": (("a", "axis", "out", "keepdims", "initial", "where"), ()),
    "var": (("a", "axis", "dtype", "out", "ddof", "keepdims"), ("where", "mean", "correction")),
    "std": (("a", "axis", "dtype", "out", "ddof", "keepdims"), ("where", "mean", "correction")),
    "any": (("a", "axis", "out", "keepdims"), ("where",)),
    "all": (("a", "axis", "out", "keepdims"), ("where",)),
    "any()": (("a", "axis", "dtype", "out", "keepdims"), ("where",)),   # ndarray.any: dtype 2nd
    "all()": (("a", "axis", "dtype", "out", "keepdims"), ("where",)),
    "ptp": (("a", "axis", "out", "keepdims"), ()),
    "argmax": (("a", "axis", "out"), ("keepdims",)),
    "argmin": (("a", "axis", "out"), ("keepdims",)),
    "nansum": (("a", "axis", "dtype", "out", "keepdims", "initial", "where"), ()),
    "nanmean": (("a", "axis", "dtype", "out", "keepdims"), ("where",)),
    "cumsum": (("a", "axis", "dtype", "out"), ()),
    "cumprod": (("a", "axis", "dtype", "out"), ()),
}


def absent(binding) -> bool:
    """Not passed, or passed as None."""
    from coarsen.frontend.bindings import Static

    return binding is None or (isinstance(binding, Static) and binding.obj is None)


def bind(lw, args, kwargs, node, name: str, positional, keyword_only=()) -> dict:
    """The call's arguments by NumPy's signature (a dict of those given): too many positional
    ones, a keyword given twice or unknown, are refused as NumPy would."""
    if len(args) > len(positional):
        lw.type_error(f"{name}() takes from 1 to {len(positional)} positional arguments but {len(args)} were given",
                      node)
    got = dict(zip(positional, args))
    for key, value in kwargs.items():
        if key in got:
            lw.type_error(f"{name}() got multiple values for argument {key!r}", node)
        if key not in positional and key not in keyword_only:
            lw.unsupported(f"{name}() keyword argument {key} is not supported", node)
        got[key] = value
    if "a" in positional and got.get("a") is None:
        lw.type_error(f"{name}() needs an array", node)
    return got


def refuse_unhonoured(lw, got: dict, node, name: str, honoured=()) -> None:
    """out=, where=, initial=, mean=, correction= (and any parameter not in `honoured`) given
    with a value that changes the result: refused, never dropped."""
    from coarsen.frontend.bindings import Static

    for key in ("out", "initial", "where", "mean", "correction", "dtype"):
        if key not in got or key in honoured:
            continue
        value = got[key]
        if key == "out" and absent(value):
            continue
        if key == "where" and isinstance(value, Static) and value.obj is True:
            continue
        if key == "dtype" and absent(value):
            continue
        lw.unsupported(f"{name}() with {key}= is not supported (coarsen would ignore it)", node,
                       {"out": "use the returned array", "dtype": "convert the array first: x.astype(float)"}
                       .get(key, f"drop {key}= and compute it explicitly (np.where, np.maximum, ...)"))


def dtype_target(lw, binding, node, name: str, x, integer_ok: bool = True):
    """x converted for a reduction's `dtype=` (float64, or int64 for integers and bools, as
    NumPy accumulates); anything else refused."""
    import numpy as np

    if absent(binding):
        return x
    obj = L.static(lw, binding, node, "dtype")
    try:
        dtype = np.dtype(obj)
    except (TypeError, ValueError):   # not a dtype: refused below
        dtype = None
    if dtype == np.dtype(np.float64):   # an explicit conversion: NumPy accumulates in float64
        return x if x.type.dtype == "f64" else lw.convert(x, "f64", node)
    if dtype == np.dtype(np.int64) and integer_ok and x.type.dtype != "f64":
        return x if x.type.dtype == "i64" else lw.convert(x, "i64", node)
    lw.unsupported(f"{name}() with dtype={getattr(obj, '__name__', obj)!r} is not supported here", node,
                   "convert the array first (x.astype(float) or x.astype(np.int64)) and drop dtype=")


def _axis_keep(lw, x, args, kwargs, node, name, extra=()):
    """axis and keepdims (and the values of `extra`, None where absent) of a call
    `name(x, *args, **kwargs)` bound by NumPy's signature; anything else given is refused."""
    positional, keyword_only = SIGNATURES[name]
    got = bind(lw, [x, *args], kwargs, node, name, positional, keyword_only)
    refuse_unhonoured(lw, got, node, name, honoured=extra)
    axis = L.axis_of(lw, got.get("axis"), x.type.rank, node, name)
    keep = bool(L.static(lw, got.get("keepdims"), node, "keepdims") or False)
    return axis, keep, [got.get(e) for e in extra]


def reduce(lw, op: str, x, axis, keep: bool, node):
    return lw.emit(getattr(O, op), (x,), node, {"axis": axis, "keepdims": keep})


def _scan_lower(op: str, name: str):
    def lower(lw, args, kwargs, node):
        got = bind(lw, list(args), kwargs, node, name, *SIGNATURES[name])
        refuse_unhonoured(lw, got, node, name, honoured=("dtype",))
        x, axis = got["a"], got.get("axis")
        value = lw.as_value(x, node)
        if "dtype" in got:
            x = value = dtype_target(lw, got["dtype"], node, name, value)
        if value.type.dtype == "f64":
            x = L.array(lw, x, node, name, min_rank=0)
        else:   # NumPy: ints (and bools, counted) scan in int64, exactly beyond 2**53
            x = lw.cast_to(value, value.type.with_dtype("i64")) if value.type.dtype == "bool" else value
        if L.static(lw, axis, node, "axis") is None:
            from coarsen.ops.shape import ravel

            x, ax = ravel(lw, x, node), 0
        else:
            ax = L.axis_of(lw, axis, x.type.rank, node, name)
        return lw.emit(getattr(O, op), (x,), node, {"axis": ax})
    return lower


def _diff(lw, args, kwargs, node):
    x, n, axis = L.positional(lw, args, kwargs, node, ["a", "n", "axis"], "diff", 1)
    x = L.array(lw, x, node, "diff") if lw.as_value(x, node).type.dtype == "f64" else lw.as_value(x, node)
    if not x.type.rank:   # int and bool arrays keep their dtype (NumPy's: bools give not_equal)
        lw.type_error(f"diff() needs an array of rank >= 1, got {x.type}", node)
    n = 1 if n is None else L.static(lw, n, node, "n")
    if not isinstance(n, int) or n < 0:
        lw.unsupported(f"diff() with n={n!r} is not supported", node, "use a non-negative integer n")
    ax = x.type.rank - 1 if axis is None else L.axis_of(lw, axis, x.type.rank, node, "diff")
    one, minus_one = lw.b.const(1), lw.b.const(-1)
    for _ in range(n):
        later = L.take_along(lw, x, ax, one, None, node)
        earlier = L.take_along(lw, x, ax, None, minus_one, node)
        # NumPy's diff of bools is not_equal (a bool XOR), not a subtraction
        x = lw.emit(O.NE if x.type.dtype == "bool" else O.SUB, (later, earlier), node)
    return x


def _trapezoid(lw, args, kwargs, node):
    """np.trapezoid (NumPy 2's name for trapz) as NumPy computes it: the sum along the axis of
    d * (y[1:] + y[:-1]) / 2.0, d = np.diff(x) (a 1-d x lies along the axis) or the scalar dx."""
    y, x, dx, axis = L.positional(lw, args, kwargs, node, ["y", "x", "dx", "axis"], "trapezoid", 1)
    y = L.array(lw, y, node, "trapezoid")
    ax = y.type.rank - 1 if axis is None else L.axis_of(lw, axis, y.type.rank, node, "trapezoid")
    one, minus_one = lw.b.const(1), lw.b.const(-1)
    pairs = lw.emit(O.ADD, (L.take_along(lw, y, ax, one, None, node),
                            L.take_along(lw, y, ax, None, minus_one, node)), node)
    from coarsen.frontend.bindings import Static

    if x is None or (isinstance(x, Static) and x.obj is None):
        d = lw.b.const(1.0) if dx is None else lw.as_value(dx, node)
    else:
        x = L.array(lw, x, node, "trapezoid")
        if x.type.rank == 1:
            d = _diff(lw, [x], {}, node)
            for _ in range(y.type.rank - 1 - ax):   # along the axis: trailing axes of length 1
                d = L.newaxis(lw, d, d.type.rank, node)
        elif x.type.rank == y.type.rank:
            d = _diff(lw, [x], {"axis": lw.b.const(ax)}, node)
        else:
            lw.unsupported(f"trapezoid() of a rank-{x.type.rank} x for a rank-{y.type.rank} y is not supported",
                           node, "pass a 1-d x or one shaped like y")
    areas = lw.emit(O.DIV, (lw.emit(O.MUL, (d, pairs), node), lw.b.const(2.0)), node)
    return reduce(lw, "SUM", areas, ax, False, node)


def _cov(lw, args, kwargs, node):
    """np.cov(m, rowvar=True, bias=False, ddof=None) as NumPy computes it: rows (columns when
    rowvar=False) are variables, X - its mean per variable, then X @ X.T times 1 / (N - ddof);
    a 1-d m is one variable (a 0-d result)."""
    m, y, rowvar, bias, ddof = L.positional(lw, args, kwargs, node, ["m", "y", "rowvar", "bias", "ddof"], "cov", 1)
    if L.static(lw, y, node, "y") is not None:
        lw.unsupported("cov() of two arrays (y) is not supported", node, "stack them: np.cov(np.stack([x, y]))")
    x = L.array(lw, m, node, "cov")
    if x.type.rank > 2:
        lw.type_error("m has more than 2 dimensions", node)
    one_variable = x.type.rank == 1
    if one_variable:
        x = L.newaxis(lw, x, 0, node)
    elif rowvar is not None and not L.static(lw, rowvar, node, "rowvar"):
        x = lw.emit(O.TRANSPOSE, (x,), node)
    ddof_value = L.static(lw, ddof, node, "ddof")
    if ddof_value is None:
        ddof_value = 0 if L.static(lw, bias, node, "bias") else 1
    centred = lw.emit(O.SUB, (x, reduce(lw, "MEAN", x, 1, True, node)), node)
    product = lw.emit(O.MATMUL, (centred, lw.emit(O.TRANSPOSE, (centred,), node)), node)
    fact = lw.emit(O.SUB, (count(lw, x, 1, node), lw.b.const(float(ddof_value))), node)
    fact = lw.emit(O.MAXIMUM, (fact, lw.b.const(0.0)), node)   # NumPy: fact <= 0 is 0 (inf/nan)
    c = lw.emit(O.MUL, (product, lw.emit(O.DIV, (lw.b.const(1.0), fact), node)), node)
    return L.getitem(lw, c, ["i", "i"], [lw.b.const(0), lw.b.const(0)], node) if one_variable else c


def _nan_reduction(mean: bool):
    """np.nansum / np.nanmean: NaNs count as absent (a `where` to 0, so no derivative reaches
    them); nanmean divides by how many are not NaN (0 of them: NaN, as NumPy)."""
    name = "nanmean" if mean else "nansum"

    def lower(lw, args, kwargs, node):
        x = L.array(lw, args[0] if args else kwargs.pop("a", None), node, name, min_rank=0, ints=not mean)
        axis, keep, (dtype,) = _axis_keep(lw, x, args[1:], kwargs, node, name, extra=("dtype",))
        if x.type.dtype == "i64" and L.static(lw, dtype, node, "dtype") is None:   # no NaN: np.sum's
            return reduce(lw, "SUM", x, axis, keep, node) if x.type.rank else x
        x = dtype_target(lw, dtype, node, name, x)
        if x.type.dtype != "f64":
            x = lw.cast_to(x, x.type.with_dtype("f64"))
        present = lw.emit(O.EQ, (x, x), node)
        total = reduce(lw, "SUM", lw.emit(O.WHERE, (present, x, lw.b.const(0.0)), node), axis, keep, node)
        if not mean:
            return total
        counted = reduce(lw, "SUM", lw.cast_to(present, present.type.with_dtype("f64")), axis, keep, node)
        return lw.emit(O.DIV, (total, counted), node)
    return lower


def count(lw, x, axis, node):
    """How many elements a reduction over `axis` (None: all) combines, as a float."""
    n = L.size(lw, x, node) if axis is None else lw.emit(O.SHAPE, (x,), node, {"dim": axis})
    return lw.cast_to(n, Type("f64"))


def variance(lw, x, axis, keep, ddof, node):
    mu = reduce(lw, "MEAN", x, axis, True, node)
    dev = lw.emit(O.SUB, (x, mu), node)
    total = reduce(lw, "SUM", lw.emit(O.MUL, (dev, dev), node), axis, keep, node)
    n = lw.emit(O.SUB, (count(lw, x, axis, node), lw.cast_to(ddof, Type("f64"))), node)
    # NumPy's divisor is max(n - ddof, 0): ddof >= n gives inf (or nan), never a negative variance
    n = lw.emit(O.MAXIMUM, (n, lw.b.const(0.0)), node)
    return lw.emit(O.DIV, (total, n), node)


def _var(lw, args, kwargs, node, std=False):
    name = "std" if std else "var"
    x = L.array(lw, args[0] if args else kwargs.pop("a", None), node, name)
    axis, keep, (dtype, ddof) = _axis_keep(lw, x, args[1:], kwargs, node, name, extra=("dtype", "ddof"))
    x = dtype_target(lw, dtype, node, name, x)
    ddof = lw.as_value(ddof, node) if ddof is not None else lw.b.const(0)
    v = variance(lw, x, axis, keep, ddof, node)
    return lw.emit(O.SQRT, (v,), node) if std else v


def _std(lw, args, kwargs, node):
    return _var(lw, args, kwargs, node, std=True)


def _average(lw, args, kwargs, node):
    """np.average(a, axis, weights, returned=False, keepdims): the mean; with weights (x's shape,
    or a vector along `axis`) sum(x * w) / sum(w) over the axis."""
    got = bind(lw, list(args), kwargs, node, "average", ("a", "axis", "weights", "returned"), ("keepdims",))
    x, axis, w, returned, keep = (got.get(k) for k in ("a", "axis", "weights", "returned", "keepdims"))
    x = L.array(lw, x, node, "average", min_rank=0)
    if L.static(lw, returned, node, "returned"):
        lw.unsupported("average(returned=True) is not supported", node, "compute np.sum(weights) as well")
    ax = L.axis_of(lw, axis, x.type.rank, node, "average")
    keep = bool(L.static(lw, keep, node, "keepdims") or False)
    from coarsen.frontend.bindings import Static

    if w is None or (isinstance(w, Static) and w.obj is None):
        return reduce(lw, "MEAN", x, ax, keep, node)
    w = L.array(lw, w, node, "average", min_rank=1)
    if w.type.rank == x.type.rank:
        weight = reduce(lw, "SUM", w, ax, keep, node)
    elif w.type.rank == 1 and ax is not None:   # a vector along the axis: its total divides
        weight = reduce(lw, "SUM", w, None, False, node)
        w = L.getitem(lw, w, [":" if k == ax else "n" for k in range(x.type.rank)], [], node)
    else:
        lw.unsupported("average(): weights of another shape than a need an axis and must be one-dimensional",
                       node, "give weights of a's shape, or a vector along axis")
    total = reduce(lw, "SUM", lw.emit(O.MUL, (x, w), node), ax, keep, node)
    return lw.emit(O.DIV, (total, weight), node)


def _ptp(lw, args, kwargs, node):
    """np.ptp(a, axis, keepdims): max - min."""
    x = lw.as_value(args[0] if args else kwargs.pop("a", None), node)
    if x.type.dtype == "bool":   # NumPy: max - min of bools is a TypeError (boolean subtract)
        lw.type_error("ptp() of a bool array: NumPy's boolean subtract is a TypeError", node,
                      "convert first: np.ptp(m.astype(int))")
    # int64 stays int64 (NumPy's, exact), floats as before
    axis, keep, _ = _axis_keep(lw, x, args[1:], kwargs, node, "ptp")
    return lw.emit(O.SUB, (reduce(lw, "MAX", x, axis, keep, node), reduce(lw, "MIN", x, axis, keep, node)), node)


def _any_all(name: str, method: bool = False):
    """np.any / np.all (and the methods, whose second positional parameter is dtype): counts of
    nonzero / zero elements, compared with 0 (no max/min, so an empty array gives NumPy's
    False / True); a bool result, never active."""
    signature = name + "()" if method else name

    def lower(lw, args, kwargs, node):
        x = L.array(lw, args[0] if args else kwargs.pop("a", None), node, name, min_rank=0)
        axis, keep, _ = _axis_keep(lw, x, args[1:], kwargs, node, signature)
        if not x.type.rank:
            zero = lw.b.const(False if x.type.dtype == "bool" else 0)
            hit = lw.emit(O.NE if name == "any" else O.EQ, (x, zero), node)
            return hit if name == "any" else lw.emit(O.NOT, (hit,), node)
        zero = lw.b.const(False) if x.type.dtype == "bool" else lw.b.const(0.0 if x.type.dtype == "f64" else 0)
        hits = lw.emit(O.NE if name == "any" else O.EQ, (x, zero), node)
        count = reduce(lw, "SUM", lw.cast_to(hits, hits.type.with_dtype("f64")), axis, keep, node)
        return lw.emit(O.GT if name == "any" else O.EQ, (count, lw.b.const(0.0)), node)
    return lower


def finite_max(lw, x, axis, node):
    """max(x) over axis (kept), 0 where that is not finite: subtracted before exp, it keeps
    exp from overflowing, and an all -inf slice gives log(0) = -inf, not nan."""
    m = reduce(lw, "MAX", x, axis, True, node)
    return lw.emit(O.WHERE, (is_finite(lw, m, node), m, lw.b.const(0.0)), node)


def is_finite(lw, v, node):
    """|v| < inf (not `v - v == 0`, which SymPy simplifies to true)."""
    return lw.emit(O.LT, (lw.emit(O.ABS, (v,), node), lw.b.const(float("inf"))), node)


def logsumexp(lw, x, axis, keep, node):
    m = finite_max(lw, x, axis, node)
    s = reduce(lw, "SUM", lw.emit(O.EXP, (lw.emit(O.SUB, (x, m), node),), node), axis, True, node)
    out = lw.emit(O.ADD, (lw.emit(O.LOG, (s,), node), m), node)
    if keep:
        return out
    return reduce(lw, "SUM", out, axis, False, node)   # drops the kept length-1 axis


def _logsumexp(lw, args, kwargs, node):
    """scipy.special.logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False)."""
    a, axis, b, keep, signed = L.positional(lw, args, kwargs, node,
                                            ["a", "axis", "b", "keepdims", "return_sign"], "logsumexp", 1)
    x = L.array(lw, a, node, "logsumexp", min_rank=0)
    keep = bool(L.static(lw, keep, node, "keepdims") or False)
    signed = bool(L.static(lw, signed, node, "return_sign") or False)
    if b is None and not signed:
        if x.type.rank == 0:
            return x
        ax = L.axis_of(lw, axis, x.type.rank, node, "logsumexp")
        return logsumexp(lw, x, ax, keep, node)
    w = L.array(lw, b, node, "logsumexp", min_rank=0) if b is not None else lw.b.const(1.0)
    return weighted_logsumexp(lw, x, w, axis, keep, signed, node)


def weighted_logsumexp(lw, x, w, axis_binding, keep: bool, signed: bool, node):
    """log |sum(w * exp(x))| (and its sign): the max is taken over the entries whose weight is
    not zero (as SciPy), exp(x - max) is not masked, so the derivative in a zero weight is
    exact (exp(x_i) / sum)."""
    inf = lw.b.const(float("inf"))
    weighted = lw.emit(O.WHERE, (lw.emit(O.NE, (w, lw.b.const(0.0)), node), x,
                                 lw.emit(O.NEG, (inf,), node)), node)
    rank = weighted.type.rank
    if rank == 0:
        ax = None
        m = lw.emit(O.WHERE, (is_finite(lw, weighted, node), weighted, lw.b.const(0.0)), node)
        s = lw.emit(O.MUL, (w, lw.emit(O.EXP, (lw.emit(O.SUB, (x, m), node),), node)), node)
    else:
        ax = L.axis_of(lw, axis_binding, rank, node, "logsumexp")
        m = finite_max(lw, weighted, ax, node)
        terms = lw.emit(O.MUL, (w, lw.emit(O.EXP, (lw.emit(O.SUB, (x, m), node),), node)), node)
        if ax is None:
            s = reduce(lw, "SUM", terms, None, False, node)
            m = reduce(lw, "SUM", m, None, False, node)   # (1, ..., 1) -> its one element
            if keep:
                s, m = (_ones_shape(lw, v, rank, node) for v in (s, m))
        else:
            s = reduce(lw, "SUM", terms, ax, True, node)
    out = lw.emit(O.ADD, (lw.emit(O.LOG, (lw.emit(O.ABS, (s,), node) if signed else s,), node), m), node)
    if rank and ax is not None and not keep:
        out = reduce(lw, "SUM", out, ax, False, node)   # drops the kept length-1 axis
        s = reduce(lw, "SUM", s, ax, False, node)
    if signed:
        return (out, lw.emit(O.SIGN, (s,), node))
    return out


def _ones_shape(lw, v, rank: int, node):
    """A scalar as a (1, ..., 1) array of `rank` (keepdims of a whole-array reduction)."""
    ones = lw.emit(O.ZEROS, (lw.b.const(1),) * rank, node)
    return lw.emit(O.ADD, (ones, v), node)


def _softmax(log: bool):
    name = "log_softmax" if log else "softmax"

    def lower(lw, args, kwargs, node):
        x, axis = L.positional(lw, args, kwargs, node, ["x", "axis"], name, 1)
        x = L.array(lw, x, node, name)
        ax = L.axis_of(lw, axis, x.type.rank, node, name)
        if log:
            # SciPy's order: tmp = x - finite max, then tmp - log(sum(exp(tmp))); not
            # x - logsumexp(x), which cancels for large logits (1e16 -> 0.0, not -log 2)
            tmp = lw.emit(O.SUB, (x, finite_max(lw, x, ax, node)), node)
            s = reduce(lw, "SUM", lw.emit(O.EXP, (tmp,), node), ax, True, node)
            return lw.emit(O.SUB, (tmp, lw.emit(O.LOG, (s,), node)), node)
        # SciPy's softmax subtracts the plain max (an inf in the slice makes it all NaN, as
        # SciPy's); log_softmax subtracts the finite max, as SciPy's does
        e = lw.emit(O.EXP, (lw.emit(O.SUB, (x, reduce(lw, "MAX", x, ax, True, node)), node),), node)
        return lw.emit(O.DIV, (e, reduce(lw, "SUM", e, ax, True, node)), node)
    return lower


def _arg_extremum(op: str, name: str):
    def lower(lw, args, kwargs, node):
        from coarsen.ops.constructors import iota
        from coarsen.ops.shape import ravel

        x = L.array(lw, args[0] if args else kwargs.pop("a", None), node, name)
        axis, keep, _ = _axis_keep(lw, x, args[1:], kwargs, node, name)
        if axis is None:
            flat = ravel(lw, x, node)
            index = _first(lw, op, flat, 0, iota(lw, lw.emit(O.SHAPE, (flat,), node, {"dim": 0}), node), node)
            first = reduce(lw, "MIN", index, None, False, node)
            if keep:   # a (1, ..., 1) int64 array, as NumPy
                return lw.cast_to(_ones_shape(lw, first, x.type.rank, node), Type("i64", x.type.rank))
            return lw.cast_to(first, Type("i64"))
        ramp = iota(lw, lw.emit(O.SHAPE, (x,), node, {"dim": axis}), node)
        ramp = L.getitem(lw, ramp, ["n"] * axis + [":"] + ["n"] * (x.type.rank - axis - 1), [], node)
        # int64 indices along the axis, as NumPy (usable as index arrays: x[np.argmax(y, 0)])
        index = reduce(lw, "MIN", _first(lw, op, x, axis, ramp, node), axis, keep, node)
        return lw.cast_to(index, Type("i64", index.type.rank))
    return lower


def _first(lw, op, x, axis, ramp, node):
    """Where x reaches its extremum along axis: the index (from `ramp`), elsewhere the length,
    so the MIN of it is the first such index, as np.argmax returns. MAX/MIN propagate NaN, so
    a slice holding a NaN has a NaN extremum that no element equals: there its NaNs are where
    it is reached (np.argmax/argmin return the first NaN)."""
    best = reduce(lw, op, x, axis, True, node)
    n = count(lw, x, axis, node)
    reached = lw.emit(O.EQ, (x, best), node)
    if x.type.dtype == "f64":
        reached = lw.emit(O.OR, (reached, lw.emit(O.NE, (x, x), node)), node)
    return lw.emit(O.WHERE, (reached, ramp, n), node)


# ------------------------------------------------------------------ sum, mean, prod, max, min
def _reduction_type(name: str):
    def rule(types, attrs):
        from coarsen.ir.typing import TypeRuleError

        (x,) = types
        if x.rank == 0:
            raise TypeRuleError(f"{name} of a scalar")
        axis = attrs.get("axis")
        if axis is not None and not -x.rank <= axis < x.rank:
            raise TypeRuleError(f"axis {axis} is out of bounds for an array of rank {x.rank}")
        rank = x.rank if attrs.get("keepdims") else (0 if axis is None else x.rank - 1)
        if x.dtype == "i64" and name != "mean":   # as NumPy: integers stay int64, exactly
            return Type("i64", rank)
        if x.dtype == "bool" and name != "mean":  # NumPy: bool sum/prod count in int64, max/min are bools
            return Type("bool" if name in ("max", "min") else "i64", rank)
        return Type("f64", rank)
    return rule


def _reduction_eval(name: str):
    def evaluate(instr, x):
        import numpy as np

        return getattr(np, name)(x, axis=instr.attrs.get("axis"), keepdims=bool(instr.attrs.get("keepdims")))
    return evaluate


def _shape_source(dims: list[str]) -> str:
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _reduction_emit(instr, a):
    """Whole-array reductions are plain NumPy; per-axis ones go through `rt` (one name per
    result rank, so Numba can type them)."""
    axis, keep = instr.attrs.get("axis"), bool(instr.attrs.get("keepdims"))
    name = instr.op.value
    if axis is None:
        total = f"np.{name}({a[0]})"
        if keep:
            return f"np.full({_shape_source(['1'] * instr.result.type.rank)}, {total})"
        return total
    return f"rt.{name}_axis{'_keep' if keep else ''}({a[0]}, {axis})"


def _reduction_args(instr):
    return instr.attrs.get("axis"), bool(instr.attrs.get("keepdims"))


def _expand(d: str, shape: str, axis, keep: bool) -> str:
    """The adjoint of a reduction broadcast back to the reduced array's shape."""
    if axis is None:
        return f"rt.broadcast_scalar(np.sum({d}), {shape})" if keep else f"rt.broadcast_scalar({d}, {shape})"
    return f"rt.expand_keep({d}, {shape})" if keep else f"rt.expand_axis({d}, {shape}, {axis})"


def _sum_vjp(rev, instr, code, declared):
    (x,), r = instr.args, instr.result
    axis, keep = _reduction_args(instr)
    rev.accum(x, _expand(rev.d(r), rev.shape(x), axis, keep), code, declared)


def _mean_vjp(rev, instr, code, declared):
    (x,), r = instr.args, instr.result
    axis, keep = _reduction_args(instr)
    n = f"{rev.ref(x)}.size" if axis is None else f"{rev.shape(x)}[{axis}]"
    rev.accum(x, _expand(f"{rev.d(r)} / {n}", rev.shape(x), axis, keep), code, declared)


def _prod_vjp(rev, instr, code, declared):
    (x,), r = instr.args, instr.result
    axis, keep = _reduction_args(instr)
    # d prod / d x_i is the product of the other elements (not prod / x_i: exact at zeros)
    rev.accum(x, f"{_expand(rev.d(r), rev.shape(x), axis, keep)} * rt.prod_others({rev.ref(x)}, {axis!r})",
              code, declared)


def _extremum_vjp(rev, instr, code, declared):
    (x,), r = instr.args, instr.result
    axis, keep = _reduction_args(instr)
    if axis is None or (x.type.rank == 1 and not keep):   # a scalar result: no axis to expand
        mask = f"rt.extremum_mask_all({rev.ref(x)}, {rev.ref(r)}{'[0]' * x.type.rank if keep else ''})"
    else:
        r_keep = rev.ref(r) if keep else f"np.expand_dims({rev.ref(r)}, {axis})"
        mask = f"rt.extremum_mask_axis({rev.ref(x)}, {r_keep}, {axis})"
    rev.accum(x, f"{mask} * {_expand(rev.d(r), rev.shape(x), axis, keep)}", code, declared)


def _reduction_lower(name: str):
    def lower(lw, args, kwargs, node):
        positional, keyword_only = SIGNATURES[name]
        got = bind(lw, list(args), kwargs, node, name, positional, keyword_only)
        refuse_unhonoured(lw, got, node, name, honoured=("dtype",))
        x = lw.as_value(got["a"], node)
        if "dtype" in got:   # sum/prod/mean: float64, or int64 of integers (NumPy's accumulator)
            x = dtype_target(lw, got["dtype"], node, name, x, integer_ok=name != "mean")
        axis = L.static(lw, got.get("axis"), node, "axis")
        keepdims = bool(L.static(lw, got.get("keepdims"), node, "keepdims") or False)
        if isinstance(axis, tuple) and x.type.rank:   # several axes: one at a time
            axes = [L.axis_of(lw, a, x.type.rank, node, name) for a in axis]
            if len(set(axes)) != len(axes):
                lw.type_error(f"{name}(): axis={axis!r} names an axis twice", node)
            if not axes:   # no axes: nothing reduced (NumPy); mean still gives floats
                return lw.cast_to(x, Type("f64", x.type.rank)) if name == "mean" else x
            if len(axes) == x.type.rank and not keepdims:
                axis = None
            else:   # from the last axis down, so the others keep their positions (a mean of
                    # means over equal counts is the mean)
                for a in sorted(axes, reverse=True):
                    x = lw.emit(getattr(O, name.upper()), (x,), node, {"axis": a, "keepdims": keepdims})
                return x
        if axis is not None and (not isinstance(axis, int) or isinstance(axis, bool)):
            lw.unsupported(f"{name}() with axis={axis!r} is not supported", node, "give an int or a tuple of ints")
        if x.type.rank == 0:   # NumPy reduces a 0-d value to itself (np.sum(2.0) is 2.0)
            if axis is not None:
                lw.type_error(f"axis {axis} is out of bounds for a 0-d value in {name}()", node)
            if name == "mean" or (name in ("sum", "prod") and x.type.dtype == "bool"):
                return lw.cast_to(x, Type("f64" if name == "mean" else "i64"))
            return x
        if axis is not None and axis < 0:
            axis += x.type.rank
        return lw.emit(getattr(O, name.upper()), (x,), node, {"axis": axis, "keepdims": keepdims})
    return lower


def _reduction(name: str, callables, vjp, doc: str, jvp=None):
    return Structural(name, callables, _reduction_type(name), _reduction_eval(name), _reduction_emit,
                      lower=_reduction_lower(name), vjp=vjp, jvp=jvp, methods=(name,),
                      runtime=(f"{name}_axis", f"{name}_axis_keep"), doc=doc)


OPS = [
    _reduction("sum", ("numpy.sum",), _sum_vjp, "sum over all elements or one axis (keepdims)"),
    _reduction("mean", ("numpy.mean",), _mean_vjp, "mean over all elements or one axis (keepdims)"),
    _reduction("prod", ("numpy.prod",), _prod_vjp, "product; VJP by products of the others", jvp=_prod_jvp),
    _reduction("max", ("numpy.max", "numpy.amax"), _extremum_vjp, "max; VJP to the first maximum"),
    _reduction("min", ("numpy.min", "numpy.amin"), _extremum_vjp, "min; VJP to the first minimum"),
    Structural("cumsum", (), _int_scan_type, *_scan("cumsum"), vjp=_cumsum_vjp, jvp=_cumsum_jvp,
               runtime=("cumsum", "rcumsum"), doc="cumulative sum along a static axis"),
    Structural("cumprod", (), _int_scan_type, *_scan("cumprod"), vjp=_cumprod_vjp, jvp=_cumprod_jvp,
               runtime=("cumprod", "cumprod_grad"), doc="cumulative product along a static axis"),
    Structural("cumprod_jvp", (), _cumprod_jvp_type, _cumprod_jvp_eval,
               lambda instr, a: f"rt.cumprod_jvp({a[0]}, {a[1]}, {instr.attrs['axis']})",
               vjp=_cumprod_jvp_vjp, jvp=_cumprod_jvp_jvp,
               runtime=("cumprod_jvp", "cumprod_grad", "cumprod_jvp_grad"),
               doc="forward mode's tangent of cumprod(x) along t (args: x, t)"),
    Structural("cumprod_jvp2", (), _cumprod_jvp2_type, _cumprod_jvp2_eval,
               lambda instr, a: f"rt.cumprod_jvp2({a[0]}, {a[1]}, {a[2]}, {instr.attrs['axis']})",
               vjp=_cumprod_jvp2_vjp, runtime=("cumprod_jvp2",),
               doc="forward over forward: the tangent along u of cumprod_jvp(x, t) through x (args: x, t, u)"),
]

COMPOSITES = [
    Composite("cumsum (call)", ("numpy.cumsum",), _scan_lower("CUMSUM", "cumsum"), methods=("cumsum",),
              examples=(("np.cumsum(x, axis=0)", ((-3.0, 3.0),)),)),
    Composite("cumprod (call)", ("numpy.cumprod",), _scan_lower("CUMPROD", "cumprod"), methods=("cumprod",),
              examples=(("np.cumprod(x, axis=0)", ((-2.0, 2.0),)),)),
    Composite("nansum", ("numpy.nansum",), _nan_reduction(False),
              examples=(("np.nansum(np.where(x > 1.0, np.nan, x), axis=0)", ((-3.0, 3.0),)),)),
    Composite("nanmean", ("numpy.nanmean",), _nan_reduction(True),
              examples=(("np.nanmean(np.where(x > 1.0, np.nan, x))", ((-3.0, 3.0),)),)),
    Composite("cov", ("numpy.cov",), _cov,
              examples=(("np.cov(x)", ((-3.0, 3.0),), [(3, 4), (5,)]),
                        ("np.cov(x, rowvar=False, bias=True)", ((-3.0, 3.0),), [(4, 2)]))),
    Composite("trapezoid", ("numpy.trapezoid",), _trapezoid,
              examples=(("np.trapezoid(x, np.cumsum(y * y))", ((-3.0, 3.0), (0.5, 2.0)), [(4,)]),
                        ("np.trapezoid(x, dx=0.5, axis=0)", ((-3.0, 3.0),), [(3, 2)]))),
    Composite("diff", ("numpy.diff",), _diff, examples=(("np.diff(x, axis=0)", ((-3.0, 3.0),)),)),
    Composite("var", ("numpy.var",), _var, methods=("var",), examples=(("np.var(x, axis=0)", ((-3.0, 3.0),)),)),
    Composite("average", ("numpy.average",), _average,
              examples=(("np.average(x)", ((-3.0, 3.0),)),
                        ("np.average(x, axis=0, weights=y)", ((-3.0, 3.0), (0.5, 2.0))),
                        ("np.average(x, 1, y[0], keepdims=True)", ((-3.0, 3.0), (0.5, 2.0)), [(2, 3)]))),
    Composite("ptp", ("numpy.ptp",), _ptp, examples=(("np.ptp(x, axis=0)", ((-3.0, 3.0),)),)),
    Composite("any", ("numpy.any",), _any_all("any"),
              examples=(("x * np.any(x > 0.5, axis=0)", ((-3.0, 3.0),)),)),
    Composite("all", ("numpy.all",), _any_all("all"),
              examples=(("x * np.all(x > -2.5, axis=0)", ((-3.0, 3.0),)),)),
    Composite("any (method)", (), _any_all("any", method=True), methods=("any",),
              examples=(("x * (x > 0.5).any(0, None, None, True)", ((-3.0, 3.0),)),)),
    Composite("all (method)", (), _any_all("all", method=True), methods=("all",),
              examples=(("x * (x > -2.5).all(axis=0)", ((-3.0, 3.0),)),)),
    Composite("std", ("numpy.std",), _std, methods=("std",),
              examples=(("np.std(x, axis=0, ddof=1)", ((-3.0, 3.0),)),)),
    Composite("logsumexp", ("scipy.special.logsumexp",), _logsumexp,
              examples=(("logsumexp(x, axis=0)", ((-3.0, 3.0),)),
                        ("logsumexp(x, axis=0, b=y)", ((-3.0, 3.0), (0.1, 2.0))),
                        ("logsumexp(x, b=y, keepdims=True)", ((-3.0, 3.0), (0.1, 2.0))),
                        ("logsumexp(x, 0, np.concatenate((y[:1], y[1:] * (y[1:] > 1.0))), True)",
                         ((-3.0, 3.0), (0.1, 2.0))),
                        ("logsumexp(x, b=y - 1.0, return_sign=True)[0]", ((-3.0, 3.0), (0.1, 2.0))))),
    Composite("softmax", ("scipy.special.softmax",), _softmax(False),
              examples=(("softmax(x, axis=0)", ((-3.0, 3.0),)),)),
    Composite("log_softmax", ("scipy.special.log_softmax",), _softmax(True),
              examples=(("log_softmax(x, axis=0)", ((-3.0, 3.0),)),)),
    Composite("argmax", ("numpy.argmax",), _arg_extremum("MAX", "argmax"), methods=("argmax",),
              examples=(("x * np.argmax(x)", ((-3.0, 3.0),)), ("np.ravel(x)[np.argmax(x)]", ((-3.0, 3.0),)),
                        ("x * np.argmax(x, keepdims=True)", ((-3.0, 3.0),)),
                        ("x[np.argmax(x, axis=0)]", ((-3.0, 3.0),)),
                        ("np.take(x, x.argmax(axis=-1), axis=-1)", ((-3.0, 3.0),), [(2, 3), (1, 3)]))),
    Composite("argmin", ("numpy.argmin",), _arg_extremum("MIN", "argmin"), methods=("argmin",),
              examples=(("x * np.argmin(x)", ((-3.0, 3.0),)),
                        ("np.ravel(x)[np.argmin(x)] + x.argmin(axis=-1, keepdims=True)", ((-3.0, 3.0),)),
                        ("x[np.argmin(x, axis=0)]", ((-3.0, 3.0),), [(2, 3), (3, 1)]))),
]
