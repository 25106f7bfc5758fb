"""np.fill_diagonal (`Lowerer.fill_diagonal`): in place, as NumPy (an argument too, under jit and
grad: the caller's array ends as plain Python leaves it); values on every target, derivatives in
the matrix and the value against central differences and torch; wrap=True, vector values,
rank > 2 and a use as a value refused at the user's line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen
from derivative_checks import central_difference

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]
W = np.arange(20.0).reshape(4, 5) / 7.0


def gram_without_diagonal(x, v):
    """A kernel matrix whose diagonal is set, as users write a similarity with no self-loops."""
    C = np.exp(-np.subtract.outer(x, x) ** 2)
    np.fill_diagonal(C, v)
    return np.sum(C @ np.ones(x.shape[0]) * np.arange(1.0, x.shape[0] + 1))


def gram_without_diagonal_torch(x, v):
    C = torch.exp(-(x[:, None] - x[None, :]) ** 2)
    C = torch.where(torch.eye(x.shape[0], dtype=torch.bool), v, C)
    return torch.sum(C @ torch.ones(x.shape[0], dtype=torch.float64) * torch.arange(1.0, x.shape[0] + 1))


def rectangular(x):
    A = np.ones((4, 5)) * x[0]
    np.fill_diagonal(A, 2)
    B = np.ones((5, 4)) * x[1]
    np.fill_diagonal(B, x[2])
    return A, B


def in_place(a):
    np.fill_diagonal(a, -1.0)
    return np.sum(a * W)


@pytest.mark.parametrize("target", TARGETS)
def test_fill_diagonal(target):
    rng = np.random.default_rng(0)
    for _ in range(3 if target == "cpu" else 1):
        x, v = rng.normal(size=5), float(rng.normal())
        value, (gx, gv) = coarsen.value_and_grad(gram_without_diagonal, argnums=(0, 1), target=target)(x, v)
        assert value == pytest.approx(gram_without_diagonal(x, v), rel=1e-13)
        xt, vt = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
        gram_without_diagonal_torch(xt, vt).backward()
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10)
        assert gv == pytest.approx(vt.grad.item(), rel=1e-12)
        T = rng.normal(size=5)
        assert np.sum(gx * T) == pytest.approx(central_difference(gram_without_diagonal, (x, v), 0, T), rel=1e-6)
        assert gv == pytest.approx(central_difference(gram_without_diagonal, (x, v), 1, 1.0), rel=1e-6)
    for got, want in zip(coarsen.jit(rectangular, target=target)(x), rectangular(x)):
        assert np.array_equal(got, want)
    a, b = rng.normal(size=(4, 5)), None
    b = a.copy()
    got = coarsen.jit(in_place, target=target)(a)
    assert got == in_place(b) and np.array_equal(a, b)   # the caller's array filled, as NumPy's
    g = coarsen.grad(in_place, target=target)(rng.normal(size=(4, 5)))
    assert np.array_equal(g, np.where(np.eye(4, 5, dtype=bool), 0.0, W))


def wrapped(x):
    A = np.zeros((5, 2))
    np.fill_diagonal(A, x[0], wrap=True)
    return A


def vector_values(x):
    A = np.zeros((3, 3))
    np.fill_diagonal(A, x[:3])
    return A


def as_value(x):
    A = np.zeros((3, 3))
    return np.fill_diagonal(A, x[0])


@pytest.mark.parametrize("f, message", [(wrapped, "wrap=True"), (vector_values, "array of values"),
                                        (as_value, "used as a value")])
def test_refused_forms_name_the_users_line(f, message):
    with pytest.raises(coarsen.UnsupportedError, match=message) as err:
        coarsen.jit(f, target="numpy")(np.ones(4))
    assert f"{__file__}:{f.__code__.co_firstlineno + 2}:" in str(err.value) and "hint" in str(err.value)
