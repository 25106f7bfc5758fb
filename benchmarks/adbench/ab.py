"""python -m benchmarks.adbench.ab [--only gmm_vec,hmc,...] [--peers "jax jit(grad),torch eager"]

Issue #14's before/after table: coarsen's cpu-target gradient and primal *before* the #14 changes
(machine code always, `coarsen.autodiff.reverse.REUSE_OWN_VALUES = False`, `COARSEN_VEXP=0`,
`COARSEN_FUSE=0`)
and *after* them (`kernels.adaptive`'s tier choice, forward values read by segment derivatives,
`np.exp` of arrays as `kernels.numba_vecmath`'s vectorised loop), and the peers,
all in one process, interleaved, on the same load.

Times are the process's CPU time per call (`time.process_time`, min over rounds of samples of
~10 ms), not wall time: this 2-core machine is shared with other jobs (load average 6-12 while
these were taken), and a descheduled sample measures the other jobs. Peers run one thread each
(`benchmarks/__init__.py`), so their CPU time is their time. Each variant compiles into its own
cache directory. The programs are those of `python -m benchmarks.adbench` and
`python -m benchmarks` (hmc, branch_kernel) at the sizes the issue names.
"""
from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
import warnings

import numpy as np

CASES = [("gmm_vec", 1000), ("kmeans_vec", 1000), ("kmeans", 1000), ("ode", 10), ("ode_vec", 10),
         ("lstm", 1024), ("lse_vec", 2500), ("llsq_vec", 1024), ("hmc", 20000),
         ("branch_kernel", 100000), ("ba_vec", 1000)]


def _bench(name):
    from benchmarks.adbench.__main__ import ALL
    for b in ALL:
        if b.name == name:
            return b
    return importlib.import_module(f"benchmarks.{name}").BENCHMARK


def _cpu_time(call, budget=0.01) -> float:
    start = time.process_time()
    call()
    one = max(time.process_time() - start, 1e-7)
    n = max(1, int(budget / one))
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n


def _coarsen(b, case, variant: str, kind: str):
    import coarsen
    from coarsen.autodiff import reverse
    after = variant == "after"
    os.environ["COARSEN_ADAPTIVE"] = "1" if after else "0"
    os.environ["COARSEN_VEXP"] = "1" if after else "0"
    os.environ["COARSEN_FUSE"] = "1" if after else "0"
    os.environ["COARSEN_CACHE_DIR"] = tempfile.mkdtemp(prefix=f"coarsen-ab-{variant}-")
    reverse.REUSE_OWN_VALUES = after
    f = (coarsen.grad(b.program, argnums=case.argnum) if kind == "grad" else coarsen.jit(b.program))
    start = time.perf_counter()
    f(*case.args)
    first = time.perf_counter() - start
    prog = f.program(case.args).fn
    chosen = getattr(prog, "chosen", None) or "cpu"
    return (lambda: f(*case.args)), first, chosen


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="")
    p.add_argument("--peers", default="jax jit(grad),torch eager")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    os.environ.setdefault("COARSEN_TIERED", "0")
    from benchmarks.harness import finite_difference_error
    from benchmarks.peers import all_peers
    peers = [q for q in all_peers("cpu") if q.name in args.peers.split(",")]
    wanted = args.only.split(",") if args.only else None
    print("| program | size | grad before | grad after | after/before | primal after (tier) | grad/primal after |"
          + "".join(f" {q.name} / grad after |" for q in peers) + " load |")
    print("|---|---|---|---|---|---|---|" + "---|" * len(peers) + "---|")
    for name, size in CASES:
        if wanted and name not in wanted:
            continue
        b = _bench(name)
        case = b.make_case(size, np.random.default_rng(0))
        calls, notes = {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for variant in ("before", "after"):
                for kind in ("grad", "primal"):
                    calls[f"{kind} {variant}"], _, notes[f"{kind} {variant}"] = _coarsen(b, case, variant, kind)
            for q in peers:
                limit = b.limits.get(q.name)
                if limit is not None and size > limit[0]:
                    notes[q.name] = "skip"
                    continue
                try:
                    calls[q.name] = q.prepare(b, case).call
                except Exception as err:   # noqa: BLE001  (a peer that cannot run this program)
                    notes[q.name] = f"fails ({type(err).__name__})"
        best = {k: float("inf") for k in calls}
        for _ in range(args.rounds):
            for k, call in calls.items():
                best[k] = min(best[k], _cpu_time(call))
        err = finite_difference_error(b, case, calls["grad after"]())
        load = open("/proc/loadavg").read().split()[0]
        gb, ga, pa = best["grad before"], best["grad after"], best["primal after"]

        def us(t):
            return f"{t * 1e6:.0f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"
        row = (f"| {name} | {case.label} | {us(gb)} | {us(ga)} ({notes['grad after']}) | {ga / gb:.2f} | "
               f"{us(pa)} ({notes['primal after']}) | {ga / pa:.2f} |")
        for q in peers:
            row += f" {best[q.name] / ga:.2f} |" if q.name in best else f" {notes.get(q.name, '-')} |"
        print(row + f" {load} |  <!-- fd err {err:.1e} -->", flush=True)


if __name__ == "__main__":
    main()
