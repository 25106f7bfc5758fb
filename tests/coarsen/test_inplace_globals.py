"""An array the function reads from outside (a module global, a closure cell, an object's
attribute, a default) and that the user then changes *in place* is seen at the next call, as
plain NumPy would see it: the guard compares small arrays' bytes with the trace's copy
(`coarsen.deps.CONTENT_CHECK_BYTES`), so a compiled function never answers with old values."""
from __future__ import annotations

import types

import numpy as np
import pytest

import coarsen

W = np.array([1.0, 2.0, 3.0])
PARAMS = types.SimpleNamespace(scale=np.array([2.0, 2.0, 2.0]))


def weighted(x):
    return np.sum(W * x * x)


def scaled(x):
    return np.sum(PARAMS.scale * x)


def make_closure():
    table = np.array([0.5, 0.25, 0.125])

    def read_cell(x):
        return np.sum(table * np.sin(x))
    return read_cell, table


def with_default(x, offsets=np.array([1.0, 1.0, 1.0])):
    return np.sum((x - offsets) ** 2)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_global_array_changed_in_place_is_seen(target):
    x = np.ones(3)
    W[:] = [1.0, 2.0, 3.0]
    g, f = coarsen.grad(weighted, target=target), coarsen.jit(weighted, target=target)
    np.testing.assert_allclose(g(x), 2 * W * x)
    W[0] = 7.0
    np.testing.assert_allclose(g(x), [14.0, 4.0, 6.0])
    assert f(x) == pytest.approx(weighted(x))
    W[:] = [1.0, 2.0, 3.0]
    np.testing.assert_allclose(g(x), [2.0, 4.0, 6.0])


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_attribute_cell_and_default_changed_in_place_are_seen(target):
    x = np.array([0.1, 0.2, 0.3])
    g = coarsen.grad(scaled, target=target)
    PARAMS.scale[:] = 2.0
    np.testing.assert_allclose(g(x), [2.0, 2.0, 2.0])
    PARAMS.scale[1] = -1.0
    np.testing.assert_allclose(g(x), [2.0, -1.0, 2.0])

    read_cell, table = make_closure()
    h = coarsen.grad(read_cell, target=target)
    np.testing.assert_allclose(h(x), table * np.cos(x))
    table *= 10.0
    np.testing.assert_allclose(h(x), table * np.cos(x))

    d = coarsen.grad(with_default, target=target)
    np.testing.assert_allclose(d(x), 2 * (x - 1.0))
    with_default.__defaults__[0][2] = 0.0
    try:
        np.testing.assert_allclose(d(x), 2 * (x - np.array([1.0, 1.0, 0.0])))
    finally:
        with_default.__defaults__[0][2] = 1.0
