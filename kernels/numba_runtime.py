"""Numba implementations of `kernels.runtime` for the "cpu" target.

Each `rt.<name>` call in generated code resolves, inside `njit` code, to the implementation
registered here with `numba.extending.overload`, chosen by the argument types (array ranks),
so results have static types. Ranks 0-2 are covered (what the paper's programs and small
models use); anything else raises a TypingError, and the target falls back to NumPy for that
function with a warning.
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload

from kernels import runtime as rt


def _rank(x) -> int:
    return x.ndim if isinstance(x, types.Array) else 0


def _unsupported(name: str, detail: str):
    raise TypingError(f"rt.{name}: {detail} is not supported on the cpu target")


@overload(rt.unbroadcast)
def _unbroadcast(x, shape):
    n, k = _rank(x), len(shape)
    if k == 0:
        if n == 0:
            return lambda x, shape: x
        return lambda x, shape: np.sum(x)
    if n == 0:
        return lambda x, shape: np.full(shape, x)
    if n == 1 and k == 1:
        def impl(x, shape):
            if x.shape[0] == shape[0]:
                return np.ascontiguousarray(x)
            return np.full(shape, np.sum(x))
        return impl
    # explicit loops, not np.sum(axis=...): Numba's generic axis reduction costs about a
    # second of compile time per program, and these shapes usually match already
    if n == 2 and k == 1:
        def impl(x, shape):
            rows, cols = x.shape
            out = np.zeros(cols)
            for i in range(rows):
                for j in range(cols):
                    out[j] += x[i, j]
            if cols == shape[0]:
                return out
            return np.full(shape, np.sum(out))
        return impl
    if n == 2 and k == 2:
        def impl(x, shape):
            rows, cols = x.shape
            if rows == shape[0] and cols == shape[1]:
                return np.ascontiguousarray(x)
            out = np.zeros(shape)
            for i in range(rows):
                for j in range(cols):
                    out[i if shape[0] != 1 else 0, j if shape[1] != 1 else 0] += x[i, j]
            return out
        return impl
    _unsupported("unbroadcast", f"rank {n} -> {k}")


@overload(rt.reshape)
def _reshape(x, shape):
    if isinstance(x, types.Array) and x.layout == "C":
        return lambda x, shape: x.reshape(shape)
    return lambda x, shape: np.ascontiguousarray(x).reshape(shape)


@overload(rt.to_scalar)
def _to_scalar(x):
    if _rank(x) == 0:
        return lambda x: x
    return lambda x: np.sum(x)


@overload(rt.fresh)
def _fresh(x):
    if _rank(x) == 0:
        return lambda x: x
    return lambda x: np.ascontiguousarray(x).copy()


@overload(rt.cotangent)
def _cotangent(ct, shape):
    if _rank(ct) == 0:
        return lambda ct, shape: np.full(shape, ct)
    return lambda ct, shape: np.ascontiguousarray(ct).copy()


@overload(rt.broadcast_scalar)
def _broadcast_scalar(d, shape):
    return lambda d, shape: np.full(shape, d)


@overload(rt.expand_axis)
def _expand_axis(d, shape, axis):
    k = len(shape)
    if k == 1:
        return lambda d, shape, axis: np.full(shape, d)
    if k == 2:
        def impl(d, shape, axis):
            out = np.empty(shape)
            for i in range(shape[0]):
                for j in range(shape[1]):
                    out[i, j] = d[j] if axis == 0 else d[i]
            return out
        return impl
    _unsupported("expand_axis", f"rank {k}")


@overload(rt.expand_keep)
def _expand_keep(d, shape):
    k = len(shape)
    if k == 1:
        def impl(d, shape):
            return np.full(shape, d[0]) if d.shape[0] == 1 else np.ascontiguousarray(d)
        return impl
    if k == 2:
        def impl(d, shape):
            out = np.empty(shape)
            for i in range(shape[0]):
                for j in range(shape[1]):
                    out[i, j] = d[0 if d.shape[0] == 1 else i, 0 if d.shape[1] == 1 else j]
            return out
        return impl
    _unsupported("expand_keep", f"rank {k}")


def _reducer(name: str, keep: bool):
    combine = {
        "sum": lambda a, b: a + b, "mean": lambda a, b: a + b, "prod": lambda a, b: a * b,
        "max": lambda a, b: a if a >= b else b, "min": lambda a, b: a if a <= b else b,
    }[name]
    from numba import njit
    comb = njit(combine)
    mean = name == "mean"

    def typer(x, axis):
        n = _rank(x)
        if n == 1:
            def impl1(x, axis):
                acc = x[0]
                for i in range(1, x.shape[0]):
                    acc = comb(acc, x[i])
                if mean:
                    acc = acc / x.shape[0]
                if keep:
                    return np.full(1, acc)
                return acc
            return impl1
        if n == 2:
            def reduce2(x, axis):
                rows, cols = x.shape
                if axis == 0:
                    out = x[0, :].copy()
                    for i in range(1, rows):
                        for j in range(cols):
                            out[j] = comb(out[j], x[i, j])
                    return out / rows if mean else out
                out = x[:, 0].copy()
                for j in range(1, cols):
                    for i in range(rows):
                        out[i] = comb(out[i], x[i, j])
                return out / cols if mean else out
            reduce_rows = njit(reduce2)
            if keep:
                def keep2(x, axis):
                    out = reduce_rows(x, axis)
                    return out.reshape((1, out.shape[0])) if axis == 0 else out.reshape((out.shape[0], 1))
                return keep2
            return lambda x, axis: reduce_rows(x, axis)
        _unsupported(f"{name}_axis", f"rank {n}")
    return typer


for _name in ("sum", "mean", "prod", "max", "min"):
    overload(getattr(rt, f"{_name}_axis"))(_reducer(_name, False))
    overload(getattr(rt, f"{_name}_axis_keep"))(_reducer(_name, True))


@overload(rt.extremum_mask_all)
def _extremum_mask_all(x, r):
    def impl(x, r):
        mask = np.zeros(x.shape)
        flat = x.ravel()
        out = mask.ravel()
        for i in range(flat.shape[0]):
            if flat[i] == r:
                out[i] = 1.0
                break
        return out.reshape(x.shape)
    return impl


@overload(rt.extremum_mask_axis)
def _extremum_mask_axis(x, r_keep, axis):
    n = _rank(x)
    if n == 1:
        return lambda x, r_keep, axis: rt.extremum_mask_all(x, r_keep[0])
    if n == 2:
        def impl(x, r_keep, axis):
            rows, cols = x.shape
            mask = np.zeros(x.shape)
            if axis == 0:
                for j in range(cols):
                    for i in range(rows):
                        if x[i, j] == r_keep[0, j]:
                            mask[i, j] = 1.0
                            break
            else:
                for i in range(rows):
                    for j in range(cols):
                        if x[i, j] == r_keep[i, 0]:
                            mask[i, j] = 1.0
                            break
            return mask
        return impl
    _unsupported("extremum_mask_axis", f"rank {n}")


@overload(rt.prod_others)
def _prod_others(x, axis):
    n = _rank(x)

    def others_1d(v, out):
        acc = 1.0
        for i in range(v.shape[0]):
            out[i] = acc
            acc *= v[i]
        acc = 1.0
        for i in range(v.shape[0] - 1, -1, -1):
            out[i] *= acc
            acc *= v[i]

    others = __import__("numba").njit(others_1d)
    if isinstance(axis, types.NoneType) or axis is None:
        def impl_all(x, axis):
            flat = np.ascontiguousarray(x).ravel()
            out = np.empty(flat.shape[0])
            others(flat, out)
            return out.reshape(x.shape)
        return impl_all
    if n == 1:
        def impl1(x, axis):
            out = np.empty(x.shape[0])
            others(np.ascontiguousarray(x), out)
            return out
        return impl1
    if n == 2:
        def impl2(x, axis):
            rows, cols = x.shape
            out = np.empty((rows, cols))
            if axis == 0:
                for j in range(cols):
                    col = np.empty(rows)
                    others(np.ascontiguousarray(x[:, j]), col)
                    out[:, j] = col
            else:
                for i in range(rows):
                    row = np.empty(cols)
                    others(np.ascontiguousarray(x[i, :]), row)
                    out[i, :] = row
            return out
        return impl2
    _unsupported("prod_others", f"rank {n}")


@overload(rt.trip_count)
def _trip_count(start, stop, step):
    def impl(start, stop, step):
        if step > 0:
            return max(0, (stop - start + step - 1) // step)
        return max(0, (start - stop - step - 1) // (-step))
    return impl


@overload(rt.as_float_array)
def _as_float_array(x):
    return lambda x: x.astype(np.float64)
