"""python -m benchmarks.adbench.steady ode lstm ...: coarsen's steady gradient and primal times.

One JSON line: per case of `benchmarks.adbench.ab.CASES`, the best CPU time per call (us) over
9 rounds of `ab._cpu_time` samples (30 ms each) of `coarsen.grad` and `coarsen.jit` on the
cpu target's machine code (COARSEN_ADAPTIVE=0, COARSEN_TIERED=0), then the load average. No
variants, no peers: run it from two checkouts alternately (a worktree of the base commit and
the tree under test, each with its own COARSEN_CACHE_DIR) for a before/after on the same load.
"""
from __future__ import annotations

import json
import os
import sys
import warnings


def main() -> None:
    os.environ.setdefault("COARSEN_TIERED", "0")
    os.environ["COARSEN_ADAPTIVE"] = "0"
    import numpy as np
    import coarsen
    from benchmarks.adbench.ab import CASES, _bench, _cpu_time
    warnings.simplefilter("ignore")
    sizes = dict(CASES)
    out = {}
    for name in sys.argv[1:]:
        b = _bench(name)
        case = b.make_case(sizes[name], np.random.default_rng(0))
        g, p = coarsen.grad(b.program, argnums=case.argnum), coarsen.jit(b.program)
        g(*case.args)
        p(*case.args)
        calls = {"grad": lambda: g(*case.args), "primal": lambda: p(*case.args)}
        best = {k: float("inf") for k in calls}
        for _ in range(9):
            for k, call in calls.items():
                best[k] = min(best[k], _cpu_time(call, 0.03))
        out[name] = {k: round(v * 1e6, 1) for k, v in best.items()}
    print(json.dumps(out), open("/proc/loadavg").read().split()[0], flush=True)


if __name__ == "__main__":
    main()
