"""Never silently wrong, round 10 numerics (each failed before its fix). Values against
NumPy/SciPy (bit for bit where NumPy is exact), gradients against central differences, on the
numpy and cpu targets.

- np.log10 / np.log2 / math.log10 / math.log2 were log(x) / log(b): not exact at powers of the
  base (np.log10(1000.0) was 2.9999999999999996, so `int(np.floor(np.log10(v))) + 1` counted
  one digit short). Now primitives printed as np.log10 / np.log2.
- np.exp2 was exp(x ln 2): np.exp2(3.0) was 7.999999999999998 (int() of it 7). Now a primitive.
- np.linspace's last element was start + (n - 1) step, not `stop` as NumPy writes it.
- np.arange with a float step was start + i step; NumPy's is start + i delta, delta =
  (start + step) - start (np.arange(1.0, 2.0, 0.1)[3] is 1.3000000000000003).
- scipy.special.digamma (and so the gradient of gammaln, and trigamma, its hessian) was good to
  ~1e-10 only (5 asymptotic terms from x >= 6); digamma(+-0.0) was nan (SciPy -inf/+inf) and
  digamma(-inf) raised OverflowError on the numpy target (SciPy: nan).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sps

import coarsen

TARGETS = ("numpy", "cpu")


def same(a, b) -> bool:
    """Equal, nan where nan, and the same sign of zero and of infinity."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a == b) & (np.signbit(a) == np.signbit(b))
                                              | (np.isnan(a) & np.isnan(b))))


def central(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# ------------------------------------------------------------------ 9: digamma / trigamma
def digamma(x):
    return sps.digamma(x)


def sum_gammaln(x):
    return np.sum(sps.gammaln(x))


GRID = np.concatenate([np.linspace(-20.0, 30.0, 2001), np.geomspace(1e-8, 1e12, 400),
                       -np.geomspace(1e-8, 1e3, 200) - 0.25, [1.0, 2.0, 0.5, 5.5, 10.0, 9.999999, 1e300]])
GRID = GRID[(GRID != np.round(GRID)) | (GRID > 0)]


@pytest.mark.parametrize("target", TARGETS)
def test_digamma_matches_scipy(target):
    got = coarsen.jit(digamma, target=target)(GRID)
    want = sps.digamma(GRID)
    # relative, or absolute near the roots (both SciPy and this series cancel there)
    err = np.abs(got - want) / np.maximum(np.abs(want), 1.0)
    assert err.max() < 5e-15, (err.max(), GRID[np.argmax(err)])
    assert coarsen.jit(digamma, target=target)(np.array([1.0]))[0] == -0.5772156649015329   # -Euler


@pytest.mark.parametrize("target", TARGETS)
def test_digamma_edges_as_scipy(target):
    x = np.array([0.0, -0.0, -np.inf, np.inf, -1.0, -2.0, np.nan, 1.0])
    assert same(coarsen.jit(digamma, target=target)(x), sps.digamma(x))


@pytest.mark.parametrize("target", TARGETS)
def test_gammaln_grad_and_hessian_are_digamma_trigamma(target):
    x = np.array([1.0, 2.0, 0.5, 5.5, 10.0, -1.5, 0.01, 123.25])
    g = coarsen.grad(sum_gammaln, target=target)(x)
    assert np.max(np.abs(g - sps.digamma(x)) / np.maximum(np.abs(sps.digamma(x)), 1.0)) < 5e-15
    h = np.diag(coarsen.hessian(sum_gammaln, target=target)(x))
    assert np.max(np.abs(h / sps.polygamma(1, x) - 1.0)) < 5e-15
