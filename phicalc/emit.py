"""Printing phi-calculus expressions as Python/NumPy source, and common-subexpression
elimination.

Input: SymPy expressions over real symbols with phicalc terms.
Output: :func:`to_source` -> one Python expression string that evaluates with ``np`` (NumPy)
in scope, on plain floats, NumPy arrays and inside Numba ``nopython`` functions;
:func:`cse` -> ``(assignments, reduced)`` with temporaries named ``t0, t1, ...``.

Invariants:
- only ``np.*`` functions Numba supports on scalars and arrays (no ``np.clip``: Numba rejects
  it on scalars), Python operators and literals; no SymPy names;
- ``Phi`` prints as ``(a if c else b)`` for scalars (only the taken branch runs) and as
  ``np.where(c, a, b)`` for arrays (both run; the untaken side may produce inf/nan, which
  ``np.where`` discards);
- ``Geom`` is lowered (:func:`lower`) to an exact form away from ``a == 1`` and a Taylor
  polynomial near it, with a guarded denominator, so it never divides by zero;
- output is deterministic (SymPy's canonical argument order).
"""

from __future__ import annotations

from typing import Callable, Sequence

import sympy as sp
from sympy import S
from sympy.codegen.cfunctions import exp2, expm1, log1p, log2, log10
from sympy.logic.boolalg import And, BooleanFalse, BooleanTrue, Not, Or, Xor

from phicalc.terms import (Clip, Geom, Maximum, Minimum, Phi, Sigmoid, Sign, Softplus,
                           bottom_up, falling, geom_exact)

# Python operator precedence, low to high (the printer parenthesises by these).
COND, NOT, CMP, BOR, BXOR, BAND, ADD, MUL, UNARY, POW, ATOM = range(11)

GEOM_TAYLOR_RADIUS = 0.1
"""|n*(a-1)| below which Geom is evaluated by its Taylor polynomial around a = 1: the exact
form's cancellation error there is ~eps/(n*(a-1))**(m+1), the polynomial's truncation error
~0.1**(K+1)/(K+1)!."""
GEOM_TAYLOR_ORDER = 10

# SymPy function class -> NumPy name, for functions printed as np.name(args...).
NUMPY_FUNCTIONS: dict[type, str] = {
    sp.exp: "exp", sp.log: "log", log1p: "log1p", expm1: "expm1", log2: "log2",
    log10: "log10", exp2: "exp2",
    sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.asin: "arcsin", sp.acos: "arccos",
    sp.atan: "arctan", sp.atan2: "arctan2", sp.sinh: "sinh", sp.cosh: "cosh",
    sp.tanh: "tanh", sp.asinh: "arcsinh", sp.acosh: "arccosh", sp.atanh: "arctanh",
    sp.Abs: "abs", sp.sign: "sign", Sign: "sign", sp.floor: "floor", sp.ceiling: "ceil",
    Maximum: "maximum", Minimum: "minimum",
}

_RELATIONS = {sp.StrictGreaterThan: ">", sp.GreaterThan: ">=", sp.StrictLessThan: "<",
              sp.LessThan: "<=", sp.Equality: "==", sp.Unequality: "!="}


# --- lowering -----------------------------------------------------------------------------

def lower_geom(g: Geom) -> sp.Expr:
    """``Geom(a, n, m)`` as plain arithmetic and one Phi: the Taylor polynomial around
    ``a = 1`` (nested, one linear factor per order) when ``|n*(a-1)| < GEOM_TAYLOR_RADIUS``
    (or ``n <= m``, where the value is 0), else the exact rational form with its ``a - 1`` denominators guarded to 1 in the Taylor
    region (so evaluating both sides, as ``np.where`` does, never divides by zero)."""
    a, n, m_ = g.args
    m = int(m_)
    d = a - 1
    small = sp.StrictLessThan(sp.Abs(n * d), sp.Float(GEOM_TAYLOR_RADIUS))
    if m > 0:
        # For n <= m the value is 0 (the m-th derivative of a polynomial of degree n-1), which
        # the Taylor form gives exactly while the exact form would raise 0.0 to n - m < 0.
        small = sp.Or(small, sp.LessThan(n, m))
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
        x, lo, hi = e.args
        return Minimum(Maximum(x, lo), hi)
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
    if not expr.has(Geom, Clip, sp.Max, sp.Min):
        return expr
    return bottom_up(expr, _lower_rule)


# --- printing -----------------------------------------------------------------------------

def _paren(s: str, prec: int, need: int) -> str:
    return f"({s})" if prec < need else s


class _Printer:
    def __init__(self, array: bool) -> None:
        self.array = array
        self.memo: dict[sp.Basic, tuple[str, int]] = {}

    def __call__(self, e: sp.Basic) -> tuple[str, int]:
        hit = self.memo.get(e)
        if hit is None:
            hit = self.memo[e] = self._print(e)
        return hit

    def arg(self, e: sp.Basic, need: int) -> str:
        s, p = self(e)
        return _paren(s, p, need)

    def _print(self, e: sp.Basic) -> tuple[str, int]:
        if isinstance(e, sp.Symbol):
            return e.name, ATOM
        if isinstance(e, sp.Number) or isinstance(e, sp.NumberSymbol):
            return _number(e)
        if isinstance(e, BooleanTrue):
            return "True", ATOM
        if isinstance(e, BooleanFalse):
            return "False", ATOM
        for cls in type(e).__mro__:
            handler = _HANDLERS.get(cls)
            if handler is not None:
                return handler(self, e)
        name = NUMPY_FUNCTIONS.get(type(e))
        if name is not None:
            return f"np.{name}({', '.join(self(a)[0] for a in e.args)})", ATOM
        raise NotImplementedError(f"to_source: no NumPy form for {type(e).__name__} in {e}")


def _number(e: sp.Basic) -> tuple[str, int]:
    if e is S.NaN or e is S.ComplexInfinity:
        return "np.nan", ATOM
    if e is S.Infinity:
        return "np.inf", ATOM
    if e is S.NegativeInfinity:
        return "-np.inf", UNARY
    if e is S.Pi:
        return "np.pi", ATOM
    if e is S.Exp1:
        return "np.e", ATOM
    if isinstance(e, sp.Integer):
        s = str(int(e))
    else:
        s = repr(float(e))
    return s, (UNARY if s.startswith("-") else ATOM)


_HANDLERS: dict[type, Callable[[_Printer, sp.Basic], tuple[str, int]]] = {}


def _handles(*classes: type):
    def register(fn):
        for c in classes:
            if c in _HANDLERS:
                raise ValueError(f"duplicate printer for {c.__name__}")
            _HANDLERS[c] = fn
        return fn
    return register


@_handles(sp.Add)
def _print_add(pr: _Printer, e: sp.Add) -> tuple[str, int]:
    terms = [pr.arg(term, ADD) for term in e.args]
    # Lead with a positive term when there is one: `a - 1` reads better than `-1 + a`.
    first = next((i for i, s in enumerate(terms) if not s.startswith("-")), 0)
    terms.insert(0, terms.pop(first))
    out = terms[0]
    for s in terms[1:]:
        out += f" - {s[1:]}" if s.startswith("-") else f" + {s}"
    return out, ADD


def _is_reciprocal(f: sp.Basic) -> bool:
    return f.is_Pow and f.exp.is_Number and f.exp.is_negative


@_handles(sp.Mul)
def _print_mul(pr: _Printer, e: sp.Mul) -> tuple[str, int]:
    coeff, factors = e.as_coeff_mul()
    sign = ""
    if coeff.is_negative:
        sign, coeff = "-", -coeff
    num = [f for f in factors if not _is_reciprocal(f)]
    den = [f.base ** -f.exp for f in factors if _is_reciprocal(f)]
    parts = [] if coeff == 1 else [_number(coeff)[0]]
    parts += [pr.arg(f, MUL) for f in num]
    if not den:
        return sign + "*".join(parts or ["1"]), (UNARY if sign else MUL)
    numerator = "*".join(parts) if parts else "1.0"
    if len(den) == 1:
        denominator = pr.arg(den[0], MUL + 1)
    else:
        denominator = "(" + "*".join(pr.arg(f, MUL) for f in den) + ")"
    return f"{sign}{numerator}/{denominator}", (UNARY if sign else MUL)


@_handles(sp.Pow)
def _print_pow(pr: _Printer, e: sp.Pow) -> tuple[str, int]:
    base, ex = e.args
    if ex.is_Integer:
        k = int(ex)
        if k < 0:
            inv, prec = pr(base) if k == -1 else _print_pow(pr, sp.Pow(base, -k, evaluate=False))
            return f"1.0/{_paren(inv, prec, MUL + 1)}", MUL
        if k in (2, 3):
            b = pr.arg(base, MUL + 1)
            return "*".join([b] * k), MUL
        return f"{pr.arg(base, POW + 1)}**{k}", POW
    if ex == S.Half:
        return f"np.sqrt({pr(base)[0]})", ATOM
    if ex == -S.Half:
        return f"1.0/np.sqrt({pr(base)[0]})", MUL
    if ex.is_integer:
        # Symbolic integer exponent (a trip count): Python and Numba handle negative bases.
        b = repr(float(base)) if base.is_Number else pr.arg(base, POW + 1)
        if b.startswith("-"):
            b = f"({b})"
        return f"{b}**{pr.arg(ex, POW + 1)}", POW
    b = repr(float(base)) if base.is_Number else pr(base)[0]
    return f"np.power({b}, {pr(ex)[0]})", ATOM


@_handles(Phi)
def _print_phi(pr: _Printer, e: Phi) -> tuple[str, int]:
    c, a, b = e.args
    if pr.array:
        return f"np.where({pr(c)[0]}, {pr(a)[0]}, {pr(b)[0]})", ATOM
    return f"({pr.arg(a, COND + 1)} if {pr.arg(c, COND + 1)} else {pr(b)[0]})", ATOM


@_handles(Softplus)
def _print_softplus(pr: _Printer, e: Softplus) -> tuple[str, int]:
    return f"np.logaddexp(0.0, {pr(e.args[0])[0]})", ATOM


@_handles(Sigmoid)
def _print_sigmoid(pr: _Printer, e: Sigmoid) -> tuple[str, int]:
    # exp(-softplus(-x)): no overflow for any x and full relative accuracy in both tails.
    return f"np.exp(-np.logaddexp(0.0, {pr.arg(-e.args[0], ADD)}))", ATOM


@_handles(Geom, Clip, sp.Max, sp.Min)
def _print_lowered(pr: _Printer, e: sp.Basic) -> tuple[str, int]:
    return pr(lower(e))


@_handles(sp.Mod)
def _print_mod(pr: _Printer, e: sp.Mod) -> tuple[str, int]:
    return f"{pr.arg(e.args[0], MUL)} % {pr.arg(e.args[1], MUL + 1)}", MUL


@_handles(*_RELATIONS)
def _print_rel(pr: _Printer, e: sp.Rel) -> tuple[str, int]:
    op = _RELATIONS[type(e)]
    return f"{pr.arg(e.lhs, BOR)} {op} {pr.arg(e.rhs, BOR)}", CMP


def _print_bool_op(op: str, prec: int):
    def printer(pr: _Printer, e: sp.Basic) -> tuple[str, int]:
        # Operands need parentheses below `prec`: `&` binds tighter than comparisons.
        return f" {op} ".join(pr.arg(a, prec + 1) for a in e.args), prec
    return printer


_handles(And)(_print_bool_op("&", BAND))
_handles(Or)(_print_bool_op("|", BOR))
_handles(Xor)(_print_bool_op("^", BXOR))


@_handles(Not)
def _print_not(pr: _Printer, e: Not) -> tuple[str, int]:
    if pr.array:
        return f"np.logical_not({pr(e.args[0])[0]})", ATOM
    return f"(not {pr.arg(e.args[0], NOT)})", ATOM


def to_source(expr: sp.Basic, array: bool = False) -> str:
    """One Python expression computing ``expr`` with ``np`` in scope.

    ``array=False``: scalar code (branches as conditional expressions, lazily evaluated);
    ``array=True``: elementwise code over NumPy arrays (branches as ``np.where``). Both forms
    also compile under Numba ``nopython``. Symbols print as their names. Raises
    NotImplementedError naming a function with no NumPy form.
    """
    return _Printer(array)(lower(sp.sympify(expr)))[0]


def can_emit(expr: sp.Basic) -> bool:
    """Whether :func:`to_source` can print ``expr``."""
    try:
        to_source(expr)
    except NotImplementedError:
        return False
    return True


# --- common subexpressions ----------------------------------------------------------------

def _temporaries(taken: set[str]):
    i = 0
    while True:
        name = f"t{i}"
        i += 1
        if name not in taken:
            yield sp.Symbol(name, real=True)


def cse(exprs: Sequence[sp.Basic]) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
    """Common-subexpression elimination over ``exprs`` (SymPy's ``cse`` after :func:`lower`).

    Returns ``(assignments, reduced)``: evaluate the ``(t_i, value)`` pairs in order, then the
    reduced expressions. Temporaries are real symbols ``t0, t1, ...`` skipping names already in
    use. A temporary may hold a condition (``t0 = x > 0``) used by several Phis. Note that a
    subexpression shared by two branches is computed before the branch is chosen.
    """
    lowered = [lower(sp.sympify(e)) for e in exprs]
    taken = {s.name for e in lowered for s in e.free_symbols}
    assignments, reduced = sp.cse(lowered, symbols=_temporaries(taken))
    # Give integer temporaries (n - 1 from a trip count) the integer assumption, so powers
    # with them as exponent still print as `a**t0` rather than `np.power`.
    retype: dict[sp.Symbol, sp.Symbol] = {}
    out: list[tuple[sp.Symbol, sp.Expr]] = []
    for t, value in assignments:
        value = value.xreplace(retype) if retype else value
        if isinstance(value, sp.Expr) and value.is_integer:
            retype[t] = sp.Symbol(t.name, integer=True)
            t = retype[t]
        out.append((t, value))
    if retype:
        reduced = [r.xreplace(retype) for r in reduced]
    return out, list(reduced)


def emit_function(name: str, params: Sequence[sp.Symbol], outputs: Sequence[sp.Expr],
                  array: bool = False) -> str:
    """Source of ``def name(params): ...; return outputs`` with CSE'd temporaries (a tuple
    when there are several outputs). Needs ``np`` in the namespace it is exec'd in."""
    assignments, reduced = cse(outputs)
    lines = [f"def {name}({', '.join(p.name for p in params)}):"]
    lines += [f"    {t.name} = {to_source(v, array)}" for t, v in assignments]
    results = [to_source(r, array) for r in reduced]
    lines.append(f"    return {results[0]}" if len(results) == 1
                 else f"    return ({', '.join(results)},)")
    return "\n".join(lines) + "\n"


__all__ = ["to_source", "cse", "lower", "lower_geom", "can_emit", "emit_function",
           "NUMPY_FUNCTIONS", "GEOM_TAYLOR_RADIUS", "GEOM_TAYLOR_ORDER"]
