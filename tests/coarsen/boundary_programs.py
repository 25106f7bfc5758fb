"""Programs for tests/coarsen/test_boundary.py (module-level: coarsen reads their source)."""
import numpy as np


def double(x):
    return x * 2.0


def pair(x, y):
    return x * y, np.sum(x) + y


def square_plus(x):
    return x[0] * x[0] + x[1]


def cube_of(x, k):
    return x * float(k * k * k)
