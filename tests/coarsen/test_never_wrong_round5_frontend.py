"""Red team round 5, frontend: tuple stores whose right side holds views of what they write.

`Y[0], Y[1] = Y[1], Y[0]` is not a swap in NumPy: the right side is two views of Y, and the
first store changes the row the second one copies. coarsen's value semantics swapped (a
silently different result and gradient): now refused at the user's line with the fix. What
NumPy does swap (scalars, copies, disjoint rows, names) still compiles and agrees.
"""
from __future__ import annotations

import numpy as np
import pytest

import coarsen
import round5_frontend_programs as P

X = np.arange(12.0).reshape(4, 3) * 0.5 - 1.0


@pytest.mark.parametrize("fn,arg", [(P.swap_rows, X), (P.swap_slices, np.arange(1.0, 5.0)),
                                    (P.swap_columns, X)])
def test_a_store_that_changes_a_view_still_to_be_stored_is_refused(fn, arg):
    with pytest.raises(coarsen.UnsupportedError, match="not a swap") as err:
        coarsen.jit(fn, target="numpy")(arg)
    assert "round5_frontend_programs.py" in str(err.value) and ".copy()" in str(err.value)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("fn,arg", [(P.swap_rows_copied, X), (P.swap_elements, np.array([0.5, -1.0, 2.0])),
                                    (P.rows_from_other_rows, X), (P.swap_names, X)])
def test_what_numpy_swaps_still_compiles(fn, arg, target):
    np.testing.assert_array_equal(coarsen.jit(fn, target=target)(arg), fn(arg))
    w = np.linspace(0.5, 1.5, fn(arg).size).reshape(fn(arg).shape)
    loss = weighted(fn, w)
    g = coarsen.grad(loss, target=target)(arg)
    eps = 1e-6
    fd = np.zeros_like(arg)
    for i in range(arg.size):
        e = np.zeros_like(arg)
        e.flat[i] = eps
        fd.flat[i] = (loss(arg + e) - loss(arg - e)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def weighted(fn, w):
    def loss(a):
        return np.sum(fn(a) * w)
    return loss
