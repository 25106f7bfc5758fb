"""Elementwise ops of two or three operands: arithmetic (also reached through the Python
operators), comparisons and logic, maximum/minimum, where/clip, and the two-argument
functions of NumPy, `math` and `scipy.special` (arctan2, hypot, logaddexp, xlogy, ...).
"""
from __future__ import annotations

import math
import operator

import numpy as np
import sympy as sp

from coarsen.ops import lowering as L
from coarsen.ops.spec import Composite, Elementwise, O, Structural, special_function
from phicalc.terms import Clip, Maximum, Minimum, Phi, Softplus, relation

Hypot = special_function("Hypot", "np.hypot", 2, lambda a, b: (a / Hypot(a, b), b / Hypot(a, b)))


def _promoted(value, a, b):
    # a float if either is (the IR promotes), as max(2, 1.5) would give the int 2
    return float(value) if isinstance(a, float) or isinstance(b, float) else value


def _infix(symbol: str):
    return lambda instr, a: f"{a[0]} {symbol} {a[1]}"


def _floordiv_emit(instr, a):
    # int64: `rt.floordiv`, NumPy's wrap of int64 min // -1 (Numba's integer division gives 0)
    return f"rt.floordiv({a[0]}, {a[1]})" if instr.result.type.dtype == "i64" else f"{a[0]} // {a[1]}"


def _mod_emit(instr, a):
    # int64: `rt.mod`, NumPy's 0 for a NumPy scalar's zero divisor (Python's int raises)
    return f"rt.mod({a[0]}, {a[1]})" if instr.result.type.dtype == "i64" else f"{a[0]} % {a[1]}"


def _logic(word: str):
    def emit(instr, a):
        return f"np.logical_{word}({a[0]}, {a[1]})" if instr.result.type.rank else f"{a[0]} {word} {a[1]}"
    return emit


def _mod_vjp(rev, instr, code, declared):
    """d(a % b) = da - floor(a / b) db; each adjoint summed back to its operand's shape where
    the operands broadcast (as the symbolic rules' adjoints are, `Reverse.segment`)."""
    (a, b), d = instr.args, rev.d(instr.result)

    def fitted(v, expr: str) -> str:
        if not instr.result.type.rank:
            return expr
        return f"rt.unbroadcast({expr}, {rev.shape(v)})" if v.type.rank else f"rt.to_scalar({expr})"
    rev.accum(a, fitted(a, d), code, declared)
    rev.accum(b, fitted(b, f"-np.floor({rev.ref(a)} / {rev.ref(b)}) * {d}"), code, declared)


def _pow_numpy(a, b):
    return np.power(np.asarray(a, dtype=np.float64), b)


def _logaddexp(a, b):
    """log(e^a + e^b) branch-wise, so each partial is a sigmoid. At a tie, a + softplus(b - a)
    too (NumPy's a + log(2), and every derivative the smooth function's: the Hessian of
    softplus at 0 is 1/4, not the 0 of a constant branch); at a tie of infinities, where b - a
    is NaN, NumPy's a + log(2) as a/2 + b/2 + log(2) (partials 1/2 each)."""
    half = sp.Rational(1, 2)
    above = a + Softplus(b - a)
    return Phi(relation(sp.Equality, a, b),
               Phi(relation(sp.Equality, sp.Abs(a), sp.oo), half * a + half * b + sp.log(2), above),
               Phi(relation(sp.GreaterThan, a, b), above, b + Softplus(a - b)))


def _xlogy(x, y):
    """x log(y), 0 where x == 0 (NaN where y is NaN: the `scipy.special.xlogy` composite). At
    x == 0 with a finite log(y) the expression is x log(y) itself, whose x-derivative there is
    log(y) (a constant 0 branch had the derivative 0)."""
    inside = Phi(relation(sp.StrictGreaterThan, y, 0),
                 Phi(relation(sp.StrictLessThan, y, sp.oo), x * sp.log(y), 0), 0)
    return Phi(relation(sp.Equality, x, 0), inside, x * sp.log(y))


def _xlogy_numpy(x, y):
    with np.errstate(all="ignore"):
        out = np.where(np.asarray(x) == 0, 0.0, np.asarray(x, dtype=np.float64) * np.log(y))
    return out if out.ndim else float(out)


def _heaviside(x, h0):
    """1, h0 or 0 as x > 0, x == 0 or x < 0; NaN where x is NaN (NumPy's)."""
    return Phi(relation(sp.StrictGreaterThan, x, 0), 1,
               Phi(relation(sp.Equality, x, 0), h0, Phi(relation(sp.StrictLessThan, x, 0), 0, sp.nan)))


def _where_emit(instr, a):
    return f"np.where({a[0]}, {a[1]}, {a[2]})" if instr.result.type.rank else f"({a[1]} if {a[0]} else {a[2]})"


def _compare(name, fn, symbol, callable_):
    return Elementwise(name, 2, (callable_,), fn, "bool", None, fn, emit=_infix(symbol),
                       differentiable=False)


BINARY = [
    Elementwise("add", 2, ("numpy.add",), operator.add, "promote", lambda a, b: a + b,
                lambda a, b: a + b, emit=_infix("+"), torch="torch.add"),
    Elementwise("sub", 2, ("numpy.subtract",), operator.sub, "promote", lambda a, b: a - b,
                lambda a, b: a - b, emit=_infix("-"), torch="torch.sub"),
    Elementwise("mul", 2, ("numpy.multiply",), operator.mul, "promote", lambda a, b: a * b,
                lambda a, b: a * b, emit=_infix("*"), torch="torch.mul"),
    Elementwise("div", 2, ("numpy.divide", "numpy.true_divide"), np.true_divide, "float",
                lambda a, b: a / b, lambda a, b: a / b, emit=_infix("/"), torch="torch.div",
                domain=((-3.0, 3.0), (0.5, 3.0))),
    Elementwise("floordiv", 2, ("numpy.floor_divide",), operator.floordiv, "promote", None,
                lambda a, b: a // b, emit=_floordiv_emit, differentiable=False,
                domain=((-3.0, 3.0), (0.5, 3.0))),
    Elementwise("mod", 2, ("numpy.mod", "numpy.remainder"), operator.mod, "promote", None,
                lambda a, b: a % b, emit=_mod_emit, vjp=_mod_vjp, domain=((-3.0, 3.0), (0.5, 3.0)),
                avoid=(0.0,)),
    Elementwise("pow", 2, ("numpy.power", "builtins.pow", "math.pow"), _pow_numpy, "float",
                lambda a, b: a ** b, None, emit=lambda instr, a: f"np.power({a[0]}, {a[1]})",
                torch="torch.pow", domain=((0.2, 3.0), (-2.0, 2.0))),
    _compare("lt", operator.lt, "<", "numpy.less"),
    _compare("le", operator.le, "<=", "numpy.less_equal"),
    _compare("gt", operator.gt, ">", "numpy.greater"),
    _compare("ge", operator.ge, ">=", "numpy.greater_equal"),
    _compare("eq", operator.eq, "==", "numpy.equal"),
    _compare("ne", operator.ne, "!=", "numpy.not_equal"),
    Elementwise("and", 2, ("numpy.logical_and",), np.logical_and, "bool", None,
                lambda a, b: a and b, emit=_logic("and"), differentiable=False),
    Elementwise("or", 2, ("numpy.logical_or",), np.logical_or, "bool", None,
                lambda a, b: a or b, emit=_logic("or"), differentiable=False),
    Elementwise("maximum", 2, ("numpy.maximum",), np.maximum, "same", Maximum,
                lambda a, b: _promoted(a if a > b or a != a else b, a, b),
                emit=lambda instr, a: f"rt.maximum({a[0]}, {a[1]})", printed="rt.maximum",
                device="cuda_special.maximum", torch="torch.maximum"),
    Elementwise("minimum", 2, ("numpy.minimum",), np.minimum, "same", Minimum,
                lambda a, b: _promoted(a if a < b or a != a else b, a, b),
                emit=lambda instr, a: f"rt.minimum({a[0]}, {a[1]})", printed="rt.minimum",
                device="cuda_special.minimum", torch="torch.minimum"),
    Elementwise("arctan2", 2, ("numpy.arctan2", "math.atan2"), np.arctan2, "float", sp.atan2,
                math.atan2, emit=lambda instr, a: f"np.arctan2({a[0]}, {a[1]})",
                printed="np.arctan2", device="math.atan2", torch="torch.atan2",
                domain=((0.3, 3.0), (-3.0, 3.0))),
    Elementwise("hypot", 2, ("numpy.hypot", "math.hypot"), np.hypot, "float", Hypot, math.hypot,
                emit=lambda instr, a: f"np.hypot({a[0]}, {a[1]})", printed="np.hypot",
                device="math.hypot", torch="torch.hypot", domain=((0.3, 3.0), (-3.0, 3.0))),
    Elementwise("logaddexp", 2, ("numpy.logaddexp",), np.logaddexp, "float", _logaddexp, None,
                emit=lambda instr, a: f"np.logaddexp({a[0]}, {a[1]})", torch="torch.logaddexp"),
    # x log y with 0 where x = 0; `scipy.special.xlogy` (the composite below) adds NaN where y is
    Elementwise("xlogy", 2, (), _xlogy_numpy, "float", _xlogy, None,
                emit=lambda instr, a: f"np.where({a[0]} == 0, 0.0, {a[0]} * np.log({a[1]}))",
                torch="torch.xlogy", domain=((-3.0, 3.0), (0.2, 5.0))),
    Elementwise("heaviside", 2, ("numpy.heaviside",), np.heaviside, "float", _heaviside, None,
                emit=lambda instr, a: f"np.heaviside({a[0]}, {a[1]})", differentiable=False,
                torch="torch.heaviside", avoid=(0.0,)),
    Elementwise("where", 3, (), np.where, "same", lambda c, a, b: Phi(c, a, b), None,
                emit=_where_emit, domain=((-1.0, 1.0), (-3.0, 3.0), (-3.0, 3.0))),
    Elementwise("clip", 3, (), lambda x, lo, hi: np.minimum(hi, np.maximum(lo, x)), "promote", Clip,
                None, emit=lambda instr, a: f"rt.minimum({a[2]}, rt.maximum({a[1]}, {a[0]}))",
                torch="torch.clamp", domain=((-3.0, 3.0), (-2.0, -0.5), (0.5, 2.0))),
]

def _int_power_type(types, attrs):
    from coarsen.ir.typing import TypeRuleError
    from coarsen.ir.types import Type

    a, e = types
    if a.dtype != "i64" or e.dtype != "i64":
        raise TypeRuleError("int_power takes two int64 operands")
    if a.rank and e.rank and a.rank != e.rank:
        raise TypeRuleError("int_power takes operands of one shape (broadcast first)")
    return Type("i64", max(a.rank, e.rank))


def _int_power_eval(instr, a, e):
    from kernels import runtime as rt

    return rt.int_power(a, e)


# `a ** e` of integers in int64, exactly and wrapping as NumPy's int64 power (e >= 0: the
# frontend checks the sign first, `ExpressionLowering.int_power`); not differentiable
INT_POWER = Structural("int_power", (), _int_power_type, _int_power_eval,
                       lambda instr, a: f"rt.int_power({a[0]}, {a[1]})", differentiable=False,
                       runtime=("int_power",),
                       doc="int64 a ** e (e >= 0), exact and wrapping as NumPy's int64 power")

# Symbolic forms print maximum/minimum through the runtime too (`kernels.runtime.maximum`:
# Numba's np.maximum keeps the other operand at a tie, which shows on signed zeros)
PRINTED_AS = {Maximum: "rt.maximum", Minimum: "rt.minimum"}


# ------------------------------------------------------------------ composites
def _where(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 3, "where")
    cond, a, b = (lw.as_value(x, node) for x in args)
    if cond.type.dtype != "bool":
        cond = lw.emit(O.NE, (cond, lw.b.const(0)), node)
    return lw.emit(O.WHERE, (cond, a, b), node)


def _clip(lw, args, kwargs, node):
    from coarsen.frontend.bindings import Static

    values = L.positional(lw, args, kwargs, node, ["a", "a_min", "a_max"], "clip", 3)
    x, lo, hi = values
    none = [isinstance(v, Static) and v.obj is None for v in (lo, hi)]
    if all(none):
        lw.unsupported("clip() with both bounds None", node, "give a_min or a_max")
    if any(none):
        # one side: NumPy computes np.minimum(x, hi) (np.clip(-0.0, None, 0.0) is 0.0, where
        # the two-sided clip keeps x at a tie); at a tie x takes the derivative, as in torch
        bound = lw.as_value(hi if none[0] else lo, node)
        return lw.emit(O.MINIMUM if none[0] else O.MAXIMUM, (lw.as_value(x, node), bound), node)
    return lw.emit(O.CLIP, tuple(lw.as_value(v, node) for v in values), node)


def _xlogy_call(lw, args, kwargs, node):
    """scipy.special.xlogy: x log y, 0 where x = 0 unless y is NaN (then NaN, as SciPy). The
    NaN test is a comparison of its own, so SymPy never sees `y != y` (which it folds to False)."""
    L.arity(lw, args, kwargs, node, 2, "xlogy")
    x, y = (L.array(lw, a, node, "xlogy", min_rank=0) for a in args)
    nan = lw.emit(O.NE, (y, y), node)
    return lw.emit(O.WHERE, (nan, lw.b.const(float("nan")), lw.emit(O.XLOGY, (x, y), node)), node)


def _ndtr(lw, args, kwargs, node):
    """scipy.special.ndtr, the standard normal CDF, by SciPy's (Cephes') branches: with z =
    x / sqrt 2, 1/2 + erf(z) / 2 where |z| < 1 / sqrt 2, else y = erfc(|z|) / 2, and 1 - y for
    z > 0. The derivative is the normal density on every branch. As Cephes', 1/sqrt 2 is
    M_SQRT1_2 (math.sqrt(0.5); 1 / math.sqrt(2.0) is an ulp below it), and erfc underflows to 0
    where z^2 > MAXLOG (x < -37.68: SciPy's ndtr is 0 there, log(ndtr) -inf)."""
    L.arity(lw, args, kwargs, node, 1, "ndtr")
    e = L.emitter(lw, node)
    c = lw.b.const
    x = L.array(lw, args[0], node, "ndtr", min_rank=0)
    z = e("MUL", x, c(math.sqrt(0.5)))
    inner = e("ADD", c(0.5), e("MUL", c(0.5), e("ERF", z)))
    y = e("MUL", c(0.5), e("ERFC", e("ABS", z)))
    y = e("WHERE", e("GT", e("MUL", z, z), c(_CEPHES_MAXLOG)), c(0.0), y)
    outer = e("WHERE", e("GT", z, c(0.0)), e("SUB", c(1.0), y), y)
    return e("WHERE", e("LT", e("ABS", z), c(math.sqrt(0.5))), inner, outer)


_CEPHES_MAXLOG = 7.09782712893383996843e2   # log(DBL_MAX): Cephes' erfc underflows beyond -MAXLOG


def _select(lw, args, kwargs, node):
    """np.select(condlist, choicelist, default=0): the choice of the first true condition, else
    default (NumPy's order: built from the last condition back, `where` by `where`)."""
    values = L.positional(lw, args, kwargs, node, ["condlist", "choicelist", "default"], "select", 2)
    conds, choices, default = values
    if not isinstance(conds, tuple) or not isinstance(choices, tuple):
        lw.unsupported("np.select takes lists of conditions and of choices", node,
                       "np.select([x < 0, x > 1], [a, b], default)")
    if len(conds) != len(choices):
        from coarsen.frontend.exceptions import fail
        fail(lw, ValueError("list of cases must be same length as list of conditions"),
             f"np.select: {len(choices)} choices for {len(conds)} conditions", node)
    out = lw.b.const(0) if default is None else lw.as_value(default, node)
    for c, v in reversed(list(zip(conds, choices))):
        c = lw.as_value(c, node)
        if c.type.dtype != "bool":
            lw.type_error(f"np.select: invalid entry in condlist: should be boolean ndarray, got {c.type}",
                          node)
        out = lw.emit(O.WHERE, (c, lw.as_value(v, node), out), node)
    return out


def _minmax(op: str, name: str):
    def lower(lw, args, kwargs, node):
        if kwargs:
            lw.unsupported(f"{name}() with keyword arguments is not supported", node)
        if len(args) < 2:
            lw.unsupported(f"{name}() of a single iterable is not supported", node,
                           f"use np.{name}(x) for an array, or {name}(a, b) for numbers")
        values = [lw.as_value(a, node) for a in args]
        return python_extremum(lw, values, op, node)
    return lower


def python_extremum(lw, values, op: str, node):
    """Python's max(a, b, ...) / min(...): the first value, replaced by each later one that
    compares greater (less). Not np.maximum: Python keeps a NaN it holds and skips a NaN it
    meets (max(nan, 1.0) is nan, max(1.0, nan) is 1.0). At a tie the first value is kept, and
    takes the derivative, as np.maximum's rule.
    An array among the values is refused: Python compares whole arrays (`x > 0.0` is an
    array whose truth value is ambiguous, a ValueError for more than one element), so
    `max(x, 0.0)` is never NumPy's elementwise maximum."""
    name = "max" if op == "MAXIMUM" else "min"
    for v in values:
        if v.type.rank:
            lw.unsupported(
                f"{name}() of an array and other values compares whole arrays (Python raises "
                "ValueError: the truth value of an array with more than one element is ambiguous)",
                node, f"use np.{name}imum(x, 0.0) for an elementwise {name}imum, or np.{name}(x) "
                f"for the {name}imum element")
    out = values[0]
    for v in values[1:]:
        beats = lw.emit(O.GT if op == "MAXIMUM" else O.LT, (v, out), node)
        kept = out
        out = lw.emit(O.WHERE, (beats, v, out), node)
        lw.mark_joined(out, (v, kept))   # one of them: max(a[0], 5) may be Python's 5, which never wraps
    return out


def _fminmax(name: str):
    """np.fmax(a, b) / np.fmin: as np.maximum / np.minimum, except that a NaN loses to a
    number (NaN only where both are). The derivative goes to a where a wins (ties included)
    or b is NaN, else to b: torch.fmax's rule."""
    def lower(lw, args, kwargs, node):
        L.arity(lw, args, kwargs, node, 2, name)
        a, b = (lw.as_value(x, node) for x in args)
        if a.type.rank or b.type.rank:
            _refuse_signed_zero_ties(lw, a, b, node, f"np.{name}")
        wins = lw.emit(O.GE if name == "fmax" else O.LE, (a, b), node)
        wins = lw.emit(O.OR, (wins, lw.emit(O.NE, (b, b), node)), node)
        return lw.emit(O.WHERE, (wins, a, b), node)
    return lower


def _refuse_signed_zero_ties(lw, a, b, node, what: str) -> None:
    """UnsupportedError when the program runs, at the user's line, where an element of a is
    -0.0 and b's 0.0 or the reverse: NumPy's np.fmax / np.fmin of arrays return either zero
    there by the element's place in its SIMD loop (the first operand in the loop's tail, the
    second in its vector body: np.fmax([-0.0] * 4, [0.0] * 4) holds both), which coarsen does
    not reproduce. Scalars keep the first operand, as coarsen does; np.maximum / np.minimum
    always return the second (`rt.maximum`)."""
    from coarsen.errors import UnsupportedAtRunTime
    from coarsen.ops.reductions import _any_all

    if a.type.dtype != "f64" and b.type.dtype != "f64":
        return

    def side(v):   # pi at 0.0, -pi at -0.0
        return lw.emit(O.ARCTAN2, (v, lw.b.const(-1.0)), node)
    tie = lw.emit(O.AND, (lw.emit(O.EQ, (a, b), node), lw.emit(O.NE, (side(a), side(b)), node)), node)
    bad = _any_all("any")(lw, [tie], {}, node)
    loc = lw.src.loc(node)
    message = (f"{what} of -0.0 and 0.0 in the same place of two arrays: NumPy returns either zero "
               "there, by the element's place in its SIMD loop, which coarsen does not reproduce")
    lw.emit(O.CHECK, (bad,), node, {"exc": UnsupportedAtRunTime, "args": (
        message, loc.filename, loc.lineno, loc.col,
        "add 0.0 to the operands first (x + 0.0 turns -0.0 into 0.0), or use np.maximum / np.minimum "
        "where no NaN is to be dropped")})
    lw.ctx.runtime_raises.append(UnsupportedAtRunTime)


# ufunc methods: np.subtract.outer(a, b), np.add.reduce(x, axis), np.multiply.accumulate(x)
_UFUNC_OPS = {"add": "ADD", "subtract": "SUB", "multiply": "MUL", "divide": "DIV", "power": "POW",
              "maximum": "MAXIMUM", "minimum": "MINIMUM", "arctan2": "ARCTAN2", "hypot": "HYPOT",
              "logaddexp": "LOGADDEXP"}
_UFUNC_REDUCE = {"add": "SUM", "multiply": "PROD", "maximum": "MAX", "minimum": "MIN"}
_UFUNC_ACCUMULATE = {"add": "CUMSUM", "multiply": "CUMPROD"}


def _ufunc_of(lw, node) -> str:
    """Which ufunc a method call names (`np.subtract.outer`, or `sub.outer` after
    `from numpy import subtract as sub`): the callee evaluated again (an attribute read)."""
    return lw.expr(node.func).obj.__self__.__name__


def _ufunc_outer(lw, args, kwargs, node):
    """ufunc.outer(a, b): out[i..., j...] = ufunc(a[i...], b[j...]), shape a.shape + b.shape."""
    ufunc = _ufunc_of(lw, node)
    L.arity(lw, args, kwargs, node, 2, f"{ufunc}.outer")
    a, b = (lw.as_value(x, node) for x in args)
    ra, rb = a.type.rank, b.type.rank
    if ra and rb:
        a = L.getitem(lw, a, [":"] * ra + ["n"] * rb, [], node)
        b = L.getitem(lw, b, ["n"] * ra + [":"] * rb, [], node)
    return lw.emit(getattr(O, _UFUNC_OPS[ufunc]), (a, b), node)


def _ufunc_reduce(lw, args, kwargs, node):
    """ufunc.reduce(x, axis=0, keepdims=False): the reduction along one axis (NumPy's default
    axis 0), a tuple of axes, or all (axis=None)."""
    from coarsen.ops.reductions import OPS as REDUCTIONS

    ufunc = _ufunc_of(lw, node)
    from coarsen.ops.reductions import bind, refuse_unhonoured

    got = bind(lw, list(args), kwargs, node, f"{ufunc}.reduce",
               ("array", "axis", "dtype", "out", "keepdims", "initial", "where"))
    refuse_unhonoured(lw, got, node, f"{ufunc}.reduce", honoured=())
    x, axis, keep = got.get("array"), got.get("axis"), got.get("keepdims")
    if x is None:
        lw.type_error(f"{ufunc}.reduce() needs an array", node)
    x = lw.as_value(x, node)   # ints and bools reduce as np.sum/np.max do (int64, bool), not as floats
    if x.type.rank == 0:
        lw.type_error(f"{ufunc}.reduce() of a 0-d value: NumPy raises", node)
    if axis is None:   # not given: axis 0 (axis=None given explicitly reduces all)
        axis = 0
    spec = next(r for r in REDUCTIONS if r.name == _UFUNC_REDUCE[ufunc].lower())
    call = {"axis": axis}
    if keep is not None:
        call["keepdims"] = keep
    return spec.lower(lw, [x], call, node)


def _ufunc_accumulate(lw, args, kwargs, node):
    """ufunc.accumulate(x, axis=0): the running sum / product along an axis."""
    ufunc = _ufunc_of(lw, node)
    x, axis = L.positional(lw, args, kwargs, node, ["array", "axis"], f"{ufunc}.accumulate", 1)
    x = lw.as_value(x, node)   # NumPy: ints accumulate in int64 (bools counted), not in float64
    if x.type.rank == 0:
        lw.type_error(f"{ufunc}.accumulate() of a 0-d value: NumPy raises", node)
    if x.type.dtype == "bool":
        x = lw.cast_to(x, x.type.with_dtype("i64"))
    ax = 0 if axis is None else L.axis_of(lw, axis, x.type.rank, node, f"{ufunc}.accumulate")
    return lw.emit(getattr(O, _UFUNC_ACCUMULATE[ufunc]), (x,), node, {"axis": ax})


_UFUNC_METHODS = [
    Composite("ufunc.outer", tuple(f"numpy.{u}.outer" for u in _UFUNC_OPS), _ufunc_outer,
              examples=(("np.subtract.outer(x, y[::-1])", ((0.5, 2.0), (0.5, 2.0)), [(3,), (2, 1)]),
                        ("np.power.outer(x, y)", ((0.5, 2.0), (0.5, 2.0)), [(3,)]),
                        ("np.maximum.outer(x[0], y)", ((0.5, 2.0), (0.5, 2.0)), [(2, 3)]))),
    Composite("ufunc.reduce", tuple(f"numpy.{u}.reduce" for u in _UFUNC_REDUCE), _ufunc_reduce,
              examples=(("np.add.reduce(x)", ((0.5, 2.0),), [(3,), (2, 3)]),
                        ("np.maximum.reduce(x, axis=None)", ((0.5, 2.0),), [(2, 3)]),
                        ("np.multiply.reduce(x, axis=1, keepdims=True)", ((0.5, 2.0),), [(2, 3)]),
                        ("np.minimum.reduce(x, (0, 1))", ((0.5, 2.0),), [(2, 3)]))),
    Composite("ufunc.accumulate", tuple(f"numpy.{u}.accumulate" for u in _UFUNC_ACCUMULATE), _ufunc_accumulate,
              examples=(("np.add.accumulate(x)", ((0.5, 2.0),), [(3,), (2, 3)]),
                        ("np.multiply.accumulate(x, axis=1)", ((0.5, 2.0),), [(2, 3)]))),
]


COMPOSITES = [
    Composite("where", ("numpy.where",), _where,
              examples=(("np.where(x > 0, x, y)", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("xlogy", ("scipy.special.xlogy",), _xlogy_call, ints="float",
              examples=(("special.xlogy(x, y)", ((-3.0, 3.0), (0.2, 5.0))),)),
    Composite("ndtr", ("scipy.special.ndtr",), _ndtr, ints="float",
              examples=(("special.ndtr(x)", ((-3.0, 3.0),)),)),
    Composite("select", ("numpy.select",), _select,
              examples=(("np.select([x < -1.0, x > 1.0], [x * x, -x], 0.5 * x)", ((-3.0, 3.0),)),)),
    Composite("clip", ("numpy.clip",), _clip, methods=("clip",),
              examples=(("np.clip(x, -1.0, 1.0)", ((-3.0, 3.0),)),)),
    Composite("fmax", ("numpy.fmax",), _fminmax("fmax"),
              examples=(("np.fmax(x, y)", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("fmin", ("numpy.fmin",), _fminmax("fmin"),
              examples=(("np.fmin(x, y)", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("max (builtin)", ("builtins.max",), _minmax("MAXIMUM", "max"),
              examples=(("max(x, y)", ((-3.0, 3.0), (-3.0, 3.0))),)),
    Composite("min (builtin)", ("builtins.min",), _minmax("MINIMUM", "min"),
              examples=(("min(x, y)", ((-3.0, 3.0), (-3.0, 3.0))),)),
]
COMPOSITES += _UFUNC_METHODS
