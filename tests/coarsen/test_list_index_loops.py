"""A list indexed by a counted loop's variable (#13 item 2): `for i in range(len(xs)): xs[i]`,
negative steps and `reversed(range(...))` included, is unrolled when the range is known when
tracing (a list's length is); with a run-time range it is refused at the loop with a hint."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def weighted(x):
    xs = [x[0], x[1] * 2.0, np.sin(x[2])]
    Ws = [np.eye(2) * (k + 1.0) for k in range(3)]
    t = 0.0
    for i in range(len(xs)):
        t = t + xs[i] * i + np.sum(Ws[i] @ x[:2]) * xs[len(xs) - 1 - i]
    for i in range(len(xs) - 1, -1, -2):
        t = t * 0.5 + xs[i]
    for i in reversed(range(1, 3)):
        t = t + xs[i] * xs[i - 1]
    return t


def run_time_range(x, n):   # n a float: data (an int n would specialise the trace)
    xs = [x[0], x[1]]
    t = 0.0
    for i in range(int(n)):
        t = t + xs[i]
    return t


def central(f, x, h=1e-6):
    return np.array([(f(x + e) - f(x - e)) / (2 * h) for e in np.eye(x.size) * h])


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_a_list_indexed_by_the_loop_variable_is_unrolled(target):
    x = np.array([0.3, -0.8, 1.4])
    assert np.isclose(coarsen.jit(weighted, target=target)(x), weighted(x), rtol=1e-13)
    np.testing.assert_allclose(coarsen.grad(weighted, target=target)(x), central(weighted, x), rtol=1e-6)


def test_a_run_time_range_over_a_list_is_refused_at_the_loop():
    with pytest.raises(coarsen.UnsupportedError, match=r"test_list_index_loops\.py:\d+:\d+: error: a list "
                                                         r"indexed by the loop's variable"):
        coarsen.jit(run_time_range, target="numpy")(np.ones(2), 2.0)
