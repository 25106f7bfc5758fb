"""Brachistochrone: the travel time of a bead sliding down a polyline under gravity,
differentiated w.r.t. the heights of its interior points (200/400/1000 points).

Segment i runs from (i dx, y_{i-1}) to ((i+1) dx, y_i), with the fixed ends y_{-1} = height and
y_n = 0 chosen by branches; its time is 2 |segment| / (v_a + v_b), v = sqrt(v0^2 + 2 g drop).
JAX runs `travel_time_vectorised` (the same sums as array operations): jit of the unrolled
loop compiles for minutes beyond 200 points.
"""
from __future__ import annotations

import numba
import numpy as np

from benchmarks.harness import Benchmark, Case, main


def travel_time(y, width, height, v0, g):
    n = y.shape[0]
    dx = width / (n + 1)
    total = 0.0
    for i in range(n + 1):
        if i == 0:
            ya = height
        else:
            ya = y[i - 1]
        if i == n:
            yb = 0.0
        else:
            yb = y[i]
        ds = np.sqrt(dx * dx + (yb - ya) * (yb - ya))
        va = np.sqrt(v0 * v0 + 2.0 * g * (height - ya))
        vb = np.sqrt(v0 * v0 + 2.0 * g * (height - yb))
        total = total + 2.0 * ds / (va + vb)
    return total


def travel_time_vectorised(y, width, height, v0, g):
    # For JAX only: jit of the unrolled loop compiles for minutes beyond 200 points.
    n = y.shape[0]
    dx = width / (n + 1)
    ya = np.concatenate([np.array([height]), y])
    yb = np.concatenate([y, np.array([0.0])])
    ds = np.sqrt(dx * dx + (yb - ya) * (yb - ya))
    va = np.sqrt(v0 * v0 + 2.0 * g * (height - ya))
    vb = np.sqrt(v0 * v0 + 2.0 * g * (height - yb))
    return np.sum(2.0 * ds / (va + vb))


@numba.njit(cache=False)
def hand_grad(y, width, height, v0, g):
    n = y.shape[0]
    dx = width / (n + 1)
    out = np.zeros(n)
    for i in range(n + 1):
        ya = height if i == 0 else y[i - 1]
        yb = 0.0 if i == n else y[i]
        dy = yb - ya
        ds = np.sqrt(dx * dx + dy * dy)
        va = np.sqrt(v0 * v0 + 2.0 * g * (height - ya))
        vb = np.sqrt(v0 * v0 + 2.0 * g * (height - yb))
        s = va + vb
        t_ds = 2.0 / s
        t_s = -2.0 * ds / (s * s)
        if i > 0:
            out[i - 1] += -t_ds * dy / ds - t_s * g / va
        if i < n:
            out[i] += t_ds * dy / ds - t_s * g / vb
    return out


def make_case(n: int, rng: np.random.Generator) -> Case:
    x = np.linspace(0.0, 1.0, n + 2)[1:-1]
    y = (1.0 - x) ** 2 + 0.01 * rng.standard_normal(n)   # near the cycloid-like optimum
    return Case(n, f"points={n}", (y, 1.0, 1.0, 0.1, 9.81))


BENCHMARK = Benchmark(
    name="brachistochrone", title="Brachistochrone",
    program=travel_time, hand_grad=hand_grad, make_case=make_case,
    sizes=(200, 400, 1000), quick_sizes=(200,), jax_program=travel_time_vectorised,
    limits={"torch.compile": (0, "inductor compiles the unrolled loop for over 15 min at 200 points (measured)")},
)

if __name__ == "__main__":
    main([BENCHMARK], default_name="brachistochrone")
