"""Programs for `test_grad_examples.py` (coarsen reads functions from files).

The paper's examples (the nested-branch kernel, k-fold accumulation, BGDHyperOpt), a long
scalar recurrence, an MLP with dict parameters, and small functions at non-differentiable
points.
"""
from __future__ import annotations

import numpy as np

import coarsen


# -- the paper's nested-branch kernel: d = p + q*x; a = sqrt(d) if d > 0 ...; L = z*(1 + e^d)
def nested_branch(p, q, x, z):
    d = p + q * x
    if d > 0.0:
        a = np.sqrt(d)
    elif d > -1.0:
        a = d * d
    else:
        a = -d
    return z * (1.0 + np.exp(d)) * a


def two_way_branch(p, q, x, z):
    d = p + q * x
    a = np.sqrt(d) if d > 0.0 else -d
    return z * (1.0 + np.exp(d)) * a


# -- k-fold accumulation: s = a; for i < k: s += x  ->  a + k*x
def accumulate(a, x, k):
    s = a
    for i in range(k):
        s += x
    return s


# -- BGDHyperOpt: the final loss of T steps of batch gradient descent on linear regression,
#    differentiated w.r.t. the learning rate
def bgd_final_loss(lr, X, y, w0, T):
    w = w0.copy()
    n = X.shape[0]
    for t in range(T):
        r = X @ w - y
        w = w - lr * (2.0 / n) * (X.T @ r)
    r = X @ w - y
    return np.mean(r * r)


# -- a 1000-step scalar recurrence (a loop: never unrolled into one expression)
def recurrence(x, a):
    s = x
    for i in range(1000):
        s = s + 0.001 * np.sin(a * s + 0.01 * i)
    return s


# -- an MLP with parameters in a dict, softmax cross-entropy loss
def mlp_loss(params, X, Y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    z = logits - np.max(logits, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * logp, axis=1))


# -- errors
def vector_valued(x):
    return x * 2.0


def scale(x, n):
    return x * n


def two_outputs(x, y):
    return x * y, np.sum(x) * y


# -- non-differentiable points: the derivative of the branch taken
def absolute(x):
    return np.abs(x)


def absolute_by_branch(x):
    return x if x >= 0.0 else -x


def maximum(x, y):
    return np.maximum(x, y)


def builtin_max(x, y):
    return max(x, y)


def array_max(v):
    return np.max(v)


def branch_boundary(x):
    if x > 0.0:
        return x * x
    return 3.0 * x


# -- small functions whose generated derivative source is kept as golden files
def golden_polynomial(x, y):
    z = x * y + np.sin(x)
    return z * z + y


def golden_branch_loop(x, n):
    s = 0.0
    for i in range(n):
        if x > i:
            s = s + x * np.exp(-0.1 * i)
        else:
            s = s - 1.0
    return s


def golden_array(w, X):
    y = np.zeros(3)
    for i in range(3):
        y[i] = np.sum(X[i] * w)
    return np.mean(np.tanh(y)) + np.max(w)


# -- the decorator form

@coarsen.grad
def decorated_square_sum(v):
    return np.sum(v * v)
