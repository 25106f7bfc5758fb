"""Rank-4 values on the "cpu" target (#12 item 2 asks for ranks up to 3).

Primal programs over rank-4 arrays compile with Numba (NumPy's own operations). Reverse mode
reads `rt.*` runtime helpers (`rt.unbroadcast`, `rt.expand_axis`, `rt.expand_keep`, ...)
whose Numba implementations in `kernels/numba_runtime.py` are rank-specialised for ranks
<= 3; at rank 4 Numba's typing fails and the program runs on the NumPy tier of the same
source. That fallback is explicit: a warning naming the program, and the values are NumPy's.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import coarsen


def scaled_rank4(x):
    return np.reshape(x, (2, 2, 2, 2)) * 2.0


def rank4_energy(x):
    y = np.reshape(x, (2, 3, 2, 2)) * 2.0
    return np.sum(y ** 2)


def test_rank4_primal_compiles_on_cpu_without_falling_back():
    x = np.arange(16.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a fallback would warn
        out = coarsen.jit(scaled_rank4, target="cpu")(x)
    np.testing.assert_array_equal(out, scaled_rank4(x))


def test_rank4_gradient_on_cpu_falls_back_to_numpy_with_a_warning_and_right_values():
    x = np.linspace(-1.0, 1.0, 24)
    with pytest.warns(RuntimeWarning, match="target 'cpu' cannot compile drank4_energy.*running it with the 'numpy'"):
        g = coarsen.grad(rank4_energy, target="cpu")(x)
    np.testing.assert_allclose(g, 8.0 * x, rtol=1e-14)
    np.testing.assert_allclose(coarsen.grad(rank4_energy, target="numpy")(x), 8.0 * x, rtol=1e-14)
