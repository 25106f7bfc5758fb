"""Numerically stable rewrites.

Input: a SymPy expression (typically a derivative about to be emitted).
Output: an equal expression that does not overflow or cancel where the naive form does:
- ``log(1 + exp(x))`` and ``log1p(exp(x))`` -> ``Softplus(x)`` (``np.logaddexp(0, x)``);
- ``log(exp(a) + exp(b))`` -> ``a + Softplus(b - a)``;
- ``log(1 + x)`` -> ``log1p(x)``; ``exp(x) - 1`` -> ``expm1(x)``; ``1 - exp(x)`` -> ``-expm1(x)``;
- ``log(exp(x))`` -> ``x`` (real x);
- ``1/(1 + exp(-x))`` -> ``Sigmoid(x)``, ``exp(x)/(1 + exp(x))`` -> ``Sigmoid(x)``,
  ``1 - Sigmoid(x)`` -> ``Sigmoid(-x)``, ``log(Sigmoid(x))`` -> ``-Softplus(-x)``.

Invariants: one bottom-up pass with local pattern checks (linear cost, no ``simplify``);
idempotent (no rule's output matches another rule's input).
"""

from __future__ import annotations

import sympy as sp
from sympy import S
from sympy.codegen.cfunctions import expm1, log1p

from phicalc.terms import Sigmoid, Softplus
from phicalc.walk import bottom_up


def _split_exp_term(rest: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr] | None:
    """``(sign, u, others)`` with rest = sign*exp(u) + others, sign = +-1, or None."""
    for t in sp.Add.make_args(rest):
        if isinstance(t, sp.exp):
            return S.One, t.args[0], rest - t
        if t.is_Mul and len(t.args) == 2 and t.args[0] == -1 and isinstance(t.args[1], sp.exp):
            return S.NegativeOne, t.args[1].args[0], rest - t
    return None


def _stable_log(x: sp.Expr) -> sp.Expr | None:
    if isinstance(x, sp.exp):
        return x.args[0]
    if isinstance(x, Sigmoid):
        return -Softplus(-x.args[0])
    if not isinstance(x, sp.Add):
        return None
    const, rest = x.as_coeff_Add()
    if const == 1:
        if isinstance(rest, sp.exp):
            return Softplus(rest.args[0])
        return log1p(rest)
    if const == 0 and len(x.args) == 2 and all(isinstance(t, sp.exp) for t in x.args):
        a, b = (t.args[0] for t in x.args)
        return a + Softplus(b - a)
    return None


def _stable_add(e: sp.Add) -> sp.Expr | None:
    const, rest = e.as_coeff_Add()
    if const == -1:
        found = _split_exp_term(rest)
        if found is not None and found[0] == 1:
            return expm1(found[1]) + found[2]
    if const == 1:
        found = _split_exp_term(rest)
        if found is not None and found[0] == -1:
            return found[2] - expm1(found[1])
        if isinstance(-rest, Sigmoid):
            return Sigmoid(-(-rest).args[0])
    return None


def _stable_pow(e: sp.Pow) -> sp.Expr | None:
    base, ex = e.args
    if not (ex.is_Integer and ex < 0 and isinstance(base, sp.Add)):
        return None
    const, rest = base.as_coeff_Add()
    if const == 1 and isinstance(rest, sp.exp):
        return Sigmoid(-rest.args[0]) ** (-ex)
    return None


def _stable_mul(e: sp.Mul) -> sp.Expr | None:
    # exp(u) * Sigmoid(-u) = Sigmoid(u): what exp(u)/(1 + exp(u)) became bottom-up.
    factors = list(e.args)
    for i, f in enumerate(factors):
        if not isinstance(f, sp.exp):
            continue
        u = f.args[0]
        for j, g in enumerate(factors):
            base, power = g.as_base_exp()
            if isinstance(base, Sigmoid) and base.args[0] == -u and power.is_Integer and power > 0:
                factors[j] = base ** (power - 1)
                factors[i] = Sigmoid(u)
                return sp.Mul(*factors)
    return None


def _stable_rule(e: sp.Basic) -> sp.Basic | None:
    if isinstance(e, sp.log):
        return _stable_log(e.args[0])
    if isinstance(e, log1p) and isinstance(e.args[0], sp.exp):
        return Softplus(e.args[0].args[0])
    if isinstance(e, sp.Add):
        return _stable_add(e)
    if isinstance(e, sp.Pow):
        return _stable_pow(e)
    if isinstance(e, sp.Mul):
        return _stable_mul(e)
    return None


def stable(expr: sp.Basic) -> sp.Basic:
    """Rewrite ``expr`` into numerically stable forms (see the module docstring)."""
    out = bottom_up(sp.sympify(expr), _stable_rule)
    # A rewrite can complete a pattern one level up only through its parent, which bottom_up
    # already visits after it; a second pass is a cheap guarantee of idempotence.
    return bottom_up(out, _stable_rule)


__all__ = ["stable"]
