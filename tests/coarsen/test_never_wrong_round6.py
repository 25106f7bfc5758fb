"""Round 6 of the red team's findings (each failed before its fix): values are what the program
computes, operation for operation, where SymPy or a "numerically stable" rewrite would compute
something else (more accurate, but not NumPy's number), and vmap keeps integer dtypes.

- H1: `np.log(x + 1.0)` was emitted as log1p, `np.exp(x) - 1.0` as expm1, `np.log(np.exp(x) +
  1.0)` as softplus, `np.log(np.exp(a) + np.exp(b))` as a + softplus(b - a) (NaN at a = b = -inf);
- H2: np.logaddexp(-inf, -inf) was NaN (NumPy: -inf);
- H3: `np.floor(u + 1.0)` was floor(u) + 1 (SymPy takes the integer out): 0.0 at u = -1e-17;
- H5: vmap returned int64 results (argmax, count_nonzero) as float64;
- H6: `1.0 / np.exp(x)` was exp(-x) (one rounding fewer: 4.4e-309 where NumPy gives 0.0).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special

import coarsen

TARGETS = ("numpy", "cpu")


def log_one_plus(x):
    return np.log(x + 1.0) + np.log(1.0 + x * 2.0)


def exp_minus_one(x):
    return (np.exp(x) - 1.0) * 3.0 + (1.0 - np.exp(-x))


def softplus_naive(x):
    return np.log(np.exp(x) + 1.0) + np.log(1.0 + np.exp(-x))


def log_sum_exp_two(a, b):
    return np.log(np.exp(a) + np.exp(b))


def log_add_exp(a, b):
    return np.logaddexp(a, b)


def floor_shifted(x):
    return np.floor(x + 1.0) + np.ceil(x - 2.0) * 10.0 + np.floor(np.floor(x) + x) * 100.0


def bin_index(x):
    return np.floor(x * 10.0 + 5.0)


def scalar_floor(x):
    return math.floor(x + 1.0) + math.ceil(x - 3.0)


def reciprocal_exp(x):
    return 1.0 / np.exp(x) + 2.0 / np.exp(x * 0.5) ** 2


X = np.array([1e-17, -1e-17, 1e-10, -3e-9, 0.5, 40.0, -40.0, 700.0, 710.0, -710.0, -300.3,
              np.inf, -np.inf, np.nan, 0.0, -0.0, 2e-16])


def _same(got, want, target="numpy"):
    """Bit for bit on numpy; on cpu within an ulp or two (Numba's exp/log are libm's, NumPy's
    its own SIMD ones), with no absolute slack: 1e-17 against 0.0 still fails."""
    if target == "numpy":
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    else:
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=5e-16, atol=0.0)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f", [log_one_plus, exp_minus_one, softplus_naive, floor_shifted, bin_index,
                               reciprocal_exp], ids=lambda f: f.__name__)
def test_values_are_numpys_to_the_bit(f, target):
    with np.errstate(all="ignore"):
        want = f(X)
        got = coarsen.jit(f, target=target)(X)
    _same(got, want, target)


@pytest.mark.parametrize("target", TARGETS)
def test_scalar_floor_of_a_shifted_value(target):
    for x in (-1e-17, 1e-17, 2.5, -2.5, 1e-300):
        assert coarsen.jit(scalar_floor, target=target)(x) == scalar_floor(x)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f", [log_sum_exp_two, log_add_exp], ids=lambda f: f.__name__)
def test_two_term_log_sum_exp_at_infinities_and_ties(f, target):
    a = np.array([-np.inf, np.inf, -np.inf, 3.0, 1000.0, -1000.0, 0.0, 2.0, np.nan])
    b = np.array([-np.inf, np.inf, 0.0, 3.0, 1000.0, -1000.0, -np.inf, 1.0, 0.0])
    with np.errstate(all="ignore"):
        _same(coarsen.jit(f, target=target)(a, b), f(a, b), target)


@pytest.mark.parametrize("target", TARGETS)
def test_logaddexp_derivative_at_a_tie_is_torchs(target):
    def f(a, b):
        return np.sum(np.logaddexp(a, b) * np.arange(1.0, 4.0))

    a, b = np.array([0.5, -2.0, 3.0]), np.array([0.5, 1.0, 3.0])
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    (torch.logaddexp(ta, tb) * torch.arange(1.0, 4.0, dtype=torch.float64)).sum().backward()
    ga, gb = coarsen.grad(f, argnums=(0, 1), target=target)(a, b)
    np.testing.assert_allclose(ga, ta.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-14)


@pytest.mark.parametrize("target", TARGETS)
def test_derivatives_of_the_written_forms_match_torch(target):
    def f(x):
        return np.sum(np.log(x + 1.0) + np.log(np.exp(x) + 1.0) + 1.0 / np.exp(x) + (np.exp(x) - 1.0))

    x = np.array([0.3, -0.2, 2.0, 1e-9])
    t = torch.tensor(x, requires_grad=True)
    torch.sum(torch.log(t + 1.0) + torch.log(torch.exp(t) + 1.0) + 1.0 / torch.exp(t) + (torch.exp(t) - 1.0)).backward()
    np.testing.assert_allclose(coarsen.grad(f, target=target)(x), t.grad.numpy(), rtol=1e-13)


@pytest.mark.parametrize("target", TARGETS)
def test_vmap_keeps_integer_results_integer(target):
    def arg(x):
        return np.argmax(x)

    def counted(x):
        return np.count_nonzero(x > 0.0), np.max(x)

    batch = np.array([[0.1, 0.9, 0.3], [2.0, -1.0, 0.5]])
    got = coarsen.vmap(arg, target=target)(batch)
    assert got.dtype == np.int64 and got.tolist() == [1, 0]
    counts, tops = coarsen.vmap(counted, target=target)(batch)
    assert counts.dtype == np.int64 and counts.tolist() == [3, 2]
    assert tops.dtype == np.float64 and tops.tolist() == [0.9, 2.0]


def softmaxes(x):
    return special.softmax(x), special.log_softmax(x)


@pytest.mark.parametrize("target", TARGETS)
def test_softmax_of_infinities_is_scipys(target):
    """H8: SciPy's softmax subtracts the plain max, so an inf makes the slice NaN; log_softmax
    subtracts the finite max."""
    for x in ([0.0, np.inf], [-np.inf, -np.inf], [1.0, -np.inf], [3.0, 1.0, 2.0], [np.inf, np.inf]):
        x = np.array(x)
        with np.errstate(all="ignore"):
            want = softmaxes(x)
            got = coarsen.jit(softmaxes, target=target)(x)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-15, atol=0.0)
