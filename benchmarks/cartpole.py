"""CartPole: the cost of a linear policy over 6/8/10 unrolled steps of the cart-pole dynamics
(Euler steps, the classic control equations), differentiated w.r.t. the policy's 4 weights.
Branches: the force saturates at +-10, and a pole angle beyond 0.2 rad costs ten times more.

JAX's jit cannot trace a Python `if` on a traced value; it runs `cartpole_cost_branch_free`
(np.clip and np.where in place of the two branches).
"""
from __future__ import annotations

import numba
import numpy as np

from benchmarks.harness import Benchmark, Case, main


def cartpole_cost(theta, state0, steps):
    x = state0[0]
    v = state0[1]
    a = state0[2]
    w = state0[3]
    cost = 0.0
    for t in range(steps):
        f = theta[0] * x + theta[1] * v + theta[2] * a + theta[3] * w
        if f > 10.0:
            f = 10.0
        elif f < -10.0:
            f = -10.0
        s = np.sin(a)
        c = np.cos(a)
        tmp = (f + 0.05 * w * w * s) / 1.1
        acc_a = (9.8 * s - c * tmp) / (0.5 * (4.0 / 3.0 - 0.1 * c * c / 1.1))
        acc_x = tmp - 0.05 * acc_a * c / 1.1
        x = x + 0.02 * v
        v = v + 0.02 * acc_x
        a = a + 0.02 * w
        w = w + 0.02 * acc_a
        if np.abs(a) > 0.2:
            cost = cost + 10.0 * a * a
        else:
            cost = cost + a * a
        cost = cost + 0.1 * x * x
    return cost


def cartpole_cost_branch_free(theta, state0, steps):
    x = state0[0]
    v = state0[1]
    a = state0[2]
    w = state0[3]
    cost = 0.0
    for t in range(steps):
        f = np.clip(theta[0] * x + theta[1] * v + theta[2] * a + theta[3] * w, -10.0, 10.0)
        s = np.sin(a)
        c = np.cos(a)
        tmp = (f + 0.05 * w * w * s) / 1.1
        acc_a = (9.8 * s - c * tmp) / (0.5 * (4.0 / 3.0 - 0.1 * c * c / 1.1))
        acc_x = tmp - 0.05 * acc_a * c / 1.1
        x = x + 0.02 * v
        v = v + 0.02 * acc_x
        a = a + 0.02 * w
        w = w + 0.02 * acc_a
        cost = cost + np.where(np.abs(a) > 0.2, 10.0, 1.0) * a * a + 0.1 * x * x
    return cost


@numba.njit(cache=False)
def hand_grad(theta, state0, steps):
    # Forward mode: the tangents of the state w.r.t. the 4 weights ride along (4 inputs).
    x, v, a, w = state0[0], state0[1], state0[2], state0[3]
    dx, dv, da, dw = np.zeros(4), np.zeros(4), np.zeros(4), np.zeros(4)
    dcost = np.zeros(4)
    df = np.zeros(4)
    for t in range(steps):
        f = theta[0] * x + theta[1] * v + theta[2] * a + theta[3] * w
        clipped = f > 10.0 or f < -10.0
        f = min(max(f, -10.0), 10.0)
        for k in range(4):
            df[k] = 0.0 if clipped else theta[0] * dx[k] + theta[1] * dv[k] + theta[2] * da[k] + theta[3] * dw[k]
        if not clipped:
            df[0] += x
            df[1] += v
            df[2] += a
            df[3] += w
        s = np.sin(a)
        c = np.cos(a)
        tmp = (f + 0.05 * w * w * s) / 1.1
        den = 0.5 * (4.0 / 3.0 - 0.1 * c * c / 1.1)
        num = 9.8 * s - c * tmp
        acc_a = num / den
        acc_x = tmp - 0.05 * acc_a * c / 1.1
        coef = 1.0
        a_new = a + 0.02 * w
        x_new = x + 0.02 * v
        if abs(a_new) > 0.2:
            coef = 10.0
        for k in range(4):
            ds = c * da[k]
            dc = -s * da[k]
            dtmp = (df[k] + 0.05 * (2.0 * w * dw[k] * s + w * w * ds)) / 1.1
            dden = -0.1 * c * dc / 1.1
            dacc_a = ((9.8 * ds - dc * tmp - c * dtmp) * den - num * dden) / (den * den)
            dacc_x = dtmp - 0.05 * (dacc_a * c + acc_a * dc) / 1.1
            dx_new = dx[k] + 0.02 * dv[k]
            da_new = da[k] + 0.02 * dw[k]
            dv[k] += 0.02 * dacc_x
            dw[k] += 0.02 * dacc_a
            dx[k] = dx_new
            da[k] = da_new
            dcost[k] += 2.0 * coef * a_new * da_new + 0.2 * x_new * dx_new
        x, a = x_new, a_new
        v = v + 0.02 * acc_x
        w = w + 0.02 * acc_a
    return dcost


def make_case(steps: int, rng: np.random.Generator) -> Case:
    theta = np.array([0.5, 1.0, 30.0, 4.0]) + 0.1 * rng.standard_normal(4)
    return Case(steps, f"steps={steps}", (theta, np.array([0.0, 0.1, 0.15, -0.3]), steps))


BENCHMARK = Benchmark(
    name="cartpole", title="CartPole",
    program=cartpole_cost, hand_grad=hand_grad, make_case=make_case,
    sizes=(6, 8, 10), quick_sizes=(6,), jax_program=cartpole_cost_branch_free,
    limits={"torch.compile": (6, "a graph break at every data-dependent `if`: minutes of compiling per size")},
)

if __name__ == "__main__":
    main([BENCHMARK], default_name="cartpole")
