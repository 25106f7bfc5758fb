"""HMC for Bayesian logistic regression: grad_U, the gradient of the potential energy (the
negative log posterior) w.r.t. the coefficients, as HMC's leapfrog calls it each step
(1000/5000/20000 records, 16 features, Gaussian prior).

    U(beta) = sum_i log(1 + e^{z_i}) - y_i z_i + |beta|^2 / (2 s^2),  z = X beta
"""
from __future__ import annotations

import numba
import numpy as np

from benchmarks.harness import Benchmark, Case, main


def potential(beta, X, y, prior_var):
    z = X @ beta
    return np.sum(np.log1p(np.exp(z)) - y * z) + 0.5 * np.sum(beta * beta) / prior_var


@numba.njit(cache=False)
def hand_grad(beta, X, y, prior_var):
    n, d = X.shape
    g = beta / prior_var
    for i in range(n):
        z = 0.0
        for j in range(d):
            z += X[i, j] * beta[j]
        s = 1.0 / (1.0 + np.exp(-z)) - y[i]
        for j in range(d):
            g[j] += s * X[i, j]
    return g


def make_case(records: int, rng: np.random.Generator) -> Case:
    X = rng.standard_normal((records, 16))
    truth = rng.standard_normal(16)
    y = (rng.random(records) < 1.0 / (1.0 + np.exp(-X @ truth))).astype(np.float64)
    return Case(records, f"records={records}", (0.3 * rng.standard_normal(16), X, y, 10.0))


BENCHMARK = Benchmark(
    name="hmc", title="HMC grad_U",
    program=potential, hand_grad=hand_grad, make_case=make_case,
    sizes=(1000, 5000, 20_000), quick_sizes=(1000,),
    limits={"torch.compile": (1000, "recompiles per shape: one size shows it")},
)

if __name__ == "__main__":
    main([BENCHMARK], default_name="hmc")
