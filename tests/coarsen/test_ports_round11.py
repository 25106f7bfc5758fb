"""Public programs of round 11's port hunt (/work/scratch/ports11/FINDINGS.md), as written:
LU with partial pivoting (the row swap `U[[k, p]] = U[[p, k]]` with run-time rows), a pair
mask `np.where(np.eye(n, dtype=bool), 0.0, E)`, Horner's loop over an array argument (the hint
polyval's refusal gives), and the refusals whose hints misled (seeding inside the function)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen
from derivative_checks import central_gradient

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]


def lu_determinant(A):
    U = A.copy()
    n = U.shape[0]
    det = 1.0
    for k in range(n):
        p = np.argmax(np.abs(U[k:, k])) + k
        if p != k:
            U[[k, p]] = U[[p, k]]
            det = -det
        for i in range(k + 1, n):
            U[i] = U[i] - U[i, k] / U[k, k] * U[k]
        det = det * U[k, k]
    return det


def picked_rows(x, i, j):
    return np.sum(x[[i, j, i]] ** 2) + np.sum(x[1:, [j, 0]])


def coulomb_masked(x):
    n = x.shape[0]
    d = np.sqrt(np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1) + np.eye(n))
    return np.sum(np.where(np.eye(n, dtype=bool), 0.0, 1.0 / d))


def horner(c, x):
    y = np.zeros_like(x)
    for ci in c:
        y = y * x + ci
    return np.sum(y ** 2)


@pytest.mark.parametrize("target", TARGETS)
def test_lu_with_pivoting_against_numpy_and_the_cofactor_gradient(target):
    A = np.random.default_rng(0).normal(size=(5, 5))
    assert coarsen.jit(lu_determinant, target=target)(A) == pytest.approx(np.linalg.det(A), rel=1e-12)
    g = coarsen.grad(lu_determinant, target=target)(A)
    np.testing.assert_allclose(g, np.linalg.det(A) * np.linalg.inv(A).T, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_rows_picked_by_runtime_ints(target):
    x = np.arange(12.0).reshape(4, 3) / 7.0
    f = coarsen.jit(picked_rows, target=target)
    for i, j in ((0, 2), (3, 1), (-1, 0), (2, 2)):
        assert f(x, i, j) == pytest.approx(picked_rows(x, i, j), rel=1e-14)   # sums: 1 ulp of order
    np.testing.assert_allclose(coarsen.grad(picked_rows, target=target)(x, 3, 1),
                               central_gradient(picked_rows, [x, 3, 1], 0), rtol=1e-6, atol=1e-8)
    with pytest.raises(IndexError, match="out of bounds"):
        f(x, 5, 1)


@pytest.mark.parametrize("target", TARGETS)
def test_eye_as_a_boolean_mask(target):
    x = np.random.default_rng(1).normal(size=(5, 2))
    assert coarsen.jit(coulomb_masked, target=target)(x) == pytest.approx(coulomb_masked(x), rel=1e-13)
    np.testing.assert_allclose(coarsen.grad(coulomb_masked, target=target)(x),
                               central_gradient(coulomb_masked, [x], 0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("target", TARGETS)
def test_horner_over_an_array_argument(target):
    c, x = np.array([1.0, -2.0, 0.5, 3.0]), np.linspace(-1.0, 1.0, 5)
    for cc in (c, c[:2]):
        assert coarsen.jit(horner, target=target)(cc, x) == horner(cc, x)
        np.testing.assert_allclose(coarsen.grad(horner, target=target)(cc, x), central_gradient(horner, [cc, x], 0),
                                   rtol=1e-6, atol=1e-8)


def test_seeding_inside_is_refused_with_a_hint_that_fits():
    def f(x):
        np.random.seed(3)
        return np.sum(x * np.random.randn(3))
    with pytest.raises(coarsen.UnsupportedError, match=r"seeding a generator[\s\S]*seed outside and pass"):
        coarsen.jit(f)(np.ones(3))


def rnn_outputs(W, inputs):
    """autograd's examples/rnn.py as written: `for input in inputs:` appending to a list."""
    hiddens = np.zeros((inputs.shape[1], W.shape[1]))
    output = [np.tanh(hiddens)]
    for input in inputs:
        hiddens = np.tanh(np.dot(np.concatenate((input, hiddens), axis=1), W))
        output.append(hiddens)
    return sum(np.sum(o ** 2) for o in output)


def rnn_outputs_torch(W, inputs):
    hiddens = torch.zeros((inputs.shape[1], W.shape[1]), dtype=W.dtype)
    output = [torch.tanh(hiddens)]
    for input in inputs:
        hiddens = torch.tanh(torch.cat((input, hiddens), dim=1) @ W)
        output.append(hiddens)
    return sum(torch.sum(o ** 2) for o in output)


@pytest.mark.parametrize("target", TARGETS)
def test_a_loop_over_an_arguments_rows_that_grows_a_list(target):
    rng = np.random.default_rng(3)
    W = rng.normal(size=(5, 3)) * 0.5
    for steps in (4, 6, 4):   # each length its own program (the loop is unrolled)
        X = rng.normal(size=(steps, 2, 2))
        value, g = coarsen.value_and_grad(rnn_outputs, target=target)(W, X)
        wt = torch.tensor(W, requires_grad=True)
        rnn_outputs_torch(wt, torch.tensor(X)).backward()
        assert value == pytest.approx(rnn_outputs(W, X), rel=1e-13)
        np.testing.assert_allclose(g, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
