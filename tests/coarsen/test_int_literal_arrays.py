"""NumPy's dtypes for arrays written as literals, and NumPy's errors for integer powers:
np.array of ints is int64 (an index array, `x[np.array([0, 2])]`), of bools bool, of anything
else float64; an integer array to a negative integer power raises NumPy's ValueError (when
tracing where the exponent is known, else when running), never a float result."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def int_literal(x):
    return np.array([1, 2, 3])


def nested_int_literal(x):
    return np.array([[1, 0], [0, 2]]) @ x


def bool_literal(x):
    return np.where(np.array([True, False]), x, -x)


def mixed_literal(x):
    return np.array([1, 2.5]) * x


def index_literal(x):
    return np.sum(x[np.array([0, 2])] ** 2) + np.sum(x[np.array([[1], [0]])])


def loop_index_pair(x):
    s = 0.0
    for i in range(2):
        s = s + np.sum(x[np.array([i, i + 1])] * x[i])
    return s


def negative_constant_power(x):
    return np.sum(x * np.arange(1, 4) ** -1)


def negative_power_function(x):
    return np.sum(x * np.power(np.arange(1, 4), np.array([1, -2, 3])))


def run_time_power(x, k):
    return np.sum(x * np.arange(1, 4) ** k)


def run_time_powers(x, ks):
    return np.sum(x * np.arange(1, 4) ** ks)


def python_int_power(x, k):
    return x * 2 ** k


_X = np.array([0.5, -1.5, 2.0])


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("fn, x", [(int_literal, _X), (nested_int_literal, _X[:2]), (bool_literal, _X[:2]),
                                   (mixed_literal, _X[:2]), (index_literal, _X), (loop_index_pair, _X)])
def test_literal_arrays_have_numpys_dtype(fn, x, target):
    got, want = coarsen.jit(fn, target=target)(x), fn(x)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)
    if np.asarray(want).dtype == np.float64 and np.ndim(want) == 0:
        g = coarsen.grad(fn, target=target)(x)
        eps = 1e-6
        fd = [(fn(x + eps * e) - fn(x - eps * e)) / (2 * eps) for e in np.eye(len(x))]
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
def test_integer_arrays_to_negative_powers_raise_as_numpy(target):
    for fn in (negative_constant_power, negative_power_function):
        with pytest.raises(ValueError, match="Integers to negative integer powers"):
            fn(_X)
        with pytest.raises(ValueError, match="Integers to negative integer powers") as err:
            coarsen.jit(fn, target=target)(_X)
        assert "test_int_literal_arrays.py" in str(err.value) + " ".join(getattr(err.value, "__notes__", []))
    assert coarsen.jit(run_time_power, target=target)(_X, 2) == run_time_power(_X, 2)
    with pytest.raises(ValueError, match="Integers to negative integer powers"):
        coarsen.jit(run_time_power, target=target)(_X, -1)
    ks = np.array([1, 2, 3])
    assert coarsen.jit(run_time_powers, target=target)(_X, ks) == run_time_powers(_X, ks)
    with pytest.raises(ValueError, match="Integers to negative integer powers"):
        coarsen.jit(run_time_powers, target=target)(_X, np.array([1, -2, 3]))
    # a Python int to a negative power is a float, as in Python
    assert coarsen.jit(python_int_power, target=target)(1.5, -2) == python_int_power(1.5, -2)
