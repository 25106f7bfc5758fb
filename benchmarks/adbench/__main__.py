"""python -m benchmarks.adbench [--quick] [--only gmm,lstm,...] [--check]: the standard AD
benchmark programs (GradBench / ADBench) written as plain Python + NumPy, at the public
benchmarks' smallest input sizes, through the same harness and peers as `python -m benchmarks`
(coarsen grad and primal, JAX jit(grad), torch eager, torch.func.grad, HIPS autograd, and a
closed-form gradient where one is standard).

`--check` only tries to compile each program with coarsen (cpu target) and prints, per
program, either the first gradient's agreement with central differences or the error coarsen
gave: which programs compile as written.
"""
from __future__ import annotations

import sys
import traceback
import warnings

import numpy as np

from benchmarks.adbench import programs as P
from benchmarks.harness import Benchmark, Case, finite_difference_error, main


# ---------------------------------------------------------------------- closed-form gradients
def lse_grad(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def kmeans_grad(centers, points):
    d = np.sum((points[:, None, :] - centers[None, :, :]) ** 2, axis=2)
    nearest = np.argmin(d, axis=1)
    g = np.zeros_like(centers)
    np.add.at(g, nearest, 2.0 * (centers[nearest] - points))
    return g


def llsq_grad(x, n):
    t = np.linspace(-1.0, 1.0, n)
    powers = t[:, None] ** np.arange(x.shape[0])[None, :]
    r = np.sign(t) - powers @ x
    return -(powers.T @ r)


def det_grad(a):
    return np.linalg.det(a) * np.linalg.inv(a).T


# ---------------------------------------------------------------------- cases
def gmm_case(n, rng):
    d, k = 2, 5
    icf = rng.normal(scale=0.3, size=(k, d + d * (d - 1) // 2))
    args = (rng.normal(size=(k, d)), rng.normal(size=k), icf, rng.normal(size=(n, d)), 1.0, 0)
    return Case(n, f"d={d} k={k} n={n}", args)


def lstm_case(c, rng):
    layers, b = 2, 14
    args = (rng.normal(scale=0.5, size=(2 * layers, 4 * b)), rng.normal(scale=0.5, size=(3, b)),
            rng.normal(scale=0.5, size=(2 * layers, b)), rng.integers(0, 2, size=(c, b)).astype(float))
    return Case(c, f"l={layers} c={c}", args)


def ode_case(s, rng):
    return Case(s, f"n=1000 s={s}", (rng.uniform(size=1000), s))


def kmeans_case(n, rng):
    points = rng.uniform(size=(n, 8))
    return Case(n, f"k=10 n={n} d=8", (points[-10:].copy() + 0.01, points))


def llsq_case(n, rng):
    return Case(n, f"n={n} m=128", (rng.normal(size=128), n))


def lse_case(n, rng):
    return Case(n, f"n={n}", (rng.uniform(-100.0, 100.0, size=n),))


def det_case(ell, rng):
    return Case(ell, f"ell={ell}", (rng.normal(size=(ell, ell)),))


def particle_case(_, rng):
    return Case(0, "w=0", (0.0,))


def saddle_case(_, rng):
    return Case(0, "start=(1,1)", (np.array([1.0, 1.0]),))


def ba_case(obs, rng):
    cams_n, points_n = max(2, obs // 650), max(4, obs // 4)
    cams = np.concatenate([rng.normal(scale=0.1, size=(cams_n, 3)), rng.normal(size=(cams_n, 3)),
                           rng.uniform(1.0, 2.0, size=(cams_n, 1)), rng.normal(scale=0.1, size=(cams_n, 2)),
                           rng.normal(scale=1e-3, size=(cams_n, 2))], axis=1)
    points = rng.normal(size=(points_n, 3)) + np.array([0.0, 0.0, 10.0])
    args = (cams, points, rng.normal(size=(obs, 2)), rng.integers(0, cams_n, size=obs),
            rng.integers(0, points_n, size=obs))
    return Case(obs, f"cams={cams_n} points={points_n} obs={obs}", args)


_UNROLLS = "inductor unrolls the program's Python loops: minutes of compiling"


def _bench(name, title, program, make_case, sizes, quick, hand=None, **kw):
    limits = kw.pop("limits", {})
    if not name.endswith("_vec"):
        limits.setdefault("torch.compile", (-1, _UNROLLS))
    return Benchmark(name=name, title=title, program=program, hand_grad=hand, make_case=make_case,
                     sizes=sizes, quick_sizes=quick, limits=limits, **kw)


_SLOW = (0, "traces one operation per element; minutes at this size")
ALL = [
    _bench("gmm", "GMM (loops)", P.gmm_objective, gmm_case, (1000,), (100,),
           limits={"autograd": (100, _SLOW[1]), "torch eager": (100, _SLOW[1]),
                   "torch.func.grad": (100, _SLOW[1]), "jax jit(grad)": (100, _SLOW[1])}),
    _bench("gmm_vec", "GMM (vectorised)", P.gmm_objective_vectorised, gmm_case, (1000,), (100,)),
    _bench("lstm", "LSTM", P.lstm_objective, lstm_case, (1024,), (64,),
           immutable_program=P.lstm_objective_functional,
           limits={"jax jit(grad)": (64, "jit unrolls 1023 steps x 2 layers: XLA compiled for "
                                         "over 20 minutes (5.8 GB) and was stopped")}),
    _bench("ode", "ODE (loops)", P.ode_final, ode_case, (1, 10), (1,),
           limits={"autograd": (1, _SLOW[1]), "torch eager": (1, _SLOW[1]),
                   "torch.func.grad": (1, _SLOW[1]), "jax jit(grad)": (1, _SLOW[1])}),
    _bench("ode_vec", "ODE (vectorised)", P.ode_final_vectorised, ode_case, (1, 10), (1,)),
    _bench("kmeans", "k-means (loops)", P.kmeans_cost, kmeans_case, (1000,), (100,), hand=kmeans_grad,
           limits={"autograd": (100, _SLOW[1]), "torch eager": (100, _SLOW[1]),
                   "torch.func.grad": (100, _SLOW[1]), "jax jit(grad)": (100, _SLOW[1])}),
    _bench("kmeans_vec", "k-means (vectorised)", P.kmeans_cost_vectorised, kmeans_case, (1000,), (100,),
           hand=kmeans_grad),
    _bench("llsq", "least squares (loops)", P.llsq, llsq_case, (16,), (16,), hand=llsq_grad),
    _bench("llsq_vec", "least squares (vectorised)", P.llsq_vectorised, llsq_case, (16, 1024), (16,),
           hand=llsq_grad),
    _bench("lse", "log-sum-exp (loops)", P.logsumexp, lse_case, (2500,), (2500,), hand=lse_grad,
           limits={"jax jit(grad)": (0, _SLOW[1]), "autograd": (0, _SLOW[1])}),
    _bench("lse_vec", "log-sum-exp (vectorised)", P.logsumexp_vectorised, lse_case, (2500,), (2500,),
           hand=lse_grad),
    _bench("det", "determinant by minors", P.det_by_minors, det_case, (5, 7), (5,), hand=det_grad),
    _bench("particle", "particle (nested AD)", P.particle_miss, particle_case, (0,), (0,)),
    _bench("saddle", "saddle (nested AD)", P.saddle_inner_max, saddle_case, (0,), (0,)),
    _bench("ba", "bundle adjustment", P.reprojection_error, ba_case, (1000, 31843), (1000,),
           limits={"autograd": (1000, _SLOW[1]), "torch eager": (1000, _SLOW[1]),
                   "torch.func.grad": (1000, _SLOW[1]), "jax jit(grad)": (1000, _SLOW[1])}),
    _bench("ba_vec", "bundle adjustment (vectorised, index arrays)", P.reprojection_error_vectorised,
           ba_case, (1000, 31843), (1000,)),
]
# Not ported: hand tracking (GradBench ht) needs the hand model's mesh and skinning data files.


def check(benches, quick: bool) -> int:
    """Compile each program with coarsen (cpu) at its smallest size; print what happened."""
    import coarsen
    ok = 0
    for b in benches:
        size = (b.quick_sizes if quick else b.sizes)[0]
        case = b.make_case(size, np.random.default_rng(0))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                g = coarsen.grad(b.program, argnums=case.argnum)(*case.args)
            err = finite_difference_error(b, case, g)
            fallback = [str(w.message).splitlines()[0] for w in caught if "coarsen" in str(w.message)]
            print(f"{b.name:12s} compiles; rel err vs central differences {err:.1e}"
                  + (f"; warned: {fallback[0][:120]}" if fallback else ""))
            ok += 1
        except Exception as exc:   # reported, not fatal: the point is to list what is refused
            first = str(exc).splitlines()[0] if str(exc) else ""
            print(f"{b.name:12s} REFUSED  {type(exc).__name__}: {first[:160]}")
            if "-v" in sys.argv:
                traceback.print_exc()
    print(f"\n{ok} of {len(benches)} programs compile as written")
    return ok


if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--check" in argv:
        only = next((a.split("=", 1)[1] for a in argv if a.startswith("--only=")), "")
        chosen = [b for b in ALL if not only or b.name in only.split(",")]
        check(chosen, "--quick" in argv)
    else:
        main(ALL, default_name="adbench")
