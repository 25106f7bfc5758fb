"""What passing large outside arrays by reference costs (`coarsen.byref`), in one process.

    python -m benchmarks.globals_byref [--target cpu] [--repeats 2000]

Two programs that read module-level arrays over the 64 KiB content-check size (so they are
passed to compiled code by reference at each call, never baked in):
- `hmc`: the HMC logistic-regression potential of `benchmarks.hmc` (5000 records x 16
  features) with the data `X`, `y` read as globals, gradient w.r.t. the coefficients;
- `lookup`: a scalar program reading one element of a 100 000-element table (the worst case:
  the call does almost nothing, so the binding's per-call overhead is all there is).
Each is timed three ways in the same process: the data passed as arguments (what the
benchmarks do), the globals by reference (now), and the globals baked into the machine code
as constants (before: in-place edits of such arrays went unnoticed), by switching
`deps.Reads.constant` off for that build. Prints the fastest of 15 interleaved rounds per
variant (seconds per call) and the ratios.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import coarsen
from coarsen import cache, deps

RNG = np.random.default_rng(0)
X = RNG.standard_normal((5000, 16))
Y = (RNG.random(5000) < 0.5).astype(np.float64)
TABLE = np.linspace(0.0, 1.0, 100_000)


def potential_args(beta, X, y):
    z = X @ beta
    return np.sum(np.log1p(np.exp(z)) - y * z) + 0.5 * np.sum(beta * beta) / 10.0


def potential_globals(beta):
    z = X @ beta
    return np.sum(np.log1p(np.exp(z)) - Y * z) + 0.5 * np.sum(beta * beta) / 10.0


def lookup_args(x, table):
    return x * table[3] + x * x


def lookup_globals(x):
    return x * TABLE[3] + x * x


def _time(calls: list, repeats: int, rounds: int = 15) -> list[float]:
    """The fastest round of `repeats` calls of each, rounds interleaved (so that a loaded
    machine slows every variant alike; the minimum is the least disturbed round)."""
    for call in calls:
        call()
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for k, call in enumerate(calls):
            t0 = time.perf_counter()
            for _ in range(repeats):
                call()
            best[k] = min(best[k], (time.perf_counter() - t0) / repeats)
    return best


def _baked(fn, target):
    """fn's gradient with large globals baked in as constants (the behaviour before byref)."""
    saved = deps.Reads.constant, cache.load, cache.store
    deps.Reads.constant = lambda self, copy, obj: None
    cache.load = cache.store = lambda *args: None   # neither the by-reference entry nor this one
    try:
        g = coarsen.grad(fn, target=target)
        g(*_ARGS[fn.__name__])   # built (and its guard made) while byref is off
        return g
    finally:
        deps.Reads.constant, cache.load, cache.store = saved


_ARGS = {"potential_globals": (0.3 * RNG.standard_normal(16),), "lookup_globals": (0.7,)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--repeats", type=int, default=2000)
    opts = parser.parse_args()
    import os
    os.environ.setdefault("COARSEN_TIERED", "0")   # time machine code, not the NumPy tier
    beta = _ARGS["potential_globals"][0]
    cases = [("hmc", potential_args, (beta, X, Y), potential_globals, (beta,), max(1, opts.repeats // 20)),
             ("lookup", lookup_args, (0.7, TABLE), lookup_globals, (0.7,), opts.repeats)]
    print(f"target {opts.target}; seconds per call (fastest of 15 interleaved rounds)")
    print(f"{'program':8} {'arguments':>11} {'by reference':>13} {'baked':>11} {'byref/baked':>12} {'byref/args':>11}")
    for name, f_args, args, f_glob, gargs, repeats in cases:
        ga = coarsen.grad(f_args, target=opts.target)
        gr = coarsen.grad(f_glob, target=opts.target)
        gb = _baked(f_glob, opts.target)
        np.testing.assert_allclose(gr(*gargs), gb(*gargs), rtol=1e-12)
        ta, tr, tb = _time([lambda: ga(*args), lambda: gr(*gargs), lambda: gb(*gargs)], repeats)
        print(f"{name:8} {ta:11.3e} {tr:13.3e} {tb:11.3e} {tr / tb:12.2f} {tr / ta:11.2f}")


if __name__ == "__main__":
    main()
