"""Python containers and iteration: lists built by append, comprehensions, list/tuple arguments
of NumPy calls, for over tuples and arrays, enumerate/zip/reversed, builtins over lists.

Each program runs through coarsen (values equal CPython's) and its gradient is checked
against central differences."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coarsen


def fd_grad(f, args, k, h=1e-6):
    x = args[k]
    if isinstance(x, float):
        moved = [list(args), list(args)]
        moved[0][k], moved[1][k] = x + h, x - h
        return (f(*moved[0]) - f(*moved[1])) / (2 * h)
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        out[idx] = (f(*args[:k], up, *args[k + 1:]) - f(*args[:k], down, *args[k + 1:])) / (2 * h)
    return out


def appended(x):
    xs = []
    for i in range(4):
        xs.append(x * i)
    ys = [v * v for v in xs]
    xs.extend([x, 2.0])
    return sum(ys) + np.sum(np.array(xs)) + len(xs) + max(ys) - min([x, 0.5 * x])


def rows(X):
    s = 0.0
    for row in X:
        s = s + np.sum(row * row)
    for k, row in enumerate(X, start=1):
        s = s + k * row[0]
    for a, b in zip(X, X[1:]):
        s = s + np.sum(a * b)
    for row in reversed(X):
        s = s * 0.5 + row[1]
    for i in reversed(range(1, X.shape[0], 2)):
        s = s + i * X[i, 0]
    return s + sum(X[0]) + max(X[1])


def weights(x, y):
    ws = (1.0, 2.0, 3.0)
    s = 0.0
    for k, w in enumerate(ws):
        s = s + w * x ** k
    for a, b in zip([x, y], (2.0, 3.0)):
        s = s + a * b
    return s + min(ws) * max(x, y) + np.sum([x, y * y]) + np.mean((x, y))


def comprehension(x, n):
    squares = [x * k for k in range(3) if k != 1]
    return np.sum(np.array(squares)) + sum([x / (j + 1) for j in reversed(range(5))]) + n * squares[-1]


CASES = [
    (appended, (0.7,)),
    (rows, (np.arange(12.0).reshape(4, 3) / 10 - 0.3,)),
    (weights, (0.7, -0.4)),
    (comprehension, (0.3, 2)),
]


@pytest.mark.parametrize("fn, args", CASES, ids=[f.__name__ for f, _ in CASES])
def test_containers_values_and_gradients(fn, args):
    expected = fn(*args)
    assert coarsen.jit(fn, target="numpy")(*args) == pytest.approx(expected, rel=1e-12)
    grad = coarsen.grad(fn, target="numpy")(*args)
    np.testing.assert_allclose(grad, fd_grad(fn, args, 0), rtol=1e-6, atol=1e-7)


def test_containers_on_the_cpu_target():
    X = np.arange(12.0).reshape(4, 3) / 10 - 0.3
    assert coarsen.jit(rows)(X) == pytest.approx(rows(X), rel=1e-12)
    np.testing.assert_allclose(coarsen.grad(rows)(X), fd_grad(rows, (X,), 0), rtol=1e-6, atol=1e-7)


def reversed_sum(a, b):
    s = 0
    for i in reversed(range(a, b, 3)):
        s = s * 2 + i
    for i in reversed(range(b, a, -2)):
        s = s * 3 - i
    return s


@settings(max_examples=30, deadline=None)
@given(st.integers(-8, 8), st.integers(-8, 8))
def test_reversed_range_visits_the_same_indices_backwards(a, b):
    assert coarsen.jit(reversed_sum, target="numpy")(a, b) == reversed_sum(a, b)


def grows_with_data(x, n):   # n a float: data (an int n is known when tracing: specialised)
    xs = []
    for i in range(int(n)):
        xs.append(x)
    return np.sum(np.array(xs))


def exits_early(x):
    s = 0.0
    for v in (x, 2.0 * x):
        if v > 1.0:
            break
        s = s + v
    return s


def over_unknown_range(x, n):
    return max([x * k for k in range(int(n))])   # sum(...) of it is a loop (test_shape_specialised)


@pytest.mark.parametrize("fn, args, words", [
    (grows_with_data, (1.0, 3.0), "known when tracing"),
    (exits_early, (1.0,), "break"),
    (over_unknown_range, (1.0, 3.0), "known when tracing"),
])
def test_what_cannot_be_unrolled_is_refused_at_the_user_line(fn, args, words):
    with pytest.raises(coarsen.UnsupportedError, match=words) as info:
        coarsen.jit(fn, target="numpy")(*args)
    assert info.value.filename == __file__
