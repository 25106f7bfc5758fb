"""Nested functions, lambdas and recursion unrolled when tracing."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def power(x, n):
    if n == 0:
        return 1.0
    return x * power(x, n - 1)


def uses_power(x):
    return power(x, 5) + power(x, 0)


def det(A, n):
    """Cofactor expansion: the recursion's depth is the Python int n."""
    if n == 1:
        return A[0, 0]
    total = 0.0
    for j in range(n):
        minor = np.zeros((n - 1, n - 1))
        for r in range(1, n):
            c2 = 0
            for c in range(n):
                if c != j:
                    minor[r - 1, c2] = A[r, c]
                    c2 += 1
        total = total + (-1.0) ** j * A[0, j] * det(minor, n - 1)
    return total


def det3(A):
    return det(A, 3)


def map_list(f, xs):
    return [f(v) for v in xs]


def closures(x, w):
    scale = 2.0

    def g(v, k=3.0):
        return scale * v * w + k

    h = lambda v: g(v) * v   # noqa: E731 - a lambda on purpose
    scale = 4.0              # closures bind late, as in Python
    return h(x) + g(x, k=1.0) + sum(map_list(lambda t: t * t, (x, w)))


def test_recursion_with_a_depth_known_when_tracing_is_unrolled():
    assert coarsen.jit(uses_power, target="numpy")(1.3) == pytest.approx(1.3 ** 5 + 1.0, rel=1e-14)
    assert coarsen.grad(uses_power, target="numpy")(1.3) == pytest.approx(5 * 1.3 ** 4, rel=1e-14)
    A = np.array([[2.0, 1.0, 0.5], [0.3, 3.0, 1.0], [1.0, 0.2, 4.0]])
    assert coarsen.jit(det3, target="numpy")(A) == pytest.approx(np.linalg.det(A), rel=1e-12)
    # d det(A) / dA = det(A) inv(A)^T
    np.testing.assert_allclose(coarsen.grad(det3, target="numpy")(A), np.linalg.det(A) * np.linalg.inv(A).T,
                               rtol=1e-12)


def test_nested_functions_and_lambdas_close_over_the_enclosing_variables():
    x, w = 0.7, 1.5
    assert coarsen.jit(closures, target="numpy")(x, w) == pytest.approx(closures(x, w), rel=1e-14)
    eps = 1e-6
    fd = (closures(x + eps, w) - closures(x - eps, w)) / (2 * eps)
    assert coarsen.grad(closures, target="numpy")(x, w) == pytest.approx(fd, rel=1e-7)


def halves(x, n):
    if n <= 0:
        return x
    return halves(x * 0.5, n - 1)


def fib(x, n):
    if n < 2:
        return x
    return fib(x, n - 1) + fib(x, n - 2)


@pytest.mark.parametrize("fn", [halves, fib])
def test_recursion_that_depends_on_data_is_refused_at_the_call(fn):
    # n a float: data (an int n is known when tracing: the trace is specialised to it)
    with pytest.raises(coarsen.UnsupportedError, match="does not stop when tracing") as info:
        coarsen.jit(fn, target="numpy")(1.0, 3.0)
    assert info.value.filename == __file__


W = 3.0


def test_lambdas_as_transformed_functions():
    assert coarsen.grad(lambda x: x * x * W, target="numpy")(2.0) == 12.0
    g = coarsen.grad(
        lambda x: x ** 3,
        target="numpy")
    assert g(2.0) == 12.0
    np.testing.assert_allclose(coarsen.hessian(lambda x: np.sum(x ** 3), target="numpy")(np.array([1.0, 2.0])),
                               np.diag([6.0, 12.0]))
