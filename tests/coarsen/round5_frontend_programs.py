"""Programs for test_never_wrong_round5_frontend.py (red team round 5)."""
import numpy as np


def swap_rows(X):                 # NumPy: [[3, 4, 5], [3, 4, 5]], not a swap
    Y = X.copy()
    Y[0], Y[1] = Y[1], Y[0]
    return Y


def swap_slices(y):               # NumPy: [3, 4, 3, 4]
    z = y.copy()
    z[:2], z[2:] = z[2:], z[:2]
    return z


def swap_columns(X):
    Y = X.copy()
    Y[:, 0], Y[:, 1] = Y[:, 1], Y[:, 0]
    return Y


def swap_rows_copied(X):          # a real swap
    Y = X.copy()
    Y[0], Y[1] = Y[1].copy(), Y[0].copy()
    return Y


def swap_elements(x):             # scalars are copies in NumPy too: a real swap
    y = x.copy()
    y[0], y[2] = y[2], y[0]
    return y * np.arange(1.0, 4.0)


def rows_from_other_rows(X):      # the rows written are not the rows read later
    Y = X.copy()
    Y[0], Y[1] = Y[2], Y[3]
    return Y


def swap_names(X):
    a, b = X[0], X[1]
    a, b = b, a
    return a * 2.0 + b


def floordiv(a, b):
    return a // b


def remainder(a, b):
    return a % b


def branch_on_flag(flag, x):
    if flag:
        return x * 2.0
    return x + 2.0


def count_down(n, x):             # a 0-d int array is an int: range, //, exact products
    s = 0.0
    for i in range(n):
        s = s + x * (n // 2)
    return s


def swap_with_identity_product(X):   # Y[0] * 1.0 is a new array in NumPy: a real swap
    Y = X.copy()
    Y[0], Y[1] = Y[1], Y[0] * 1.0
    return Y


def identity_product_then_write(X):  # a = Y[0] * 1.0 keeps the old row after Y[0] = ...
    Y = X.copy()
    a = Y[0] * 1.0
    Y[0] = Y[1] * 2.0
    return np.sum(Y * Y) + np.sum(a * X[1])


def identity_quotient_in_loop(X):
    Y = X.copy()
    s = 0.0
    for i in range(3):
        a = Y[0] / 1.0
        Y[0] = Y[0] * 0.5 + Y[1]
        s = s + np.sum(a * a)
    return s


BIG = 2 ** 60 + 1


def joined_ints(i, j):            # int64 beyond 2**53: NumPy joins them exactly, as int64
    return (np.concatenate([i, j]), np.stack([i, j]), np.hstack([i, j]), np.vstack([i, j]),
            np.take(i, [0, 2]), np.atleast_1d(i[0]), np.stack([i[0], i[1]]))


def joined_bools(b, c):
    return np.concatenate([b, c]), np.stack([b, c]), b[::-1]


def joined_mixed(i, b, x):
    return np.concatenate([i, b]), np.concatenate([x, i])


def running_sums(x, X):
    return np.cumsum(x), np.cumsum(X, axis=1), np.cumsum(X, axis=0)
