"""Array utilities that generated programs call (NumPy target).

Plain array functions: nothing here knows about differentiation. Each is small and has the
same signature in every target module, so generated code reads the same everywhere.
"""
from __future__ import annotations

import numpy as np


def unbroadcast(x, shape):
    """Sum `x` down to `shape` (the inverse of NumPy broadcasting)."""
    x = np.asarray(x)
    if x.shape == tuple(shape):
        return x
    if len(shape) == 0:
        return x.sum()
    lead = x.ndim - len(shape)
    if lead:
        x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def to_scalar(x) -> float:
    """The total of an array (a scalar's adjoint from an elementwise use)."""
    return float(np.sum(x))


def expand(x, shape, axis, keepdims):
    """Broadcast a reduction's result (or its adjoint) back to the reduced array's shape."""
    if axis is not None and not keepdims:
        x = np.expand_dims(x, axis)
    return np.broadcast_to(x, shape)


def first_extremum_mask(x, r, axis, keepdims):
    """1.0 at the first position along `axis` where x equals the reduction r, else 0.0."""
    if axis is None:
        mask = np.zeros(x.shape)
        mask.flat[int(np.argmax(x.ravel() == r))] = 1.0
        return mask
    full = expand(r, x.shape, axis, keepdims)
    hit = x == full
    first = np.argmax(hit, axis=axis)
    mask = np.zeros(x.shape)
    np.put_along_axis(mask, np.expand_dims(first, axis), 1.0, axis=axis)
    return mask


def trip_count(start: int, stop: int, step: int) -> int:
    """len(range(start, stop, step))."""
    return len(range(start, stop, step))


def zeros_like(x):
    return np.zeros(np.shape(x))
