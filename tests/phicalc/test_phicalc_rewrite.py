"""stable(): finite where the naive forms overflow or cancel, equal values, idempotent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from sympy.codegen.cfunctions import expm1, log1p

from phicalc import Sigmoid, Softplus, stable, vjp
from phicalc_helpers import VARS, X, Y, close, evaluate, expressions, points, sympy_value

# (naive form, a term the stable form must use, points where the naive form breaks)
CASES = [
    (sp.log(1 + sp.exp(X)), Softplus, [800.0, -800.0, 0.3]),
    (sp.log(1 + sp.exp(-X)), Softplus, [-800.0, 800.0]),
    (sp.log(sp.exp(X) + sp.exp(Y)), Softplus, [800.0, -800.0]),
    (sp.log(1 + X), log1p, [1e-20, 3e-12]),
    (sp.exp(X) - 1, expm1, [1e-20, -3e-12]),
    (1 - sp.exp(X), expm1, [1e-20]),
    (Y * (sp.exp(X) - 1) + 2, expm1, [1e-19]),
    (X / (1 + sp.exp(-X)), Sigmoid, [-800.0, 800.0]),
    (sp.exp(X) / (1 + sp.exp(X)), Sigmoid, [800.0, -800.0]),
    (sp.log(1 / (1 + sp.exp(-X))), Softplus, [-800.0]),
    (1 - 1 / (1 + sp.exp(-X)), Sigmoid, [800.0]),
    (sp.exp(X) / (1 + sp.exp(X)) ** 2, Sigmoid, [800.0, -800.0]),
    (sp.log(sp.exp(X)), None, [800.0]),
]


@pytest.mark.parametrize("naive, term, xs", CASES)
def test_stable_forms_are_finite_and_accurate(naive, term, xs):
    fixed = stable(naive)
    if term is not None:
        assert fixed.has(term), fixed
    for xv in xs:
        values = {X: xv, Y: 0.5}
        reference = sympy_value(naive, values)  # 20-digit SymPy evaluation
        got = float(evaluate(fixed, values))
        assert math.isfinite(got)
        assert close(got, reference, 1e-12, 1e-300), (fixed, xv, got, reference)
        assert close(float(evaluate(fixed, {X: np.array([xv]), Y: 0.5}, array=True)[0]),
                     reference, 1e-12, 1e-300)


def test_naive_forms_really_overflow():
    with np.errstate(all="ignore"):
        assert not math.isfinite(evaluate(sp.log(1 + sp.exp(X)), {X: 800.0}))
        assert math.isnan(evaluate(sp.exp(X) / (1 + sp.exp(X)), {X: 800.0}))


def test_stable_gradient_of_softplus_written_naively():
    (g,) = vjp([sp.log(1 + sp.exp(X))], [X], [1])
    assert stable(g) == Sigmoid(X)
    assert evaluate(stable(g), {X: 800.0}) == 1.0
    assert evaluate(stable(g), {X: -800.0}) == 0.0


def test_stable_rewrites_only_what_it_should():
    assert stable(sp.log(2 + X)) == sp.log(2 + X)
    assert stable(sp.exp(X) - 2) == sp.exp(X) - 2
    assert stable(sp.log(X)) == sp.log(X)


@settings(max_examples=60, deadline=None)
@given(expressions(10), points)
def test_stable_is_idempotent_and_keeps_values(expr, point):
    e = sp.log(1 + sp.exp(expr)) + (sp.exp(expr * X) - 1) / (1 + sp.exp(-Y))
    once = stable(e)
    assert stable(once) == once
    values = dict(zip(VARS, point))
    with np.errstate(all="ignore"):
        a, b = float(evaluate(e, values)), float(evaluate(once, values))
    if math.isfinite(a):
        assert close(a, b, 1e-9, 1e-12)
    else:   # an overflow the rewrite removes, a NaN, or the same infinity (exp(1024) both ways)
        assert math.isfinite(b) or math.isnan(a) or b == a
