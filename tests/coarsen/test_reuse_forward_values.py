"""Reverse mode reads a top-level segment's own forward value where its derivative holds the
segment's expression (d exp(u) = exp(u) du, d tanh(u) = (1 - tanh(u)^2) du, a sigmoid's
s (1 - s)), instead of computing it again (#14: GMM's log-sum-exp computed every `exp` twice).

Values and gradients are checked against the "numpy" target and central differences, on
shapes with size-1 and empty axes, with branches absorbed into segments and in loop bodies
(where the value is recomputed, not taped), on the "cpu" target.
"""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def lse_rows(X, c):
    top = np.max(X, axis=1)
    e = np.exp(X - top[:, None])
    return np.sum(top + np.log(np.sum(e, axis=1))) + np.sum(np.exp(c * X))


def squash(X, c):
    t = np.tanh(c * X)
    s = 1.0 / (1.0 + np.exp(-X))
    return np.sum(t * t) + np.sum(s) + np.sum(np.where(X > 0.0, np.exp(X) * c, X ** 3))


def looped(X, c):
    acc = 0.0
    for k in range(3):
        e = np.exp(c * X + k)
        acc = acc + np.sum(e) / (1.0 + k)
    return acc


def scalars(x, c):
    y = np.exp(x * c)
    z = np.tanh(y - 1.0)
    return y * z + (x ** 3 if x > 0.0 else -x)


def _central(f, X, c, h=1e-6):
    X = np.asarray(X, dtype=float)
    g = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        e = np.zeros_like(X)
        e[i] = h
        g[i] = (f(X + e, c) - f(X - e, c)) / (2 * h)
    return g


SHAPES = [(4, 3), (1, 5), (6, 1), (1, 1), (0, 3)]


@pytest.mark.parametrize("program", [lse_rows, squash, looped])
def test_array_programs(program, tmp_path, monkeypatch):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(7)
    vg = coarsen.value_and_grad(program, argnums=(0, 1))
    ref = coarsen.value_and_grad(program, argnums=(0, 1), target="numpy")
    for shape in SHAPES:
        X, c = rng.normal(size=shape), 0.7
        value, (gX, gc) = vg(X, c)
        rvalue, (rX, rc) = ref(X, c)
        assert value == pytest.approx(program(X, c), rel=1e-12, abs=1e-12)
        assert value == pytest.approx(rvalue, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(gX, rX, rtol=1e-12, atol=1e-13)
        assert gc == pytest.approx(rc, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(gX, _central(program, X, c), rtol=1e-6, atol=1e-6)
        assert gc == pytest.approx((program(X, c + 1e-6) - program(X, c - 1e-6)) / 2e-6, rel=1e-6, abs=1e-6)


def test_scalar_program_both_branches(tmp_path, monkeypatch):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    g = coarsen.grad(scalars, argnums=(0, 1))
    for x in (0.3, -0.4, 1e-3):
        gx, gc = g(x, 0.9)
        h = 1e-6
        assert gx == pytest.approx((scalars(x + h, 0.9) - scalars(x - h, 0.9)) / (2 * h), rel=1e-6)
        assert gc == pytest.approx((scalars(x, 0.9 + h) - scalars(x, 0.9 - h)) / (2 * h), rel=1e-6)


def test_the_forward_value_is_read_not_recomputed():
    X, c = np.ones((3, 2)), 0.5
    source = coarsen.grad(lse_rows).source(X, c)
    # one exp per segment, in the forward; the backward reads those values
    assert source.count("np.exp(") == 2, source
    backward = source.split("# backward", 1)[1]
    assert "np.exp(" not in backward and "np.tanh(" not in coarsen.grad(squash).source(X, c).split("# backward", 1)[1]
    # in a loop body the value is recomputed (no tape of arrays for it)
    looped_source = coarsen.grad(looped).source(X, c)
    assert "np.exp(" in looped_source.split("# backward", 1)[1]
