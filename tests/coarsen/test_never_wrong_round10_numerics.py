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


# ------------------------------------------------------------------ 4, 5: log10, log2, exp2
def logs_exp2(x):
    return np.log10(x), np.log2(x), np.exp2(x)


def digits(v):
    return int(np.floor(np.log10(v))) + 1


def math_logs(v):
    return math.log10(v) + 1000.0 * math.log2(v)


def logs_exp2_sum(x):
    return np.sum(np.log10(x) * 3.0 + np.log2(x) * np.exp2(x))


EDGES = [0.0, -0.0, -1.0, np.inf, -np.inf, np.nan]
EXACT = (np.concatenate([10.0 ** np.arange(-300, 301), EDGES]),   # log10: the powers of ten
         np.concatenate([2.0 ** np.arange(-1074, 1024), EDGES]),  # log2: the powers of two
         np.concatenate([np.arange(-1074.0, 1024.0), EDGES]))     # exp2: the integers
OTHER = np.concatenate([np.linspace(-3.0, 3.0, 61), np.geomspace(1e-300, 1e300, 999), [1234.5, 1e-320]])


@pytest.mark.parametrize("target", TARGETS)
def test_log10_log2_exp2_are_numpys(target):
    """Bit for bit at the powers of the base (log10, log2) and the integers (exp2), and at the
    edges; elsewhere NumPy's own on the numpy target, within 1 ulp (libm's) in machine code."""
    with np.errstate(all="ignore"):
        for i, x in enumerate(EXACT):
            assert same(coarsen.jit(logs_exp2, target=target)(x)[i], logs_exp2(x)[i])
        for g, w in zip(coarsen.jit(logs_exp2, target=target)(OTHER), logs_exp2(OTHER)):
            if target == "numpy":
                assert same(g, w)
            else:
                fin = np.isfinite(w)
                assert same(g[~fin], w[~fin])
                assert np.all(np.abs(g[fin] - w[fin]) <= np.spacing(np.abs(w[fin])))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("v", [1e3, 1e6, 1e9, 1e15, 1e300, 999.0, 1.0])
def test_digit_count(target, v):
    assert coarsen.jit(digits, target=target)(v) == digits(v)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("v", [1000.0, 2.0 ** 29, 2.0 ** -31, 0.1, 7.0])
def test_math_log10_log2(target, v):
    assert coarsen.jit(math_logs, target=target)(v) == math_logs(v)


@pytest.mark.parametrize("target", TARGETS)
def test_math_log10_domain_error_kept(target):
    with pytest.raises(ValueError):
        coarsen.jit(math_logs, target=target)(0.0)


@pytest.mark.parametrize("target", TARGETS)
def test_exp2_of_python_scalar_and_int(target):
    assert coarsen.jit(lambda x: np.exp2(x), target=target)(3.0) == 8.0
    assert int(coarsen.jit(lambda x: np.exp2(x), target=target)(3.0)) == 8


@pytest.mark.parametrize("target", TARGETS)
def test_log10_log2_exp2_gradients(target):
    x = np.array([0.3, 1.0, 2.5, 10.0, 3.7])
    g = coarsen.grad(logs_exp2_sum, target=target)(x)
    want = 3.0 / (x * math.log(10.0)) + np.exp2(x) / (x * math.log(2.0)) + np.log2(x) * np.exp2(x) * math.log(2.0)
    assert np.allclose(g, want, rtol=1e-13, atol=0)
    assert np.allclose(g, central(logs_exp2_sum, x), rtol=1e-7)
    h = coarsen.hessian(lambda x: np.sum(np.exp2(x) + np.log10(x) + np.log2(x)), target=target)(x)
    want_h = np.exp2(x) * math.log(2.0) ** 2 - 1.0 / (x * x * math.log(10.0)) - 1.0 / (x * x * math.log(2.0))
    assert np.allclose(np.diag(h), want_h, rtol=1e-13)


# ------------------------------------------------------------------ 6, 7: linspace, arange
def lin(a, b, n):
    return np.linspace(a, b, n)


def lin_open(a, b, n):
    return np.linspace(a, b, n, endpoint=False)


def endpoint_on_grid(a):
    t = np.linspace(0.0, a, 11)
    return np.sum(t == a) + np.sum(t >= a)


def rng_cases(seed=0, k=60):
    r = np.random.default_rng(seed)
    cases = [(0.0, 0.9, 11), (0.0, 0.7, 11), (1.0, 2.0, 7), (-3.3, 8.1, 50), (5.0, 5.0, 4),
             (0.0, 5e-324, 3), (0.0, 1e-323, 3), (-0.0, 0.0, 3), (2.0, -1.0, 9), (0.0, 1.0, 1),
             (0.0, 1.0, 0), (0.0, 1.0, 2), (1e300, -1e300, 5)]
    for _ in range(k):
        a, b = r.uniform(-10, 10, 2) * 10.0 ** r.integers(-5, 5, 2)
        cases.append((float(a), float(b), int(r.integers(0, 40))))
    return cases


@pytest.mark.parametrize("target", TARGETS)
def test_linspace_bit_for_bit(target):
    f, g = coarsen.jit(lin, target=target), coarsen.jit(lin_open, target=target)
    with np.errstate(all="ignore"):
        for a, b, n in rng_cases():
            assert same(f(a, b, n), lin(a, b, n)), (a, b, n)
            assert same(g(a, b, n), lin_open(a, b, n)), (a, b, n)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("a", [0.9, 0.7, 0.3, 1.1, 2.9])
def test_linspace_endpoint_is_stop(target, a):
    assert coarsen.jit(endpoint_on_grid, target=target)(a) == endpoint_on_grid(a) == 2


@pytest.mark.parametrize("target", TARGETS)
def test_linspace_gradient(target):
    def f(p):
        return np.sum(np.sin(np.linspace(p[0], p[1], 7)) * np.arange(7.0))
    p = np.array([0.3, 1.9])
    assert np.allclose(coarsen.grad(f, target=target)(p), central(f, p), rtol=1e-7)


def ar(a, b, s):
    return np.arange(a, b, s)


@pytest.mark.parametrize("target", TARGETS)
def test_arange_float_step_bit_for_bit(target):
    f = coarsen.jit(ar, target=target)
    cases = [(1.0, 2.0, 0.1), (-0.0, 3.0, 1.0), (0.3, 7.7, 0.7), (1e-20, 5.0, 1.0), (5.0, -3.0, -0.3),
             (1e16, 1e16 + 40, 3.3), (0.1, 0.9, 0.1), (2.0, 1.0, 0.5), (-1.7, 3.1, 0.01)]
    r = np.random.default_rng(1)
    for _ in range(40):
        a = float(r.uniform(-10, 10))
        s = float(r.uniform(0.01, 2.0)) * (1 if r.random() < 0.7 else -1)
        cases.append((a, a + s * float(r.uniform(-2, 60)), s))
    for a, b, s in cases:
        assert same(f(a, b, s), ar(a, b, s)), (a, b, s)


@pytest.mark.parametrize("target", TARGETS)
def test_arange_count_below(target):
    def count(a):
        return np.sum(np.arange(1.0, a, 0.1) <= 1.3)
    assert coarsen.jit(count, target=target)(2.0) == count(2.0) == 3


@pytest.mark.parametrize("target", TARGETS)
def test_arange_int_bounds_stay_int64(target):
    got = coarsen.jit(lambda n: np.arange(2, n, 3), target=target)(20)
    assert got.dtype == np.int64 and np.array_equal(got, np.arange(2, 20, 3))


@pytest.mark.parametrize("target", TARGETS)
def test_arange_gradient_in_start(target):
    def f(x):
        return np.sum(np.sin(np.arange(x[0], 5.0, 0.5)))
    x = np.array([0.3])
    assert np.allclose(coarsen.grad(f, target=target)(x), central(f, x), rtol=1e-7)


def test_gpu_device_names_of_log10_log2_exp2():
    from coarsen.codegen.forward import device_source

    assert device_source("np.log10(x) + np.log2(x) * np.exp2(x)") == \
        "math.log10(x) + math.log2(x) * cuda_special.exp2(x)"
