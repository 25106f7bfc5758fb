"""RK4: fitting a Lotka-Volterra ODE by classic 4th-order Runge-Kutta; the squared error of the
integrated trajectory against observations, differentiated w.r.t. the 4 rate parameters
(50/200/1000 steps). The trajectory is written element by element into an np.zeros array, and
the right-hand side is a helper function returning a tuple (coarsen inlines it).

JAX runs `trajectory_error_scan`, the same steps under `lax.scan`: jit of the unrolled loop
compiles for minutes.
"""
from __future__ import annotations

import numba
import numpy as np

from benchmarks.harness import Benchmark, Case, main


def lotka_volterra(u, v, p):
    return p[0] * u - p[1] * u * v, p[2] * u * v - p[3] * v


def trajectory_error(p, obs, dt):
    steps = obs.shape[0] - 1
    traj = np.zeros((steps + 1, 2))
    u = obs[0, 0]
    v = obs[0, 1]
    traj[0, 0] = u
    traj[0, 1] = v
    for t in range(steps):
        k1u, k1v = lotka_volterra(u, v, p)
        k2u, k2v = lotka_volterra(u + 0.5 * dt * k1u, v + 0.5 * dt * k1v, p)
        k3u, k3v = lotka_volterra(u + 0.5 * dt * k2u, v + 0.5 * dt * k2v, p)
        k4u, k4v = lotka_volterra(u + dt * k3u, v + dt * k3v, p)
        u = u + dt / 6.0 * (k1u + 2.0 * k2u + 2.0 * k3u + k4u)
        v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        traj[t + 1, 0] = u
        traj[t + 1, 1] = v
    r = traj - obs
    return np.sum(r * r)


def trajectory_error_scan(p, obs, dt):
    # For JAX only: the same steps under lax.scan. jit of the unrolled Python loop compiles
    # for minutes (measured here: 28 s for 5 steps, 73 s for 10).
    from jax import lax

    def step(state, target):
        u, v = state
        k1u, k1v = lotka_volterra(u, v, p)
        k2u, k2v = lotka_volterra(u + 0.5 * dt * k1u, v + 0.5 * dt * k1v, p)
        k3u, k3v = lotka_volterra(u + 0.5 * dt * k2u, v + 0.5 * dt * k2v, p)
        k4u, k4v = lotka_volterra(u + dt * k3u, v + dt * k3v, p)
        u = u + dt / 6.0 * (k1u + 2.0 * k2u + 2.0 * k3u + k4u)
        v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        return (u, v), (u - target[0]) ** 2 + (v - target[1]) ** 2
    _, errors = lax.scan(step, (obs[0, 0], obs[0, 1]), obs[1:])
    return np.sum(errors)


@numba.njit(cache=False)
def _rhs(u, v, du, dv, p, fu_t, fv_t):
    # value and tangents (w.r.t. p, 4 directions) of the Lotka-Volterra right-hand side
    for k in range(4):
        fu_t[k] = p[0] * du[k] - p[1] * (du[k] * v + u * dv[k])
        fv_t[k] = p[2] * (du[k] * v + u * dv[k]) - p[3] * dv[k]
    fu_t[0] += u
    fu_t[1] -= u * v
    fv_t[2] += u * v
    fv_t[3] -= v
    return p[0] * u - p[1] * u * v, p[2] * u * v - p[3] * v


@numba.njit(cache=False)
def hand_grad(p, obs, dt):
    # Forward mode: 4 parameters, so 4 tangents ride along with (u, v).
    steps = obs.shape[0] - 1
    u, v = obs[0, 0], obs[0, 1]
    du, dv = np.zeros(4), np.zeros(4)
    k1u_t, k1v_t, k2u_t, k2v_t = np.zeros(4), np.zeros(4), np.zeros(4), np.zeros(4)
    k3u_t, k3v_t, k4u_t, k4v_t = np.zeros(4), np.zeros(4), np.zeros(4), np.zeros(4)
    su, sv = np.zeros(4), np.zeros(4)
    g = np.zeros(4)
    h = 0.5 * dt
    for t in range(steps):
        k1u, k1v = _rhs(u, v, du, dv, p, k1u_t, k1v_t)
        for k in range(4):
            su[k] = du[k] + h * k1u_t[k]
            sv[k] = dv[k] + h * k1v_t[k]
        k2u, k2v = _rhs(u + h * k1u, v + h * k1v, su, sv, p, k2u_t, k2v_t)
        for k in range(4):
            su[k] = du[k] + h * k2u_t[k]
            sv[k] = dv[k] + h * k2v_t[k]
        k3u, k3v = _rhs(u + h * k2u, v + h * k2v, su, sv, p, k3u_t, k3v_t)
        for k in range(4):
            su[k] = du[k] + dt * k3u_t[k]
            sv[k] = dv[k] + dt * k3v_t[k]
        k4u, k4v = _rhs(u + dt * k3u, v + dt * k3v, su, sv, p, k4u_t, k4v_t)
        u = u + dt / 6.0 * (k1u + 2.0 * k2u + 2.0 * k3u + k4u)
        v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        ru = 2.0 * (u - obs[t + 1, 0])
        rv = 2.0 * (v - obs[t + 1, 1])
        for k in range(4):
            du[k] += dt / 6.0 * (k1u_t[k] + 2.0 * k2u_t[k] + 2.0 * k3u_t[k] + k4u_t[k])
            dv[k] += dt / 6.0 * (k1v_t[k] + 2.0 * k2v_t[k] + 2.0 * k3v_t[k] + k4v_t[k])
            g[k] += ru * du[k] + rv * dv[k]
    return g


def make_case(steps: int, rng: np.random.Generator) -> Case:
    dt = 10.0 / steps
    t = np.arange(steps + 1) * dt
    obs = np.stack([1.0 + 0.5 * np.sin(t), 1.0 + 0.5 * np.cos(t)], axis=1) + 0.05 * rng.standard_normal((steps + 1, 2))
    return Case(steps, f"steps={steps}", (np.array([1.0, 0.6, 0.4, 0.8]), obs, dt))


BENCHMARK = Benchmark(
    name="rk4", title="RK4 ODE",
    program=trajectory_error, hand_grad=hand_grad, make_case=make_case,
    sizes=(50, 200, 1000), quick_sizes=(50,), jax_program=trajectory_error_scan,
    limits={"torch.compile": (0, "inductor compiles the unrolled loop for minutes")},
)

if __name__ == "__main__":
    main([BENCHMARK], default_name="rk4")
