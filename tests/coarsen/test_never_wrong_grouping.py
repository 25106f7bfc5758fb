"""Compiled code computes each operation the program wrote, grouped as it wrote it: SymPy's
flattening of sums and products (`a + (b - c)` as `a + b - c`, `(x + 1e16) - 1e16` as `x`,
`2*(x + y)` as `2*x + 2*y`, `sqrt(4*x)` as `2*sqrt(x)`) is kept out by `phicalc.Paren`, and an
int read by float arithmetic is converted first (`phicalc.AsFloat`): values bit for bit equal
to NumPy's on numpy and cpu, for compensated sums, rounding tricks and overflow on the way.
Programs: grouping_programs.py."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen
import grouping_programs as P


def _numpy_semantics(args):
    # float arguments as np.float64, so that plain Python follows NumPy's float64 rules (inf on
    # overflow), as compiled code does
    return tuple(np.float64(a) if isinstance(a, float) else a for a in args)


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", range(len(P.PROGRAMS)), ids=[f.__name__ for f, _ in P.PROGRAMS])
def test_values_bit_for_bit(case, target, monkeypatch):
    monkeypatch.setenv("COARSEN_TIERED", "0")   # the machine code itself on cpu
    monkeypatch.setenv("COARSEN_ADAPTIVE", "0")
    fn, args = P.PROGRAMS[case]
    with np.errstate(all="ignore"):
        want = fn(*_numpy_semantics(args))
        got = coarsen.jit(fn, target=target)(*args)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)


def test_grouping_prints_no_needless_parentheses():
    import sympy as sp
    from phicalc import Paren, to_source
    x, y, z = sp.symbols("x y z", real=True)
    assert to_source(Paren(x * y) + z) in ("x*y + z", "z + x*y")
    assert to_source(x + Paren(y - z)) in ("x + (y - z)", "(y - z) + x")
    assert to_source(Paren(x * y) * z) in ("(x*y)*z", "z*(x*y)")
    assert to_source(2 * Paren(x + y)) == "2.0*(x + y)"


def test_a_loop_is_differentiated_as_written_by_default():
    # a closed form (opt-in) would make t exactly 1.0 and take the other branch: derivative 2
    assert coarsen.grad(P.time_steps_then_branch, target="numpy")(1.5, 0.1, 10) == 3.0
