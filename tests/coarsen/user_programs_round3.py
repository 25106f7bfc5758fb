"""Round 3 of ordinary user programs (#12/#13), each in the plain style a NumPy user writes and
ported from a public source (autograd/JAX/PyTorch tutorials, scipy.optimize's test functions,
small physics simulations and ML losses). `test_user_programs_round3.py` checks their
gradients on every CPU target against torch.autograd and central differences.

Each program has a torch twin (`torch_<name>`) written the same way with torch ops, and an
input maker (`inputs_<name>(rs)`) returning the argument tuple; argnums are in `CASES`."""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import expit, logsumexp


# ------------------------------------------------------------------ ML losses
def logistic_log1p(w, X, y):
    """Logistic regression negative log-likelihood (autograd's logistic_regression example)
    with labels in {-1, 1} and an L2 penalty."""
    z = X @ w
    return np.mean(np.log1p(np.exp(-y * z))) + 0.01 * np.dot(w, w)


def torch_logistic_log1p(w, X, y):
    z = X @ w
    return torch.mean(torch.log1p(torch.exp(-y * z))) + 0.01 * torch.dot(w, w)


def logistic_logaddexp(w, b, X, y):
    """The numerically stable form with np.logaddexp(0, -m) (scikit-learn's _logistic_loss)."""
    margins = y * (X.dot(w) + b)
    return np.sum(np.logaddexp(0.0, -margins)) / len(y)


def torch_logistic_logaddexp(w, b, X, y):
    margins = y * (X @ w + b)
    return torch.sum(torch.logaddexp(torch.zeros_like(margins), -margins)) / len(y)


def softmax_cross_entropy(W, X, labels):
    """CS231n's softmax loss: max-subtraction, keepdims, log-probabilities picked by an
    integer label array with np.arange(n)."""
    scores = X @ W
    scores = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    n = X.shape[0]
    return -np.sum(log_probs[np.arange(n), labels]) / n


def torch_softmax_cross_entropy(W, X, labels):
    scores = X @ W
    scores = scores - torch.max(scores, dim=1, keepdim=True).values
    log_probs = scores - torch.log(torch.sum(torch.exp(scores), dim=1, keepdim=True))
    n = X.shape[0]
    return -torch.sum(log_probs[torch.arange(n), torch.as_tensor(labels)]) / n


def mlp_loss(params, X, Y):
    """A two-layer tanh MLP (autograd's neural_net example) with parameters as a tuple."""
    W1, b1, W2, b2 = params
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    return 0.5 * np.mean((out - Y) ** 2)


def torch_mlp_loss(params, X, Y):
    W1, b1, W2, b2 = params
    h = torch.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    return 0.5 * torch.mean((out - Y) ** 2)


def binary_cross_entropy_clipped(w, X, t):
    """Cross-entropy of sigmoid outputs clipped away from 0 and 1 (Keras' binary_crossentropy)."""
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    eps = 1e-7
    p = np.clip(p, eps, 1 - eps)
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))


def torch_binary_cross_entropy_clipped(w, X, t):
    p = 1.0 / (1.0 + torch.exp(-(X @ w)))
    eps = 1e-7
    p = torch.clamp(p, eps, 1 - eps)
    return -torch.mean(t * torch.log(p) + (1 - t) * torch.log(1 - p))


def huber_loss(pred, target):
    """Huber loss with np.where (the smooth L1 loss of PyTorch's docs)."""
    r = pred - target
    a = np.abs(r)
    delta = 1.0
    return np.sum(np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta)))


def torch_huber_loss(pred, target):
    r = pred - target
    a = torch.abs(r)
    delta = 1.0
    return torch.sum(torch.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta)))


def layer_norm_loss(x, gamma, beta):
    """Layer normalisation by row with .mean()/.var() methods, then a squared readout."""
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    y = gamma * xhat + beta
    return np.sum(y ** 2 * np.arange(1, y.shape[1] + 1))


def torch_layer_norm_loss(x, gamma, beta):
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    xhat = (x - mu) / torch.sqrt(var + 1e-5)
    y = gamma * xhat + beta
    return torch.sum(y ** 2 * torch.arange(1, y.shape[1] + 1, dtype=torch.float64))


def attention(Q, K, V):
    """Scaled dot-product attention (the Transformer tutorial's) summed with weights."""
    d = Q.shape[-1]
    s = Q @ K.T / np.sqrt(d)
    s = s - s.max(axis=1, keepdims=True)
    a = np.exp(s)
    a = a / a.sum(axis=1, keepdims=True)
    out = a @ V
    return np.sum(out * out)


def torch_attention(Q, K, V):
    d = Q.shape[-1]
    s = Q @ K.T / math.sqrt(d)
    s = s - s.max(dim=1, keepdim=True).values
    a = torch.exp(s)
    a = a / a.sum(dim=1, keepdim=True)
    out = a @ V
    return torch.sum(out * out)


def softplus_stable(x):
    """softplus as max(x, 0) + log1p(exp(-|x|)), summed with weights."""
    sp = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return np.sum(sp * np.linspace(0.5, 1.5, len(x)))


def torch_softplus_stable(x):
    sp = torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))
    return torch.sum(sp * torch.linspace(0.5, 1.5, len(x), dtype=torch.float64))


# ------------------------------------------------------------------ statistics
def gaussian_negloglik(params, x):
    """The negative log-likelihood of a normal with (mu, log_sigma) unpacked from a vector."""
    mu, log_sigma = params[0], params[1]
    sigma = np.exp(log_sigma)
    n = x.shape[0]
    return n * log_sigma + 0.5 * n * np.log(2 * np.pi) + np.sum((x - mu) ** 2) / (2 * sigma ** 2)


def torch_gaussian_negloglik(params, x):
    mu, log_sigma = params[0], params[1]
    sigma = torch.exp(log_sigma)
    n = x.shape[0]
    return n * log_sigma + 0.5 * n * math.log(2 * math.pi) + torch.sum((x - mu) ** 2) / (2 * sigma ** 2)


def standardized_moments(x):
    """Skewness-like statistic with .mean() and .std() methods."""
    z = (x - x.mean()) / x.std()
    return np.mean(z ** 3) + x.var()


def torch_standardized_moments(x):
    z = (x - x.mean()) / x.std(unbiased=False)
    return torch.mean(z ** 3) + x.var(unbiased=False)


def mvn_logpdf(x, mu, L):
    """A multivariate normal log-density with a covariance L @ L.T, via solve and slogdet."""
    S = L @ L.T + np.eye(len(x))
    d = x - mu
    sign, logdet = np.linalg.slogdet(S)
    return -0.5 * (d @ np.linalg.solve(S, d) + logdet + len(x) * np.log(2 * np.pi))


def torch_mvn_logpdf(x, mu, L):
    S = L @ L.T + torch.eye(len(x), dtype=torch.float64)
    d = x - mu
    sign, logdet = torch.linalg.slogdet(S)
    return -0.5 * (d @ torch.linalg.solve(S, d) + logdet + len(x) * math.log(2 * math.pi))


def gmm_loglik(means, log_w, x):
    """A 1-d Gaussian mixture's log-likelihood, log-sum-exp written by hand over components."""
    w = np.exp(log_w) / np.sum(np.exp(log_w))
    d = x[:, None] - means[None, :]
    comp = np.log(w)[None, :] - 0.5 * d ** 2 - 0.5 * np.log(2 * np.pi)
    m = np.max(comp, axis=1)
    return np.sum(m + np.log(np.sum(np.exp(comp - m[:, None]), axis=1)))


def torch_gmm_loglik(means, log_w, x):
    w = torch.exp(log_w) / torch.sum(torch.exp(log_w))
    d = x[:, None] - means[None, :]
    comp = torch.log(w)[None, :] - 0.5 * d ** 2 - 0.5 * math.log(2 * math.pi)
    m = torch.max(comp, dim=1).values
    return torch.sum(m + torch.log(torch.sum(torch.exp(comp - m[:, None]), dim=1)))


def kl_gaussians(mu1, log_s1, mu2, log_s2):
    """KL(N1 || N2) of diagonal Gaussians (the VAE tutorial's), with zip over components."""
    total = 0.0
    for a, la, b, lb in zip(mu1, log_s1, mu2, log_s2):
        total += lb - la + (np.exp(2 * la) + (a - b) ** 2) / (2 * np.exp(2 * lb)) - 0.5
    return total


def torch_kl_gaussians(mu1, log_s1, mu2, log_s2):
    return torch.sum(log_s2 - log_s1 + (torch.exp(2 * log_s1) + (mu1 - mu2) ** 2)
                     / (2 * torch.exp(2 * log_s2)) - 0.5)


# ------------------------------------------------------------------ kernels and geometry
def rbf_kernel_sum(x, y, lengthscale):
    """An RBF Gram matrix by broadcasting x[:, None] - y[None, :] (GPy/sklearn style)."""
    d2 = np.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=2)
    K = np.exp(-0.5 * d2 / lengthscale ** 2)
    return np.sum(K @ np.ones(K.shape[1]))


def torch_rbf_kernel_sum(x, y, lengthscale):
    d2 = torch.sum((x[:, None, :] - y[None, :, :]) ** 2, dim=2)
    K = torch.exp(-0.5 * d2 / lengthscale ** 2)
    return torch.sum(K @ torch.ones(K.shape[1], dtype=torch.float64))


def pairwise_sq_dists(X):
    """Squared distances by the |a|^2 + |b|^2 - 2 a.b trick with np.sum(X**2, axis=1)."""
    sq = np.sum(X ** 2, axis=1)
    D = sq[:, None] + sq[None, :] - 2 * X @ X.T
    return np.sum(np.sqrt(np.maximum(D, 0) + 1e-3))


def torch_pairwise_sq_dists(X):
    sq = torch.sum(X ** 2, dim=1)
    D = sq[:, None] + sq[None, :] - 2 * X @ X.T
    return torch.sum(torch.sqrt(torch.clamp(D, min=0) + 1e-3))


def quadratic_form(x, A):
    """x.T @ A @ x + the norm of A's rows."""
    return x.T @ A @ x + np.sum(np.linalg.norm(A, axis=1))


def torch_quadratic_form(x, A):
    return x @ A @ x + torch.sum(torch.linalg.norm(A, dim=1))


def outer_trace(u, v):
    """np.outer and a trace."""
    M = np.outer(u, v) + np.eye(len(u))
    return np.trace(M @ M) + np.linalg.norm(u)


def torch_outer_trace(u, v):
    M = torch.outer(u, v) + torch.eye(len(u), dtype=torch.float64)
    return torch.trace(M @ M) + torch.linalg.norm(u)


def lennard_jones(pos):
    """The Lennard-Jones energy of a small cluster, a double loop over pairs i < j."""
    n = pos.shape[0]
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            r2 = np.sum((pos[i] - pos[j]) ** 2)
            inv6 = 1.0 / r2 ** 3
            energy += 4.0 * (inv6 * inv6 - inv6)
    return energy


def torch_lennard_jones(pos):
    n = pos.shape[0]
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            r2 = torch.sum((pos[i] - pos[j]) ** 2)
            inv6 = 1.0 / r2 ** 3
            energy = energy + 4.0 * (inv6 * inv6 - inv6)
    return energy


# ------------------------------------------------------------------ scipy.optimize test functions
def rosen(x):
    """scipy.optimize.rosen, as written there."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


def torch_rosen(x):
    return torch.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


def himmelblau_beale(p):
    """Himmelblau's plus Beale's function with tuple unpacking of a 2-vector."""
    x, y = p
    h = (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2
    b = (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2
    return h + 0.1 * b


def torch_himmelblau_beale(p):
    x, y = p[0], p[1]
    h = (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2
    b = (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2
    return h + 0.1 * b


def ackley(x):
    """The Ackley function with np.pi and np.e."""
    n = len(x)
    a = -20.0 * np.exp(-0.2 * np.sqrt(np.sum(x ** 2) / n))
    b = -np.exp(np.sum(np.cos(2 * np.pi * x)) / n)
    return a + b + 20.0 + np.e


def torch_ackley(x):
    n = len(x)
    a = -20.0 * torch.exp(-0.2 * torch.sqrt(torch.sum(x ** 2) / n))
    b = -torch.exp(torch.sum(torch.cos(2 * math.pi * x)) / n)
    return a + b + 20.0 + math.e


def rastrigin_loop(x):
    """Rastrigin with math.cos over elements in an enumerate loop."""
    total = 10.0 * len(x)
    for i, xi in enumerate(x):
        total += xi * xi - 10.0 * math.cos(2 * math.pi * xi) + 0.01 * i * xi
    return total


def torch_rastrigin_loop(x):
    total = 10.0 * len(x)
    for i in range(len(x)):
        xi = x[i]
        total = total + xi * xi - 10.0 * torch.cos(2 * math.pi * xi) + 0.01 * i * xi
    return total


# ------------------------------------------------------------------ finance / special functions
def norm_cdf(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def black_scholes_call(S, K, T, r, sigma):
    """The Black-Scholes call price with math.erf in a helper (scalar arguments)."""
    d1 = (math.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    return S * norm_cdf(d1) - K * math.exp(-r * T) * norm_cdf(d2)


def _torch_norm_cdf(z):
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))


def torch_black_scholes_call(S, K, T, r, sigma):
    d1 = (torch.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * torch.sqrt(T))
    d2 = d1 - sigma * torch.sqrt(T)
    return S * _torch_norm_cdf(d1) - K * torch.exp(-r * T) * _torch_norm_cdf(d2)


# ------------------------------------------------------------------ loops, lists, numerics
def horner(coeffs, x):
    """Polynomial evaluation by Horner's rule over a coefficient array, at many points."""
    acc = np.zeros_like(x)
    for c in coeffs:
        acc = acc * x + c
    return np.sum(acc)


def torch_horner(coeffs, x):
    acc = torch.zeros_like(x)
    for c in coeffs:
        acc = acc * x + c
    return torch.sum(acc)


def newton_sqrt(a):
    """sqrt(a) by Newton's iteration in a while loop with a data-dependent stopping test."""
    y = a if a > 1.0 else 1.0
    while abs(y * y - a) > 1e-12 * a:
        y = 0.5 * (y + a / y)
    return y


def torch_newton_sqrt(a):
    return torch.sqrt(a)


def cumsum_path(x):
    """A random walk's position via np.cumsum, with a squared penalty."""
    pos = np.cumsum(x)
    return np.sum(pos ** 2) + pos[-1]


def torch_cumsum_path(x):
    pos = torch.cumsum(x, 0)
    return torch.sum(pos ** 2) + pos[-1]


def total_variation(x):
    """Smoothed total variation with np.diff and slicing."""
    d1 = np.diff(x)
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]
    return np.sum(np.sqrt(d1 ** 2 + 1e-6)) + 0.5 * np.sum(d2 ** 2)


def torch_total_variation(x):
    d1 = x[1:] - x[:-1]
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]
    return torch.sum(torch.sqrt(d1 ** 2 + 1e-6)) + 0.5 * torch.sum(d2 ** 2)


def list_accumulate(x):
    """Values appended to a list in a loop and turned into an array with np.array."""
    out = []
    for i in range(len(x) - 1):
        out.append(x[i] * x[i + 1])
    arr = np.array(out)
    return np.sum(arr ** 2) + arr.max()


def torch_list_accumulate(x):
    arr = torch.stack([x[i] * x[i + 1] for i in range(len(x) - 1)])
    return torch.sum(arr ** 2) + arr.max()


def inplace_slice_updates(x):
    """A stencil built with += into slices of a fresh array."""
    y = np.zeros_like(x)
    y[1:] += x[:-1]
    y[:-1] += x[1:]
    y -= 2 * x
    return np.sum(y ** 2)


def torch_inplace_slice_updates(x):
    y = torch.zeros_like(x)
    y = y + torch.cat([torch.zeros(1, dtype=x.dtype), x[:-1]])
    y = y + torch.cat([x[1:], torch.zeros(1, dtype=x.dtype)])
    y = y - 2 * x
    return torch.sum(y ** 2)


def pendulum_euler(theta0, omega0, damping):
    """A damped pendulum integrated by semi-implicit Euler, returning the final energy."""
    theta, omega = theta0, omega0
    dt = 0.01
    for _ in range(200):
        omega = omega - dt * (9.81 * np.sin(theta) + damping * omega)
        theta = theta + dt * omega
    return 0.5 * omega ** 2 + 9.81 * (1 - np.cos(theta))


def torch_pendulum_euler(theta0, omega0, damping):
    theta, omega = theta0, omega0
    dt = 0.01
    for _ in range(200):
        omega = omega - dt * (9.81 * torch.sin(theta) + damping * omega)
        theta = theta + dt * omega
    return 0.5 * omega ** 2 + 9.81 * (1 - torch.cos(theta))


def spring_chain(x):
    """Energy of a chain of springs with helper functions and a generator sum."""
    k = 3.0

    def spring(a, b):
        return 0.5 * k * (abs(b - a) - 1.0) ** 2

    return sum(spring(x[i], x[i + 1]) for i in range(len(x) - 1)) + 0.1 * min(x[0], 0.0) ** 2


def torch_spring_chain(x):
    k = 3.0
    total = sum(0.5 * k * (torch.abs(x[i + 1] - x[i]) - 1.0) ** 2 for i in range(len(x) - 1))
    return total + 0.1 * torch.clamp(x[0], max=0.0) ** 2


def ridge_closed_form(lam, X, y):
    """The validation error of closed-form ridge regression w.r.t. its penalty (hyper-grad)."""
    d = X.shape[1]
    w = np.linalg.solve(X.T @ X + lam * np.eye(d), X.T @ y)
    r = X @ w - y
    return r @ r


def torch_ridge_closed_form(lam, X, y):
    d = X.shape[1]
    w = torch.linalg.solve(X.T @ X + lam * torch.eye(d, dtype=torch.float64), X.T @ y)
    r = X @ w - y
    return r @ r


def sorted_weights(x):
    """An L-statistic: sorted values times increasing weights (OWL / ordered weighted norm)."""
    s = np.sort(x)
    w = np.arange(1, len(x) + 1) / len(x)
    return np.dot(s, w)


def torch_sorted_weights(x):
    s = torch.sort(x).values
    w = torch.arange(1, len(x) + 1, dtype=torch.float64) / len(x)
    return torch.dot(s, w)


def strided_slices(x):
    """Even/odd splits, a reversal and a strided sum (a Haar wavelet step)."""
    even, odd = x[::2], x[1::2]
    avg = (even + odd) / np.sqrt(2)
    det = (even - odd) / np.sqrt(2)
    return np.sum(avg * avg[::-1]) + np.sum(np.abs(det))


def torch_strided_slices(x):
    even, odd = x[::2], x[1::2]
    avg = (even + odd) / math.sqrt(2)
    det = (even - odd) / math.sqrt(2)
    return torch.sum(avg * torch.flip(avg, [0])) + torch.sum(torch.abs(det))


def trapezoid_energy(y, x):
    """An integral by the trapezoid rule written with slices, and with np.trapezoid."""
    dx = x[1:] - x[:-1]
    manual = np.sum(0.5 * (y[1:] ** 2 + y[:-1] ** 2) * dx)
    return manual + np.trapezoid(np.sin(y), x)


def torch_trapezoid_energy(y, x):
    dx = x[1:] - x[:-1]
    manual = torch.sum(0.5 * (y[1:] ** 2 + y[:-1] ** 2) * dx)
    return manual + torch.trapezoid(torch.sin(y), x)


def polar_features(p):
    """np.arctan2 and np.hypot of coordinate columns, with fractional powers."""
    r = np.hypot(p[:, 0], p[:, 1])
    th = np.arctan2(p[:, 1], p[:, 0])
    return np.sum(r ** 1.5 * np.cos(th)) + np.sum(np.power(r, 0.5))


def torch_polar_features(p):
    r = torch.hypot(p[:, 0], p[:, 1])
    th = torch.atan2(p[:, 1], p[:, 0])
    return torch.sum(r ** 1.5 * torch.cos(th)) + torch.sum(torch.pow(r, 0.5))


def scalar_loop_builtins(x):
    """math.exp / abs / max over elements in a range(len(x)) loop."""
    s = 0.0
    for i in range(len(x)):
        s += math.exp(-abs(x[i])) * max(x[i], 0.5)
    return s


def torch_scalar_loop_builtins(x):
    s = 0.0
    for i in range(len(x)):
        s = s + torch.exp(-torch.abs(x[i])) * torch.clamp(x[i], min=0.5)
    return s


def stack_concat(a, b):
    """np.concatenate, np.stack, .reshape and .sum(axis=0)."""
    c = np.concatenate([a, b * 2])
    M = np.stack([a, b, a * b], axis=0)
    R = c.reshape(2, -1)
    return np.sum(R.sum(axis=0) ** 2) + np.sum(M.sum(axis=0) * M[1])


def torch_stack_concat(a, b):
    c = torch.cat([a, b * 2])
    M = torch.stack([a, b, a * b], dim=0)
    R = c.reshape(2, -1)
    return torch.sum(R.sum(dim=0) ** 2) + torch.sum(M.sum(dim=0) * M[1])


def product_and_prod(x):
    """np.prod of a vector (a likelihood of independent factors) and np.linalg.norm(ord=1)."""
    return np.prod(1.0 + 0.1 * x) + np.linalg.norm(x, ord=1) + np.linalg.norm(x, np.inf)


def torch_product_and_prod(x):
    return torch.prod(1.0 + 0.1 * x) + torch.linalg.norm(x, ord=1) + torch.linalg.norm(x, ord=float("inf"))


def standardize_columns(X, w):
    """Column standardisation with axis=0 mean/std, then a linear readout."""
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    return np.sum(np.tanh(Z @ w))


def torch_standardize_columns(X, w):
    Z = (X - X.mean(dim=0)) / X.std(dim=0, unbiased=False)
    return torch.sum(torch.tanh(Z @ w))


def running_max_relu(x):
    """ReLU then a running maximum with np.maximum in a loop (max pooling over a sequence)."""
    h = np.maximum(x, 0.0)
    best = h[0]
    total = 0.0
    for v in h[1:]:
        best = np.maximum(best, v)
        total = total + best
    return total


def torch_running_max_relu(x):
    h = torch.clamp(x, min=0.0)
    best = h[0]
    total = 0.0
    for v in h[1:]:
        best = torch.maximum(best, v)
        total = total + best
    return total


def polyval_fit(c, x, y):
    """A least-squares polynomial fit residual with np.polyval."""
    return np.sum((np.polyval(c, x) - y) ** 2)


def torch_polyval_fit(c, x, y):
    acc = torch.zeros_like(x)
    for ci in c:
        acc = acc * x + ci
    return torch.sum((acc - y) ** 2)


def interp_loss(yp, x, xp):
    """Piecewise-linear interpolation of learnable knot values with np.interp."""
    return np.sum(np.interp(x, xp, yp) ** 2)


def torch_interp_loss(yp, x, xp):
    idx = torch.clamp(torch.searchsorted(xp, x) - 1, 0, len(xp) - 2)
    t = (x - xp[idx]) / (xp[idx + 1] - xp[idx])
    return torch.sum(((1 - t) * yp[idx] + t * yp[idx + 1]) ** 2)


def item_and_float(x):
    """float() and .item() of a computed scalar used as a coefficient (detached in torch? no:
    in NumPy they are values; the derivative flows through float())."""
    s = float(np.sum(x))
    return s * np.sum(x ** 2)


def torch_item_and_float(x):
    s = torch.sum(x)
    return s * torch.sum(x ** 2)


def einsum_bilinear(A, x, y):
    """np.einsum for a bilinear form and a trace."""
    return np.einsum("i,ij,j->", x, A, y) + np.einsum("ii->", A @ A)


def torch_einsum_bilinear(A, x, y):
    return torch.einsum("i,ij,j->", x, A, y) + torch.einsum("ii->", A @ A)


def vander_fit(c, x, y):
    """Least squares with a Vandermonde design matrix (np.vander, increasing=True)."""
    V = np.vander(x, len(c), increasing=True)
    return np.sum((V @ c - y) ** 2)


def torch_vander_fit(c, x, y):
    V = torch.stack([x ** k for k in range(len(c))], dim=1)
    return torch.sum((V @ c - y) ** 2)


def log_sum_exp_scipy(x):
    """scipy.special.logsumexp with weights b, and expit."""
    return logsumexp(x, b=np.linspace(0.5, 1.0, len(x))) + np.sum(expit(x))


def torch_log_sum_exp_scipy(x):
    b = torch.linspace(0.5, 1.0, len(x), dtype=torch.float64)
    return torch.logsumexp(x + torch.log(b), 0) + torch.sum(torch.sigmoid(x))


def cumprod_survival(h):
    """A discrete survival curve with np.cumprod of (1 - hazard)."""
    s = np.cumprod(1.0 - 1.0 / (1.0 + np.exp(-h)))
    return np.sum(s)


def torch_cumprod_survival(h):
    s = torch.cumprod(1.0 - 1.0 / (1.0 + torch.exp(-h)), 0)
    return torch.sum(s)


def masked_mean(x, y):
    """A mean over the elements where y > 0, with a boolean mask (a common NumPy idiom)."""
    mask = y > 0
    return np.mean(x[mask] ** 2)


def torch_masked_mean(x, y):
    mask = y > 0
    return torch.mean(x[torch.as_tensor(mask)] ** 2)



# ------------------------------------------------------------------ batch 2: more idioms
def pendulum_rk4(y0, params):
    """RK4 for a damped driven pendulum with a helper returning np.array([...]) of scalars."""
    g, damping = params[0], params[1]

    def deriv(y):
        return np.array([y[1], -g * np.sin(y[0]) - damping * y[1]])

    y = y0
    h = 0.05
    for _ in range(40):
        k1 = deriv(y)
        k2 = deriv(y + 0.5 * h * k1)
        k3 = deriv(y + 0.5 * h * k2)
        k4 = deriv(y + h * k3)
        y = y + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y[0] ** 2 + y[1]


def torch_pendulum_rk4(y0, params):
    g, damping = params[0], params[1]

    def deriv(y):
        return torch.stack([y[1], -g * torch.sin(y[0]) - damping * y[1]])

    y = y0
    h = 0.05
    for _ in range(40):
        k1 = deriv(y)
        k2 = deriv(y + 0.5 * h * k1)
        k3 = deriv(y + 0.5 * h * k2)
        k4 = deriv(y + h * k3)
        y = y + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y[0] ** 2 + y[1]


def nbody_energy(pos, vel, masses):
    """Kinetic plus gravitational potential energy of n bodies, pairwise by broadcasting with
    the diagonal masked by np.eye (a softened 1/r)."""
    kinetic = 0.5 * np.sum(masses[:, None] * vel ** 2)
    diff = pos[:, None, :] - pos[None, :, :]
    r = np.sqrt(np.sum(diff ** 2, axis=-1) + 0.01)
    mm = masses[:, None] * masses[None, :]
    n = len(masses)
    potential = -0.5 * np.sum(mm * (1 - np.eye(n)) / r)
    return kinetic + potential


def torch_nbody_energy(pos, vel, masses):
    kinetic = 0.5 * torch.sum(masses[:, None] * vel ** 2)
    diff = pos[:, None, :] - pos[None, :, :]
    r = torch.sqrt(torch.sum(diff ** 2, dim=-1) + 0.01)
    mm = masses[:, None] * masses[None, :]
    n = len(masses)
    potential = -0.5 * torch.sum(mm * (1 - torch.eye(n, dtype=torch.float64)) / r)
    return kinetic + potential


def gradient_descent_unrolled(w0, X, y):
    """Five steps of gradient descent on least squares, unrolled (a meta-learning inner loop),
    with `w -= lr * grad` in place on the iterate."""
    w = w0.copy()
    lr = 0.05
    for _ in range(5):
        r = X @ w - y
        g = X.T @ r / len(y)
        w -= lr * g
    return np.sum((X @ w - y) ** 2)


def torch_gradient_descent_unrolled(w0, X, y):
    w = w0
    lr = 0.05
    for _ in range(5):
        r = X @ w - y
        g = X.T @ r / len(y)
        w = w - lr * g
    return torch.sum((X @ w - y) ** 2)


def inplace_row_updates(A):
    """Gram-Schmidt-like row updates: B = A.copy(); B[i] -= coef * B[j] in a double loop."""
    B = A.copy()
    n = B.shape[0]
    for i in range(n):
        for j in range(i):
            B[i] -= np.dot(B[i], B[j]) / np.dot(B[j], B[j]) * B[j]
    return np.sum(B[-1] ** 2) + np.sum(B[1] * B[2])


def torch_inplace_row_updates(A):
    rows = [A[i] for i in range(A.shape[0])]
    for i in range(len(rows)):
        for j in range(i):
            rows[i] = rows[i] - torch.dot(rows[i], rows[j]) / torch.dot(rows[j], rows[j]) * rows[j]
    return torch.sum(rows[-1] ** 2) + torch.sum(rows[1] * rows[2])


def column_inplace_scaling(X, s):
    """Columns scaled in place through a 2-D slice and a column view write (X[:, j] *= ...)."""
    Y = X * 1.0
    for j in range(Y.shape[1]):
        Y[:, j] *= s[j]
    Y[1:, :] += Y[:-1, :]
    return np.sum(np.tanh(Y))


def torch_column_inplace_scaling(X, s):
    Y = X * s[None, :]
    Y = torch.cat([Y[:1], Y[1:] + Y[:-1]], dim=0)
    return torch.sum(torch.tanh(Y))


def while_bisection_then_value(c):
    """A bisection root-finder (a while loop with a data-dependent test) whose root feeds a
    differentiable expression: the root is a piecewise-constant function of c's iterations,
    so its derivative is that of the final midpoint formula (0 through the comparisons)."""
    lo, hi = 0.0, 2.0
    while hi - lo > 1e-10:
        mid = 0.5 * (lo + hi)
        if mid * mid * mid - c > 0:
            hi = mid
        else:
            lo = mid
    root = 0.5 * (lo + hi)
    return root * c


def torch_while_bisection_then_value(c):
    return torch.tensor(np.cbrt(c.item())) * c


def early_return_loop(x):
    """A loop with an early return on a data-dependent test (first index over a threshold)."""
    total = 0.0
    for i in range(len(x)):
        if x[i] > 1.5:
            return total + 10.0 * x[i]
        total += x[i] ** 2
    return total


def torch_early_return_loop(x):
    total = 0.0
    for i in range(len(x)):
        if x[i].item() > 1.5:
            return total + 10.0 * x[i]
        total = total + x[i] ** 2
    return total


def break_continue_loop(x):
    """`for v in x` with continue and break: skip negatives, stop once the sum passes 3."""
    s = 0.0
    for v in x:
        if v < 0:
            continue
        s = s + np.sqrt(v + 1.0)
        if s > 3.0:
            break
    return s * x[0]


def torch_break_continue_loop(x):
    s = 0.0
    for v in x:
        if v.item() < 0:
            continue
        s = s + torch.sqrt(v + 1.0)
        if s.detach().item() > 3.0:
            break
    return s * x[0]


def diag_tril_ops(A):
    """np.diag, np.tril, np.triu, np.trace and np.fill-free masks on a square matrix."""
    L = np.tril(A) + np.diag(np.exp(np.diag(A)))
    U = np.triu(A, 1)
    return np.sum(L @ L.T) + np.sum(U ** 2) + np.trace(A) ** 2


def torch_diag_tril_ops(A):
    L = torch.tril(A) + torch.diag(torch.exp(torch.diag(A)))
    U = torch.triu(A, 1)
    return torch.sum(L @ L.T) + torch.sum(U ** 2) + torch.trace(A) ** 2


def inverse_det(A):
    """np.linalg.inv and np.linalg.det of a well-conditioned matrix."""
    M = A + 3.0 * np.eye(A.shape[0])
    return np.sum(np.linalg.inv(M)) + np.log(np.abs(np.linalg.det(M)))


def torch_inverse_det(A):
    M = A + 3.0 * torch.eye(A.shape[0], dtype=torch.float64)
    return torch.sum(torch.linalg.inv(M)) + torch.log(torch.abs(torch.linalg.det(M)))


def cholesky_logdet(L0, b):
    """A Gaussian process marginal likelihood with np.linalg.cholesky and triangular solves
    written as np.linalg.solve."""
    K = L0 @ L0.T + 0.5 * np.eye(len(b))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, b))
    return 0.5 * b @ alpha + np.sum(np.log(np.diag(L)))


def torch_cholesky_logdet(L0, b):
    K = L0 @ L0.T + 0.5 * torch.eye(len(b), dtype=torch.float64)
    L = torch.linalg.cholesky(K)
    alpha = torch.linalg.solve(L.T, torch.linalg.solve(L, b))
    return 0.5 * b @ alpha + torch.sum(torch.log(torch.diag(L)))


def roll_flip_repeat(x):
    """np.roll, np.flip, np.repeat and np.tile (periodic finite differences)."""
    lap = np.roll(x, 1) + np.roll(x, -1) - 2 * x
    return np.sum(lap ** 2) + np.sum(np.flip(x) * np.repeat(x[:2], len(x) // 2)) + np.sum(np.tile(x, 2)[1:4])


def torch_roll_flip_repeat(x):
    lap = torch.roll(x, 1) + torch.roll(x, -1) - 2 * x
    return (torch.sum(lap ** 2) + torch.sum(torch.flip(x, [0]) * torch.repeat_interleave(x[:2], len(x) // 2))
            + torch.sum(torch.tile(x, (2,))[1:4]))


def convolve_smooth(x, k):
    """np.convolve (mode 'valid') of a signal with a learnable kernel."""
    return np.sum(np.convolve(x, k, mode="valid") ** 2)


def torch_convolve_smooth(x, k):
    n, m = len(x), len(k)
    out = torch.stack([torch.sum(x[i:i + m] * torch.flip(k, [0])) for i in range(n - m + 1)])
    return torch.sum(out ** 2)


def max_reductions(X):
    """np.max over an axis, np.amax, np.argmax used to pick a row, .min() method."""
    best = X[np.argmax(X[:, 0])]
    return np.sum(np.max(X, axis=1)) + np.amax(X[0]) - X.min() + np.sum(best * best)


def torch_max_reductions(X):
    best = X[int(torch.argmax(X[:, 0]))]
    return torch.sum(torch.max(X, dim=1).values) + torch.max(X[0]) - X.min() + torch.sum(best * best)


def average_weighted(x, w):
    """np.average with weights, np.median-free robust mean."""
    return np.average(x ** 2, weights=np.exp(w)) + np.mean(np.abs(x - np.mean(x)))


def torch_average_weighted(x, w):
    ew = torch.exp(w)
    return torch.sum(x ** 2 * ew) / torch.sum(ew) + torch.mean(torch.abs(x - torch.mean(x)))


def reshape_ravel_squeeze(x):
    """reshape, ravel, flatten, squeeze, expand_dims, atleast_2d and axis tuples."""
    M = x.reshape(2, 3, 1)
    v = np.squeeze(M, axis=2).ravel()
    e = np.expand_dims(v, 0)
    return np.sum(np.sum(M ** 2, axis=(0, 2))) + np.sum(e.flatten() * v[::-1]) + np.sum(np.atleast_2d(x[0]))


def torch_reshape_ravel_squeeze(x):
    M = x.reshape(2, 3, 1)
    v = torch.squeeze(M, 2).reshape(-1)
    e = v[None, :]
    return torch.sum(torch.sum(M ** 2, dim=(0, 2))) + torch.sum(e.reshape(-1) * torch.flip(v, [0])) + x[0]


def sign_floor_mod(x):
    """np.sign, np.floor, % and // of floats (piecewise-constant factors), np.round."""
    frac = x % 1.0
    whole = x // 1.0
    return np.sum(np.sign(x) * x ** 2 + frac * whole + np.floor(x) * x + np.round(x) * x)


def torch_sign_floor_mod(x):
    frac = torch.remainder(x, 1.0)
    whole = torch.floor_divide(x, 1.0).detach()
    return torch.sum(torch.sign(x) * x ** 2 + frac * whole + torch.floor(x) * x + torch.round(x) * x)


def list_of_arrays_mean(x):
    """A list of arrays built in a loop, then np.mean(np.array(list), axis=0) and np.vstack."""
    rows = []
    for k in range(3):
        rows.append(np.sin(x * (k + 1)))
    A = np.array(rows)
    V = np.vstack(rows)
    return np.sum(np.mean(A, axis=0) ** 2) + np.sum(V[1])


def torch_list_of_arrays_mean(x):
    rows = [torch.sin(x * (k + 1)) for k in range(3)]
    A = torch.stack(rows)
    return torch.sum(torch.mean(A, dim=0) ** 2) + torch.sum(A[1])


def dict_params_model(w, b, x):
    """Parameters gathered in a dict inside the function, a helper taking **kwargs-free dict."""
    params = {"w": w, "b": b}

    def predict(p, inputs):
        return np.tanh(inputs @ p["w"] + p["b"])

    return np.sum(predict(params, x) ** 2)


def torch_dict_params_model(w, b, x):
    return torch.sum(torch.tanh(x @ w + b) ** 2)


def default_and_keyword_args(x, scale=2.0, *, offset=0.5):
    """A helper with defaults and keyword-only arguments, called by keyword."""
    def f(v, power=2, shift=0.0):
        return np.sum((v - shift) ** power)

    return scale * f(x, power=3, shift=offset) + f(x)


def torch_default_and_keyword_args(x, scale=2.0, *, offset=0.5):
    return scale * torch.sum((x - offset) ** 3) + torch.sum(x ** 2)


def power_iteration(A):
    """The dominant eigenvalue by 20 power iterations with np.linalg.norm normalisation."""
    M = A @ A.T
    v = np.ones(M.shape[0])
    for _ in range(20):
        v = M @ v
        v = v / np.linalg.norm(v)
    return v @ M @ v


def torch_power_iteration(A):
    M = A @ A.T
    v = torch.ones(M.shape[0], dtype=torch.float64)
    for _ in range(20):
        v = M @ v
        v = v / torch.linalg.norm(v)
    return v @ M @ v


def minimum_maximum_clip(x, lo, hi):
    """np.minimum/np.maximum with traced bounds, and np.clip with array bounds."""
    a = np.minimum(np.maximum(x, lo), hi)
    b = np.clip(x * 2.0, lo, hi)
    return np.sum(a ** 2 + b)


def torch_minimum_maximum_clip(x, lo, hi):
    a = torch.minimum(torch.maximum(x, lo), hi)
    b = torch.clamp(x * 2.0, lo, hi)
    return torch.sum(a ** 2 + b)


def matrix_power_loop(A):
    """A matrix power by repeated squaring with a while loop on an integer counter."""
    result = np.eye(A.shape[0])
    base = A * 0.5
    n = 5
    while n > 0:
        if n % 2 == 1:
            result = result @ base
        base = base @ base
        n //= 2
    return np.sum(result)


def torch_matrix_power_loop(A):
    return torch.sum(torch.linalg.matrix_power(A * 0.5, 5))


def cross_entropy_onehot(logits, onehot):
    """Cross-entropy against one-hot targets with scipy-free log_softmax written by hand."""
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(onehot * logp).sum() / logits.shape[0]


def torch_cross_entropy_onehot(logits, onehot):
    z = logits - logits.max(dim=-1, keepdim=True).values
    logp = z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))
    return -(onehot * logp).sum() / logits.shape[0]


def heat_equation_explicit(u0, kappa):
    """An explicit 1-d heat equation, the interior updated by slice assignment each step."""
    u = u0.copy()
    for _ in range(10):
        new = u.copy()
        new[1:-1] = u[1:-1] + kappa * (u[2:] - 2 * u[1:-1] + u[:-2])
        u = new
    return np.sum(u ** 2)


def torch_heat_equation_explicit(u0, kappa):
    u = u0
    for _ in range(10):
        inner = u[1:-1] + kappa * (u[2:] - 2 * u[1:-1] + u[:-2])
        u = torch.cat([u[:1], inner, u[-1:]])
    return torch.sum(u ** 2)


def fancy_gather_scatter(x, idx):
    """Gather with an index array, then np.add.at scatter into a fresh array."""
    g = x[idx] ** 2
    acc = np.zeros(len(x))
    np.add.at(acc, idx, g)
    return np.sum(acc * np.arange(len(x)))


def torch_fancy_gather_scatter(x, idx):
    i = torch.as_tensor(idx)
    g = x[i] ** 2
    acc = torch.zeros(len(x), dtype=torch.float64).index_add(0, i, g)
    return torch.sum(acc * torch.arange(len(x), dtype=torch.float64))



# ------------------------------------------------------------------ batch 3: Python semantics
def periodic_neg_index(x):
    """A periodic smoothness penalty: x[i - 1] at i = 0 is x[-1], Python's wrap-around."""
    s = 0.0
    for i in range(len(x)):
        s += (x[i] - x[i - 1]) ** 2
    return s


def torch_periodic_neg_index(x):
    return torch.sum((x - torch.roll(x, 1)) ** 2)


def reversed_zip(x, y):
    """enumerate(zip(...)) with tuple targets, reversed(range(n)) and a counting-down range."""
    s = 0.0
    for i, (a, b) in enumerate(zip(x, y)):
        s += i * a * b
    for i in reversed(range(len(x))):
        s += x[i] * (i + 1) ** 2
    for i in range(len(x) - 1, -1, -1):
        s = s * 0.5 + y[i]
    return s


def torch_reversed_zip(x, y):
    s = 0.0
    for i in range(len(x)):
        s = s + i * x[i] * y[i]
    for i in reversed(range(len(x))):
        s = s + x[i] * (i + 1) ** 2
    for i in range(len(x) - 1, -1, -1):
        s = s * 0.5 + y[i]
    return s


def chained_ifexp(x):
    """A conditional expression with a chained comparison, per element."""
    s = 0.0
    for v in x:
        s += v ** 2 if 0.0 < v < 1.0 else -v
    return s


def torch_chained_ifexp(x):
    s = 0.0
    for v in x:
        s = s + (v ** 2 if 0.0 < v.item() < 1.0 else -v)
    return s


def inf_min_search(x):
    """The minimum found by a scan from float("inf"), then used as a coefficient."""
    best = float("inf")
    for v in x:
        if v < best:
            best = v
    return best * np.sum(x)


def torch_inf_min_search(x):
    return torch.min(x) * torch.sum(x)


def swap_and_aug(x):
    """Tuple swaps (a Fibonacci-like recurrence) and an element swap in a copy."""
    a, b = x[0], x[1]
    for _ in range(3):
        a, b = b, a + b
    c = x.copy()
    c[0], c[1] = c[1], c[0]
    return a * b + np.sum(c * np.arange(len(c)))


def torch_swap_and_aug(x):
    a, b = x[0], x[1]
    for _ in range(3):
        a, b = b, a + b
    c = torch.cat([x[1:2], x[0:1], x[2:]])
    return a * b + torch.sum(c * torch.arange(len(c), dtype=torch.float64))


def loop_carried_array(x):
    """Accumulation into acc[i % 2] of a fresh array inside a loop."""
    acc = np.zeros(2)
    for i in range(len(x)):
        acc[i % 2] += x[i] ** 2
    return acc[0] * acc[1]


def torch_loop_carried_array(x):
    return torch.sum(x[0::2] ** 2) * torch.sum(x[1::2] ** 2)


def where_nan_guard(x):
    """The double-where idiom: log of a guarded argument, so the unused branch has no NaN."""
    safe = np.where(x > 0, x, 1.0)
    return np.sum(np.where(x > 0, np.log(safe), 0.0)) + np.sum(np.where(x > 0, np.sqrt(np.abs(x)), x))


def torch_where_nan_guard(x):
    safe = torch.where(x > 0, x, torch.ones_like(x))
    return (torch.sum(torch.where(x > 0, torch.log(safe), torch.zeros_like(x)))
            + torch.sum(torch.where(x > 0, torch.sqrt(torch.abs(x)), x)))


def scalar_rounding_loop(x):
    """math.floor, math.ceil, int() and round() of elements as piecewise-constant factors."""
    s = 0.0
    for i in range(len(x)):
        v = x[i] * 5.0
        s += (v % 2.0) * v + (v // 2.0) + math.floor(v) * v + math.ceil(v) + int(v) * v + round(v) * v
    return s


def torch_scalar_rounding_loop(x):
    s = 0.0
    for i in range(len(x)):
        v = x[i] * 5.0
        f = v.detach().item()
        s = s + torch.remainder(v, 2.0) * v + math.floor(f / 2.0) + math.floor(f) * v + math.ceil(f) \
            + int(f) * v + round(f) * v
    return s


def first_row_over(X):
    """An early return from `for row in X` (the first row whose sum passes a threshold)."""
    for row in X:
        if np.sum(row) > 0.5:
            return np.sum(row ** 2)
    return np.sum(X[-1])


def torch_first_row_over(X):
    for row in X:
        if torch.sum(row).item() > 0.5:
            return torch.sum(row ** 2)
    return torch.sum(X[-1])


def walrus_and_aug(x):
    """An assignment expression in a condition, and **= on a scalar."""
    total = 0.0
    for v in x:
        if (w := v * 2.0) > 0.5:
            total += w ** 2
        else:
            total -= w
    total **= 0.5
    return total


def torch_walrus_and_aug(x):
    total = 0.0
    for v in x:
        w = v * 2.0
        total = total + (w ** 2 if w.item() > 0.5 else -w)
    return total ** 0.5


def sorted_builtin(x):
    """sorted() of a list of scalars (an order statistic)."""
    vals = sorted([x[0], x[1], x[2]])
    return vals[0] * 1.0 + vals[1] * 2.0 + vals[2] * 3.0


def torch_sorted_builtin(x):
    s = torch.sort(x[:3]).values
    return s[0] * 1.0 + s[1] * 2.0 + s[2] * 3.0



# ------------------------------------------------------------------ batch 4: linear algebra, statistics
def det_singular(A):
    """The determinant's gradient at a singular matrix: the cofactor matrix (torch answers 0
    at [[1, 2], [2, 4]], so central differences are the reference here)."""
    return np.linalg.det(A) + np.linalg.det(A @ A.T + np.eye(A.shape[0])) ** 2


def pairwise_triu(X):
    """Distinct pairs by np.triu_indices (a common pairwise-distance idiom)."""
    iu, ju = np.triu_indices(X.shape[0], 1)
    d = X[iu] - X[ju]
    return np.sum(np.sqrt(np.sum(d ** 2, axis=1)))


def torch_pairwise_triu(X):
    iu, ju = torch.triu_indices(X.shape[0], X.shape[0], 1)
    d = X[iu] - X[ju]
    return torch.sum(torch.sqrt(torch.sum(d ** 2, dim=1)))


def covariance_penalty(X):
    """np.cov of observations in columns (rowvar=False)."""
    return np.sum(np.cov(X, rowvar=False) ** 2)


def torch_covariance_penalty(X):
    return torch.sum(torch.cov(X.T) ** 2)


def nan_masked_stats(X):
    """Missing data marked NaN, then np.nansum and np.nanmean per column."""
    Y = np.where(X > 0.5, np.nan, X)
    return np.nansum(Y ** 2) + np.sum(np.nanmean(Y, axis=0) ** 2)


def torch_nan_masked_stats(X):
    Y = torch.where(X > 0.5, torch.full_like(X, float("nan")), X)
    return torch.nansum(Y ** 2) + torch.sum(torch.nanmean(Y, dim=0) ** 2)


def _penalties(*terms, weight=1.0, **scales):
    total = 0.0
    for t in terms:
        total = total + weight * np.sum(t ** 2)
    return total * scales["outer"]


def star_args_helpers(w, b):
    """A helper taking *terms and **scales (a regulariser summing any number of penalties)."""
    return _penalties(w, b, np.tanh(w), weight=0.5, outer=2.0) + _penalties(b, outer=1.0)


def torch_star_args_helpers(w, b):
    return (0.5 * (torch.sum(w ** 2) + torch.sum(b ** 2) + torch.sum(torch.tanh(w) ** 2))) * 2.0 + torch.sum(b ** 2)


def eigen_energy(A):
    """The sum of squared eigenvalues of a symmetric matrix by np.linalg.eigvalsh."""
    return np.sum(np.linalg.eigvalsh(A + A.T) ** 2)


def torch_eigen_energy(A):
    return torch.sum(torch.linalg.eigvalsh(A + A.T) ** 2)


def one_sided_clip(x):
    """np.clip with a None bound (a one-sided clamp)."""
    return np.sum(np.clip(x, None, 0.3)) + np.sum(np.clip(x, -0.2, None) ** 2)


def torch_one_sided_clip(x):
    return torch.sum(torch.clamp(x, max=0.3)) + torch.sum(torch.clamp(x, min=-0.2) ** 2)


# ------------------------------------------------------------------ inputs: name -> (make(rs), argnums)
def _pm1(rs, n):
    return np.where(rs.rand(n) < 0.5, -1.0, 1.0)


CASES = {
    "logistic_log1p": (lambda rs: (rs.randn(3), rs.randn(8, 3), _pm1(rs, 8)), (0,)),
    "logistic_logaddexp": (lambda rs: (rs.randn(3), 0.3, rs.randn(8, 3), _pm1(rs, 8)), (0, 1)),
    "softmax_cross_entropy": (lambda rs: (rs.randn(4, 3), rs.randn(6, 4), rs.randint(0, 3, size=6)), (0, 1)),
    "mlp_loss": (lambda rs: ((rs.randn(3, 5), rs.randn(5), rs.randn(5, 2), rs.randn(2)),
                             rs.randn(7, 3), rs.randn(7, 2)), (0,)),
    "binary_cross_entropy_clipped": (lambda rs: (rs.randn(3), rs.randn(9, 3), (rs.rand(9) < 0.5) * 1.0), (0,)),
    "huber_loss": (lambda rs: (2 * rs.randn(10), rs.randn(10)), (0, 1)),
    "layer_norm_loss": (lambda rs: (rs.randn(4, 5), rs.randn(5), rs.randn(5)), (0, 1, 2)),
    "attention": (lambda rs: (rs.randn(3, 4), rs.randn(5, 4), rs.randn(5, 2)), (0, 1, 2)),
    "softplus_stable": (lambda rs: (3 * rs.randn(7),), (0,)),
    "gaussian_negloglik": (lambda rs: (np.array([0.3, -0.2]), rs.randn(10)), (0,)),
    "standardized_moments": (lambda rs: (rs.randn(9),), (0,)),
    "mvn_logpdf": (lambda rs: (rs.randn(3), rs.randn(3), rs.randn(3, 3)), (0, 1, 2)),
    "gmm_loglik": (lambda rs: (rs.randn(3), rs.randn(3), rs.randn(8)), (0, 1, 2)),
    "kl_gaussians": (lambda rs: (rs.randn(4), 0.3 * rs.randn(4), rs.randn(4), 0.3 * rs.randn(4)), (0, 1, 2, 3)),
    "rbf_kernel_sum": (lambda rs: (rs.randn(4, 2), rs.randn(3, 2), 0.8), (0, 1, 2)),
    "pairwise_sq_dists": (lambda rs: (rs.randn(5, 3),), (0,)),
    "quadratic_form": (lambda rs: (rs.randn(4), rs.randn(4, 4)), (0, 1)),
    "outer_trace": (lambda rs: (rs.randn(3), rs.randn(3)), (0, 1)),
    "lennard_jones": (lambda rs: (np.array([[0.0, 0.0, 0.0], [1.1, 0.1, 0.0], [0.5, 1.0, 0.1], [0.4, 0.5, 0.9]])
                                  + 0.05 * rs.randn(4, 3),), (0,)),
    "rosen": (lambda rs: (rs.randn(6),), (0,)),
    "himmelblau_beale": (lambda rs: (rs.randn(2),), (0,)),
    "ackley": (lambda rs: (rs.randn(5),), (0,)),
    "rastrigin_loop": (lambda rs: (rs.randn(5),), (0,)),
    "black_scholes_call": (lambda rs: (100.0 + rs.randn(), 95.0, 0.5 + 0.1 * rs.rand(), 0.03, 0.2 + 0.05 * rs.rand()),
                           (0, 1, 2, 3, 4)),
    "horner": (lambda rs: (rs.randn(5), rs.randn(6)), (0, 1)),
    "newton_sqrt": (lambda rs: (2.0 + 3 * rs.rand(),), (0,)),
    "cumsum_path": (lambda rs: (rs.randn(7),), (0,)),
    "total_variation": (lambda rs: (rs.randn(8),), (0,)),
    "list_accumulate": (lambda rs: (rs.randn(6),), (0,)),
    "inplace_slice_updates": (lambda rs: (rs.randn(6),), (0,)),
    "pendulum_euler": (lambda rs: (1.0 + 0.1 * rs.randn(), 0.1 * rs.randn(), 0.3), (0, 1, 2)),
    "spring_chain": (lambda rs: (np.cumsum(1.0 + 0.3 * rs.rand(5)) - 2.0,), (0,)),
    "ridge_closed_form": (lambda rs: (0.7, rs.randn(8, 3), rs.randn(8)), (0, 1, 2)),
    "sorted_weights": (lambda rs: (rs.randn(7),), (0,)),
    "strided_slices": (lambda rs: (rs.randn(8),), (0,)),
    "trapezoid_energy": (lambda rs: (rs.randn(6), np.sort(rs.rand(6)) * 3), (0, 1)),
    "polar_features": (lambda rs: (rs.randn(5, 2),), (0,)),
    "scalar_loop_builtins": (lambda rs: (rs.randn(6),), (0,)),
    "stack_concat": (lambda rs: (rs.randn(4), rs.randn(4)), (0, 1)),
    "product_and_prod": (lambda rs: (rs.randn(5),), (0,)),
    "standardize_columns": (lambda rs: (rs.randn(6, 3), rs.randn(3)), (0, 1)),
    "running_max_relu": (lambda rs: (rs.randn(7),), (0,)),
    "polyval_fit": (lambda rs: (rs.randn(4), rs.randn(6), rs.randn(6)), (0, 1)),
    "interp_loss": (lambda rs: (rs.randn(5), np.sort(rs.rand(7)) * 3.5 + 0.2, np.arange(5.0)), (0, 1)),
    "item_and_float": (lambda rs: (rs.randn(4),), (0,)),
    "einsum_bilinear": (lambda rs: (rs.randn(3, 3), rs.randn(3), rs.randn(3)), (0, 1, 2)),
    "vander_fit": (lambda rs: (rs.randn(3), rs.randn(6), rs.randn(6)), (0, 1)),
    "log_sum_exp_scipy": (lambda rs: (rs.randn(5),), (0,)),
    "cumprod_survival": (lambda rs: (rs.randn(6),), (0,)),
    "masked_mean": (lambda rs: (rs.randn(8), rs.randn(8)), (0,)),
    "pendulum_rk4": (lambda rs: (np.array([1.0, 0.0]) + 0.1 * rs.randn(2), np.array([9.81, 0.3])), (0, 1)),
    "nbody_energy": (lambda rs: (rs.randn(4, 3), rs.randn(4, 3), 1.0 + rs.rand(4)), (0, 1, 2)),
    "gradient_descent_unrolled": (lambda rs: (rs.randn(3), rs.randn(8, 3), rs.randn(8)), (0, 1, 2)),
    "inplace_row_updates": (lambda rs: (rs.randn(4, 4) + 2 * np.eye(4),), (0,)),
    "column_inplace_scaling": (lambda rs: (rs.randn(4, 3), rs.randn(3)), (0, 1)),
    "while_bisection_then_value": (lambda rs: (1.0 + 2 * rs.rand(),), (0,)),
    "early_return_loop": (lambda rs: (np.array([0.3, -0.7, 1.2, 1.9, 0.4, 2.5]) + 0.01 * rs.randn(6),), (0,)),
    "break_continue_loop": (lambda rs: (np.array([0.5, -0.3, 1.1, 2.0, 1.5, 0.2]) + 0.01 * rs.randn(6),), (0,)),
    "diag_tril_ops": (lambda rs: (rs.randn(4, 4),), (0,)),
    "inverse_det": (lambda rs: (rs.randn(3, 3),), (0,)),
    "cholesky_logdet": (lambda rs: (rs.randn(4, 4), rs.randn(4)), (0, 1)),
    "roll_flip_repeat": (lambda rs: (rs.randn(6),), (0,)),
    "convolve_smooth": (lambda rs: (rs.randn(8), rs.randn(3)), (0, 1)),
    "max_reductions": (lambda rs: (rs.randn(4, 3),), (0,)),
    "average_weighted": (lambda rs: (rs.randn(6), rs.randn(6)), (0, 1)),
    "reshape_ravel_squeeze": (lambda rs: (rs.randn(6),), (0,)),
    "sign_floor_mod": (lambda rs: (3 * rs.randn(7) + 0.05,), (0,)),
    "list_of_arrays_mean": (lambda rs: (rs.randn(5),), (0,)),
    "dict_params_model": (lambda rs: (rs.randn(3, 2), rs.randn(2), rs.randn(5, 3)), (0, 1)),
    "default_and_keyword_args": (lambda rs: (rs.randn(4),), (0,)),
    "power_iteration": (lambda rs: (rs.randn(4, 4),), (0,)),
    "minimum_maximum_clip": (lambda rs: (rs.randn(7), -0.5, 0.7), (0, 1, 2)),
    "matrix_power_loop": (lambda rs: (rs.randn(3, 3),), (0,)),
    "cross_entropy_onehot": (lambda rs: (rs.randn(5, 3), np.eye(3)[rs.randint(0, 3, size=5)]), (0,)),
    "heat_equation_explicit": (lambda rs: (rs.randn(8), 0.2), (0, 1)),
    "fancy_gather_scatter": (lambda rs: (rs.randn(5), np.array([0, 2, 2, 4, 1, 2])), (0,)),
    "periodic_neg_index": (lambda rs: (rs.randn(5),), (0,)),
    "reversed_zip": (lambda rs: (rs.randn(5), rs.randn(5)), (0, 1)),
    "chained_ifexp": (lambda rs: (np.array([-0.4, 0.3, 0.8, 1.4, 0.55, -1.2]) + 0.01 * rs.randn(6),), (0,)),
    "inf_min_search": (lambda rs: (rs.randn(6),), (0,)),
    "swap_and_aug": (lambda rs: (rs.randn(4),), (0,)),
    "loop_carried_array": (lambda rs: (rs.randn(5),), (0,)),
    "where_nan_guard": (lambda rs: (np.array([-1.3, 0.4, 2.2, -0.2, 0.9, 1.7]),), (0,)),
    "scalar_rounding_loop": (lambda rs: (np.array([-0.93, -0.31, 0.17, 0.52, 1.09, -1.57]) + 0.001 * rs.rand(6),), (0,)),
    "first_row_over": (lambda rs: (np.array([[0.1, -0.4], [0.6, 0.3], [1.0, 1.0]]) + 0.01 * rs.randn(3, 2),), (0,)),
    "walrus_and_aug": (lambda rs: (np.array([0.5, -0.3, 1.1, 0.1]) + 0.01 * rs.randn(4),), (0,)),
    "sorted_builtin": (lambda rs: (rs.randn(3),), (0,)),
    "det_singular": (lambda rs: (np.array([[1.0, 2.0], [2.0, 4.0]]),), (0,)),
    "pairwise_triu": (lambda rs: (rs.randn(4, 2),), (0,)),
    "covariance_penalty": (lambda rs: (rs.randn(5, 3),), (0,)),
    "eigen_energy": (lambda rs: (rs.randn(3, 3),), (0,)),
    "one_sided_clip": (lambda rs: (rs.randn(6),), (0,)),
    "nan_masked_stats": (lambda rs: (rs.randn(5, 3),), (0,)),
    "star_args_helpers": (lambda rs: (rs.randn(3), rs.randn(2)), (0, 1)),
}
