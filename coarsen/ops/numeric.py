"""NumPy's miscellaneous numerics: np.nan_to_num, np.isclose/np.allclose, np.gradient,
np.convolve/np.correlate, np.meshgrid and np.polyval, each built of other registry ops (no new
primitive), with NumPy's formulas so that values agree with NumPy's.

- `nan_to_num` and `isclose` are `where`s and comparisons: the derivative of nan_to_num is 1
  where x is finite and 0 where it was replaced (torch.nan_to_num's);
- `gradient` (uniform spacing: a scalar per axis; `edge_order` 1 or 2) is NumPy's central
  differences inside and one-sided ones at the ends, joined along the axis; the ValueError of
  an axis shorter than `edge_order + 1` is raised where the call runs;
- `convolve` and `correlate` (vectors; modes full/same/valid) sum the products of the
  overlapping elements only (as NumPy, so an inf outside the overlap never makes a NaN) over
  a (length, shorter length) grid of gathers. Which operand is shorter is known only when the
  program runs; the grid's indices choose it, so one program serves both cases. The inner
  sums' order differs from NumPy's dot loop: results agree to rounding, not to the bit;
- `meshgrid` (indexing "xy" or "ij", sparse or not) broadcasts each ravelled vector along its
  axis;
- `polyval(p, x)` is Horner's rule, NumPy's loop, over coefficients whose number is known when
  tracing (a list, a tuple, or an array of known length); otherwise it is refused.
"""
from __future__ import annotations

import numpy as np

from coarsen.ops import lowering as L
from coarsen.ops.spec import O, Composite


def _float(lw, binding, node, name: str, min_rank: int = 0):
    return L.array(lw, binding, node, name, min_rank=min_rank)


def _where(lw, c, a, b, node):
    return lw.emit(O.WHERE, (c, a, b), node)


def _is_nan(lw, x, node):
    return lw.emit(O.NE, (x, x), node)


def _nan_to_num(lw, args, kwargs, node):
    """np.nan_to_num(x, copy, nan, posinf, neginf): NaN -> nan (0.0), inf -> posinf (the
    largest float64), -inf -> neginf (the most negative); integers and bools unchanged."""
    x, copy, nan, posinf, neginf = L.positional(
        lw, args, kwargs, node, ["x", "copy", "nan", "posinf", "neginf"], "nan_to_num", 1)
    if L.static(lw, copy, node, "copy") is False:
        lw.unsupported("nan_to_num(copy=False) is not supported", node,
                       "write x = np.nan_to_num(x): arrays are values here")
    x = lw.as_value(x, node)
    if x.type.dtype != "f64":
        return lw.emit(O.COPY, (x,), node)
    big = float(np.finfo(np.float64).max)

    def value(binding, default):
        if binding is None or L.static(lw, binding, node, "nan_to_num's replacement") is None:
            return lw.b.const(default)
        return _float(lw, binding, node, "nan_to_num")

    inf = lw.b.const(float("inf"))
    out = _where(lw, lw.emit(O.EQ, (x, inf), node), value(posinf, big), x, node)
    out = _where(lw, lw.emit(O.EQ, (x, lw.emit(O.NEG, (inf,), node)), node), value(neginf, -big), out, node)
    return _where(lw, _is_nan(lw, x, node), value(nan, 0.0), out, node)


def _static_or(lw, binding, node, what: str, default):
    if binding is None:
        return default
    value = L.static(lw, binding, node, what)
    return default if value is None else value


def isclose(lw, a, b, rtol, atol, equal_nan: bool, node):
    """NumPy's formula: |a - b| <= atol + rtol * |b| where b is finite, or a == b (equal
    infinities); NaNs equal each other only with equal_nan."""
    x, y = _float(lw, a, node, "isclose"), _float(lw, b, node, "isclose")
    rtol, atol = (v if not isinstance(v, (int, float)) else lw.b.const(float(v)) for v in (rtol, atol))
    tol = lw.emit(O.ADD, (atol, lw.emit(O.MUL, (rtol, lw.emit(O.ABS, (y,), node)), node)), node)
    near = lw.emit(O.LE, (lw.emit(O.ABS, (lw.emit(O.SUB, (x, y), node),), node), tol), node)
    finite = lw.emit(O.LT, (lw.emit(O.ABS, (y,), node), lw.b.const(float("inf"))), node)
    out = lw.emit(O.OR, (lw.emit(O.AND, (near, finite), node), lw.emit(O.EQ, (x, y), node)), node)
    if equal_nan:
        both = lw.emit(O.AND, (_is_nan(lw, x, node), _is_nan(lw, y, node)), node)
        out = lw.emit(O.OR, (out, both), node)
    return out


def _tolerances(lw, args, kwargs, node, name: str):
    a, b, rtol, atol, equal_nan = L.positional(
        lw, args, kwargs, node, ["a", "b", "rtol", "atol", "equal_nan"], name, 2)
    rtol, atol = (lw.b.const(d) if v is None else _float(lw, v, node, name) for v, d in ((rtol, 1e-05), (atol, 1e-08)))
    return a, b, rtol, atol, bool(_static_or(lw, equal_nan, node, "equal_nan", False))


def _isclose(lw, args, kwargs, node):
    a, b, rtol, atol, equal_nan = _tolerances(lw, args, kwargs, node, "isclose")
    return isclose(lw, a, b, rtol, atol, equal_nan, node)


def _allclose(lw, args, kwargs, node):
    from coarsen.ops.reductions import reduce

    a, b, rtol, atol, equal_nan = _tolerances(lw, args, kwargs, node, "allclose")
    close = isclose(lw, a, b, rtol, atol, equal_nan, node)
    if not close.type.rank:
        return lw.python_scalar(close)   # np.allclose gives a Python bool
    # no elements far apart (a count, not a min: NumPy's allclose of empty arrays is True)
    far = lw.emit(O.NOT, (close,), node)
    count = reduce(lw, "SUM", lw.cast_to(far, far.type.with_dtype("f64")), None, False, node)
    return lw.python_scalar(lw.emit(O.EQ, (count, lw.b.const(0.0)), node))


def _gradient(lw, args, kwargs, node):
    """np.gradient(f, *spacing, axis=None, edge_order=1) with uniform spacing: one array (a
    vector, or one axis asked for) or a tuple of them, one per axis, as NumPy returns."""
    from coarsen.frontend.exceptions import runtime_check
    from coarsen.ops.shape import concat

    extra = set(kwargs) - {"axis", "edge_order"}
    if extra or not args:
        lw.unsupported(f"gradient() keyword argument(s) {', '.join(sorted(extra))} not supported"
                       if extra else "gradient() needs an array", node)
    f = _float(lw, args[0], node, "gradient", min_rank=1)
    rank = f.type.rank
    axis = L.static(lw, kwargs.get("axis"), node, "axis")
    axes = list(range(rank)) if axis is None else [axis] if isinstance(axis, int) else list(axis)
    if any(not isinstance(a, int) or not -rank <= a < rank for a in axes):
        lw.type_error(f"gradient(): axis {axis!r} is out of bounds for an array of rank {rank}", node)
    axes = [a % rank for a in axes]
    edge = _static_or(lw, kwargs.get("edge_order"), node, "edge_order", 1)
    if edge not in (1, 2):
        lw.type_error("gradient(): 'edge_order' must be 1 or 2", node)
    spacing = [lw.as_value(s, node) for s in args[1:]]
    if any(s.type.rank for s in spacing):
        lw.unsupported("gradient() with coordinate arrays is not supported", node,
                       "pass the uniform spacing as a number (np.gradient(f, h))")
    if len(spacing) == 1:
        spacing = spacing * len(axes)
    elif not spacing:
        spacing = [lw.b.const(1.0)] * len(axes)
    elif len(spacing) != len(axes):
        lw.type_error("gradient(): invalid number of arguments", node)
    outs = []
    for ax, h in zip(axes, spacing):
        h = lw.cast_to(h, h.type.with_dtype("f64")) if h.type.dtype != "f64" else h
        n = lw.emit(O.SHAPE, (f,), node, {"dim": ax})
        runtime_check(lw, lw.emit(O.LT, (n, lw.b.const(edge + 1)), node), ValueError,
                      f"{lw.src.loc(node)}: Shape of array too small to calculate a numerical "
                      "gradient, at least (edge_order + 1) elements are required.", node)

        def part(lo, hi, ax=ax):
            return L.take_along(lw, f, ax, None if lo is None else lw.b.const(lo),
                                None if hi is None else lw.b.const(hi), node)

        def scaled(c, ax=ax, h=h):   # a coefficient over the spacing, as NumPy's `-1.5 / dx`
            return lw.emit(O.DIV, (lw.b.const(c), h), node)

        def mul(a, b):
            return lw.emit(O.MUL, (a, b), node)

        def add(a, b):
            return lw.emit(O.ADD, (a, b), node)

        inner = lw.emit(O.DIV, (lw.emit(O.SUB, (part(2, None), part(None, -2)), node),
                                mul(lw.b.const(2.0), h)), node)
        if edge == 1:
            first = lw.emit(O.DIV, (lw.emit(O.SUB, (part(1, 2), part(0, 1)), node), h), node)
            last = lw.emit(O.DIV, (lw.emit(O.SUB, (part(-1, None), part(-2, -1)), node), h), node)
        else:
            first = add(add(mul(scaled(-1.5), part(0, 1)), mul(scaled(2.0), part(1, 2))),
                        mul(scaled(-0.5), part(2, 3)))
            last = add(add(mul(scaled(0.5), part(-3, -2)), mul(scaled(-2.0), part(-2, -1))),
                       mul(scaled(1.5), part(-1, None)))
        outs.append(concat(lw, [first, inner, last], ax, node))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _vector(lw, binding, node, name: str):
    from coarsen.ops.shape import ravel

    x = _float(lw, binding, node, name)
    if x.type.rank > 1:
        lw.type_error(f"{name}(): object too deep for desired array", node)
    return x if x.type.rank == 1 else ravel(lw, x, node)


def full_convolution(lw, a, v, node, name: str):
    """sum_i a[i] v[k - i] for k < len(a) + len(v) - 1, over the overlapping terms only: a
    (length, min(len(a), len(v))) grid of products whose indices walk the shorter operand."""
    from coarsen.frontend.exceptions import runtime_check
    from coarsen.ops.reductions import reduce

    e = L.emitter(lw, node)
    n, m = (lw.emit(O.SHAPE, (x,), node, {"dim": 0}) for x in (a, v))
    for which, length in (("a", n), ("v", m)):
        runtime_check(lw, e("EQ", length, lw.b.const(0)), ValueError,
                      f"{lw.src.loc(node)}: {name}: {which} cannot be empty", node)
    one = lw.b.const(1)
    short = e("MINIMUM", n, m)
    total = e("SUB", e("ADD", n, m), one)
    k = L.newaxis(lw, lw.emit(O.IOTA, (total,), node), 1, node)          # (total, 1)
    j = L.newaxis(lw, lw.emit(O.IOTA, (short,), node), 0, node)          # (1, short)
    a_short = e("LE", n, m)                                               # walk a's indices
    ia = _where(lw, a_short, e("ADD", e("MUL", k, lw.b.const(0)), j), e("SUB", k, j), node)
    iv = _where(lw, a_short, e("SUB", k, j), e("ADD", e("MUL", k, lw.b.const(0)), j), node)
    inside = e("AND", e("AND", e("GE", ia, lw.b.const(0)), e("LT", ia, n)),
               e("AND", e("GE", iv, lw.b.const(0)), e("LT", iv, m)))
    zero = lw.b.const(0)

    def clamp(i, length):
        return e("MINIMUM", e("MAXIMUM", i, zero), e("SUB", length, one))

    ia, iv = (lw.cast_to(x, x.type.with_dtype("i64")) for x in (clamp(ia, n), clamp(iv, m)))
    products = e("MUL", lw.gather(a, ("a",), [ia], node), lw.gather(v, ("a",), [iv], node))
    terms = _where(lw, inside, products, lw.b.const(0.0), node)
    return reduce(lw, "SUM", terms, 1, False, node), n, m


def _mode(lw, binding, node, default: str, name: str) -> str:
    mode = _static_or(lw, binding, node, "mode", default)
    if mode not in ("full", "same", "valid"):
        lw.type_error(f"{name}(): mode must be one of 'valid', 'same', or 'full' (got {mode!r})", node)
    return mode


def _window(lw, full, n, m, start, mode: str, node):
    """full[start : start + length] for the mode's length (full: all; same: max(n, m);
    valid: |n - m| + 1)."""
    if mode == "full":
        return full
    e = L.emitter(lw, node)
    if mode == "same":
        length = e("MAXIMUM", n, m)
    else:
        length = e("ADD", e("SUB", e("MAXIMUM", n, m), e("MINIMUM", n, m)), lw.b.const(1))
    return L.take_along(lw, full, 0, start, e("ADD", start, length), node)


def _convolve(lw, args, kwargs, node):
    """np.convolve(a, v, mode='full'): NumPy swaps the operands so that v is the shorter and
    correlates a with v reversed; the result is a window of the full convolution starting at
    (s - 1) - s // 2 (same) or s - 1 (valid), s the shorter length."""
    a, v, mode = L.positional(lw, args, kwargs, node, ["a", "v", "mode"], "convolve", 2)
    mode = _mode(lw, mode, node, "full", "convolve")
    a, v = _vector(lw, a, node, "convolve"), _vector(lw, v, node, "convolve")
    full, n, m = full_convolution(lw, a, v, node, "convolve")
    s = lw.emit(O.MINIMUM, (n, m), node)
    start = lw.emit(O.SUB, (s, lw.b.const(1)), node)
    if mode == "same":
        start = lw.emit(O.SUB, (start, lw.emit(O.FLOORDIV, (s, lw.b.const(2)), node)), node)
    return _window(lw, full, n, m, start, mode, node)


def _correlate(lw, args, kwargs, node):
    """np.correlate(a, v, mode='valid') (real operands): c[k] = sum_j a[j + k - s] v[j], the
    full convolution of a with v reversed, windowed where NumPy's loop starts: same at
    m - 1 - m // 2 when len(a) >= m = len(v), else at len(a) // 2 (NumPy correlates the
    swapped operands and reverses); valid at min(len(a), m) - 1."""
    a, v, mode = L.positional(lw, args, kwargs, node, ["a", "v", "mode"], "correlate", 2)
    mode = _mode(lw, mode, node, "valid", "correlate")
    a, v = _vector(lw, a, node, "correlate"), _vector(lw, v, node, "correlate")
    reversed_v = L.take_along(lw, v, 0, None, None, node, step=lw.b.const(-1))
    full, n, m = full_convolution(lw, a, reversed_v, node, "correlate")
    e = L.emitter(lw, node)
    one, two = lw.b.const(1), lw.b.const(2)
    if mode == "same":
        start = _where(lw, e("GE", n, m), e("SUB", e("SUB", m, one), e("FLOORDIV", m, two)),
                       e("FLOORDIV", n, two), node)
    else:
        start = e("SUB", e("MINIMUM", n, m), one)
    return _window(lw, full, n, m, start, mode, node)


def _meshgrid(lw, args, kwargs, node):
    """np.meshgrid(*xi, indexing='xy', sparse=False): each input ravelled and laid along its
    axis (the first two swapped for "xy"), broadcast to the full grid unless sparse."""
    from coarsen.ops.shape import broadcast, ravel, reshape

    extra = set(kwargs) - {"indexing", "sparse", "copy"}
    if extra:
        lw.unsupported(f"meshgrid() keyword argument(s) {', '.join(sorted(extra))} not supported", node)
    indexing = _static_or(lw, kwargs.get("indexing"), node, "indexing", "xy")
    if indexing not in ("xy", "ij"):
        lw.type_error("Valid values for `indexing` are 'xy' and 'ij'.", node)
    sparse = bool(_static_or(lw, kwargs.get("sparse"), node, "sparse", False))
    xs = []
    for b in args:
        x = lw.as_value(b, node)
        xs.append(ravel(lw, x, node) if x.type.rank != 1 else x)
    if not xs:
        return ()
    ndim = len(xs)
    place = list(range(ndim))
    if indexing == "xy" and ndim > 1:
        place[0], place[1] = 1, 0
    lengths = [lw.emit(O.SHAPE, (x,), node, {"dim": 0}) for x in xs]
    grid = [None] * ndim
    for i, axis in enumerate(place):
        grid[axis] = lengths[i]
    one = lw.b.const(1)
    out = []
    for i, x in enumerate(xs):
        dims = [lengths[i] if axis == place[i] else one for axis in range(ndim)]
        laid = reshape(lw, x, dims, node)
        out.append(laid if sparse else broadcast(lw, laid, grid, node))
    return tuple(out)


def _polyval(lw, args, kwargs, node):
    """np.polyval(p, x): Horner's rule, y = y * x + p[i] from y = 0, NumPy's loop, unrolled
    over the coefficients (their number must be known when tracing)."""
    p, x = L.positional(lw, args, kwargs, node, ["p", "x"], "polyval", 2)
    x = lw.as_value(x, node)
    if isinstance(p, tuple):
        coefficients = [lw.as_value(c, node) for c in p]
    else:
        p = lw.as_value(p, node)
        if p.type.rank != 1:
            lw.type_error("polyval(): p must be a vector of coefficients", node)
        (count,) = L.static_dims(lw, p)
        if count is None:   # an argument's length: a trace with the shapes known unrolls it
            lw.b.shape_queried = True
            lw.unsupported("polyval() of a coefficient array whose length is known only when the "
                           "program runs is not supported", node,
                           "pass the coefficients as a list, or write Horner's loop: "
                           "y = np.zeros_like(x); for c in p: y = y * x + c")
        coefficients = [L.index_along(lw, p, 0, lw.b.const(i), node) for i in range(count)]
    y = lw.emit(O.MUL, (x, lw.b.const(0)), node)   # NumPy's zeros_like(x), in x's dtype
    for c in coefficients:
        y = lw.emit(O.ADD, (lw.emit(O.MUL, (y, x), node), c), node)
    return y


COMPOSITES = [
    Composite("nan_to_num", ("numpy.nan_to_num",), _nan_to_num,
              examples=(("np.nan_to_num(np.where(x > 1.0, np.inf, np.where(x < -1.0, np.nan, x)), posinf=4.0) * x", ((-3.0, 3.0),)),
                        ("np.nan_to_num(np.log(x), nan=1.0, neginf=-5.0) * x", ((-1.0, 3.0),)))),
    Composite("isclose", ("numpy.isclose",), _isclose, ints="float",
              examples=(("np.where(np.isclose(x, np.round(x), atol=0.3), x, 2.0 * x)", ((-3.0, 3.0),)),
                        ("x * np.isclose(x, 1.0 / x, rtol=0.1, equal_nan=True)", ((-3.0, 3.0),)))),
    Composite("allclose", ("numpy.allclose",), _allclose, ints="float",
              examples=(("x * np.allclose(x, x + 1e-9)", ((-3.0, 3.0),)),
                        ("x * np.allclose(x, 2.0 * x)", ((-3.0, 3.0),)))),
    Composite("gradient", ("numpy.gradient",), _gradient, ints="float",
              examples=(("np.gradient(x ** 3, 0.5)", ((-3.0, 3.0),), [(5,), (2,)]),
                        ("np.gradient(x ** 2, edge_order=2)[1]", ((-3.0, 3.0),), [(3, 4)]))),
    Composite("convolve", ("numpy.convolve",), _convolve,
              examples=(("np.convolve(x, x[:3] ** 2)", ((-3.0, 3.0),), [(5,), (1,)]),
                        ("np.convolve(x[:2], x ** 2, mode='same') + np.convolve(x, x[1:], 'valid').sum()", ((-3.0, 3.0),), [(5,)]))),
    Composite("correlate", ("numpy.correlate",), _correlate,
              examples=(("np.correlate(x, x[:3] ** 2, 'full')", ((-3.0, 3.0),), [(5,), (1,)]),
                        ("np.correlate(x[:2], x ** 2, mode='same') + np.correlate(x, x[1:]).sum()", ((-3.0, 3.0),), [(5,)]))),
    Composite("meshgrid", ("numpy.meshgrid",), _meshgrid,
              examples=(("np.meshgrid(x, x[:2] ** 2)[1] * np.meshgrid(x, x[:2])[0]", ((-3.0, 3.0),), [(4,)]),
                        ("np.meshgrid(x, x ** 2, indexing='ij', sparse=True)[0] * x", ((-3.0, 3.0),), [(3,)]))),
    Composite("polyval", ("numpy.polyval",), _polyval,
              examples=(("np.polyval([1.0, -2.0, 0.5], x)", ((-3.0, 3.0),)),
                        ("np.polyval(np.array([2.0, 1.0]), x) * x", ((-3.0, 3.0),)))),
]
OPS: list = []
