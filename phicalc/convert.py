"""Conversions between SymPy's own branchy functions and phicalc terms.

Input: SymPy expressions.
Output: :func:`normalize` -> the same value with ``Piecewise``/``Max``/``Min``/``sign``/
``Heaviside`` written as phicalc terms (what differentiation expects); :func:`to_sympy` ->
every phicalc term expanded into plain SymPy (``Piecewise``, ``log(1 + exp(x))``, ...), used to
check our rules against SymPy's calculus.

Invariants: both are single memoised bottom-up passes; ``normalize`` output contains none of
the functions it replaces; ``to_sympy`` output contains no phicalc term.
"""

from __future__ import annotations

import sympy as sp
from sympy import S

from phicalc.terms import (AsFloat, Clip, Geom, Maximum, Minimum, Paren, Phi, Sigmoid, Sign,
                           Softplus, falling, relation)
from phicalc.walk import bottom_up


def _piecewise_to_phi(pw: sp.Piecewise) -> sp.Expr:
    result: sp.Expr = S.NaN
    for expr, cond in reversed(pw.args):
        result = expr if cond is S.true else Phi(cond, expr, result)
    return result


def _minmax_chain(cls: type, args: tuple[sp.Expr, ...]) -> sp.Expr:
    out = args[0]
    for a in args[1:]:
        out = cls(out, a)
    return out


def normalize(expr: sp.Basic) -> sp.Basic:
    """Rewrite SymPy's own branchy functions into phicalc terms.

    ``Piecewise`` -> nested ``Phi``; ``Max``/``Min`` -> ``Maximum``/``Minimum`` chains;
    ``sign`` -> ``Sign``; ``Heaviside(x)`` -> ``Phi(x > 0, 1, Phi(x < 0, 0, H0))``. Everything
    else is left alone (``Abs`` stays SymPy's).
    """
    def rule(e: sp.Basic) -> sp.Basic | None:
        if isinstance(e, sp.Piecewise):
            return _piecewise_to_phi(e)
        if isinstance(e, sp.Max):
            return _minmax_chain(Maximum, e.args)
        if isinstance(e, sp.Min):
            return _minmax_chain(Minimum, e.args)
        if isinstance(e, sp.sign):
            return Sign(e.args[0])
        if isinstance(e, sp.Heaviside):
            x = e.args[0]
            h0 = e.args[1] if len(e.args) > 1 else S.Half
            return Phi(relation(sp.StrictGreaterThan, x, 0), S.One,
                       Phi(relation(sp.StrictLessThan, x, 0), S.Zero, h0))
        return None

    return bottom_up(expr, rule)


def to_sympy(expr: sp.Basic) -> sp.Basic:
    """Expand every phicalc term into plain SymPy (Piecewise, Max, log, ...).

    For checking our rules against SymPy's own calculus; never used on derivative results the
    compiler emits.
    """
    def rule(e: sp.Basic) -> sp.Basic | None:
        if isinstance(e, Phi):
            c, a, b = e.args
            return sp.Piecewise((a, c), (b, True))
        if isinstance(e, Minimum):
            a, b = e.args
            return sp.Piecewise((a, a <= b), (b, True))
        if isinstance(e, Maximum):
            a, b = e.args
            return sp.Piecewise((a, a >= b), (b, True))
        if isinstance(e, Sign):
            return sp.sign(e.args[0])
        if isinstance(e, Clip):
            return to_sympy(e.as_phi())
        if isinstance(e, Softplus):
            return sp.log(1 + sp.exp(e.args[0]))
        if isinstance(e, Sigmoid):
            return 1 / (1 + sp.exp(-e.args[0]))
        if isinstance(e, (Paren, AsFloat)):
            return e.args[0]
        if isinstance(e, Geom):
            a, n, m = e.args
            return sp.Piecewise((falling(n, int(m) + 1) / (m + 1), sp.Eq(a, 1)), (e.exact(), True))
        return None

    return bottom_up(expr, rule)


__all__ = ["normalize", "to_sympy"]
