"""np.linalg.lstsq and pinv (`coarsen.ops.linalg`): the solution is NumPy's own on every target;
reverse and forward mode for A of full column rank against torch.linalg.lstsq and central
differences; a rank-deficient A is refused when running (its derivative is undefined), never
differentiated silently; the rank and singular values are returned, the residuals (whose
length depends on the rank) are refused where used."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen
from derivative_checks import TARGETS, calls, central_difference, check_against_differences, check_against_torch
from simulator import run_cuda_script


def weighted_solution(A, b):
    x = np.linalg.lstsq(A, b, rcond=None)[0]
    return np.sum(np.sin(x) * np.linspace(1.0, 2.0, x.size).reshape(x.shape))


def weighted_solution_torch(A, b):
    B = b[:, None] if b.ndim == 1 else b
    x = torch.linalg.lstsq(A, B).solution
    x = x[:, 0] if b.ndim == 1 else x
    return torch.sum(torch.sin(x) * torch.linspace(1.0, 2.0, x.numel(), dtype=torch.float64).reshape(x.shape))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape, k", [((5, 3), None), ((3, 3), None), ((6, 2), 3), ((4, 1), None), ((7, 4), 2)])
def test_lstsq_against_torch_and_differences(target, shape, k):
    rng = np.random.default_rng(sum(shape))
    vg = coarsen.value_and_grad(weighted_solution, argnums=(0, 1), target=target)
    for _ in calls(target):
        A = rng.normal(size=shape)
        b = rng.normal(size=shape[0] if k is None else (shape[0], k))
        x = coarsen.jit(lambda a, v: np.linalg.lstsq(a, v, rcond=None)[0], target=target)(A, b)
        assert np.array_equal(x, np.linalg.lstsq(A, b, rcond=None)[0])
        value, grads = vg(A, b)
        assert value == pytest.approx(weighted_solution(A, b), rel=1e-12)
        check_against_torch(grads, weighted_solution_torch, (A, b), (0, 1))
        check_against_differences(weighted_solution, (A, b), (0, 1), grads, target, rng)


def linear_regression_loss(w_true, X, noise):
    """Linear regression as users write it: fit by least squares, score the fitted coefficients
    and the fit's residual; differentiated w.r.t. the data's generating coefficients."""
    y = X @ w_true + noise
    coef, _, rank, sv = np.linalg.lstsq(X, y, rcond=None)
    fitted = X @ coef
    return np.sum((coef - w_true) ** 2) + 0.5 * np.mean((y - fitted) ** 2) + 0.0 * rank + 0.0 * sv[0]


def linear_regression_loss_torch(w_true, X, noise):
    y = X @ w_true + noise
    coef = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    fitted = X @ coef
    return torch.sum((coef - w_true) ** 2) + 0.5 * torch.mean((y - fitted) ** 2)


@pytest.mark.parametrize("target", TARGETS)
def test_linear_regression(target):
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(30), rng.normal(size=(30, 2))])
    w, noise = np.array([0.5, -1.0, 2.0]), 0.3 * rng.normal(size=30)
    value, (gw, gX) = coarsen.value_and_grad(linear_regression_loss, argnums=(0, 1), target=target)(w, X, noise)
    assert value == pytest.approx(linear_regression_loss(w, X, noise), rel=1e-12)
    check_against_torch((gw, gX), linear_regression_loss_torch, (w, X, noise), (0, 1), atol=1e-12)


def outputs(A, b):
    x, _, rank, sv = np.linalg.lstsq(A, b)
    return x, rank, sv


def residuals(A, b):
    x, res, rank, sv = np.linalg.lstsq(A, b)
    return np.sum(res)


@pytest.mark.parametrize("target", TARGETS)
def test_rank_deficient_and_other_results(target):
    rng = np.random.default_rng(4)
    A, b = rng.normal(size=(6, 3)), rng.normal(size=6)
    x, rank, sv = coarsen.jit(outputs, target=target)(A, b)
    want = np.linalg.lstsq(A, b)
    assert np.array_equal(x, want[0]) and rank == want[2] == 3
    np.testing.assert_allclose(sv, want[3], rtol=1e-12)
    deficient = A.copy()
    deficient[:, 2] = deficient[:, 0] - deficient[:, 1]
    x, rank, _ = coarsen.jit(outputs, target=target)(deficient, b)   # values: NumPy's minimum-norm solution
    assert rank == 2 and np.array_equal(x, np.linalg.lstsq(deficient, b)[0])
    line = f"{__file__}:{weighted_solution.__code__.co_firstlineno + 1}:"
    for call in (lambda: coarsen.grad(weighted_solution, target=target)(deficient, b),
                 lambda: coarsen.grad(weighted_solution, argnums=(0, 1), target=target)(deficient, b),
                 lambda: coarsen.jvp(weighted_solution, (deficient, b), (A, b), target=target),
                 lambda: coarsen.grad(weighted_solution, target=target)(A.T, b[:3])):   # fewer rows than columns
        with pytest.raises(coarsen.UnsupportedError, match="full column rank") as err:
            call()
        assert line in str(err.value)
    # x = A+ b is linear in b for any A: its derivative in b alone is A+ (also wide A)
    for M, v in ((deficient, b), (A.T, b[:3])):
        gb = coarsen.grad(weighted_solution, argnums=1, target=target)(M, v)
        T = rng.normal(size=v.shape)
        assert np.sum(gb * T) == pytest.approx(central_difference(weighted_solution, (M, v), 1, T), rel=1e-6)
        _, t = coarsen.jvp(weighted_solution, (M, v), (T,), argnums=1, target=target)
        assert t == pytest.approx(np.sum(gb * T), rel=1e-10)
    with pytest.raises(coarsen.UnsupportedError, match="residuals") as err:
        coarsen.jit(residuals, target=target)(A, b)
    assert f"{__file__}:{residuals.__code__.co_firstlineno + 2}:" in str(err.value)


def pinv(A):
    return np.linalg.pinv(A)


def pinv_loss(A):
    P = np.linalg.pinv(A)
    return np.sum(P * np.cos(A.T))


@pytest.mark.parametrize("target", TARGETS)
def test_pinv(target):
    rng = np.random.default_rng(6)
    for shape in ((5, 3), (3, 3)):
        A = rng.normal(size=shape)
        np.testing.assert_allclose(coarsen.jit(pinv, target=target)(A), np.linalg.pinv(A),
                                   rtol=1e-12, atol=1e-14)
        value, g = coarsen.value_and_grad(pinv_loss, target=target)(A)
        assert value == pytest.approx(pinv_loss(A), rel=1e-12)
        check_against_torch((g,), lambda a: torch.sum(torch.linalg.pinv(a) * torch.cos(a.T)), (A,), (0,))
    with pytest.raises(coarsen.UnsupportedError, match="full column rank"):
        coarsen.grad(pinv_loss, target=target)(rng.normal(size=(2, 4)))


CUDA_SCRIPT = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np, coarsen
import test_lstsq as T
from derivative_checks import refused, same_on_cuda_as_on_numpy
rng = np.random.default_rng(0)
A, b = rng.normal(size=(6, 3)), rng.normal(size=6)
same_on_cuda_as_on_numpy(T.weighted_solution, (A, b), (0, 1))
same_on_cuda_as_on_numpy(T.linear_regression_loss, (np.ones(3), A, b), (0, 1))
d = A.copy(); d[:, 2] = d[:, 0]
refused(lambda: coarsen.grad(T.weighted_solution, target="cuda")(d, b), "full column rank")
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_lstsq_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
