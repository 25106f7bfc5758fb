"""Sums and counts that NumPy and math compute in one particular way: math.fsum, np.bincount,
np.digitize.

- `fsum` (math.fsum of a vector or a list of numbers): the host's math.fsum on every target
  (the cpu target calls it in object mode), so the value is its correctly rounded sum, never a
  plain sum's (which differs in the last bits), and its errors (inf + -inf: ValueError, an
  intermediate overflow: OverflowError) are its own. Derivative: ones (the exact sum is linear).
- `bincount`, `bincount_weights` (np.bincount(x, weights, minlength)): int64 counts / float64
  weighted sums in NumPy's order (one pass over x), of length max(max(x) + 1, minlength);
  NumPy's errors (negative entries, weights of another length, minlength < 0, float x). The
  weighted sums' VJP in the weights is the gather d[x], their JVP the bincount of the tangent.
- np.digitize(x, bins, right=False): NumPy's own formula, a searchsorted into bins (or into
  bins reversed where they decrease), with NumPy's ValueError for bins that are not monotonic.
"""
from __future__ import annotations

from coarsen.ir.types import Type
from coarsen.ops import lowering as L
from coarsen.ops.spec import Composite, O, Structural


def _err(message):
    from coarsen.ir.typing import TypeRuleError

    return TypeRuleError(message)


def _fsum_type(types, attrs):
    if types[0].rank != 1:
        raise _err("math.fsum of a vector")
    return Type("f64", 0)


def _fsum_vjp(rev, instr, code, declared):
    x = instr.args[0]
    rev.accum(x, f"rt.broadcast_scalar({rev.d(instr.result)}, np.shape({rev.ref(x)}))", code, declared)


def _fsum_jvp(fwd, instr, args, result, tangents):
    return fwd.emit(O.SUM, (fwd.fit(tangents[0], args[0]),), {"axis": None, "keepdims": False})


def _fsum(lw, args, kwargs, node):
    """math.fsum(iterable): a vector, or a list/tuple of numbers (stacked)."""
    L.arity(lw, args, kwargs, node, 1, "fsum")
    items = args[0]
    if isinstance(items, (tuple, list)):
        if not items:
            return lw.b.const(0.0)
        values = [L.array(lw, v, node, "fsum", min_rank=0) for v in items]
        if any(v.type.rank for v in values):
            lw.type_error("math.fsum() of a list holding arrays: must be real numbers", node)
        x = lw.emit(O.STACK, tuple(values), node)
    else:
        x = L.array(lw, items, node, "fsum", min_rank=0)
        if x.type.rank != 1:
            lw.unsupported(f"math.fsum() of a rank-{x.type.rank} array is not supported", node,
                           "pass a vector: math.fsum(np.ravel(x)) (of a matrix Python sums its rows, a TypeError)")
    return lw.emit(O.FSUM, (x,), node)


def _bincount_type(weighted: bool):
    def rule(types, attrs):
        x = types[0]
        if x.rank != 1 or x.dtype == "f64":
            raise _err("bincount of a vector of non-negative ints")
        if weighted and types[1].rank != 1:
            raise _err("bincount's weights are a vector")
        return Type("f64" if weighted else "i64", 1)
    return rule


def _bincount_eval(instr, *args):
    from kernels import runtime as rt

    return rt.bincount_weights(*args) if len(args) == 3 else rt.bincount(*args)


def _bincount_vjp(rev, instr, code, declared):
    """d weights[i] = d out[x[i]]."""
    x, w, _ = instr.args
    rev.accum(w, f"rt.take_bins({rev.d(instr.result)}, {rev.ref(x)})", code, declared)


def _bincount_jvp(fwd, instr, args, result, tangents):
    x, w, n = args
    return fwd.emit(O.BINCOUNT_WEIGHTS, (x, fwd.fit(tangents[1], w), n))


def _bincount(lw, args, kwargs, node):
    """np.bincount(x, weights=None, minlength=0)."""
    x, weights, minlength = L.positional(lw, args, kwargs, node, ["x", "weights", "minlength"], "bincount", 1)
    x = lw.as_value(x, node)
    if x.type.dtype == "f64":
        lw.type_error("np.bincount() of a float array: Cannot cast array data from dtype('float64') to "
                      "dtype('int64') according to the rule 'safe'", node, "convert it: x.astype(int)")
    if x.type.rank != 1:
        from coarsen.frontend.exceptions import python_error
        python_error(lw, ValueError("object too deep for desired array" if x.type.rank > 1 else
                                    "object of too small depth for desired array"), node, "pass a vector")
    if x.type.dtype == "bool":
        x = lw.cast_to(x, x.type.with_dtype("i64"))
    from coarsen.ops.reductions import absent

    n = lw.b.const(0) if absent(minlength) else lw.as_value(minlength, node)
    if n.type.dtype != "i64" or n.type.rank:
        lw.type_error("np.bincount(): minlength must be an int", node)
    if absent(weights):
        return lw.emit(O.BINCOUNT, (x, n), node)
    w = L.array(lw, weights, node, "bincount")
    return lw.emit(O.BINCOUNT_WEIGHTS, (x, w, n), node)


def _digitize(lw, args, kwargs, node):
    """np.digitize(x, bins, right=False), as NumPy: searchsorted(bins, x, side) where bins
    increase, len(bins) - searchsorted(bins[::-1], x, side) where they decrease (side 'left'
    for right=True, else 'right'); ValueError when running for bins that do neither."""
    from coarsen.frontend.exceptions import runtime_check
    from coarsen.ops.reductions import reduce
    from coarsen.ops.sorting import _searchsorted

    x, bins, right = L.positional(lw, args, kwargs, node, ["x", "bins", "right"], "digitize", 2)
    bins = lw.as_value(bins, node)
    if bins.type.rank != 1:
        from coarsen.frontend.exceptions import python_error
        python_error(lw, ValueError("object too deep for desired array" if bins.type.rank > 1 else
                                    "object of too small depth for desired array"), node, "pass a vector of bins")
    side = "left" if L.static(lw, right, node, "right") else "right"
    n = lw.emit(O.SHAPE, (bins,), node, {"dim": 0})
    head = L.take_along(lw, bins, 0, lw.b.const(1), n, node)
    tail = L.take_along(lw, bins, 0, lw.b.const(0), lw.emit(O.SUB, (n, lw.b.const(1)), node), node)

    def every(cond):   # all(cond) of a vector, True when empty
        misses = lw.cast_to(lw.emit(O.NOT, (cond,), node), Type("f64", 1))
        return lw.emit(O.EQ, (reduce(lw, "SUM", misses, None, False, node), lw.b.const(0.0)), node)

    rising = every(lw.emit(O.GE, (head, tail), node))
    falling = every(lw.emit(O.LE, (head, tail), node))
    runtime_check(lw, lw.emit(O.NOT, (lw.emit(O.OR, (rising, falling), node),), node), ValueError,
                  "bins must be monotonically increasing or decreasing", node)
    up = _searchsorted(lw, [bins, x], {"side": side}, node)
    from coarsen.ops.shape import _flip

    reversed_bins = _flip(lw, [bins], {}, node)
    down = lw.emit(O.SUB, (n, _searchsorted(lw, [reversed_bins, x], {"side": side}, node)), node)
    return lw.emit(O.WHERE, (rising, up, down), node)


OPS = [
    Structural("fsum", ("math.fsum",), _fsum_type,
               lambda instr, x: __import__("kernels.runtime").runtime.fsum(x), lambda instr, a: f"rt.fsum({a[0]})",
               lower=_fsum, vjp=_fsum_vjp, jvp=_fsum_jvp, runtime=("fsum", "broadcast_scalar"), ints="float",
               doc="math.fsum of a vector: the host's, correctly rounded"),
    Structural("bincount", (), _bincount_type(False), _bincount_eval, lambda instr, a: f"rt.bincount({a[0]}, {a[1]})",
               differentiable=False, runtime=("bincount",), doc="np.bincount(x, minlength=n)'s counts"),
    Structural("bincount_weights", (), _bincount_type(True), _bincount_eval,
               lambda instr, a: f"rt.bincount_weights({a[0]}, {a[1]}, {a[2]})", vjp=_bincount_vjp,
               jvp=_bincount_jvp, runtime=("bincount_weights", "take_bins"),
               doc="np.bincount(x, weights, minlength=n): the weights summed per bin, in x's order"),
]

COMPOSITES = [
    Composite("bincount (call)", ("numpy.bincount",), _bincount, ints="moves",
              examples=(("np.bincount(np.arange(x.size) % 3, weights=np.ravel(x) ** 2, minlength=4)", ((-3.0, 3.0),)),
                        ("x * np.sum(np.bincount(np.arange(x.size) // 2))", ((-3.0, 3.0),)))),
    Composite("digitize", ("numpy.digitize",), _digitize, ints="moves",
              examples=(("x * np.digitize(x, np.array([-1.0, 0.0, 1.0]))", ((-3.0, 3.0),)),
                        ("x * np.digitize(x, np.array([2.0, 0.5, -1.0]), right=True)", ((-3.0, 3.0),)))),
]
