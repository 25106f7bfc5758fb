"""Small programs the kernel tests compile for every target (functions must live in a file)."""
import math

import numpy as np


def branch_kernel(x, p, q, z):
    d = p + q * x
    if d > 0:
        a = np.sqrt(d)
    else:
        a = -d
    return z * (1 + np.exp(d)) + a


def while_loop(x, n):
    i = 0
    s = x
    while s < 10.0 and i < n:
        s = s * 1.5 + 0.1
        i += 1
    return s


def hookean(pos, k):
    n = pos.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            r = math.sqrt(dx * dx + dy * dy)
            e += k * (r - 1.0) ** 2
    return e


def scan_writes(x):
    v = x.copy()
    for i in range(x.shape[0] - 1):
        v[i + 1] = v[i] * x[i + 1] + np.cos(v[i])
    return np.sum(v * v)


def mlp_loss(params, x, y):
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    m = np.max(logits, axis=1, keepdims=True)
    z = logits - m
    lse = np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(y * (z - lse), axis=1))


def reductions(x):
    a = np.mean(x, axis=0)
    b = np.max(x, axis=1)
    c = np.min(x, axis=0, keepdims=True)
    return np.sum(a * a) + np.sum(np.sin(b)) + np.sum(c * x)


def rank3(x):
    return np.sum(np.sum(x, axis=2) ** 2)


def folded_branch_in_while(x, n):
    # SymPy folds `y - y > 0.5` to False: Numba then prunes the branch, and the tape's type
    # must not depend on it
    s = 0.0
    i = 0
    while i < n:
        y = x * 1.5
        if y - y > 0.5:
            s = s + np.sin(y) * s
        else:
            s = s + np.cos(y * s)
        i += 1
    return s


def clipped_rollout(theta, state, steps):
    # a counted loop whose body and nested branch keep their records in array tapes
    x, v = state[0], state[1]
    cost = 0.0
    for t in range(steps):
        f = theta[0] * x + theta[1] * v
        if f > 1.0:
            f = 1.0
        elif f < -1.0:
            f = -1.0 * np.tanh(f * f)
        v = v + 0.1 * (f - np.sin(x))
        x = x + 0.1 * v
        cost = cost + (10.0 * x * x if abs(x) > 0.3 else x * x)
    return cost


def other_reductions(z):
    return np.sum(np.max(z, axis=0, keepdims=True) * z) + np.sum(np.min(z, axis=1)) + np.sum(np.mean(z, axis=1))


def rank3_mix(x, w):
    # rank-3 reductions along every axis, with and without keepdims, and broadcasting a matrix
    y = x * w + np.tanh(x)
    a = np.max(y, axis=1, keepdims=True)
    b = np.mean(y - a, axis=0)
    c = np.min(y, axis=2)
    return np.sum(b * b) + np.sum(np.exp(c)) + np.sum(np.sum(y, axis=0) * w) + np.sum(np.mean(y, axis=2, keepdims=True) * x)


def rank4(x):
    return np.sum(np.sum(x, axis=3) ** 2)


def where_sqrt(x):
    return np.sum(np.where(x > 0.0, np.sqrt(np.abs(x)), 0.0))


def pruned_array_tape(x, n):
    # SymPy folds `x[0] - x[0] > 1.0` to False: Numba prunes the branch whose records are
    # arrays, and the while loop's list tape must be typed without it
    y = x * 1.0
    i = 0
    while i < n:
        if x[0] - x[0] > 1.0:
            z = np.tanh(y * x)
            y = z * np.sum(z * y)
        else:
            y = np.sin(y) * x
        i += 1
    return np.sum(y)


def gate_cell(w, xs):
    """An LSTM-like cell whose gates are slices of one product (`np.concatenate`): held out
    from fusion's design (tests/kernels/test_fusion), and a loop whose backward reads kept
    exp/tanh values (tests/coarsen/test_kept_transcendentals)."""
    b = xs.shape[1]
    h = np.zeros(b)
    c = np.zeros(b) + 0.5
    for t in range(xs.shape[0]):
        z = w * np.concatenate((xs[t], h, xs[t], h))
        i = 1.0 / (1.0 + np.exp(-z[:b]))
        f = 1.0 / (1.0 + np.exp(-z[b:2 * b]))
        o = 1.0 / (1.0 + np.exp(-z[2 * b:3 * b]))
        g = np.tanh(z[3 * b:])
        c = f * c + i * g
        h = o * np.tanh(c)
    return np.sum(h * h) + np.sum(c)
