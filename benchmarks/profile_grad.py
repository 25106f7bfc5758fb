"""Where coarsen's gradient time goes, for one benchmark case.

    python -m benchmarks.profile_grad hookean [--size 40] [--target cpu] [--compile] [--source]

Prints:
1. call-path times (medians of undisturbed interleaved samples, as the harness takes them): the public `coarsen.grad` call, the compiled program
   called directly (so the difference is the API wrapper), coarsen's primal, and the
   hand-written Numba gradient;
2. a cProfile of the *generated* derivative run op by op on the "numpy" target: the same
   program the "cpu" target compiles, so its call counts (tape appends and pops, array
   allocations, rt.* helpers) say what the compiled code does per gradient;
3. with --compile: the first call on an empty cache, split into coarsen's own compiler (trace,
   passes, differentiation, code generation) and Numba's compilation, with the number of
   functions Numba compiled;
4. with --source: the generated derivative.
"""
from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import os
import pstats
import tempfile
import time

import numpy as np

from benchmarks.harness import Settings, measure


def call_path(bench, case, target: str) -> str:
    import coarsen
    g = coarsen.grad(bench.program, argnums=case.argnum, target=target)
    g(*case.args)
    kernel = g.program(case.args).fn
    primal = coarsen.jit(bench.program, target=target)
    primal(*case.args)
    bench.hand_grad(*case.args)
    timings = measure({"coarsen.grad(f)(*args)": lambda: g(*case.args),
                       "compiled derivative program, called directly": lambda: kernel(*case.args, 1.0),
                       "coarsen.jit(f)(*args) (primal)": lambda: primal(*case.args),
                       "hand-written Numba gradient": lambda: bench.hand_grad(*case.args)}, Settings())
    return "\n".join(f"  {name:<48} {1e6 * t.median_s:10.2f} us" + ("" if t.clean else "  (disturbed)")
                     for name, t in timings.items())


def generated_profile(bench, case, top: int) -> str:
    import coarsen
    g = coarsen.grad(bench.program, argnums=case.argnum, target="numpy")
    g(*case.args)
    start = time.perf_counter()
    g(*case.args)
    calls = max(1, int(0.5 / max(time.perf_counter() - start, 1e-6)))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        g(*case.args)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return f"  ({calls} gradient calls on the numpy target)\n" + out.getvalue()


def compile_split(bench, case, target: str) -> str:
    os.environ["COARSEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="coarsen-profile-cache-")
    import coarsen
    from benchmarks import _probe
    coarsen.grad(_probe.square, target=target)(3.0)   # imports and Numba's own start-up
    g = coarsen.grad(bench.program, argnums=case.argnum, target=target)
    start = time.perf_counter()
    prog = g.program(case.args)
    built = time.perf_counter() - start
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    prog.fn(*case.args, 1.0)
    prof.disable()
    first = time.perf_counter() - start
    compiled = sum(s[1] for f, s in pstats.Stats(prof).stats.items()
                   if f[0].endswith(os.path.join("numba", "core", "compiler.py")) and f[2] == "_compile_core")
    return (f"  coarsen (trace, passes, differentiation, code generation): {built:8.3f} s\n"
            f"  first call of the compiled program ({target}: Numba compiles {compiled} functions): "
            f"{first:8.3f} s (under cProfile, which slows Numba's compiler)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_grad", description=__doc__.split("\n")[0])
    p.add_argument("bench")
    p.add_argument("--size", type=int, default=None, help="default: the benchmark's largest size")
    p.add_argument("--target", default="cpu")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--source", action="store_true")
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args(argv)
    bench = importlib.import_module(f"benchmarks.{args.bench}").BENCHMARK
    case = bench.make_case(args.size or bench.sizes[-1], np.random.default_rng(0))
    print(f"{bench.title} {case.label}, target {args.target!r}")
    if args.compile:   # first, while the cache is still empty
        print("\n== compile (empty cache) ==")
        print(compile_split(bench, case, args.target))
    print("\n== call path (median) ==")
    print(call_path(bench, case, args.target))
    print("\n== cProfile of the generated derivative, run op by op ==")
    print(generated_profile(bench, case, args.top))
    if args.source:
        import coarsen
        print("== generated derivative ==")
        print(coarsen.grad(bench.program, argnums=case.argnum, target=args.target).source(*case.args))


if __name__ == "__main__":
    main()
