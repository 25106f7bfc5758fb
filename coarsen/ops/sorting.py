"""Sorting, searching and counting (NumPy's grouping): np.argsort, np.sort, np.median,
np.percentile, np.quantile, np.searchsorted, np.count_nonzero, and np.interp (a search).

Two primitives without a derivative: `searchsorted` (int64 insertion positions into a
vector, NumPy's binary search, which Numba's matches, NaN last included) and `argsort` of a vector (int64 positions, no derivative), emitted as NumPy's
`np.argsort(x, kind=...)`, which Numba compiles for vectors. Everything else is built on it:

- `np.sort(x)` is the gather `x[argsort(x)]` (`indexing.take`), so its derivative is the
  gather's: each sorted element's adjoint goes back to the position it came from (tied
  elements each keep their own, as torch.sort's). NaN sorts last, as in NumPy.
- `np.median` and `np.percentile` / `np.quantile` (method "linear") gather the sorted vector
  at positions computed from its length the way NumPy computes them (`_quantile`, `_lerp`:
  the same virtual index `(n - 1) * q`, the same interpolation and its `t >= 0.5` branch, NaN
  when the vector holds one), so values agree with NumPy's to the bit and the derivative
  flows to the one or two elements the result is made of (and to q).

Ties: NumPy's default sort ("quicksort", an introsort or x86-simd-sort) and "heapsort" are
not stable, and the order they give equal elements is unspecified (it differs across NumPy
versions and CPUs), and Numba's quicksort orders ties otherwise (`vals[np.argsort(key)]` with
key [2, 2, -1, -1] gave another permutation on cpu, and the tiered cpu target changed its
answer between calls). So the unstable kinds are emitted as `rt.argsort_quicksort` /
`rt.argsort_heapsort`: NumPy's own argsort on the numpy target; on cpu, Numba's sort where the
sorted keys hold no tie (equal keys, -0.0 and 0.0, NaNs: the order is then unique) and NumPy's
own order (object mode) where they do. `kind="stable"` (or "mergesort") is stable, hence
identical, everywhere, and keeps Numba's mergesort.

Arrays of rank > 1 are sorted flattened (axis=None) only: along an axis they are refused
(Numba's argsort takes vectors).
"""
from __future__ import annotations

import numpy as np

from coarsen.ir.types import Type
from coarsen.ops import lowering as L
from coarsen.ops.spec import O, Composite, Structural

_KINDS = {None: "quicksort", "quicksort": "quicksort", "heapsort": "heapsort",
          "mergesort": "mergesort", "stable": "mergesort"}


def _argsort_type(types, attrs):
    from coarsen.ir.typing import TypeRuleError

    (x,) = types
    if x.rank != 1:
        raise TypeRuleError(f"argsort takes a vector, got {x}")
    return Type("i64", 1)


def _argsort_eval(instr, x):
    return np.argsort(np.asarray(x), kind=instr.attrs["kind"])


def _argsort_emit(instr, a):
    kind = instr.attrs["kind"]
    if kind == "mergesort":   # stable: one order everywhere
        return f"np.argsort({a[0]}, kind='mergesort')"
    return f"rt.argsort_{kind}({a[0]})"   # NumPy's order of ties on every target (`kernels.runtime`)


def _searchsorted_type(types, attrs):
    from coarsen.ir.typing import TypeRuleError

    a, v = types
    if a.rank != 1 or a.dtype != v.dtype:
        raise TypeRuleError(f"searchsorted takes a vector and values of its dtype, got {a} and {v}")
    return Type("i64", v.rank)


def _searchsorted_eval(instr, a, v):
    out = np.searchsorted(np.asarray(a), v, side=instr.attrs["side"])
    return out if np.ndim(v) else int(out)


OPS = [
    Structural("searchsorted", (), _searchsorted_type, _searchsorted_eval,
               lambda instr, a: f"np.searchsorted({a[0]}, {a[1]}, side={instr.attrs['side']!r})",
               differentiable=False, doc="int64 positions inserting v into the sorted vector a (attrs: side)"),
    Structural("argsort", (), _argsort_type, _argsort_eval, _argsort_emit, differentiable=False,
               doc="the int64 positions that sort a vector (attrs: kind, quicksort, heapsort or mergesort)"),
]


# ---------------------------------------------------------------------------- lowerings

def _vector(lw, binding, axis, node, name: str):
    """The operand as the vector to sort: a vector along axis -1/0/None, anything flattened
    with axis=None; refused along an axis of a higher rank."""
    from coarsen.ops.shape import ravel

    x = lw.as_value(binding, node)
    if x.type.rank == 0:
        if axis is not None or name == "sort" or name == "argsort":
            lw.type_error(f"{name}(): axis {axis} is out of bounds for a 0-d value", node)
        return ravel(lw, x, node)
    if axis is None:
        return ravel(lw, x, node) if x.type.rank > 1 else x
    ax = L.axis_of(lw, axis, x.type.rank, node, name)
    if x.type.rank > 1:
        lw.unsupported(f"{name}() along an axis of an array of rank {x.type.rank} is not supported", node,
                       f"{name} a vector (each row in a loop), or the flattened array (axis=None)")
    del ax
    return x


def _kind(lw, kind, order, stable, node, name: str) -> str:
    if L.static(lw, order, node, "order") is not None:
        lw.unsupported(f"{name}(order=...) (structured arrays) is not supported", node)
    kind = L.static(lw, kind, node, "kind")
    if kind not in _KINDS:
        lw.type_error(f"{name}(): kind must be one of 'quicksort', 'mergesort', 'heapsort', 'stable', "
                      f"got {kind!r}", node)
    stable = L.static(lw, stable, node, "stable")
    if stable is not None:
        if kind is not None:
            lw.type_error(f"{name}(): `kind` and `stable` cannot both be given", node)
        return "mergesort" if stable else "quicksort"
    return _KINDS[kind]


def argsort_vector(lw, x, node, kind: str = "quicksort"):
    return lw.emit(O.ARGSORT, (x,), node, {"kind": kind})


def gather(lw, x, idx, node):
    """x[idx] for a vector x and an int64 index vector or scalar."""
    if idx.type.rank == 0:
        return L.index_along(lw, x, 0, idx, node)
    return lw.emit(O.TAKE, (x, idx), node, {"axes": (0,), "name": x.hint or "array"})


def _argsort(lw, args, kwargs, node):
    a, axis, kind, order, stable = L.positional(
        lw, args, kwargs, node, ["a", "axis", "kind", "order", "stable"], "argsort", 1, {"axis": -1})
    x = _vector(lw, a, L.static(lw, axis, node, "axis"), node, "argsort")
    return argsort_vector(lw, x, node, _kind(lw, kind, order, stable, node, "argsort"))


def _sort(lw, args, kwargs, node):
    a, axis, kind, order, stable = L.positional(
        lw, args, kwargs, node, ["a", "axis", "kind", "order", "stable"], "sort", 1, {"axis": -1})
    x = _vector(lw, a, L.static(lw, axis, node, "axis"), node, "sort")
    kind = _kind(lw, kind, order, stable, node, "sort")
    if kind != "mergesort":   # NumPy's stable sort keeps the zeros' order, as the gather does
        refuse_mixed_zeros(lw, x, node, "np.sort")
    return sorted_vector(lw, x, node, kind)


def refuse_mixed_zeros(lw, x, node, what: str) -> None:
    """UnsupportedError when the program runs, at the user's line, where the float vector x
    holds both -0.0 and 0.0. A sorted vector here is the gather x[argsort(x)], a permutation of
    x; NumPy's unstable value sorts (x86-simd-sort, heapsort) and np.partition place the two
    zeros otherwise, in an order that depends on the length and the CPU, so the signs of the
    sorted zeros (1 / np.sort(x): -inf or inf) would differ from NumPy's."""
    if x.type.dtype != "f64":
        return
    from coarsen.errors import UnsupportedAtRunTime
    from coarsen.ops.reductions import _any_all

    zero = lw.emit(O.EQ, (x, lw.b.const(0.0)), node)
    negative = lw.emit(O.LT, (lw.emit(O.ARCTAN2, (x, lw.b.const(-1.0)), node), lw.b.const(0.0)), node)
    any_ = _any_all("any")
    minus = any_(lw, [lw.emit(O.AND, (zero, negative), node)], {}, node)
    plus = any_(lw, [lw.emit(O.AND, (zero, lw.emit(O.NOT, (negative,), node)), node)], {}, node)
    loc = lw.src.loc(node)
    message = (f"{what} of an array holding both -0.0 and 0.0: NumPy orders the two zeros by its "
               "sorting implementation (the length, the CPU), which coarsen does not reproduce, so the "
               "signs of the sorted zeros could differ from NumPy's")
    hint = "add 0.0 first (x + 0.0 turns -0.0 into 0.0)" + (", or sort with kind='stable'" if what == "np.sort" else "")
    lw.emit(O.CHECK, (lw.emit(O.AND, (minus, plus), node),), node,
            {"exc": UnsupportedAtRunTime, "args": (message, loc.filename, loc.lineno, loc.col, hint)})
    lw.ctx.runtime_raises.append(UnsupportedAtRunTime)


def sorted_vector(lw, x, node, kind: str = "quicksort"):
    return gather(lw, x, argsort_vector(lw, x, node, kind), node)


def _int(lw, v, node):
    return lw.convert(v, "i64", node)


def _float(lw, v, node):
    return lw.convert(v, "f64", node) if v.type.dtype != "f64" else v


def _nan_if_last_is_nan(lw, s, n, value, node):
    """NumPy's `_median_nancheck` / `slices_having_nans`: NaN sorts last, and the statistic of
    a vector holding one is NaN."""
    last = gather(lw, s, lw.emit(O.SUB, (n, lw.b.const(1)), node), node)
    return lw.emit(O.WHERE, (lw.emit(O.NE, (last, last), node), last, value), node)   # isnan


def _statistic_shape(lw, value, x, axis, keepdims, node):
    from coarsen.ops.shape import reshape

    if L.static(lw, keepdims, node, "keepdims"):
        vector = lw.emit(O.STACK, (value,), node)
        return reshape(lw, vector, [lw.b.const(1)] * x.type.rank, node) if x.type.rank > 1 else vector
    return value


def _median(lw, args, kwargs, node):
    a, axis, out, overwrite, keepdims = L.positional(
        lw, args, kwargs, node, ["a", "axis", "out", "overwrite_input", "keepdims"], "median", 1)
    if L.static(lw, out, node, "out") is not None:
        lw.unsupported("median(out=...) is not supported", node, "assign the result")
    original = lw.as_value(a, node)
    x = _float(lw, _vector(lw, original, L.static(lw, axis, node, "axis"), node, "median"), node)
    from coarsen.ops.shape import concat

    sorted_ = sorted_vector(lw, x, node)
    n = lw.emit(O.SHAPE, (sorted_,), node, {"dim": 0})
    # a NaN after the sorted values: the middle and last indices below stay in bounds for an
    # empty vector (-1 and 0), whose median is that NaN, as NumPy's ("Mean of empty slice")
    s = concat(lw, [sorted_, lw.emit(O.STACK, (lw.b.const(float("nan")),), node)], 0, node)
    one, two = lw.b.const(1), lw.b.const(2)
    lo = gather(lw, s, lw.emit(O.FLOORDIV, (lw.emit(O.SUB, (n, one), node), two), node), node)
    hi = gather(lw, s, lw.emit(O.FLOORDIV, (n, two), node), node)
    # np.mean of the middle one or two: NumPy's sum starts at +0.0 (so -0.0 comes out 0.0),
    # then divides by the count ((lo + hi) / 2.0 may overflow, as NumPy's does)
    first = lw.emit(O.ADD, (lw.b.const(0.0), lo), node)
    pair = lw.emit(O.DIV, (lw.emit(O.ADD, (first, hi), node), lw.b.const(2.0)), node)
    odd = lw.emit(O.EQ, (lw.emit(O.MOD, (n, two), node), one), node)
    value = _nan_if_last_is_nan(lw, s, n, lw.emit(O.WHERE, (odd, first, pair), node), node)
    return _statistic_shape(lw, value, original, axis, keepdims, node)


def _quantile_of(lw, s, n, q, node):
    """NumPy's method="linear" at one q in [0, 1] of the sorted vector s of length n."""
    nm1 = lw.emit(O.SUB, (n, lw.b.const(1)), node)
    v = lw.emit(O.MUL, (_float(lw, nm1, node), q), node)             # (n - 1) * quantiles
    floor = lw.emit(O.FLOOR, (v,), node)
    above = lw.emit(O.GE, (v, _float(lw, nm1, node)), node)
    minus_one = lw.b.const(-1.0)
    prev = _int(lw, lw.emit(O.WHERE, (above, minus_one, floor), node), node)
    nxt = _int(lw, lw.emit(O.WHERE, (above, minus_one, lw.emit(O.ADD, (floor, lw.b.const(1.0)), node)), node), node)
    gamma = lw.emit(O.SUB, (v, _float(lw, prev, node)), node)
    a, b = gather(lw, s, prev, node), gather(lw, s, nxt, node)
    diff = lw.emit(O.SUB, (b, a), node)
    low = lw.emit(O.ADD, (a, lw.emit(O.MUL, (diff, gamma), node)), node)
    high = lw.emit(O.SUB, (b, lw.emit(O.MUL, (diff, lw.emit(O.SUB, (lw.b.const(1.0), gamma), node)), node)), node)
    value = lw.emit(O.WHERE, (lw.emit(O.GE, (gamma, lw.b.const(0.5)), node), high, low), node)
    return _nan_if_last_is_nan(lw, s, n, value, node)


def _quantiles(scale: float, name: str):
    def lower(lw, args, kwargs, node):
        from coarsen.frontend.exceptions import runtime_check
        from coarsen.ops.shape import concat

        a, q, axis, out, overwrite, method, keepdims, weights, interpolation = L.positional(
            lw, args, kwargs, node, ["a", "q", "axis", "out", "overwrite_input", "method", "keepdims",
                                     "weights", "interpolation"], name, 2)
        for what, v in (("out", out), ("weights", weights), ("interpolation", interpolation)):
            if L.static(lw, v, node, what) is not None:
                lw.unsupported(f"{name}({what}=...) is not supported", node)
        if L.static(lw, method, node, "method") not in (None, "linear"):
            lw.unsupported(f"{name}(method={L.static(lw, method, node, 'method')!r}) is not supported",
                           node, "the default method='linear' is")
        original = lw.as_value(a, node)
        x = _float(lw, _vector(lw, original, L.static(lw, axis, node, "axis"), node, name), node)
        refuse_mixed_zeros(lw, x, node, f"np.{name}")   # NumPy's np.partition places the zeros
        s = sorted_vector(lw, x, node)
        n = lw.emit(O.SHAPE, (s,), node, {"dim": 0})
        many = isinstance(q, (tuple, list))
        values = []
        for item in (q if many else [q]):
            qv = _float(lw, lw.as_value(item, node), node)
            if qv.type.rank:
                lw.unsupported(f"{name}() with an array of q is not supported", node,
                               "pass a scalar q, or a list or tuple of them")
            if scale != 1.0:
                qv = lw.emit(O.DIV, (qv, lw.b.const(scale)), node)   # np.true_divide(q, 100)
            bad = lw.emit(O.OR, (lw.emit(O.NOT, (lw.emit(O.GE, (qv, lw.b.const(0.0)), node),), node),
                                 lw.emit(O.GT, (qv, lw.b.const(1.0)), node)), node)
            what = "Percentiles must be in the range [0, 100]" if scale != 1.0 else \
                "Quantiles must be in the range [0, 1]"
            runtime_check(lw, bad, ValueError, what, node)
            value = _quantile_of(lw, s, n, qv, node)
            values.append(_statistic_shape(lw, value, original, axis, keepdims, node))
        if not many:
            return values[0]
        if any(v.type.rank for v in values):   # keepdims: one (1, ..., 1) array per q
            return concat(lw, [L.newaxis(lw, v, 0, node) for v in values], 0, node)
        return lw.emit(O.STACK, tuple(values), node)
    return lower


def _searchsorted(lw, args, kwargs, node):
    a, v, side, sorter = L.positional(lw, args, kwargs, node, ["a", "v", "side", "sorter"], "searchsorted", 2)
    if L.static(lw, sorter, node, "sorter") is not None:
        lw.unsupported("searchsorted(sorter=...) is not supported", node, "np.searchsorted(a[sorter], v)")
    side = L.static(lw, side, node, "side") or "left"
    if side not in ("left", "right"):
        lw.type_error(f"searchsorted(): side must be 'left' or 'right', got {side!r}", node)
    a, v = lw.as_value(a, node), lw.as_value(v, node)
    if a.type.rank != 1:
        lw.unsupported(f"searchsorted() into an array of rank {a.type.rank} is not supported", node,
                       "search a vector (NumPy requires one too)")
    dtype = "f64" if "f64" in (a.type.dtype, v.type.dtype) else "i64"   # NumPy's common type
    a, v = (lw.cast_to(t, t.type.with_dtype(dtype)) for t in (a, v))
    return lw.emit(O.SEARCHSORTED, (a, v), node, {"side": side})


def _count_nonzero(lw, args, kwargs, node):
    a, axis, keepdims = L.positional(lw, args, kwargs, node, ["a", "axis", "keepdims"], "count_nonzero", 1)
    x = lw.as_value(a, node)
    nonzero = x if x.type.dtype == "bool" else lw.emit(O.NE, (x, lw.b.const(0)), node)
    keep = bool(L.static(lw, keepdims, node, "keepdims"))
    axis = L.axis_of(lw, axis, max(x.type.rank, 1), node, "count_nonzero") if x.type.rank else None
    counted = lw.emit(O.SUM, (nonzero,), node, {"axis": axis, "keepdims": keep})
    return lw.cast_to(counted, counted.type.with_dtype("i64"))


def _interp(lw, args, kwargs, node):
    """np.interp as NumPy's C loop (`arr_interp`) computes it, each of its cases a `where`:
    NaN x gives x; x < xp[0] left (fp[0]), x > xp[-1] right (fp[-1]); x == xp[-1] fp[-1];
    x == xp[j] fp[j]; else slope*(x - xp[j]) + fp[j], and where that is NaN the same from
    xp[j+1], then fp[j] if fp[j] == fp[j+1]; one sample point: (x < xp0) ? left : (x > xp0) ?
    right : fp0 (NaN x included). j is the search's (`searchsorted(xp, x, "right") - 1`, what
    NumPy's binary search finds for increasing xp; with NaN in xp NumPy's result depends on
    where it found the previous x, which this does not reproduce). Differentiable in x, xp
    and fp."""
    from coarsen.frontend.exceptions import runtime_check
    from coarsen.ops.reductions import absent

    x, xp, fp, left, right, period = L.positional(
        lw, args, kwargs, node, ["x", "xp", "fp", "left", "right", "period"], "interp", 3)
    if L.static(lw, period, node, "period") is not None:
        lw.unsupported("interp(period=...) is not supported", node)
    x, xp, fp = (_float(lw, lw.as_value(v, node), node) for v in (x, xp, fp))
    if xp.type.rank != 1 or fp.type.rank != 1:
        lw.type_error("interp(): xp and fp must be vectors", node)
    n = lw.emit(O.SHAPE, (xp,), node, {"dim": 0})
    zero, one = lw.b.const(0), lw.b.const(1)
    runtime_check(lw, lw.emit(O.EQ, (n, zero), node), ValueError, "array of sample points is empty", node)
    runtime_check(lw, lw.emit(O.NE, (lw.emit(O.SHAPE, (fp,), node, {"dim": 0}), n), node), ValueError,
                  "fp and xp are not of the same length.", node)

    def where(c, a, b):
        return lw.emit(O.WHERE, (c, a, b), node)

    def at(v, i):
        return gather(lw, v, i, node)

    last = lw.emit(O.SUB, (n, one), node)
    lval = at(fp, zero) if absent(left) else _float(lw, lw.as_value(left, node), node)
    rval = at(fp, last) if absent(right) else _float(lw, lw.as_value(right, node), node)
    above = lw.emit(O.GT, (x, at(xp, last)), node)
    j = lw.emit(O.SUB, (lw.emit(O.SEARCHSORTED, (xp, x), node, {"side": "right"}), one), node)
    lo = lw.emit(O.MAXIMUM, (lw.emit(O.MINIMUM, (j, lw.emit(O.MAXIMUM, (lw.emit(O.SUB, (n, lw.b.const(2)), node), zero), node)), node), zero), node)
    hi = lw.emit(O.MINIMUM, (lw.emit(O.ADD, (lo, one), node), last), node)
    x0, x1, y0, y1 = at(xp, lo), at(xp, hi), at(fp, lo), at(fp, hi)
    slope = lw.emit(O.DIV, (lw.emit(O.SUB, (y1, y0), node), lw.emit(O.SUB, (x1, x0), node)), node)
    from_lo = lw.emit(O.ADD, (lw.emit(O.MUL, (slope, lw.emit(O.SUB, (x, x0), node)), node), y0), node)
    from_hi = lw.emit(O.ADD, (lw.emit(O.MUL, (slope, lw.emit(O.SUB, (x, x1), node)), node), y1), node)
    nan_lo, nan_hi = (lw.emit(O.NE, (v, v), node) for v in (from_lo, from_hi))
    value = where(nan_lo, where(lw.emit(O.AND, (nan_hi, lw.emit(O.EQ, (y0, y1), node)), node), y0, from_hi),
                  from_lo)
    value = where(lw.emit(O.EQ, (x0, x), node), y0, value)
    value = where(lw.emit(O.EQ, (j, last), node), at(fp, last), value)
    value = where(above, rval, value)
    value = where(lw.emit(O.EQ, (j, lw.b.const(-1)), node), lval, value)
    value = where(lw.emit(O.NE, (x, x), node), x, value)
    x_one, f_one = at(xp, zero), at(fp, zero)
    single = where(lw.emit(O.LT, (x, x_one), node), lval, where(lw.emit(O.GT, (x, x_one), node), rval, f_one))
    return where(lw.emit(O.EQ, (n, one), node), single, value)


COMPOSITES = [
    Composite("interp", ("numpy.interp",), _interp,
              examples=(("np.interp(x, np.arange(4.0) - 1.5, np.arange(4.0) ** 2)", ((-3.0, 3.0),), [(5,)]),
                        ("np.interp(0.25, np.sort(x), x, left=0.0, right=1.0)", ((-3.0, 3.0),), [(4,)]))),
    Composite("searchsorted", ("numpy.searchsorted",), _searchsorted, methods=("searchsorted",),
              examples=(("x * np.searchsorted(np.sort(x), 0.5)", ((-3.0, 3.0),), [(5,)]),
                        ("x * np.searchsorted(np.arange(4.0), x, side='right')", ((-3.0, 3.0),), [(4,)]))),
    Composite("count_nonzero", ("numpy.count_nonzero",), _count_nonzero,
              examples=(("x * np.count_nonzero(x > 0.5)", ((-3.0, 3.0),), [(5,)]),
                        ("x * np.count_nonzero(x > 0.0, axis=0, keepdims=True)", ((-3.0, 3.0),), [(2, 3)]))),
    Composite("argsort", ("numpy.argsort",), _argsort, methods=("argsort",),
              examples=(("x[np.argsort(x)] * 2.0", ((-3.0, 3.0),), [(5,)]),
                        ("x * np.argsort(x, kind='stable')", ((-3.0, 3.0),), [(4,)]))),
    Composite("sort", ("numpy.sort",), _sort,
              examples=(("np.sort(x) * np.arange(5.0)", ((-3.0, 3.0),), [(5,)]),
                        ("np.sort(x, axis=None)", ((-3.0, 3.0),), [(2, 3)]))),
    Composite("median", ("numpy.median",), _median,
              examples=(("np.median(x) * x", ((-3.0, 3.0),), [(5,), (4,)]),
                        ("np.median(x, keepdims=True)", ((-3.0, 3.0),), [(2, 3)]))),
    Composite("percentile", ("numpy.percentile",), _quantiles(100.0, "percentile"),
              examples=(("np.percentile(x, 30.0)", ((-3.0, 3.0),), [(5,), (1,)]),
                        ("np.percentile(x, [25.0, 75.0])", ((-3.0, 3.0),), [(6,)]))),
    Composite("quantile", ("numpy.quantile",), _quantiles(1.0, "quantile"),
              examples=(("np.quantile(x, 0.9) + np.quantile(x, 0.5)", ((-3.0, 3.0),), [(7,)]),)),
]
