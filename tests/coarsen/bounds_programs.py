"""Programs that index with integers given at run time (tests/coarsen/test_bounds.py).
The line of each indexing expression is named in the expected IndexError (LINES)."""
import numpy as np

TABLE = np.array([1.0, 2.0, 3.0])


def read(x, i):
    return x[i] * 2.0 + np.sum(x * x)  # READ


def write(v, i):
    y = np.zeros(3)
    y[i] = v  # WRITE
    return np.sum(y) * 2.0


def read2(m, i, j):
    return m[i, j] * m[i, j]  # READ2


def read_table(x, i):
    return TABLE[i] * x  # TABLE


def loops(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i]
    for i in range(1, len(x)):
        s = s + x[i] * x[i - 1]
    for i in range(3):
        s = s + TABLE[i] * s
    return s


def loop_past_end(x, n):
    s = 0.0
    for i in range(n):
        s = s + x[i] * x[i]  # PAST_END
    return s


def _lines():
    import inspect
    lines = {}
    source, _ = inspect.getsourcelines(inspect.getmodule(_lines))
    for k, text in enumerate(source):
        if "  # " in text and text.rstrip().split("  # ")[-1].isupper():
            lines[text.rstrip().split("  # ")[-1]] = k + 1   # a module starts at line 1
    return lines


LINES = _lines()
