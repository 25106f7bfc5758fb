"""Integer inputs are computed as NumPy computes them, on every target and by every transform:
int64 throughout (exact beyond 2**53, wrapping on overflow), `//` and `%` with Python's signs;
reductions and scans of integer arrays stay int64; what would be computed in float64 instead
(a product of two integer arrays) is refused at the user's line, and uint64 values beyond
int64 are refused at the call."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen

BIG = 2**53 + 1   # the first integer float64 cannot hold
TARGETS = ["numpy", "cpu"]


def total(n):
    return np.sum(n * 3)


def spread(n):
    return np.max(n) - np.min(n) + np.prod(n[1:])


def running(n):
    return np.cumsum(n)


def running_product(n):
    return np.cumprod(n, axis=1)


def per_row(n):
    return np.sum(n, axis=1)


def floors(k):
    return k // 3 + k % 3 + (-k) // 3 + (-k) % 3


def weighted(w, n):   # floats times integers: float64, as NumPy
    return np.sum(w * n) + w[0] * float(np.sum(n) - np.sum(n[1:]))


def exact_difference(w, n):
    return w * (np.sum(n) - np.sum(n[1:]) - n[0] + 1)   # 1 exactly; float64 sums would give 0 or 2


def largest(n):
    return np.max(n)


def int_product(n):
    return n @ n


N = np.array([BIG, 2, -7, 3], dtype=np.int64)
M = np.array([[BIG, 3, 1], [2, -1, 5]], dtype=np.int64)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn, args", [(total, (N,)), (spread, (N,)), (running, (N,)), (running_product, (M,)),
                                      (per_row, (M,)), (floors, (-BIG,)), (floors, (7,)),
                                      (spread, (np.array([2**40, 2**40, 2**40]),))])
def test_integer_programs_compute_as_numpy(target, fn, args):
    with np.errstate(over="ignore"):
        expected = fn(*args)
    got = coarsen.jit(fn, target=target)(*args)
    assert np.asarray(got).dtype.kind == "i", (fn.__name__, got)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("target", TARGETS)
def test_jit_and_value_and_grad_agree_on_integer_data(target):
    w = np.array([1.0, 0.5, 2.0, -1.0])
    for fn in (weighted, exact_difference):
        expected = fn(w, N) if fn is weighted else fn(1.5, N)
        args = (w, N) if fn is weighted else (1.5, N)
        assert coarsen.jit(fn, target=target)(*args) == expected
        value, _ = coarsen.value_and_grad(fn, target=target)(*args)
        assert value == expected
    assert coarsen.grad(exact_difference, target=target)(1.5, N) == 1.0


@pytest.mark.parametrize("target", TARGETS)
def test_what_would_round_or_wrap_is_refused(target):
    with pytest.raises(coarsen.UnsupportedError, match=r"test_never_wrong_ints.py:\d+.*astype\(float\)"):
        coarsen.jit(int_product, target=target)(N)
    assert coarsen.jit(int_product, target=target)(N.astype(float)) == pytest.approx(N.astype(float) @ N.astype(float))
    with pytest.raises(OverflowError, match="uint64"):
        coarsen.jit(largest, target=target)(np.array([2**63 + 5, 1], dtype=np.uint64))
    assert coarsen.jit(largest, target=target)(np.array([2**63 - 5, 1], dtype=np.uint64)) == 2**63 - 5
    with pytest.raises(coarsen.UnsupportedError, match="uint64"):   # NumPy: uint64 arithmetic (test_never_wrong_narrow)
        coarsen.jit(total, target=target)(np.array([5, 1], dtype=np.uint64))
    np.testing.assert_array_equal(coarsen.jit(total, target=target)(np.array([5, 1], dtype=np.int64)), 18)


ZERO_D = np.array(2**53 + 1)   # a 0-d integer array at module level


def reads_zero_d(k):
    return ZERO_D - k


@pytest.mark.parametrize("target", TARGETS)
def test_a_zero_d_integer_global_stays_an_integer(target):
    assert coarsen.jit(reads_zero_d, target=target)(2**53) == 1   # float64 made it 0


def scaled_int(x):
    return 2.0 * int(x)


@pytest.mark.parametrize("target", TARGETS)
def test_int_of_nan_inf_or_beyond_int64_raises_on_every_target(target):
    """Numba's int() returned -2**63 for NaN, inf and 1e30, where Python raises."""
    j = coarsen.jit(scaled_int, target=target)
    assert j(-2.7) == -4.0
    with pytest.raises(ValueError):
        j(float("nan"))
    for big in (float("inf"), -float("inf"), 1e30):
        with pytest.raises(OverflowError):
            j(big)
