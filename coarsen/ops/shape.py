"""Joining and layout: concatenate/stack and friends, axis permutations, and the NumPy shape
functions built from them and from indexing (atleast_*d, expand_dims, squeeze, ravel, flip,
roll, delete, tile, repeat, diag, tril/triu, trace, broadcast_to).

Two primitives: `concat` (np.concatenate along a static axis; its VJP slices the adjoint) and
`permute` (np.transpose with explicit axes, a view; its VJP permutes back). Everything else
lowers to these, to indexing (`getitem`: slices, newaxis, steps) and to elementwise ops, so
its derivative and its code on every target are theirs.
"""
from __future__ import annotations

import numpy as np

from coarsen.ir.types import Type
from coarsen.ops import lowering as L
from coarsen.ops.spec import Composite, O, Structural


def _type_error(message: str):
    from coarsen.ir.typing import TypeRuleError

    return TypeRuleError(message)


# ------------------------------------------------------------------ concat
def _concat_type(types, attrs):
    ranks = {t.rank for t in types}
    if len(ranks) != 1 or 0 in ranks:
        raise _type_error("concatenate takes arrays of one rank (>= 1)")
    (rank,) = ranks
    if not 0 <= attrs["axis"] < rank:
        raise _type_error(f"axis {attrs['axis']} is out of bounds for arrays of rank {rank}")
    return Type(_joined_dtype(types), rank)


def _joined_dtype(types) -> str:
    """The operands' one dtype (the lowerings convert them to NumPy's common type first: int64
    stays exact beyond 2**53, bools stay bools), float64 where they differ."""
    dtypes = {t.dtype for t in types}
    return dtypes.pop() if len(dtypes) == 1 else "f64"


def common_dtype(xs) -> str:
    """NumPy's result type of joining values of these dtypes: float64 over int64 over bool."""
    dtypes = {x.type.dtype for x in xs}
    return "f64" if "f64" in dtypes else "i64" if "i64" in dtypes else "bool"


_NUMPY_DTYPES = {"f64": "float64", "i64": "int64", "bool": "bool_"}


def _concat_eval(instr, *xs):
    import numpy as np

    dtype = getattr(np, _NUMPY_DTYPES[instr.results[0].type.dtype])
    return np.concatenate([np.asarray(x, dtype=dtype) for x in xs], axis=instr.attrs["axis"])


def _concat_emit(instr, a):
    return f"np.concatenate(({', '.join(a)},), {instr.attrs['axis']})"


def _concat_vjp(rev, instr, code, declared):
    axis = instr.attrs["axis"]
    d = rev.d(instr.result)
    offset = "0"
    lead = ":, " * axis
    for x in instr.args:
        length = f"{rev.shape(x)}[{axis}]"
        if x.id in rev.active:
            code_start = offset
            rev.accum(x, f"{d}[{lead}{code_start}:{code_start} + {length}]", code, declared)
        offset = f"{offset} + {length}" if offset != "0" else length


def _concat_jvp(fwd, instr, args, result, tangents):
    parts = [t if t is not None else fwd.zeros_like(a) for a, t in zip(args, tangents)]
    return fwd.emit(O.CONCAT, parts, dict(instr.attrs))


# ------------------------------------------------------------------ permute
def _permute_type(types, attrs):
    (x,) = types
    axes = attrs["axes"]
    if sorted(axes) != list(range(x.rank)):
        raise _type_error(f"axes {tuple(axes)} are not a permutation of the {x.rank} axes")
    return Type(x.dtype, x.rank)   # moves elements: keeps ints and bools (as its evaluation)


def _permute_eval(instr, x):
    import numpy as np

    return np.transpose(x, instr.attrs["axes"])


def _axes_source(axes) -> str:
    return "(" + ", ".join(str(a) for a in axes) + ("," if len(axes) == 1 else "") + ")"


def _permute_emit(instr, a):
    return f"np.transpose({a[0]}, {_axes_source(instr.attrs['axes'])})"


def _inverse(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


def _permute_vjp(rev, instr, code, declared):
    inv = _axes_source(_inverse(instr.attrs["axes"]))
    rev.accum(instr.args[0], f"np.ascontiguousarray(np.transpose({rev.d(instr.result)}, {inv}))", code, declared)


def _permute_jvp(fwd, instr, args, result, tangents):
    return fwd.emit(O.PERMUTE, (tangents[0],), dict(instr.attrs))


# ------------------------------------------------------------------ lowerings
def arrays_of(lw, seq, node, name: str) -> list:
    if not isinstance(seq, tuple):
        lw.type_error(f"{name}() takes a tuple or list of arrays", node)
    if not seq:
        lw.type_error(f"{name}() needs at least one array", node)
    return [lw.as_value(x, node) for x in seq]


def concat(lw, xs: list, axis: int, node):
    """Concatenated in NumPy's common dtype of the operands (int64 arrays stay int64, exact
    beyond 2**53; bools stay bools, so np.diff of them stays a XOR)."""
    dtype = common_dtype(xs)
    xs = [x if x.type.dtype == dtype else lw.cast_to(x, x.type.with_dtype(dtype)) for x in xs]
    return lw.emit(O.COPY, xs, node) if len(xs) == 1 else lw.emit(O.CONCAT, xs, node, {"axis": axis})


def _as_bool(lw, x):
    return lw.cast_to(x, x.type.with_dtype("bool"))


def _concatenate(lw, args, kwargs, node):
    seq, axis = L.positional(lw, args, kwargs, node, ["arrays", "axis"], "concatenate", 1, {})
    xs = arrays_of(lw, seq, node, "concatenate")
    rank = xs[0].type.rank
    if any(x.type.rank != rank for x in xs) or rank == 0:
        lw.type_error("concatenate() takes arrays of one rank (>= 1): "
                      + ", ".join(str(x.type) for x in xs), node)
    axis = 0 if axis is None and "axis" not in kwargs and len(args) < 2 else axis
    ax = L.static(lw, axis, node, "axis")
    if ax is None:   # axis=None: flattened first
        return concat(lw, [ravel(lw, x, node) for x in xs], 0, node)
    return concat(lw, xs, L.axis_of(lw, axis, rank, node, "concatenate"), node)


def atleast(lw, x, rank: int, node):
    """np.atleast_{1,2,3}d of one value."""
    if x.type.rank == 0:
        x = lw.emit(O.STACK, (x,), node)
    if x.type.rank >= rank:
        return x
    if rank == 2:
        return L.newaxis(lw, x, 0, node)
    # atleast_3d: (n,) -> (1, n, 1); (m, n) -> (m, n, 1)
    if x.type.rank == 1:
        x = L.newaxis(lw, x, 0, node)
    return L.newaxis(lw, x, 2, node)


def _stack(lw, args, kwargs, node):
    seq, axis = L.positional(lw, args, kwargs, node, ["arrays", "axis"], "stack", 1, {})
    xs = arrays_of(lw, seq, node, "stack")
    rank = xs[0].type.rank
    if any(x.type.rank != rank for x in xs):
        lw.type_error("stack() takes values of one rank", node)
    ax = L.static(lw, axis, node, "axis") or 0
    if rank == 0 and ax in (0, -1):
        dtype = common_dtype(xs)
        return lw.emit(O.STACK, [lw.cast_to(x, x.type.with_dtype(dtype)) for x in xs], node)
    if not -(rank + 1) <= ax <= rank:
        lw.type_error(f"stack(): axis {ax} is out of bounds for rank {rank + 1}", node)
    ax %= rank + 1
    return concat(lw, [L.newaxis(lw, x, ax, node) for x in xs], ax, node)


def _hstack(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "hstack")
    xs = [atleast(lw, x, 1, node) for x in arrays_of(lw, args[0], node, "hstack")]
    return concat(lw, xs, 0 if xs[0].type.rank == 1 else 1, node)


def _vstack(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "vstack")
    xs = [atleast(lw, x, 2, node) for x in arrays_of(lw, args[0], node, "vstack")]
    return concat(lw, xs, 0, node)


def _dstack(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "dstack")
    xs = [atleast(lw, x, 3, node) for x in arrays_of(lw, args[0], node, "dstack")]
    return concat(lw, xs, 2, node)


def _column_stack(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "column_stack")
    xs = []
    for x in arrays_of(lw, args[0], node, "column_stack"):
        x = atleast(lw, x, 1, node)
        xs.append(L.newaxis(lw, x, 1, node) if x.type.rank == 1 else x)
    return concat(lw, xs, 1, node)


def _atleast(rank: int):
    def lower(lw, args, kwargs, node):
        if kwargs or not args:
            lw.type_error(f"atleast_{rank}d() takes arrays", node)
        outs = tuple(atleast(lw, lw.as_value(a, node), rank, node) for a in args)
        return outs[0] if len(outs) == 1 else outs
    return lower


def _expand_dims(lw, args, kwargs, node):
    x, axis = L.positional(lw, args, kwargs, node, ["a", "axis"], "expand_dims", 2)
    x = lw.as_value(x, node)
    ax = L.axis_of(lw, axis, x.type.rank + 1, node, "expand_dims", allow_none=False)
    if x.type.rank == 0:
        x = atleast(lw, x, 1, node)
        return x if ax == 0 else x   # a scalar becomes shape (1,) either way
    return L.newaxis(lw, x, ax, node)


def reshape(lw, x, dims: list, node):
    return lw.emit(O.RESHAPE, (x, *dims), node)


def ravel(lw, x, node):
    if x.type.rank == 1:
        return x
    if x.type.rank == 0:
        return atleast(lw, x, 1, node)
    return reshape(lw, x, [L.size(lw, x, node)], node)


def _ravel(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "ravel")
    return ravel(lw, lw.as_value(args[0], node), node)


def _flatten(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "flatten")
    x = lw.as_value(args[0], node)
    return lw.emit(O.COPY, (ravel(lw, x, node),), node)


def _squeeze(lw, args, kwargs, node):
    """np.squeeze(x, axis): the named axes (an int or a tuple) dropped; a reshape to the other
    axes, so where a named axis's length is not 1 the sizes differ and it raises, as NumPy.
    Without an axis, the axes whose length is 1: known at compile time only where x was made
    with known lengths (np.zeros((1, 3)), x[None], keepdims reductions, ...), else refused."""
    x, axis = L.positional(lw, args, kwargs, node, ["a", "axis"], "squeeze", 1)
    x = lw.as_value(x, node)
    if x.type.rank == 0:
        return x
    ax = L.static(lw, axis, node, "axis")
    if ax is None:
        dims = L.static_dims(lw, x)
        if None in dims:
            lw.b.shape_queried = True   # a trace with the arguments' shapes known decides it
            unknown = ", ".join(str(k) for k, d in enumerate(dims) if d is None)
            lw.unsupported(f"squeeze() without an axis: the length of axis {unknown} of this "
                           f"{x.type} array is known only at run time, so the result's rank is not "
                           "known now", node, "name the axes to drop: np.squeeze(x, axis=0)")
        drop = [k for k, d in enumerate(dims) if d == 1]
    else:
        items = ax if isinstance(ax, tuple) else (ax,)
        drop = sorted({L.axis_of(lw, a, x.type.rank, node, "squeeze") for a in items})
    if not drop:
        return x
    dims = L.shape(lw, x, node)
    return reshape(lw, x, [d for k, d in enumerate(dims) if k not in drop], node)


def permute(lw, x, axes, node):
    axes = tuple(axes)
    if axes == tuple(range(x.type.rank)):
        return x
    if x.type.rank == 2 or axes == tuple(reversed(range(x.type.rank))):
        return lw.emit(O.TRANSPOSE, (x,), node)
    return lw.emit(O.PERMUTE, (x,), node, {"axes": axes})


def _transpose(lw, args, kwargs, node):
    x, axes = L.positional(lw, args, kwargs, node, ["a", "axes"], "transpose", 1)
    x = lw.as_value(x, node)
    axes = L.static(lw, axes, node, "axes")
    if x.type.rank == 0:
        return x
    if axes is None:
        return lw.emit(O.TRANSPOSE, (x,), node)
    axes = tuple(a % x.type.rank for a in axes)
    if sorted(axes) != list(range(x.type.rank)):
        lw.type_error(f"transpose(): axes {axes} are not a permutation of {x.type.rank} axes", node)
    return permute(lw, x, axes, node)


def _transpose_method(lw, args, kwargs, node):
    x, *rest = args
    if len(rest) > 1:   # x.transpose(1, 0, 2)
        return _transpose(lw, [x, tuple(rest)], kwargs, node)
    return _transpose(lw, [x, *rest], kwargs, node)


def _swapaxes(lw, args, kwargs, node):
    x, a, b = L.positional(lw, args, kwargs, node, ["a", "axis1", "axis2"], "swapaxes", 3)
    x = lw.as_value(x, node)
    a = L.axis_of(lw, a, x.type.rank, node, "swapaxes")
    b = L.axis_of(lw, b, x.type.rank, node, "swapaxes")
    axes = list(range(x.type.rank))
    axes[a], axes[b] = axes[b], axes[a]
    return permute(lw, x, axes, node)


def _moveaxis(lw, args, kwargs, node):
    x, src, dst = L.positional(lw, args, kwargs, node, ["a", "source", "destination"], "moveaxis", 3)
    x = lw.as_value(x, node)
    src = L.axis_of(lw, src, x.type.rank, node, "moveaxis")
    dst = L.axis_of(lw, dst, x.type.rank, node, "moveaxis")
    axes = [a for a in range(x.type.rank) if a != src]
    axes.insert(dst, src)
    return permute(lw, x, axes, node)


def broadcast(lw, x, dims: list, node):
    """x broadcast to a shape (a fresh array: x + zeros(shape))."""
    zeros = lw.emit(O.ZEROS, dims, node)
    if x.type.dtype != "f64":   # NumPy's dtype (and int64's exactness): zeros of x's dtype
        zeros = lw.cast_to(zeros, zeros.type.with_dtype(x.type.dtype))
        return lw.emit(O.OR if x.type.dtype == "bool" else O.ADD, (zeros, x), node)
    return lw.emit(O.ADD, (zeros, x), node)


def _broadcast_to(lw, args, kwargs, node):
    from coarsen.frontend.calls import _dims

    x, shape = L.positional(lw, args, kwargs, node, ["array", "shape"], "broadcast_to", 2)
    return broadcast(lw, lw.as_value(x, node), _dims(lw, shape, node), node)


def _flip(lw, args, kwargs, node):
    x, axis = L.positional(lw, args, kwargs, node, ["m", "axis"], "flip", 1)
    x = lw.as_value(x, node)
    if x.type.rank == 0:
        return x
    ax = L.static(lw, axis, node, "axis")
    axes = range(x.type.rank) if ax is None else [L.axis_of(lw, axis, x.type.rank, node, "flip")]
    pattern = [("s", None, None, lw.b.const(-1)) if k in axes else ":" for k in range(x.type.rank)]
    return L.getitem(lw, x, pattern, [], node)


def _int_arg(lw, binding, node, what: str) -> int:
    value = L.static(lw, binding, node, what)
    if not isinstance(value, int) or isinstance(value, bool):
        lw.unsupported(f"{what} must be an integer known at compile time, got {value!r}", node)
    return value


def _roll(lw, args, kwargs, node):
    x, shift, axis = L.positional(lw, args, kwargs, node, ["a", "shift", "axis"], "roll", 2)
    x = lw.as_value(x, node)
    ax = L.static(lw, axis, node, "axis")
    if ax is None:
        flat = ravel(lw, x, node)
        rolled = _roll_axis(lw, flat, lw.as_value(shift, node), 0, node)
        return reshape(lw, rolled, L.shape(lw, x, node), node) if x.type.rank > 1 else rolled
    return _roll_axis(lw, x, lw.as_value(shift, node), L.axis_of(lw, axis, x.type.rank, node, "roll"), node)


def _roll_axis(lw, x, shift, axis: int, node):
    n = lw.emit(O.SHAPE, (x,), node, {"dim": axis})
    one = lw.emit(O.MAXIMUM, (n, lw.b.const(1)), node)     # an empty axis rolls to itself
    s = lw.emit(O.MOD, (shift, one), node)
    cut = lw.emit(O.SUB, (n, s), node)
    tail = L.take_along(lw, x, axis, cut, None, node)
    head = L.take_along(lw, x, axis, None, cut, node)
    return concat(lw, [tail, head], axis, node)


def index_list(lw, binding, node, name: str):
    """The indices of np.take/np.delete: a list of index values (constants, or one run-time
    integer) or one run-time int64 index array (take only), and whether it was a scalar
    (NumPy drops the axis then)."""
    from coarsen.frontend.bindings import Static
    from coarsen.ir.nodes import Value

    if isinstance(binding, Value) and binding.type.rank == 0 and lw.b.constant_of(binding) is None:
        if binding.type.dtype != "i64":
            lw.type_error(f"{name}() indices must be integers, got {binding.type}", node)
        return [binding], True
    made = L.producer(lw, binding) if isinstance(binding, Value) and binding.type.rank == 1 else None
    if made is not None and made.op is O.CONST and binding.type.dtype == "i64":   # a module-level array
        return [lw.b.const(int(v)) for v in made.attrs["value"]], False
    if isinstance(binding, Value) and binding.type.rank:
        if binding.type.dtype != "i64" or binding.type.rank != 1:
            lw.unsupported(f"{name}() with a run-time {binding.type} array of indices is not supported", node,
                           "give a one-dimensional int64 array, or a list/tuple of integers known at compile time")
        return binding, False
    if isinstance(binding, tuple) and any(isinstance(b, Value) and b.type.rank == 0
                                          and lw.b.constant_of(b) is None for b in binding):
        items = []   # a list holding run-time integers ([i, j], i and j loop indices)
        for b in binding:
            v = lw.as_value(b, node)
            if v.type.rank or v.type.dtype != "i64":
                lw.unsupported(f"{name}() with an index of type {v.type} in its list is not supported", node,
                               "give integers")
            items.append(v)
        return items, False
    value = L.static(lw, binding, node, f"{name}()'s indices")
    if isinstance(binding, Static) and hasattr(value, "tolist"):
        value = value.tolist()
    scalar = not isinstance(value, (tuple, list))
    items = [value] if scalar else list(value)
    for v in items:
        if not isinstance(v, int) or isinstance(v, bool):
            lw.unsupported(f"{name}() with indices {value!r} is not supported", node,
                           "give integers, or a flat list/tuple of integers (no nested lists, no masks)")
    return [lw.b.const(v) for v in items], scalar


def _check_bounds(lw, i, n, axis: int, node, name: str) -> None:
    """IndexError (at the user's line) when i is not in [-n, n), as NumPy: slices would clamp."""
    outside = lw.emit(O.OR, (lw.emit(O.LT, (i, lw.emit(O.NEG, (n,), node)), node), lw.emit(O.GE, (i, n), node)),
                      node)
    if lw.b.constant_of(outside) is False:
        return
    message = f"{lw.src.loc(node)}: np.{name}: an index is out of bounds for axis {axis}"
    lw.emit(O.CHECK, (outside,), node, {"exc": IndexError, "args": (message,)})
    lw.ctx.runtime_raises.append(IndexError)


def _delete(lw, args, kwargs, node):
    """np.delete(x, indices, axis): the pieces between the deleted positions, concatenated.
    Negative indices count from the end (known at run time), so the positions are put in
    order by a small min/max sorting network; a repeated index is deleted once, as NumPy."""
    x, index, axis = L.positional(lw, args, kwargs, node, ["arr", "obj", "axis"], "delete", 2)
    x = lw.as_value(x, node)
    if L.static(lw, axis, node, "axis") is None:
        x, ax = ravel(lw, x, node), 0
    else:
        ax = L.axis_of(lw, axis, x.type.rank, node, "delete")
    indices, _ = index_list(lw, index, node, "delete")
    if not isinstance(indices, list):   # a run-time int64 index vector: gather what is kept
        return _delete_array(lw, x, indices, ax, node)
    if len(indices) > 16:
        lw.unsupported(f"delete() of {len(indices)} indices is not supported (at most 16)", node,
                       "select what to keep with slices or np.take")
    n = lw.emit(O.SHAPE, (x,), node, {"dim": ax})
    zero = lw.b.const(0)
    positions = []
    for i in indices:   # a negative index counts from the end, as in NumPy
        _check_bounds(lw, i, n, ax, node, "delete")
        neg = lw.emit(O.LT, (i, zero), node)
        positions.append(lw.emit(O.ADD, (i, lw.emit(O.WHERE, (neg, n, zero), node)), node))
    for end in range(len(positions) - 1, 0, -1):   # bubble sort: ascending positions
        for k in range(end):
            a, b = positions[k], positions[k + 1]
            positions[k], positions[k + 1] = lw.emit(O.MINIMUM, (a, b), node), lw.emit(O.MAXIMUM, (a, b), node)
    if not positions:
        return lw.emit(O.COPY, (x,), node)
    one = lw.b.const(1)
    pieces = [L.take_along(lw, x, ax, None, positions[0], node)]
    for lo, hi in zip(positions, positions[1:]):   # lo + 1 > hi (a repeated index): empty
        start = lw.emit(O.ADD, (lo, one), node)
        pieces.append(L.take_along(lw, x, ax, start, lw.emit(O.MAXIMUM, (hi, start), node), node))
    pieces.append(L.take_along(lw, x, ax, lw.emit(O.ADD, (positions[-1], one), node), None, node))
    return concat(lw, pieces, ax, node)


def _delete_array(lw, x, idx, ax: int, node):
    """np.delete(x, idx, axis) for a run-time int64 index vector: IndexError at the user's
    line when an index is outside [-n, n) (as NumPy), then the kept positions (`kept_indices`,
    ascending; a repeated index deleted once) gathered along the axis."""
    from coarsen.ir.types import Type

    n = lw.emit(O.SHAPE, (x,), node, {"dim": ax})
    outside = lw.emit(O.OR, (lw.emit(O.LT, (idx, lw.emit(O.NEG, (n,), node)), node),
                             lw.emit(O.GE, (idx, n), node)), node)
    from coarsen.ops.reductions import reduce

    count = reduce(lw, "SUM", lw.cast_to(outside, Type("f64", 1)), None, False, node)
    message = f"{lw.src.loc(node)}: np.delete: an index is out of bounds for axis {ax}"
    lw.emit(O.CHECK, (lw.emit(O.GT, (count, lw.b.const(0.0)), node),), node,
            {"exc": IndexError, "args": (message,)})
    lw.ctx.runtime_raises.append(IndexError)
    kept = lw.emit(O.KEPT_INDICES, (n, idx), node)
    return lw.gather(x, ("s000",) * ax + ("a",), [kept], node)


def _tile(lw, args, kwargs, node):
    x, reps = L.positional(lw, args, kwargs, node, ["A", "reps"], "tile", 2)
    x = atleast(lw, lw.as_value(x, node), 1, node)
    reps = L.static(lw, reps, node, "reps")
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    if any(not isinstance(r, int) or r < 1 for r in reps):
        lw.unsupported(f"tile() with reps={reps!r} is not supported", node, "use positive integers")
    while x.type.rank < len(reps):
        x = L.newaxis(lw, x, 0, node)
    reps = (1,) * (x.type.rank - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r > 1:
            x = concat(lw, [x] * r, axis, node)
    return x


def _repeat(lw, args, kwargs, node):
    x, repeats, axis = L.positional(lw, args, kwargs, node, ["a", "repeats", "axis"], "repeat", 2)
    x = atleast(lw, lw.as_value(x, node), 1, node)
    k = _int_arg(lw, repeats, node, "repeats")
    if L.static(lw, axis, node, "axis") is None:
        x, ax = ravel(lw, x, node), 0
    else:
        ax = L.axis_of(lw, axis, x.type.rank, node, "repeat")
    dims = L.shape(lw, x, node)
    # each element k times along the axis: a new axis of length k after it, then merged
    spread = L.newaxis(lw, x, ax + 1, node)
    target = dims[:ax + 1] + [lw.b.const(k)] + dims[ax + 1:]
    full = broadcast(lw, spread, target, node)
    merged = dims[:ax] + [lw.emit(O.MUL, (dims[ax], lw.b.const(k)), node)] + dims[ax + 1:]
    return reshape(lw, full, merged, node)


def _take(lw, args, kwargs, node):
    """np.take(x, indices, axis): one index drops the axis; a list of indices known at compile
    time gathers those positions along it (x[i:i+1] pieces, concatenated); a run-time int64
    index array is `x[:, ..., idx]`, the frontend's gather (`ops.indexing`)."""
    x, index, axis = L.positional(lw, args, kwargs, node, ["a", "indices", "axis"], "take", 2)
    x = lw.as_value(x, node)
    indices, scalar = index_list(lw, index, node, "take")
    if L.static(lw, axis, node, "axis") is None:
        x, ax = ravel(lw, x, node), 0
    else:
        ax = L.axis_of(lw, axis, x.type.rank, node, "take")
    if scalar:
        return L.index_along(lw, x, ax, indices[0], node)
    if not isinstance(indices, list):   # a run-time int64 index array: a gather
        return lw.gather(x, ("s000",) * ax + ("a",), [indices], node)
    if not indices:
        return L.take_along(lw, x, ax, lw.b.const(0), lw.b.const(0), node)
    if x.type.rank == 1 and x.type.dtype == "i64":   # ints stay int64 (exact beyond 2**53)
        return lw.emit(O.STACK, [L.index_along(lw, x, ax, i, node) for i in indices], node)
    if x.type.rank == 1:   # scalars: a vector of them (bools through a float copy: the cpu
        # target has no float() of a bool element; 0.0/1.0 come back exactly)
        source = lw.cast_to(x, x.type.with_dtype("f64")) if x.type.dtype == "bool" else x
        picked = [L.index_along(lw, source, ax, i, node) for i in indices]
        out = lw.emit(O.STACK, [lw.cast_to(p, p.type.with_dtype("f64")) for p in picked], node)
        return _as_bool(lw, out) if x.type.dtype == "bool" else out
    picked = [L.index_along(lw, x, ax, i, node) for i in indices]
    return concat(lw, [L.newaxis(lw, p, ax, node) for p in picked], ax, node)


def _iota(lw, n, node):
    return lw.emit(O.IOTA, (n,), node)


def offset_mask(lw, n, m, k, node, op: str):
    """The (n, m) bool mask `j - i <op> k` (tril: <=, triu: >=, eye: ==)."""
    rows = L.newaxis(lw, _iota(lw, n, node), 1, node)
    cols = L.newaxis(lw, _iota(lw, m, node), 0, node)
    diff = lw.emit(O.SUB, (cols, rows), node)
    return lw.emit(getattr(O, op), (diff, lw.cast_to(k, k.type.with_dtype("f64"))), node)


def _tri(op: str, name: str):
    def lower(lw, args, kwargs, node):
        x, k = L.positional(lw, args, kwargs, node, ["m", "k"], name, 1)
        x = lw.as_value(x, node)
        if x.type.rank != 2:
            lw.unsupported(f"{name}() of a rank-{x.type.rank} array is not supported", node,
                           "pass a matrix")
        k = lw.as_value(k if k is not None else lw.b.const(0), node)
        n, m = L.shape(lw, x, node)
        mask = offset_mask(lw, n, m, k, node, op)
        out = lw.emit(O.WHERE, (mask, x, _zero(lw, x)), node)
        return _as_bool(lw, out) if x.type.dtype == "bool" and out.type.dtype != "bool" else out
    return lower


def diagonal(lw, x, node):
    n, m = L.shape(lw, x, node)
    k = lw.emit(O.MINIMUM, (n, m), node)
    square = L.getitem(lw, x, [("s", None, k, None), ("s", None, k, None)], [], node)
    mask = offset_mask(lw, k, k, lw.b.const(0), node, "EQ")
    picked = lw.emit(O.WHERE, (mask, square, _zero(lw, x)), node)
    out = lw.emit(O.SUM, (picked,), node, {"axis": 1, "keepdims": False})
    return _as_bool(lw, out) if x.type.dtype == "bool" else out


def _zero(lw, x):
    """A zero of x's dtype (int and bool matrices keep NumPy's dtype through where)."""
    return lw.b.const({"f64": 0.0, "i64": 0, "bool": False}[x.type.dtype])


def _diag(lw, args, kwargs, node):
    x, k = L.positional(lw, args, kwargs, node, ["v", "k"], "diag", 1)
    x = lw.as_value(x, node)
    k = 0 if k is None else _int_arg(lw, k, node, "diag()'s k")
    if x.type.rank == 1:
        return diag_matrix(lw, x, k, node)
    if x.type.rank == 2:
        return diagonal(lw, offset_view(lw, x, k, node), node)
    lw.unsupported(f"diag() of a rank-{x.type.rank} value is not supported", node,
                   "pass a vector (to build a matrix) or a matrix (to read a diagonal)")


def offset_view(lw, x, k: int, node):
    """The part of matrix x whose main diagonal is x's k-th diagonal: x[:, k:] or x[-k:, :]."""
    if k > 0:
        return L.getitem(lw, x, [":", ("s", lw.b.const(k), None, None)], [], node)
    if k < 0:
        return L.getitem(lw, x, [("s", lw.b.const(-k), None, None), ":"], [], node)
    return x


def diag_matrix(lw, v, k: int, node):
    """np.diag(v, k): the (n + |k|) square matrix with v on its k-th diagonal."""
    if k and v.type.dtype != "f64":   # ints and bools keep their dtype (NumPy's): no float padding;
        # column j of the result holds v[j - max(k, 0)] (clipped into range; the mask picks)
        m = lw.emit(O.SHAPE, (v,), node, {"dim": 0})
        n = lw.emit(O.ADD, (m, lw.b.const(abs(k))), node)
        cols = lw.cast_to(_iota(lw, n, node), Type("i64", 1))
        src = lw.emit(O.SUB, (cols, lw.b.const(max(k, 0))), node)
        src = lw.emit(O.MINIMUM, (lw.emit(O.MAXIMUM, (src, lw.b.const(0)), node),
                                  lw.emit(O.SUB, (m, lw.b.const(1)), node)), node)
        row = lw.gather(v, ("a",), [src], node)
        mask = offset_mask(lw, n, n, lw.b.const(k), node, "EQ")
        return lw.emit(O.WHERE, (mask, L.newaxis(lw, row, 0, node), _zero(lw, v)), node)
    if k:
        # the row vector r with out[i, j] = r[j] where j - i == k: v shifted right by k >= 0
        pad = lw.emit(O.ZEROS, (lw.b.const(abs(k)),), node)
        v = concat(lw, [pad, v] if k > 0 else [v, pad], 0, node)
    n = lw.emit(O.SHAPE, (v,), node, {"dim": 0})
    mask = offset_mask(lw, n, n, lw.b.const(k), node, "EQ")
    return lw.emit(O.WHERE, (mask, L.newaxis(lw, v, 0, node), _zero(lw, v)), node)


def _diagonal(lw, args, kwargs, node):
    x, k, a1, a2 = L.positional(lw, args, kwargs, node, ["a", "offset", "axis1", "axis2"], "diagonal", 1)
    x = lw.as_value(x, node)
    if x.type.rank != 2 or L.static(lw, a1, node, "axis1") not in (None, 0) \
            or L.static(lw, a2, node, "axis2") not in (None, 1):
        lw.unsupported("diagonal() of an array that is not a matrix (or with other axes) is not supported",
                       node, "pass a matrix")
    k = 0 if k is None else _int_arg(lw, k, node, "diagonal()'s offset")
    return diagonal(lw, offset_view(lw, x, k, node), node)


def _trace(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "trace")
    x = lw.as_value(args[0], node)
    if x.type.rank != 2:
        lw.unsupported("trace() of an array that is not a matrix is not supported", node)
    return lw.emit(O.SUM, (diagonal(lw, x, node),), node, {"axis": None, "keepdims": False})


def _same_array_type(name: str):
    def rule(types, attrs):
        if types[0].rank == 0:
            raise _type_error(f"{name} of a scalar")
        return types[0]
    return rule


def _reshape_eval(instr, x, *dims):
    import numpy as np

    return np.reshape(x, tuple(int(d) for d in dims))


def _reshape_emit(instr, a):
    dims = a[1:]
    return f"rt.reshape({a[0]}, ({', '.join(dims)}{',' if len(dims) == 1 else ''}))"


def _reshape_vjp(rev, instr, code, declared):
    x = instr.args[0]
    rev.accum(x, f"rt.reshape({rev.d(instr.result)}, {rev.shape(x)})", code, declared)


def _stack_type(types, attrs):
    if any(t.rank for t in types):
        raise _type_error("np.array([...]) takes scalars only")
    return Type(_joined_dtype(types), 1)


def _stack_eval(instr, *xs):
    import numpy as np

    return np.array(xs, dtype=getattr(np, _NUMPY_DTYPES[instr.results[0].type.dtype]))


def _stack_vjp(rev, instr, code, declared):
    for k, a in enumerate(instr.args):
        rev.accum(a, f"{rev.d(instr.result)}[{k}]", code, declared)


def _copy_eval(instr, x):
    import numpy as np

    return np.array(x, dtype=np.float64)


# transpose, reshape, copy and stack are lowered by the frontend (`.T`, `np.reshape`,
# `np.copy`, `np.array([...])`, in `frontend.calls`) and by the lowerings here
OPS = [
    Structural("transpose", (), _same_array_type("transpose"), lambda instr, x: __import__("numpy").transpose(x),
               lambda instr, a: f"{a[0]}.T",
               vjp=lambda rev, instr, code, declared: rev.accum(instr.args[0], f"{rev.d(instr.result)}.T", code,
                                                                declared),
               view=True, doc="x.T: all axes reversed"),
    Structural("reshape", (), lambda types, attrs: Type(types[0].dtype, len(types) - 1), _reshape_eval, _reshape_emit,
               vjp=_reshape_vjp, view=True, runtime=("reshape",), doc="np.reshape; args: x, *dims"),
    Structural("copy", (), _same_array_type("copy"), _copy_eval, lambda instr, a: f"{a[0]}.copy()",
               vjp=lambda rev, instr, code, declared: rev.accum(instr.args[0], rev.d(instr.result), code, declared),
               doc="a fresh copy of an array"),
    Structural("stack", (), _stack_type, _stack_eval, lambda instr, a: f"np.array([{', '.join(a)}])",
               vjp=_stack_vjp, doc="np.array([a, b, ...]) of scalars: a vector"),
    Structural("concat", (), _concat_type, _concat_eval, _concat_emit, vjp=_concat_vjp,
               jvp=_concat_jvp, doc="np.concatenate of arrays of one rank along a static axis"),
    Structural("permute", (), _permute_type, _permute_eval, _permute_emit, vjp=_permute_vjp,
               jvp=_permute_jvp, view=True, doc="np.transpose with explicit axes (rank >= 3)"),
]

def _static_ints(lw, binding, node, what: str):
    """A (nested) tuple or list of ints known when tracing, as Python ints."""
    value = L.static(lw, tuple(binding) if isinstance(binding, list) else binding, node, what)
    try:
        return np.asarray(value, dtype=np.int64) if np.asarray(value).dtype.kind in "iub" else None
    except (TypeError, ValueError):
        return None


def _pad(lw, args, kwargs, node):
    """np.pad(x, widths) in mode 'constant' (a constant known when tracing, 0 by default):
    along each axis, the fill concatenated before and after x. Widths as NumPy reads them
    (k, (a, b), ((a, b),), ((a, b), (c, d), ...)), known when tracing."""
    x, width, mode, value = L.positional(lw, args, kwargs, node, ["array", "pad_width", "mode", "constant_values"],
                                         "pad", 2)
    x = lw.as_value(x, node)
    mode = L.static(lw, mode, node, "mode") if mode is not None else "constant"
    if mode != "constant":
        lw.unsupported(f"np.pad(..., mode={mode!r}) is not supported (only mode 'constant')", node,
                       "build the border with np.concatenate of slices of x")
    widths = _static_ints(lw, width, node, "pad widths")
    fill = 0 if value is None else L.static(lw, value, node, "constant_values")
    if widths is None or not isinstance(fill, (int, float)) or isinstance(fill, bool):
        lw.unsupported("np.pad needs integer pad widths and one constant (a number) known when tracing", node,
                       "np.pad(x, 2) or np.pad(x, ((1, 0), (2, 2)), constant_values=0.0)")
    if not x.type.rank:
        lw.unsupported("np.pad of a number is not supported", node, "pad np.atleast_1d(x)")
    try:
        widths = np.broadcast_to(widths, (x.type.rank, 2))
    except ValueError:
        lw.type_error(f"np.pad widths {widths.tolist()} do not fit an array of rank {x.type.rank}", node)
    if (widths < 0).any():
        from coarsen.frontend.exceptions import python_error
        python_error(lw, ValueError("index can't contain negative values"), node, "pad widths are >= 0")
    dtype = x.type.dtype   # NumPy's: the constant is cast to x's dtype (2.5 pads an int array with 2)
    for axis, (before, after) in enumerate(widths.tolist()):
        if not before and not after:
            continue
        parts = []
        for n in (before, after):
            dims = L.shape(lw, x, node)
            dims[axis] = lw.b.const(n)
            block = lw.emit(O.ZEROS, dims, node)
            block = lw.emit(O.ADD, (block, lw.b.const(float(fill))), node) if fill else block
            parts.append(block if dtype == "f64" else lw.cast_to(block, block.type.with_dtype(dtype)))
        x = concat(lw, [p for p, n in ((parts[0], before), (x, 1), (parts[1], after)) if n], axis, node)
    return x if widths.any() else lw.emit(O.COPY, (x,), node)


def _append(lw, args, kwargs, node):
    """np.append(x, v): both flattened and concatenated; with an axis, concatenated along it."""
    x, v, axis = L.positional(lw, args, kwargs, node, ["arr", "values", "axis"], "append", 2)
    x, v = lw.as_value(x, node), lw.as_value(v, node)
    ax = L.static(lw, axis, node, "axis")
    if ax is None:
        return concat(lw, [ravel(lw, x, node), ravel(lw, v, node)], 0, node)
    if x.type.rank != v.type.rank:
        lw.type_error("np.append(..., axis=k) needs arrays of one rank (NumPy: ValueError)", node)
    return concat(lw, [x, v], L.axis_of(lw, axis, x.type.rank, node, "append"), node)


def _splitter(name: str):
    def lower(lw, args, kwargs, node):
        """np.split / np.array_split with a number of sections or a list of indices known when
        tracing: a tuple of views along the axis (NumPy's sections: array_split gives the
        first N % n sections one more element; split raises ValueError unless n divides N)."""
        from coarsen.frontend.exceptions import runtime_check
        x, sections, axis = L.positional(lw, args, kwargs, node, ["ary", "indices_or_sections", "axis"], name, 2)
        x = lw.as_value(x, node)
        if not x.type.rank:
            lw.type_error(f"{name}() of a number", node)
        axis = L.axis_of(lw, axis if axis is not None else 0, x.type.rank, node, name)
        cuts = _static_ints(lw, sections, node, "sections")
        if cuts is None or cuts.ndim > 1:
            lw.unsupported(f"np.{name} needs a number of sections or a list of indices known when tracing",
                           node, f"np.{name}(x, 3) or np.{name}(x, [2, 5])")
        n = lw.emit(O.SHAPE, (x,), node, {"dim": axis})
        if cuts.ndim == 1:   # indices: x[:i0], x[i0:i1], ..., x[ik:]
            bounds = [None, *(lw.b.const(int(c)) for c in cuts), None]
        else:
            k = int(cuts)
            if k <= 0:
                from coarsen.frontend.exceptions import python_error
                python_error(lw, ValueError("number sections must be larger than 0."), node, "split into k >= 1 parts")
            each, extra = lw.emit(O.FLOORDIV, (n, lw.b.const(k)), node), lw.emit(O.MOD, (n, lw.b.const(k)), node)
            if name == "split":
                runtime_check(lw, lw.emit(O.NE, (extra, lw.b.const(0)), node), ValueError,
                              "array split does not result in an equal division", node)
            bounds = [lw.emit(O.ADD, (lw.emit(O.MUL, (each, lw.b.const(j)), node),
                                      lw.emit(O.MINIMUM, (extra, lw.b.const(j)), node)), node)
                      for j in range(k + 1)]
        return tuple(L.take_along(lw, x, axis, lo, hi, node) for lo, hi in zip(bounds[:-1], bounds[1:]))
    return lower


COMPOSITES = [
    Composite("concatenate", ("numpy.concatenate",), _concatenate,
              examples=(("np.concatenate((x, y), axis=0)", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("stack", ("numpy.stack",), _stack,
              examples=(("np.stack((x, y), axis=1)", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("hstack", ("numpy.hstack",), _hstack, examples=(("np.hstack((x, y))", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("vstack", ("numpy.vstack",), _vstack, examples=(("np.vstack((x, y))", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("dstack", ("numpy.dstack",), _dstack,
              examples=(("np.dstack((x, y))", ((-3.0, 3.0), (-3.0, 3.0)), [(3,), (2, 3)]),)),
    Composite("column_stack", ("numpy.column_stack",), _column_stack,
              examples=(("np.column_stack((x, y))", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("atleast_1d", ("numpy.atleast_1d",), _atleast(1), examples=(("np.atleast_1d(x)", ((-3.0, 3.0),)),)),
    Composite("atleast_2d", ("numpy.atleast_2d",), _atleast(2), examples=(("np.atleast_2d(x)", ((-3.0, 3.0),)),)),
    Composite("atleast_3d", ("numpy.atleast_3d",), _atleast(3), examples=(("np.atleast_3d(x)", ((-3.0, 3.0),)),)),
    Composite("expand_dims", ("numpy.expand_dims",), _expand_dims,
              examples=(("np.expand_dims(x, 0)", ((-3.0, 3.0),)),)),
    Composite("squeeze", ("numpy.squeeze",), _squeeze, methods=("squeeze",),
              examples=(("np.squeeze(x[:1], axis=0)", ((-3.0, 3.0),)),
                        ("np.squeeze(x[:1, None], axis=(1, 0))", ((-3.0, 3.0),), [(1, 3), (2, 2)]),
                        ("np.squeeze(np.sum(x) * np.ones((1, 3, 1)))", ((-3.0, 3.0),)),
                        ("np.squeeze(np.sum(x, keepdims=True))", ((-3.0, 3.0),)),
                        ("np.squeeze(np.zeros((2, 1)) + np.max(x, keepdims=True)) * x.squeeze(0)[:1]",
                         ((-3.0, 3.0),), [(1, 3)]))),
    Composite("ravel", ("numpy.ravel",), _ravel, methods=("ravel",), examples=(("np.ravel(x)", ((-3.0, 3.0),)),)),
    Composite("flatten", (), _flatten, methods=("flatten",), examples=(("x.flatten()", ((-3.0, 3.0),)),)),
    Composite("transpose", ("numpy.transpose",), _transpose,
              examples=(("np.transpose(x)", ((-3.0, 3.0),)),)),
    Composite("transpose (method)", (), _transpose_method, methods=("transpose",),
              examples=(("x.transpose()", ((-3.0, 3.0),)),)),
    Composite("swapaxes", ("numpy.swapaxes",), _swapaxes, methods=("swapaxes",),
              examples=(("np.swapaxes(x, 0, -1)", ((-3.0, 3.0),)),)),
    Composite("moveaxis", ("numpy.moveaxis",), _moveaxis,
              examples=(("np.moveaxis(x, 0, -1)", ((-3.0, 3.0),)),)),
    Composite("broadcast_to", ("numpy.broadcast_to",), _broadcast_to,
              examples=(("np.broadcast_to(x, (2, x.shape[0]))", ((-3.0, 3.0),)),)),
    Composite("flip", ("numpy.flip",), _flip, examples=(("np.flip(x)", ((-3.0, 3.0),)),)),
    Composite("roll", ("numpy.roll",), _roll, examples=(("np.roll(x, 1, axis=0)", ((-3.0, 3.0),)),)),
    Composite("delete", ("numpy.delete",), _delete,
              examples=(("np.delete(x, 0, axis=0)", ((-3.0, 3.0),)),
                        ("np.delete(x, [0, -1], axis=0)", ((-3.0, 3.0),)),
                        ("np.delete(x, [2, 0, 2])", ((-3.0, 3.0),)),
                        ("np.delete(x, (1, -1), axis=-1)", ((-3.0, 3.0),), [(2, 3), (3, 2, 4)]),
                        ("np.delete(x, [], axis=0)", ((-3.0, 3.0),)),
                        # run-time int64 index vectors (repeats and negatives: one deletion each)
                        ("np.delete(x, np.argmax(x, axis=0))", ((-3.0, 3.0),), [(2, 3), (4, 3)]),
                        ("np.delete(x, np.argmin(x, axis=1) - 1, axis=1)", ((-3.0, 3.0),), [(2, 3), (3, 1)]),
                        ("np.delete(x, np.argmax(x, axis=(1)) * 0, axis=0)", ((-3.0, 3.0),), [(3, 2)]))),
    Composite("pad", ("numpy.pad",), _pad, ints="moves",
              examples=(("np.pad(x, 1)", ((-3.0, 3.0),)), ("np.pad(x, ((1, 0),), constant_values=2.5)", ((-3.0, 3.0),)),
                        ("np.pad(x, ((0, 2), (1, 1)))", ((-3.0, 3.0),), [(2, 3), (1, 1)]))),
    Composite("append", ("numpy.append",), _append, ints="moves",
              examples=(("np.append(x, y)", ((-3.0, 3.0), (-3.0, 3.0))),
                        ("np.append(x, 1.5)", ((-3.0, 3.0),)),
                        ("np.append(x, y, axis=0)", ((-3.0, 3.0), (-3.0, 3.0))))),
    Composite("split", ("numpy.split",), _splitter("split"), ints="moves",
              examples=(("np.split(x, 2)[1] * np.split(x, [1])[0][0]", ((-3.0, 3.0),), [(2,), (4, 3)]),)),
    Composite("array_split", ("numpy.array_split",), _splitter("array_split"), ints="moves",
              examples=(("np.array_split(x, 3)[0] + np.array_split(x, 3, axis=-1)[2][..., :1]", ((-3.0, 3.0),),
                         [(4,), (3, 5)]),)),
    Composite("tile", ("numpy.tile",), _tile, examples=(("np.tile(x, 2)", ((-3.0, 3.0),)),)),
    Composite("repeat", ("numpy.repeat",), _repeat, methods=("repeat",),
              examples=(("np.repeat(x, 2, axis=0)", ((-3.0, 3.0),)),)),
    Composite("take", ("numpy.take",), _take,
              examples=(("np.take(x, 0)", ((-3.0, 3.0),)), ("np.take(x, [2, 0, 2, -1])", ((-3.0, 3.0),)),
                        ("np.take(x, [1, 0], axis=-1)", ((-3.0, 3.0),), [(2, 3), (3, 2, 2)]),
                        ("np.take(x, (0,), axis=0)", ((-3.0, 3.0),), [(1, 3), (2,)]),
                        ("np.take(x, [], axis=0)", ((-3.0, 3.0),), [(3,), (2, 3)]),
                        ("np.take(x, np.argmin(x, axis=1), axis=1)", ((-3.0, 3.0),), [(2, 3), (3, 1)]))),
    Composite("diag", ("numpy.diag",), _diag,
              examples=(("np.diag(x)", ((-3.0, 3.0),)), ("np.diag(x, 1)", ((-3.0, 3.0),)),
                        ("np.diag(x, k=-2)", ((-3.0, 3.0),)))),
    Composite("diagonal", ("numpy.diagonal",), _diagonal, methods=("diagonal",),
              examples=(("np.diagonal(x, 1)", ((-3.0, 3.0),)), ("x.diagonal(-1)", ((-3.0, 3.0),)))),
    Composite("tril", ("numpy.tril",), _tri("LE", "tril"), examples=(("np.tril(x)", ((-3.0, 3.0),)),)),
    Composite("triu", ("numpy.triu",), _tri("GE", "triu"), examples=(("np.triu(x)", ((-3.0, 3.0),)),)),
    Composite("trace", ("numpy.trace",), _trace, methods=("trace",),
              examples=(("np.trace(x)", ((-3.0, 3.0),)),)),
]
