"""Never silently wrong, round 10 (each failed before its fix): derivatives at the special
points of piecewise-defined functions, where a constant branch had the derivatives 0, and
values NumPy gives that machine code did not.

- np.logaddexp at a tie (a == b) was a/2 + b/2 + log 2: right value and gradient, Hessian 0
  (softplus written np.logaddexp(0, x) at 0: 0.25; Newton's method for logistic regression
  from w = 0 got a zero Hessian).
- scipy.special.xlogy(x, y) at x == 0 was the constant 0: its x-derivative log(y) was 0.
- np.sinc at 0 was the constant 1: its second derivative -pi^2/3 was 0.
- np.heaviside(nan, h0) was 0.0 (NumPy: nan).
- -n and abs(n) of the Python int -2**63 wrapped (Python: 2**63): now an OverflowError.
- np.sign(-0.0) in machine code was -0.0 (NumPy: 0.0): the tiered cpu target changed
  np.arctan2(np.sign(x), -1) from pi to -pi between calls.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch

import coarsen

TARGETS = ("numpy", "cpu")
torch.set_num_threads(1)


def softplus_sum(x):
    return np.sum(np.logaddexp(0.0, x))


def lae(v):
    return np.logaddexp(v[0], v[1])


@pytest.mark.parametrize("target", TARGETS)
def test_logaddexp_has_the_smooth_functions_hessian_at_a_tie(target):
    x = np.array([0.0, 1e-9, 1.0, -2.0])
    want = np.exp(-x) / (1.0 + np.exp(-x)) ** 2
    np.testing.assert_allclose(np.diag(coarsen.hessian(softplus_sum, target=target)(x)), want, rtol=1e-7)
    for v in (np.array([0.3, 0.3]), np.array([-2.0, -2.0])):
        np.testing.assert_allclose(coarsen.hessian(lae, target=target)(v), 0.25 * np.array([[1, -1], [-1, 1]]),
                                   rtol=1e-12)
        np.testing.assert_allclose(coarsen.grad(lae, target=target)(v), [0.5, 0.5], rtol=1e-15)
        assert coarsen.jit(lae, target=target)(v) == np.logaddexp(v[0], v[1])


@pytest.mark.parametrize("target", TARGETS)
def test_logaddexp_at_ties_of_infinities(target):
    for a in (-math.inf, math.inf):
        v = np.array([a, a])
        assert coarsen.jit(lae, target=target)(v) == np.logaddexp(a, a) == a
    assert coarsen.jit(lae, target=target)(np.array([-math.inf, 1.0])) == 1.0


def logistic_loss(w, X, y):
    z = X @ w
    return np.sum(np.logaddexp(0.0, z) - y * z)


@pytest.mark.parametrize("target", TARGETS)
def test_newtons_hessian_for_logistic_regression_from_zero(target):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), (rng.uniform(size=20) > 0.5).astype(float)
    np.testing.assert_allclose(coarsen.hessian(logistic_loss, target=target)(np.zeros(3), X, y),
                               0.25 * X.T @ X, rtol=1e-12)


def cross_entropy(p, q):
    return -np.sum(scipy.special.xlogy(p, q))


@pytest.mark.parametrize("target", TARGETS)
def test_xlogy_derivative_in_x_at_zero_is_log_y(target):
    p, q = np.array([0.0, 0.3, 0.0]), np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(coarsen.grad(cross_entropy, target=target)(p, q), -np.log(q), rtol=1e-15)
    tp, tq = torch.tensor(p, requires_grad=True), torch.tensor(q)
    (-torch.xlogy(tp, tq).sum()).backward()
    np.testing.assert_allclose(coarsen.grad(cross_entropy, target=target)(p, q), tp.grad.numpy(), rtol=1e-15)
    for y in (0.0, math.inf, 2.0, math.nan):
        got = coarsen.jit(cross_entropy, target=target)(np.array([0.0]), np.array([y]))
        want = cross_entropy(np.array([0.0]), np.array([y]))
        assert got == want or (math.isnan(got) and math.isnan(want)), (y, got, want)


def sinc_sum(x):
    return np.sum(np.sinc(x))


@pytest.mark.parametrize("target", TARGETS)
def test_sinc_second_derivative_at_zero(target):
    x = np.array([0.0, 0.3])
    h = np.diag(coarsen.hessian(sinc_sum, target=target)(x))
    u = math.pi * 0.3
    exact_03 = math.pi ** 2 * ((2 - u * u) * math.sin(u) - 2 * u * math.cos(u)) / u ** 3
    np.testing.assert_allclose(h, [-math.pi ** 2 / 3, exact_03], rtol=1e-9)
    assert coarsen.jit(sinc_sum, target=target)(np.array([0.0])) == 1.0
    assert coarsen.grad(sinc_sum, target=target)(np.array([0.0]))[0] == 0.0


def step(x, h0):
    return np.heaviside(x, h0)


@pytest.mark.parametrize("target", TARGETS)
def test_heaviside_of_nan_is_nan(target):
    x = np.array([math.nan, -1.0, 0.0, 2.0])
    got = coarsen.jit(step, target=target)(x, 0.5)
    np.testing.assert_array_equal(got, np.heaviside(x, 0.5))


def negate(n):
    return -n


def magnitude(n):
    return abs(n)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f", [negate, magnitude])
def test_negation_and_abs_of_the_smallest_int(target, f):
    with pytest.raises(OverflowError, match="beyond int64"):
        coarsen.jit(f, target=target)(-2 ** 63)
    for n in (-2 ** 63 + 1, -5, 0, 7, 2 ** 63 - 1):
        assert coarsen.jit(f, target=target)(n) == f(n)


def sign_angle(x):
    return np.arctan2(np.sign(x), -1.0), np.sign(x)


def scalar_sign(x):
    return np.sign(x) * 1.0


@pytest.mark.parametrize("target", TARGETS)
def test_sign_of_negative_zero_is_positive_zero(target):
    x = np.array([-0.0, 1.0, -2.0, math.nan])
    angle, sign = coarsen.jit(sign_angle, target=target)(x)
    want_angle, want_sign = sign_angle(x)
    np.testing.assert_array_equal(angle, want_angle)
    np.testing.assert_array_equal(np.signbit(sign), np.signbit(want_sign))
    assert not np.signbit(coarsen.jit(scalar_sign, target=target)(-0.0))
