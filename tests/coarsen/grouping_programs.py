"""Programs whose floating-point result depends on how the program groups its arithmetic
(compensated sums, rounding tricks, overflow on the way) and on int -> float conversions
(test_never_wrong_grouping.py): compiled code must compute what plain NumPy computes."""
import numpy as np


def kahan_sum(xs):
    s = 0.0
    c = 0.0
    for i in range(xs.shape[0]):
        y = xs[i] - c
        t = s + y
        c = (t - s) - y
        s = t
    return s


def two_sum_error(a, b):
    s = a + b
    bb = s - a
    return (a - (s - bb)) + (b - bb)


def grouped_sum(a, b, c):
    return a + (b - c)


def grouped_product(a, b, c):
    return a * (b * c)


def round_to_integer(x):
    return (x + 6755399441055744.0) - 6755399441055744.0


def overflow_on_the_way(x):
    return x * 1e200 * 1e200 * 1e-300


def veltkamp_low_part(x):
    h = x * 134217729.0
    hi = h - (h - x)
    return x - hi


def scaled_sum(x):
    return 2.0 * (x + 1e308)


def sqrt_of_scaled(x):
    return np.sqrt(x * 4.0)


def array_compensation(x, y):
    s = x + y
    return np.sum((x - (s - (s - x))) + (y - (s - x)))


def int_times_one(i):
    return i * 1.0


def astype_then_square(i):
    x = i.astype(float)
    return np.sum(x * x)


def float_of_int_squared(n):
    return (n * 1.0) ** 2


def float_int_int(x, n, m):
    return (x * n) * m


def written_after_conversion(i):
    y = i * 1.0
    for k in range(y.shape[0]):
        y[k] = y[k] / 4
    return y


XS = np.array([1.0] + [1e-16] * 50)
BIG = 2 ** 40
PROGRAMS = [   # (function, arguments)
    (kahan_sum, (XS,)),
    (two_sum_error, (1.0, 1e-17)),
    (grouped_sum, (1.0, 1e16, 1e16)),
    (grouped_product, (1e-300, 1e300, 1e300)),
    (round_to_integer, (2.3,)),
    (overflow_on_the_way, (1.0,)),
    (veltkamp_low_part, (0.1,)),
    (scaled_sum, (1e308,)),
    (sqrt_of_scaled, (1e308,)),
    (array_compensation, (np.array([1.0, 1e16, -3.5]), np.array([1e-17, 1.0, 1e-300]))),
    (int_times_one, (np.array([1, 2, 3]),)),
    (astype_then_square, (np.array([BIG, 3]),)),
    (float_of_int_squared, (BIG,)),
    (float_int_int, (1.0, BIG, BIG)),
    (written_after_conversion, (np.array([1, 2, 3]),)),
]


def time_steps_then_branch(x, dt, n):
    t = 0.0
    for i in range(n):
        t = t + dt
    return 2.0 * x if t >= 1.0 else 3.0 * x


def absorbed_increments(x, n):
    s = 1e16
    for i in range(n):
        s = s + 1.0
    return (s - 1e16) * x


def affine_recurrence(x, n):
    s = 1.0 + 1e-15
    for i in range(n):
        s = s * 1.1 - 0.1
    return s * x


PROGRAMS += [
    (time_steps_then_branch, (1.5, 0.1, 10)),
    (absorbed_increments, (1.5, 10)),
    (affine_recurrence, (1.5, 300)),
]


def cumsum_of_ints(i):
    return np.cumsum(i)


def concatenated_ints(i):
    return np.concatenate([i, i])


def int_power_of_ints(i, j):
    return i ** j


def counts_times_one(x):
    return np.sum(x > 0, axis=1, keepdims=True) * 1.0


PROGRAMS += [
    (cumsum_of_ints, (np.array([3, -1, 2]),)),
    (concatenated_ints, (np.array([3, -1, 2]),)),
    (int_power_of_ints, (np.array([3, 2, 2]), np.array([30, 3, 2]))),
    (counts_times_one, (np.array([[1.0, 2.0, 3.0], [-1.0, 2.0, 3.0]]),)),
]
