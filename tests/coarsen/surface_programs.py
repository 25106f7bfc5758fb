"""Programs written the way the public AD benchmarks' reference implementations are (ADBench's
GMM, LSTM, bundle adjustment, hand tracking; k-means; least squares; log-sum-exp; det;
a particle step): plain NumPy/SciPy/math, as a user would port them. They must compile as
written (see test_numpy_surface.py)."""
from __future__ import annotations

import math

import numpy as np
from scipy import special


def gmm_objective(alphas, means, icf, x, wishart_gamma, wishart_m):
    """ADBench's GMM: mixture log-likelihood with Q from log-diagonal + lower-triangle params."""
    n, d = x.shape
    k = alphas.shape[0]
    total = 0.0
    sum_qs = np.sum(icf[:, :d], axis=1)
    for i in range(n):
        lse = np.zeros(k)
        for j in range(k):
            q = np.diag(np.exp(icf[j, :d]))
            idx = d
            for col in range(d):
                for row in range(col + 1, d):
                    q[row, col] = icf[j, idx]
                    idx += 1
            xcentered = x[i] - means[j]
            qx = q @ xcentered
            lse[j] = alphas[j] + sum_qs[j] - 0.5 * np.dot(qx, qx)
        total += special.logsumexp(lse)
    const = -n * d * 0.5 * math.log(2 * math.pi)
    lse_alphas = special.logsumexp(alphas)
    prior = 0.0
    for j in range(k):
        prior += 0.5 * wishart_gamma ** 2 * np.sum(np.exp(2.0 * icf[j, :d])) - wishart_m * sum_qs[j]
    log_gamma = special.gammaln(0.5 * (wishart_m + 1.0)) + math.lgamma(0.5 * wishart_m + 1.0)
    return const + total - n * lse_alphas + prior - k * log_gamma


def lstm_step(weight, bias, hidden, cell, inp):
    """ADBench's LSTM cell: gates from one stacked weight array, sigmoid and tanh."""
    h = hidden.shape[0]
    gates = np.concatenate((inp, hidden)) @ weight + bias
    forget = special.expit(gates[:h])
    ingate = special.expit(gates[h:2 * h])
    outgate = special.expit(gates[2 * h:3 * h])
    change = np.tanh(gates[3 * h:])
    cell = cell * forget + ingate * change
    hidden = outgate * np.tanh(cell)
    return np.sum(hidden ** 2) + np.sum(cell)


def rodrigues_project(cam, point):
    """Bundle adjustment's projection: Rodrigues rotation (np.cross, norm), translation,
    radial distortion."""
    rot, center = cam[:3], cam[3:6]
    focal, k1, k2 = cam[6], cam[7], cam[8]
    p = point - center
    theta = np.linalg.norm(rot)
    axis = rot / theta
    cos, sin = np.cos(theta), np.sin(theta)
    rotated = p * cos + np.cross(axis, p) * sin + axis * np.dot(axis, p) * (1.0 - cos)
    proj = rotated[:2] / rotated[2]
    r2 = np.sum(proj ** 2)
    distortion = 1.0 + k1 * r2 + k2 * r2 * r2
    return np.sum((proj * distortion * focal) ** 2)


def hand_pose(angles, base):
    """Hand tracking's chain of rigid transforms: np.eye, np.array of nested lists, matmul."""
    transform = np.eye(3)
    total = 0.0
    for k in range(angles.shape[0]):
        c, s = math.cos(angles[k]), math.sin(angles[k])
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        transform = transform @ rot
        total += np.sum((transform @ base) ** 2) * (k + 1)
    return total


def kmeans_cost(points, centers):
    """k-means: distance to the nearest center (argmin, min over an axis)."""
    d = np.sum((points[:, None, :] - centers[None, :, :]) ** 2, axis=2)
    nearest = np.min(d, axis=1)
    first = np.argmin(d[0])
    return np.sum(nearest) + centers[first, 0]


def least_squares(a, b):
    """Normal equations with np.linalg.solve, det and slogdet of the Gram matrix."""
    gram = a.T @ a + np.eye(a.shape[1])
    w = np.linalg.solve(gram, a.T @ b)
    sign, logdet = np.linalg.slogdet(gram)
    return np.sum((a @ w - b) ** 2) + sign * logdet + np.linalg.det(gram) * 1e-3


def running_max_logsumexp(x):
    """The running-max idiom with -np.inf (and float("inf") for a running min), then a
    stable log-sum-exp."""
    m = -np.inf
    lo = float("inf")
    for i in range(x.shape[0]):
        m = max(m, x[i])
        lo = min(lo, x[i])
    total = 0.0
    for i in range(x.shape[0]):
        total += math.exp(x[i] - m)
    return m + math.log(total) + 0.1 * lo


def particle_step(pos, vel):
    """A particle update: arange/linspace grids, stack, clip, cumsum."""
    n = pos.shape[0]
    t = np.linspace(0.0, 1.0, n)
    force = -np.stack((pos, vel), axis=1) @ np.array([1.0, 0.1])
    vel = np.clip(vel + 0.1 * force * t, -5.0, 5.0)
    pos = pos + np.cumsum(vel) * 0.01 + np.arange(n) * 0.001
    return np.sum(pos ** 2) + np.var(vel)


def tensor_network(a, b, c, w):
    """A three-operand contraction, a weighted log-sum-exp, matrix norms, a Kronecker product,
    an off-diagonal band, selected and deleted columns, the argmax row (#12)."""
    t = np.einsum('ij,jk,kl->il', a, b, c)
    score = np.sum(special.logsumexp(t, axis=1, b=w))
    k = np.kron(a, np.eye(2))
    band = np.diag(np.diag(a @ b, 1), 1)
    picked = np.take(t, [0, -1], axis=1) + np.sum(np.delete(t, [0], axis=1))
    best = t[np.argmax(np.sum(t, axis=1))]
    return (score + np.linalg.norm(k, 1) + np.linalg.norm(a, np.inf) + np.sum(band ** 2)
            + np.sum(picked) + np.sum(best) + np.squeeze(np.sum(t, keepdims=True)))
