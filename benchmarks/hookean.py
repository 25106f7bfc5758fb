"""HookeanSpring: the energy of a mass-spring system with a spring between every pair of
vertices, as scalar loops, differentiated w.r.t. the vertex positions (10/20/40 vertices).

    E(x) = sum_{i<j} k/2 (|x_i - x_j| - rest_ij)^2
"""
from __future__ import annotations

import numba
import numpy as np

from benchmarks.harness import Benchmark, Case, main


def spring_energy(x, rest, k):
    n = rest.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = x[2 * i] - x[2 * j]
            dy = x[2 * i + 1] - x[2 * j + 1]
            s = np.sqrt(dx * dx + dy * dy) - rest[i, j]
            e = e + 0.5 * k * s * s
    return e


@numba.njit(cache=False)
def hand_grad(x, rest, k):
    n = rest.shape[0]
    g = np.zeros(2 * n)
    for i in range(n):
        for j in range(i + 1, n):
            dx = x[2 * i] - x[2 * j]
            dy = x[2 * i + 1] - x[2 * j + 1]
            d = np.sqrt(dx * dx + dy * dy)
            c = k * (d - rest[i, j]) / d
            g[2 * i] += c * dx
            g[2 * i + 1] += c * dy
            g[2 * j] -= c * dx
            g[2 * j + 1] -= c * dy
    return g


def make_case(n: int, rng: np.random.Generator) -> Case:
    x = rng.uniform(0.0, 1.0, 2 * n)
    rest = rng.uniform(0.2, 0.6, (n, n))
    return Case(n, f"n={n}", (x, rest, 1.5))


BENCHMARK = Benchmark(
    name="hookean", title="HookeanSpring",
    program=spring_energy, hand_grad=hand_grad, make_case=make_case,
    sizes=(10, 20, 40), quick_sizes=(10,),
    limits={"torch.compile": (10, "inductor compile of the unrolled pairs loop: minutes beyond 10 vertices")},
)

if __name__ == "__main__":
    main([BENCHMARK], default_name="hookean")
