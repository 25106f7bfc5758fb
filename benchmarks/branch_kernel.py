"""The nested-branch kernel over a vector of x, one element at a time (the coarsening
paper's phi-calculus example), differentiated w.r.t. theta = (p, q, z):

    d = p + q x_i;  a = sqrt(d) if d > 0 else (d^2 if d > -1 else 1 + log(-d))
    L = mean_i z a (1 + e^-d)

JAX's jit cannot trace a Python `if` on a traced value; it runs `branch_kernel_vectorised`,
the same maths with `where` (and the double-`where` that keeps untaken sqrt/log finite).
"""
from __future__ import annotations

import numba
import numpy as np

from benchmarks.harness import Benchmark, Case, main


def branch_kernel(theta, x):
    p = theta[0]
    q = theta[1]
    z = theta[2]
    total = 0.0
    for i in range(x.shape[0]):
        d = p + q * x[i]
        if d > 0.0:
            a = np.sqrt(d)
        else:
            if d > -1.0:
                a = d * d
            else:
                a = 1.0 + np.log(-d)
        total = total + z * a * (1.0 + np.exp(-d))
    return total / x.shape[0]


def branch_kernel_vectorised(theta, x):
    p = theta[0]
    q = theta[1]
    z = theta[2]
    d = p + q * x
    positive = d > 0.0
    middle = d > -1.0
    a = np.where(positive, np.sqrt(np.where(positive, d, 1.0)),
                 np.where(middle, d * d, 1.0 + np.log(-np.where(middle, -1.0, d))))
    return np.sum(z * a * (1.0 + np.exp(-d))) / x.shape[0]


@numba.njit(cache=False)
def hand_grad(theta, x):
    p, q, z = theta[0], theta[1], theta[2]
    gp = gq = gz = 0.0
    for i in range(x.shape[0]):
        d = p + q * x[i]
        if d > 0.0:
            a = np.sqrt(d)
            da = 0.5 / a
        elif d > -1.0:
            a = d * d
            da = 2.0 * d
        else:
            a = 1.0 + np.log(-d)
            da = 1.0 / d
        e = np.exp(-d)
        m = 1.0 + e
        dd = z * (da * m - a * e)
        gp += dd
        gq += dd * x[i]
        gz += a * m
    n = x.shape[0]
    out = np.empty(3)
    out[0] = gp / n
    out[1] = gq / n
    out[2] = gz / n
    return out


def make_case(n: int, rng: np.random.Generator) -> Case:
    return Case(n, f"n={n}", (np.array([0.1, 0.9, 1.3]), 2.0 * rng.standard_normal(n)))


_SLOW = (10_000, "op-by-op over every element: seconds per call beyond n=10000")
BENCHMARK = Benchmark(
    name="branch_kernel", title="Branch kernel",
    program=branch_kernel, hand_grad=hand_grad, make_case=make_case,
    sizes=(1000, 10_000, 100_000), quick_sizes=(1000,), jax_program=branch_kernel_vectorised,
    limits={"torch eager": _SLOW, "torch.func.grad": _SLOW, "autograd": _SLOW,
            "torch.compile": (0, "a data-dependent `if` on a tensor breaks the graph at every element")},
)

if __name__ == "__main__":
    main([BENCHMARK], default_name="branch_kernel")
