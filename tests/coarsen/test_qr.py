"""np.linalg.qr (`coarsen.ops.linalg`), modes 'reduced' (the default) and 'r': Q and R are
NumPy's own (its LAPACK's signs) on every target; reverse and forward mode for A with at least
as many rows as columns and full column rank, against torch.linalg.qr and central differences;
a wide or rank-deficient A is refused when differentiated (values are NumPy's), mode
'complete'/'raw' at the user's line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen
from derivative_checks import TARGETS, calls, central_difference, check_against_differences, check_against_torch
from simulator import run_cuda_script

C = np.linspace(-1.0, 2.0, 64)


def factors(A):
    Q, R = np.linalg.qr(A)
    m, n = A.shape
    return np.sum(Q * C[:m * n].reshape(m, n)) + np.sum(R ** 3 * C[:n * n].reshape(n, n))


def factors_torch(A):
    Q, R = torch.linalg.qr(A)
    m, n = A.shape
    return (torch.sum(Q * torch.tensor(C[:m * n].reshape(m, n)))
            + torch.sum(R ** 3 * torch.tensor(C[:n * n].reshape(n, n))))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (5, 3), (4, 1), (6, 4)])
def test_qr_against_torch_and_differences(target, shape):
    rng = np.random.default_rng(sum(shape))
    vg = coarsen.value_and_grad(factors, target=target)
    qr = coarsen.jit(lambda a: np.linalg.qr(a), target=target)
    for _ in calls(target):
        A = rng.normal(size=shape)
        for got, want in zip(qr(A), np.linalg.qr(A)):
            assert np.array_equal(got, want)
        value, g = vg(A)
        assert value == pytest.approx(factors(A), rel=1e-12)
        check_against_torch((g,), factors_torch, (A,), (0,))
        check_against_differences(factors, (A,), (0,), (g,), target, rng)


def r_only(A):
    R = np.linalg.qr(A, mode="r")
    return np.sum(R ** 2) + np.sum(R[0] ** 3 * C[:R.shape[1]])


@pytest.mark.parametrize("target", TARGETS)
def test_mode_r(target):
    rng = np.random.default_rng(3)
    A = rng.normal(size=(5, 3))
    assert np.array_equal(coarsen.jit(lambda a: np.linalg.qr(a, mode="r"), target=target)(A), np.linalg.qr(A, mode="r"))
    g = coarsen.grad(r_only, target=target)(A)
    T = rng.normal(size=A.shape)
    assert np.sum(g * T) == pytest.approx(central_difference(r_only, (A,), 0, T), rel=1e-6)


def qr_least_squares(A, b):
    """Least squares through QR as users write it (orthonormal basis, back substitution), scored
    against the Gram-Schmidt property Q^T Q = I and the fit."""
    Q, R = np.linalg.qr(A)
    x = np.linalg.solve(R, Q.T @ b)
    fit = A @ x
    return np.sum((b - fit) ** 2) + np.sum(x ** 2) + np.sum((Q.T @ Q - np.eye(A.shape[1])) ** 2)


def qr_least_squares_torch(A, b):
    Q, R = torch.linalg.qr(A)
    x = torch.linalg.solve(R, Q.T @ b)
    fit = A @ x
    return (torch.sum((b - fit) ** 2) + torch.sum(x ** 2)
            + torch.sum((Q.T @ Q - torch.eye(A.shape[1], dtype=torch.float64)) ** 2))


def gram_schmidt(A):
    """Classical Gram-Schmidt (plain NumPy, not compiled): the reference Q up to column signs."""
    Q = np.zeros_like(A)
    for j in range(A.shape[1]):
        v = A[:, j] - Q[:, :j] @ (Q[:, :j].T @ A[:, j])
        Q[:, j] = v / np.linalg.norm(v)
    return Q


@pytest.mark.parametrize("target", TARGETS)
def test_qr_least_squares_and_gram_schmidt(target):
    rng = np.random.default_rng(5)
    A, b = rng.normal(size=(8, 3)), rng.normal(size=8)
    Q, R = coarsen.jit(lambda a: np.linalg.qr(a), target=target)(A)
    np.testing.assert_allclose(Q * np.sign(np.diag(R)), gram_schmidt(A), rtol=1e-10, atol=1e-12)
    value, (gA, gb) = coarsen.value_and_grad(qr_least_squares, argnums=(0, 1), target=target)(A, b)
    assert value == pytest.approx(qr_least_squares(A, b), rel=1e-10)
    check_against_torch((gA, gb), qr_least_squares_torch, (A, b), (0, 1), rtol=1e-7)
    x = np.linalg.lstsq(A, b, rcond=None)[0]
    assert np.sum((b - A @ x) ** 2) + np.sum(x ** 2) == pytest.approx(value, rel=1e-8, abs=1e-12)


def complete(A):
    return np.sum(np.linalg.qr(A, mode="complete")[0])


@pytest.mark.parametrize("target", TARGETS)
def test_wide_or_rank_deficient_is_refused_when_differentiated(target):
    rng = np.random.default_rng(7)
    wide = rng.normal(size=(3, 5))
    f = coarsen.jit(lambda a: np.linalg.qr(a), target=target)
    for got, want in zip(f(wide), np.linalg.qr(wide)):
        assert np.array_equal(got, want)
    deficient = rng.normal(size=(5, 3))
    deficient[:, 2] = deficient[:, 1]
    line = f"{__file__}:{r_only.__code__.co_firstlineno + 1}:"
    with pytest.raises(coarsen.UnsupportedError, match="full column rank"):
        coarsen.grad(factors, target=target)(deficient)
    for A in (wide, deficient):
        with pytest.raises(coarsen.UnsupportedError, match="full column rank") as err:
            coarsen.grad(r_only, target=target)(A)
        assert line in str(err.value)
        with pytest.raises(coarsen.UnsupportedError, match="full column rank"):
            coarsen.jvp(r_only, (A,), (A,), target=target)
    with pytest.raises(coarsen.UnsupportedError, match="mode='complete'") as err:
        coarsen.grad(complete, target=target)(deficient)
    assert f"{__file__}:{complete.__code__.co_firstlineno + 1}:" in str(err.value)
    assert "hint" in str(err.value)


CUDA_SCRIPT = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np, coarsen
import test_qr as T
from derivative_checks import refused, same_on_cuda_as_on_numpy
rng = np.random.default_rng(0)
A, b = rng.normal(size=(6, 3)), rng.normal(size=6)
for f, args in ((T.factors, (A,)), (T.qr_least_squares, (A, b)), (T.r_only, (A,))):
    same_on_cuda_as_on_numpy(f, args, tuple(range(len(args))), rng=rng)
refused(lambda: coarsen.grad(T.r_only, target="cuda")(rng.normal(size=(2, 4))), "full column rank")
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_qr_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
