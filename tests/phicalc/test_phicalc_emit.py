"""Emission: printed forms, values against SymPy, CSE, and Numba nopython compatibility."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from sympy.codegen.cfunctions import expm1, log1p

from phicalc import (PHICALC_FUNCTIONS, Clip, Geom, Maximum, Minimum, Phi, Sigmoid, Sign,
                     Softplus, can_emit, cse, emit_function, to_source, to_sympy, vjp)
from phicalc.emit import NUMPY_FUNCTIONS
from phicalc.lowering import lower
from phicalc_helpers import VARS, X, Y, Z, close, evaluate, expressions, points, sympy_value

C = sp.Symbol("c")
N = sp.Symbol("n", integer=True)


@pytest.mark.parametrize("expr, scalar, array", [
    (X ** 2, "x*x", "x*x"),
    (X ** 3, "x*x*x", "x*x*x"),
    (X ** 7, "x**7", "x**7"),
    (X ** -1, "1.0/x", "1.0/x"),
    (X ** -2, "1.0/(x*x)", "1.0/(x*x)"),
    (sp.sqrt(X), "np.sqrt(x)", "np.sqrt(x)"),
    (1 / sp.sqrt(X), "1.0/np.sqrt(x)", "1.0/np.sqrt(x)"),
    (X ** sp.Rational(3, 2), "np.power(x, 1.5)", "np.power(x, 1.5)"),
    (sp.Rational(1, 2) * X, "0.5*x", "0.5*x"),
    (X - 1, "x - 1.0", "x - 1.0"),
    (Y / (X * Z), "y/(x*z)", "y/(x*z)"),
    (X ** N, "x**n", "x**n"),
    (Phi(X > 0, X, -X), "(x if x > 0.0 else -x)", "np.where(x > 0.0, x, -x)"),
    (Phi(sp.And(X > 0, C), X, Y), "(x if c & (x > 0.0) else y)",
     "np.where(c & (x > 0.0), x, y)"),
    (Phi(sp.Not(X > Y) | C, 1, 2), "(1.0 if c | (x <= y) else 2.0)",
     "np.where(c | (x <= y), 1.0, 2.0)"),
    (Phi(X > 0, 0, Y), "(0.0 if x > 0.0 else y)", "np.where(x > 0.0, 0.0, y)"),
    (3 * X ** 2, "3.0*x*x", "3.0*x*x"),
    (Softplus(X), "(np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))",
     "(np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))"),
    (Softplus(2 * X), "np.logaddexp(0.0, 2.0*x)", "np.logaddexp(0.0, 2.0*x)"),
    (Maximum(X, Y) + Minimum(X, 0), "np.maximum(x, y) + np.minimum(x, 0.0)",
     "np.maximum(x, y) + np.minimum(x, 0.0)"),
    (Clip(X, 0, 1), "np.minimum(1.0, np.maximum(0.0, x))",
     "np.minimum(1.0, np.maximum(0.0, x))"),
    (Sign(X) * sp.Abs(Y), "np.abs(y)*(np.sign(x) + 0.0)", "np.abs(y)*(np.sign(x) + 0.0)"),
    (log1p(X) + expm1(Y), "np.expm1(y) + np.log1p(x)", "np.expm1(y) + np.log1p(x)"),
    (sp.atan(X) * sp.tanh(Y), "np.arctan(x)*np.tanh(y)", "np.arctan(x)*np.tanh(y)"),
])
def test_printed_forms(expr, scalar, array):
    assert to_source(expr, array=False) == scalar
    assert to_source(expr, array=True) == array


@settings(max_examples=100, deadline=None)
@given(expressions(14), points)
def test_source_evaluates_like_sympy(expr, point):
    values = dict(zip(VARS, point))
    reference = sympy_value(to_sympy(expr), values)
    assert close(float(evaluate(expr, values)), reference, 1e-10, 1e-12)
    arrays = {k: np.array([v, v]) for k, v in values.items()}
    got = evaluate(expr, arrays, array=True)
    assert close(float(np.broadcast_to(got, (2,))[1]), reference, 1e-10, 1e-12)


@settings(max_examples=60, deadline=None)
@given(expressions(14), expressions(8), points)
def test_cse_reconstructs_its_input(e1, e2, point):
    exprs = [e1 * e2 + sp.sin(e1), e2 - e1, sp.exp(e1 * e2)]
    assignments, reduced = cse(exprs)
    names = [t.name for t, _ in assignments]
    assert names == [f"t{i}" for i in range(len(names))]
    back = list(reduced)
    for t, value in reversed(assignments):
        back = [r.xreplace({t: value}) for r in back]
    values = dict(zip(VARS, point))
    for r, e in zip(back, exprs):
        assert r == lower(e) or close(float(evaluate(r, values)), float(evaluate(e, values)),
                                      1e-12, 1e-12)


def test_cse_names_skip_taken_symbols_and_share_conditions():
    t0 = sp.Symbol("t0", real=True)
    e = Phi(X > Y, sp.sin(X * Y) * t0, sp.cos(X * Y))
    assignments, _ = cse([e, Phi(X > Y, 1, 2) * sp.sin(X * Y)])
    assert "t0" not in [t.name for t, _ in assignments]
    values = [v for _, v in assignments]
    assert X * Y in values and (X > Y) in values


def test_cse_keeps_integer_temporaries_integer():
    e = Geom(X, N, 1)
    assignments, _ = cse([e])
    ints = [t for t, v in assignments if v == N - 1]
    assert ints and ints[0].is_integer


def test_emit_function_round_trip():
    src = emit_function("grad", [X, Y], vjp([sp.sin(X * Y) * Maximum(X, Y)], [X, Y], [1]))
    assert src.startswith("def grad(x, y):")
    ns = {"np": np}
    exec(src, ns)
    gx, gy = ns["grad"](0.5, -0.25)
    assert close(gx, -0.25 * np.cos(-0.125) * 0.5 + np.sin(-0.125))
    assert close(gy, 0.5 * np.cos(-0.125) * 0.5)


def test_every_term_and_function_can_be_emitted():
    one_arg = [f for f in NUMPY_FUNCTIONS if f not in (sp.atan2, Maximum, Minimum)]
    for f in one_arg:
        assert can_emit(f(X)), f
    for cls in PHICALC_FUNCTIONS:
        args = {Phi: (X > 0, X, Y), Maximum: (X, Y), Minimum: (X, Y), Clip: (X, Y, Z),
                Geom: (X, N, 1)}.get(cls, (X,))
        assert can_emit(cls(*args)), cls
    mystery = sp.Function("mystery")(X)
    assert not can_emit(mystery)
    with pytest.raises(NotImplementedError, match="mystery"):
        to_source(mystery)


def test_output_is_deterministic():
    a = to_source(sp.sin(X) * Y + Phi(X > Y, X, Z) - 3 * X)
    b = to_source(-3 * X + Phi(X > Y, X, Z) + Y * sp.sin(X))
    assert a == b


EVERYTHING = [
    sp.exp(X) + sp.log(1 + X * X) + log1p(X * X) + expm1(X) + sp.sin(X) * sp.cos(Y),
    sp.tan(X / 4) + sp.asin(X / 3) + sp.acos(Y / 3) + sp.atan(X) + sp.atan2(X, Y),
    sp.sinh(X) + sp.cosh(Y) + sp.tanh(X) + sp.asinh(X) + sp.acosh(2 + Y * Y) + sp.atanh(X / 3),
    sp.Abs(X) * Sign(Y) + sp.floor(X) + sp.ceiling(Y) + sp.Mod(X, 1 + Y * Y),
    Maximum(X, Y) + Minimum(X, Z) + Clip(X, -1, 1) + Softplus(X) + Sigmoid(Y),
    Phi(sp.And(X > Y, Z < 1), X ** 2, Y ** 3) + Phi(C, sp.sqrt(1 + X * X), 1 / (1 + Y * Y)),
    Geom(Y, N) + Geom(Y, N, 1) + X ** N + sp.Rational(1, 3) * X ** 5,
    sp.log(1 + sp.exp(X)) + sp.exp(X) / (1 + sp.exp(X)),
]


ARRAY_FORMS = (Phi(sp.And(X > Y, sp.Not(C)), Maximum(X, Z), Softplus(Y))
               / (2 + Geom(Y, N) ** 2) + Sigmoid(X))


@pytest.mark.slow
@pytest.mark.parametrize("array", [False, True])
def test_emitted_source_compiles_under_numba_nopython(array):
    numba = pytest.importorskip("numba")
    params = [X, Y, Z, C, N]
    # Array mode differs only in how branches and booleans print; typing ufuncs on arrays
    # costs Numba seconds each, so it gets one expression with every array-specific form.
    exprs = [ARRAY_FORMS] if array else EVERYTHING
    src = emit_function("f", params, exprs, array=array)
    ns = {"np": np}
    exec(src, ns)
    jitted = numba.njit(ns["f"])
    if array:
        xs = np.array([0.3, -0.7, 1.2])
        args = (xs, xs[::-1].copy(), xs * 0.5, True, 7)
    else:
        args = (0.3, -0.7, 0.6, True, 7)
    with np.errstate(all="ignore"):
        expected = ns["f"](*args)
    got = jitted(*args)
    for e, g in zip(expected, got):
        assert np.allclose(g, e, rtol=1e-12, atol=1e-12)
    # and the scalar form agrees with SymPy
    if not array:
        values = dict(zip(params, args))
        for expr, g in zip(exprs, got):
            assert close(float(g), sympy_value(to_sympy(expr), values), 1e-10, 1e-12)
