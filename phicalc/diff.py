"""Symbolic vector-Jacobian and Jacobian-vector products over the phi-calculus.

Input: output expressions (SymPy, possibly with phicalc terms, SymPy's Piecewise/Max/Min/sign,
which are normalised first), the symbols to differentiate with respect to, and one cotangent
(vjp) or tangent (jvp) expression per output/input.
Output: one expression per ``wrt`` symbol (vjp) or per output (jvp).

How: one pass over the expression DAG (shared subtrees are visited once). vjp accumulates
adjoints from the outputs down in reverse topological order, so the cost is linear in the size
of the expressions, whatever the number of ``wrt`` symbols; jvp pushes tangents up in
topological order. Each node contributes its partials (``PARTIALS`` below, else the SymPy
function's ``fdiff``), multiplied in with :func:`phicalc.distribute.scale` so a branch
selector ``Phi(c, 1, 0)`` routes the adjoint into one branch instead of multiplying it.

Invariants: a Phi condition is never differentiated; subtrees that do not depend on ``wrt``
are never visited; results contain no DiracDelta, Heaviside, Piecewise or Derivative (a
function without a rule raises :class:`NoDerivativeError`). No ``sympy.simplify``: the only
simplification is SymPy's automatic canonicalisation plus branch merging (linear cost).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import sympy as sp
from sympy import S
from sympy.core.function import ArgumentIndexError

from phicalc.distribute import add_terms, scale
from phicalc.convert import normalize
from phicalc.terms import Phi, Sign, relation
from phicalc.walk import dag_has

_Expr = sp.Expr


class NoDerivativeError(ValueError):
    """A function in the expression has no derivative rule (names the function)."""


# One partials rule per head: expr -> one partial per argument (None = not differentiable,
# treated as zero). Heads not listed fall back to SymPy's fdiff.
PARTIALS: dict[type, Callable[[sp.Basic], tuple[_Expr | None, ...]]] = {}


def defpartials(*heads: type):
    """Register a partials rule for ``heads``; refuses duplicates."""
    def register(rule):
        for h in heads:
            if h in PARTIALS:
                raise ValueError(f"duplicate partials rule for {h.__name__}")
            PARTIALS[h] = rule
        return rule
    return register


@defpartials(sp.Add)
def _add_partials(e: sp.Add) -> tuple[_Expr, ...]:
    return tuple(S.One for _ in e.args)


@defpartials(sp.Mul)
def _mul_partials(e: sp.Mul) -> tuple[_Expr, ...]:
    args = e.args
    return tuple(sp.Mul(*args[:i], *args[i + 1:]) for i in range(len(args)))


@defpartials(sp.Pow)
def _pow_partials(e: sp.Pow) -> tuple[_Expr, ...]:
    base, ex = e.args
    d_base = ex * base ** (ex - 1)
    # d/d ex of base**ex, needed only for a non-constant exponent (skip building log(base)).
    # At base 0 with ex >= 0 the power is 0 (or 1) whatever ex: its derivative is 0 there, not
    # 0 * log(0) = NaN (torch's and JAX's rule too).
    if ex.is_number:
        return d_base, None
    at_zero = relation(sp.GreaterThan, ex, S.Zero)
    if base.is_number and base.is_zero:   # SymPy's log(0) is zoo
        return d_base, Phi(at_zero, S.Zero, S.NaN)
    d_ex = e * sp.log(base)
    if base.is_number:
        return d_base, d_ex
    return d_base, Phi(sp.And(relation(sp.Equality, base, S.Zero), at_zero), S.Zero, d_ex)


@defpartials(sp.Abs)
def _abs_partials(e: sp.Abs) -> tuple[_Expr, ...]:
    # d|x| = Sign(x) dx; at 0 this is 0, the derivative of the branch taken by np.abs.
    return (Sign(e.args[0]),)


@defpartials(Sign, sp.sign, sp.floor, sp.ceiling, sp.Heaviside, sp.frac)
def _piecewise_constant(e: sp.Basic) -> tuple[_Expr, ...]:
    return tuple(S.Zero for _ in e.args)


@defpartials(sp.Mod)
def _mod_partials(e: sp.Mod) -> tuple[_Expr, ...]:
    p, q = e.args
    return S.One, -sp.floor(p / q)


_FORBIDDEN = (sp.DiracDelta, sp.Heaviside, sp.Piecewise, sp.Derivative, sp.Subs)


def partials(e: sp.Basic, clean: set | None = None) -> tuple[_Expr | None, ...]:
    """The partial derivative of ``e`` with respect to each of its arguments.

    ``clean``: nodes known free of DiracDelta & co. (see :func:`phicalc.terms.dag_has`)."""
    rule = PARTIALS.get(type(e))
    if rule is None:
        for head, r in PARTIALS.items():
            if isinstance(e, head):
                rule = r
                break
    if rule is not None:
        return rule(e)
    if not isinstance(e, sp.Function):
        raise NoDerivativeError(f"no derivative rule for {type(e).__name__} in {e}")
    out: list[_Expr | None] = []
    for i in range(len(e.args)):
        try:
            d = e.fdiff(i + 1)
        except ArgumentIndexError:
            d = None
        if d is not None and dag_has(d, _FORBIDDEN, clean):
            raise NoDerivativeError(
                f"no derivative rule for {type(e).__name__} (argument {i + 1}) in {e}")
        out.append(d)
    return tuple(out)


def _diff_args(e: sp.Basic) -> tuple[sp.Basic, ...]:
    """The arguments of ``e`` that derivatives flow through (not a Phi condition)."""
    if isinstance(e, Phi) or isinstance(e, sp.logic.boolalg.Boolean):
        return e.args[1:] if isinstance(e, Phi) else ()
    return e.args


def _arg_offset(e: sp.Basic) -> int:
    return 1 if isinstance(e, Phi) else 0


def _topological(roots: Sequence[sp.Basic], wrt: set[sp.Symbol]
                 ) -> tuple[list[sp.Basic], dict[sp.Basic, bool]]:
    """Post-order (children first) of the distinct nodes under ``roots`` that depend on
    ``wrt``, and the memoised dependence of every visited node."""
    depends: dict[sp.Basic, bool] = {}
    order: list[sp.Basic] = []
    for root in roots:
        stack: list[tuple[sp.Basic, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in depends and not expanded:
                continue
            if expanded:
                dep = node in wrt or any(depends[a] for a in _diff_args(node))
                depends[node] = dep
                if dep:
                    order.append(node)
                continue
            if node.is_Atom or not _diff_args(node):
                depends[node] = node in wrt
                if depends[node]:
                    order.append(node)
                continue
            stack.append((node, True))
            for a in _diff_args(node):
                if a not in depends:
                    stack.append((a, False))
    return order, depends


def _check(result: _Expr, clean: set) -> _Expr:
    if dag_has(result, _FORBIDDEN, clean):
        raise NoDerivativeError(f"derivative left a forbidden term: {result}")
    return result


def vjp(outputs: Sequence[sp.Expr], wrt: Sequence[sp.Symbol],
        cotangents: Sequence[sp.Expr]) -> list[sp.Expr]:
    """Vector-Jacobian product: for each ``w`` in ``wrt``,
    ``sum_k cotangents[k] * d outputs[k] / d w``.

    ``outputs`` and ``cotangents`` have equal length; ``wrt`` are Symbols (duplicates allowed,
    each gets the same result). Phi, Maximum, Abs, ... follow the branch-taken rules of
    :mod:`phicalc.terms`; terms that cannot reach ``wrt`` are pruned; cotangents that are 0 are
    skipped. Cost: linear in the size of the expression DAG.
    """
    if len(outputs) != len(cotangents):
        raise ValueError("vjp: need one cotangent per output")
    outs = [normalize(sp.sympify(o)) for o in outputs]
    cts = [sp.sympify(c) for c in cotangents]
    wrt_set = set(wrt)
    order, depends = _topological(outs, wrt_set)
    clean: set = set()
    adjoint: dict[sp.Basic, list[_Expr]] = {}
    for o, ct in zip(outs, cts):
        if ct != 0 and depends.get(o):
            adjoint.setdefault(o, []).append(ct)
    for node in reversed(order):
        terms = adjoint.get(node)
        if not terms or node.is_Atom:
            continue
        g = add_terms(terms)
        adjoint[node] = [g]
        if g == 0:
            continue
        parts = partials(node, clean)
        off = _arg_offset(node)
        for i, arg in enumerate(_diff_args(node)):
            p = parts[i + off]
            if p is None or p == 0 or not depends[arg]:
                continue
            adjoint.setdefault(arg, []).append(scale(g, p))
    return [_check(add_terms(adjoint.get(w, [])), clean) for w in wrt]


def jvp(outputs: Sequence[sp.Expr], wrt: Sequence[sp.Symbol],
        tangents: Sequence[sp.Expr]) -> list[sp.Expr]:
    """Jacobian-vector product: for each output ``f``, ``sum_j tangents[j] * d f / d wrt[j]``.

    Same rules and costs as :func:`vjp`, in forward order.
    """
    if len(wrt) != len(tangents):
        raise ValueError("jvp: need one tangent per wrt symbol")
    outs = [normalize(sp.sympify(o)) for o in outputs]
    seed: dict[sp.Basic, list[_Expr]] = {}
    for w, t in zip(wrt, tangents):
        seed.setdefault(w, []).append(sp.sympify(t))
    order, depends = _topological(outs, set(wrt))
    clean: set = set()
    tangent: dict[sp.Basic, _Expr] = {}
    for node in order:
        if node.is_Atom:
            tangent[node] = add_terms(seed.get(node, []))
            continue
        parts = partials(node, clean)
        off = _arg_offset(node)
        terms = []
        for i, arg in enumerate(_diff_args(node)):
            p = parts[i + off]
            if p is None or p == 0 or not depends[arg]:
                continue
            t = tangent[arg]
            if t != 0:
                terms.append(scale(t, p))
        tangent[node] = add_terms(terms)
    return [_check(tangent.get(o, S.Zero), clean) for o in outs]


def gradient(expr: sp.Expr, wrt: Iterable[sp.Symbol]) -> list[sp.Expr]:
    """Convenience: ``vjp([expr], wrt, [1])``."""
    return vjp([expr], list(wrt), [S.One])


__all__ = ["vjp", "jvp", "gradient", "partials", "PARTIALS", "defpartials", "NoDerivativeError"]
