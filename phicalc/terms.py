"""Symbolic terms of the phi-calculus, as SymPy functions with their derivative rules.

Input: SymPy expressions over real symbols (the compiler creates every symbol with
``real=True``; a branch condition may also be a plain Symbol standing for a bool recorded by
the forward run).
Output: the terms below, which auto-evaluate where that is trivial and carry their own
derivative rule (``fdiff``), so both ``sympy.diff`` and :mod:`phicalc.diff` use one rule table.

Invariants:
- no derivative rule here ever produces DiracDelta, Heaviside or Piecewise: kinks and jumps
  take the derivative of the branch taken (a Phi or a Sign);
- a branch condition is never differentiated (its derivative is zero almost everywhere);
- every term can be expanded into plain SymPy by :func:`phicalc.convert.to_sympy` (for
  checking only).

Terms: ``Phi(c, a, b)`` (a if c else b), ``Maximum``, ``Minimum``, ``Sign``, ``Clip``,
``Softplus``, ``Sigmoid``, ``Geom(a, n, m)`` (the m-th a-derivative of sum_{k<n} a**k, the
division-free building block of loop closed forms), ``Paren(u)`` (u grouped as written) and
``AsFloat(n)`` (an integer as float64).
"""

from __future__ import annotations

import math

import sympy as sp
from sympy import S
from sympy.core.function import ArgumentIndexError, Function
from sympy.logic.boolalg import BooleanFalse, BooleanTrue, Not


def _is_number(x: sp.Basic) -> bool:
    return isinstance(x, sp.Expr) and x.is_number and x.is_extended_real is True


def relation(cls: type, a: sp.Expr, b: sp.Expr) -> sp.Basic:
    """``cls(a, b)`` (a SymPy relational class) decided only when both sides are numbers.

    SymPy's default evaluation asks the assumption system whether ``a - b`` has a sign, which
    costs milliseconds per condition and never succeeds for the real symbols we build.
    """
    a, b = sp.sympify(a), sp.sympify(b)
    if _is_number(a) and _is_number(b):
        return cls(a, b)
    return cls(a, b, evaluate=False)


class _RealFunction(Function):
    """Base of our terms: real-valued when the arguments are, and always commutative.

    SymPy derives commutativity from the arguments, and a Boolean argument (Phi's condition)
    has none, which would make Phi non-commutative and break Mul canonicalisation.
    """

    def _eval_is_commutative(self) -> bool:
        return True

    def _eval_is_extended_real(self) -> bool | None:
        return _fuzzy_all(a.is_extended_real for a in self._value_args())

    def _eval_is_real(self) -> bool | None:
        return _fuzzy_all(a.is_real for a in self._value_args())

    def _value_args(self) -> tuple[sp.Expr, ...]:
        return self.args

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        from phicalc.convert import to_sympy  # convert builds on this module
        expanded = to_sympy(self)
        if expanded == self:
            return None
        return expanded.evalf(prec)


def _fuzzy_all(values) -> bool | None:
    result: bool | None = True
    for v in values:
        if v is False:
            return False
        if v is None:
            result = None
    return result


# --- branches ---------------------------------------------------------------------------

class Phi(_RealFunction):
    """``Phi(c, a, b)``: the value ``a`` if the boolean ``c`` holds, else ``b``.

    ``c`` is a SymPy Boolean (``x > 0``, ``And(...)``) or a Symbol standing for a bool recorded
    in the forward run. Derivative: ``d Phi(c, a, b) = Phi(c, da, db)``; ``c`` is never
    differentiated. Auto-evaluation: a literal condition picks its branch, equal branches
    collapse, a Phi nested in a branch under the same condition collapses, and ``Not(c)`` swaps
    the branches so equal conditions compare equal.
    """

    nargs = 3

    @classmethod
    def eval(cls, c, a, b):
        if isinstance(c, BooleanTrue):
            return a
        if isinstance(c, BooleanFalse):
            return b
        if a == b:
            return a
        if isinstance(c, Not):
            return cls(c.args[0], b, a)
        # Under c the inner Phi(c, ..) is decided: a keeps its true side, b its false side.
        if isinstance(a, Phi) and a.args[0] == c:
            return cls(c, a.args[1], b)
        if isinstance(b, Phi) and b.args[0] == c:
            return cls(c, a, b.args[2])
        return None

    @property
    def cond(self) -> sp.Basic:
        return self.args[0]

    def _value_args(self) -> tuple[sp.Expr, ...]:
        return self.args[1:]

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        c = self.args[0]
        if argindex == 1:
            return S.Zero
        if argindex == 2:
            return Phi(c, S.One, S.Zero)
        if argindex == 3:
            return Phi(c, S.Zero, S.One)
        raise ArgumentIndexError(self, argindex)

    def _eval_derivative(self, s: sp.Symbol) -> sp.Expr:
        c, a, b = self.args
        return Phi(c, a.diff(s), b.diff(s))


class Maximum(_RealFunction):
    """Elementwise ``max(a, b)`` as ``np.maximum``; at a tie the first argument takes the
    whole derivative (``np.maximum`` returns its first argument then)."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a == b:
            return a
        if _is_number(a) and _is_number(b):
            return a if bool(a >= b) else b
        return None

    def _cond(self) -> sp.Basic:
        return relation(sp.GreaterThan, self.args[0], self.args[1])

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex == 1:
            return Phi(self._cond(), S.One, S.Zero)
        if argindex == 2:
            return Phi(self._cond(), S.Zero, S.One)
        raise ArgumentIndexError(self, argindex)

    def _eval_derivative(self, s: sp.Symbol) -> sp.Expr:
        a, b = self.args
        return Phi(self._cond(), a.diff(s), b.diff(s))


class Minimum(Maximum):
    """Elementwise ``min(a, b)`` as ``np.minimum``; ties go to the first argument."""

    @classmethod
    def eval(cls, a, b):
        if a == b:
            return a
        if _is_number(a) and _is_number(b):
            return a if bool(a <= b) else b
        return None

    def _cond(self) -> sp.Basic:
        return relation(sp.LessThan, self.args[0], self.args[1])


class Sign(_RealFunction):
    """``np.sign(x)``: -1, 0 or 1. Piecewise constant, so its derivative is 0 everywhere
    (including at 0, where the jump's DiracDelta is dropped by the branch-taken rule).

    The derivative of ``Abs(x)`` (SymPy's Abs) is ``Sign(x)``: at 0 that is 0.
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_extended_positive:
            return S.One
        if x.is_extended_negative:
            return S.NegativeOne
        if x.is_zero:
            return S.Zero
        if isinstance(x, (Sign, sp.sign)):
            return x
        if isinstance(x, sp.Expr) and x.could_extract_minus_sign():
            return -cls(-x)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return S.Zero


class Clip(_RealFunction):
    """``np.clip(x, lo, hi)`` = min(max(x, lo), hi) (so ``hi`` wins when lo > hi, as in NumPy).

    Derivative: the branch taken. Above ``hi`` the value is ``hi`` (derivative w.r.t. hi is 1),
    below ``lo`` it is ``lo``, otherwise ``x`` (closed interval: at a bound, x gets it).
    """

    nargs = 3

    @classmethod
    def eval(cls, x, lo, hi):
        if all(_is_number(v) for v in (x, lo, hi)):
            return hi if bool(x > hi) or bool(lo > hi) else (lo if bool(x < lo) else x)
        return None

    def _select(self, above: sp.Expr, below: sp.Expr, inside: sp.Expr) -> sp.Expr:
        x, lo, hi = self.args
        return Phi(sp.Or(relation(sp.StrictGreaterThan, x, hi),
                         relation(sp.StrictGreaterThan, lo, hi)), above,
                   Phi(relation(sp.StrictLessThan, x, lo), below, inside))

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        picks = {1: (0, 0, 1), 2: (0, 1, 0), 3: (1, 0, 0)}
        if argindex not in picks:
            raise ArgumentIndexError(self, argindex)
        return self._select(*(sp.Integer(v) for v in picks[argindex]))

    def _eval_derivative(self, s: sp.Symbol) -> sp.Expr:
        x, lo, hi = self.args
        return self._select(hi.diff(s), lo.diff(s), x.diff(s))

    def as_phi(self) -> sp.Expr:
        """The value as nested Phis (what :func:`to_sympy` expands)."""
        return self._select(*self.args[::-1])


# --- smooth helpers -----------------------------------------------------------------------

class Softplus(_RealFunction):
    """``log(1 + exp(x))``, emitted as ``np.logaddexp(0.0, x)`` so it never overflows."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.log(2)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return Sigmoid(self.args[0])


class Sigmoid(_RealFunction):
    """Logistic ``1 / (1 + exp(-x))``, emitted in an overflow-free form.

    Derivative ``Sigmoid(x) * Sigmoid(-x)``: unlike ``s * (1 - s)`` it keeps its relative
    accuracy in both tails.
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return S.Half
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        x = self.args[0]
        return Sigmoid(x) * Sigmoid(-x)


# --- loops --------------------------------------------------------------------------------

class Geom(_RealFunction):
    """``Geom(a, n, m)`` = d^m/da^m of sum_{k=0}^{n-1} a**k  (``m`` a literal int >= 0).

    The geometric sum written without a division, so loop closed forms stay valid at ``a == 1``
    with correct derivatives there: ``(a**n - 1)/(a - 1)`` would divide by zero, and a
    ``Phi(Eq(a, 1), n, ...)`` would give a zero derivative at 1. Its a-derivative is
    ``Geom(a, n, m + 1)``. ``n`` is an integer trip count recorded by the forward run and is not
    differentiated. Emission (:func:`phicalc.emit.lower_geom`) uses the exact rational form
    away from ``a == 1`` and a Taylor polynomial near it.
    """

    nargs = 3

    @classmethod
    def eval(cls, a, n, m=S.Zero):
        m = sp.Integer(m)
        if m < 0:
            raise ValueError("Geom order m must be >= 0")
        if n.is_Integer and int(n) <= 8:
            # Small literal trip count: the sum itself is the simplest exact form.
            return sp.Add(*(falling(k, int(m)) * a ** (k - m) for k in range(int(m), int(n))))
        if _is_number(a) and (n.is_Integer or abs(a - 1) > S.Half) and a != 0 and a != 1:
            # A literal ratio far from 1 (or a literal count): the rational form is exact and
            # well conditioned, no Taylor branch needed.
            return geom_exact(a, n, int(m), a - 1)
        if a == 1:
            return falling(n, int(m) + 1) / (m + 1)
        if a.is_zero:
            # d^m/da^m sum a**k at 0 = m! when the sum reaches k = m.
            return sp.factorial(m) * Phi(relation(sp.StrictGreaterThan, n, m), S.One, S.Zero)
        return None

    def __new__(cls, a, n, m=0, **kwargs):
        return super().__new__(cls, a, n, sp.Integer(m), **kwargs)

    @property
    def order(self) -> int:
        return int(self.args[2])

    def _value_args(self) -> tuple[sp.Expr, ...]:
        return self.args[:1]

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex == 1:
            a, n, m = self.args
            return Geom(a, n, m + 1)
        if argindex in (2, 3):
            return S.Zero
        raise ArgumentIndexError(self, argindex)

    def exact(self) -> sp.Expr:
        """The rational form d^m/da^m (a**n - 1)/(a - 1), valid for a != 1."""
        a, n, m = self.args
        return geom_exact(a, n, int(m), a - 1)


def falling(x: sp.Expr, m: int) -> sp.Expr:
    """The falling factorial x (x-1) ... (x-m+1) as a plain product (1 for m = 0)."""
    return sp.Mul(*(x - i for i in range(m)))


def geom_exact(a: sp.Expr, n: sp.Expr, m: int, denom: sp.Expr) -> sp.Expr:
    """d^m/da^m of (a**n - 1)/(a - 1) with ``denom`` written for ``a - 1``.

    Leibniz rule on (a**n - 1) * (a - 1)**-1; passing a guarded ``denom`` lets the emitter avoid
    dividing by zero in the branch it throws away.
    """
    terms = [(a ** n - 1) * (-1) ** m * math.factorial(m) / denom ** (m + 1)]
    for i in range(1, m + 1):
        terms.append(sp.binomial(m, i) * falling(n, i) * a ** (n - i)
                     * (-1) ** (m - i) * math.factorial(m - i) / denom ** (m - i + 1))
    return sp.Add(*terms)


class Paren(_RealFunction):
    """``(u)``: the sum, product or power ``u`` evaluated as one value, as the program grouped
    it. SymPy flattens and reorders nested sums and products (``a + (b - c)`` is
    ``a + b - c``, ``(x + 1e16) - 1e16`` is ``x``, ``2*(x + y)`` is ``2*x + 2*y``), which
    floating point arithmetic does not: compensated sums and rounding tricks compute exactly
    what such rewrites remove. An operand of an arithmetic operation is wrapped in ``Paren``
    where it is itself a sum, product or power, so every printed operation is one of the
    program's (up to the order of two operands, which is exact). The identity: derivative 1.
    """

    nargs = 1

    @classmethod
    def eval(cls, u):
        # exp(u) too: SymPy takes `1/exp(u)` for `exp(-u)` and `exp(u)**2` for `exp(2*u)`
        # (one rounding fewer, a different number: 0.0 against 4.4e-309 at u = 710)
        if not isinstance(u, (sp.Add, sp.Mul, sp.Pow, sp.exp)):
            return u   # atoms, numbers, other functions and Paren itself: nothing to group
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return S.One


class AsFloat(_RealFunction):
    """``u`` (an integer symbol: a count, an int array) as float64, as NumPy converts it where
    it meets a float: ``n * 1.0`` computes in float64 even where SymPy drops the ``1.0``, and
    ``float(n) * float(n)`` does not wrap at 2**63. Printed ``(u + 0.0)``. The identity."""

    nargs = 1

    @classmethod
    def eval(cls, u):
        if isinstance(u, (sp.Number, AsFloat)):
            return u
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return S.One


PHICALC_FUNCTIONS: tuple[type, ...] = (Phi, Maximum, Minimum, Sign, Clip, Softplus, Sigmoid, Geom, Paren,
                                       AsFloat)
"""Every term class this module defines (the emitter and the tests iterate over them)."""

__all__ = [
    "Phi", "Maximum", "Minimum", "Sign", "Clip", "Softplus", "Sigmoid", "Geom", "Paren", "AsFloat",
    "geom_exact", "falling", "relation", "PHICALC_FUNCTIONS",
]
