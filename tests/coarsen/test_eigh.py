"""np.linalg.eigh and eigvalsh (`coarsen.ops.linalg`): values are NumPy's own (its LAPACK's
eigenvector signs too) on every target; reverse and forward mode against torch.linalg.eigh and
central differences; the lower (UPLO='L') or upper triangle is all that is read, so the
derivative is that of the triangle (differences of the full matrix agree with it); at repeated
eigenvalues, derivatives that are undefined, or not determined by the adjoint at that point,
are refused when running, at the user's line, and symmetric functions of the eigenvalues are
computed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen
from derivative_checks import TARGETS, calls, central_difference, check_against_differences, check_against_torch
from simulator import run_cuda_script

C4 = np.linspace(-1.0, 2.0, 25)


def spectral(A):
    """Eigenvalues and sign-free functions of the eigenvectors (squares, outer products)."""
    w, v = np.linalg.eigh(A)
    n = A.shape[0]
    c = C4[:n * n].reshape(n, n)
    return np.sum(w ** 3 * C4[:n]) + np.sum(v ** 2 * c) + np.sum(np.outer(v[:, 0], v[:, -1]) * c.T)


def spectral_upper(A):
    w, v = np.linalg.eigh(A, UPLO="U")
    n = A.shape[0]
    return np.sum(np.sin(w)) + np.sum((v @ np.diag(np.exp(-w)) @ v.T) * C4[:n * n].reshape(n, n))


def spectral_torch(A, upper=False):
    S = (torch.triu(A) + torch.triu(A, 1).T) if upper else (torch.tril(A) + torch.tril(A, -1).T)
    w, v = torch.linalg.eigh(S)
    n = A.shape[0]
    c = torch.tensor(C4[:n * n].reshape(n, n))
    if upper:
        return torch.sum(torch.sin(w)) + torch.sum((v @ torch.diag(torch.exp(-w)) @ v.T) * c)
    return (torch.sum(w ** 3 * torch.tensor(C4[:n])) + torch.sum(v ** 2 * c)
            + torch.sum(torch.outer(v[:, 0], v[:, -1]) * c.T))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("upper", [False, True])
def test_eigh_against_torch_and_differences(target, n, upper):
    rng = np.random.default_rng(n)
    f = spectral_upper if upper else spectral
    vg = coarsen.value_and_grad(f, target=target)
    for _ in calls(target):
        A = rng.normal(size=(n, n))
        value, g = vg(A)
        assert value == pytest.approx(f(A), rel=1e-12, abs=1e-12)
        check_against_torch((g,), lambda a: spectral_torch(a, upper), (A,), (0,))
        # the triangle NumPy does not read has no derivative
        other = np.triu(g, 1) if not upper else np.tril(g, -1)
        assert not other.any()
        T = rng.normal(size=(n, n))
        fd = central_difference(f, (A,), 0, T)
        assert np.sum(g * T) == pytest.approx(fd, rel=1e-6, abs=1e-8)
        _, tangent = coarsen.jvp(f, (A,), (T,), target=target)
        assert tangent == pytest.approx(fd, rel=1e-6, abs=1e-8)
        assert tangent == pytest.approx(np.sum(g * T), rel=1e-10, abs=1e-12)


def both(A):
    w, v = np.linalg.eigh(A)
    return w, v, np.linalg.eigvalsh(A, UPLO="U"), np.linalg.eigh(A, "u")[1]


@pytest.mark.parametrize("target", TARGETS)
def test_values_are_numpys_own_signs_included(target):
    rng = np.random.default_rng(3)
    f = coarsen.jit(both, target=target)
    for n in (1, 2, 4, 6, 6, 6):
        A = rng.normal(size=(n, n))
        for got, want in zip(f(A), both(A)):
            assert np.array_equal(got, want)


def eigenvector_tangents(A):
    return np.linalg.eigh(A)[1]


@pytest.mark.parametrize("target", TARGETS)
def test_eigenvector_vjp_and_jvp_follow_the_returned_signs(target):
    """The raw eigenvectors (signs as NumPy returned them) against central differences: LAPACK's
    signs are continuous for a small step."""
    rng = np.random.default_rng(5)
    A = rng.normal(size=(4, 4))
    T = rng.normal(size=(4, 4))
    fd = central_difference(eigenvector_tangents, (A,), 0, T)
    _, tangent = coarsen.jvp(eigenvector_tangents, (A,), (T,), target=target)
    np.testing.assert_allclose(tangent, fd, rtol=1e-6, atol=1e-7)
    _, pullback = coarsen.vjp(eigenvector_tangents, A, target=target)
    ct = rng.normal(size=(4, 4))
    (g,) = pullback(ct)
    assert np.sum(g * T) == pytest.approx(np.sum(ct * fd), rel=1e-6)


def pca_reconstruction_error(X):
    """PCA as users write it: centre, covariance, keep the two leading eigenvectors."""
    Xc = X - X.mean(axis=0)
    C = Xc.T @ Xc / (X.shape[0] - 1)
    w, V = np.linalg.eigh(C)
    W = V[:, -2:]
    R = Xc @ W @ W.T
    return np.sum((Xc - R) ** 2) + 0.1 * np.sum(w)


def pca_reconstruction_error_torch(X):
    Xc = X - X.mean(dim=0)
    C = Xc.T @ Xc / (X.shape[0] - 1)
    w, V = torch.linalg.eigh(C)
    W = V[:, -2:]
    R = Xc @ W @ W.T
    return torch.sum((Xc - R) ** 2) + 0.1 * torch.sum(w)


@pytest.mark.parametrize("target", TARGETS)
def test_pca_reconstruction_error(target):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 4)) * np.array([3.0, 2.0, 1.0, 0.5])
    value, g = coarsen.value_and_grad(pca_reconstruction_error, target=target)(X)
    assert value == pytest.approx(pca_reconstruction_error(X), rel=1e-12)
    check_against_torch((g,), pca_reconstruction_error_torch, (X,), (0,))
    check_against_differences(pca_reconstruction_error, (X,), (0,), (g,), target, rng)


def sum_of_squares(A):
    return np.sum(np.linalg.eigvalsh(A) ** 2)


def smallest(A):
    return np.linalg.eigvalsh(A)[0]


def projector(A):
    w, v = np.linalg.eigh(A)
    P = v[:, :2] @ v[:, :2].T
    return np.sum(P * np.arange(9.0).reshape(3, 3))


def first_vector(A):
    w, v = np.linalg.eigh(A)
    return np.sum(v[:, 0] * np.array([1.0, 2.0, 3.0]))


def reconstruction_minus_trace(A):
    """<C, V diag(w) V^T> - (w_0 + w_1): at diag(1, 1, 3) its eigenvector adjoint is a
    projector's (same X = V^T dV), its derivative is not."""
    w, v = np.linalg.eigh(A)
    C = np.array([[1.0, 5.0, 2.0], [5.0, 1.0, 3.0], [2.0, 3.0, 0.0]])
    return np.sum((v @ np.diag(w) @ v.T) * C) - w[0] - w[1]


@pytest.mark.parametrize("target", TARGETS)
def test_repeated_eigenvalues(target):
    """A = diag(1, 1, 3): sum(w**2) is differentiable (its derivative is computed); w[0], an
    eigenvector of the repeated eigenvalue, and any adjoint coupling the two eigenvectors (a
    projector onto their eigenspace too: its first-order data at A are those of
    reconstruction_minus_trace, whose derivative differs) are refused when running, at the
    user's line, for grad and jvp."""
    A = np.diag([1.0, 1.0, 3.0])
    rng = np.random.default_rng(9)
    g = coarsen.grad(sum_of_squares, target=target)(A)
    for _ in range(3):
        T = rng.normal(size=(3, 3))
        assert np.sum(g * T) == pytest.approx(central_difference(sum_of_squares, (A,), 0, T), rel=1e-6, abs=1e-8)
    for f in (smallest, first_vector, projector, reconstruction_minus_trace):
        line = f.__code__.co_firstlineno + (3 if f is reconstruction_minus_trace else 1)
        with pytest.raises(coarsen.UnsupportedError, match="repeated eigenvalues") as err:
            coarsen.grad(f, target=target)(A)
        assert f"{__file__}:{line}:" in str(err.value)
        with pytest.raises(coarsen.UnsupportedError, match="repeated eigenvalues"):
            coarsen.jvp(f, (A,), (rng.normal(size=(3, 3)),), target=target)
    # forward mode: a tangent that keeps the eigenvalues repeated is defined for eigenvalues
    _, t = coarsen.jvp(sum_of_squares, (A,), (np.eye(3),), target=target)
    assert t == pytest.approx(2.0 * (1 + 1 + 3))
    with pytest.raises(coarsen.UnsupportedError, match="forward-mode derivative of the eigenvalues"):
        coarsen.jvp(sum_of_squares, (A,), (np.ones((3, 3)),), target=target)
    # values alone are fine, and close but distinct eigenvalues are differentiated
    assert coarsen.jit(smallest, target=target)(A) == 1.0
    B = np.diag([1.0, 1.0 + 1e-4, 3.0])
    T = rng.normal(size=(3, 3))
    for f in (first_vector, projector):
        fd = central_difference(f, (B,), 0, T, h=1e-8)
        assert np.sum(coarsen.grad(f, target=target)(B) * T) == pytest.approx(fd, rel=1e-5)


def bad_uplo(A):
    return np.linalg.eigvalsh(A, UPLO="X")


def batched(A):
    return np.linalg.eigh(A)[0]


def test_refusals_and_numpys_errors():
    with pytest.raises(ValueError, match="UPLO"):
        coarsen.jit(bad_uplo, target="numpy")(np.eye(2))
    with pytest.raises(coarsen.UnsupportedError, match="rank-3") as err:
        coarsen.grad(lambda A: np.sum(batched(A)))(np.ones((2, 2, 2)))
    assert __file__ in str(err.value)
    for target in TARGETS:
        with pytest.raises(np.linalg.LinAlgError):
            coarsen.jit(batched, target=target)(np.ones((2, 3)))


CUDA_SCRIPT = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np, coarsen
import test_eigh as T
from derivative_checks import refused, same_on_cuda_as_on_numpy
rng = np.random.default_rng(0)
A, X = rng.normal(size=(4, 4)), rng.normal(size=(12, 4))
for f, x in ((T.spectral, A), (T.spectral_upper, A), (T.pca_reconstruction_error, X)):
    same_on_cuda_as_on_numpy(f, (x,), grad_rtol=1e-11, grad_atol=1e-13, jvp_rtol=1e-9, rng=rng)
for got, want in zip(coarsen.jit(T.both, target="cuda")(A), T.both(A)):
    assert np.array_equal(got, want)
refused(lambda: coarsen.grad(T.first_vector, target="cuda")(np.diag([1.0, 1.0, 3.0])), "repeated eigenvalues")
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_eigh_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
