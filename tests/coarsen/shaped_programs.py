"""Programs written as NumPy users write them whose control flow follows the arguments' shapes
(#12/#13): recursion on `a.shape[0]`, generator expressions and comprehensions over
`range(len(x))` (`test_shape_specialised.py`). Kept in their own module: errors are checked
against these lines."""
import math

import numpy as np

import coarsen


def det_gen(a):
    """Cofactor expansion, the generator-expression form (np.delete for the minor)."""
    n = a.shape[0]
    if n == 1:
        return a[0, 0]
    return sum((-1) ** j * a[0, j] * det_gen(np.delete(np.delete(a, 0, 0), j, 1)) for j in range(n))


def det_loop(a):
    """The loop form, the minor's columns picked by a list of ints."""
    n = a.shape[0]
    if n == 1:
        return a[0, 0]
    total = 0.0
    for j in range(n):
        cols = [k for k in range(n) if k != j]
        minor = a[1:, cols]
        total = total + (-1.0) ** j * a[0, j] * det_loop(minor)
    return total


def det_concat(a):
    """The minor by np.concatenate of slices, a closed-form 2x2 base case."""
    n = a.shape[0]
    if n == 1:
        return a[0, 0]
    if n == 2:
        return a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
    total = 0.0
    for j in range(n):
        minor = np.concatenate((a[1:, :j], a[1:, j + 1:]), axis=1)
        total += (-1.0) ** j * a[0, j] * det_concat(minor)
    return total


def det_len(a):
    """len() and nested indexing a[0][j]."""
    if len(a) == 1:
        return a[0][0]
    s = 0.0
    for j in range(len(a)):
        s = s + (-1) ** j * a[0][j] * det_len(np.delete(a[1:], j, axis=1))
    return s


def halving(x):
    s = np.sum(x)
    if s < 1.0:
        return s
    return halving(x * 0.5)  # data recursion


def gen_sum(x):
    n = x.shape[0]
    return sum(x[i] ** 2 for i in range(n))


def gen_max(x):
    return max(x[i] * x[i + 1] for i in range(len(x) - 1))


def gen_min(x):
    return min(np.sin(v) for v in x)


def np_sum_listcomp(x):
    return np.sum([x[i] * (i + 1) for i in range(x.shape[0])])


def np_array_listcomp(x):
    return np.sum(np.array([np.exp(x[i]) for i in range(len(x))]))


def rows_listcomp(X):
    rows = [np.dot(X[i], X[i]) for i in range(X.shape[0])]
    return np.sum(np.array(rows))


def gen_nested(X):
    return sum(X[i, j] * X[j, i] for i in range(X.shape[0]) for j in range(X.shape[1]))


def listcomp_nested(X):
    return np.sum(np.array([[X[i, j] ** 2 for j in range(X.shape[1])] for i in range(X.shape[0])]))


def gen_zip(x, y):
    return sum(a * b for a, b in zip(x, y))


def gen_enumerate(x):
    return sum(i * v for i, v in enumerate(x))


def gen_rows(X):
    return sum(np.sum(r ** 2) for r in X)


def gmm_like(x):
    """A mixture log-likelihood with per-point lists and a log-sum-exp over a comprehension."""
    n, d = x.shape
    means = np.array([[0.0, 1.0], [1.0, -1.0], [0.5, 0.5]])
    total = 0.0
    for i in range(n):
        lse = [-0.5 * np.sum((x[i] - means[j]) ** 2) for j in range(means.shape[0])]
        m = max(lse)
        total += m + math.log(sum(math.exp(v - m) for v in lse))
    return total


def gen_of_data_length(x, n):
    return max(x[i] ** 2 for i in range(int(n)))  # length from data


def sum_of_data_length(x, n):
    """sum over a range known at run time only: a counted loop."""
    return sum(x[i] ** 2 * i for i in range(1, n)) + sum([np.sin(x[i]) for i in range(n)], 0.5) \
        + np.sum([x[i] * x[0] for i in range(n)])


def listcomp_of_data_length(x):
    return np.sum(np.array([x[i] for i in range(int(x[0]))]))  # length from data


def sum_positive(x):
    """A data condition in a summed generator: the kept items' sum."""
    return sum(v * v for v in x if v > 0) + np.sum([x[i] for i in range(len(x)) if x[i] < 0.5 if i > 0])


def sum_nested_conditions(X):
    return sum(X[i, j] for i in range(X.shape[0]) if X[i, 0] > 0 for j in range(X.shape[1]) if X[i, j] < 1.0)


def containers_of_generators(x):
    ys = list(v * 2.0 for v in x)
    zs = tuple(np.sin(v) for v in x)
    flag = 1.0 if any(v > 1.0 for v in x) else 0.0
    every = 2.0 if all(v > -5.0 for v in x) else 0.0
    return np.sum(np.array(ys)) + sum(zs) + flag + every + math.prod(x[i] for i in range(len(x)))


def max_of_data_condition(x):
    return max(v for v in x if v > 0)  # condition from data


def det_grad_inside(a):
    """A transformed det called inside traced code: its trace is specialised to a's shape."""
    return np.sum(coarsen.grad(det_gen)(a) * a) + coarsen.jvp(det_gen, (a,), (a,))[1]
