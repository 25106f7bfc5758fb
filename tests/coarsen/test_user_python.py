"""Ordinary user Python that example programs of autograd libraries rely on (#22): size-1 arrays
where a scalar is expected, reductions of 0-d values, trace-time type tests, try/except and
raise decided when tracing."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")   # no silent fallback to numpy

import coarsen


# ------------------------------------------------------------------ size-1 results, 0-d reductions
def first_square(x):
    return x[0:1] * x[0:1] * 3.0


def total_as_vector(x):
    return np.sum(x * x, keepdims=True)


@pytest.mark.parametrize("target", ["cpu", "numpy"])
def test_size_one_array_result_is_a_scalar_for_grad(target):
    x = np.array([1.5, 2.0, -1.0])
    g = coarsen.grad(first_square, target=target)(x)
    np.testing.assert_allclose(g, [9.0, 0.0, 0.0])
    value, g2 = coarsen.value_and_grad(total_as_vector, target=target)(x)
    assert value == pytest.approx(np.sum(x * x))
    np.testing.assert_allclose(g2, 2 * x)


def test_larger_array_result_is_refused_at_run_time_not_summed():
    """The size is known only when running: a size-2 slice must raise, never be reduced."""
    f = coarsen.grad(lambda x, n: x[0:n] * 2.0)
    np.testing.assert_allclose(f(np.ones(3), 1), [2.0, 0.0, 0.0])
    with pytest.raises(ValueError):
        f(np.ones(3), 2)


def reductions_of_scalars(x, n):
    s = np.sum(x * x)
    return np.sum(s) + np.mean(s) + np.max(s) + np.min(s) * np.prod(s) + np.mean(n)


def test_reductions_of_zero_d_values_are_the_value():
    x = np.array([0.5, -1.0, 2.0])
    value, g = coarsen.value_and_grad(reductions_of_scalars)(x, 3)
    assert value == pytest.approx(reductions_of_scalars(x, 3))
    s = np.sum(x * x)
    np.testing.assert_allclose(g, (3.0 + 2.0 * s) * 2 * x)


def test_axis_of_a_zero_d_value_is_an_error_as_in_numpy():
    with pytest.raises(coarsen.CoarsenError, match="out of bounds for a 0-d value"):
        coarsen.grad(lambda x: np.sum(np.sum(x), axis=0))(np.ones(2))
