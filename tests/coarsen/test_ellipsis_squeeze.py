"""`...` in subscripts (reads and element writes) and np.squeeze without an axis on arrays whose
lengths only the arguments' shapes decide (a shape-specialised trace): values equal NumPy's,
gradients agree with central differences, on the numpy and cpu targets."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def ellipsis_reads(t):
    return (np.sum(t[0, ..., 1] ** 2) + np.sum(t[...] * 2) + np.sum(t[..., None][..., 0, 0] ** 3)
            + np.sum(t[1:, ...][..., ::2] ** 2) + np.sum(t[..., 1:, 0] * t[..., :-1, 1]))


def ellipsis_writes(x):
    y = np.zeros((3, 4))
    y[..., 0] = x[:, 1]
    y[1, ...] = x[0]
    return np.sum(y ** 2) + np.sum(x[..., -1] ** 3)


def squeeze_free(x):
    return np.sum(np.squeeze(x) ** 2) + np.sum(np.squeeze(x[:, None, :]) * 3) + np.sum(x.squeeze() ** 3)


def double_ellipsis(x):
    return np.sum(x[..., ...])


def _fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


_RNG = np.random.default_rng(3)
_CASES = [(ellipsis_reads, _RNG.normal(size=(2, 3, 4))), (ellipsis_reads, _RNG.normal(size=(1, 2, 3))),
          (ellipsis_writes, _RNG.normal(size=(3, 4))),
          (squeeze_free, _RNG.normal(size=(3, 4))), (squeeze_free, _RNG.normal(size=(1, 4))),
          (squeeze_free, _RNG.normal(size=(3, 1)))]


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", range(len(_CASES)), ids=[f"{f.__name__}{x.shape}" for f, x in _CASES])
def test_values_and_gradients(case, target):
    f, x = _CASES[case]
    value, grad = coarsen.value_and_grad(f, target=target)(x)
    assert np.isclose(value, f(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, _fd(f, x), rtol=1e-5, atol=1e-6)


def test_squeeze_follows_the_shapes_of_each_call():
    # one function, called with shapes whose length-1 axes differ: each call gets its own program
    g = coarsen.grad(squeeze_free, target="numpy")
    for shape in [(3, 4), (1, 4), (3, 1), (1, 1), (3, 4)]:
        x = np.arange(np.prod(shape), dtype=float).reshape(shape) / 7
        np.testing.assert_allclose(g(x), _fd(squeeze_free, x), rtol=1e-5, atol=1e-6)


def test_two_ellipses_are_refused_at_the_users_line():
    with pytest.raises(coarsen.CoarsenTypeError, match="single ellipsis") as err:
        coarsen.jit(double_ellipsis, target="numpy")(np.ones((2, 2)))
    assert "test_ellipsis_squeeze.py" in str(err.value)
