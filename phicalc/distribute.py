"""Algebra of Phi: distributing operations over branches and merging branches.

Input: SymPy expressions containing :class:`phicalc.terms.Phi`.
Output: equal expressions in which Phi sits where it costs least:
- ``f(Phi(c, a, b)) -> Phi(c, f(a), f(b))`` for functions and powers (no operand is
  duplicated, and f often folds on a constant branch: ``exp(Phi(c, x, 0))`` -> ``Phi(c, e**x, 1)``);
- sums and products of Phis on the same condition merge branchwise;
- a factor multiplying a Phi with a zero branch moves into the other branch (nothing is
  duplicated and the product folds to 0 on the zero side);
- common factors and common terms of the two branches move out of the Phi;
- inside a branch, a Phi on the same condition is decided (at any depth).

Invariants: every rewrite is an identity for every value of the condition; no rule undoes
another (factors move in only next to a zero branch, and out only when both branches are
nonzero), so :func:`push_phi` terminates and is idempotent.
"""

from __future__ import annotations

from collections import Counter

import sympy as sp
from sympy import S

from phicalc.terms import Phi
from phicalc.walk import rebuild

_Expr = sp.Expr


def scale(factor: _Expr, expr: _Expr) -> _Expr:
    """``factor * expr``, pushing ``factor`` into Phis of ``expr`` that have a zero branch.

    Used by differentiation: a partial such as ``Phi(c, 1, 0)`` times a cotangent ``g``
    becomes ``Phi(c, g, 0)`` rather than a product the emitter would evaluate on both sides.
    """
    if factor == 0 or expr == 0:
        return S.Zero
    if factor == 1:
        return expr
    if expr == 1:
        return factor
    if isinstance(expr, Phi) and (expr.args[1] == 0 or expr.args[2] == 0):
        c, a, b = expr.args
        return Phi(c, scale(factor, a), scale(factor, b))
    if isinstance(factor, Phi) and (factor.args[1] == 0 or factor.args[2] == 0):
        return scale(expr, factor)
    return factor * expr


def _as_phi_term(term: _Expr) -> tuple[sp.Basic, _Expr, _Expr] | None:
    """``(c, a, b)`` when ``term`` is a Phi, possibly times a numeric coefficient."""
    if isinstance(term, Phi):
        return term.args
    if isinstance(term, sp.Mul):
        coeff, rest = term.as_coeff_Mul()
        if coeff != 1 and isinstance(rest, Phi):
            c, a, b = rest.args
            return c, coeff * a, coeff * b
    return None


def add_terms(terms: list[_Expr]) -> _Expr:
    """Sum ``terms``, merging Phis on the same condition: ``Phi(c, a, b) + Phi(c, d, e)`` ->
    ``Phi(c, a + d, b + e)`` (recursively inside the merged branches)."""
    plain: list[_Expr] = []
    groups: dict[sp.Basic, tuple[list[_Expr], list[_Expr]]] = {}
    for t in terms:
        for arg in sp.Add.make_args(t):
            phi = _as_phi_term(arg)
            if phi is None:
                plain.append(arg)
                continue
            c, a, b = phi
            yes, no = groups.setdefault(c, ([], []))
            yes.append(a)
            no.append(b)
    merged = []
    for c, (yes, no) in groups.items():
        if len(yes) == 1:
            merged.append(Phi(c, yes[0], no[0]))
        else:
            merged.append(Phi(c, add_terms(yes), add_terms(no)))
    return sp.Add(*plain, *merged)


def _mul_phis(factors: list[_Expr]) -> _Expr:
    """Product of ``factors`` with same-condition Phis merged and factors moved into a Phi
    that has a zero branch."""
    others: list[_Expr] = []
    groups: dict[sp.Basic, tuple[list[_Expr], list[_Expr]]] = {}
    for f in factors:
        if isinstance(f, Phi):
            yes, no = groups.setdefault(f.args[0], ([], []))
            yes.append(f.args[1])
            no.append(f.args[2])
        else:
            others.append(f)
    phis = [Phi(c, sp.Mul(*yes), sp.Mul(*no)) for c, (yes, no) in groups.items()]
    out: _Expr = sp.Mul(*others)
    rest: list[_Expr] = []
    for p in phis:
        if isinstance(p, Phi) and (p.args[1] == 0 or p.args[2] == 0):
            out = scale(out, p)
        else:
            rest.append(p)
    return out * sp.Mul(*rest) if rest else out


def _pull_common(c: sp.Basic, a: _Expr, b: _Expr) -> _Expr:
    """``Phi(c, a, b)`` with common additive terms and common factors moved outside."""
    if a == 0 or b == 0:
        return Phi(c, a, b)
    ta, tb = Counter(sp.Add.make_args(a)), Counter(sp.Add.make_args(b))
    common_terms = ta & tb
    if common_terms:
        shared = sp.Add(*common_terms.elements())
        rest_a = sp.Add(*(ta - common_terms).elements())
        rest_b = sp.Add(*(tb - common_terms).elements())
        return shared + _pull_common(c, rest_a, rest_b)
    ca, ra = a.as_coeff_Mul()
    cb, rb = b.as_coeff_Mul()
    coeff = ca if ca == cb else S.One
    fa = Counter(sp.Mul.make_args(ra if coeff != 1 else a))
    fb = Counter(sp.Mul.make_args(rb if coeff != 1 else b))
    common = fa & fb
    if not common and coeff == 1:
        return Phi(c, a, b)
    shared = coeff * sp.Mul(*common.elements())
    return shared * Phi(c, sp.Mul(*(fa - common).elements()), sp.Mul(*(fb - common).elements()))


def _has_phi_on(expr: _Expr, cond: sp.Basic) -> bool:
    """Whether a ``Phi(cond, ..)`` occurs in ``expr`` (each distinct node visited once)."""
    seen: set[sp.Basic] = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if e in seen or not e.args:
            continue
        if isinstance(e, Phi) and e.args[0] == cond:
            return True
        seen.add(e)
        stack.extend(e.args)
    return False


def _decide(expr: _Expr, cond: sp.Basic, value: bool) -> _Expr:
    """``expr`` with every ``Phi(cond, a, b)`` inside replaced by ``a`` (value) or ``b``."""
    if not _has_phi_on(expr, cond):
        return expr

    memo: dict[sp.Basic, sp.Basic] = {}

    def visit(e: sp.Basic) -> sp.Basic:
        hit = memo.get(e)
        if hit is not None:
            return hit
        if isinstance(e, Phi) and e.args[0] == cond:
            out = visit(e.args[1] if value else e.args[2])
        elif not e.args:
            out = e
        else:
            args = tuple(visit(a) for a in e.args)
            if all(new is old for new, old in zip(args, e.args)):
                out = e
            elif isinstance(e, Phi):
                out = e.func(*args)  # may collapse
            else:
                # No SymPy evaluation: it re-asks the assumption system about every rebuilt
                # node (milliseconds each); push_phi re-normalises the result anyway.
                out = e.func(*args, evaluate=False)
        memo[e] = out
        return out

    return visit(expr)


def _push_rule(e: sp.Basic) -> sp.Basic | None:
    if isinstance(e, Phi):
        c, a, b = e.args
        # Inside a branch its condition is known: Phi(c, f(Phi(c, u, v)), ..) -> Phi(c, f(u), ..)
        a2, b2 = _decide(a, c, True), _decide(b, c, False)
        if a2 is not a or b2 is not b:
            return Phi(c, a2, b2)
        return _pull_common(c, a, b)
    if isinstance(e, sp.Add):
        if any(_as_phi_term(t) is not None for t in e.args):
            return add_terms(list(e.args))
        return None
    if isinstance(e, sp.Mul):
        if any(isinstance(f, Phi) for f in e.args):
            return _mul_phis(list(e.args))
        return None
    if isinstance(e, sp.Pow):
        base, ex = e.args
        if isinstance(base, Phi) and not ex.has(Phi):
            c, a, b = base.args
            return _pull_common(c, a ** ex, b ** ex)
        if isinstance(ex, Phi) and not base.has(Phi):
            c, a, b = ex.args
            return _pull_common(c, base ** a, base ** b)
        return None
    if isinstance(e, sp.Function) and not isinstance(e, Phi) and len(e.args) >= 1:
        return _push_into_function(e)
    return None


def _push_into_function(e: sp.Function) -> sp.Expr | None:
    """``f(.., Phi(c, a, b), ..) -> Phi(c, f(..a..), f(..b..))`` when every Phi argument has
    the same condition and the other arguments are atoms (so nothing big is duplicated)."""
    phis = [a for a in e.args if isinstance(a, Phi)]
    if not phis:
        return None
    cond = phis[0].args[0]
    if any(p.args[0] != cond for p in phis):
        return None
    if any(not isinstance(a, Phi) and not a.is_Atom for a in e.args):
        return None
    yes = [a.args[1] if isinstance(a, Phi) else a for a in e.args]
    no = [a.args[2] if isinstance(a, Phi) else a for a in e.args]
    return _pull_common(cond, e.func(*yes), e.func(*no))


def push_phi(expr: sp.Basic) -> sp.Basic:
    """Distribute functions and arithmetic over Phi where that helps, merge Phis on equal
    conditions, and pull common factors/terms out of the branches.

    Examples: ``exp(Phi(c, x, 0))`` -> ``Phi(c, exp(x), 1)``;
    ``Phi(c, 2*x*y, 2*x*z)`` -> ``2*x*Phi(c, y, z)``;
    ``Phi(c, a, 0) * g + Phi(c, 0, b) * g`` -> ``g * Phi(c, a, b)``.
    One bottom-up pass over the expression DAG; a node a rule rewrites is normalised again
    (cost linear in the size of the result).
    """
    memo: dict[sp.Basic, sp.Basic] = {}

    def visit(e: sp.Basic, depth: int) -> sp.Basic:
        hit = memo.get(e)
        if hit is not None:
            return hit
        if e.is_Atom or not e.args:
            return e
        args = tuple(visit(a, 0) for a in e.args)
        rebuilt = rebuild(e, args) if args != e.args else e
        out = _push_rule(rebuilt)
        if out is None or out == rebuilt:
            out = rebuilt
        elif depth < _MAX_REWRITE_DEPTH:
            # A rewrite builds new nodes (exp(a), exp(b) from exp(Phi(c, a, b))) that may
            # match a rule themselves: normalise them before going up.
            out = visit(out, depth + 1)
        memo[e] = out
        return out

    return visit(expr, 0)


_MAX_REWRITE_DEPTH = 16  # rules do not undo each other; this only bounds a surprise


__all__ = ["push_phi", "scale", "add_terms"]
