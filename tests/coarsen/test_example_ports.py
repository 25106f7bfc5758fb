"""Ports of example programs of autograd libraries (#22): black-box SVI with a Gaussian
variational family (the Monte Carlo noise drawn by the caller's generator and passed in; drawn
inside: test_random.py) and an HMM forward pass; gradients against torch."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

import coarsen


# ------------------------------------------------------------------ black-box SVI
def log_target(z):
    """An unnormalised 2-D log density (a banana), evaluated on each row of z."""
    a, b = z[:, 0], z[:, 1]
    return -0.5 * a * a / 4.0 - 0.5 * (b - 0.5 * a * a) ** 2


@dataclass
class GaussianFamily:
    mean: np.ndarray
    log_std: np.ndarray

    def sample(self, eps):
        return eps * np.exp(self.log_std) + self.mean

    def entropy(self):
        return np.sum(self.log_std) + 0.5 * self.mean.shape[0] * (1.0 + np.log(2 * np.pi))


def negative_elbo(q, eps):
    samples = q.sample(eps)
    return -(np.mean(log_target(samples)) + q.entropy())


def test_black_box_svi_gradient_matches_torch_and_a_few_steps_improve_the_elbo():
    rs = np.random.RandomState(0)
    q = GaussianFamily(np.array([0.3, -0.2]), np.array([-0.5, -0.5]))
    eps = rs.randn(64, 2)   # drawn by the caller: fresh at each call, constants for the derivative
    g = coarsen.grad(negative_elbo)(q, eps)
    mean, log_std = torch.tensor(q.mean, requires_grad=True), torch.tensor(q.log_std, requires_grad=True)
    z = torch.tensor(eps) * torch.exp(log_std) + mean
    a, b = z[:, 0], z[:, 1]
    logp = -0.5 * a * a / 4.0 - 0.5 * (b - 0.5 * a * a) ** 2
    loss = -(torch.mean(logp) + torch.sum(log_std) + 0.5 * 2 * (1.0 + np.log(2 * np.pi)))
    loss.backward()
    np.testing.assert_allclose(g.mean, mean.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.log_std, log_std.grad.numpy(), rtol=1e-10, atol=1e-12)

    objective = coarsen.value_and_grad(negative_elbo)
    start = negative_elbo(q, rs.randn(2000, 2))
    for _ in range(60):
        _, g = objective(q, rs.randn(32, 2))
        q = GaussianFamily(q.mean - 0.05 * g.mean, q.log_std - 0.05 * g.log_std)
    assert negative_elbo(q, rs.randn(2000, 2)) < start


# ------------------------------------------------------------------ HMM forward pass
def logsumexp_rows(x):
    m = np.max(x, axis=0)
    return m + np.log(np.sum(np.exp(x - m), axis=0))


def hmm_log_likelihood(log_pi, log_A, log_B, obs):
    alpha = log_pi + log_B[:, obs[0]]
    for o in obs[1:]:
        alpha = logsumexp_rows(alpha[:, None] + log_A) + log_B[:, o]
    m = np.max(alpha)
    return m + np.log(np.sum(np.exp(alpha - m)))


def test_hmm_forward_pass_gradient_matches_torch():
    rs = np.random.RandomState(4)
    K, V = 3, 4
    log_pi, log_A, log_B = np.log(rs.dirichlet(np.ones(K))), np.log(rs.dirichlet(np.ones(K), K)), \
        np.log(rs.dirichlet(np.ones(V), K))
    obs = (0, 3, 1, 1, 2, 0)
    value, grads = coarsen.value_and_grad(hmm_log_likelihood, argnums=(0, 1, 2))(log_pi, log_A, log_B, obs)
    t = [torch.tensor(a, requires_grad=True) for a in (log_pi, log_A, log_B)]
    alpha = t[0] + t[2][:, obs[0]]
    for o in obs[1:]:
        alpha = torch.logsumexp(alpha[:, None] + t[1], dim=0) + t[2][:, o]
    ll = torch.logsumexp(alpha, dim=0)
    ll.backward()
    assert value == pytest.approx(ll.item(), rel=1e-12)
    for g, ref in zip(grads, t):
        np.testing.assert_allclose(g, ref.grad.numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ randomness inside
def draws_inside(x, n):
    return np.sum(x * np.random.randn(n))


def test_a_random_draw_inside_is_fresh_at_every_call_never_a_constant():
    """(test_random.py has the rest: every method, generators passed in or closed over, SVI.)"""
    np.random.seed(0)
    g1 = coarsen.grad(draws_inside)(np.ones(3), 3)
    g2 = coarsen.grad(draws_inside)(np.ones(3), 3)
    np.random.seed(0)
    np.testing.assert_array_equal(g1, np.random.randn(3))
    np.testing.assert_array_equal(g2, np.random.randn(3))
