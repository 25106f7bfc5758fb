"""np.linalg.svd (`coarsen.ops.svd`): U, s and V^T are NumPy's own (its LAPACK's signs) on every
target, full_matrices True and False, compute_uv=False's values; reverse and forward mode
against torch.linalg.svd (its signs aligned to NumPy's) and central differences; derivatives
that are undefined (repeated or zero singular values where U/V are used, unequal adjoints of
repeated singular values, full_matrices' extra columns) refused when running at the user's line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen
from derivative_checks import central_difference
from simulator import run_cuda_script

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]
C = np.linspace(-1.0, 2.0, 64)


def factors(A):
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    m, n = A.shape
    k = min(m, n)
    return (np.sum(U * C[:m * k].reshape(m, k)) + np.sum(np.sin(s) * C[:k])
            + np.sum(np.exp(Vt) * C[::-1][:k * n].reshape(k, n)))


def factors_torch(A, signs):
    """torch's factors with NumPy's signs (`signs`, one per singular pair, constants)."""
    U, s, Vt = torch.linalg.svd(A, full_matrices=False)
    U, Vt = U * signs, Vt * signs[:, None]
    m, n = A.shape
    k = min(m, n)
    c = torch.tensor(C)
    return (torch.sum(U * c[:m * k].reshape(m, k)) + torch.sum(torch.sin(s) * c[:k])
            + torch.sum(torch.exp(Vt) * torch.flip(c, (0,))[:k * n].reshape(k, n)))


def _signs(A):
    """+-1 per singular pair: NumPy's U column over torch's."""
    U = np.linalg.svd(A, full_matrices=False)[0]
    Ut = torch.linalg.svd(torch.tensor(A), full_matrices=False)[0].numpy()
    return torch.tensor(np.sign(np.sum(U * Ut, axis=0)))


def all_factors(A):
    return np.linalg.svd(A)


def thin_factors(A):
    return np.linalg.svd(A, full_matrices=False)


def values_only(A):
    return np.linalg.svd(A, compute_uv=False)


def named(A):
    result = np.linalg.svd(A, full_matrices=False)
    return np.sum(result.U[:, 0]) * np.sum(result.Vh[0]) * result.S[0]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (5, 3), (3, 5), (4, 1), (1, 4), (0, 3)])
def test_values_are_numpys_own_signs_included(target, shape):
    rng = np.random.default_rng(sum(shape))
    compiled = [coarsen.jit(f, target=target) for f in (all_factors, thin_factors, values_only)]
    for _ in range(3 if target == "cpu" else 1):   # tiered: later calls run machine code
        A = rng.normal(size=shape)
        for f, plain in zip(compiled, (all_factors, thin_factors, values_only)):
            got, want = f(A), plain(A)
            for x, y in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
                assert x.dtype == y.dtype == np.float64 and x.shape == y.shape
                assert np.array_equal(x, y), (f, shape)
    if min(shape) > 0:   # NumPy's SVDResult: .U, .S, .Vh
        assert coarsen.jit(named, target=target)(A) == named(A)
        assert type(compiled[0](A)) is type(all_factors(A))
    ints = np.arange(6).reshape(3, 2)
    assert np.array_equal(coarsen.jit(values_only, target=target)(ints), values_only(ints))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (5, 3), (3, 5), (4, 1), (6, 4)])
def test_svd_against_torch_and_differences(target, shape):
    rng = np.random.default_rng(10 + sum(shape))
    vg = coarsen.value_and_grad(factors, target=target)
    for _ in range(3 if target == "cpu" else 1):
        A = rng.normal(size=shape)
        value, g = vg(A)
        assert value == pytest.approx(factors(A), rel=1e-12)
        At = torch.tensor(A, requires_grad=True)
        factors_torch(At, _signs(A)).backward()
        np.testing.assert_allclose(g, At.grad.numpy(), rtol=1e-8, atol=1e-10)
        T = rng.normal(size=shape)
        fd = central_difference(factors, (A,), 0, T)
        assert np.sum(g * T) == pytest.approx(fd, rel=1e-6, abs=1e-8)
        _, t = coarsen.jvp(factors, (A,), (T,), target=target)
        assert t == pytest.approx(fd, rel=1e-6, abs=1e-8)


def complete_leading(A):
    """full_matrices=True with only the first min(m, n) columns of U (rows of V^T) used: those
    have a derivative."""
    U, s, Vt = np.linalg.svd(A)
    k = min(A.shape)
    return np.sum(U[:, :k] ** 2 * C[:A.shape[0]][:, None]) + np.sum(Vt[:k] * C[:A.shape[1]]) + np.sum(s)


def complete_extra(A):
    U, s, Vt = np.linalg.svd(A)
    return np.sum(U[:, -1])


@pytest.mark.parametrize("target", TARGETS)
def test_full_matrices(target):
    rng = np.random.default_rng(4)
    for shape in ((5, 3), (3, 5), (4, 4)):
        A = rng.normal(size=shape)
        g = coarsen.grad(complete_leading, target=target)(A)
        T = rng.normal(size=shape)
        fd = central_difference(complete_leading, (A,), 0, T)
        assert np.sum(g * T) == pytest.approx(fd, rel=1e-6)
        if shape[0] == shape[1]:
            assert coarsen.jvp(complete_leading, (A,), (T,), target=target)[1] == pytest.approx(fd, rel=1e-6)
        else:   # forward mode cannot leave the extra vectors' tangent out: refused, used or not
            with pytest.raises(coarsen.UnsupportedError, match="full_matrices=True adds singular vectors"):
                coarsen.jvp(complete_leading, (A,), (T,), target=target)
    A = rng.normal(size=(5, 3))   # U[:, -1] is one of full_matrices' extra columns: no derivative
    line = f"{__file__}:{complete_extra.__code__.co_firstlineno + 1}:"
    with pytest.raises(coarsen.UnsupportedError, match="derivative of the U is undefined") as err:
        coarsen.grad(complete_extra, target=target)(A)
    assert line in str(err.value) and "hint" in str(err.value)
    with pytest.raises(coarsen.UnsupportedError, match="forward-mode derivative of the U"):
        coarsen.jvp(complete_extra, (A,), (rng.normal(size=A.shape),), target=target)
    square = rng.normal(size=(3, 3))   # square: no extra columns
    T = rng.normal(size=(3, 3))
    assert np.sum(coarsen.grad(complete_extra, target=target)(square) * T) == \
        pytest.approx(central_difference(complete_extra, (square,), 0, T), rel=1e-6)


def sum_of_squares(A):
    return np.sum(np.linalg.svd(A, compute_uv=False) ** 2)


def nuclear(A):
    return np.sum(np.linalg.svd(A)[1])


def largest(A):
    return np.linalg.svd(A)[1][0]


def first_vector(A):
    U, s, Vt = np.linalg.svd(A)
    return np.sum(U[:, 0] * np.array([1.0, 2.0, 3.0]))


def reconstruction(A):
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    return np.sum((U * s) @ Vt * np.arange(9.0).reshape(3, 3))


@pytest.mark.parametrize("target", TARGETS)
def test_repeated_and_zero_singular_values(target):
    """At diag(2, 2, 1) sum(s**2) and sum(s) are differentiable; s[0], U's columns and even the
    reconstruction U diag(s) V^T (smooth, but its pieces are not) are refused when running; at
    a rank-deficient A sum(s**2) is differentiable, sum(s) (|x| at 0) and U are refused."""
    rng = np.random.default_rng(9)
    Q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    repeated = Q @ np.diag([2.0, 2.0, 1.0]) @ Q.T
    deficient = rng.normal(size=(3, 2)) @ rng.normal(size=(2, 3))
    T = rng.normal(size=(3, 3))
    for A, fine, refused in ((repeated, (sum_of_squares, nuclear), (largest, first_vector, reconstruction)),
                             (deficient, (sum_of_squares,), (nuclear, first_vector, reconstruction))):
        for f in fine:
            g = coarsen.grad(f, target=target)(A)
            assert np.sum(g * T) == pytest.approx(central_difference(f, (A,), 0, T), rel=1e-6, abs=1e-8)
        for f in refused:
            with pytest.raises(coarsen.UnsupportedError, match="singular values repeat or are zero") as err:
                coarsen.grad(f, target=target)(A)
            assert f"{__file__}:{f.__code__.co_firstlineno + 1}:" in str(err.value)
            with pytest.raises(coarsen.UnsupportedError, match="forward-mode derivative"):
                coarsen.jvp(f, (A,), (T,), target=target)
            assert coarsen.jit(f, target=target)(A) == f(A)   # values alone are fine
    # forward mode: a tangent that keeps the singular values repeated is defined for them
    _, t = coarsen.jvp(nuclear, (repeated,), (repeated,), target=target)
    assert t == pytest.approx(5.0)


def low_rank_denoise(X, rank=2):
    """Truncated SVD as users write it: keep the top singular triplets, score the fit and the
    nuclear norm of the result."""
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    approx = U[:, :rank] @ np.diag(s[:rank]) @ Vt[:rank, :]
    return np.sum((X - approx) ** 2) + 0.1 * np.sum(np.linalg.svd(approx, compute_uv=False)[:rank])


def low_rank_denoise_torch(X, rank=2):
    U, s, Vt = torch.linalg.svd(X, full_matrices=False)
    approx = U[:, :rank] @ torch.diag(s[:rank]) @ Vt[:rank, :]
    return torch.sum((X - approx) ** 2) + 0.1 * torch.sum(torch.linalg.svdvals(approx)[:rank])


def whitening_directions(X):
    """PCA directions by SVD of centred data, with the sign convention made explicit."""
    Xc = X - np.mean(X, axis=0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    signs = np.sign(Vt[:, 0])
    W = (Vt * signs[:, None]) / s[:, None]
    return np.sum((Xc @ W.T)[:, 0] * np.linspace(-1.0, 1.0, X.shape[0]))


@pytest.mark.parametrize("target", TARGETS)
def test_user_programs(target):
    rng = np.random.default_rng(12)
    X = rng.normal(size=(7, 4)) + np.outer(rng.normal(size=7), rng.normal(size=4)) * 3
    value, g = coarsen.value_and_grad(low_rank_denoise, target=target)(X)
    assert value == pytest.approx(low_rank_denoise(X), rel=1e-10)
    Xt = torch.tensor(X, requires_grad=True)
    low_rank_denoise_torch(Xt).backward()
    np.testing.assert_allclose(g, Xt.grad.numpy(), rtol=1e-7, atol=1e-10)
    T = rng.normal(size=X.shape)
    assert np.sum(g * T) == pytest.approx(central_difference(low_rank_denoise, (X,), 0, T), rel=1e-6)
    with pytest.raises(coarsen.UnsupportedError, match="forward-mode derivative of the singular values"):
        coarsen.jvp(low_rank_denoise, (X,), (T,), target=target)   # approx's zero singular values
    g = coarsen.grad(whitening_directions, target=target)(X)
    assert np.sum(g * T) == pytest.approx(central_difference(whitening_directions, (X,), 0, T), rel=1e-6)
    jac = coarsen.jacfwd(lambda a: np.linalg.svd(a, compute_uv=False), target=target)(X[:3, :3])
    out, pull = coarsen.vjp(lambda a: np.linalg.svd(a, compute_uv=False), X[:3, :3], target=target)
    for i in range(3):
        np.testing.assert_allclose(pull(np.eye(3)[i])[0], jac[i], rtol=1e-10, atol=1e-12)


def hermitian(A):
    return np.linalg.svd(A, hermitian=True)[1]


def batched(A):
    return np.linalg.svd(A)[1]


def test_refusals_and_numpys_errors():
    with pytest.raises(coarsen.UnsupportedError, match="hermitian=True") as err:
        coarsen.jit(hermitian, target="numpy")(np.eye(2))
    assert f"{__file__}:{hermitian.__code__.co_firstlineno + 1}:" in str(err.value)
    with pytest.raises(coarsen.UnsupportedError, match="rank-3"):
        coarsen.jit(batched, target="numpy")(np.ones((2, 2, 2)))
    for target in TARGETS:
        with pytest.raises(np.linalg.LinAlgError, match="SVD did not converge"):
            coarsen.jit(batched, target=target)(np.array([[np.nan, 1.0], [1.0, 1.0]]))


CUDA_SCRIPT = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np, coarsen
import test_svd as T
rng = np.random.default_rng(0)
for shape in ((5, 3), (3, 5)):
    A = rng.normal(size=shape)
    for f in (T.factors, T.low_rank_denoise):
        v, g = coarsen.value_and_grad(f, target="cuda")(A)
        rv, rg = coarsen.value_and_grad(f, target="numpy")(A)
        assert np.isclose(v, rv, rtol=1e-13) and np.allclose(g, rg, rtol=1e-10, atol=1e-12), f.__name__
    t = rng.normal(size=shape)
    assert np.isclose(coarsen.jvp(T.factors, (A,), (t,), target="cuda")[1],
                      coarsen.jvp(T.factors, (A,), (t,), target="numpy")[1], rtol=1e-10)
    for got, want in zip(coarsen.jit(T.all_factors, target="cuda")(A), T.all_factors(A)):
        assert np.array_equal(got, want)
try:
    coarsen.grad(T.first_vector, target="cuda")(np.diag([2.0, 2.0, 1.0]))
    raise SystemExit("not refused")
except coarsen.UnsupportedError as err:
    assert "singular values repeat" in str(err)
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_svd_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
