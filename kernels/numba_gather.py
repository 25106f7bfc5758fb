"""Numba implementations of the gathers `rt.take*` and their scatter-add adjoints
`rt.take_add*` (`kernels.runtime`), for arrays of any rank: the loops run over the index
arrays, and the rest of each row moves as a sub-array. Indices were checked by the caller
(`rt.out_of_range`); negative ones count from the end."""
from __future__ import annotations

import functools

import numpy as np
from numba.extending import overload

from kernels import runtime as rt

cached_overload = functools.partial(overload, jit_options={"cache": True})


@cached_overload(rt.out_of_range)
def _out_of_range(i, n):
    def impl(i, n):
        for k in range(i.shape[0]):
            if i[k] < -n or i[k] >= n:
                return True
        return False
    return impl


@cached_overload(rt.take)
def _take(x, i0):
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
    def impl(d, g, i0):
        n0 = d.shape[0]
        for k in range(i0.shape[0]):
            j = i0[k]
            j = j + n0 if j < 0 else j
            d[j] = d[j] + g[k]
    return impl


@cached_overload(rt.take_add2)
def _take_add2(d, g, i0, i1):
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
