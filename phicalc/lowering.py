"""Lowering: rewrite terms that have no one-call NumPy form into ones that do.

Input: SymPy expressions with phicalc terms.
Output: equal expressions where ``Geom`` is plain arithmetic plus one Phi, ``Clip`` is
``Minimum(hi, Maximum(lo, x))`` and SymPy's many-argument ``Max``/``Min`` are chains of
``Maximum``/``Minimum``.

Invariants: idempotent; linear in the size of the expression DAG; the lowered ``Geom`` never
divides by zero, not even in the branch it discards (``np.where`` evaluates both).
"""

from __future__ import annotations

import sympy as sp
from sympy import S

from phicalc.terms import (Clip, Geom, Maximum, Minimum, Phi, falling, geom_exact,
                           relation)
from phicalc.walk import bottom_up, dag_has

GEOM_TAYLOR_RADIUS = 0.1
"""|n*(a-1)| below which Geom is evaluated by its Taylor polynomial around a = 1: the exact
form's cancellation error there is ~eps/(n*(a-1))**(m+1), the polynomial's truncation error
~0.1**(K+1)/(K+1)!."""
GEOM_TAYLOR_ORDER = 10


def lower_geom(g: Geom) -> sp.Expr:
    """``Geom(a, n, m)`` as plain arithmetic and one Phi: the Taylor polynomial around
    ``a = 1`` (nested, one linear factor per order) when ``|n*(a-1)| < GEOM_TAYLOR_RADIUS``
    (or ``n <= m``, where the value is 0), else the exact rational form with its ``a - 1`` denominators guarded to 1 in the Taylor
    region (so evaluating both sides, as ``np.where`` does, never divides by zero)."""
    a, n, m_ = g.args
    m = int(m_)
    d = a - 1
    small = relation(sp.StrictLessThan, sp.Abs(n * d), sp.Float(GEOM_TAYLOR_RADIUS))
    if m > 0:
        # For n <= m the value is 0 (the m-th derivative of a polynomial of degree n-1), which
        # the Taylor form gives exactly while the exact form would raise 0.0 to n - m < 0.
        small = sp.Or(small, relation(sp.LessThan, n, m))
    exact = geom_exact(a, n, m, Phi(small, S.One, d))
    # Coefficient j of the Taylor series is falling(n, m+j+1)/((m+j+1) j!); successive ratios
    # are (n-m-j)(m+j)/((m+j+1) j), so c0*(1 + r1*d*(1 + r2*d*(...))) needs no big powers.
    inner: sp.Expr = S.One
    for j in range(GEOM_TAYLOR_ORDER, 0, -1):
        ratio = sp.Rational(m + j, (m + j + 1) * j) * (n - m - j)
        inner = 1 + ratio * d * inner
    taylor = falling(n, m + 1) / (m + 1) * inner
    return Phi(small, taylor, exact)


def _lower_rule(e: sp.Basic) -> sp.Basic | None:
    if isinstance(e, Geom):
        return lower_geom(e)
    if isinstance(e, Clip):
        # np.clip keeps x at a tie with a bound (np.clip(-0.0, 0.0, 1.0) is -0.0) and
        # np.maximum returns its second operand at a tie: x goes second
        x, lo, hi = e.args
        return Minimum(hi, Maximum(lo, x))
    if isinstance(e, (sp.Max, sp.Min)):
        cls = Maximum if isinstance(e, sp.Max) else Minimum
        out = e.args[0]
        for a in e.args[1:]:
            out = cls(out, a)
        return out
    return None


def lower(expr: sp.Basic) -> sp.Basic:
    """Rewrite terms that have no one-call NumPy form (Geom, Clip, Max/Min of many) into ones
    that do. Applied by :func:`cse` and :func:`to_source`; idempotent."""
    if not dag_has(expr, (Geom, Clip, sp.Max, sp.Min)):
        return expr
    return bottom_up(expr, _lower_rule)


__all__ = ["lower", "lower_geom", "GEOM_TAYLOR_RADIUS", "GEOM_TAYLOR_ORDER"]
