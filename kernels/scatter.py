"""Element writes through integer index arrays (NumPy's advanced-indexing assignment), on
NumPy arrays; `kernels.numba_scatter` gives the same functions Numba implementations.

`put(x, v, i0)` is `x[i0] = v` in place, `put2`/`put3` with two or three index arrays on x's
leading axes (`x[i0, i1] = v`). The index arrays broadcast together to a shape S (any rank);
`v` has shape S + x.shape[k:] (the caller broadcast it). A repeated index is written by its
*last* occurrence, which is what NumPy does (explicitly here: the surviving occurrences are
chosen, so the result is the same on every array library). `add_at` is `np.add.at(x, (i0, ...),
v)`: repeated indices accumulate. `put_grad` is the adjoint of `put`: it returns the adjoint of
`v` (the result adjoint at the positions each surviving occurrence wrote, zero for an
overwritten one) and zeroes those positions of the result adjoint `d` in place (they did not
come from x). Negative indices count from the end; the caller checked the range.
"""
from __future__ import annotations

import numpy as np


def _flat(idx, shape):
    """The index arrays broadcast together, made non-negative and flattened; and their shape."""
    arrays = np.broadcast_arrays(*idx)
    return arrays[0].shape, [np.where(i < 0, i + n, i).ravel() for i, n in zip(arrays, shape)]


def _survivors(flat, shape):
    """Positions k whose index is not written again later (the last occurrence of each)."""
    lin = np.ravel_multi_index(tuple(flat), shape[:len(flat)]) if len(flat) > 1 else flat[0]
    _, first = np.unique(lin[::-1], return_index=True)
    return lin.shape[0] - 1 - first


def _put(x, v, idx):
    s, flat = _flat(idx, x.shape)
    rest = x.shape[len(idx):]
    v = np.broadcast_to(v, s + rest).reshape((-1,) + rest)
    keep = _survivors(flat, x.shape)
    x[tuple(f[keep] for f in flat)] = v[keep]


def _add_at(x, v, idx):
    s, flat = _flat(idx, x.shape)
    rest = x.shape[len(idx):]
    np.add.at(x, tuple(flat), np.broadcast_to(v, s + rest).reshape((-1,) + rest))


def _put_grad(d, idx):
    s, flat = _flat(idx, d.shape)
    rest = d.shape[len(idx):]
    keep = _survivors(flat, d.shape)
    dv = np.zeros((flat[0].shape[0],) + rest)
    dv[keep] = d[tuple(f[keep] for f in flat)]
    d[tuple(flat)] = 0.0
    return dv.reshape(s + rest)


def put(x, v, i0):
    _put(x, v, (i0,))


def put2(x, v, i0, i1):
    _put(x, v, (i0, i1))


def put3(x, v, i0, i1, i2):
    _put(x, v, (i0, i1, i2))


def add_at(x, v, i0):
    _add_at(x, v, (i0,))


def add_at2(x, v, i0, i1):
    _add_at(x, v, (i0, i1))


def add_at3(x, v, i0, i1, i2):
    _add_at(x, v, (i0, i1, i2))


def put_grad(d, i0):
    return _put_grad(d, (i0,))


def put_grad2(d, i0, i1):
    return _put_grad(d, (i0, i1))


def put_grad3(d, i0, i1, i2):
    return _put_grad(d, (i0, i1, i2))
