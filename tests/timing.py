"""Timing ratios for the few tests that check how a cost grows (linear, not quadratic, in n).

A test never compares a time with a wall-clock bound; it compares two costs measured in the same
process, each the fastest of several runs, the runs interleaved (a, b, a, b, ...) so that load
which comes and goes on a shared machine slows both alike. Thresholds leave generous slack
between the growth the code has and the growth of the bug the test guards against.

    from tests.timing import best_times
    small, large = best_times(lambda: f(x_small), lambda: f(x_large))
"""
from __future__ import annotations

import time
from typing import Callable


def best_times(*fns: Callable[[], object], repeats: int = 5,
               before: Callable[[], object] | None = None) -> list[float]:
    """The fastest of `repeats` interleaved runs of each of `fns`, in seconds; `before()` (not
    timed) runs before every run, e.g. to clear a cache."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            if before is not None:
                before()
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best
