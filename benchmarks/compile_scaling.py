"""Compile time of long recurrences: a 1000-step loop against a 100-step one (the loop is not
unrolled: about the same time), and 1000 straight-line statements against 100 (segments are
bounded: about 10x, where an unsegmented chain swells into SymPy minutes).

    python -m benchmarks.compile_scaling [--repeats 3] [--target numpy]

Each measurement traces, differentiates, generates and compiles `coarsen.grad` of a fresh module
(`s = np.sin(a * s + c_i)` per statement, or the same in a `for` loop) with its own empty
`COARSEN_CACHE_DIR`, and reports the median of `--repeats` (tests/coarsen/test_grad_examples.py
checks the same property by counts, not times). Numbers depend on the machine's load: run it on
a quiet machine.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

BODIES = {
    "straight_line": lambda steps: [f"    s = np.sin(a * s + {0.001 * i!r})" for i in range(steps)],
    "loop": lambda steps: [f"    for i in range({steps}):", "        s = s + 0.001 * np.sin(a * s + 0.01 * i)"],
}


def _module(directory: Path, name: str, body: list[str]):
    path = directory / f"{name}.py"
    path.write_text("\n".join(["import numpy as np", "", "", "def chain(x, a):", "    s = x", *body,
                               "    return s", ""]))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.chain


def compile_seconds(which: str, steps: int, target: str, run: int) -> float:
    import coarsen
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COARSEN_CACHE_DIR"] = tmp   # a real compilation every time
        fn = _module(Path(tmp), f"{which}_{steps}_{run}", BODIES[which](steps))
        start = time.perf_counter()
        coarsen.grad(fn, argnums=(0, 1), target=target)(0.3, 0.7)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", default="numpy")
    args = parser.parse_args()
    compile_seconds("loop", 10, args.target, -1)   # imports and first-use costs, not measured
    for which in BODIES:
        medians = {}
        for steps in (100, 1000):   # interleaved runs would share the load; medians suffice here
            medians[steps] = statistics.median(compile_seconds(which, steps, args.target, r)
                                               for r in range(args.repeats))
        print(f"{which:13s} 100 steps {medians[100]:6.2f} s   1000 steps {medians[1000]:6.2f} s   "
              f"ratio {medians[1000] / medians[100]:5.1f}")


if __name__ == "__main__":
    main()
