"""Gathers with integer index arrays (NumPy's advanced indexing): one primitive, `take`.

`take(x, i_0, ..., i_{k-1})` is `x[i_0, ..., i_{k-1}]` for k one-dimensional int64 index
arrays on x's *leading* k axes: the arrays broadcast to one length L (equal lengths, or 1), and
the result has shape `(L,) + x.shape[k:]`. Negative indices count from the end; an index out
of range raises IndexError naming the user's file:line (`take_checks`, on every target: Numba
would read whatever memory is there). The frontend (`coarsen.frontend.expressions`) lowers
every NumPy advanced-indexing form with rank-1 index arrays to it: ints and slices are basic
indexing first, the indexed axes are moved to the front (`permute`, a view), and the gathered
axis is moved to where NumPy puts it (in place when the advanced indices are adjacent, first
otherwise).

Index arrays may have any rank: they broadcast together to a shape S, and the gathered axes
are S (`x[I]` with I of shape (a, b) is (a, b) + x.shape[1:]).

Its VJP scatter-adds the result's adjoint into the operand's (`rt.take_add`: repeated indices
accumulate, as `np.add.at`); its JVP is the same gather of the tangent. Index arrays are never
differentiated (int64).

Writes through index arrays (`x[idx] = v`, `x[idx] += v`, `np.add.at(x, idx, v)`) are
`SETITEM`s whose index pattern is ("a",) * k: k index arrays on x's leading axes (the frontend
makes ints length-1 arrays and moves nothing: other forms are refused), the value broadcast by
the frontend to the gathered shape S + x.shape[k:], attrs "add" for np.add.at. Emitted as
`rt.put*` (a repeated index keeps its last value, NumPy's result) or `rt.add_at*` (repeated
indices accumulate) on the written buffer (`kernels.scatter`, `kernels.numba_gather`), after
the same index checks as `take`. VJP: `rt.put_grad*` gives the value the result's adjoint at
the positions its surviving occurrences wrote (an overwritten occurrence gets zero) and zeroes
them in the operand's adjoint; for add_at the value's adjoint is the gather and the operand's
passes through. JVP: the same write of the tangents (`autodiff.forward`).
"""
from __future__ import annotations

from coarsen.ir.types import Type
from coarsen.ops.spec import O, Structural


def _type_error(message: str):
    from coarsen.ir.typing import TypeRuleError

    return TypeRuleError(message)


def _take_type(types, attrs):
    x, *idx = types
    if not idx or len(idx) > x.rank:
        raise _type_error(f"too many index arrays ({len(idx)}) for an array of rank {x.rank}")
    if len(idx) > 3:
        raise _type_error("at most three index arrays are supported")
    for t in idx:
        if t.dtype != "i64" or t.rank < 1:
            raise _type_error(f"index arrays must be int64 arrays, not {t}")
    return Type(x.dtype, x.rank - len(idx) + max(t.rank for t in idx))


def out_of_range(instr, x_shape, idxs) -> str | None:
    """The IndexError message for the first index array holding an index out of range, or None."""
    import numpy as np

    for axis, i in enumerate(idxs):
        n = x_shape[axis]
        i = np.asarray(i)
        if i.size and (i.min() < -n or i.max() >= n):
            return _message(instr, axis)
    return None


def _message(instr, axis: int) -> str:
    """Names the user's array and axis (attrs "name", "axes": the take may read a view)."""
    name = (instr.attrs.get("name") or instr.args[0].hint or "array").lstrip("$") or "array"
    axis = instr.attrs.get("axes", range(axis + 1))[axis]
    return f"{instr.loc}: index out of bounds for axis {axis} of `{name}`"


def _take_eval(instr, x, *idxs):
    import numpy as np

    x = np.asarray(x)
    message = out_of_range(instr, x.shape, idxs)
    if message is not None:
        raise IndexError(message)
    broadcast_indices(instr, idxs)
    return x[tuple(np.asarray(i, dtype=np.int64) for i in idxs)]


def broadcast_indices(instr, idxs):
    """The shape the index arrays broadcast to; IndexError at the user's line when they do not."""
    import numpy as np

    try:
        return np.broadcast_shapes(*(np.shape(i) for i in idxs))
    except ValueError:
        raise IndexError(f"{instr.loc}: shape mismatch: index arrays of shapes "
                         f"{', '.join(str(np.shape(i)) for i in idxs)} could not be broadcast together") from None


def _suffix(k: int) -> str:
    return "" if k == 1 else str(k)


def _take_emit(instr, a):
    return f"rt.take{_suffix(len(a) - 1)}({', '.join(a)})"


def take_checks(instr, x_src: str, idx_srcs) -> list[str]:
    """Source lines raising IndexError (the user's file:line) when an index is out of range."""
    lines = []
    for axis, i in enumerate(idx_srcs):
        lines.append(f"if rt.out_of_range({i}, {x_src}.shape[{axis}]):")
        lines.append(f"    raise IndexError({_message(instr, axis)!r})")
    return lines


def _take_vjp(rev, instr, code, declared):
    x, *idx = instr.args
    if x.id not in rev.active:
        return
    rev.ensure(x, code, declared)
    refs = [rev.ref(i) for i in idx]
    for line in take_checks(instr, rev.d(x), refs):   # the forward gather may not have run
        code.line(line)
    code.line(f"rt.take_add{_suffix(len(idx))}({rev.d(x)}, {rev.d(instr.result)}, {', '.join(refs)})")


def _take_jvp(fwd, instr, args, result, tangents):
    if tangents[0] is None:   # index arrays have no tangent
        return None
    return fwd.emit(O.TAKE, (tangents[0], *args[1:]), dict(instr.attrs))


# ------------------------------------------------------------------ writes (SETITEM, "a")
def put_eval(instr, out, v, idxs):
    """The interpreter's write through index arrays: `out` (a fresh copy) updated."""
    import numpy as np

    from kernels import scatter

    message = out_of_range(instr, out.shape, idxs)
    if message is not None:
        raise IndexError(message)
    broadcast_indices(instr, idxs)
    idxs = [np.asarray(i, dtype=np.int64) for i in idxs]
    (scatter._add_at if instr.attrs.get("add") else scatter._put)(out, np.asarray(v, dtype=np.float64), idxs)
    return out


def put_lines(instr, r: str, x: str, copy: str, v: str, idx: list[str]) -> list[str]:
    """`r = x(.copy()); rt.put*(r, v, *idx)` after the index checks."""
    name = "add_at" if instr.attrs.get("add") else "put"
    lines = take_checks(instr, x, idx)
    lines.append(f"{r} = {x}{copy}")
    lines.append(f"rt.{name}{_suffix(len(idx))}({r}, {v}, {', '.join(idx)})")
    return lines


def put_vjp(rev, instr, code, declared):
    x, *rest = instr.args
    *idx, v = rest
    if x.id not in rev.active and v.id not in rev.active:
        return
    d = rev.d(instr.result)
    refs = [rev.ref(i) for i in idx]
    for line in take_checks(instr, d, refs):   # the forward write may not have run
        code.line(line)
    k = _suffix(len(idx))
    if instr.attrs.get("add"):   # x + scatter(v): x's adjoint passes through, v's is the gather
        if v.id in rev.active:
            rev.accum(v, f"rt.take{k}({d}, {', '.join(refs)})", code, declared)
        if x.id in rev.active:
            rev.accum(x, d, code, declared, owned=True)
        return
    # put_grad zeroes the written positions of d in place (they did not come from x), and
    # returns v's adjoint, a fresh array
    dv = f"rt.put_grad{k}({d}, {', '.join(refs)})"
    if v.id in rev.active:
        rev.accum(v, dv, code, declared)
    else:
        code.line(dv)
    if x.id in rev.active:
        rev.accum(x, d, code, declared, owned=True)


def _kept_type(types, attrs):
    n, idx = types
    if n.rank or n.dtype != "i64" or idx.rank != 1 or idx.dtype != "i64":
        raise _type_error(f"kept_indices takes a length and an int64 index vector, got {n} and {idx}")
    return Type("i64", 1)


def _kept(n, idx):
    import numpy as np

    from kernels import runtime as rt

    return rt.kept_indices(int(n), np.asarray(idx, dtype=np.int64))


OPS = [
    Structural("kept_indices", (), _kept_type, lambda instr, n, idx: _kept(n, idx),
               lambda instr, a: f"rt.kept_indices({a[0]}, {a[1]})", differentiable=False,
               runtime=("kept_indices",),
               doc="the ascending int64 positions in [0, n) an index vector does not name (np.delete "
                   "with a run-time index array; the indices already bounds-checked)"),
    Structural("take", (), _take_type, _take_eval, _take_emit, vjp=_take_vjp, jvp=_take_jvp,
               runtime=("take", "take2", "take3", "take_add", "take_add2", "take_add3", "out_of_range"),
               doc="x[i0, ..., ik] with int64 index arrays on the leading axes (advanced indexing)"),
]
COMPOSITES: list = []
