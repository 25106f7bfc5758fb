"""Programs whose values and derivatives every target must agree on with *independent*
references: Python's own value, the documented semantics at ties and kinks, exact trip
counts of stepped, reversed and empty ranges, torch.autograd for array programs.
(coarsen reads functions from files, so they live here; `test_every_target.py` runs them.)

Documented semantics at non-differentiable points (README, phicalc.terms): the derivative of
the branch the forward run took; `np.maximum`/`np.minimum`/`max`/`min` give a tie's whole
derivative to their first argument; an array `max`/`min` (also along an axis) to the first
extremal element; `abs` and `sign` have derivative 0 at 0; `np.clip` at a bound passes it to x.
"""
from __future__ import annotations

import numpy as np


# -- ties and kinks ---------------------------------------------------------------------------
def maximum(x, y):
    return np.maximum(x, y)


def minimum(x, y):
    return np.minimum(x, y)


def builtin_max(x, y):
    return max(x, y)


def builtin_min(x, y):
    return min(x, y)


def relu(x):
    return np.maximum(x, 0.0) * 3.0


def absolute(x):
    return np.abs(x) * 2.0 + x


def absolute_by_branch(x):
    return x if x >= 0.0 else -x


def signed_square(x):
    return x * x * np.sign(x) + np.sign(x)


def clip_unit(x):
    return np.clip(x, -1.0, 1.0) * 5.0


def array_max(v):
    return np.max(v)


def array_min(v):
    return np.min(v) * 2.0


def axis_max(m, w):
    return np.sum(np.max(m, axis=0) * w)


def axis_min_keepdims(m):
    return np.sum(m - np.min(m, axis=1, keepdims=True) * 2.0)


# -- stepped, reversed and empty ranges (the step must be a literal for a closed form) --------
def count_up(a, x, n):
    s = a
    for i in range(n):
        s += x
    return s


def step_up_2(a, x, start, stop):
    s = a
    for i in range(start, stop, 2):
        s += x
    return s


def step_down_2(a, x, start, stop):
    s = a
    for i in range(start, stop, -2):
        s += x
    return s


def step_down_1(a, x, start, stop):
    s = a
    for i in range(start, stop, -1):
        s = s + x * i
    return s


def step_up_3_index(a, x, start, stop):
    s = a
    for i in range(start, stop, 3):
        s = s + x * i + 0.5 * a
    return s


def affine_down_3(a, x, start, stop):
    s = a
    for i in range(start, stop, -3):
        s = 0.5 * s + x
    return s


def nonlinear_stepped(a, x, start, stop):
    """No closed form: the loop itself is differentiated, replayed in reverse."""
    s = a
    for i in range(start, stop, -2):
        s = np.sin(s) * x + 0.1 * i
    return s


def nested_stepped(a, x, n):
    s = a
    for i in range(n, -1, -2):
        for j in range(i, 2 * i, 3):
            s = s + x * j
    return s


# -- arrays larger than one GPU block (128 threads) ---------------------------------------------
def big_elementwise_sum(x):
    return np.sum(np.sin(x) * x + 0.5 * x * x)


def big_axis_reductions(m):
    return np.sum(np.max(m * m, axis=0)) + np.sum(np.mean(np.tanh(m), axis=1)) + np.min(m)


def big_softmax(m, y):
    z = m - np.max(m, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(y * logp, axis=1))


def big_vector(x):
    return np.tanh(x) * 2.0 + x * x


# -- rules of ops outside segments: element reads and writes, %, prod --------------------------
def modulo(x, y):
    return (x * 3.0) % y


def reads_twice(v):
    return v[0] * v[1] + v[0] + v[-1] * v[-1]


def overwrite(v):
    y = v.copy()
    y[0] = 2.0 * v[1]
    return np.sum(y * y)


def product(v):
    return np.prod(v) + np.prod(v[1:] * 2.0)


def matrix_product(a, b):
    return np.sum(np.tanh(a @ b) * (a @ b).T.sum(axis=1, keepdims=True).T)
