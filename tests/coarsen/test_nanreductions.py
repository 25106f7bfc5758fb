"""np.nanmax, nanmin, nanargmax, nanargmin, nanprod, nanvar, nanstd (`coarsen.ops.nanreductions`):
values, dtypes and shapes equal to NumPy's on every target (hypothesis draws the arrays, their
NaNs and the axis), NaN slices as NumPy (NaN, or ValueError for nanarg*), derivatives against
central differences and torch with NaN entries getting 0."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import coarsen
from derivative_checks import central_difference

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]

CALLS = {
    "nanmax": lambda a, ax: np.nanmax(a, axis=ax),
    "nanmin_keep": lambda a, ax: np.nanmin(a, axis=ax, keepdims=True),
    "nanprod": lambda a, ax: np.nanprod(a, axis=ax),
    "nanvar": lambda a, ax: np.nanvar(a, axis=ax),
    "nanvar_ddof": lambda a, ax: np.nanvar(a, ax, ddof=1),
    "nanstd": lambda a, ax: np.nanstd(a, axis=ax, keepdims=True),
    "nanargmax": lambda a, ax: np.nanargmax(a, axis=ax),
    "nanargmin": lambda a, ax: np.nanargmin(a, ax),
}


def _outcome(f, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return f(*args)
        except ValueError as err:
            return err


def _same(got, want) -> bool:
    if isinstance(want, Exception):
        return type(got) is type(want) and str(got) == str(want)
    got, want = np.asarray(got), np.asarray(want)
    return got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want, equal_nan=True)


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(shape=st.sampled_from([(5,), (3, 4), (2, 3, 2)]), seed=st.integers(0, 2 ** 16), share=st.floats(0.0, 0.9),
       axis=st.sampled_from([None, 0, -1]))
@pytest.mark.parametrize("target", TARGETS)
def test_values_are_numpys(target, shape, seed, share, axis):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    x[rng.random(shape) < share] = np.nan
    if len(shape) > 1:
        x[0] = np.nan   # a slice of NaNs only (along the other axes)
    for name, call in CALLS.items():
        f = coarsen.jit(lambda a, _call=call: _call(a, axis), target=target)
        got, want = _outcome(f, x), _outcome(call, x, axis)
        assert _same(got, want), (name, axis, got, want)


def test_integer_arrays_are_the_plain_reductions():
    n = np.arange(12).reshape(3, 4) - 5
    for call in CALLS.values():
        for target in TARGETS:
            assert _same(coarsen.jit(lambda a, _call=call: _call(a, 0), target=target)(n), call(n, 0))


def weighted(x):
    """A summary of a table with missing entries, as users write it."""
    return (np.sum(np.nanmax(x, axis=0) * np.arange(1.0, x.shape[1] + 1)) + np.nanmin(x)
            + np.sum(np.nanstd(x, axis=1, ddof=1)) + 0.1 * np.nanprod(x[:, :2]) + np.nanvar(x))


def weighted_torch(x):
    nan = torch.isnan(x)
    mx = torch.where(nan, -torch.inf, x).amax(dim=0)
    mn = torch.where(nan, torch.inf, x).amin()
    zero = torch.where(nan, 0.0, x)
    count = (~nan).sum(dim=1)
    mean = zero.sum(dim=1, keepdim=True) / count[:, None]
    dev = torch.where(nan, 0.0, zero - mean)
    std = torch.sqrt((dev ** 2).sum(dim=1) / (count - 1))
    prod = torch.prod(torch.where(nan[:, :2], 1.0, x[:, :2]))
    all_mean = zero.sum() / (~nan).sum()
    var = (torch.where(nan, 0.0, zero - all_mean) ** 2).sum() / (~nan).sum()
    return (torch.sum(mx * torch.arange(1.0, x.shape[1] + 1, dtype=torch.float64)) + mn + torch.sum(std)
            + 0.1 * prod + var)


@pytest.mark.parametrize("target", TARGETS)
def test_derivatives_against_torch_and_differences(target):
    rng = np.random.default_rng(3)
    vg = coarsen.value_and_grad(weighted, target=target)
    for _ in range(3 if target == "cpu" else 1):
        x = rng.normal(size=(4, 5))
        x[[0, 1, 3], [1, 4, 0]] = np.nan
        value, g = vg(x)
        assert value == pytest.approx(weighted(x), rel=1e-12)
        assert np.all(g[np.isnan(x)] == 0.0)
        xt = torch.tensor(x, requires_grad=True)
        weighted_torch(xt).backward()
        np.testing.assert_allclose(g, np.nan_to_num(xt.grad.numpy()), rtol=1e-9, atol=1e-12)
        T = np.where(np.isnan(x), 0.0, rng.normal(size=x.shape))
        fd = central_difference(weighted, (x,), 0, T)
        assert np.sum(g * T) == pytest.approx(fd, rel=1e-6)
        assert coarsen.jvp(weighted, (x,), (T,), target=target)[1] == pytest.approx(fd, rel=1e-6)


def first_valid(x):
    return x[np.nanargmax(x)]


@pytest.mark.parametrize("target", TARGETS)
def test_nanargmax_as_an_index_and_its_error(target):
    x = np.array([np.nan, 2.0, 5.0, np.nan, 5.0])
    assert coarsen.jit(first_valid, target=target)(x) == 5.0
    g = coarsen.grad(first_valid, target=target)(x)
    assert g.tolist()[2] == 1.0 and np.sum(g) == 1.0
    with pytest.raises(ValueError, match="All-NaN slice encountered"):
        coarsen.jit(first_valid, target=target)(np.full(3, np.nan))
