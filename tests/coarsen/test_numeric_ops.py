"""NumPy's miscellaneous numerics (`coarsen/ops/numeric.py`): values against NumPy on both
targets, derivatives against central differences and torch, for every mode of convolve and
correlate with either operand the longer (NumPy swaps them when the program runs), gradient's
edge orders and axes, meshgrid's indexings, isclose's infinities and NaNs, and polyval."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coarsen

TARGETS = ("numpy", "cpu")


def convolve_full(a, v):
    return np.sum(np.convolve(a, v) * np.arange(len(a) + len(v) - 1.0))


def convolve_same(a, v):
    return np.sum(np.convolve(a, v, mode="same") ** 2)


def convolve_valid(a, v):
    return np.sum(np.convolve(a, v, "valid") ** 3)


def correlate_full(a, v):
    return np.sum(np.correlate(a, v, "full") * np.arange(len(a) + len(v) - 1.0))


def correlate_same(a, v):
    return np.sum(np.correlate(a, v, mode="same") * np.arange(max(len(a), len(v)) + 0.0))


def correlate_valid(a, v):
    return np.sum(np.correlate(a, v) ** 3)


PAIRS = [convolve_full, convolve_same, convolve_valid, correlate_full, correlate_same, correlate_valid]


def _central(f, args, k, h=1e-6):
    x = args[k]
    g = np.zeros_like(x)
    for i in range(x.size):
        up, down = [a.copy() for a in args], [a.copy() for a in args]
        up[k][i] += h
        down[k][i] -= h
        g[i] = (f(*up) - f(*down)) / (2 * h)
    return g


def _torch_correlate_full(a, v):
    """sum_j a[j + k - (m - 1)] v[j]: conv1d (a cross-correlation) of a padded by m - 1."""
    m = v.shape[0]
    return torch.nn.functional.conv1d(a.view(1, 1, -1), v.view(1, 1, -1), padding=m - 1).view(-1)


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 7), m=st.integers(1, 7), seed=st.integers(0, 2**16))
@pytest.mark.parametrize("program", PAIRS, ids=lambda f: f.__name__)
def test_convolve_and_correlate_agree_with_numpy_either_operand_longer(program, n, m, seed):
    rng = np.random.default_rng(seed)
    a, v = rng.normal(size=n), rng.normal(size=m)
    want = program(a, v)
    for target in TARGETS:
        np.testing.assert_allclose(coarsen.jit(program, target=target)(a, v), want, rtol=1e-12, atol=1e-12)
        ga, gv = coarsen.grad(program, argnums=(0, 1), target=target)(a, v)
        np.testing.assert_allclose(ga, _central(program, [a, v], 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gv, _central(program, [a, v], 1), rtol=1e-5, atol=1e-6)


def test_full_correlation_gradient_matches_torch():
    rng = np.random.default_rng(3)
    a, v, w = rng.normal(size=6), rng.normal(size=3), rng.normal(size=8)

    def f(a, v, w):
        return np.sum(np.correlate(a, v, "full") * w)

    ta, tv = (torch.tensor(x, requires_grad=True) for x in (a, v))
    (_torch_correlate_full(ta, tv) * torch.tensor(w)).sum().backward()
    for target in TARGETS:
        ga, gv = coarsen.grad(f, argnums=(0, 1), target=target)(a, v, w)
        np.testing.assert_allclose(ga, ta.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gv, tv.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_an_infinity_outside_the_overlap_makes_no_nan():
    """NumPy multiplies overlapping elements only: inf * (a padding zero) never happens."""
    def f(a, v):
        return np.convolve(a, v)

    a, v = np.array([1.0, 2.0, 3.0]), np.array([np.inf, 1.0])
    for target in TARGETS:
        np.testing.assert_array_equal(coarsen.jit(f, target=target)(a, v), np.convolve(a, v))


def test_empty_operands_raise_numpys_error():
    def f(a, v):
        return np.sum(np.convolve(a, v))

    for target in TARGETS:
        with pytest.raises(ValueError, match="cannot be empty"):
            coarsen.jit(f, target=target)(np.ones(3), np.ones(0))


def gradient_1(f):
    return np.sum(np.gradient(f ** 3, 0.5) * np.arange(len(f) + 0.0))


def gradient_2(f):
    return np.sum(np.gradient(f ** 3, edge_order=2) ** 2)


def gradient_axes(f):
    gy, gx = np.gradient(np.outer(f, f ** 2), 2.0, 0.5)
    return np.sum(gy * gx)


def gradient_axis(f):
    return np.sum(np.gradient(np.outer(f, f[:3]), axis=-1, edge_order=2) ** 2)


@pytest.mark.parametrize("program", [gradient_1, gradient_2, gradient_axes, gradient_axis], ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [3, 4, 7])
def test_gradient_agrees_with_numpy(program, n):
    f = np.random.default_rng(n).normal(size=n)
    for target in TARGETS:
        np.testing.assert_allclose(coarsen.jit(program, target=target)(f), program(f), rtol=1e-13)
        np.testing.assert_allclose(coarsen.grad(program, target=target)(f), _central(program, [f], 0),
                                   rtol=1e-5, atol=1e-6)


def test_gradient_of_a_too_short_axis_raises_numpys_error():
    for target in TARGETS:
        with pytest.raises(ValueError, match="too small to calculate a numerical gradient"):
            coarsen.jit(gradient_2, target=target)(np.ones(2))


def meshes(x, y):
    X, Y = np.meshgrid(x, y)
    I, J = np.meshgrid(x, y ** 2, indexing="ij")
    S, T = np.meshgrid(x, y, sparse=True)
    return np.sum(X * Y ** 2) + np.sum(I * J) + np.sum(S * T)


def test_meshgrid_agrees_with_numpy_and_torch():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=4), rng.normal(size=3)
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (x, y))
    X, Y = torch.meshgrid(tx, ty, indexing="xy")
    I, J = torch.meshgrid(tx, ty ** 2, indexing="ij")
    (torch.sum(X * Y ** 2) + torch.sum(I * J) + torch.sum(tx[None, :] * ty[:, None])).backward()
    for target in TARGETS:
        np.testing.assert_allclose(coarsen.jit(meshes, target=target)(x, y), meshes(x, y), rtol=1e-13)
        gx, gy = coarsen.grad(meshes, argnums=(0, 1), target=target)(x, y)
        np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(gy, ty.grad.numpy(), rtol=1e-12)


def closeness(x, y):
    return (np.isclose(x, y), np.isclose(x, y, equal_nan=True), np.isclose(x, y, rtol=0.1, atol=0.0),
            np.allclose(x[:3], y[:3]))


def test_isclose_follows_numpy_on_infinities_and_nans():
    x = np.array([1.0, np.inf, -np.inf, np.nan, 1e-9, 1.0, np.inf, 5.0])
    y = np.array([1.0 + 1e-9, np.inf, np.inf, np.nan, 0.0, 1.05, 1.0, np.nan])
    for target in TARGETS:
        got = coarsen.jit(closeness, target=target)(x, y)
        for g, w in zip(got, closeness(x, y)):
            np.testing.assert_array_equal(g, w)


def nan_cleaned(x):
    y = np.where(x > 1.0, np.inf, np.where(x < -1.0, -np.inf, np.where(np.abs(x) < 0.2, np.nan, x)))
    return np.nan_to_num(y, posinf=7.0) * x


def nan_cleaned_sum(x):
    return np.sum(nan_cleaned(x))


def test_nan_to_num_values_and_derivative_as_torch():
    x = np.array([-2.0, -0.5, 0.1, 0.7, 1.5, -0.1, 3.0])
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.where(tx > 1.0, torch.inf, torch.where(tx < -1.0, -torch.inf,
                     torch.where(tx.abs() < 0.2, torch.nan, tx)))
    torch.sum(torch.nan_to_num(ty, posinf=7.0) * tx).backward()
    for target in TARGETS:
        np.testing.assert_array_equal(coarsen.jit(nan_cleaned, target=target)(x), nan_cleaned(x))
        g = coarsen.grad(nan_cleaned_sum, target=target)(x)
        np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-13)


P = np.array([0.5, -1.0, 2.0])


def polynomial(x):
    return np.sum(np.polyval([1.5, -2.0, 0.25, 3.0], x) + np.polyval(P, x) * x)


def polynomial_of(x, p):
    return np.sum(np.polyval(p, x))


def test_polyval_is_horners_rule_bit_for_bit():
    x = np.linspace(-2.0, 2.0, 9)
    for target in TARGETS:
        assert coarsen.jit(polynomial, target=target)(x) == polynomial(x)
        np.testing.assert_allclose(coarsen.grad(polynomial, target=target)(x),
                                   _central(polynomial, [x], 0), rtol=1e-6)


def polynomial_of_data_length(x, p):
    return np.sum(np.polyval(p[:int(x[0])], x))


def test_polyval_of_an_argument_is_specialised_to_its_length():
    """The coefficients' count is an argument's length: the trace is specialised to the shapes
    (a new length, a new program), never refused and never stale."""
    x = np.linspace(-2.0, 2.0, 5)
    for target in TARGETS:
        f, g = coarsen.jit(polynomial_of, target=target), coarsen.grad(polynomial_of, argnums=1, target=target)
        for p in (np.array([0.5, -1.0, 2.0]), np.array([3.0, 0.25]), np.array([1.0, 2.0, -1.0, 0.5, 4.0])):
            assert f(x, p) == polynomial_of(x, p)
            np.testing.assert_allclose(g(x, p), _central(polynomial_of, [x, p], 1), rtol=1e-6, atol=1e-7)


def test_polyval_of_coefficients_of_a_count_known_only_when_running_is_refused():
    with pytest.raises(coarsen.UnsupportedError, match="Horner"):
        coarsen.jit(polynomial_of_data_length, target="numpy")(np.full(3, 2.0), np.ones(3))
