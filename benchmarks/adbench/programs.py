"""The standard AD benchmark programs (the GradBench / ADBench suite), written the way a NumPy
user writes them: plain Python + NumPy, loops where the reference implementations loop, and a
vectorised form where they are vectorised. Nothing here is shaped to what coarsen accepts:
programs that coarsen refuses are reported by the suite with the error, not rewritten.

Each program returns a scalar; the suite differentiates it w.r.t. its first argument.
Sources of the maths: GradBench's evals (gmm, lstm, ode, kmeans, llsq, lse, det, particle,
saddle, ba), which follow ADBench and Pearlmutter & Siskind (2008).
"""
from __future__ import annotations

import math

import numpy as np

import coarsen


# ---------------------------------------------------------------------- GMM (ADBench objective)
def gmm_objective(means, alphas, icf, x, gamma, m):
    """Negative log-likelihood of a Gaussian mixture with a Wishart prior; the inverse
    covariances are L L^T with L lower triangular, its diagonal exp(q), as in ADBench."""
    n = x.shape[0]
    d = x.shape[1]
    k = alphas.shape[0]
    total = 0.0
    for i in range(n):
        terms = np.zeros(k)
        for c in range(k):
            xc = x[i] - means[c]
            q = icf[c, :d]
            lx = np.exp(q) * xc
            idx = d
            for j in range(d):
                for r in range(j + 1, d):
                    lx[r] = lx[r] + icf[c, idx] * xc[j]
                    idx = idx + 1
            terms[c] = alphas[c] + np.sum(q) - 0.5 * np.sum(lx * lx)
        top = np.max(terms)
        total = total + top + np.log(np.sum(np.exp(terms - top)))
    top = np.max(alphas)
    lse_alphas = top + np.log(np.sum(np.exp(alphas - top)))
    prior = 0.0
    for c in range(k):
        q = icf[c, :d]
        prior = prior + 0.5 * gamma * gamma * (np.sum(np.exp(2.0 * q)) + np.sum(icf[c, d:] ** 2))
        prior = prior - m * np.sum(q)
    nu = d + m + 1
    const = n * d * math.log(gamma / math.sqrt(2.0))
    for j in range(d):
        const = const - math.lgamma(0.5 * nu - 0.5 * j)
    return -n * d * 0.5 * math.log(2.0 * math.pi) + total - n * lse_alphas + prior - k * const


def gmm_objective_vectorised(means, alphas, icf, x, gamma, m):
    """The same objective vectorised over points and components, as ADBench's NumPy reference
    computes it (broadcasting over (n, k, d)); no element writes, so every peer runs it as is."""
    n, d = x.shape
    k = alphas.shape[0]
    qs = icf[:, :d]
    ls = icf[:, d:]
    xc = x[:, None, :] - means[None, :, :]
    sq = np.zeros((n, k))
    for r in range(d):
        col = np.exp(qs[:, r])[None, :] * xc[:, :, r]
        for j in range(r):
            idx = j * (2 * d - j - 1) // 2 + (r - j - 1)
            col = col + ls[None, :, idx] * xc[:, :, j]
        sq = sq + col * col
    inner = alphas[None, :] + np.sum(qs, axis=1)[None, :] - 0.5 * sq
    top = np.max(inner, axis=1)
    lse = top + np.log(np.sum(np.exp(inner - top[:, None]), axis=1))
    amax = np.max(alphas)
    lse_alphas = amax + np.log(np.sum(np.exp(alphas - amax)))
    prior = 0.5 * gamma * gamma * (np.sum(np.exp(qs) ** 2) + np.sum(ls ** 2)) - m * np.sum(qs)
    nu = d + m + 1
    const = n * d * math.log(gamma / math.sqrt(2.0))
    for j in range(d):
        const = const - math.lgamma(0.5 * nu - 0.5 * j)
    return -n * d * 0.5 * math.log(2.0 * math.pi) + np.sum(lse) - n * lse_alphas + prior - k * const


# ---------------------------------------------------------------------- LSTM (ADBench objective)
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_objective(main_params, extra_params, state, sequence):
    """A stacked LSTM predicting each next character of a sequence; the mean log-loss."""
    layers = main_params.shape[0] // 2
    b = state.shape[1]
    s = np.copy(state)
    total = 0.0
    count = 0
    x_in = sequence[0]
    for t in range(sequence.shape[0] - 1):
        x = x_in * extra_params[0]
        for layer in range(layers):
            weight = main_params[2 * layer]
            bias = main_params[2 * layer + 1]
            hidden = s[2 * layer]
            cell = s[2 * layer + 1]
            gates = np.concatenate((x, hidden, x, hidden)) * weight + bias
            forget = sigmoid(gates[0:b])
            ingate = sigmoid(gates[b:2 * b])
            outgate = sigmoid(gates[2 * b:3 * b])
            change = np.tanh(gates[3 * b:])
            cell = cell * forget + ingate * change
            hidden = outgate * np.tanh(cell)
            s[2 * layer] = hidden
            s[2 * layer + 1] = cell
            x = hidden
        ypred = x * extra_params[1] + extra_params[2]
        ynorm = ypred - np.log(np.sum(np.exp(ypred)))
        gold = sequence[t + 1]
        total = total + np.sum(gold * ynorm)
        count = count + b
        x_in = gold
    return -total / count


def lstm_objective_functional(main_params, extra_params, state, sequence):
    """`lstm_objective` with the state as a list of rows instead of element writes: how a JAX
    or HIPS autograd user writes it (their arrays are immutable). Run by those peers only."""
    layers = main_params.shape[0] // 2
    b = state.shape[1]
    s = [state[i] for i in range(state.shape[0])]
    total = 0.0
    count = 0
    x_in = sequence[0]
    for t in range(sequence.shape[0] - 1):
        x = x_in * extra_params[0]
        for layer in range(layers):
            gates = (np.concatenate((x, s[2 * layer], x, s[2 * layer]))
                     * main_params[2 * layer] + main_params[2 * layer + 1])
            cell = s[2 * layer + 1] * sigmoid(gates[0:b]) + sigmoid(gates[b:2 * b]) * np.tanh(gates[3 * b:])
            hidden = sigmoid(gates[2 * b:3 * b]) * np.tanh(cell)
            s[2 * layer] = hidden
            s[2 * layer + 1] = cell
            x = hidden
        ypred = x * extra_params[1] + extra_params[2]
        ynorm = ypred - np.log(np.sum(np.exp(ypred)))
        total = total + np.sum(sequence[t + 1] * ynorm)
        count = count + b
        x_in = sequence[t + 1]
    return -total / count


# ---------------------------------------------------------------------- ODE (GradBench ode)
def ode_rhs(x, y):
    n = x.shape[0]
    z = np.zeros(n)
    z[0] = x[0]
    for i in range(1, n):
        z[i] = x[i] * y[i - 1]
    return z


def ode_final(x, s):
    """Runge-Kutta 4 over s steps of y' = f(x, y), y(0) = 0, t in [0, 2]; the sum of the final
    state (GradBench differentiates the last component, whose gradient is identically zero
    while s < n / 4: information moves one component per RK stage)."""
    h = 2.0 / s
    y = np.zeros(x.shape[0])
    for step in range(s):
        k1 = ode_rhs(x, y)
        k2 = ode_rhs(x, y + h / 2 * k1)
        k3 = ode_rhs(x, y + h / 2 * k2)
        k4 = ode_rhs(x, y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.sum(y)


def ode_rhs_vectorised(x, y):
    z = x * np.roll(y, 1)
    z[0] = x[0]
    return z


def ode_final_vectorised(x, s):
    h = 2.0 / s
    y = np.zeros(x.shape[0])
    for step in range(s):
        k1 = ode_rhs_vectorised(x, y)
        k2 = ode_rhs_vectorised(x, y + h / 2 * k1)
        k3 = ode_rhs_vectorised(x, y + h / 2 * k2)
        k4 = ode_rhs_vectorised(x, y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.sum(y)


# ---------------------------------------------------------------------- k-means (GradBench)
def kmeans_cost(centers, points):
    """Sum over points of the squared distance to the nearest center (the running-min idiom)."""
    total = 0.0
    for i in range(points.shape[0]):
        best = np.inf
        for j in range(centers.shape[0]):
            diff = points[i] - centers[j]
            best = min(best, np.sum(diff * diff))
        total = total + best
    return total


def kmeans_cost_vectorised(centers, points):
    a = np.sum(points ** 2, axis=1)[None, :]
    b = np.sum(centers ** 2, axis=1)[:, None]
    dists = a + b - 2.0 * (centers @ points.T)
    return np.sum(np.min(dists, axis=0))


# ---------------------------------------------------------------------- least squares (GradBench llsq)
def llsq(x, n):
    m = x.shape[0]
    total = 0.0
    for i in range(n):
        t = -1.0 + i * 2.0 / (n - 1.0)
        acc = 0.0
        power = 1.0
        for j in range(m):
            acc = acc - x[j] * power
            power = power * t
        total = total + (np.sign(t) + acc) ** 2
    return total / 2.0


def llsq_vectorised(x, n):
    m = x.shape[0]
    t = np.linspace(-1.0, 1.0, n)
    powers = t[:, None] ** np.arange(m)[None, :]
    r = np.sign(t) - powers @ x
    return np.sum(r * r) / 2.0


# ---------------------------------------------------------------------- log-sum-exp (GradBench lse)
def logsumexp(x):
    """By hand, as the eval asks: a running maximum, then a sum."""
    top = -np.inf
    for i in range(x.shape[0]):
        top = max(top, x[i])
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.exp(x[i] - top)
    return np.log(s) + top


def logsumexp_vectorised(x):
    top = np.max(x)
    return np.log(np.sum(np.exp(x - top))) + top


# ---------------------------------------------------------------------- determinant by minors
def det_by_minors(a):
    """Laplace expansion along the first row, recursively (GradBench det, from cmpad)."""
    n = a.shape[0]
    if n == 1:
        return a[0, 0]
    total = 0.0
    sign = 1.0
    for j in range(n):
        minor = np.delete(np.delete(a, 0, axis=0), j, axis=1)
        total = total + sign * a[0, j] * det_by_minors(minor)
        sign = -sign
    return total


# ---------------------------------------------------------------------- particle (nested AD)
def charge_potential(p, w):
    return (1.0 / np.sqrt((p[0] - 10.0) ** 2 + (p[1] - 10.0 + w) ** 2)
            + 1.0 / np.sqrt((p[0] - 10.0) ** 2 + p[1] ** 2))


def particle_miss(w):
    """x_0(t_f)^2: naive Euler with the force -grad_x p(x; w) (an inner gradient), stopped where
    the particle crosses the x axis, linearly interpolated. Pearlmutter & Siskind's example."""
    force = coarsen.grad(charge_potential)
    p = np.array([0.0, 8.0])
    v = np.array([0.75, 0.0])
    dt = 1e-1
    for step in range(1000):
        a = -force(p, w)
        p_new = p + dt * v
        if p_new[1] <= 0.0:
            frac = -p[1] / v[1]
            xf = p + frac * v
            return xf[0] * xf[0]
        v = v + dt * a
        p = p_new
    return p[0] * p[0]


# ---------------------------------------------------------------------- saddle (nested AD)
def saddle_f(x, y):
    return (x[0] * x[0] + y[0] * y[0]) - (x[1] * x[1] + y[1] * y[1])


def saddle_inner_max(x):
    """max_y f(x, y) by gradient ascent from a fixed start (the inner argmax), then f there."""
    ascent = coarsen.grad(saddle_f, argnums=1)
    y = np.array([1.0, 1.0])
    for step in range(100):
        y = y + 0.01 * ascent(x, y)
    return saddle_f(x, y)


# ---------------------------------------------------------------------- bundle adjustment
def rodrigues_rotate(rot, X):
    theta = np.sqrt(np.sum(rot * rot))
    if theta != 0.0:
        axis = rot / theta
        cos_t = np.cos(theta)
        sin_t = np.sin(theta)
        cross = np.cross(axis, X)
        return X * cos_t + cross * sin_t + axis * np.dot(axis, X) * (1.0 - cos_t)
    return X + np.cross(rot, X)


def reprojection_error(cams, X, obs, cam_index, point_index):
    """Sum of squared reprojection errors (ADBench's BA model: Rodrigues rotation, centre,
    focal length, principal point, two radial distortion terms), w.r.t. the cameras."""
    total = 0.0
    for k in range(obs.shape[0]):
        cam = cams[cam_index[k]]
        point = X[point_index[k]]
        p = rodrigues_rotate(cam[0:3], point - cam[3:6])
        proj = p[0:2] / p[2]
        r2 = np.sum(proj * proj)
        distortion = 1.0 + cam[9] * r2 + cam[10] * r2 * r2
        err = proj * distortion * cam[6] + cam[7:9] - obs[k]
        total = total + np.sum(err * err)
    return total


def reprojection_error_vectorised(cams, X, obs, cam_index, point_index):
    """The same objective with integer index arrays, as vectorised BA code gathers: one row
    of `cams` and of `X` per observation (`cams[cam_index]`), every observation at once.
    Rodrigues' formula for a nonzero rotation (as ADBench's vectorised references)."""
    C = cams[cam_index]
    P = X[point_index]
    theta = np.sqrt(C[:, 0] * C[:, 0] + C[:, 1] * C[:, 1] + C[:, 2] * C[:, 2])
    a0, a1, a2 = C[:, 0] / theta, C[:, 1] / theta, C[:, 2] / theta
    y0, y1, y2 = P[:, 0] - C[:, 3], P[:, 1] - C[:, 4], P[:, 2] - C[:, 5]
    c, s = np.cos(theta), np.sin(theta)
    k = (a0 * y0 + a1 * y1 + a2 * y2) * (1.0 - c)
    p0 = y0 * c + (a1 * y2 - a2 * y1) * s + a0 * k
    p1 = y1 * c + (a2 * y0 - a0 * y2) * s + a1 * k
    p2 = y2 * c + (a0 * y1 - a1 * y0) * s + a2 * k
    u, v = p0 / p2, p1 / p2
    r2 = u * u + v * v
    scale = (1.0 + C[:, 9] * r2 + C[:, 10] * r2 * r2) * C[:, 6]
    e0 = u * scale + C[:, 7] - obs[:, 0]
    e1 = v * scale + C[:, 8] - obs[:, 1]
    return np.sum(e0 * e0 + e1 * e1)
