"""A name bound on some paths only (`frontend.bindings.MaybeBound`): compiled code returns what
plain Python returns where the name is bound, and raises Python's UnboundLocalError, naming
the user's line, where it is not, never a placeholder value. Gradients agree with central
differences. Programs: maybe_bound_programs.py."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen
from coarsen.ir.nodes import Op, walk
import maybe_bound_programs as P

_CASES = [(f, x, extra) for f, xs, extra in P.PROGRAMS for x in xs]
_IDS = [f"{f.__name__}-{np.shape(x)}-{extra}-{k}" for k, (f, x, extra) in enumerate(_CASES)]


def _python(f, x, extra):
    try:
        return f(x, *extra), None
    except UnboundLocalError as err:
        return None, err


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", range(len(_CASES)), ids=_IDS)
def test_values_and_unbound_errors_as_python(case, target):
    f, x, extra = _CASES[case]
    want, err = _python(f, x, extra)
    if err is not None:
        with pytest.raises(UnboundLocalError, match="cannot access local variable") as got:
            coarsen.jit(f, target=target)(x, *extra)
        assert "maybe_bound_programs.py:" in str(got.value)
        with pytest.raises(UnboundLocalError):
            coarsen.grad(f, target=target)(x, *extra)
        return
    np.testing.assert_allclose(coarsen.jit(f, target=target)(x, *extra), want, rtol=1e-12, atol=0)
    g = coarsen.grad(f, target=target)(x, *extra)
    eps = 1e-6
    direction = np.ones_like(x) if np.ndim(x) else 1.0
    fd = (f(x + eps * direction, *extra) - f(x - eps * direction, *extra)) / (2 * eps)
    np.testing.assert_allclose(np.sum(g * direction), fd, rtol=1e-5, atol=1e-7)


def _checks(fn):
    """The run-time CHECK instructions of fn's traced IR (not a search of its text: the
    checkout's path may itself contain the word, as CI's /check/... did)."""
    return [i for i in walk(coarsen.trace(fn, 0.5).body) if i.op is Op.CHECK]


def test_a_loop_that_surely_runs_needs_no_check():
    assert _checks(P.last_of_constant_range) == []
    assert _checks(P.endless_with_break) == []


def test_a_one_sided_binding_is_checked():
    assert _checks(P.one_sided_if)


def test_a_loop_that_never_runs_leaves_the_name_unbound():
    with pytest.raises(UnboundLocalError, match="not associated with a value"):
        coarsen.jit(_never_bound)(0.5)


def _never_bound(x):
    for i in range(0):
        y = x
    return y
