"""scipy.stats.norm as users call it (`norm.cdf(d1)` in Black-Scholes, `norm.logpdf(x, mu, s)`
in a likelihood, a frozen `norm(loc, scale)` made at module level), and calls into a
library's Python code that coarsen cannot compile: refused at the user's line, never at a line
inside SciPy. Values against SciPy, gradients against torch.autograd and central differences."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import scipy.stats
import torch
from scipy.stats import norm

import coarsen

TARGETS = ("numpy", "cpu")
torch.set_num_threads(1)


def call_price(S, K, T, r, sigma):
    d1 = (np.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * np.sqrt(T))
    d2 = d1 - sigma * np.sqrt(T)
    return S * norm.cdf(d1) - K * np.exp(-r * T) * norm.cdf(d2)


def _torch_call_price(S, K, T, r, sigma):
    N = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
    d1 = (torch.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * torch.sqrt(T))
    d2 = d1 - sigma * torch.sqrt(T)
    return S * N.cdf(d1) - K * torch.exp(-r * T) * N.cdf(d2)


@pytest.mark.parametrize("target", TARGETS)
def test_black_scholes_greeks_with_norm_cdf(target):
    args = (100.0, 95.0, 0.5, 0.01, 0.2)
    value, greeks = coarsen.value_and_grad(call_price, argnums=(0, 1, 2, 3, 4), target=target)(*args)
    assert value == pytest.approx(call_price(*args), rel=1e-13)
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    _torch_call_price(*ts).backward()
    np.testing.assert_allclose(greeks, [t.grad.item() for t in ts], rtol=1e-9)


def gaussian_fit(mu, s, x):
    """A likelihood written the three ways users write norm's arguments."""
    return (np.sum(norm.logpdf(x, mu, s)) + 0.5 * np.sum(norm.pdf(x, loc=mu, scale=s))
            - np.mean(scipy.stats.norm.sf(x, mu)) + norm.cdf(1.5) + np.sum(norm.pdf(x)))


def _torch_gaussian_fit(mu, s, x):
    N = torch.distributions.Normal(mu, s)
    std = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
    return (torch.sum(N.log_prob(x)) + 0.5 * torch.sum(torch.exp(N.log_prob(x)))
            - torch.mean(1.0 - std.cdf(x - mu)) + std.cdf(torch.tensor(1.5, dtype=torch.float64))
            + torch.sum(torch.exp(std.log_prob(x))))


@pytest.mark.parametrize("target", TARGETS)
def test_likelihood_with_loc_and_scale(target):
    x = np.linspace(-2.0, 3.0, 7)
    mu, s = 0.3, 1.5
    value, (g_mu, g_s, g_x) = coarsen.value_and_grad(gaussian_fit, argnums=(0, 1, 2), target=target)(mu, s, x)
    assert value == pytest.approx(gaussian_fit(mu, s, x), rel=1e-13)
    tm, ts, tx = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (mu, s, x))
    _torch_gaussian_fit(tm, ts, tx).backward()
    np.testing.assert_allclose([g_mu, g_s], [tm.grad.item(), ts.grad.item()], rtol=1e-9)
    np.testing.assert_allclose(g_x, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    h = 1e-6
    fd = (gaussian_fit(mu, s + h, x) - gaussian_fit(mu, s - h, x)) / (2 * h)
    assert g_s == pytest.approx(fd, rel=1e-6)


def every_method(x, loc, scale):
    return norm.cdf(x, loc, scale), norm.sf(x, loc, scale), norm.pdf(x, loc, scale), norm.logpdf(x, loc, scale)


@pytest.mark.parametrize("target", TARGETS)
def test_values_follow_scipy_at_the_edges(target):
    """Tails (sf from ndtr(-z), not 1 - cdf), infinities, NaN, and scale <= 0 (SciPy: NaN)."""
    x = np.array([-40.0, -9.0, -1.0, 0.0, 0.5, 9.0, 40.0, np.inf, -np.inf, np.nan])
    f = coarsen.jit(every_method, target=target)
    for loc, scale in [(0.0, 1.0), (0.5, 2.0), (0.0, 0.0), (1.0, -2.0)]:
        got, want = f(x, loc, scale), every_method(x, loc, scale)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=0.0, equal_nan=True)


RV = norm(1.0, 2.0)


def frozen(x):
    return RV.cdf(x) + RV.logpdf(x) + RV.pdf(x)


@pytest.mark.parametrize("target", TARGETS)
def test_a_frozen_norm_made_outside_and_replaced(target):
    global RV
    saved = RV
    try:
        assert coarsen.jit(frozen, target=target)(0.7) == pytest.approx(frozen(0.7), rel=1e-14)
        g = coarsen.grad(frozen, target=target)(0.7)
        h = 1e-6
        assert g == pytest.approx((frozen(0.7 + h) - frozen(0.7 - h)) / (2 * h), rel=1e-7)
        RV = norm(-1.0, 0.5)   # another distribution: another program, in this process and on disk
        assert coarsen.jit(frozen, target=target)(0.7) == pytest.approx(frozen(0.7), rel=1e-14)
    finally:
        RV = saved


def quantile(p):
    return norm.ppf(p)


def other_distribution(x):
    return scipy.stats.t.cdf(x, 3)


@pytest.mark.parametrize("fn", [quantile, other_distribution])
def test_what_is_not_supported_is_refused_at_the_users_line(fn):
    with pytest.raises(coarsen.UnsupportedError) as err:
        coarsen.grad(fn)(0.3)
    first = str(err.value).splitlines()[0]
    assert __file__ in first and "site-packages" not in first, first


def through_the_standard_library(xs):
    return statistics.median(xs) * 2.0


def through_fmean(xs):   # math.fsum is supported: statistics.fmean is its sum over the count
    return statistics.fmean(xs) * 2.0


def test_a_standard_library_function_is_refused_at_the_users_call():
    with pytest.raises(coarsen.UnsupportedError) as err:
        coarsen.grad(through_the_standard_library)(np.array([1.0, 2.0]))
    first = str(err.value).splitlines()[0]
    assert __file__ in first and "statistics.median is not supported" in first, first
    assert math.isfinite(through_the_standard_library(np.array([1.0, 2.0])))
    xs = np.array([1.0, 2.0, 4.5])
    assert coarsen.jit(through_fmean)(xs) == through_fmean(xs)
    np.testing.assert_allclose(coarsen.grad(through_fmean)(xs), np.full(3, 2.0 / 3.0), rtol=1e-15)
