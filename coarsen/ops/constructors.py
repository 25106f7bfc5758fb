"""Array constructors: arange, linspace, eye, identity, full, full_like, and np.array of
nested lists.

One primitive, `iota` (`[0.0, 1.0, ..., n-1]` for an integer n: no derivative), from which
the rest are built with elementwise ops, so `np.linspace(a, b, n)` is differentiable in a and
b and `np.full(shape, v)` in v, as in NumPy-based AD systems.
"""
from __future__ import annotations

from coarsen.ir.types import Type
from coarsen.ops import lowering as L
from coarsen.ops.spec import Composite, O, Structural


def _iota_type(types, attrs):
    from coarsen.ir.typing import TypeRuleError

    (n,) = types
    if n.rank or n.dtype == "f64":
        raise TypeRuleError("iota takes an integer length")
    return Type("f64", 1)


def _iota_eval(instr, n):
    import numpy as np

    return np.arange(max(int(n), 0), dtype=np.float64)


def _iota_emit(instr, a):
    return f"np.arange({a[0]}).astype(np.float64)"


def _int(lw, x, node, what: str):
    v = lw.as_value(x, node)
    if v.type.rank or v.type.dtype == "f64":
        lw.type_error(f"{what} must be an integer, got {v.type}", node)
    return lw.cast_to(v, v.type.with_dtype("i64"))


def iota(lw, n, node):
    return lw.emit(O.IOTA, (n,), node)


def _arange(lw, args, kwargs, node):
    """NumPy's dtype: int64 for integer bounds (`np.arange(n)` indexes, as `x[np.arange(n),
    labels]` does), float64 for a float bound or `dtype=float`."""
    int_bounds = all(lw.as_value(a, node).type.dtype != "f64" for a in args)
    integral = int_bounds
    if "dtype" in kwargs:
        from coarsen.frontend.calls import _check_dtype

        integral = _check_dtype(lw, {"dtype": kwargs.pop("dtype")}, node, "arange", integers=True)
    out = _arange_float(lw, args, kwargs, node)
    if integral:   # an index array (int64), from integer bounds only
        if not int_bounds:
            lw.unsupported("np.arange(..., dtype=int) with float bounds is not supported", node,
                           "pass integer bounds")
        out = lw.cast_to(out, out.type.with_dtype("i64"))
    return out


def _arange_float(lw, args, kwargs, node):
    if kwargs or not 1 <= len(args) <= 3:
        lw.type_error("arange() takes 1 to 3 positional arguments (start, stop, step)", node)
    values = [lw.as_value(a, node) for a in args]
    if any(v.type.rank for v in values):
        lw.type_error("arange() takes numbers", node)
    if len(values) == 1 and values[0].type.dtype != "f64":
        return iota(lw, lw.cast_to(values[0], values[0].type.with_dtype("i64")), node)
    start, stop = (values[0], values[1]) if len(values) > 1 else (lw.b.const(0), values[0])
    step = values[2] if len(values) > 2 else lw.b.const(1)
    # NumPy's length: ceil((stop - start) / step), at least 0
    span = lw.emit(O.DIV, (lw.emit(O.SUB, (stop, start), node), step), node)
    count = lw.cast_to(lw.emit(O.CEIL, (span,), node), Type("i64"))
    count = lw.emit(O.MAXIMUM, (count, lw.b.const(0)), node)
    # NumPy's fill: [start, start + step], then start + i * delta with delta = (start + step)
    # - start (np.arange(1.0, 2.0, 0.1)[3] is 1.3000000000000003, not 1.3)
    second = lw.emit(O.ADD, (start, step), node)
    delta = lw.emit(O.SUB, (second, start), node)
    i = iota(lw, count, node)
    out = lw.emit(O.ADD, (start, lw.emit(O.MUL, (i, delta), node)), node)
    out = lw.emit(O.WHERE, (lw.emit(O.EQ, (i, lw.b.const(1.0)), node), second, out), node)
    return lw.emit(O.WHERE, (lw.emit(O.EQ, (i, lw.b.const(0.0)), node), start, out), node)


def _linspace(lw, args, kwargs, node):
    """NumPy's formula: start + i * step, step = (stop - start) / div (div = n - 1, or n with
    endpoint=False); where step underflows to 0, start + (i / div) * (stop - start); and with
    endpoint=True and n > 1 the last element is `stop` itself."""
    start, stop, num, endpoint = L.positional(lw, args, kwargs, node,
                                              ["start", "stop", "num", "endpoint"], "linspace", 2)
    start, stop = lw.as_value(start, node), lw.as_value(stop, node)
    if start.type.rank or stop.type.rank:
        lw.unsupported("linspace() between arrays is not supported", node, "pass numbers")
    n = _int(lw, num, node, "num") if num is not None else lw.b.const(50)
    L.nonnegative(lw, n, node, "Number of samples, {n}, must be non-negative.")
    endpoint = True if endpoint is None else bool(L.static(lw, endpoint, node, "endpoint"))
    # div = 0 (n == 1 with endpoint=True, or n == 0): NumPy's i * delta, as step = delta / 1
    parts = lw.emit(O.SUB, (n, lw.b.const(1)), node) if endpoint else n
    parts = lw.cast_to(lw.emit(O.MAXIMUM, (parts, lw.b.const(1)), node), Type("f64"))
    delta = lw.emit(O.SUB, (stop, start), node)
    step = lw.emit(O.DIV, (delta, parts), node)
    i = iota(lw, n, node)
    ramp = lw.emit(O.MUL, (i, step), node)
    tiny = lw.emit(O.MUL, (lw.emit(O.DIV, (i, parts), node), delta), node)   # step == 0
    ramp = lw.emit(O.WHERE, (lw.emit(O.EQ, (step, lw.b.const(0.0)), node), tiny, ramp), node)
    out = lw.emit(O.ADD, (ramp, start), node)
    if not endpoint:
        return out
    last = lw.emit(O.WHERE, (lw.emit(O.GT, (n, lw.b.const(1)), node),
                             lw.emit(O.SUB, (n, lw.b.const(1)), node), lw.b.const(-1)), node)
    last = lw.cast_to(last, Type("f64"))
    stop = stop if stop.type.dtype == "f64" else lw.cast_to(stop, Type("f64"))
    return lw.emit(O.WHERE, (lw.emit(O.EQ, (i, last), node), stop, out), node)


def eye(lw, n, m, k, node):
    from coarsen.ops.shape import offset_mask

    for size in (n, m) if m is not n else (n,):   # NumPy: a negative size is a ValueError
        L.nonnegative(lw, size, node, "negative dimensions are not allowed")

    mask = offset_mask(lw, n, m, k, node, "EQ")
    return lw.cast_to(mask, mask.type.with_dtype("f64"))


def _eye(lw, args, kwargs, node):
    import numpy as np

    from coarsen.frontend.bindings import Static

    as_bool = False
    if "dtype" in kwargs:
        from coarsen.frontend.calls import _check_dtype

        dtype = kwargs.pop("dtype")
        as_bool = isinstance(dtype, Static) and any(dtype.obj is d or dtype.obj == d for d in (bool, np.bool_, "bool"))
        if not as_bool:
            _check_dtype(lw, {"dtype": dtype}, node, "eye")
    if as_bool:   # np.where(np.eye(n, dtype=bool), 0.0, E): a mask of the diagonal
        return lw.emit(O.NE, (_eye(lw, args, kwargs, node), lw.b.const(0.0)), node)
    n, m, k = L.positional(lw, args, kwargs, node, ["N", "M", "k"], "eye", 1)
    n = _int(lw, n, node, "N")
    from coarsen.frontend.bindings import Static

    m = n if m is None or (isinstance(m, Static) and m.obj is None) else _int(lw, m, node, "M")
    k = _int(lw, k, node, "k") if k is not None else lw.b.const(0)
    return eye(lw, n, m, k, node)


def _identity(lw, args, kwargs, node):
    if "dtype" in kwargs:
        from coarsen.frontend.calls import _check_dtype

        _check_dtype(lw, {"dtype": kwargs.pop("dtype")}, node, "identity")
    L.arity(lw, args, kwargs, node, 1, "identity")
    n = _int(lw, args[0], node, "n")
    return eye(lw, n, n, lw.b.const(0), node)


def _full(lw, args, kwargs, node):
    from coarsen.frontend.calls import _check_dtype, _dims

    as_float = "dtype" in kwargs
    if as_float:
        _check_dtype(lw, {"dtype": kwargs.pop("dtype")}, node, "full")
    shape, fill = L.positional(lw, args, kwargs, node, ["shape", "fill_value"], "full", 2)
    fill = lw.as_value(fill, node)
    zeros = lw.emit(O.ZEROS, _dims(lw, shape, node), node)
    if fill.type.dtype != "f64" and not fill.type.rank and not as_float:
        # NumPy's dtype: np.full(n, 3) is int64, np.full(n, True) bool
        zeros = lw.cast_to(zeros, zeros.type.with_dtype(fill.type.dtype))
        return lw.emit(O.OR if fill.type.dtype == "bool" else O.ADD, (zeros, fill), node)
    return lw.emit(O.ADD, (zeros, lw.cast_to(fill, fill.type.with_dtype("f64"))), node)


def _full_like(lw, args, kwargs, node):
    from coarsen.frontend.calls import _check_dtype

    as_float = "dtype" in kwargs
    if as_float:
        _check_dtype(lw, {"dtype": kwargs.pop("dtype")}, node, "full_like")
    x, fill = L.positional(lw, args, kwargs, node, ["a", "fill_value"], "full_like", 2)
    x = lw.as_value(x, node)
    fill = lw.as_value(fill, node)
    # NumPy's dtype is x's: an int or bool x is filled with the fill value cast to it
    # (np.full_like(i, 2.7) is [2, 2, 2]); an int fill of an int x stays exact, a float or
    # mixed one is refused rather than filled with 2.7
    dtype = "f64" if as_float else x.type.dtype
    if dtype != "f64" and fill.type.dtype != dtype and not (dtype == "i64" and fill.type.dtype == "bool"):
        lw.unsupported(f"np.full_like() of an array of {x.type.dtype} with a {fill.type.dtype} fill value: "
                       f"NumPy casts the fill value to {x.type.dtype}", node,
                       "np.full_like(a, v, dtype=float) or np.full(a.shape, v) for floats")
    fill = lw.cast_to(fill, Type(dtype))
    if not x.type.rank:
        return fill
    zeros = lw.emit(O.ZEROS, L.shape(lw, x, node), node)
    if dtype != "f64":
        zeros = lw.cast_to(zeros, zeros.type.with_dtype(dtype))
    return lw.emit(O.ADD if dtype != "bool" else O.OR, (zeros, fill), node)


def nested_array(lw, items, node):
    """np.array of a (nested) list of numbers and arrays: rows stacked along a new axis 0.
    NumPy's dtype: int64 where every element is an int (or bool; bool where all are), a
    constant where every element is known when tracing, else float64."""
    if isinstance(items, tuple):
        leaves = _leaf_values(lw, items, node)
        dtypes = {v.type.dtype for v in leaves}
        if leaves and dtypes <= {"i64", "bool"}:
            dtype = "bool" if dtypes == {"bool"} else "i64"
            known = [lw.b.constant_of(v) if not v.type.rank else lw.b.arrays.get(v.id) for v in leaves]
            if all(k is not None for k in known):
                import numpy as np

                it = iter(known)
                try:
                    value = np.array(_rebuild(items, it), dtype=np.bool_ if dtype == "bool" else np.int64)
                except ValueError:   # ragged: the stacking below raises NumPy's error
                    value = None
                if value is not None and value.ndim:
                    return lw.b.const(value, type=Type(dtype, value.ndim))
            out = _nested_float(lw, items, node)
            return lw.cast_to(out, out.type.with_dtype(dtype))
    return _nested_float(lw, items, node)


def _leaf_values(lw, items, node) -> list:
    out = []
    for i in items:
        if isinstance(i, tuple):
            out += _leaf_values(lw, i, node)
        else:
            out.append(lw.as_value(i, node))
    return out


def _rebuild(items, known):
    return [_rebuild(i, known) if isinstance(i, tuple) else next(known) for i in items]


def _nested_float(lw, items, node):
    from coarsen.ops.shape import concat

    if not isinstance(items, tuple):
        v = lw.as_value(items, node)
        return v if v.type.dtype == "f64" else lw.cast_to(v, v.type.with_dtype("f64"))
    if not items:
        lw.unsupported("np.array([]) is not supported", node, "use np.zeros(0)")
    if all(not isinstance(i, tuple) and lw.as_value(i, node).type.rank == 0 for i in items):
        values = [lw.as_value(i, node) for i in items]
        return lw.emit(O.STACK, [lw.cast_to(v, v.type.with_dtype("f64")) for v in values], node)
    rows = [_nested_float(lw, i, node) for i in items]
    if len({r.type.rank for r in rows}) != 1:
        lw.type_error("np.array() of rows of different ranks (a ragged list)", node)
    # rows of different lengths fail in the concatenate, as NumPy refuses ragged lists
    return concat(lw, [L.newaxis(lw, r, 0, node) for r in rows], 0, node)


def _creation_eval(name: str):
    def evaluate(instr, *dims):
        import numpy as np

        # empty is zeros in the interpreter: deterministic, and no program may read it unwritten
        return (np.ones if name == "ones" else np.zeros)(tuple(int(d) for d in dims))
    return evaluate


def _creation_emit(instr, a):
    return f"np.{instr.op.value}(({', '.join(a)}{',' if len(a) == 1 else ''}))"


def _creation(name: str) -> Structural:
    # lowered by frontend.calls (np.zeros(shape), np.zeros_like(x), ...)
    return Structural(name, (), lambda types, attrs: Type("f64", len(types)), _creation_eval(name),
                      _creation_emit, differentiable=False, doc=f"np.{name}(shape); args: *dims")


OPS = [
    _creation("zeros"), _creation("ones"), _creation("empty"),
    Structural("iota", (), _iota_type, _iota_eval, _iota_emit, differentiable=False,
               doc="[0.0, 1.0, ..., n-1]: the primitive under arange, linspace, eye"),
]

def _vander(lw, args, kwargs, node):
    """np.vander(x, N, increasing): columns x**0, x**1, ... (decreasing unless increasing), as
    running products (exact, with the derivative of x**k at 0 too): ones, then the cumulative
    product of x repeated N - 1 times."""
    from coarsen.ops.shape import broadcast, concat, permute

    x, n_cols, increasing = L.positional(lw, args, kwargs, node, ["x", "N", "increasing"], "vander", 1)
    x = L.array(lw, x, node, "vander")
    if x.type.rank != 1:
        lw.type_error(f"vander() takes a vector, got {x.type}", node)
    x = lw.cast_to(x, Type("f64", 1))
    rows = lw.emit(O.SHAPE, (x,), node, {"dim": 0})
    cols = rows if n_cols is None else lw.as_value(n_cols, node)
    if cols.type.rank or cols.type.dtype != "i64":
        lw.type_error(f"vander(): N must be an integer, got {cols.type}", node)
    fixed = lw.b.constant_of(cols)
    if fixed is not None and fixed < 1:
        lw.unsupported(f"vander() with N={fixed} is not supported", node, "N >= 1")
    ones = lw.emit(O.ONES, (rows, lw.b.const(1)), node)
    if fixed == 1:
        out = ones
    else:
        spread = broadcast(lw, L.newaxis(lw, x, 1, node),
                           [rows, lw.emit(O.SUB, (cols, lw.b.const(1)), node)], node)
        powers = lw.emit(O.CUMPROD, (spread,), node, {"axis": 1})
        out = concat(lw, [ones, powers], 1, node)
    if not L.static(lw, increasing, node, "increasing"):   # columns reversed: out[:, ::-1]
        out = L.getitem(lw, out, [":", ("s", None, None, lw.b.const(-1))], [], node)
    return out


def _known_int(lw, binding, node, name: str, what: str) -> int:
    """An int the call's result shape depends on: known when tracing (a literal, a constant, an
    argument's length in a shape-specialised trace), else refused (which asks `frontend.trace`
    for a trace with the arguments' shapes known, where the length came from one)."""
    from coarsen.frontend.bindings import Static

    value = binding.obj if isinstance(binding, Static) else lw.constant_of(binding)
    if type(value) is not int:
        import numpy as np

        if isinstance(value, np.integer) and not isinstance(value, np.bool_):
            return int(value)
        lw.b.shape_queried = True
        lw.unsupported(f"{name}()'s {what} must be an int known when tracing (it sets how many "
                       "indices there are)", node, "pass a literal, a constant or an array's length")
    return value


def _index_arrays(lw, arrays) -> tuple:
    """NumPy's index arrays as int64 constants: a tuple binding, read as x[rows, cols]."""
    import numpy as np

    return tuple(lw.b.const(np.asarray(a, dtype=np.int64), type=Type("i64", 1)) for a in arrays)


def _square_side(lw, x, node, name: str) -> tuple[int, int]:
    """The (rows, columns) of a 2-D array whose lengths are known when tracing."""
    x = lw.as_value(x, node)
    if x.type.rank != 2:
        lw.type_error(f"{name}() needs a 2-D array, got {x.type}", node)
    dims = L.static_dims(lw, x)
    if None in dims:
        lw.b.shape_queried = True   # a trace with the arguments' shapes known decides it
        lw.unsupported(f"{name}() of an array whose lengths are known only when the program runs",
                       node, "call it with the lengths: np.triu_indices(n, k)")
    return dims[0], dims[1]


def _tri_indices(which: str):
    """np.triu_indices / np.tril_indices(n, k=0, m=None): constant index arrays."""
    def lower(lw, args, kwargs, node):
        import numpy as np

        n, k, m = L.positional(lw, args, kwargs, node, ["n", "k", "m"], which, 1)
        n = _known_int(lw, n, node, which, "n")
        k = 0 if k is None else _known_int(lw, k, node, which, "k")
        from coarsen.frontend.bindings import Static

        m = None if m is None or (isinstance(m, Static) and m.obj is None) else _known_int(lw, m, node, which, "m")
        return _index_arrays(lw, getattr(np, which)(n, k, m))
    return lower


def _tri_indices_from(which: str):
    """np.triu_indices_from / np.tril_indices_from(arr, k=0)."""
    def lower(lw, args, kwargs, node):
        import numpy as np

        x, k = L.positional(lw, args, kwargs, node, ["arr", "k"], f"{which}_from", 1)
        n, m = _square_side(lw, x, node, f"{which}_from")
        k = 0 if k is None else _known_int(lw, k, node, f"{which}_from", "k")
        return _index_arrays(lw, getattr(np, which)(n, k, m))
    return lower


def _diag_indices(lw, args, kwargs, node):
    import numpy as np

    n, ndim = L.positional(lw, args, kwargs, node, ["n", "ndim"], "diag_indices", 1)
    n = _known_int(lw, n, node, "diag_indices", "n")
    ndim = 2 if ndim is None else _known_int(lw, ndim, node, "diag_indices", "ndim")
    return _index_arrays(lw, np.diag_indices(n, ndim))


def _diag_indices_from(lw, args, kwargs, node):
    import numpy as np

    L.arity(lw, args, kwargs, node, 1, "diag_indices_from")
    n, m = _square_side(lw, args[0], node, "diag_indices_from")
    if n != m:
        lw.type_error("diag_indices_from() needs a square array (NumPy: all dimensions of the input "
                      "must be of equal length)", node)
    return _index_arrays(lw, np.diag_indices(n, 2))


COMPOSITES = [
    Composite("vander", ("numpy.vander",), _vander,
              examples=(("np.vander(x)", ((-2.0, 2.0),), [(4,), (1,)]),
                        ("np.vander(x, 3, increasing=True)", ((-2.0, 2.0),), [(4,), (0,)]),
                        ("np.vander(x, x.shape[0] + 1, True) @ np.ones(x.shape[0] + 1)", ((-2.0, 2.0),),
                         [(3,)]))),
    Composite("arange", ("numpy.arange",), _arange, examples=(("np.arange(x.shape[0]) * x", ((-3.0, 3.0),)),)),
    Composite("linspace", ("numpy.linspace",), _linspace,
              examples=(("np.linspace(x[0], 2.0, 5)", ((-3.0, 3.0),)),)),
    Composite("eye", ("numpy.eye",), _eye, examples=(("np.eye(x.shape[0]) * x", ((-3.0, 3.0),)),)),
    Composite("identity", ("numpy.identity",), _identity,
              examples=(("np.identity(x.shape[0]) * x", ((-3.0, 3.0),)),)),
    Composite("full", ("numpy.full",), _full, examples=(("np.full(x.shape, 2.0) * x", ((-3.0, 3.0),)),)),
    Composite("full_like", ("numpy.full_like",), _full_like,
              examples=(("np.full_like(x, 2.0) * x", ((-3.0, 3.0),)),)),
    Composite("triu_indices", ("numpy.triu_indices",), _tri_indices("triu_indices"),
              examples=(("x[np.triu_indices(x.shape[0], 1)] * 2.0", ((-3.0, 3.0),), [(3, 3), (1, 1)]),
                        ("x[np.triu_indices(3, m=x.shape[1])]", ((-3.0, 3.0),), [(3, 4)]))),
    Composite("tril_indices", ("numpy.tril_indices",), _tri_indices("tril_indices"),
              examples=(("x[np.tril_indices(x.shape[0], -1)] ** 2", ((-3.0, 3.0),), [(4, 4)]),)),
    Composite("triu_indices_from", ("numpy.triu_indices_from",), _tri_indices_from("triu_indices"),
              examples=(("x[np.triu_indices_from(x)] * 2.0", ((-3.0, 3.0),), [(3, 3), (2, 4)]),)),
    Composite("tril_indices_from", ("numpy.tril_indices_from",), _tri_indices_from("tril_indices"),
              examples=(("x[np.tril_indices_from(x, k=1)] * 2.0", ((-3.0, 3.0),), [(3, 3)]),)),
    Composite("diag_indices", ("numpy.diag_indices",), _diag_indices,
              examples=(("x[np.diag_indices(x.shape[0])] * 2.0", ((-3.0, 3.0),), [(3, 3)]),)),
    Composite("diag_indices_from", ("numpy.diag_indices_from",), _diag_indices_from,
              examples=(("x[np.diag_indices_from(x)] * 2.0", ((-3.0, 3.0),), [(3, 3)]),)),
]
