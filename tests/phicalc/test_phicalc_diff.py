"""vjp/jvp: against finite differences and SymPy on random expressions, structure of the
results (no DiracDelta/Heaviside/Piecewise, pruning), and cost."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from phicalc import (Maximum, NoDerivativeError, Phi, Sign, gradient, jvp, push_phi, to_sympy,
                     vjp)
from phicalc.walk import dag_has
from phicalc_helpers import (BINARY, UNARY, VARS, X, Y, Z, central_difference, close,
                             compile_expr, evaluate, expressions, kink_margin, points,
                             sympy_value)
from tests.timing import best_times

FORBIDDEN = (sp.DiracDelta, sp.Heaviside, sp.Piecewise, sp.Derivative, sp.Subs)


@settings(max_examples=120, deadline=None)
@given(expressions(14), points)
def test_vjp_matches_finite_differences(expr, point):
    values = dict(zip(VARS, point))
    assume(kink_margin(expr, values) > 1e-3)
    grads = vjp([expr], list(VARS), [sp.Integer(1)])
    for g in grads:
        assert not g.has(*FORBIDDEN)
    primal = compile_expr([expr], list(VARS))
    grad_fn = compile_expr(grads, list(VARS))
    with np.errstate(all="ignore"):
        f = lambda *a: float(primal(*a)[0])  # noqa: E731
        got = [float(v) for v in grad_fn(*point)]
        for i in range(3):
            fd = central_difference(f, point, i, 1e-6)
            fd2 = central_difference(f, point, i, 1e-5)
            assume(np.isfinite(fd) and abs(fd - fd2) < 1e-4 * (1 + abs(fd)))  # smooth here
            assert close(got[i], fd, 1e-5, 1e-6), (i, got[i], fd, grads[i])


@settings(max_examples=60, deadline=None)
@given(expressions(8), points)
def test_vjp_matches_sympy_diff_of_expanded_form(expr, point):
    values = dict(zip(VARS, point))
    assume(kink_margin(expr, values) > 1e-3)
    expanded = to_sympy(expr)
    for v, g in zip(VARS, vjp([expr], list(VARS), [1])):
        reference = sympy_value(sp.diff(expanded, v), values)
        assert close(float(evaluate(g, values)), reference, 1e-9, 1e-10)


@settings(max_examples=60, deadline=None)
@given(expressions(10), expressions(10), points,
       st.tuples(*[st.floats(-2, 2) for _ in range(3)]))
def test_jvp_is_the_transpose_of_vjp(f, g, point, tangent):
    values = dict(zip(VARS, point))
    cf, cg = sp.symbols("cf cg", real=True)
    # <cotangent, J t> == <J^T cotangent, t> for two outputs with symbolic cotangents.
    vj = vjp([f, g], list(VARS), [cf, cg])
    jv = jvp([f, g], list(VARS), [sp.Float(t) for t in tangent])
    values.update({cf: 0.7, cg: -1.3})
    lhs = 0.7 * evaluate(jv[0], values) - 1.3 * evaluate(jv[1], values)
    rhs = sum(t * evaluate(e, values) for t, e in zip(tangent, vj))
    assume(np.isfinite(lhs) and np.isfinite(rhs))
    assert close(float(lhs), float(rhs), 1e-8, 1e-9)


def test_no_dirac_heaviside_or_piecewise_leak():
    exprs = [
        sp.Abs(X) * Y, sp.sign(X) * X ** 2, sp.Max(X, Y, Z), sp.Min(X, Y) ** 2,
        sp.Heaviside(X) * Y, sp.Piecewise((X ** 2, X > 0), (Y * X, True)),
        Sign(X) * sp.Abs(sp.sin(Y)), sp.Abs(sp.Abs(X) - Y), sp.floor(X) * Y + sp.Mod(X, Y),
    ]
    for e in exprs:
        for order in (1, 2):
            grads = vjp([e], list(VARS), [1])
            for g in grads:
                assert not g.has(*FORBIDDEN), (e, g)
            e = grads[0]  # second derivatives as well
        for t in jvp([e], list(VARS), [1, 2, 3]):
            assert not t.has(*FORBIDDEN)


def test_phi_derivative_stays_a_phi():
    c = sp.Symbol("c")
    assert vjp([Phi(c, X ** 2, Y)], [X, Y], [1]) == [Phi(c, 2 * X, 0), Phi(c, 0, 1)]
    assert jvp([Phi(c, X ** 2, Y)], [X, Y], [1, 1]) == [Phi(c, 2 * X, 1)]
    # the condition is never differentiated, even when it mentions the variable
    assert vjp([Phi(X > 0, X, -X)], [X], [1]) == [Phi(X > 0, 1, -1)]
    # an adjoint routed into both branches merges into one Phi
    g = sp.Symbol("g", real=True)
    assert vjp([Phi(c, X, 0) + Phi(c, 0, X)], [X], [g]) == [g]


def test_pruning_and_zero_cotangents():
    assert vjp([X * Z], [Y], [1]) == [0]
    assert vjp([X * Y, Y], [X, Y], [0, 1]) == [0, 1]
    assert vjp([sp.sin(X)], [X, X], [1]) == [sp.cos(X), sp.cos(X)]
    assert jvp([X * Y], [X], [0]) == [0]
    assert gradient(X * Y, [X, Y]) == [Y, X]


def test_unknown_function_raises_naming_it():
    f = sp.Function("mystery")
    with pytest.raises(NoDerivativeError, match="mystery"):
        vjp([f(X) * Y], [X], [1])


def _random_expression(rng: random.Random, leaves: int) -> sp.Expr:
    """A deterministic random expression with about ``leaves`` leaves (~100 nodes for 25)."""
    if leaves <= 1:
        return rng.choice(VARS)
    if rng.random() < 0.3:
        return rng.choice(UNARY)(_random_expression(rng, leaves - 1))
    left = rng.randint(1, leaves - 1)
    return rng.choice(BINARY)(_random_expression(rng, left),
                              _random_expression(rng, leaves - left))


def test_vjp_cost_on_hundred_node_expressions():
    """Linear time: the cost per operation of vjp on ~100-node expressions is within a
    generous factor of its cost per operation on ~12-node ones (same process, so a busy
    machine slows both; quadratic behaviour would be ~8x). No wall-clock bound."""
    rng = random.Random(0)
    small = [_random_expression(rng, 3) for _ in range(40)]
    large = [_random_expression(rng, 25) for _ in range(5)]
    ops = {id(group): sum(sp.count_ops(e, visual=False) for e in group) for group in (small, large)}
    assert 30 < ops[id(large)] / len(large)

    times = best_times(*(lambda group=group: [vjp([e], list(VARS), [1]) for e in group] for group in (large, small)),
                       before=sp.core.cache.clear_cache)
    ratio = (times[0] / ops[id(large)]) / (times[1] / ops[id(small)])
    assert ratio < 4.0, f"vjp costs {ratio:.1f}x more per operation on 100-node expressions"


def chain(length: int) -> sp.Expr:
    e = X
    for _ in range(length):
        e = sp.sin(e) * sp.cos(e) + Maximum(e, Y)
    return e


def test_shared_subexpressions_are_differentiated_once():
    # A chain of 60 squarings shares every node; a tree walk would take 2**60 steps.
    # Linear in the DAG: twice the chain, about twice the time (a tree walk: 256x), measured
    # in the same process; the 60-step chain below would never finish with a tree walk.
    long, short = best_times(lambda: vjp([chain(16)], [X, Y], [1]), lambda: vjp([chain(8)], [X, Y], [1]))
    ratio = long / short
    assert ratio < 8.0, f"a chain twice as long took {ratio:.1f}x as long"
    e = chain(60)
    gx, gy = vjp([e], [X, Y], [1])
    assert not dag_has(gx, FORBIDDEN)
    values = (0.3, 0.1)
    grad = compile_expr([gx, gy], [X, Y])(*values)
    primal = compile_expr([e], [X, Y])
    fd = central_difference(lambda *a: primal(*a)[0], values, 1, 1e-6)
    assert close(grad[1], fd, 1e-5, 1e-7)


def test_push_phi_on_gradients_keeps_values():
    e = Phi(X > Y, sp.exp(X) * Y, X - Y) * Phi(X > Y, Y, 1)
    values = {X: 0.3, Y: -0.4}
    for g in vjp([e], [X, Y], [1]):
        assert close(evaluate(push_phi(g), values), evaluate(g, values), 1e-12)
