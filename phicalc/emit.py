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
- every literal prints as a float (``0`` as ``0.0``: values are floats even where SymPy
  folded a constant to an Integer), except integer exponents (``x**7``, ``x*x``);
- output is deterministic (SymPy's canonical argument order).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import sympy as sp
from sympy import S
from sympy.codegen.cfunctions import exp2, expm1, log1p, log2, log10
from sympy.logic.boolalg import And, BooleanFalse, BooleanTrue, Not, Or, Xor

from phicalc.cse import cse
from phicalc.lowering import lower
from phicalc.terms import AsFloat, Clip, Geom, Maximum, Minimum, Paren, Phi, Sigmoid, Sign, Softplus

# Python operator precedence, low to high (the printer parenthesises by these).
COND, NOT, CMP, BOR, BXOR, BAND, ADD, MUL, UNARY, POW, ATOM = range(11)


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

# Function classes defined by callers (coarsen's op registry: erf, lgamma, ...) -> the
# qualified name they print as (`rt.erf`); the caller makes that name resolve where the
# source runs.
QUALIFIED_FUNCTIONS: dict[type, str] = {}

_RELATIONS = {sp.StrictGreaterThan: ">", sp.GreaterThan: ">=", sp.StrictLessThan: "<",
              sp.LessThan: "<=", sp.Equality: "==", sp.Unequality: "!="}


# --- printing -----------------------------------------------------------------------------

def _paren(s: str, prec: int, need: int) -> str:
    return f"({s})" if prec < need else s


class _Printer:
    def __init__(self, array: bool, names: Mapping[type, str] | None = None) -> None:
        self.array = array
        self.names = names or {}
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
        name = self.names.get(type(e)) or QUALIFIED_FUNCTIONS.get(type(e))
        if name is not None:
            return f"{name}({', '.join(self(a)[0] for a in e.args)})", ATOM
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
    # Integers print as floats too: the expressions are float-valued (a literal 0 standing
    # for 0.0 must not make a branch return an int). Integer exponents print separately.
    s = repr(float(e))   # a SymPy Float beyond float64's range (1e300*1e10) is inf here
    s = {"inf": "np.inf", "-inf": "-np.inf", "nan": "np.nan"}.get(s, s)
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
    if ex.is_Float and abs(float(ex)) == 0.5:
        # pow and sqrt differ at -0.0 and -inf: x ** 0.5 of a scalar (a Python float, np.float64,
        # C's pow) gives 0.0 and inf, NumPy's arrays (its sqrt fast path) -0.0 and nan; x ** -0.5
        # gives inf and 0.0 for both, where 1/sqrt gives -inf and nan
        if pr.array and ex > 0:
            return f"np.sqrt({pr(base)[0]})", ATOM
        if pr.array:
            return f"np.power({pr(base)[0]}, -0.5)", ATOM
        return f"np.float64({pr(base)[0]}) ** {float(ex)!r}", POW
    if ex.is_Float and float(2 * ex).is_integer() and abs(ex) <= 64:
        # x**2.0 and x**0.5 (NumPy-style float literals) print like x**2 and sqrt(x)
        ex = sp.Rational(int(2 * ex), 2)
    if ex.is_Integer:
        k = int(ex)
        if k == 0:
            return "1.0", ATOM
        if k == 1:
            return pr(base)
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


@_handles(Paren)
def _print_paren(pr: _Printer, e: Paren) -> tuple[str, float]:
    # just below the grouped operation's own precedence: an operation of that precedence around
    # it parenthesises it (`a + (b + c)`, `a*(b*c)`), a looser one does not (`x*y + z`)
    s, prec = pr(e.args[0])
    return s, prec - 0.5


@_handles(AsFloat)
def _print_as_float(pr: _Printer, e: AsFloat) -> tuple[str, int]:
    return f"({pr.arg(e.args[0], ADD)} + 0.0)", ATOM


@_handles(sp.sign, Sign)
def _print_sign(pr: _Printer, e: sp.Basic) -> tuple[str, int]:
    # + 0.0: NumPy's sign of -0.0 is 0.0, Numba's -0.0 (1/sign(x) and atan2 tell them apart)
    return f"(np.sign({pr(e.args[0])[0]}) + 0.0)", ATOM


@_handles(Softplus)
def _print_softplus(pr: _Printer, e: Softplus) -> tuple[str, int]:
    x = pr(e.args[0])[0]
    if e.args[0].is_Symbol:
        # the same stable form, ~25% faster than logaddexp under Numba (which computes the
        # general two-argument case); kept to names so that x is not evaluated twice
        return f"(np.maximum({x}, 0.0) + np.log1p(np.exp(-np.abs({x}))))", ATOM
    return f"np.logaddexp(0.0, {x})", ATOM


@_handles(Sigmoid)
def _print_sigmoid(pr: _Printer, e: Sigmoid) -> tuple[str, int]:
    # 1/(1 + exp(-x)): one transcendental per element, and still safe in float64: for very
    # negative x, exp(-x) overflows to inf and the result is the correct limit 0.
    return f"(1.0 / (1.0 + np.exp({pr.arg(-e.args[0], ADD)})))", ATOM


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


def to_source(expr: sp.Basic, array: bool = False, names: Mapping[type, str] | None = None) -> str:
    """One Python expression computing ``expr`` with ``np`` in scope.

    ``array=False``: scalar code (branches as conditional expressions, lazily evaluated);
    ``array=True``: elementwise code over NumPy arrays (branches as ``np.where``). Both forms
    also compile under Numba ``nopython``. Symbols print as their names (they must be valid
    Python identifiers). The text is that of the *tree*: print a heavily shared DAG after
    :func:`cse`. ``names`` maps function classes to the qualified names they print as instead
    (a caller whose compiled target differs from NumPy on some inputs routes those functions
    through its own runtime). Raises NotImplementedError naming a function with no NumPy form.
    """
    return _Printer(array, names)(lower(sp.sympify(expr)))[0]


def _printable(e: sp.Basic) -> bool:
    if isinstance(e, (sp.Symbol, sp.Number, sp.NumberSymbol, BooleanTrue, BooleanFalse)):
        return True
    return type(e) in NUMPY_FUNCTIONS or type(e) in QUALIFIED_FUNCTIONS or any(c in _HANDLERS for c in type(e).__mro__)


def can_emit(expr: sp.Basic) -> bool:
    """Whether :func:`to_source` can print ``expr`` (checks each distinct node once)."""
    seen: set[sp.Basic] = set()
    stack = [lower(sp.sympify(expr))]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        if not _printable(e):
            return False
        seen.add(e)
        stack.extend(e.args)
    return True


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


__all__ = ["to_source", "cse", "lower", "can_emit", "emit_function", "NUMPY_FUNCTIONS", "QUALIFIED_FUNCTIONS"]
