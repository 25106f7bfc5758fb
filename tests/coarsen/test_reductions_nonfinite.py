"""Reductions over arrays holding NaN, +-inf and -0.0, and over empty axes, on every CPU target.

The "cpu" target's per-axis helpers (`rt.max_axis` and friends, `kernels.numba_runtime`) used to
drop a NaN (`acc if acc >= x else x` forgets a NaN accumulator), read past the end of an empty
axis (sum/prod/mean/max/min all started from element 0), and np.argmax/argmin of a slice with a
NaN gave the slice's length; max/min's derivative masks picked no element (cpu) or element 0
(numpy) where the maximum was NaN. NumPy is the reference for values (NaN positions exact, an
empty max/min/argmax axis a ValueError); the derivative goes to the element np.argmax/argmin
picks (the first NaN, else the first extremum), as torch.max(x, dim)'s does.

Functions are module-level: coarsen reads their source.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import coarsen

TARGETS = ["numpy", "cpu"]
# a "cpu" program Numba cannot type would run on NumPy with a warning: here that is a failure
pytestmark = [pytest.mark.filterwarnings("error:coarsen. target .cpu. cannot compile:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 2.5, -2.5, 1.0, 1.0]


def _arrays(rank: int, min_side: int = 0):
    return hnp.arrays(np.float64, hnp.array_shapes(min_dims=rank, max_dims=rank, min_side=min_side, max_side=3),
                      elements=st.sampled_from(SPECIAL))


# ------------------------------------------------------------------ the functions (module level)
def extrema_first(x):
    return np.max(x, axis=0), np.min(x, axis=0, keepdims=True), np.max(x * 2.0, axis=0)


def extrema_last(x):
    return np.min(x, axis=-1), np.max(x, axis=-1, keepdims=True), np.min(np.abs(x), axis=-1)


def arg_extrema(x):
    return np.argmax(x, axis=0), np.argmin(x, axis=-1, keepdims=True), np.argmax(x), x.argmin()


def spellings(x):
    return (np.amax(x, 0, keepdims=True), x.min(axis=0), x.max(axis=-1), np.amin(x, -1),
            np.maximum.reduce(x), np.minimum.reduce(x, axis=-1, keepdims=True), x.argmax(axis=-1))


def extrema_all(x):
    return np.max(x), np.min(x), np.amax(x, keepdims=True), np.maximum.reduce(x, axis=None), np.max(x * x)


def totals_first(x):
    return np.sum(x, axis=0), np.prod(x, axis=0), np.mean(x, axis=0), np.sum(x * 2.0, axis=0)


def totals_last(x):
    return np.sum(x, axis=-1, keepdims=True), np.prod(x, axis=-1), np.mean(x, axis=-1), np.mean(x + 1.0, axis=-1)


def totals_all(x):
    return np.sum(x), np.prod(x), np.mean(x)


def max_first(x):
    return np.max(x, axis=0)


def min_last(x):
    return np.min(x, axis=-1)


def argmax_last(x):
    return np.argmax(x, axis=-1)


def int_max(x):
    return np.max(x, axis=0), np.min(x, axis=-1), np.sum(x, axis=0), np.prod(x, axis=-1)


def loss_max_first(x):
    return np.sum(np.max(x, axis=0))


def loss_min_last(x):
    return np.sum(np.min(x, axis=-1))


def loss_max_all(x):
    return np.max(x)


def loss_min_keep(x):
    return np.sum(np.min(x, axis=0, keepdims=True))


EXTREMA = {"extrema_first": extrema_first, "extrema_last": extrema_last, "extrema_all": extrema_all,
           "spellings": spellings, "arg_extrema": arg_extrema}
TOTALS = {"totals_first": totals_first, "totals_last": totals_last, "totals_all": totals_all}


def _reference(f, x):
    with np.errstate(all="ignore"):
        return f(x)


def _same(got, want, what: str) -> None:
    got, want = (got if isinstance(got, tuple) else (got,)), (want if isinstance(want, tuple) else (want,))
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{what} result {k}: shape {g.shape} != {w.shape}"
        assert (g.dtype.kind == "i") == (w.dtype.kind == "i"), f"{what} result {k}: dtype {g.dtype} vs {w.dtype}"
        # exact, NaN where NumPy has NaN (-0.0 and 0.0 compare equal: NumPy's own choice between
        # them in a max/min depends on its SIMD path)
        np.testing.assert_array_equal(g, w, err_msg=f"{what} result {k}")


# ------------------------------------------------------------------ values
# the per-axis helpers have one implementation per rank; whole-array reductions do not
CASES = [(name, rank) for name in ("extrema_first", "extrema_last", "totals_first", "totals_last")
         for rank in (1, 2, 3)] + [("extrema_all", 1), ("extrema_all", 3), ("totals_all", 2), ("spellings", 2), ("arg_extrema", 1), ("arg_extrema", 2)]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name, rank", CASES)
def test_values_match_numpy(target, name, rank):
    f = {**EXTREMA, **TOTALS}[name]
    jf = coarsen.jit(f, target=target)

    @SETTINGS
    @given(_arrays(rank))
    def check(x):
        try:
            want = _reference(f, x)
        except ValueError:   # an empty max/min/argmax axis: NumPy's ValueError, never a value
            with pytest.raises(ValueError):
                jf(x)
            return
        _same(jf(x), want, f"{name} {target} x={x!r}")
    check()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, shape, message", [
    (max_first, (0,), "maximum which has no identity"),
    (max_first, (0, 3), "maximum which has no identity"),
    (max_first, (0, 2, 2), "maximum which has no identity"),
    (min_last, (3, 0), "minimum which has no identity"),
    (min_last, (2, 1, 0), "minimum which has no identity"),
    (argmax_last, (2, 0), "argmax|maximum"),
])
def test_an_empty_axis_is_a_value_error(target, f, shape, message):
    with pytest.raises(ValueError, match=message):
        coarsen.jit(f, target=target)(np.zeros(shape))


@pytest.mark.parametrize("target", TARGETS)
def test_an_empty_result_is_not_an_error(target):
    # reducing a non-empty axis of an array with another axis empty: an empty result, as NumPy
    for shape in [(3, 0), (2, 0, 2)]:
        x = np.zeros(shape)
        _same(coarsen.jit(max_first, target=target)(x), max_first(x), f"max_first {shape}")


@pytest.mark.parametrize("target", TARGETS)
def test_the_reported_reproducer(target):
    x = np.array([[1.0, np.nan, 3.0], [np.nan, 5.0, 2.0]])
    _same(coarsen.jit(extrema_last, target=target)(x), extrema_last(x), "extrema_last")
    _same(coarsen.jit(totals_last, target=target)(np.zeros((2, 0))), _reference(totals_last, np.zeros((2, 0))),
          "totals_last, empty")


@pytest.mark.parametrize("target", TARGETS)
def test_int64_reductions_and_empty_axes(target):
    x = np.array([[3, -1, 7], [2, 9, -4]], dtype=np.int64)
    _same(coarsen.jit(int_max, target=target)(x), int_max(x), "int_max")
    with pytest.raises(ValueError, match="no identity"):
        coarsen.jit(int_max, target=target)(np.zeros((0, 3), dtype=np.int64))


# ------------------------------------------------------------------ derivatives
def _torch_grad(f, x):
    """The derivative torch.autograd gives through torch.max/min(x, dim) (values at the first
    NaN, else the first extremum): the same rule as np.argmax/argmin."""
    import torch

    t = torch.tensor(x, requires_grad=True)
    if f is loss_max_first:
        out = torch.max(t, 0).values.sum()
    elif f is loss_min_last:
        out = torch.min(t, -1).values.sum()
    elif f is loss_max_all:
        out = torch.max(t.reshape(-1), 0).values
    else:
        out = torch.min(t, 0, keepdim=True).values.sum()
    out.backward()
    return t.grad.numpy()


@pytest.mark.parametrize("f, rank", [(loss_max_first, 1), (loss_max_first, 3), (loss_min_last, 2),
                                     (loss_min_last, 3), (loss_max_all, 2), (loss_min_keep, 2)],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_derivatives_agree_across_targets_and_with_torch(f, rank):
    pytest.importorskip("torch")
    grads = {t: coarsen.grad(f, target=t) for t in TARGETS}

    @SETTINGS
    @given(_arrays(rank, min_side=1))
    def check(x):
        want = _torch_grad(f, x)
        direction = np.arange(1.0, x.size + 1.0).reshape(x.shape)
        for t in TARGETS:
            np.testing.assert_array_equal(grads[t](x), want, err_msg=f"grad {f.__name__} {t} x={x!r}")
            if rank == 2:   # forward mode: the same rule (the tangent along `direction`)
                _, tangent = coarsen.jvp(f, (x,), (direction,), target=t)
                assert tangent == np.sum(want * direction), f"jvp {f.__name__} {t} x={x!r}"
    check()


@pytest.mark.parametrize("target", TARGETS)
def test_derivative_goes_to_the_first_nan_else_the_first_tie(target):
    x = np.array([[1.0, np.nan, 3.0, np.nan], [5.0, 2.0, 5.0, -np.inf]])
    np.testing.assert_array_equal(coarsen.grad(loss_min_last, target=target)(x),
                                  [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(coarsen.grad(loss_max_all, target=target)(x),
                                  [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    y = np.array([[5.0, 2.0], [5.0, 7.0]])
    np.testing.assert_array_equal(coarsen.grad(loss_max_first, target=target)(y), [[1.0, 0.0], [0.0, 1.0]])
    # forward mode's tangent uses the same rule
    value, tangent = coarsen.jvp(loss_max_all, (x,), (np.arange(8.0).reshape(2, 4),), target=target)
    assert np.isnan(value) and tangent == 1.0


@pytest.mark.parametrize("target", TARGETS)
def test_derivative_of_an_empty_axis_is_a_value_error(target):
    with pytest.raises(ValueError, match="no identity"):
        coarsen.grad(loss_max_first, target=target)(np.zeros((0, 2)))


# ------------------------------------------------------------------ NaN-ignoring and Python's max/min
def fmax_fmin(a, b):
    return np.fmax(a, b), np.fmin(a, b), np.fmax(a, 0.5), np.fmin(np.nan, b)


def loss_fmax(a, b):
    return np.sum(np.fmax(a, b) * 2.0 + np.fmin(a, b))


def builtin_of_array(x):
    return max(x), min(x)


def builtin_of_numbers(a, b, c):
    return max(a, b), min(a, b), max(a, b, c), min((c, a, b)), max([b, a])


@pytest.mark.parametrize("target", TARGETS)
def test_fmax_fmin_ignore_nan_and_their_derivative_is_torchs(target):
    # np.fmax/fmin used to be lowered as np.maximum/minimum (NaN propagated)
    a = np.array([np.nan, 1.0, np.nan, 2.0, 3.0, -np.inf, -0.0])
    b = np.array([2.0, np.nan, np.nan, 2.0, 1.0, np.inf, -0.0])
    _same(coarsen.jit(fmax_fmin, target=target)(a, b), fmax_fmin(a, b), "fmax_fmin")
    # -0.0 against 0.0 in one place: NumPy's zero depends on its SIMD loop, refused when running
    with pytest.raises(coarsen.UnsupportedError, match="fmax of -0.0 and 0.0"):
        coarsen.jit(fmax_fmin, target=target)(a, np.where(np.arange(7) == 6, 0.0, b))
    torch = pytest.importorskip("torch")
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.fmax(ta, tb) * 2.0 + torch.fmin(ta, tb)).sum().backward()
    da, db = coarsen.grad(loss_fmax, argnums=(0, 1), target=target)(a, b)
    np.testing.assert_array_equal(da, ta.grad.numpy())
    np.testing.assert_array_equal(db, tb.grad.numpy())


@pytest.mark.parametrize("target", TARGETS)
def test_builtin_max_min_are_pythons(target):
    # Python's max keeps a NaN it starts with and skips a later one (it used to be np.max)
    f = coarsen.jit(builtin_of_array, target=target)
    for x in ([np.nan, 1.0, 3.0], [1.0, np.nan, 3.0], [2.0, 5.0, np.nan], [-0.0], [np.inf, np.nan, -np.inf]):
        x = np.array(x)
        _same(f(x), builtin_of_array(x), f"builtin_of_array {x!r}")
    with pytest.raises(ValueError):
        f(np.zeros(0))
    g = coarsen.jit(builtin_of_numbers, target=target)
    for args in [(np.nan, 1.0, 2.0), (1.0, np.nan, 0.5), (2.0, 2.0, np.nan), (-np.inf, np.nan, np.inf)]:
        _same(g(*args), builtin_of_numbers(*args), f"builtin_of_numbers {args!r}")


def loss_prod_all(x):
    return np.prod(x) + np.sum(np.prod(x, axis=-1))


@pytest.mark.parametrize("target", TARGETS)
def test_derivative_of_a_product_over_nothing(target):
    # the numpy target's rt.prod_others reshaped a 1-element array into an empty shape
    for shape in [(0,), (2, 0), (0, 3)]:
        g = coarsen.grad(loss_prod_all, target=target)(np.zeros(shape))
        assert g.shape == shape
    x = np.array([[2.0, np.nan, 0.0], [np.inf, -0.0, 3.0]])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(coarsen.grad(loss_prod_all, target=target)(x),
                                      coarsen.grad(loss_prod_all, target="numpy" if target == "cpu" else "cpu")(x))
