"""Tests share a worker process: what one test's imports set must not change another's run."""
import importlib.util
import os

import numba
import numpy as np
import pytest


@numba.njit(parallel=True)
def _parallel_sum(x):
    total = 0.0
    for i in numba.prange(x.size):
        total += x[i]
    return total


def test_importing_benchmark_programs_leaves_numbas_threads_alone():
    """`benchmarks/__init__` sets `NUMBA_NUM_THREADS=1` for timing runs; tests import benchmark
    programs (tests/kernels/test_fusion.py, tests/coarsen/test_adbench_programs.py). After a
    `prange` program has launched Numba's pool, any compile re-reads the setting, and a changed
    value is an error, so the import must not leave it behind (tests/conftest.py)."""
    if importlib.util.find_spec("benchmarks") is None:
        pytest.skip("an installed copy without the repository's benchmarks/")
    assert _parallel_sum(np.ones(10)) == 10.0            # the pool is launched
    before = dict(os.environ)
    import benchmarks.adbench.programs  # noqa: F401
    assert dict(os.environ) == before
    numba.core.config.reload_config()                    # what each compile does
    assert numba.njit(lambda x: x + 1.0)(1.0) == 2.0
