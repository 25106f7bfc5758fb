"""Programs that read a name bound on some paths only (one side of an `if`, a loop body):
plain Python returns a value where the name is bound and raises UnboundLocalError where it is
not (test_maybe_bound.py)."""
import numpy as np


def one_sided_if(x):
    if x > 0:
        y = x * 2
    return y


def one_sided_else(x):
    if x > 0:
        pass
    else:
        y = np.sin(x)
    return y * x


def last_of_range(x, n):
    for i in range(n):
        y = x * i + 1.0
    return y


def last_of_constant_range(x):
    for i in range(3):
        y = x * i
    return y * y


def loop_index_after(x, n):
    for i in range(n):
        x = x * 1.5
    return x * i


def last_row(X):
    for row in X:
        last = row * 2.0
    return np.sum(last ** 2)


def while_halving(x):
    while x > 1.0:
        x = x / 2.0
        z = x * x
    return z + x


def endless_with_break(x):
    while True:
        x = x / 2.0
        z = x
        if x < 1.0:
            break
    return z * 3.0


def break_before_bind(x, n):
    for i in range(n):
        if x * i > 2.0:
            break
        y = x * i
    return y


def bound_in_branch_of_loop(x, n):
    for i in range(n):
        if i % 2 == 0:
            y = x * i
    return y + x


def nested_loops(x, n):
    s = 0.0
    for i in range(n):
        for j in range(i):
            t = x * j
        s = s + t
    return s


def rebound_before_read(x):
    if x > 0:
        y = x
    y = x * 3.0
    return y


def read_only_where_bound(x):
    if x > 0:
        y = x * x
    if x > 0:
        return y
    return -x


PROGRAMS = [   # (function, float argument values, extra arguments)
    (one_sided_if, [1.5, -0.5], ()),
    (one_sided_else, [1.5, -0.5], ()),
    (last_of_range, [0.7], (3,)),
    (last_of_range, [0.7], (0,)),
    (last_of_constant_range, [0.7], ()),
    (loop_index_after, [0.7], (4,)),
    (loop_index_after, [0.7], (0,)),
    (last_row, [np.arange(6.0).reshape(3, 2) / 5], ()),
    (last_row, [np.zeros((0, 2))], ()),
    (while_halving, [5.0, 0.5], ()),
    (endless_with_break, [5.0, 0.5], ()),
    (break_before_bind, [0.3, 1.5], (4,)),
    (break_before_bind, [3.0], (4,)),
    (bound_in_branch_of_loop, [0.4], (1,)),
    (bound_in_branch_of_loop, [0.4], (4,)),
    (bound_in_branch_of_loop, [0.4], (0,)),
    (nested_loops, [0.4], (3,)),
    (nested_loops, [0.4], (1,)),
    (rebound_before_read, [1.0, -1.0], ()),
    (read_only_where_bound, [1.0, -1.0], ()),
]


def bound_in_inner_loop_read_by_outer(x, n):
    s = 0.0
    for t in range(3):
        for i in range(n):
            y = x * (i + t)
        s = s + t
    return s + y


def loop_name_reused_as_a_later_target(x, n):
    s = x
    for k in range(n, 0, -1):
        s = s - k * x
    for k in range(3):
        s = s * 1.5
    return s


PROGRAMS += [
    (bound_in_inner_loop_read_by_outer, [0.3], (2,)),
    (bound_in_inner_loop_read_by_outer, [0.3], (0,)),
    (loop_name_reused_as_a_later_target, [0.3], (2,)),
]
