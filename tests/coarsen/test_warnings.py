"""Warnings coarsen emits about a user's program point at the user's line, whatever the path
to them (first call, a later signature, nested calls, vjp, jit)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import coarsen
from kernels import locations


def rank4_loss(x):   # a reduction along an axis of a rank-4 array: Numba target falls back
    return np.sum(np.sum(x, axis=1) ** 2)


def rank4_primal(x):
    return np.sum(x, axis=1) * 2.0


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [w for w in caught if "cannot compile" in str(w.message)]


def _line_of(marker: str) -> int:
    lines = open(__file__).read().splitlines()
    return next(k for k, line in enumerate(lines, 1) if line.rstrip().endswith(marker))


@pytest.mark.parametrize("how", ["grad", "value_and_grad", "vjp", "jit"])
def test_numba_fallback_warning_points_at_the_callers_line(how: str) -> None:
    x = np.arange(16.0).reshape(2, 2, 2, 2)
    if how == "vjp":
        def call():
            out, pull = coarsen.vjp(rank4_primal, x)  # the user's line: vjp
            return pull(np.ones_like(out))
        marker = "# the user's line: vjp"
    elif how == "jit":
        def call():
            return coarsen.jit(rank4_primal)(x)  # the user's line: jit
        marker = "# the user's line: jit"
    else:
        def call():
            return getattr(coarsen, how)(rank4_loss)(x)  # the user's line: grad
        marker = "# the user's line: grad"
    found = _caught(call)
    assert found, "rank 4 on the cpu target should fall back to NumPy with a warning"
    for w in found:
        assert (w.filename, w.lineno) == (__file__, _line_of(marker)), (w.filename, w.lineno)


def test_user_stacklevel_skips_every_library_frame() -> None:
    """A helper that warns from inside the library lands on the first frame outside it, here
    this test, through any depth of library frames."""
    namespace = {"__name__": "coarsen.fake_module", "locations": locations}
    exec("def deep(n):\n    return deep(n - 1) if n else locations.warn('from deep inside')\n",
         namespace)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        namespace["deep"](5)  # the user's line: deep
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, _line_of("# the user's line: deep"))]


def cached_square(x):
    return x * x


def test_a_corrupt_cache_entry_warning_points_at_the_callers_line(tmp_path, monkeypatch) -> None:
    """Warnings from the disk cache (here: a damaged program entry, compiled again) are about the
    call the user made too: they point at it, not into coarsen's cache code."""
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    assert coarsen.grad(cached_square, target="numpy")(3.0) == 6.0
    entries = list(tmp_path.glob("program_*.json"))
    assert entries, "the first call should have stored a program entry"
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:-7] + b"garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert coarsen.grad(cached_square, target="numpy")(3.0) == 6.0  # the user's line: cache
    found = [w for w in caught if "cache entry" in str(w.message)]
    assert found, [str(w.message) for w in caught]
    assert {(w.filename, w.lineno) for w in found} == {(__file__, _line_of("# the user's line: cache"))}
