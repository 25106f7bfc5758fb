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
                                    (P.rows_from_other_rows, X), (P.swap_names, X),
                                    (P.swap_with_identity_product, X), (P.identity_product_then_write, X),
                                    (P.identity_quotient_in_loop, X)])
def test_what_numpy_swaps_still_compiles(fn, arg, target):
    """Also `x * 1.0` of a view, which SymPy's segment makes the bare name of the view: it is
    a new array in NumPy, and a later write into the view's base must not change it (the
    in-place analysis now counts such an alias as the view's buffer; red team round 5, G6)."""
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


@pytest.mark.parametrize("machine_code", [True, False])
def test_zero_d_array_arguments_are_their_elements(monkeypatch, machine_code):
    """A 0-d array argument reached Numba as an array (same signature as a float), so `//`
    compiled as array floor division: np.array(1.0) // 0.1 gave 10.0 (NumPy 9.0), -1.5 // 0.3
    -5.0 (NumPy -6.0), and `if flag:` of np.array(False) failed to compile after a call with
    a bool; a 0-d int array was typed float (red team round 5, G3/G4)."""
    if machine_code:
        monkeypatch.setenv("COARSEN_TIERED", "0")
        monkeypatch.setenv("COARSEN_ADAPTIVE", "0")
    cases = [(P.floordiv, (np.array(1.0), 0.1)), (P.floordiv, (np.array(-1.5), 0.3)),
             (P.remainder, (np.array(5.0), -0.5)), (P.floordiv, (1.0, 0.1)),
             (P.branch_on_flag, (True, 1.0)), (P.branch_on_flag, (np.array(False), 1.0)),
             (P.branch_on_flag, (np.array(2.0), 1.0)), (P.count_down, (np.array(5), 0.5)),
             (P.count_down, (5, 0.5))]
    for fn, args in cases:
        f = coarsen.jit(fn, target="cpu")
        want = fn(*args)
        for _ in range(12):   # past the tiered start: the machine code answers too
            got = f(*args)
            assert got == want and np.signbit(got) == np.signbit(want), (fn.__name__, args, got, want)
    g = coarsen.grad(P.count_down, argnums=1, target="cpu")(np.array(5), 0.5)
    assert g == 10.0


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_joined_ints_and_bools_keep_numpys_dtype_and_values(target):
    """concatenate/stack/hstack/vstack/take/atleast_1d computed int64 arrays in float64 (2**60 + 1
    came back 2**60, as float64) and returned float64 where NumPy returns int64; bool arrays
    came back as 0.0/1.0 (red team round 5 follow-up of F29)."""
    i = np.array([P.BIG, 2, 3])
    j = np.array([P.BIG + 2, 5, 6])
    b = np.array([True, False, True])
    x = np.array([0.5, 1.5, 2.5])
    for fn, args in ((P.joined_ints, (i, j)), (P.joined_bools, (b, ~b)), (P.joined_mixed, (i, b, x))):
        for got, want in zip(coarsen.jit(fn, target=target)(*args), fn(*args)):
            assert got.dtype == want.dtype and np.array_equal(got, want), (fn.__name__, got, want)


def test_cumsum_starts_from_the_first_element_in_machine_code(monkeypatch):
    """NumPy's cumsum starts from x[0]; the cpu scan started from 0.0, so a leading -0.0 came
    back 0.0 (red team round 5, M1)."""
    monkeypatch.setenv("COARSEN_TIERED", "0")
    monkeypatch.setenv("COARSEN_ADAPTIVE", "0")
    x = np.array([-0.0, 0.0, -0.0, 1.0])
    X = np.array([[-0.0, -0.0], [2.0, -0.0]])
    for got, want in zip(coarsen.jit(P.running_sums, target="cpu")(x, X), P.running_sums(x, X)):
        assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))
