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


# ------------------------------------------------------------------ trace-time type tests
def scaled(x, p):
    if isinstance(p, tuple):
        a, b = p
    else:
        a, b = p, 1.0
    if type(x) is np.ndarray and callable(np.sum) and hasattr(x, "shape") and p is not None:
        return np.sum(x * a) * b
    return 0.0


def test_isinstance_type_callable_hasattr_fold_on_the_signature():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(coarsen.grad(scaled)(x, (2.0, 3.0)), [6.0, 6.0, 6.0])
    np.testing.assert_allclose(coarsen.grad(scaled)(x, 2.0), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(coarsen.grad(scaled, argnums=1)(x, (2.0, 3.0)), (18.0, 12.0))


def list_or_tuple(x):
    xs = [x, x]
    if isinstance(xs, tuple):   # a list literal: never a tuple in Python
        return x * 0.0
    return xs[0] * 2.0


def test_a_list_literal_is_not_taken_for_a_tuple():
    """List literals are tuple bindings inside the tracer: isinstance must not say tuple."""
    with pytest.raises(coarsen.UnsupportedError, match="not decided when tracing"):
        coarsen.grad(list_or_tuple)(1.5)


def float_or_array(x):
    if isinstance(x, float):
        return x * 2.0
    return x * 3.0


def test_a_type_test_the_signature_cannot_decide_is_refused():
    """A float64 scalar may be a float, an np.float64 or a 0-d array: refuse, do not guess."""
    with pytest.raises(coarsen.UnsupportedError, match="not decided when tracing") as info:
        coarsen.grad(float_or_array)(1.5)
    assert "test_user_python.py" in str(info.value)


# ------------------------------------------------------------------ raise, try/except
def checked_sum(x):
    if x.ndim != 1:
        raise ValueError("x must be a vector")
    return np.sum(x * x)


def test_a_raise_decided_when_tracing_raises_the_users_exception():
    np.testing.assert_allclose(coarsen.grad(checked_sum)(np.array([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(ValueError, match="x must be a vector"):
        coarsen.grad(checked_sum)(np.ones((2, 2)))


def runtime_check(x, n):
    if n < 0:
        raise ValueError("n must be non-negative")
    return np.sum(x) * n


def test_a_raise_under_a_run_time_condition_is_a_run_time_check():
    """(test_raise.py has the rest: every target and transformation, loops, helpers.)"""
    np.testing.assert_allclose(coarsen.grad(runtime_check)(np.ones(2), 2), [2.0, 2.0])
    with pytest.raises(ValueError, match="^n must be non-negative$"):
        coarsen.grad(runtime_check)(np.ones(2), -1)


class Config:
    scale = 3.0


def optional_settings(x, cfg):
    try:
        s = cfg["scale"]
    except KeyError:
        s = 2.0
    try:
        shift = Config.shift
    except AttributeError:
        shift = 0.5
    else:
        shift = shift + 1.0
    return np.sum(x) * s + shift


def test_try_except_decided_when_tracing_folds():
    x = np.arange(3.0)
    assert coarsen.value_and_grad(optional_settings)(x, {})[0] == pytest.approx(6.5)
    value, g = coarsen.value_and_grad(optional_settings)(x, {"scale": 4.0})
    assert value == pytest.approx(12.5)
    np.testing.assert_allclose(g, [4.0, 4.0, 4.0])


def catches_index_error(x):
    try:
        y = x[5]
    except IndexError:
        y = 0.0
    return y


def test_a_handler_for_errors_raised_when_running_is_refused():
    with pytest.raises(coarsen.UnsupportedError, match="IndexError"):
        coarsen.grad(catches_index_error)(np.ones(3))


def _twice(x):
    return x * 2.0


def _summed_keepdims(x):
    return np.sum(x, keepdims=True) * 2.0


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_grad_of_an_array_output_names_the_function_not_a_reshape(target):
    """grad of a function returning an array of size > 1 says what is wrong and what to use
    (was NumPy's "cannot reshape array of size 3 into shape ()"); a size-1 array is a scalar."""
    with pytest.raises(ValueError, match=r"grad needs _twice to return a scalar.*coarsen\.vjp"):
        coarsen.grad(_twice, target=target)(np.ones(3))
    np.testing.assert_allclose(coarsen.grad(_summed_keepdims, target=target)(np.ones(3)), 2.0)
