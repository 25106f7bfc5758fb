"""Division by a constant is division, as NumPy computes it: SymPy writes `x / 10.0` as
`0.1*x`, which rounds differently, and floor/round/comparisons then give other answers
(np.floor(0.3 / 0.1) is 2.0, np.floor(0.3 * 10.0) is 3.0). Values must be NumPy's bit for bit,
on both targets, in straight-line code, arrays, and loops (which closed forms would replace).
Sums of several terms may still be reassociated (SymPy orders them): a last-ulp difference that
is the symbolic approach's, documented in ARCHITECTURE.md."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def binned(x):
    # (two factors: a sum or product of three may be reassociated, SymPy orders its terms)
    return np.floor(x / 0.1) * (x / 255.0)


def binned_scalar(x):
    return np.floor(x / 0.1) * 2.0 + (1.0 if x / 0.7 > 1.0 else 0.0)


def accumulated(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.floor(x / 0.1)
    return s


def halved(x):
    return x / 2.0 + x / -0.25   # powers of two: multiplying by the reciprocal is exact


X = np.array([0.3, 0.7, 1.1, 2.3, 0.6, 1.0, 4.9, -0.3, 1e-310, 7.000000000000001])


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_division_by_a_constant_rounds_as_numpy_does(target):
    np.testing.assert_array_equal(coarsen.jit(binned, target=target)(X), binned(X))
    np.testing.assert_array_equal(coarsen.jit(halved, target=target)(X), halved(X))
    scalar = coarsen.jit(binned_scalar, target=target)
    loop = coarsen.jit(accumulated, target=target)
    for x in X.tolist() + [0.7]:
        assert scalar(x) == binned_scalar(x), x
        assert loop(x, 3) == accumulated(x, 3), x


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_derivative_of_a_division_by_a_constant(target):
    g = coarsen.grad(lambda_free, target=target)(X)
    np.testing.assert_allclose(g, 1.0 / 3.0 - 1.0 / 255.0 + 2.0 * X / 0.49, rtol=1e-14)


def lambda_free(x):
    return np.sum(x / 3.0 - x / 255.0 + (x / 0.7) ** 2)
