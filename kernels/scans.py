"""Scans along one axis that generated programs call as `rt.<name>(x, axis)`.

`cumsum`/`cumprod` are NumPy's; `rcumsum` is the reverse cumulative sum (each element plus
everything after it along the axis); `cumprod_grad(x, d)` is, for y = cumprod(x), the vector
d_x_i = sum_{j >= i} d_j prod_{k <= j, k != i} x_k, computed in one backward sweep
(S_i = d_i + x_{i+1} S_{i+1}, d_x_i = y_{i-1} S_i) without dividing by x, so it is exact
where elements are zero; `cumprod_jvp(x, t)` is the tangent of cumprod(x) along t, by the
forward sweep dy_i = x_i dy_{i-1} + y_{i-1} t_i (also division-free). Its derivatives, for
second derivatives of cumprod and prod: `cumprod_jvp_grad(x, t, g)`, the gradient w.r.t. x of
<g, cumprod_jvp(x, t)> (reverse over forward: the tangent along t of cumprod_grad(x, g), one
forward and one backward sweep), and `cumprod_jvp2(x, t, u)`, the tangent along u of
cumprod_jvp(x, t) through x (forward over forward: ddy_i = x_i ddy_{i-1} + a_{i-1} u_i + b_{i-1}
t_i with a, b the tangents along t and u). All division-free. Plain NumPy here;
`kernels.numba_special` compiles the same sweeps for the cpu target.
"""
from __future__ import annotations

import numpy as np


def cumsum(x, axis):
    if x.dtype.kind in "iu":   # integers: int64, as NumPy (exact beyond 2**53)
        return np.cumsum(x.astype(np.int64), axis=axis)
    return np.cumsum(np.asarray(x, dtype=np.float64), axis=axis)


def cumprod(x, axis):
    if x.dtype.kind in "iu":
        return np.cumprod(x.astype(np.int64), axis=axis)
    return np.cumprod(np.asarray(x, dtype=np.float64), axis=axis)


def rcumsum(x, axis):
    """Reverse cumulative sum along `axis`."""
    x = np.asarray(x, dtype=np.float64)
    return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)


def rows_cumprod_grad(x, d):
    """cumprod_grad along the last axis of 2-D arrays (one scan per row)."""
    rows, n = x.shape
    out = np.zeros((rows, n))
    for r in range(rows):
        s = 0.0
        for i in range(n - 1, -1, -1):
            s = d[r, i] + (x[r, i + 1] * s if i + 1 < n else 0.0)
            out[r, i] = s
        y = 1.0
        for i in range(n):
            out[r, i] *= y
            y *= x[r, i]
    return out


def cumprod_grad(x, d, axis):
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    d = np.moveaxis(np.asarray(d, dtype=np.float64), axis, -1)
    shape = x.shape
    out = rows_cumprod_grad(x.reshape(-1, shape[-1]) if shape[-1] else x.reshape(0, 0),
                            d.reshape(-1, shape[-1]) if shape[-1] else d.reshape(0, 0))
    return np.moveaxis(out.reshape(shape), -1, axis)


def rows_cumprod_jvp(x, t):
    """cumprod_jvp along the last axis of 2-D arrays (one forward sweep per row)."""
    rows, n = x.shape
    out = np.zeros((rows, n))
    for r in range(rows):
        y, dy = 1.0, 0.0
        for i in range(n):
            dy = dy * x[r, i] + y * t[r, i]
            y *= x[r, i]
            out[r, i] = dy
    return out


def cumprod_jvp(x, t, axis):
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    t = np.moveaxis(np.broadcast_to(np.asarray(t, dtype=np.float64), np.shape(np.moveaxis(x, -1, axis))), axis, -1)
    shape = x.shape
    out = rows_cumprod_jvp(x.reshape(-1, shape[-1]) if shape[-1] else x.reshape(0, 0),
                           t.reshape(-1, shape[-1]) if shape[-1] else t.reshape(0, 0))
    return np.moveaxis(out.reshape(shape), -1, axis)


def rows_cumprod_jvp_grad(x, t, g):
    """cumprod_jvp_grad along the last axis of 2-D arrays: with y_{i-1}, a_{i-1} the exclusive
    cumprod and its tangent along t, S_i = g_i + x_{i+1} S_{i+1} (cumprod_grad's sweep) and
    dS_i = t_{i+1} S_{i+1} + x_{i+1} dS_{i+1}, the result is a_{i-1} S_i + y_{i-1} dS_i."""
    rows, n = x.shape
    out = np.zeros((rows, n))
    big_s, big_ds = np.zeros(n), np.zeros(n)
    for r in range(rows):
        s, ds = 0.0, 0.0
        for i in range(n - 1, -1, -1):
            if i + 1 < n:
                s, ds = g[r, i] + x[r, i + 1] * s, t[r, i + 1] * s + x[r, i + 1] * ds
            else:
                s, ds = g[r, i], 0.0
            big_s[i], big_ds[i] = s, ds
        y, a = 1.0, 0.0
        for i in range(n):
            out[r, i] = a * big_s[i] + y * big_ds[i]
            a = a * x[r, i] + y * t[r, i]
            y *= x[r, i]
    return out


def rows_cumprod_jvp2(x, t, u):
    """cumprod_jvp2 along the last axis of 2-D arrays (one forward sweep per row)."""
    rows, n = x.shape
    out = np.zeros((rows, n))
    for r in range(rows):
        y, a, b, c = 1.0, 0.0, 0.0, 0.0
        for i in range(n):
            c = c * x[r, i] + a * u[r, i] + b * t[r, i]
            a, b = a * x[r, i] + y * t[r, i], b * x[r, i] + y * u[r, i]
            y *= x[r, i]
            out[r, i] = c
    return out


def _three(rows_fn, x, t, g, axis):
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    full = np.shape(np.moveaxis(x, -1, axis))
    t = np.moveaxis(np.broadcast_to(np.asarray(t, dtype=np.float64), full), axis, -1)
    g = np.moveaxis(np.broadcast_to(np.asarray(g, dtype=np.float64), full), axis, -1)
    shape = x.shape
    flat = [a.reshape(-1, shape[-1]) if shape[-1] else a.reshape(0, 0) for a in (x, t, g)]
    return np.moveaxis(rows_fn(*flat).reshape(shape), -1, axis)


def cumprod_jvp_grad(x, t, g, axis):
    return _three(rows_cumprod_jvp_grad, x, t, g, axis)


def cumprod_jvp2(x, t, u, axis):
    return _three(rows_cumprod_jvp2, x, t, u, axis)
