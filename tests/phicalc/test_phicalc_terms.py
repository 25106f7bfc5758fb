"""Terms: auto-evaluation, derivative rules against SymPy's calculus on expanded forms,
push_phi identities, normalize, Geom."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from phicalc import (Clip, Geom, Maximum, Minimum, Phi, Sigmoid, Sign, Softplus, normalize,
                     push_phi, to_sympy, vjp)
from phicalc_helpers import (VARS, X, Y, Z, close, evaluate, expressions, kink_margin, points,
                             sympy_value)

C = sp.Symbol("c")  # a recorded bool


def test_phi_auto_evaluation():
    assert Phi(True, X, Y) == X
    assert Phi(sp.true, X, Y) == X
    assert Phi(sp.false, X, Y) == Y
    assert Phi(sp.Integer(3) > 0, X, Y) == X
    assert Phi(C, X, X) == X
    assert Phi(C, Phi(C, X, Y), Z) == Phi(C, X, Z)
    assert Phi(C, Z, Phi(C, X, Y)) == Phi(C, Z, Y)
    assert Phi(sp.Not(C), X, Y) == Phi(C, Y, X)
    assert Phi(X > 0, X, Y).is_commutative
    assert Phi(X > 0, X, Y).is_real


def test_kinked_terms_evaluate_like_numpy():
    assert Maximum(2, 3) == 3 and Minimum(2, 3) == 2 and Maximum(X, X) == X
    assert Sign(sp.Integer(-4)) == -1 and Sign(sp.Integer(0)) == 0 and Sign(-X) == -Sign(X)
    assert Clip(5, 0, 1) == 1 and Clip(-5, 0, 1) == 0 and Clip(sp.Rational(1, 2), 0, 1) == sp.S.Half
    assert Softplus(0) == sp.log(2) and Sigmoid(0) == sp.S.Half


def test_derivative_rules_by_hand():
    assert Phi(X > 0, X ** 2, Y).diff(X) == Phi(X > 0, 2 * X, 0)
    assert Phi(X > Y, X, Y).diff(C) == 0  # the condition is never differentiated
    assert Maximum(X, Y).diff(X) == Phi(X >= Y, 1, 0)
    assert Minimum(X, Y).diff(Y) == Phi(X <= Y, 0, 1)
    assert Sign(X).diff(X) == 0
    assert vjp([sp.Abs(X)], [X], [1])[0] == Sign(X)
    assert Softplus(X).diff(X) == Sigmoid(X)
    assert Sigmoid(X).diff(X) == Sigmoid(X) * Sigmoid(-X)
    assert Geom(X, Y).diff(X) == Geom(X, Y, 1)


def test_ties_and_kinks_take_the_branch_numpy_takes():
    # np.maximum(a, b) returns a at a tie, so a gets the derivative.
    gx, gy = vjp([Maximum(X, Y)], [X, Y], [1])
    assert evaluate(gx, {X: 1.0, Y: 1.0}) == 1 and evaluate(gy, {X: 1.0, Y: 1.0}) == 0
    gx, gy = vjp([Minimum(X, Y)], [X, Y], [1])
    assert evaluate(gx, {X: 1.0, Y: 1.0}) == 1 and evaluate(gy, {X: 1.0, Y: 1.0}) == 0
    # |x|' at 0 is Sign(0) = 0; Clip's bounds belong to the inside.
    assert evaluate(vjp([sp.Abs(X)], [X], [1])[0], {X: 0.0}) == 0
    g = vjp([Clip(X, Y, Z)], [X, Y, Z], [1])
    assert [evaluate(e, {X: 0.0, Y: 0.0, Z: 1.0}) for e in g] == [1, 0, 0]
    assert [evaluate(e, {X: -1.0, Y: 0.0, Z: 1.0}) for e in g] == [0, 1, 0]
    assert [evaluate(e, {X: 2.0, Y: 0.0, Z: 1.0}) for e in g] == [0, 0, 1]


# Each template has kinks; our derivative must equal SymPy's derivative of the expanded
# (Piecewise / Max / sign) form on either side of them.
TEMPLATES = [
    Phi(X > Y, X ** 2 * Y, sp.sin(X) + Y),
    Phi(sp.And(X > 0, Y < 1), sp.exp(X) * Y, X - Y ** 3),
    Phi(X > 0, sp.sqrt(1 + X * Y ** 2), Phi(Y > X, X * Y, -X)),
    Maximum(X * Y, sp.cos(X)) + Minimum(X, Y ** 2),
    Clip(X * Y, -0.5, Z) * Y,
    Sign(X - Y) * X ** 2 + sp.Abs(X * Y - 1),
    Softplus(X * Y) + Sigmoid(X - Z),
    sp.log(1 + Maximum(X, 0) ** 2) * Phi(Z > 0, Z, 1),
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TEMPLATES), points)
def test_rules_agree_with_sympy_on_expanded_forms(expr, point):
    values = dict(zip(VARS, point))
    assume(kink_margin(expr, values) > 1e-3)
    expanded = to_sympy(expr)
    assert not expanded.has(Phi, Maximum, Minimum, Clip, Softplus, Sigmoid, Sign)
    assert close(evaluate(expr, values), sympy_value(expanded, values), 1e-10, 1e-12)
    ours = vjp([expr], list(VARS), [1])
    for v, d in zip(VARS, ours):
        reference = sympy_value(sp.diff(expanded, v), values)
        assert close(evaluate(d, values), reference, 1e-9, 1e-11), (v, d)
        # sympy.diff on our terms uses the same rules
        assert close(evaluate(sp.diff(expr, v), values), reference, 1e-9, 1e-11)


@settings(max_examples=80, deadline=None)
@given(expressions(10), points, st.sampled_from([C, X > 0, Y > Z]))
def test_push_phi_is_an_identity_and_idempotent(expr, point, cond):
    e = Phi(cond, expr * X, expr * Y + 1) + sp.exp(Phi(cond, expr, 0)) * Phi(cond, 2, Z)
    pushed = push_phi(e)
    assert push_phi(pushed) == pushed
    for c in (True, False):
        values = dict(zip(VARS, point))
        values[C] = c
        a, b = evaluate(e, values), evaluate(pushed, values)
        assert close(a, b, 1e-9, 1e-9) or (math.isnan(a) and math.isnan(b))


def test_push_phi_examples():
    assert push_phi(sp.exp(Phi(C, X, 0))) == Phi(C, sp.exp(X), 1)
    assert push_phi(Phi(C, 2 * X * Y, 2 * X * Z)) == 2 * X * Phi(C, Y, Z)
    assert push_phi(Phi(C, 1, 0) * Y + Phi(C, 0, 3) * Y) == Y * Phi(C, 1, 3)
    assert push_phi(Phi(C, X + Z, Y + Z)) == Z + Phi(C, X, Y)
    assert push_phi(Phi(C, X, Y) * Phi(C, Y, X)) == X * Y
    # a Phi on the branch's own condition is decided at any depth
    assert push_phi(Phi(C, sp.exp(Phi(C, X, Y)) + 1, Z * sp.sin(Phi(C, X, Y)))) == \
        Phi(C, sp.exp(X) + 1, Z * sp.sin(Y))


def test_normalize_removes_sympy_branch_functions():
    e = (sp.Piecewise((X, X > 0), (Y, True)) + sp.Max(X, Y, Z) + sp.Min(X, 1)
         + sp.sign(X) + sp.Heaviside(Y))
    n = normalize(e)
    assert not n.has(sp.Piecewise, sp.Max, sp.Min, sp.sign, sp.Heaviside)
    for point in [(0.3, -0.2, 0.9), (-1.0, 2.0, 0.5), (0.0, 0.0, 0.0)]:
        values = dict(zip(VARS, point))
        assert close(evaluate(n, values), sympy_value(e, values), 1e-12)


@pytest.mark.parametrize("a", [1.0, 0.0, -1.0, 0.5, -0.7, 1.3, 1 + 1e-9, 1 - 1e-6, 0.999])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 40])
@pytest.mark.parametrize("m", [0, 1, 2])
def test_geom_matches_its_definition(a, n, m):
    import mpmath
    mpmath.mp.dps = 40
    # d^m/da^m sum_{k<n} a**k = sum_k k!/(k-m)! a**(k-m)
    exact = sum(math.perm(k, m) * mpmath.mpf(a) ** (k - m) for k in range(m, n))
    N = sp.Symbol("N", integer=True)
    got = evaluate(Geom(X, N, m), {X: a, N: n})
    assert close(got, float(exact), 1e-11, 1e-13), (got, exact)
    assert close(evaluate(Geom(X, N, m), {X: np.array([a, a]), N: n}, array=True)[0],
                 float(exact), 1e-11, 1e-13)


def test_geom_special_values():
    N = sp.Symbol("N", integer=True)
    assert Geom(X, 3) == X ** 2 + X + 1
    assert Geom(1, N) == N
    assert Geom(1, N, 1) == N * (N - 1) / 2
    assert Geom(X, 0) == 0
