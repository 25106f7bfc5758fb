"""Shared helpers for the phicalc tests: symbols, a random-expression strategy and numeric
evaluation of expressions through the emitter (so every numeric test also exercises it)."""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from phicalc import (Clip, Maximum, Minimum, Phi, Sigmoid, Sign, Softplus, emit_function,
                     to_source)

X, Y, Z = sp.symbols("x y z", real=True)
VARS = (X, Y, Z)


def compile_expr(exprs, params, array: bool = False):
    """A Python function evaluating ``exprs`` (a list) via emitted, CSE'd source."""
    src = emit_function("f", params, list(exprs), array=array)
    ns = {"np": np}
    exec(src, ns)
    fn = ns["f"]
    if len(exprs) == 1:
        return lambda *a: (fn(*a),)
    return fn


def evaluate(expr, values: dict, array: bool = False):
    """Value of ``expr`` at ``values`` (symbol -> number) through :func:`to_source`."""
    src = to_source(expr, array=array)
    ns = {"np": np, **{s.name: v for s, v in values.items()}}
    with np.errstate(all="ignore"):
        return eval(src, ns)


def sympy_value(expr, values: dict) -> float:
    """Reference value computed by SymPy itself (no emitter involved)."""
    # 60 digits: enough for log(1 + 1e-20) and exp(800)/(1 + exp(800)) to come out right.
    subs = {s: (v if isinstance(v, bool) else sp.Float(v, 60)) for s, v in values.items()}
    return float(sp.N(expr.xreplace(subs), 30))


# Unary building blocks; every one is finite for all finite real inputs (so finite-difference
# checks never hit a domain edge) and differentiable away from its kinks.
UNARY = [
    lambda u: sp.exp(sp.tanh(u)),
    lambda u: sp.log(1 + u ** 2),
    lambda u: sp.sqrt(1 + u ** 2),
    sp.sin, sp.cos, sp.tanh, sp.atan,
    sp.Abs,
    lambda u: Sign(u) * u ** 2,
    lambda u: Clip(u, -1, 1),
    Softplus, Sigmoid,
    lambda u: u ** 3,
    lambda u: 1 / (1 + u ** 2),
]

BINARY = [
    lambda u, v: u + v,
    lambda u, v: u - v,
    lambda u, v: u * v,
    lambda u, v: u / (2 + v ** 2),
    Maximum, Minimum,
    lambda u, v: Phi(u > v, u * v, u - v),
    lambda u, v: Phi(u > 0, sp.sin(v), v ** 2),
]


def expressions(max_leaves: int = 12):
    """Strategy: random real expressions over x, y, z with branches, kinks and the smooth
    functions above (sizes up to about 100 nodes)."""
    leaves = st.one_of(st.sampled_from(VARS),
                       st.sampled_from([sp.Integer(2), sp.Rational(1, 2), sp.Float(-1.5)]))

    def extend(children):
        return st.one_of(
            st.builds(lambda f, a: f(a), st.sampled_from(UNARY), children),
            st.builds(lambda f, a, b: f(a, b), st.sampled_from(BINARY), children, children),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


points = st.tuples(*[st.floats(-2.0, 2.0, allow_nan=False) for _ in VARS])


def central_difference(fn, point, i, h):
    lo, hi = list(point), list(point)
    lo[i] -= h
    hi[i] += h
    return (fn(*hi) - fn(*lo)) / (2 * h)


def close(a: float, b: float, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def kink_quantities(expr) -> list:
    """Expressions whose zero crossings are the kinks/jumps of ``expr`` (Phi conditions,
    Maximum/Minimum ties, Abs/Sign/Clip breakpoints)."""
    out = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, Phi):
            for rel in sp.preorder_traversal(node.args[0]):
                if isinstance(rel, sp.core.relational.Relational):
                    out.append(rel.lhs - rel.rhs)
        elif isinstance(node, (Maximum, Minimum)):
            out.append(node.args[0] - node.args[1])
        elif isinstance(node, (sp.Abs, Sign, sp.sign, sp.Heaviside)):
            out.append(node.args[0])
        elif isinstance(node, Clip):
            out += [node.args[0] - node.args[1], node.args[0] - node.args[2]]
        elif isinstance(node, (sp.Max, sp.Min)):
            a = node.args
            out += [a[i] - a[j] for i in range(len(a)) for j in range(i + 1, len(a))]
    return out


def kink_margin(expr, values: dict) -> float:
    """Smallest |kink quantity| at ``values`` (inf when the expression has no kinks)."""
    qs = kink_quantities(expr)
    if not qs:
        return math.inf
    return min(abs(float(evaluate(q, values))) for q in qs)
