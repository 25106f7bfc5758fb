"""New-process latency: how long a fresh Python process takes to import coarsen and run the
first call of a program that an earlier process compiled and cached on disk.

    python -m benchmarks.startup [--repeats 7] [--target cpu] [--keep DIR]

What it does: writes a small user module (a CartPole-style scalar loop with a branch, and an
array least-squares loss) into a scratch directory with its own `COARSEN_CACHE_DIR`; one
process compiles `coarsen.grad` of each (filling coarsen's program cache and Numba's
machine-code cache); then `--repeats` fresh processes each run

    t0 = perf_counter(); import coarsen; import the user module
    g = coarsen.grad(loss); g(*args)          # the first call: disk cache -> machine code
    t1 = perf_counter()

and report `t1 - t0` ("first call, including imports": everything the process does for the
call after the interpreter has started), its parts, and which heavy modules the process
imported: a cached program must load without re-tracing (no `coarsen.frontend.statements`, the
tracer), without the symbolic compiler (no SymPy, networkx, `coarsen.autodiff`). Numba (and
SciPy, which Numba's array support imports for BLAS) is what loading machine code from Numba's
cache costs. The interpreter's own start-up (`python -c pass`) is
reported separately, as it is not coarsen's to spend. Also: `import coarsen` alone, and
whether it imported Numba.

Numbers depend on the machine's load: run it on a quiet machine and read the median.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

USER_MODULE = textwrap.dedent('''
    import numpy as np

    def cartpole(w, x0, steps):
        x, v, th, om = x0[0], x0[1], x0[2], x0[3]
        cost = 0.0
        for t in range(steps):
            f = w[0] * x + w[1] * v + w[2] * th + w[3] * om
            if f > 10.0:
                f = 10.0
            elif f < -10.0:
                f = -10.0
            acc = (f + 0.05 * om * om * np.sin(th)) / 1.1
            alpha = (9.8 * np.sin(th) - np.cos(th) * acc) / (0.5 * (4.0 / 3.0 - 0.1 * np.cos(th) ** 2 / 1.1))
            x, v, th, om = x + 0.02 * v, v + 0.02 * acc, th + 0.02 * om, om + 0.02 * alpha
            cost = cost + x * x + th * th + 0.01 * f * f
        return cost

    def least_squares(w, X, y):
        r = X @ w - y
        return np.mean(r * r) + 0.1 * np.sum(w * w)

    CASES = {
        "cartpole": (cartpole, lambda: (np.array([0.1, 0.2, -0.3, 0.4]), np.array([0.0, 0.1, 0.05, 0.0]), 8)),
        "least_squares": (least_squares, lambda: (np.ones(5), np.arange(20.0).reshape(4, 5) / 10, np.ones(4))),
    }
''')

CHILD = textwrap.dedent('''
    import time
    t0 = time.perf_counter()
    import sys
    import coarsen
    t_import = time.perf_counter()
    import startup_user
    fn, make_args = startup_user.CASES[sys.argv[1]]
    args = make_args()
    t_args = time.perf_counter()
    g = coarsen.grad(fn, target=sys.argv[2])
    out = g(*args)
    t1 = time.perf_counter()
    import threading
    for thread in threading.enumerate():   # the tiered compile (COARSEN_TIERED): machine code
        if thread.name.startswith("coarsen-compile-"):
            thread.join()
    t2 = time.perf_counter()
    again = g(*args)
    import json
    print(json.dumps({
        "total": t1 - t0, "import": t_import - t0, "call": t1 - t_args, "compiled_after": t2 - t0,
        "value": [float(v) for v in __import__("numpy").ravel(out)],
        "value_compiled": [float(v) for v in __import__("numpy").ravel(again)],
        "modules": {m: m in sys.modules for m in ("numba", "scipy", "sympy", "networkx",
                                                   "coarsen.frontend.statements", "coarsen.autodiff",
                                                   "torch")},
    }))
''')

IMPORT_ONLY = ("import time; t0 = time.perf_counter(); import sys, coarsen; t = time.perf_counter() - t0; "
               "import json; print(json.dumps({'import': t, 'numba': 'numba' in sys.modules, "
               "'sympy': 'sympy' in sys.modules}))")


NUMBA_FLOOR = ("import time, json; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter(); "
               "import numba; from numba.core.registry import cpu_target; "
               "cpu_target.target_context.refresh(); t2 = time.perf_counter(); "
               "print(json.dumps({'numpy': t1 - t0, 'numba': t2 - t1}))")


def _child(code: str, args: list[str], workdir: Path, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"child failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(repeats: int, target: str, workdir: Path, tiered: bool = True) -> dict:
    (workdir / "startup_user.py").write_text(USER_MODULE)
    env = dict(os.environ, COARSEN_CACHE_DIR=str(workdir / "cache"), COARSEN_TIERED=str(int(tiered)))
    root = str(Path(__file__).resolve().parent.parent)   # the tree's packages, as installed or not
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(workdir), root, env.get("PYTHONPATH")) if p)
    results: dict = {"target": target, "repeats": repeats, "tiered": tiered, "cases": {}}

    interp = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        interp.append(time.perf_counter() - t)
    results["interpreter_start"] = statistics.median(interp)
    imports = [_child(IMPORT_ONLY, [], workdir, env) for _ in range(repeats)]
    results["import_coarsen"] = statistics.median(r["import"] for r in imports)
    results["import_coarsen_imports_numba"] = any(r["numba"] for r in imports)
    results["import_coarsen_imports_sympy"] = any(r["sympy"] for r in imports)
    floors = [_child(NUMBA_FLOOR, [], workdir, env) for _ in range(repeats)]
    results["import_numpy"] = statistics.median(r["numpy"] for r in floors)
    results["numba_start"] = statistics.median(r["numba"] for r in floors)

    for case in ("cartpole", "least_squares"):
        t = time.perf_counter()
        first = _child(CHILD, [case, target], workdir, env)   # compiles and fills the caches
        compile_wall = time.perf_counter() - t
        runs = [_child(CHILD, [case, target], workdir, env) for _ in range(repeats)]
        for r in runs:   # the same gradient in every process, on either tier (to rounding)
            for got in (r["value"], r["value_compiled"]):
                if not np.allclose(got, first["value"], rtol=1e-12, atol=1e-14):
                    raise AssertionError(f"a cached program gave another gradient: {got} vs {first['value']}")
        results["cases"][case] = {
            "compile_process_total": first["total"], "compile_process_wall": compile_wall,
            "cached_total_median": statistics.median(r["total"] for r in runs),
            "cached_total_min": min(r["total"] for r in runs),
            "cached_import_median": statistics.median(r["import"] for r in runs),
            "cached_call_median": statistics.median(r["call"] for r in runs),
            "cached_compiled_median": statistics.median(r["compiled_after"] for r in runs),
            "cached_modules": {m: any(r["modules"][m] for r in runs) for m in runs[0]["modules"]},
        }
    return results


def report(results: dict, bound: float) -> str:
    lines = [f"new-process latency (target {results['target']}, median of {results['repeats']} processes)",
             f"  interpreter start-up (python -c pass, not counted): {1e3 * results['interpreter_start']:.0f} ms",
             f"  import coarsen: {1e3 * results['import_coarsen']:.0f} ms "
             f"(imports Numba: {results['import_coarsen_imports_numba']}, "
             f"SymPy: {results['import_coarsen_imports_sympy']})",
             f"  floor of any Numba program: import numpy {1e3 * results['import_numpy']:.0f} ms, "
             f"import Numba and start its CPU target (what loading cached machine code needs) "
             f"{1e3 * results['numba_start']:.0f} ms"]
    for case, r in results["cases"].items():
        loaded = ", ".join(m for m, on in r["cached_modules"].items() if on) or "none of them"
        verdict = "ok" if r["cached_total_median"] <= bound else f"OVER the {1e3 * bound:.0f} ms bound"
        lines += [f"  {case}: first process (trace, differentiate, compile) {r['compile_process_total']:.2f} s;",
                  f"    cached, new process: first call including imports {1e3 * r['cached_total_median']:.0f} ms "
                  f"(min {1e3 * r['cached_total_min']:.0f}; import coarsen {1e3 * r['cached_import_median']:.0f}, "
                  f"first call {1e3 * r['cached_call_median']:.0f}) [{verdict}]",
                  f"    machine code serving calls {1e3 * r['cached_compiled_median']:.0f} ms after the start "
                  f"(tiered: {results['tiered']})",
                  f"    heavy modules imported by the first call's return: {loaded}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--target", default="cpu", choices=("cpu", "numpy"))
    parser.add_argument("--bound", type=float, default=0.2, help="seconds (the README's claim)")
    parser.add_argument("--keep", type=Path, help="scratch directory to use and keep")
    parser.add_argument("--tiered", type=int, default=1, choices=(0, 1),
                        help="COARSEN_TIERED for the processes: 1 serves first calls with NumPy "
                             "while Numba compiles or loads machine code in the background")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    opts = parser.parse_args(argv)
    if opts.keep:
        opts.keep.mkdir(parents=True, exist_ok=True)
        results = measure(opts.repeats, opts.target, opts.keep, bool(opts.tiered))
    else:
        with tempfile.TemporaryDirectory(prefix="coarsen-startup-") as tmp:
            results = measure(opts.repeats, opts.target, Path(tmp), bool(opts.tiered))
    print(report(results, opts.bound))
    if opts.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
