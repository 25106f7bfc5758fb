"""Hand-written programs, one or a few constructs each, for test_frontend_examples.py.

`EXAMPLES` maps a name to (function, list of argument tuples). Every function is ordinary
Python: the test compares coarsen's IR interpreter with CPython on each argument tuple.
"""
import math

import numpy as np

SCALE = 0.5
STEPS = 3
WEIGHTS = np.array([[1.0, -2.0], [0.5, 3.0]])
PAIR = (2, 1.5)


# ---------------------------------------------------------------- scalars and operators
def arithmetic(x, n):
    a = x * 2.0 + n - 1
    b = n // 2 + n % 3 + n / 4
    c = x ** 2 + abs(x) ** 0.5 - (-x)
    d = 2 ** n + n ** 2 + 3 ** 0
    return a + b + c + d + (x // 0.75) + (x % 1.5)


def comparisons(x, y, n):
    chained = 0.0 < x <= y
    both = x > 0.0 and y > 0.0
    either = x > 1.0 or not (y < 0.0)
    eq = n == 2 or n != 3
    return chained, both, either, eq, (x > y) & (n >= 1) | (x == y)


def short_circuit(x, n):
    # the right operand runs only when it decides: x[n] is never read out of range
    ok = n < 3 and x[n] > 0.0
    fallback = (n >= 3) or x[n] < 1.0
    return ok, fallback


def conditional_expressions(x, flag):
    y = x if flag else -x
    z = (y * 2.0 if y > 0.0 else y - 1.0) if not flag else 0.5
    return y + z


def builtins_and_casts(x, y, n):
    return float(n) + int(x * 3.0) + abs(y) + min(x, y, 0.5) + max(n, 2) + bool(n) + round_down(x)


def round_down(x):
    return math.floor(x) if False else int(x // 1.0)


def scalar_math(x):
    return (math.exp(-x * x) + math.log(abs(x) + 1.0) + math.log1p(abs(x)) + math.expm1(x / 4.0)
            + math.sqrt(abs(x)) + math.sin(x) + math.cos(x) + math.tan(x / 4.0) + math.tanh(x)
            + math.atan(x) + math.sinh(x / 2.0) + math.cosh(x / 2.0) + math.fabs(x)
            + math.log(abs(x) + 2.0, 3.0) + math.log10(abs(x) + 1.0) + math.log2(abs(x) + 1.0)
            + math.pow(abs(x), 1.5))


# ---------------------------------------------------------------- arrays
def elementwise(x, y):
    z = np.exp(-x * x) + np.log(np.abs(y) + 1.0) + np.log1p(np.abs(x)) + np.expm1(y / 4.0)
    z = z + np.sqrt(np.abs(x)) + np.sin(x) * np.cos(y) + np.tan(x / 4.0) + np.tanh(y)
    z = z + np.arctan(x) + np.sinh(y / 2.0) - np.cosh(x / 2.0) + np.sign(y) * np.abs(x)
    return z + np.square(x) - x ** 3 + np.power(np.abs(y), 0.5)


def broadcasting(a, v, s):
    return a + v, a * s, v[:, None] * v[None, :], (a.T - v[:, None]).T


def selections(x, y):
    return (np.maximum(x, y), np.minimum(x, 0.0), np.where(x > y, x, y * 2.0),
            np.clip(x, -0.5, 0.5), np.clip(y, a_min=-1.0, a_max=x))


def reductions(a):
    return (np.sum(a), a.mean(), np.prod(a), a.max(), np.min(a), np.sum(a, axis=0), a.mean(axis=1),
            np.max(a, 1), a.min(axis=-1), np.sum(a, axis=1, keepdims=True))


def linear_algebra(a, v):
    return a @ v, v @ a, np.dot(v, v), a.dot(a.T), np.matmul(a, a), a.T, np.transpose(a)


def shapes(a, v):
    n, m = a.shape
    flat = a.reshape(n * m)
    back = np.reshape(flat, (m, n))
    return n + m + len(v) + a.shape[1] + a.ndim + a.size, flat, back, v.reshape((1, len(v)))


def reads(x, a, i):
    return x[i], x[-1], a[i, 0], a[1][0], x[1:3], x[::2], x[1:], a[:, 1], a[0], x[i:], a[-1, -1]


def creation(v, n):
    z = np.zeros(n) + np.ones(n) + np.zeros((n, 2)).sum(axis=1)
    return z, np.zeros_like(v), np.ones_like(v) * 2.0, np.array([1.0, n, v[0]]), np.asarray(v)


def module_constants(x):
    return x * SCALE + STEPS + WEIGHTS @ np.ones(2) + PAIR[0] * PAIR[1]


def zero_d_argument(x):
    return x * 2.0, np.sin(x) + 1.0


# ---------------------------------------------------------------- writes
def element_writes(x, n):
    z = np.zeros(n)
    for i in range(n):
        z[i] = x[i % len(x)] * i
    z[0] += 10.0
    w = np.ones((2, n))
    w[1] = z
    w[0, 1:] = -1.0
    w[:, 0] = 5.0
    e = np.empty(3)
    e[:] = 2.0
    return z, w, e


def writes_into_copies(x):
    y = x.copy()
    y[0] = -1.0
    t = x * 2.0   # arithmetic makes a fresh array: writable too
    t[-1] = 0.0
    t += 1.0
    return x, y, t


def writes_in_a_branch(x, flag):
    z = np.zeros(3)
    if flag:
        z[0] = x
    else:
        z = z + x
        z[1] = -x
    return z


# ---------------------------------------------------------------- tuples and calls
def tuples(x, y):
    pair = (x, y)
    a, b = pair
    a, b = b, a
    (c, d), e = (a, b), pair[-1]
    return a - b, (c, d, e), pair[0]


def nested_args(params, scale):
    w, b = params["w"], params["b"]
    first, second = scale
    return w * first + b * second


def affine(x, w, b=0.5):
    return w * x + b


def two_layers(x, w):
    h = np.tanh(affine(x, w))
    return affine(h, w, b=-0.25), h


def calls(x, w):
    out, h = two_layers(x, w)
    return out.sum() + affine(x, 2.0).sum() + affine(b=1.0, w=0.5, x=h).sum()


def make_closure(k):
    def scaled(x):
        return x * k
    return scaled


closure = make_closure(3.0)


# ---------------------------------------------------------------- control flow
def nested_if(x, n):
    if x > 1.0:
        if n > 2:
            y = x * n
        elif n > 0:
            y = x + n
        else:
            y = -x
    elif x < -1.0:
        y = 0.0
    else:
        y = x ** 2
        if n == 1:
            y = y + 1
    return y


def widening(x, n):
    s = 0
    if x > 0.0:
        s = x
    t = 1
    for i in range(n):
        t = t * 0.5
    return s, t


def for_loops(x, n):
    s = 0.0
    for i in range(n):
        for j in range(i, n, 2):
            s = s + x * (i - j)
    for k in range(n, 0, -1):
        s = s - k
    for k in range(STEPS):
        s *= 1.5
    return s


def while_break_continue(x, limit):
    i = 0
    total = 0.0
    while i < 10:
        i += 1
        if i % 2 == 0:
            continue
        total = total + x * i
        if total > limit:
            break
    return total, i


def while_true(x):
    k = 0
    while True:
        x = x * 0.5
        k += 1
        if abs(x) < 0.1 or k > 20:
            break
    return x, k


def early_returns(x, n):
    if x < 0.0:
        return -1.0
    for i in range(n):
        for j in range(n):
            if i * j > x:
                return float(i * 10 + j)
    s = 0.0
    while s < 3.0:
        s = s + 1.0
        if s * x > 5.0:
            return s
    return x


def loop_with_array_state(x, n):
    acc = np.zeros(len(x))
    best = x[0]
    for i in range(n):
        acc = acc + x * i
        acc[i % len(x)] = 0.0
        best = max(best, acc.sum())
    return acc, best


def accumulate(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i]
    return s


def endless_loop_returns(x, n):
    i = 0
    while True:   # its only exit is the return
        i += 1
        if i > n:
            return x
        x = x * 0.5


def truthiness_and_defaults(x, n, scale=2.0):
    if n:
        x = x * scale
    while x:
        x = x - 1.0 if x > 1.0 else 0.0
    return x, affine(n, scale)


def loop_target_after_loop(x, n):
    i = -1
    for i in range(n):
        x = x + i
    k = 0
    while k < 3:
        k += 1
        for j in range(3):
            if j == k:
                break
            x = x * 1.5
    return x, i


def reshape_minus_one(a):
    return a.reshape(-1), a.reshape(a.shape[0], -1), a[1, :]


EXAMPLES = {
    "arithmetic": (arithmetic, [(1.5, 3), (-0.7, 0), (2.0, 5)]),
    "comparisons": (comparisons, [(0.5, 0.75, 2), (1.0, 1.0, 3), (-1.0, 2.0, 0)]),
    "short_circuit": (short_circuit, [(np.array([1.0, -2.0, 0.5]), 1), (np.array([1.0, 2.0, 0.5]), 3)]),
    "conditional_expressions": (conditional_expressions, [(0.5, True), (0.5, False), (-2.0, False)]),
    "builtins_and_casts": (builtins_and_casts, [(1.3, -0.4, 2), (-2.5, 0.7, 0)]),
    "scalar_math": (scalar_math, [(0.3,), (-1.7,), (2.2,)]),
    "elementwise": (elementwise, [(np.array([0.1, -0.5, 2.0]), np.array([1.0, -3.0, 0.25]))]),
    "broadcasting": (broadcasting, [(np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0, 0.5]), 2.5)]),
    "selections": (selections, [(np.array([0.1, -0.9, 2.0]), np.array([1.0, -3.0, 0.1]))]),
    "reductions": (reductions, [(np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]),)]),
    "linear_algebra": (linear_algebra, [(np.array([[1.0, 2.0], [-0.5, 0.25]]), np.array([0.3, -1.2]))]),
    "shapes": (shapes, [(np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0, 4.0]))]),
    "reads": (reads, [(np.array([1.0, 2.0, 3.0, 4.0]), np.array([[1.0, 2.0], [3.0, 4.0]]), 1)]),
    "creation": (creation, [(np.array([1.5, -2.0]), 3)]),
    "module_constants": (module_constants, [(1.5,), (np.array([1.0, 2.0]),)]),
    "zero_d_argument": (zero_d_argument, [(np.array(0.75),)]),
    "element_writes": (element_writes, [(np.array([1.0, -2.0]), 4), (np.array([0.5]), 1)]),
    "writes_into_copies": (writes_into_copies, [(np.array([1.0, 2.0, 3.0]),)]),
    "writes_in_a_branch": (writes_in_a_branch, [(2.0, True), (2.0, False)]),
    "tuples": (tuples, [(1.0, 2.5)]),
    "nested_args": (nested_args, [({"w": np.array([1.0, 2.0]), "b": 0.5}, (2, 3.0))]),
    "calls": (calls, [(np.array([0.5, -1.0]), np.array([2.0, 0.25]))]),
    "closure": (closure, [(1.5,)]),
    "nested_if": (nested_if, [(2.0, 3), (2.0, 1), (2.0, 0), (-2.0, 1), (0.5, 1), (0.5, 2)]),
    "widening": (widening, [(1.5, 2), (-1.0, 0)]),
    "for_loops": (for_loops, [(0.5, 4), (1.0, 0), (-2.0, 1)]),
    "while_break_continue": (while_break_continue, [(1.0, 5.0), (0.1, 100.0), (3.0, 1.0)]),
    "while_true": (while_true, [(5.0,), (0.05,)]),
    "early_returns": (early_returns, [(-1.0, 3), (1.5, 3), (100.0, 2), (2.0, 0), (0.5, 0)]),
    "loop_with_array_state": (loop_with_array_state, [(np.array([1.0, -2.0, 0.5]), 4), (np.array([1.0]), 0)]),
    "accumulate": (accumulate, [(np.array([1.0, 2.0, 3.5]),)]),
    "endless_loop_returns": (endless_loop_returns, [(3.0, 2), (3.0, 0)]),
    "truthiness_and_defaults": (truthiness_and_defaults, [(2.5, 1), (2.5, 0)]),
    "loop_target_after_loop": (loop_target_after_loop, [(1.0, 3), (1.0, 0)]),
    "reshape_minus_one": (reshape_minus_one, [(np.arange(6.0).reshape(2, 3),)]),
}
