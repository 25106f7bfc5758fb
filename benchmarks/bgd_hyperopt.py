"""BGDHyperOpt: the gradient of the final loss of T steps of batch gradient descent on linear
regression w.r.t. the learning rate (200/1000/2000 records, 20 features, T = 100 steps).

A matmul-bound loop: every step multiplies by X and X^T. The hand-written Numba gradient uses
the coarsening paper's algebra: X^T X and X^T y are loop-invariant, so they are computed once
and each step is a 20x20 matrix-vector product (forward-mode tangent w.r.t. the scalar rate).
"""
from __future__ import annotations

import numba
import numpy as np

from benchmarks.harness import Benchmark, Case, main

STEPS = 100


def bgd_final_loss(lr, X, y, steps):
    n = X.shape[0]
    w = np.zeros(X.shape[1])
    for t in range(steps):
        r = X @ w - y
        w = w - lr * (X.T @ r) / n
    r = X @ w - y
    return 0.5 * np.sum(r * r) / n


@numba.njit(cache=False)
def hand_grad(lr, X, y, steps):
    n, d = X.shape
    Xt = np.ascontiguousarray(X.T)
    A = np.dot(Xt, X) / n          # hoisted out of the loop: the paper's closed form
    b = np.dot(Xt, y) / n
    w = np.zeros(d)
    dw = np.zeros(d)               # d w / d lr
    for t in range(steps):
        gw = np.dot(A, w) - b
        dgw = np.dot(A, dw)
        dw = dw - gw - lr * dgw
        w = w - lr * gw
    r = np.dot(X, w) - y
    return np.dot(r, np.dot(X, dw)) / n


def make_case(records: int, rng: np.random.Generator) -> Case:
    X = rng.standard_normal((records, 20))
    y = X @ rng.standard_normal(20) + 0.1 * rng.standard_normal(records)
    return Case(records, f"records={records}", (0.05, X, y, STEPS))


BENCHMARK = Benchmark(
    name="bgd_hyperopt", title="BGDHyperOpt",
    program=bgd_final_loss, hand_grad=hand_grad, make_case=make_case,
    sizes=(200, 1000, 2000), quick_sizes=(200,),
    limits={"torch.compile": (200, "inductor compile of the 100 unrolled steps: minutes per size")},
)

if __name__ == "__main__":
    main([BENCHMARK], default_name="bgd_hyperopt")
