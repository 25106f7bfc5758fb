"""What checked indices cost (#11 item 2): every benchmark's gradient with the index checks the
compiler emits, against the same program with no checks, in one process on one target.

    python -m benchmarks.index_checks                 # every benchmark, its middle size, "cpu"
    python -m benchmarks.index_checks --only rk4,hookean --target numpy --size 0

For each benchmark: how many `raise IndexError` lines the generated gradient holds (indices
`codegen/bounds.py` could not prove in bounds), and the best-of-N time of a call with and
without them, alternated so that a change in the machine's load hits both alike. "Without"
compiles the same source minus the checks (`coarsen.codegen.forward.index_checks` and
`coarsen.autodiff.rules.index_checks` returning nothing), under its own cache directory, so
no program is shared between the two. The target of #11: within 5%.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def _best(call, repeats: int, number: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            call()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def _compiled(bench, case, target: str, checks: bool):
    import coarsen
    import coarsen.autodiff.rules as rules
    import coarsen.codegen.forward as forward
    saved = forward.index_checks, rules.index_checks
    if not checks:
        forward.index_checks = rules.index_checks = lambda *a, **k: []
    os.environ["COARSEN_CACHE_DIR"] = tempfile.mkdtemp(prefix=f"coarsen_ic_{int(checks)}_")
    try:
        g = coarsen.grad(bench.program, argnums=case.argnum, target=target)
        g(*case.args)   # compiles
        (prog,) = g.programs.values()
        return g, prog.source.count("raise IndexError")
    finally:
        forward.index_checks, rules.index_checks = saved


def run(names: list[str] | None, target: str, size_index: int | None, repeats: int) -> list[tuple]:
    from benchmarks.__main__ import ALL
    rows = []
    for bench in ALL:
        if names and bench.name not in names:
            continue
        sizes = bench.sizes
        size = sizes[len(sizes) // 2] if size_index is None else sizes[size_index]
        case = bench.make_case(size, np.random.default_rng(0))
        with_checks, count = _compiled(bench, case, target, True)
        without, zero = _compiled(bench, case, target, False)
        assert zero == 0
        np.testing.assert_allclose(with_checks(*case.args), without(*case.args), rtol=1e-12, atol=1e-12)
        once = _best(lambda: with_checks(*case.args), 1, 1)
        number = max(1, int(0.05 / max(once, 1e-7)))
        t_on, t_off = float("inf"), float("inf")
        for _ in range(repeats):   # alternated: load changes hit both
            t_on = min(t_on, _best(lambda: with_checks(*case.args), 1, number))
            t_off = min(t_off, _best(lambda: without(*case.args), 1, number))
        rows.append((bench.name, case.label, count, t_on, t_off, t_on / t_off))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--size", type=int, default=None, help="index into the benchmark's sizes")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    os.environ.setdefault("COARSEN_TIERED", "0")   # machine code from the first call
    rows = run([n for n in args.only.split(",") if n] or None, args.target, args.size, args.repeats)
    print(f"target {args.target}; best of {args.repeats} alternated samples per variant")
    print(f"{'benchmark':<16}{'size':<16}{'checks':>7}{'with (us)':>12}{'without (us)':>14}{'ratio':>8}")
    for name, label, count, on, off, ratio in rows:
        print(f"{name:<16}{label:<16}{count:>7}{on * 1e6:>12.1f}{off * 1e6:>14.1f}{ratio:>8.3f}")


if __name__ == "__main__":
    main()
