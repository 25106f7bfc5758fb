"""Locals read before the line that binds them (issue #13): an earlier loop iteration's value
(the loop carries the name), or Python's UnboundLocalError where the read runs, never the
module's global of the same name. Used by test_read_before_bind.py."""
import numpy as np

G = 100.0

def arr_prev(x):               # an array from the previous iteration
    s = 0.0
    for i in range(4):
        v = x * (i + 1.0)
        if i > 0:
            s = s + np.sum(v * prev)
        prev = np.sin(v)
    return s

def int_prev(x, n):            # an int from the previous iteration
    s = 0.0
    for i in range(n):
        if i > 1:
            s = s + x * (last // 2)
        last = i * 3
    return s

def nested(x, n):              # read in the inner loop, bound in the outer loop further down
    s = 0.0
    for i in range(n):
        for j in range(3):
            if i > 0:
                s = s + prev * j
        prev = x * (i + 1.0)
    return s

def nested_inner(x, n):        # bound in the inner loop, read at the inner's next outer pass
    s = 0.0
    for i in range(n):
        for j in range(3):
            if i > 0 and j == 0:
                s = s + prev
            prev = x * (i + j + 1.0)
    return s

def while_cond(x):             # the condition reads a name only the body binds: Python raises
    k = 0
    while last < 5.0:
        last = x + k
        k += 1
    return last

def global_shadow(x):          # a local of the global's name, read before bound: UnboundLocalError
    z = x + G
    G = 2.0
    return z

def global_shadow_branch(x):   # ... only where the read runs
    if x > 0:
        return x * 2
    z = x + G
    G = 2.0
    return z

def nested_fn(x):              # a nested function's own local read before bound
    y = x
    def g():
        z = y * 2
        y = 3.0
        return z
    return g()

def nested_fn_ok(x):
    y = x
    def g(t):
        return y * t
    return g(2.0)

def break_prev(x, n):
    s = 0.0
    for i in range(n):
        if i > 0:
            s = s + prev
            if s > 10:
                break
        prev = x * i
    return s

def two_names(x):
    s = 0.0
    for i in range(5):
        if i > 1:
            s = s + a * b
        a = x + i
        b = np.cos(x * i)
    return s

def callee_shadow(x):            # an inlined callee's own locals follow the same rule
    return helper(x, 3)


def helper(x, n):
    s = 0.0
    for i in range(n):
        if i:
            s = s + G * x
        G = float(i)
    return s


def read_in_else(x, n):          # bound on one side, read on the other in a later pass
    s = 0.0
    for i in range(n):
        if i % 2 == 0:
            m = x * i
        else:
            s = s + m * m
    return s


def many(x):                     # thirteen names of five kinds read early (int, bool, array, ...)
    s = 0.0
    for i in range(6):
        if i > 0:
            s = s + a0 + a1 * a2 + a3 - a4 + a5 * a6 + a7 + a8 + a9 + a10 + a11[0] + a12
        a0 = x * i; a1 = x + i; a2 = np.sin(x); a3 = i; a4 = x * x; a5 = 2 * x; a6 = x - i
        a7 = i // 2; a8 = x; a9 = 1.0; a10 = x > 0.5; a11 = np.ones(2) * x; a12 = float(i)
    return s


CASES = [(arr_prev, (np.array([0.3, -0.2, 0.5]),)), (int_prev, (0.7, 6)), (int_prev, (0.7, 1)),
         (nested, (0.4, 3)), (nested, (0.4, 0)), (nested_inner, (0.4, 3)), (while_cond, (0.5,)),
         (global_shadow, (0.5,)), (global_shadow_branch, (0.5,)), (global_shadow_branch, (-0.5,)),
         (nested_fn, (0.5,)), (nested_fn_ok, (0.5,)), (break_prev, (0.9, 40)), (break_prev, (0.9, 3)),
         (two_names, (0.3,)), (callee_shadow, (0.6,)), (read_in_else, (0.7, 5)), (read_in_else, (0.7, 0)),
         (many, (0.7,)), (many, (0.2,))]

