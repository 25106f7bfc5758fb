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

Its VJP scatter-adds the result's adjoint into the operand's (`rt.take_add`: repeated indices
accumulate, as `np.add.at`); its JVP is the same gather of the tangent. Index arrays are never
differentiated (int64).
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
        if t.dtype != "i64" or t.rank != 1:
            raise _type_error(f"index arrays must be one-dimensional int64 arrays, not {t}")
    return Type(x.dtype, x.rank - len(idx) + 1)


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
    lengths = {len(i) for i in idxs} - {1}
    if len(lengths) > 1:
        raise IndexError(f"{instr.loc}: shape mismatch: index arrays of lengths "
                         f"{', '.join(str(len(i)) for i in idxs)} could not be broadcast together")
    return x[tuple(np.asarray(i, dtype=np.int64) for i in idxs)]


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


OPS = [
    Structural("take", (), _take_type, _take_eval, _take_emit, vjp=_take_vjp, jvp=_take_jvp,
               runtime=("take", "take2", "take3", "take_add", "take_add2", "take_add3", "out_of_range"),
               doc="x[i0, ..., ik] with int64 index arrays on the leading axes (advanced indexing)"),
]
COMPOSITES: list = []
