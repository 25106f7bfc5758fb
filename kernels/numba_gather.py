"""Numba implementations of the gathers `rt.take*` and their scatter-add adjoints
`rt.take_add*` (`kernels.runtime`), and of the writes through index arrays `rt.put*`,
`rt.add_at*`, `rt.put_grad*` (`kernels.scatter`), for arrays of any rank: the loops run over
the index arrays, and the rest of each row moves as a sub-array. Index arrays of rank > 1 are
broadcast together and flattened (the result is reshaped to their shape). Indices were checked
by the caller (`rt.out_of_range`); negative ones count from the end."""
from __future__ import annotations

import functools

import numpy as np
from numba import njit
from numba.extending import overload

from kernels import runtime as rt

cached_overload = functools.partial(overload, jit_options={"cache": True})


@cached_overload(rt.out_of_range)
def _out_of_range(i, n):
    def impl(i, n):
        for j in i.ravel():
            if j < -n or j >= n:
                return True
        return False
    return impl


@njit(cache=True)
def _flat2(i0, i1):
    s = np.broadcast_shapes(i0.shape, i1.shape)
    return np.broadcast_to(i0, s).ravel(), np.broadcast_to(i1, s).ravel(), s


@njit(cache=True)
def _flat3(i0, i1, i2):
    s = np.broadcast_shapes(i0.shape, i1.shape, i2.shape)
    return np.broadcast_to(i0, s).ravel(), np.broadcast_to(i1, s).ravel(), np.broadcast_to(i2, s).ravel(), s


@njit(cache=True)
def _wrap(j, n):
    return j + n if j < 0 else j


@cached_overload(rt.take)
def _take(x, i0):
    if i0.ndim > 1:
        def impl_nd(x, i0):
            return rt.take(x, i0.ravel()).reshape(i0.shape + x.shape[1:])
        return impl_nd

    if x.ndim == 2:
        def impl2(x, i0):   # rows element by element: no sub-array per row
            n0, m = x.shape[0], x.shape[1]
            out = np.empty((i0.shape[0], m), x.dtype)
            for k in range(i0.shape[0]):
                j = i0[k]
                j = j + n0 if j < 0 else j
                for c in range(m):
                    out[k, c] = x[j, c]
            return out
        return impl2

    def impl(x, i0):
        n0 = x.shape[0]
        out = np.empty((i0.shape[0],) + x.shape[1:], x.dtype)
        for k in range(i0.shape[0]):
            j = i0[k]
            out[k] = x[j + n0 if j < 0 else j]
        return out
    return impl


@cached_overload(rt.take2)
def _take2(x, i0, i1):
    if i0.ndim > 1 or i1.ndim > 1:
        def impl_nd(x, i0, i1):
            a, b, s = _flat2(i0, i1)
            return rt.take2(x, a, b).reshape(s + x.shape[2:])
        return impl_nd

    def impl(x, i0, i1):
        n0, n1 = x.shape[0], x.shape[1]
        m0, m1 = i0.shape[0], i1.shape[0]
        length = m0 if m0 == m1 or m1 == 1 else (m1 if m0 == 1 else -1)
        if length < 0:
            raise IndexError("shape mismatch: index arrays could not be broadcast together")
        out = np.empty((length,) + x.shape[2:], x.dtype)
        for k in range(length):
            a = i0[k if m0 > 1 else 0]
            b = i1[k if m1 > 1 else 0]
            out[k] = x[a + n0 if a < 0 else a, b + n1 if b < 0 else b]
        return out
    return impl


@cached_overload(rt.take3)
def _take3(x, i0, i1, i2):
    if i0.ndim > 1 or i1.ndim > 1 or i2.ndim > 1:
        def impl_nd(x, i0, i1, i2):
            a, b, c, s = _flat3(i0, i1, i2)
            return rt.take3(x, a, b, c).reshape(s + x.shape[3:])
        return impl_nd

    def impl(x, i0, i1, i2):
        n0, n1, n2 = x.shape[0], x.shape[1], x.shape[2]
        length = max(i0.shape[0], i1.shape[0], i2.shape[0])
        for m in (i0.shape[0], i1.shape[0], i2.shape[0]):
            if m != length and m != 1:
                raise IndexError("shape mismatch: index arrays could not be broadcast together")
        out = np.empty((length,) + x.shape[3:], x.dtype)
        for k in range(length):
            a = i0[k if i0.shape[0] > 1 else 0]
            b = i1[k if i1.shape[0] > 1 else 0]
            c = i2[k if i2.shape[0] > 1 else 0]
            out[k] = x[a + n0 if a < 0 else a, b + n1 if b < 0 else b, c + n2 if c < 0 else c]
        return out
    return impl


@cached_overload(rt.take_add)
def _take_add(d, g, i0):
    if i0.ndim > 1:
        def impl_nd(d, g, i0):
            a = i0.ravel()
            rt.take_add(d, np.ascontiguousarray(g).reshape((a.shape[0],) + d.shape[1:]), a)
        return impl_nd

    if d.ndim == 2 and g.ndim == 2:
        def impl2(d, g, i0):   # element by element: `d[j] + g[k]` made a new row per index
            n0, m = d.shape[0], d.shape[1]
            if g.shape[1] != m or g.shape[0] != i0.shape[0]:
                for k in range(i0.shape[0]):   # broadcasting rows: as the general case
                    j = i0[k]
                    j = j + n0 if j < 0 else j
                    d[j] = d[j] + g[k]
                return
            for k in range(i0.shape[0]):
                j = i0[k]
                j = j + n0 if j < 0 else j
                for c in range(m):
                    d[j, c] = d[j, c] + g[k, c]
        return impl2

    def impl(d, g, i0):
        n0 = d.shape[0]
        for k in range(i0.shape[0]):
            j = i0[k]
            j = j + n0 if j < 0 else j
            d[j] = d[j] + g[k]
    return impl


@cached_overload(rt.take_add2)
def _take_add2(d, g, i0, i1):
    if i0.ndim > 1 or i1.ndim > 1:
        def impl_nd(d, g, i0, i1):
            a, b, s = _flat2(i0, i1)
            rt.take_add2(d, np.ascontiguousarray(g).reshape((a.shape[0],) + d.shape[2:]), a, b)
        return impl_nd

    def impl(d, g, i0, i1):
        n0, n1 = d.shape[0], d.shape[1]
        m0, m1 = i0.shape[0], i1.shape[0]
        for k in range(g.shape[0]):
            a = i0[k if m0 > 1 else 0]
            b = i1[k if m1 > 1 else 0]
            a = a + n0 if a < 0 else a
            b = b + n1 if b < 0 else b
            d[a, b] = d[a, b] + g[k]
    return impl


@cached_overload(rt.take_add3)
def _take_add3(d, g, i0, i1, i2):
    if i0.ndim > 1 or i1.ndim > 1 or i2.ndim > 1:
        def impl_nd(d, g, i0, i1, i2):
            a, b, c, s = _flat3(i0, i1, i2)
            rt.take_add3(d, np.ascontiguousarray(g).reshape((a.shape[0],) + d.shape[3:]), a, b, c)
        return impl_nd

    def impl(d, g, i0, i1, i2):
        n0, n1, n2 = d.shape[0], d.shape[1], d.shape[2]
        for k in range(g.shape[0]):
            a = i0[k if i0.shape[0] > 1 else 0]
            b = i1[k if i1.shape[0] > 1 else 0]
            c = i2[k if i2.shape[0] > 1 else 0]
            a = a + n0 if a < 0 else a
            b = b + n1 if b < 0 else b
            c = c + n2 if c < 0 else c
            d[a, b, c] = d[a, b, c] + g[k]
    return impl


# ------------------------------------------------------------------ writes (kernels.scatter)
# put: sequential, so a repeated index keeps its last value (NumPy's result); add_at
# accumulates; put_grad walks backwards and gives each position's adjoint to its last writer.
@cached_overload(rt.put)
def _put(x, v, i0):
    def impl(x, v, i0):
        a = i0.ravel()
        n0 = x.shape[0]
        w = np.ascontiguousarray(v).reshape((a.shape[0],) + x.shape[1:])
        for k in range(a.shape[0]):
            x[_wrap(a[k], n0)] = w[k]
    return impl


@cached_overload(rt.put2)
def _put2(x, v, i0, i1):
    def impl(x, v, i0, i1):
        a, b, s = _flat2(i0, i1)
        n0, n1 = x.shape[0], x.shape[1]
        w = np.ascontiguousarray(v).reshape((a.shape[0],) + x.shape[2:])
        for k in range(a.shape[0]):
            x[_wrap(a[k], n0), _wrap(b[k], n1)] = w[k]
    return impl


@cached_overload(rt.put3)
def _put3(x, v, i0, i1, i2):
    def impl(x, v, i0, i1, i2):
        a, b, c, s = _flat3(i0, i1, i2)
        n0, n1, n2 = x.shape[0], x.shape[1], x.shape[2]
        w = np.ascontiguousarray(v).reshape((a.shape[0],) + x.shape[3:])
        for k in range(a.shape[0]):
            x[_wrap(a[k], n0), _wrap(b[k], n1), _wrap(c[k], n2)] = w[k]
    return impl


@cached_overload(rt.add_at)
def _add_at(x, v, i0):
    def impl(x, v, i0):
        a = i0.ravel()
        n0 = x.shape[0]
        w = np.ascontiguousarray(v).reshape((a.shape[0],) + x.shape[1:])
        for k in range(a.shape[0]):
            j = _wrap(a[k], n0)
            x[j] = x[j] + w[k]
    return impl


@cached_overload(rt.add_at2)
def _add_at2(x, v, i0, i1):
    def impl(x, v, i0, i1):
        a, b, s = _flat2(i0, i1)
        n0, n1 = x.shape[0], x.shape[1]
        w = np.ascontiguousarray(v).reshape((a.shape[0],) + x.shape[2:])
        for k in range(a.shape[0]):
            j0, j1 = _wrap(a[k], n0), _wrap(b[k], n1)
            x[j0, j1] = x[j0, j1] + w[k]
    return impl


@cached_overload(rt.add_at3)
def _add_at3(x, v, i0, i1, i2):
    def impl(x, v, i0, i1, i2):
        a, b, c, s = _flat3(i0, i1, i2)
        n0, n1, n2 = x.shape[0], x.shape[1], x.shape[2]
        w = np.ascontiguousarray(v).reshape((a.shape[0],) + x.shape[3:])
        for k in range(a.shape[0]):
            j0, j1, j2 = _wrap(a[k], n0), _wrap(b[k], n1), _wrap(c[k], n2)
            x[j0, j1, j2] = x[j0, j1, j2] + w[k]
    return impl


@cached_overload(rt.put_grad)
def _put_grad(d, i0):
    def impl(d, i0):
        a = i0.ravel()
        n0 = d.shape[0]
        dv = np.zeros((a.shape[0],) + d.shape[1:])
        done = np.zeros(n0, np.bool_)
        for k in range(a.shape[0] - 1, -1, -1):
            j = _wrap(a[k], n0)
            if not done[j]:
                dv[k] = d[j]
                done[j] = True
        for k in range(a.shape[0]):
            d[_wrap(a[k], n0)] = 0.0
        return dv.reshape(i0.shape + d.shape[1:])
    return impl


@cached_overload(rt.put_grad2)
def _put_grad2(d, i0, i1):
    def impl(d, i0, i1):
        a, b, s = _flat2(i0, i1)
        n0, n1 = d.shape[0], d.shape[1]
        dv = np.zeros((a.shape[0],) + d.shape[2:])
        done = np.zeros((n0, n1), np.bool_)
        for k in range(a.shape[0] - 1, -1, -1):
            j0, j1 = _wrap(a[k], n0), _wrap(b[k], n1)
            if not done[j0, j1]:
                dv[k] = d[j0, j1]
                done[j0, j1] = True
        for k in range(a.shape[0]):
            d[_wrap(a[k], n0), _wrap(b[k], n1)] = 0.0
        return dv.reshape(s + d.shape[2:])
    return impl


@cached_overload(rt.put_grad3)
def _put_grad3(d, i0, i1, i2):
    def impl(d, i0, i1, i2):
        a, b, c, s = _flat3(i0, i1, i2)
        n0, n1, n2 = d.shape[0], d.shape[1], d.shape[2]
        dv = np.zeros((a.shape[0],) + d.shape[3:])
        done = np.zeros((n0, n1, n2), np.bool_)
        for k in range(a.shape[0] - 1, -1, -1):
            j0, j1, j2 = _wrap(a[k], n0), _wrap(b[k], n1), _wrap(c[k], n2)
            if not done[j0, j1, j2]:
                dv[k] = d[j0, j1, j2]
                done[j0, j1, j2] = True
        for k in range(a.shape[0]):
            d[_wrap(a[k], n0), _wrap(b[k], n1), _wrap(c[k], n2)] = 0.0
        return dv.reshape(s + d.shape[3:])
    return impl
