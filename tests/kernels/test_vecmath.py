"""`rt.vexp`: the "cpu" target's np.exp of float64 arrays as a loop LLVM vectorises
(`kernels.numba_vecmath`), and the source rewrite that calls it (`kernels.vecmath`)."""
from __future__ import annotations

import numpy as np
import pytest

from kernels import targets
from kernels.vecmath import cpu_source


def test_rewrite_touches_calls_only():
    src = ("def f(x):\n    y = np.exp(x) + np.exp(np.exp(x)) * np.expm1(x)\n"
           "    if y > 0:\n        raise ValueError('f.py:3: np.exp(q) overflows')\n"
           "    return a.np.exp(x), np.exp\n")
    out = cpu_source(src)
    assert out.count("rt.vexp(") == 3 and "np.expm1(x)" in out
    assert "'f.py:3: np.exp(q) overflows'" in out and "a.np.exp(x)" in out and out.endswith("np.exp\n")
    assert cpu_source("def g(x):\n    return np.log(x)\n") == "def g(x):\n    return rt.vlog(x)\n"
    assert cpu_source("def g(x):\n    return np.log1p(x)\n") == "def g(x):\n    return np.log1p(x)\n"
    # loop bodies and branches keep np.exp, fused into their statement's loop by Numba
    looped = "def h(x):\n    for i in range(3):\n        x = 1.0 / (1.0 + np.exp(-x))\n    return np.exp(x)\n"
    assert cpu_source(looped) == looped.replace("return np.exp(x)", "return rt.vexp(x)")


SOURCE = "def f(x):\n    return np.exp(x)\n"


@pytest.fixture(scope="module")
def cpu_exp():
    fn = targets.compile_source(SOURCE, "f", "cpu", label="test_vexp")
    fn(np.zeros(3))
    assert fn.tier == "cpu" and "vexp" in fn.py_fn.__code__.co_names   # the rewritten source ran
    return fn


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


def test_values_within_one_ulp_of_numpy(cpu_exp):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745.0, 709.7, 200_000), rng.normal(scale=3.0, size=100_000),
                        rng.uniform(-1e-8, 1e-8, 1000), np.linspace(-708.0, 709.0, 5001)])
    got, want = cpu_exp(x), np.exp(x)
    normal = want >= np.finfo(float).tiny
    assert _ulps(got[normal], want[normal]).max() <= 1.0
    sub = ~normal   # subnormal results: one rounding, as NumPy's (absolute error under 1 subnormal ulp)
    assert np.abs(got[sub] - want[sub]).max() <= 5e-324


def test_special_values_exactly_as_numpy(cpu_exp):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 709.782712893384, 709.7827128933841,
                  710.0, 1e308, -745.1332191019411, -745.1332191019412, -746.0, -1e308,
                  5e-324, -5e-324, 1.0, -1.0, 1e-300])
    with np.errstate(over="ignore"):
        want = np.exp(x)
    got = cpu_exp(x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    assert np.array_equal(got[finite] == np.inf, want[finite] == np.inf)
    assert np.array_equal(got[finite] == 0.0, want[finite] == 0.0)
    assert _ulps(got[np.isfinite(want) & (want > 1e-300)], want[np.isfinite(want) & (want > 1e-300)]).max() <= 1.0


@pytest.mark.parametrize("make", [
    lambda r: r.normal(size=0), lambda r: r.normal(size=1), lambda r: r.normal(size=(1, 1)),
    lambda r: r.normal(size=(0, 4)), lambda r: r.normal(size=(3, 5))[:, ::2],
    lambda r: r.normal(size=(4, 6)).T, lambda r: r.normal(size=(2, 3, 4))[:, 1:, ::-1],
    lambda r: np.arange(6, dtype=np.int64).reshape(2, 3), lambda r: np.array(0.25)])
def test_shapes_layouts_and_dtypes(cpu_exp, make):
    x = make(np.random.default_rng(1))
    got, want = np.asarray(cpu_exp(x)), np.exp(x)   # 0-d: a float, as Numba's np.exp gives
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=3e-16, atol=0)
    assert cpu_exp(1.5) == pytest.approx(np.exp(1.5), rel=1e-16)   # scalars: math.exp


def test_the_numpy_tier_runs_numpy_exp(monkeypatch):
    monkeypatch.setenv("COARSEN_TIERED", "1")
    from kernels import runtime
    x = np.random.default_rng(2).normal(size=50)
    assert np.array_equal(runtime.vexp(x), np.exp(x))   # bit for bit: it is np.exp


def test_ipow_whole_exponents_as_products():
    """`rt.ipow` (np.power inside fused loops): whole exponents 0..1024 by squaring, within
    e ulp of pow (median 6 ulp for e < 128); every other exponent, and the limits, pow itself."""
    import math

    import numba

    from kernels.numba_vecmath import ipow_scalar
    c_pow = numba.njit(error_model="numpy")(lambda x, e: math.pow(x, e))   # Numba's np.power
    bases = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.7, -1.3, 3.0, 1e-5, 1e5, 1e-200, 1e200,
             np.inf, -np.inf, np.nan, 5e-324]
    exps = [0.0, 1.0, 2.0, 3.0, 7.0, 64.0, 127.0, 1024.0, 1025.0, -1.0, -2.0, 0.5, 2.5, np.nan,
            np.inf, -np.inf]
    for x in bases:
        for e in exps:
            got, want = ipow_scalar(x, e), c_pow(x, e)
            if np.isnan(want):
                assert np.isnan(got), (x, e)
            elif want == 0 or np.isinf(want):
                assert got == want and np.signbit(got) == np.signbit(want), (x, e, got, want)
            else:
                # a chain of products: each rounding's error is raised with the rest, so up
                # to about e / 2 ulp in the worst case (typically a few)
                bound = e if 8 < e <= 1024 else 8   # nan, inf: pow itself
                assert abs(got - want) <= bound * np.spacing(abs(want)), (x, e, got, want)
    rng = np.random.default_rng(0)
    t = rng.uniform(-1.5, 1.5, 2000)
    k = rng.integers(0, 128, 2000).astype(float)
    got = np.array([ipow_scalar(a, b) for a, b in zip(t, k)])
    want = np.power(t, k)
    ulps = np.abs(got - want) / np.maximum(np.spacing(np.abs(want)), 5e-324)
    assert np.all(ulps[want != 0] <= np.maximum(k, 8)[want != 0])
    assert np.median(ulps[want != 0]) <= 8   # measured: 6 for k < 128


LOG_SOURCE = "def f(x):\n    return np.log(x)\n"


@pytest.fixture(scope="module")
def cpu_log():
    fn = targets.compile_source(LOG_SOURCE, "f", "cpu", label="test_vlog")
    fn(np.ones(3))
    assert fn.tier == "cpu" and "vlog" in fn.py_fn.__code__.co_names
    return fn


def test_log_within_one_ulp_of_numpy(cpu_log):
    rng = np.random.default_rng(7)
    x = np.concatenate([np.exp(rng.uniform(-744.0, 709.0, 200_000)), rng.uniform(0.5, 2.0, 100_000),
                        1.0 + rng.normal(scale=1e-9, size=2000), rng.uniform(0.0, 1.0, 1000) * 1e-310,
                        np.array([5e-324, 1e-320, 2.2250738585072014e-308, 2.225073858507201e-308,
                                  1.7976931348623157e308, 1.0, np.nextafter(1.0, 2.0),
                                  np.nextafter(1.0, 0.0)])])
    got, want = cpu_log(x), np.log(x)
    assert _ulps(got, want)[want != 0].max() <= 1.0
    assert np.all(got[want == 0] == 0.0)


def test_log_special_values_exactly_as_numpy(cpu_log):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, -5e-324, 1.0, -np.nan])
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
    got = cpu_log(x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    keep = ~np.isnan(want)
    assert np.array_equal(got[keep], want[keep])


@pytest.mark.parametrize("make", [
    lambda r: r.uniform(0.1, 3.0, size=0), lambda r: r.uniform(0.1, 3.0, size=(1, 1)),
    lambda r: r.uniform(0.1, 3.0, size=(3, 5))[:, ::2], lambda r: r.uniform(0.1, 3.0, size=(2, 3, 4)).T,
    lambda r: np.arange(1, 7, dtype=np.int64).reshape(2, 3), lambda r: np.array(0.25)])
def test_log_shapes_layouts_and_dtypes(cpu_log, make):
    x = make(np.random.default_rng(2))
    got, want = np.asarray(cpu_log(x)), np.log(x)
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=3e-16, atol=0)
