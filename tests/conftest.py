"""Options and fixtures shared by every test package.

`--update-golden`: golden-file tests rewrite their expected text instead of comparing it
(review the diff before committing). The `golden` fixture does the comparison:

    def test_printer(golden):
        golden("coarsen/golden/printer_loop.txt", format_function(ir))
"""
from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Callable

import pytest

TESTS = Path(__file__).parent

# "cpu" programs compile on their first call in tests, so every cpu-target test checks machine
# code, not the NumPy tier that serves a tiered program's first calls (`kernels.targets`);
# tests/coarsen/test_tiered.py tests the tiered path itself. Set COARSEN_TIERED=1 to run the
# suite tiered.
os.environ.setdefault("COARSEN_TIERED", "0")
# Likewise, machine code keeps serving a cpu program even where the NumPy tier would be faster
# (`kernels.adaptive`); tests/kernels/test_adaptive.py tests that choice.
os.environ.setdefault("COARSEN_ADAPTIVE", "0")
# Machine code is compiled without LLVM's optimisations (a quarter of the compile time, which
# is most of the suite's time): the same generated source, typing and lowering, and the same
# results (no fast-math but the reassociated sums of `rt.matmul`'s loops, which the tests
# compare within tolerances). Cached machine code is keyed by the level (`kernels.numba_cache`).
# tests/test_shipped_opt_level.py runs a sample of the cpu-target tests at Numba's default
# level, as users run them. NUMBA_OPT=3 runs the whole suite so.
os.environ.setdefault("NUMBA_OPT", "0")


def _import_benchmarks_keeping_the_environment() -> None:
    """Import the `benchmarks` package once, undoing the settings its `__init__` makes.

    `benchmarks/__init__` pins every thread pool to one thread for timing runs
    (`NUMBA_NUM_THREADS=1`, `OMP_NUM_THREADS=1`, JAX flags, ...) with `os.environ.setdefault`,
    and some tests import benchmark programs. Left in place, the settings leaked into the rest
    of the worker: once a `prange` program had launched Numba's pool with two threads, the next
    compile re-read `NUMBA_NUM_THREADS=1` and failed ("Cannot set NUMBA_NUM_THREADS to a
    different value once the threads have been launched"), so tests passed or failed by how
    xdist scheduled them. Importing the package here, before any test, runs its `__init__` now
    and never again; later `import benchmarks.x` finds it in `sys.modules`.
    """
    saved = dict(os.environ)
    try:
        import benchmarks  # noqa: F401
    except ImportError:   # an installed copy without the repository's benchmarks/
        pass
    finally:
        os.environ.clear()
        os.environ.update(saved)


_import_benchmarks_keeping_the_environment()


@pytest.fixture(autouse=True)
def verify_every_pass():
    """The IR verifier runs after every optimisation pass in every test that uses coarsen (a
    pass that breaks dominance or types fails where it breaks it, not as a wrong number three
    stages later). Tests that never import coarsen (phicalc, kernels alone) do not load it."""
    passes = sys.modules.get("coarsen.passes")
    if passes is None and "coarsen" in sys.modules:
        import coarsen.passes as passes
    if passes is not None:
        passes.VERIFY_EVERY_PASS = True
    yield


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files with the current output instead of comparing")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """`golden(path, text)`: `text` must equal the file at tests/`path` (or rewrite it)."""
    update = request.config.getoption("--update-golden")

    def check(path: str, text: str) -> None:
        file = TESTS / path
        # messages name the user's file: the checkout's own path is not part of the output
        text = text.replace(str(TESTS), "<tests>").rstrip("\n") + "\n"
        if update:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text)
            return
        if not file.exists():
            pytest.fail(f"golden file {path} is missing; run pytest --update-golden to create it")
        expected = file.read_text()
        if text != expected:
            diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                                f"{path} (golden)", f"{path} (now)"))
            pytest.fail(f"output differs from the golden file (pytest --update-golden rewrites it):\n{diff}")
    return check
