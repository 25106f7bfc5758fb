"""Closed-form sums over a loop counter: sum_{k=0}^{n-1} f(k), division-free where possible.

Input: a summand ``f`` (SymPy) in the counter ``k`` and the count ``n`` (a symbol, e.g. the
recorded trip count).
Output: an expression in ``n`` and the summand's other symbols, or None.

Handled by pattern (fast, no SymPy ``summation``): every additive term of the expanded summand
must be ``c * k**p * R**k`` or ``c * k**p * Geom(r, k, m)`` with ``c``, ``R``, ``r`` free of
``k``, or a Phi whose condition is free of ``k`` (summed branchwise). Geometric sums come out
as :class:`phicalc.terms.Geom` terms, never as ``(a**n - 1)/(a - 1)``, so they stay valid and
differentiable at ``a == 1``. Anything else falls back to ``sympy.summation`` only for small
summands, and only an answer with no ``Sum`` left and nothing the emitter cannot print is
accepted.

Invariants: the pattern path never divides by a symbolic quantity; the fallback's Piecewise
answers are turned into Phi (e.g. ``Phi(Eq(a, 1), ..., .../(a - 1))``: correct values, but the
derivative at exactly ``a == 1`` is that of the constant branch, so the pattern path is
preferred for every geometric form).
"""

from __future__ import annotations

import time
from functools import lru_cache

import sympy as sp
from sympy import S

from phicalc.convert import normalize
from phicalc.emit import can_emit
from phicalc.terms import Geom, Phi, falling, relation

_Expr = sp.Expr

FALLBACK_MAX_OPS = 12
"""Largest summand (``count_ops``) handed to ``sympy.summation``: it can take minutes on big
ones."""


class _NoClosedForm(Exception):
    pass


@lru_cache(maxsize=None)
def _stirling2(p: int, i: int) -> int:
    if p == i:
        return 1
    if i == 0 or i > p:
        return 0
    return i * _stirling2(p - 1, i) + _stirling2(p - 1, i - 1)


_X = sp.Symbol("x")


@lru_cache(maxsize=None)
def _faulhaber_poly(p: int) -> _Expr:
    return sp.factor((sp.bernoulli(p + 1, _X) - sp.bernoulli(p + 1, 0)) / (p + 1))


def power_sum(p: int, n: _Expr) -> _Expr:
    """sum_{k=0}^{n-1} k**p as a polynomial in ``n`` (Faulhaber)."""
    return _faulhaber_poly(p).xreplace({_X: n})


def _to_falling_basis(poly: sp.Poly) -> list[_Expr]:
    """Coefficients q_i with poly(j) = sum_i q_i * falling(j, i)."""
    coeffs = poly.all_coeffs()[::-1]  # c_p for j**p
    out = [S.Zero] * len(coeffs)
    for p, c in enumerate(coeffs):
        if c == 0:
            continue
        for i in range(p + 1):
            s2 = _stirling2(p, i)
            if s2:
                out[i] += s2 * c
    return out


def _linear_in(e: _Expr, k: sp.Symbol) -> tuple[_Expr, _Expr]:
    """``(e1, e0)`` with e = e1*k + e0, both free of k; raises when e is not linear in k."""
    e0, rest = e.as_independent(k, as_Add=True)
    e1 = sp.expand(rest / k)
    if e1.has(k):
        raise _NoClosedForm
    return e1, e0


def _split_term(term: _Expr, k: sp.Symbol):
    """``(c, p, R, geom)`` with term = c * k**p * R**k * (geom or 1)."""
    coeff, dep = term.as_independent(k, as_Add=False)
    p, base, geom = 0, S.One, None
    for f in sp.Mul.make_args(dep):
        if f == k:
            p += 1
        elif f.is_Pow and f.base == k and f.exp.is_Integer and f.exp > 0:
            p += int(f.exp)
        elif f.is_Pow and not f.base.has(k):
            e1, e0 = _linear_in(f.exp, k)
            base *= f.base ** e1
            coeff *= f.base ** e0
        elif isinstance(f, sp.exp):
            e1, e0 = _linear_in(f.args[0], k)
            base *= sp.exp(e1)
            coeff *= sp.exp(e0)
        elif isinstance(f, Geom) and f.args[1] == k and geom is None and not f.args[0].has(k):
            geom = f
        else:
            raise _NoClosedForm
    return coeff, p, base, geom


def _sum_monomial(p: int, base: _Expr, geom: Geom | None, n: _Expr) -> _Expr:
    """sum_{k<n} k**p * base**k * (geom(k) or 1), division-free."""
    if geom is None:
        if base == 1:
            return power_sum(p, n)
        if _divides_by_symbol(base):
            raise _NoClosedForm
        # k**p = sum_i S2(p, i) falling(k, i) and sum_k falling(k, i) R**k = R**i Geom(R, n, i).
        return sp.Add(*(_stirling2(p, i) * base ** i * Geom(base, n, i) for i in range(p + 1)))
    if base != 1:
        raise _NoClosedForm
    r, _, m = geom.args
    m = int(m)
    # sum_k k**p Geom(r, k, m) = sum_{j<n} falling(j, m) r**(j-m) * sum_{k=j+1}^{n-1} k**p.
    j = sp.Dummy("j")
    q = sp.Poly(sp.expand(falling(j, m) * (power_sum(p, n) - power_sum(p, j + 1))), j)
    out = []
    for i, qi in enumerate(_to_falling_basis(q)):
        if qi == 0:
            continue
        if i < m:  # vanishes identically (q has the factor falling(j, m)); guard anyway
            raise _NoClosedForm
        out.append(sp.factor_terms(qi) * r ** (i - m) * Geom(r, n, i))
    return sp.Add(*out)


def _divides_by_symbol(e: _Expr) -> bool:
    """True when ``e`` has a symbolic factor in a denominator (could be 0 at run time)."""
    return any(p.exp.is_negative and not p.base.is_number
               for p in e.atoms(sp.Pow))


def _expand(f: _Expr) -> _Expr:
    return sp.expand(f, power_base=False, log=False)


def _sum_pattern(f: _Expr, k: sp.Symbol, n: _Expr) -> _Expr:
    f = _expand(f)
    if not f.has(k):
        return n * f
    out = []
    for term in sp.Add.make_args(f):
        if not term.has(k):
            out.append(n * term)
            continue
        phis = [g for g in sp.Mul.make_args(term) if isinstance(g, Phi)]
        if phis:
            phi = phis[0]
            c, a, b = phi.args
            rest = term / phi
            if c == relation(sp.StrictGreaterThan, k, 0):
                # A component overwritten each step reads its initial value at k = 0 only:
                # sum_{k<n} = Phi(n > 0, b(0) + sum_{k<n-1} a(k+1), 0).
                first = (rest * b).xreplace({k: S.Zero})
                later = _sum_pattern((rest * a).xreplace({k: k + 1}), k, n - 1)
                out.append(Phi(relation(sp.StrictGreaterThan, n, 0), first + later, S.Zero))
                continue
            if c.has(k):
                raise _NoClosedForm
            out.append(Phi(c, _sum_pattern(rest * a, k, n), _sum_pattern(rest * b, k, n)))
            continue
        coeff, p, base, geom = _split_term(term, k)
        out.append(coeff * _sum_monomial(p, base, geom, n))
    return sp.Add(*out)


def _fallback(f: _Expr, k: sp.Symbol, n: _Expr, deadline: float) -> _Expr | None:
    if sp.count_ops(f) > FALLBACK_MAX_OPS or time.perf_counter() > deadline:
        return None
    kk = sp.Dummy("k", integer=True, nonnegative=True)
    r = sp.summation(f.xreplace({k: kk}), (kk, 0, n - 1))
    if r.has(sp.Sum, sp.Product):
        return None
    r = normalize(r)
    return r if can_emit(r) else None


def sum_closed(f: _Expr, k: sp.Symbol, n: _Expr, deadline: float | None = None) -> _Expr | None:
    """sum_{k=0}^{n-1} f as a closed form in ``n``, or None.

    ``deadline`` (a ``time.perf_counter()`` value) bounds the SymPy fallback, which is only
    tried on small summands when the pattern path fails.
    """
    if deadline is None:
        deadline = time.perf_counter() + 1.0
    try:
        return _sum_pattern(f, k, n)
    except _NoClosedForm:
        pass
    except sp.PolynomialError:
        pass
    return _fallback(f, k, n, deadline)


__all__ = ["sum_closed", "power_sum", "FALLBACK_MAX_OPS"]
