"""Elementwise unary ops: NumPy ufuncs, `math` functions and `scipy.special` functions.

One `Elementwise` entry per op: the callables it stands for, its NumPy evaluation, its
SymPy form (which gives its derivative, its printed source and its fused GPU form) and its
constant folding. Special functions NumPy lacks (erf, lgamma, digamma) are SymPy classes
printed as `rt.<name>`, implemented in `kernels.special`.
"""
from __future__ import annotations

import math
import operator

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from coarsen.ops import lowering as L
from coarsen.ops.spec import Composite, Elementwise, O, special_function
from kernels import special as rt_special
from phicalc.terms import Sigmoid, Sign

# -- SymPy classes of special functions (printed as rt.*, differentiated by these rules)
Trigamma = special_function("Trigamma", "rt.trigamma", 1, None, device="cuda_special.trigamma")
Digamma = special_function("Digamma", "rt.digamma", 1, lambda x: (Trigamma(x),))
Lgamma = special_function("Lgamma", "rt.lgamma", 1, lambda x: (Digamma(x),))
Gamma = special_function("Gamma", "rt.gamma", 1, lambda x: (Gamma(x) * Digamma(x),))
Erf = special_function("Erf", "rt.erf", 1,
                       lambda x: (2 / sp.sqrt(sp.pi) * sp.exp(-x ** 2),))
Erfc = special_function("Erfc", "rt.erfc", 1,
                        lambda x: (-2 / sp.sqrt(sp.pi) * sp.exp(-x ** 2),))
Cbrt = special_function("Cbrt", "np.cbrt", 1, lambda x: (1 / (3 * Cbrt(x) ** 2),))
# NumPy's own log10/log2/exp2 (exact at powers of the base, as log(x) / log(10) and
# exp(x ln 2) are not: np.log10(1000.0) is 3.0, log(1000) / log(10) 2.9999999999999996)
Log10 = special_function("Log10", "np.log10", 1, lambda x: (1 / (x * sp.Float(math.log(10.0))),))
Log2 = special_function("Log2", "np.log2", 1, lambda x: (1 / (x * sp.Float(math.log(2.0))),))
Exp2 = special_function("Exp2", "np.exp2", 1, lambda x: (Exp2(x) * sp.Float(math.log(2.0)),))


def _not_emit(instr, a):
    return f"np.logical_not({a[0]})" if instr.result.type.rank else f"not {a[0]}"


def _expit(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))
    return out if out.ndim else float(out)


def _fold_expit(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _math(name, callables, numpy_fn, sympy_fn, fold, printed, device, torch=None,
          domain=((-3.0, 3.0),), avoid=(), differentiable=True, result="float"):
    return Elementwise(name, 1, tuple(callables), numpy_fn, result, sympy_fn, fold,
                       emit=lambda instr, a, p=printed: f"{p}({a[0]})",
                       differentiable=differentiable, printed=printed, device=device,
                       torch=torch, domain=domain, avoid=avoid)


UNARY = [
    Elementwise("neg", 1, ("numpy.negative",), operator.neg, "promote", lambda a: -a,
                lambda a: -a, emit=lambda instr, a: f"-{a[0]}", torch="torch.neg"),
    Elementwise("not", 1, ("numpy.logical_not",), np.logical_not, "bool", None,
                lambda a: not a, emit=_not_emit, differentiable=False),
    _math("exp", ["numpy.exp", "math.exp"], np.exp, sp.exp, math.exp, "np.exp", "math.exp", "torch.exp"),
    _math("log", [], np.log, sp.log, math.log, "np.log", "math.log", "torch.log", ((0.1, 5.0),)),
    _math("log1p", ["numpy.log1p", "math.log1p"], np.log1p, log1p, math.log1p, "np.log1p",
          "math.log1p", "torch.log1p", ((-0.9, 3.0),)),
    _math("expm1", ["numpy.expm1", "math.expm1"], np.expm1, expm1, math.expm1, "np.expm1",
          "math.expm1", "torch.expm1"),
    _math("sqrt", ["numpy.sqrt", "math.sqrt"], np.sqrt, sp.sqrt, math.sqrt, "np.sqrt", "math.sqrt",
          "torch.sqrt", ((0.1, 5.0),)),
    _math("sin", ["numpy.sin", "math.sin"], np.sin, sp.sin, math.sin, "np.sin", "math.sin", "torch.sin"),
    _math("cos", ["numpy.cos", "math.cos"], np.cos, sp.cos, math.cos, "np.cos", "math.cos", "torch.cos"),
    _math("tan", ["numpy.tan", "math.tan"], np.tan, sp.tan, math.tan, "np.tan", "math.tan", "torch.tan",
          ((-1.2, 1.2),)),
    _math("tanh", ["numpy.tanh", "math.tanh"], np.tanh, sp.tanh, math.tanh, "np.tanh", "math.tanh",
          "torch.tanh"),
    _math("arctan", ["numpy.arctan", "math.atan"], np.arctan, sp.atan, math.atan, "np.arctan",
          "math.atan", "torch.atan"),
    _math("sinh", ["numpy.sinh", "math.sinh"], np.sinh, sp.sinh, math.sinh, "np.sinh", "math.sinh",
          "torch.sinh"),
    _math("cosh", ["numpy.cosh", "math.cosh"], np.cosh, sp.cosh, math.cosh, "np.cosh", "math.cosh",
          "torch.cosh"),
    _math("arcsin", ["numpy.arcsin", "math.asin"], np.arcsin, sp.asin, math.asin, "np.arcsin",
          "math.asin", "torch.asin", ((-0.9, 0.9),)),
    _math("arccos", ["numpy.arccos", "math.acos"], np.arccos, sp.acos, math.acos, "np.arccos",
          "math.acos", "torch.acos", ((-0.9, 0.9),)),
    _math("arcsinh", ["numpy.arcsinh", "math.asinh"], np.arcsinh, sp.asinh, math.asinh, "np.arcsinh",
          "math.asinh", "torch.asinh"),
    _math("arccosh", ["numpy.arccosh", "math.acosh"], np.arccosh, sp.acosh, math.acosh, "np.arccosh",
          "math.acosh", "torch.acosh", ((1.2, 4.0),)),
    _math("arctanh", ["numpy.arctanh", "math.atanh"], np.arctanh, sp.atanh, math.atanh, "np.arctanh",
          "math.atanh", "torch.atanh", ((-0.9, 0.9),)),
    _math("log10", ["numpy.log10", "math.log10"], np.log10, Log10, None, "np.log10", "math.log10",
          "torch.log10", ((0.1, 5.0),)),
    _math("log2", ["numpy.log2", "math.log2"], np.log2, Log2, None, "np.log2", "math.log2",
          "torch.log2", ((0.1, 5.0),)),
    # GPU form: kernels.cuda_special.exp2 (pow(2, x))
    _math("exp2", ["numpy.exp2"], np.exp2, Exp2, None, "np.exp2", "cuda_special.exp2", "torch.exp2"),
    _math("cbrt", ["numpy.cbrt", "math.cbrt"], np.cbrt, Cbrt, None, "np.cbrt", "math.cbrt", None,
          avoid=(0.0,)),
    _math("erf", ["math.erf", "scipy.special.erf"], rt_special.erf, Erf, math.erf, "rt.erf", "math.erf",
          "torch.erf"),
    _math("erfc", ["math.erfc", "scipy.special.erfc"], rt_special.erfc, Erfc, math.erfc, "rt.erfc",
          "math.erfc", "torch.erfc"),
    _math("lgamma", ["math.lgamma"], rt_special.lgamma, Lgamma, math.lgamma,
          "rt.lgamma", "math.lgamma", "torch.lgamma", ((0.2, 6.0),)),
    _math("gamma", ["math.gamma", "scipy.special.gamma"], rt_special.gamma, Gamma, math.gamma,
          "rt.gamma", "math.gamma", None, ((0.2, 4.0),)),
    # GPU form: kernels.cuda_special (CUDA's math has no digamma)
    _math("digamma", ["scipy.special.digamma", "scipy.special.psi"], rt_special.digamma, Digamma,
          rt_special.digamma_scalar, "rt.digamma", "cuda_special.digamma", "torch.digamma", ((0.2, 6.0),)),
    _math("expit", ["scipy.special.expit"], _expit, Sigmoid, _fold_expit, None, None, "torch.sigmoid"),
    Elementwise("abs", 1, ("numpy.abs", "numpy.absolute", "math.fabs", "builtins.abs"),
                np.abs, "promote", sp.Abs, abs, emit=lambda instr, a: f"np.abs({a[0]})",
                printed="np.abs", device="abs", torch="torch.abs", avoid=(0.0,)),
    Elementwise("sign", 1, ("numpy.sign",), np.sign, "promote", Sign, None,
                # + 0.0 for floats: NumPy's sign of -0.0 is 0.0, Numba's -0.0
                emit=lambda instr, a: f"(np.sign({a[0]}) + 0.0)" if instr.result.type.dtype == "f64"
                else f"np.sign({a[0]})", differentiable=False, torch="torch.sign",
                avoid=(0.0,)),
    Elementwise("floor", 1, ("numpy.floor",), np.floor, "float", sp.floor, math.floor,
                emit=lambda instr, a: f"np.floor({a[0]})", differentiable=False, printed="np.floor",
                device="math.floor", torch="torch.floor", avoid=(-3, -2, -1, 0, 1, 2, 3)),
    Elementwise("ceil", 1, ("numpy.ceil",), np.ceil, "float", sp.ceiling, math.ceil,
                emit=lambda instr, a: f"np.ceil({a[0]})", differentiable=False, printed="np.ceil",
                device="math.ceil", torch="torch.ceil", avoid=(-3, -2, -1, 0, 1, 2, 3)),
]


# ------------------------------------------------------------------ composites
def _np_log(lw, args, kwargs, node):
    """np.log(x): its second argument is `out` (NumPy raises TypeError for np.log(x, 2)), never
    math.log's base."""
    if len(args) > 1 or kwargs:
        lw.type_error("np.log() takes one argument here: its second argument is `out`, not a base "
                      "(NumPy raises TypeError: return arrays must be of ArrayType)", node,
                      "np.log2(x), np.log(x) / np.log(b), or math.log(x, b) for a number")
    return _log(lw, args, kwargs, node)


def _gammaln(lw, args, kwargs, node):
    """scipy.special.gammaln: log|Gamma(x)|, as math.lgamma except at -inf, where SciPy gives
    -inf (math.lgamma, and so Python, inf)."""
    L.arity(lw, args, kwargs, node, 1, "gammaln")
    e = L.emitter(lw, node)
    x = L.array(lw, args[0], node, "gammaln", min_rank=0)
    return e("WHERE", e("EQ", x, lw.b.const(-math.inf)), lw.b.const(-math.inf), e("LGAMMA", x))


def _log(lw, args, kwargs, node):
    if len(args) == 2 and not kwargs:   # math.log(x, base)
        x, base = (lw.as_value(a, node) for a in args)
        return lw.emit(O.DIV, (lw.emit(O.LOG, (x,), node), lw.emit(O.LOG, (base,), node)), node)
    L.arity(lw, args, kwargs, node, 1, "log")
    return lw.emit(O.LOG, (lw.as_value(args[0], node),), node)


def _square(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "square")
    x = lw.as_value(args[0], node)
    if x.type.dtype == "bool":
        lw.unsupported("np.square() of booleans: NumPy computes it in int8", node,
                       "convert first: mask.astype(np.int64) (or use the mask itself: its square)")
    return lw.emit(O.MUL, (x, x), node)


def _fabs(lw, args, kwargs, node):
    """np.fabs: the absolute value as a float (float64 for ints; NumPy computes booleans in
    float16: refused). math.fabs is the abs op behind `calls._math_spelling`'s conversion."""
    L.arity(lw, args, kwargs, node, 1, "fabs")
    x = lw.as_value(args[0], node)
    if x.type.dtype == "bool":
        lw.unsupported("np.fabs() of booleans: NumPy computes it in float16", node,
                       "convert first: mask.astype(float)")
    if x.type.dtype != "f64":
        x = lw.convert(x, "f64", node)   # explicit: computed in float64 where it stands
    return lw.emit(O.ABS, (x,), node)


def _reciprocal(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "reciprocal")
    return lw.emit(O.DIV, (lw.b.const(1.0), lw.as_value(args[0], node)), node)


def _logit(lw, args, kwargs, node):
    """log(p / (1 - p)) as log(p) - log1p(-p): exact near 0 and 1."""
    L.arity(lw, args, kwargs, node, 1, "logit")
    p = lw.as_value(args[0], node)
    return lw.emit(O.SUB, (lw.emit(O.LOG, (p,), node),
                           lw.emit(O.LOG1P, (lw.emit(O.NEG, (p,), node),), node)), node)


def _sinc(lw, args, kwargs, node):
    """sin(pi x) / (pi x), NumPy's, and 1 at 0 as its Taylor polynomial 1 - u^2/6 + u^4/120
    - u^6/5040 (u = pi x): exactly 1 there, and the derivatives of every order up to 7 are
    sinc's own (a constant 1 had a second derivative 0 where -pi^2/3 is right)."""
    L.arity(lw, args, kwargs, node, 1, "sinc")
    x = lw.as_value(args[0], node)
    zero = lw.emit(O.EQ, (x, lw.b.const(0.0)), node)
    safe = lw.emit(O.WHERE, (zero, lw.b.const(1.0), x), node)
    px = lw.emit(O.MUL, (safe, lw.b.const(math.pi)), node)
    ratio = lw.emit(O.DIV, (lw.emit(O.SIN, (px,), node), px), node)
    u2 = lw.emit(O.MUL, (lw.emit(O.MUL, (x, x), node), lw.b.const(math.pi ** 2)), node)
    taylor = lw.b.const(-1.0 / 5040.0)
    for c in (1.0 / 120.0, -1.0 / 6.0, 1.0):   # Horner in u^2
        taylor = lw.emit(O.ADD, (lw.emit(O.MUL, (taylor, u2), node), lw.b.const(c)), node)
    return lw.emit(O.WHERE, (zero, taylor, ratio), node)


def _positive(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "positive")
    return lw.as_value(args[0], node)


def _scaled(name: str, factor: float):
    """x * factor (deg2rad, rad2deg)."""
    def lower(lw, args, kwargs, node):
        L.arity(lw, args, kwargs, node, 1, name)
        return lw.emit(O.MUL, (lw.as_value(args[0], node), lw.b.const(factor)), node)
    return lower


def _classify(name: str):
    """isnan: x != x; isinf: |x| == inf; isfinite: |x| < inf (false for NaN too): bools, no
    derivative."""
    def lower(lw, args, kwargs, node):
        L.arity(lw, args, kwargs, node, 1, name)
        x = lw.as_value(args[0], node)
        if name == "isnan":
            return lw.emit(O.NE, (x, x), node)
        mag = lw.emit(O.ABS, (x,), node)
        return lw.emit(O.EQ if name == "isinf" else O.LT, (mag, lw.b.const(math.inf)), node)
    return lower


def _trunc_value(lw, x, node):
    """Rounding toward zero: ceil below 0, floor from 0 up (NaN stays NaN)."""
    negative = lw.emit(O.LT, (x, lw.b.const(0.0)), node)
    return lw.emit(O.WHERE, (negative, lw.emit(O.CEIL, (x,), node), lw.emit(O.FLOOR, (x,), node)), node)


def _rint_value(lw, x, node):
    """NumPy's rint: to the nearest integer, ties to the even one, built from floor (x - floor(x)
    is exact); a zero result keeps x's sign (rint(-0.4) is -0.0), as NumPy's does."""
    c = lw.b.const
    r = lw.emit(O.FLOOR, (x,), node)
    up = lw.emit(O.ADD, (r, c(1.0)), node)
    frac = lw.emit(O.SUB, (x, r), node)
    even = lw.emit(O.EQ, (lw.emit(O.MOD, (r, c(2.0)), node), c(0.0)), node)
    tie = lw.emit(O.WHERE, (even, r, up), node)
    below = lw.emit(O.WHERE, (lw.emit(O.LT, (frac, c(0.5)), node), r, tie), node)
    out = lw.emit(O.WHERE, (lw.emit(O.GT, (frac, c(0.5)), node), up, below), node)
    zero = lw.emit(O.EQ, (out, c(0.0)), node)
    return lw.emit(O.WHERE, (zero, lw.emit(O.MUL, (x, c(0.0)), node), out), node)


def _float_of(lw, x, node):
    x = lw.as_value(x, node)
    return x if x.type.dtype == "f64" else lw.cast_to(x, x.type.with_dtype("f64"))


def _rounding(name: str, to_int: bool):
    """np.trunc/np.fix/np.rint (float results), and math.floor/ceil/trunc, whose int result
    is Python's int(): ValueError for NaN, OverflowError for inf, as the int() cast raises."""
    shapes = {"floor": lambda lw, x, node: lw.emit(O.FLOOR, (x,), node),
              "ceil": lambda lw, x, node: lw.emit(O.CEIL, (x,), node),
              "trunc": _trunc_value, "rint": _rint_value}

    def lower(lw, args, kwargs, node):
        L.arity(lw, args, kwargs, node, 1, name)
        x = lw.as_value(args[0], node)
        if to_int and x.type.dtype != "f64":
            return x
        if name == "trunc" and x.type.dtype == "i64":   # np.trunc/np.fix of ints: the ints (NumPy)
            return lw.emit(O.COPY, (x,), node) if x.type.rank else x
        if to_int and x.type.rank:
            lw.type_error(f"math.{name}() of an array: only size-1 arrays can be converted", node)
        y = shapes[name](lw, _float_of(lw, x, node), node)
        return lw.cast_to(y, y.type.with_dtype("i64")) if to_int else y
    return lower


def _np_round(lw, args, kwargs, node):
    """np.round / np.around / x.round(decimals): NumPy's algorithm, rint(x * 10**d) / 10**d
    (rint(x / 10**-d) * 10**-d for negative d)."""
    x, decimals = L.positional(lw, args, kwargs, node, ["a", "decimals"], "round", 1)
    d = 0 if decimals is None else L.static(lw, decimals, node, "decimals")
    if not isinstance(d, int) or isinstance(d, bool):
        lw.unsupported(f"round() with decimals={d!r} is not supported", node, "give an integer")
    value = lw.as_value(x, node)
    if value.type.dtype == "i64" and d >= 0:   # NumPy: ints round to themselves (int64)
        return lw.emit(O.COPY, (value,), node) if value.type.rank else value
    x = _float_of(lw, x, node)
    if d == 0:
        return _rint_value(lw, x, node)
    scale = lw.b.const(float(10 ** abs(d)))
    into, back = (O.MUL, O.DIV) if d > 0 else (O.DIV, O.MUL)
    return lw.emit(back, (_rint_value(lw, lw.emit(into, (x, scale), node), node), scale), node)


def _builtin_round(lw, args, kwargs, node):
    """round(x) of a number: the int nearest (ties to even, as rint), raising as int() does;
    round(x, n) rounds decimally in Python (not NumPy's way), so it is refused."""
    if len(args) != 1 or kwargs:
        lw.unsupported("round(x, ndigits) is not supported", node,
                       "use np.round(x, ndigits) (NumPy's rounding) or round(x) for an int")
    x = lw.as_value(args[0], node)
    if x.type.rank:
        lw.unsupported("round() of an array is not supported", node, "use np.round(x)")
    if x.type.dtype != "f64":
        return lw.python_scalar(x)   # round(np.int64(3)) is Python's 3
    y = _rint_value(lw, x, node)
    return lw.python_scalar(lw.cast_to(y, y.type.with_dtype("i64")))


COMPOSITES = [
    Composite("log", ("numpy.log",), _np_log, examples=(("np.log(x)", ((0.1, 5.0),)),)),
    Composite("math.log", ("math.log",), _log, examples=(("math.log(x, 2.0) * x", ((0.1, 5.0),), [()]),)),
    Composite("gammaln", ("scipy.special.gammaln",), _gammaln, ints="float",
              examples=(("special.gammaln(x)", ((0.2, 6.0),)),)),
    Composite("square", ("numpy.square",), _square, examples=(("np.square(x)", ((-3.0, 3.0),)),)),
    Composite("fabs", ("numpy.fabs",), _fabs, ints="float", examples=(("np.fabs(x)", ((-3.0, 3.0),)),)),
    Composite("reciprocal", ("numpy.reciprocal",), _reciprocal,
              examples=(("np.reciprocal(x)", ((0.5, 3.0),)),)),
    Composite("logit", ("scipy.special.logit",), _logit, examples=(("logit(x)", ((0.05, 0.95),)),)),
    Composite("sinc", ("numpy.sinc",), _sinc, examples=(("np.sinc(x)", ((-2.0, 2.0),)),)),
    Composite("positive", ("numpy.positive",), _positive, examples=(("np.positive(x)", ((-2.0, 2.0),)),)),
    Composite("deg2rad", ("numpy.deg2rad", "numpy.radians", "math.radians"), _scaled("deg2rad", math.pi / 180.0),
              examples=(("np.deg2rad(x)", ((-200.0, 200.0),)),)),
    Composite("rad2deg", ("numpy.rad2deg", "numpy.degrees", "math.degrees"), _scaled("rad2deg", 180.0 / math.pi),
              examples=(("np.rad2deg(x)", ((-3.0, 3.0),)),)),
    Composite("trunc", ("numpy.trunc", "numpy.fix"), _rounding("trunc", False),
              examples=(("np.trunc(x) * x", ((-3.0, 3.0),)),)),
    Composite("rint", ("numpy.rint",), _rounding("rint", False), examples=(("np.rint(x) * x", ((-3.0, 3.0),)),)),
    Composite("round", ("numpy.round", "numpy.around"), _np_round, methods=("round",),
              examples=(("np.round(x, 1) * x", ((-3.0, 3.0),)),)),
    Composite("round (builtin)", ("builtins.round",), _builtin_round,
              examples=(("round(x * 3.0) * x", ((-3.0, 3.0),), [()]),)),
    Composite("math.floor", ("math.floor",), _rounding("floor", True),
              examples=(("math.floor(x * 3.0) * x", ((-3.0, 3.0),), [()]),)),
    Composite("math.ceil", ("math.ceil",), _rounding("ceil", True),
              examples=(("math.ceil(x * 3.0) * x", ((-3.0, 3.0),), [()]),)),
    Composite("math.trunc", ("math.trunc",), _rounding("trunc", True),
              examples=(("math.trunc(x * 3.0) * x", ((-3.0, 3.0),), [()]),)),
    Composite("isnan", ("numpy.isnan", "math.isnan"), _classify("isnan"),
              examples=(("np.where(np.isnan(np.where(x > 0.0, np.nan, x)), 0.0, x)", ((-3.0, 3.0),)),)),
    Composite("isinf", ("numpy.isinf", "math.isinf"), _classify("isinf"),
              examples=(("np.where(np.isinf(np.where(x > 1.0, -np.inf, x)), 0.0, x)", ((-3.0, 3.0),)),)),
    Composite("isfinite", ("numpy.isfinite", "math.isfinite"), _classify("isfinite"),
              examples=(("np.where(np.isfinite(np.where(x > 0.0, np.nan, np.where(x < -1.0, np.inf, x))), x, 1.0)",
                         ((-3.0, 3.0),)),)),
]
