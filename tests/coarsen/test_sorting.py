"""np.sort, np.argsort, np.median, np.percentile, np.quantile (`coarsen.ops.sorting`).

Values must equal NumPy's bit for bit (NaN, inf, ties, signed zeros, even and odd lengths,
q at 0, 100 and in between, where NumPy's interpolation takes its `t >= 0.5` branch);
derivatives agree with torch (sort) and central differences (order statistics, w.r.t. the
data and q), on the numpy target and in the cpu target's machine code.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import coarsen

torch.set_num_threads(1)


def sort_weighted(x):
    return np.sum(np.sort(x) * np.arange(1.0, x.shape[0] + 1.0))


def argsort_gather(x):
    idx = np.argsort(x, kind="stable")
    return x[idx], idx


def sorted_stable(x):
    return np.sort(x, kind="stable"), np.argsort(x, kind="stable")


def median(x):
    return np.median(x)


def median_keepdims(x):
    return np.median(x, keepdims=True) * x


def percentile(x, q):
    return np.percentile(x, q)


def quantile(x, q):
    return np.quantile(x, q)


def iqr(x):
    lo, hi = np.percentile(x, [25.0, 75.0])
    return hi - lo


def trimmed_mean(x):                  # a user's robust statistic: mean of the middle half
    s = np.sort(x)
    n = x.shape[0]
    return np.mean(s[n // 4: n - n // 4])


def flattened_median(X):
    return np.median(X) + np.sort(X, axis=None)[0]


def median_along_axis(X):
    return np.median(X, axis=0)


_SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 1.0, -2.5]
values = st.lists(st.one_of(st.floats(-5, 5, allow_nan=False, width=64), st.sampled_from(_SPECIAL)),
                  min_size=1, max_size=12).map(np.array)


def _same(got, want, signs=True):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got, want)
    assert np.array_equal(got, want, equal_nan=True), (got, want)
    if signs and got.dtype.kind == "f":
        assert np.array_equal(np.signbit(got), np.signbit(want)) or np.isnan(want).any(), (got, want)


def _both_zeros(x):
    """NumPy's order statistics partition (introselect), which orders 0.0 and -0.0, equal, in
    no specified way: with both in the data the sign of a zero result is NumPy's accident."""
    zeros = x[x == 0]
    return bool(np.signbit(zeros).any() and not np.signbit(zeros).all())


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@settings(max_examples=60, deadline=None)
@given(x=values, q=st.one_of(st.sampled_from([0.0, 100.0, 50.0, 25.0, 75.0, 12.5, 99.0]),
                             st.floats(0, 100, width=64)))
def test_values_are_numpys(target, x, q):
    with np.errstate(all="ignore"):
        _same(coarsen.jit(sorted_stable, target=target)(x)[0], np.sort(x, kind="stable"))
        _same(coarsen.jit(sorted_stable, target=target)(x)[1], np.argsort(x, kind="stable"))
        signs = not _both_zeros(x)
        _same(coarsen.jit(median, target=target)(x), np.median(x), signs)
        if not signs:   # refused when running: the zeros' signs would be NumPy's accident
            for f, v in ((percentile, q), (quantile, q / 100.0)):
                with pytest.raises(coarsen.UnsupportedError, match="both -0.0 and 0.0"):
                    coarsen.jit(f, target=target)(x, v)
            return
        _same(coarsen.jit(percentile, target=target)(x, q), np.percentile(x, q), signs)
        _same(coarsen.jit(quantile, target=target)(x, q / 100.0), np.quantile(x, q / 100.0), signs)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_default_sort_values_are_numpys(target):
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 40, 300):
        x = np.round(rng.normal(size=n), 1) + 0.0   # many ties (no -0.0: see _both_zeros)
        np.testing.assert_allclose(coarsen.jit(sort_weighted, target=target)(x), sort_weighted(x),
                                   rtol=1e-14)   # np.sum's pairwise order is not coarsen's
        got, idx = coarsen.jit(argsort_gather, target=target)(x)
        _same(got, np.sort(x))
        _same(idx, np.argsort(x, kind="stable"))


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_sort_gradient_matches_torch(target):
    rng = np.random.default_rng(1)
    x = rng.normal(size=9)
    g = coarsen.grad(sort_weighted, target=target)(x)
    t = torch.tensor(x, requires_grad=True)
    (torch.sort(t).values * torch.arange(1.0, 10.0, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=0, atol=1e-15)


def _central(f, x, *rest, eps=1e-6):
    out = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        out.flat[i] = (f(x + e, *rest) - f(x - e, *rest)) / (2 * eps)
    return out


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("fn,shape", [(median, (5,)), (median, (6,)), (iqr, (9,)), (trimmed_mean, (10,)),
                                      (flattened_median, (3, 4))])
def test_order_statistic_gradients(target, fn, shape):
    x = np.random.default_rng(2).normal(size=shape)   # distinct values: differentiable
    np.testing.assert_allclose(coarsen.grad(fn, target=target)(x), _central(fn, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("q", [10.0, 37.0, 62.5, 90.0])
def test_percentile_gradient_wrt_data_and_q(target, q):
    x = np.random.default_rng(3).normal(size=8)
    gx, gq = coarsen.grad(percentile, argnums=(0, 1), target=target)(x, q)
    np.testing.assert_allclose(gx, _central(percentile, x, q), rtol=1e-6, atol=1e-8)
    eps = 1e-6
    np.testing.assert_allclose(gq, (percentile(x, q + eps) - percentile(x, q - eps)) / (2 * eps), rtol=1e-6)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_keepdims(target):
    x = np.array([3.0, -1.0, 2.0, 8.0])
    _same(coarsen.jit(median_keepdims, target=target)(x), median_keepdims(x))


@pytest.mark.parametrize("q", [-1.0, 100.5, np.nan])
def test_q_out_of_range_raises_numpys_error(q):
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="Percentiles must be in the range"):
        np.percentile(x, q)
    with pytest.raises(ValueError, match="Percentiles must be in the range"):
        coarsen.jit(percentile, target="numpy")(x, q)


def test_along_an_axis_of_a_matrix_is_refused_at_the_call():
    with pytest.raises(coarsen.UnsupportedError, match="median.. along an axis") as err:
        coarsen.jit(median_along_axis, target="numpy")(np.ones((2, 3)))
    assert "test_sorting.py" in str(err.value)


def test_argsort_has_no_derivative_and_int_results():
    x = np.array([0.5, -1.0, 2.0])
    out, idx = coarsen.jit(argsort_gather, target="numpy")(x)
    assert idx.dtype == np.int64
    g = coarsen.grad(lambda_free_sum_of_sorted, target="numpy")(x)
    np.testing.assert_array_equal(g, np.ones(3))


def lambda_free_sum_of_sorted(x):
    return np.sum(x[np.argsort(x)])


def search_both(a, v):
    return np.searchsorted(a, v), np.searchsorted(a, v, side="right")


WEIGHTS = np.array([0.5, -1.0, 2.0, 3.0, 0.25])


def bucketed(x, edges):            # a piecewise-linear model: each x weighted by its bucket's w
    i = np.searchsorted(edges, x)
    return np.sum(WEIGHTS[i] * x ** 2)


def counts(X):
    return (np.count_nonzero(X), np.count_nonzero(X > 0.0, axis=1), np.count_nonzero(X, axis=0, keepdims=True),
            np.count_nonzero(X.astype(np.int64)))


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@settings(max_examples=40, deadline=None)
@given(a=values, v=values)
def test_searchsorted_is_numpys(target, a, v):
    a = np.sort(a)                   # NaN last, as NumPy's search expects
    for got, want in zip(coarsen.jit(search_both, target=target)(a, v), search_both(a, v)):
        _same(got, want)
    for got, want in zip(coarsen.jit(search_both, target=target)(a, v[0]), search_both(a, v[0])):
        assert int(got) == int(want)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_searchsorted_buckets_differentiate(target):
    x, edges = np.array([-1.5, 0.2, 0.9, 2.7]), np.array([-1.0, 0.0, 1.0, 2.0])
    assert coarsen.jit(bucketed, target=target)(x, edges) == bucketed(x, edges)
    np.testing.assert_allclose(coarsen.grad(bucketed, target=target)(x, edges), _central(bucketed, x, edges),
                               rtol=1e-6)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_count_nonzero_is_numpys(target):
    X = np.array([[0.0, -0.0, 1.5], [np.nan, 0.0, -2.0]])
    for got, want in zip(coarsen.jit(counts, target=target)(X), counts(X)):
        _same(np.asarray(got), np.asarray(want).astype(np.int64))


def interp(x, xp, fp):
    return np.interp(x, xp, fp)


def interp_filled(x, xp, fp):
    return np.interp(x, xp, fp, left=-7.0, right=9.0)


def interp_loss(x, xp, fp):
    return np.sum(np.interp(x, xp, fp) ** 2)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@settings(max_examples=60, deadline=None)
@given(xp=values, fp_seed=st.integers(0, 2 ** 31), x=values, duplicate=st.booleans())
def test_interp_is_numpys(target, xp, fp_seed, x, duplicate):
    """NumPy's C loop, case by case: NaN x, outside left/right, x on a sample point, duplicated
    sample points (a zero-width step), NaN and infinite samples (its retry from the right).
    Not NaN in xp: NumPy's search then depends on where it found the previous x."""
    xp = np.sort(xp[~np.isnan(xp)]) if not np.isnan(xp).all() else np.zeros(1)
    if duplicate and xp.size > 1:
        xp[1] = xp[0]
    rng = np.random.default_rng(fp_seed)
    fp = np.where(rng.random(xp.size) < 0.2, rng.choice(_SPECIAL, size=xp.size), rng.normal(size=xp.size))
    x = np.concatenate([x, xp[:2]])
    with np.errstate(all="ignore"):
        for fn in (interp, interp_filled):
            _same(coarsen.jit(fn, target=target)(x, xp, fp), fn(x, xp, fp))
            assert np.array_equal(coarsen.jit(fn, target=target)(x[0], xp, fp), fn(x[0], xp, fp), equal_nan=True)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_interp_gradients_in_x_xp_and_fp(target):
    rng = np.random.default_rng(4)
    xp, fp = np.sort(rng.normal(size=6)), rng.normal(size=6)
    x = np.concatenate([rng.uniform(xp[0], xp[-1], size=5), [xp[0] - 1.0, xp[-1] + 1.0]])
    gx, gxp, gfp = coarsen.grad(interp_loss, argnums=(0, 1, 2), target=target)(x, xp, fp)
    np.testing.assert_allclose(gx, _central(interp_loss, x, xp, fp), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gxp, _central(lambda_xp, xp, x, fp), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gfp, _central(lambda_fp, fp, x, xp), rtol=1e-6, atol=1e-8)


def lambda_xp(xp, x, fp):
    return interp_loss(x, xp, fp)


def lambda_fp(fp, x, xp):
    return interp_loss(x, xp, fp)


@pytest.mark.parametrize("xp,fp,message", [(np.zeros(0), np.zeros(0), "sample points is empty"),
                                           (np.arange(3.0), np.arange(2.0), "not of the same length")])
def test_interp_raises_numpys_errors(xp, fp, message):
    with pytest.raises(ValueError, match=message):
        np.interp(0.5, xp, fp)
    with pytest.raises(ValueError, match=message):
        coarsen.jit(interp, target="numpy")(0.5, xp, fp)


def cubic_sorted(x):
    return np.sum(np.sort(x) ** 3 * np.arange(1.0, 6.0))


def order_statistics(x):
    return np.median(x) ** 2 + np.percentile(x, 30.0) ** 3


def interpolated(x):
    return np.sum(np.interp(x, np.array([-1.0, 0.0, 2.0]), np.array([1.0, -1.0, 3.0])) ** 2 * x)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("fn", [cubic_sorted, order_statistics, interpolated])
def test_hessians_jacobians_and_vmap_compose(fn, target):
    x = np.array([0.3, -1.2, 2.5, 0.7, -0.1])
    grad = coarsen.grad(fn, target=target)
    eps = 1e-5
    fd = np.array([(grad(x + eps * e) - grad(x - eps * e)) / (2 * eps) for e in np.eye(5)])
    np.testing.assert_allclose(coarsen.hessian(fn, target=target)(x), fd, atol=1e-6)
    np.testing.assert_allclose(coarsen.jacfwd(fn, target=target)(x), grad(x), rtol=1e-12)
    batch = np.stack([x, x[::-1], x * 2.0])
    np.testing.assert_array_equal(coarsen.vmap(fn, target=target)(batch), [fn(b) for b in batch])
