"""Property: on generated programs, the IR interpreter agrees with CPython.

For each program drawn by `program_gen.programs()` and a few argument tuples: CPython runs
`f(*args)` (draws where CPython raises or NumPy warns are discarded: the generator cannot rule
out every overflow); coarsen traces `f`, the IR verifies, prints the same text twice, and
`coarsen.interpret` returns the same structure, shapes and values (NaN-aware, tight
tolerance) on the traced IR *and* on the IR after the whole optimisation pipeline
(`coarsen.passes.run_pipeline`: simplify, cse, licm, closed forms), with the verifier run
after every pass (tests/conftest.py turns it on). Some programs keep an alias where a write may follow (`Program.may_alias`): coarsen
may refuse those with an alias or ownership error, but what it accepts must still match CPython.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

import coarsen
from coarsen import passes
from coarsen.ir import format_function, verify
from program_gen import inputs_for, load, programs

# How many programs one CI run checks (each on up to INPUTS argument tuples).
MAX_EXAMPLES = int(os.environ.get("COARSEN_GEN_EXAMPLES", "600"))
INPUTS = 3

_DIR = Path(tempfile.mkdtemp(prefix="coarsen_gen_"))
_ALIAS_REFUSALS = ("is also reachable as", "cannot write into", "in place")
# refusals of a type a join or loop carry gives on paths these inputs never take (an int made
# 0.5 in a branch the data never enters, then used as an index): conservative, never wrong
_JOIN_REFUSALS = ("array indices must be integers", "before the loop and")


def run_cpython(fn, args):
    """f(*args) in CPython, or None when it raises or NumPy warns (a draw to discard)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with np.errstate(all="raise"):
                return ("ok", fn(*args))
        except Exception as err:   # noqa: BLE001 - any failure of the reference run discards
            return ("error", err)


def assert_same(expected, actual, path="result") -> None:
    """Same nesting, same shapes, same values (NaN-aware, rtol 1e-9)."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), \
            f"{path}: expected a tuple of {len(expected)}, got {actual!r}"
        for k, (e, a) in enumerate(zip(expected, actual)):
            assert_same(e, a, f"{path}[{k}]")
        return
    e, a = np.asarray(expected), np.asarray(actual)
    assert e.shape == a.shape, f"{path}: shape {a.shape} != CPython's {e.shape}"
    if e.ndim:
        assert isinstance(actual, np.ndarray), f"{path}: expected an array, got {actual!r}"
    if e.dtype == bool or a.dtype == bool:
        assert np.array_equal(e, a), f"{path}: {a!r} != CPython's {e!r}"
        return
    assert np.allclose(a.astype(float), e.astype(float), rtol=1e-9, atol=1e-12, equal_nan=True), \
        f"{path}: {a!r} != CPython's {e!r}"


def check_program(program, arg_tuples) -> None:
    fn = load(program, _DIR)
    runs = []
    for args in arg_tuples:
        status, out = run_cpython(fn, args)
        note(f"args={args!r} -> CPython {status}: {out!r}")
        if status == "ok":
            runs.append((args, out))
    assume(runs)
    try:
        ir = coarsen.trace(fn, *runs[0][0])
    except coarsen.UnsupportedError as err:
        # a program that writes through an alias may be refused, with a reason; never run wrong
        if program.may_alias and any(w in err.message for w in _ALIAS_REFUSALS):
            event("refused: writes through an alias")
            return
        if any(w in err.message for w in _JOIN_REFUSALS):
            event("refused: a type joined from a path these inputs never take")
            return
        raise
    if program.may_alias:
        event("accepted a program with aliases")
    verify(ir, "frontend")
    text = format_function(ir)
    note(text)
    assert format_function(coarsen.trace(fn, *runs[0][0])) == text, "printing is not deterministic"
    for args, expected in runs:
        assert_same(expected, coarsen.interpret(ir, *args))
    # every pass in the pipeline, verified after each: what the derivative is built from
    assert passes.VERIFY_EVERY_PASS
    ctx: dict = {}
    optimised = passes.run_pipeline(ir, ctx)
    if ctx.get("closed_forms"):
        event("a loop became a closed form")
    for args, expected in runs:
        assert_same(expected, coarsen.interpret(optimised, *args), "after the passes: result")


@pytest.mark.slow
@settings(max_examples=MAX_EXAMPLES, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(program=programs(), data=st.data())
def test_interpreter_matches_cpython(program, data):
    arg_tuples = [data.draw(inputs_for(program), label=f"args{k}") for k in range(INPUTS)]
    check_program(program, arg_tuples)
