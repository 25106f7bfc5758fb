"""Constructs a round of ported user programs found refused or crashing (each failed before):
np.shape / np.ndim / np.size (autograd's examples: `D = np.shape(params)[0] // 2`),
scipy.special.ndtr (every Black-Scholes port) and np.select. Values against NumPy/SciPy,
gradients against torch.autograd and central differences."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as ss
import torch

import coarsen

TARGETS = ("numpy", "cpu")


def shapes_of(params, x):
    D = np.shape(params)[0] // 2
    n = np.ndim(x) + np.size(x) + np.size(params) + np.ndim(2.0) + np.size(1.5) + len(np.shape(3.0))
    return np.sum(params[:D] * x) * n + np.shape([1.0, 2.0, 3.0])[0]


@pytest.mark.parametrize("target", TARGETS)
def test_np_shape_ndim_size(target):
    p, x = np.arange(6.0), np.ones(3)
    assert coarsen.jit(shapes_of, target=target)(p, x) == shapes_of(p, x)
    np.testing.assert_allclose(coarsen.grad(shapes_of, target=target)(p, x), [11.0] * 3 + [0.0] * 3)
    p2 = np.arange(10.0)   # another size: D follows it
    assert coarsen.jit(shapes_of, target=target)(p2, np.ones(5)) == shapes_of(p2, np.ones(5))


def black_scholes_call(S, K, T, r, sigma):
    d1 = (np.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * np.sqrt(T))
    d2 = d1 - sigma * np.sqrt(T)
    return S * ss.ndtr(d1) - K * np.exp(-r * T) * ss.ndtr(d2)


def _torch_black_scholes(S, K, T, r, sigma):
    ndtr = torch.special.ndtr
    d1 = (torch.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * torch.sqrt(T))
    d2 = d1 - sigma * torch.sqrt(T)
    return S * ndtr(d1) - K * torch.exp(-r * T) * ndtr(d2)


@pytest.mark.parametrize("target", TARGETS)
def test_black_scholes_with_ndtr(target):
    args = (100.0, 95.0, 0.5, 0.01, 0.2)
    assert coarsen.jit(black_scholes_call, target=target)(*args) == pytest.approx(black_scholes_call(*args), rel=1e-14)
    g = coarsen.grad(black_scholes_call, argnums=(0, 1, 2, 3, 4), target=target)(*args)
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    _torch_black_scholes(*ts).backward()
    np.testing.assert_allclose(g, [t.grad.item() for t in ts], rtol=1e-10)


def ndtr_of(x):
    return ss.ndtr(x)


@pytest.mark.parametrize("target", TARGETS)
def test_ndtr_values_follow_scipy(target):
    xs = np.concatenate([np.linspace(-30.0, 30.0, 601), [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300]])
    got, want = coarsen.jit(ndtr_of, target=target)(xs), ss.ndtr(xs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)


def piecewise_select(x):
    return np.sum(np.select([x < -1.0, x > 1.0], [x * x, -x], 0.5 * x))


def select_default_zero(x):
    return np.sum(np.select([x < 0.0, x < 1.0], [x * 2.0, x * 3.0]))


@pytest.mark.parametrize("target", TARGETS)
def test_np_select_first_true_condition_wins(target):
    x = np.array([-2.0, -0.5, 0.3, 1.5, 3.0])
    for fn in (piecewise_select, select_default_zero):
        assert coarsen.jit(fn, target=target)(x) == pytest.approx(fn(x), rel=1e-15)
    np.testing.assert_allclose(coarsen.grad(piecewise_select, target=target)(x), [-4.0, 0.5, 0.5, -1.0, -1.0])
    np.testing.assert_allclose(coarsen.grad(select_default_zero, target=target)(x), [2.0, 2.0, 3.0, 0.0, 0.0])


def select_mismatched(x):
    return np.select([x < 0.0], [x, -x])


def test_np_select_lengths_must_match():
    with pytest.raises(coarsen.UnsupportedError, match="choices for 1 conditions"):
        coarsen.jit(select_mismatched)(np.ones(3))


def _sir_rates(y, beta, gamma):
    S, I, R = y
    N = S + I + R
    return -beta * S * I / N, beta * S * I / N - gamma * I, gamma * I


def sir_mean_infected(params, y0, T, n):
    """A textbook SIR model by RK4, keeping the infected curve in a list."""
    beta, gamma = params
    dt = T / n
    y = np.array(y0)
    infected = []
    for k in range(n):
        k1 = np.array(_sir_rates(y, beta, gamma))
        k2 = np.array(_sir_rates(y + dt / 2 * k1, beta, gamma))
        k3 = np.array(_sir_rates(y + dt / 2 * k2, beta, gamma))
        k4 = np.array(_sir_rates(y + dt * k3, beta, gamma))
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        infected.append(y[1])
    return np.mean(infected)


def test_a_long_unrolled_chain_compiles():
    """100 unrolled RK4 steps: the backward's broadcast shapes of the chain were one nest per
    step, and Python refused the generated source (too many nested parentheses)."""
    p, y0 = np.array([0.3, 0.1]), (990.0, 10.0, 0.0)
    g = coarsen.grad(sir_mean_infected, target="numpy")(p, y0, 50.0, 100)
    h = 1e-6
    fd = [(sir_mean_infected(p + h * e, y0, 50.0, 100) - sir_mean_infected(p - h * e, y0, 50.0, 100)) / (2 * h)
          for e in np.eye(2)]
    np.testing.assert_allclose(g, fd, rtol=1e-6)
