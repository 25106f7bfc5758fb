"""scipy.stats.multivariate_normal.logpdf and .pdf (`coarsen.ops.distributions`), lowered to a
Cholesky factor, a triangular solve and the log of its diagonal: values against SciPy, reverse
and forward mode against torch's MultivariateNormal and central differences (w.r.t. x, mean
and cov: the derivative of the lower triangle SciPy reads); SciPy's errors and the shapes SciPy
changes with the data, refused."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from scipy.stats import multivariate_normal

import coarsen
from derivative_checks import TARGETS, calls, central_difference, check_against_differences, check_against_torch
from simulator import run_cuda_script


def logpdf(x, mean, cov):
    return multivariate_normal.logpdf(x, mean, cov)


def pdf_sum(x, mean, cov):
    return np.sum(scipy.stats.multivariate_normal.pdf(x, mean=mean, cov=cov))


def _torch_logpdf(x, mean, cov):
    return torch.distributions.MultivariateNormal(mean, covariance_matrix=cov).log_prob(x)


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + d * np.eye(d)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("d, rows", [(1, None), (2, None), (3, None), (3, 5), (1, 4), (4, 2)])
def test_logpdf_against_scipy_torch_and_differences(target, d, rows):
    rng = np.random.default_rng(10 * d + (rows or 0))
    total = lambda x, m, c: 1.5 * np.sum(logpdf(x, m, c))
    # the lower triangle is what SciPy reads
    total_torch = lambda x, m, c: 1.5 * torch.sum(_torch_logpdf(x, m, torch.tril(c) + torch.tril(c, -1).T))
    f = coarsen.value_and_grad(lambda x, m, c: np.sum(logpdf(x, m, c) * 1.5), argnums=(0, 1, 2), target=target)
    for _ in calls(target):
        x = rng.normal(size=(d,) if rows is None else (rows, d))
        mean, cov = rng.normal(size=d), _spd(rng, d)
        assert np.shape(coarsen.jit(logpdf, target=target)(x, mean, cov)) == np.shape(logpdf(x, mean, cov))
        np.testing.assert_allclose(coarsen.jit(logpdf, target=target)(x, mean, cov), logpdf(x, mean, cov),
                                   rtol=1e-12)
        value, grads = f(x, mean, cov)
        assert value == pytest.approx(1.5 * np.sum(logpdf(x, mean, cov)), rel=1e-12)
        check_against_torch(grads, total_torch, (x, mean, cov), (0, 1, 2), rtol=1e-9, atol=1e-12)
        assert not np.triu(grads[2], 1).any()
        check_against_differences(total, (x, mean, cov), (0, 1, 2), grads, target, rng)


@pytest.mark.parametrize("target", TARGETS)
def test_pdf(target):
    rng = np.random.default_rng(4)
    x, mean, cov = rng.normal(size=(6, 2)), rng.normal(size=2), _spd(rng, 2)
    value, (gx, gm) = coarsen.value_and_grad(pdf_sum, argnums=(0, 1), target=target)(x, mean, cov)
    assert value == pytest.approx(pdf_sum(x, mean, cov), rel=1e-12)
    check_against_torch((gx, gm), lambda x, m, c: torch.sum(torch.exp(_torch_logpdf(x, m, c))), (x, mean, cov), (0, 1),
                        rtol=1e-9, atol=1e-14)


def gaussian_log_likelihood(log_sd, rho, mu, X):
    """A bivariate Gaussian's log-likelihood as users write it: the covariance built from
    log standard deviations and a correlation, summed over the rows of data."""
    sd = np.exp(log_sd)
    corr = np.array([[1.0, rho], [rho, 1.0]])
    cov = corr * np.outer(sd, sd)
    return np.sum(multivariate_normal.logpdf(X, mean=mu, cov=cov))


def gaussian_log_likelihood_torch(log_sd, rho, mu, X):
    sd = torch.exp(log_sd)
    one = torch.ones((), dtype=torch.float64)
    corr = torch.stack([torch.stack([one, rho]), torch.stack([rho, one])])
    cov = corr * torch.outer(sd, sd)
    return torch.sum(torch.distributions.MultivariateNormal(mu, covariance_matrix=cov).log_prob(X))


@pytest.mark.parametrize("target", TARGETS)
def test_gaussian_log_likelihood(target):
    rng = np.random.default_rng(8)
    X = rng.multivariate_normal([1.0, -1.0], [[2.0, 0.6], [0.6, 1.0]], size=30)
    args = (np.array([0.2, -0.1]), 0.3, np.array([0.5, -0.5]), X)
    value, grads = coarsen.value_and_grad(gaussian_log_likelihood, argnums=(0, 1, 2), target=target)(*args)
    assert value == pytest.approx(gaussian_log_likelihood(*args), rel=1e-12)
    check_against_torch(grads, gaussian_log_likelihood_torch, args, (0, 1, 2), rtol=1e-9, atol=0.0)
    assert grads[1] == pytest.approx(central_difference(gaussian_log_likelihood, args, 1, 1.0), rel=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_scipys_errors_and_refused_shapes(target):
    f = coarsen.jit(logpdf, target=target)
    mean = np.zeros(2)
    with pytest.raises(ValueError, match="positive semidefinite"):
        f(np.ones(2), mean, np.array([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
        f(np.ones(2), mean, np.array([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="infs or NaNs"):
        f(np.ones(2), mean, np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="Dimension mismatch"):
        f(np.ones(2), mean, np.eye(3))
    with pytest.raises(ValueError, match="Dimension mismatch"):
        f(np.ones(3), mean, np.eye(2))
    with pytest.raises(coarsen.UnsupportedError, match="one row") as err:
        f(np.ones((1, 2)), mean, np.eye(2))
    assert f"{__file__}:{logpdf.__code__.co_firstlineno + 1}:" in str(err.value)
    with pytest.raises(coarsen.UnsupportedError, match="length 1"):
        f(np.ones(3), np.zeros(1), np.eye(1))
    assert f(np.ones(1), np.zeros(1), np.eye(1)) == pytest.approx(logpdf(np.ones(1), np.zeros(1), np.eye(1)))
    assert f(np.ones((3, 1)), np.zeros(1), np.eye(1)) == pytest.approx(logpdf(np.ones((3, 1)), np.zeros(1), np.eye(1)))


def default_mean(x):
    return multivariate_normal.logpdf(x)


def singular(x):
    return multivariate_normal.logpdf(x, np.zeros(2), np.eye(2), allow_singular=True)


def other_method(x):
    return multivariate_normal.cdf(x, np.zeros(2), np.eye(2))


FROZEN = multivariate_normal(np.zeros(2), np.eye(2))


def frozen(x):
    return FROZEN.logpdf(x)


@pytest.mark.parametrize("fn, message", [(default_mean, "without mean"), (singular, "allow_singular"),
                                         (other_method, "cdf is not supported"), (frozen, "frozen")])
def test_unsupported_forms_name_the_users_line(fn, message):
    with pytest.raises(coarsen.UnsupportedError, match=message) as err:
        coarsen.grad(fn)(np.ones(2))
    assert f"{__file__}:{fn.__code__.co_firstlineno + 1}:" in str(err.value)
    assert "hint" in str(err.value)


CUDA_SCRIPT = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np, coarsen
import test_multivariate_normal as T
from derivative_checks import refused, same_on_cuda_as_on_numpy
rng = np.random.default_rng(0)
X = rng.normal(size=(7, 2))
args = (np.array([0.2, -0.1]), 0.3, np.array([0.5, -0.5]), X)
same_on_cuda_as_on_numpy(T.gaussian_log_likelihood, args, (0, 1, 2), grad_rtol=1e-11, grad_atol=1e-13)
cov = np.array([[2.0, 0.3], [0.3, 1.0]])
assert np.isclose(coarsen.jit(T.logpdf, target="cuda")(X[0], np.zeros(2), cov), T.logpdf(X[0], np.zeros(2), cov))
t = coarsen.jvp(T.logpdf, (X[0], np.zeros(2), cov), (np.ones(2), np.ones(2), np.eye(2)), target="cuda")[1]
r = coarsen.jvp(T.logpdf, (X[0], np.zeros(2), cov), (np.ones(2), np.ones(2), np.eye(2)), target="numpy")[1]
assert np.isclose(t, r, rtol=1e-12), (t, r)
refused(lambda: coarsen.jit(T.logpdf, target="cuda")(X[:1], np.zeros(2), cov), "one row")
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_multivariate_normal_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
