"""scipy.stats.norm's methods (cdf, sf, pdf, logpdf; loc and scale; frozen `norm(loc, scale)`
objects made outside) and scipy.stats.multivariate_normal's logpdf and pdf (Cholesky, a
triangular solve, the log of the diagonal) as compositions of registry ops.

Input: the owner and name of a bound method the user called (`norm.cdf`, `rv.pdf`).
Output: a lowering `(lw, args, kwargs, node) -> Value`, a refusal for norm's other methods, or
None for anything else.
Invariants: nothing here imports scipy.stats (~0.9 s): a call is recognised once the user's
program has imported it; values are SciPy's formulas (`_norm_pdf`, `_norm_logpdf`, `ndtr`),
NaN where scale <= 0 as SciPy returns.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Callable

from coarsen.ops import lowering as L
from coarsen.ops.binary import _ndtr

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _standardized(lw, args, kwargs, node, name: str):
    """z = (x - loc) / scale, the emitter, and scale (None where it is the default 1)."""
    x, loc, scale = L.positional(lw, args, kwargs, node, ["x", "loc", "scale"], name, 1)
    e, c = L.emitter(lw, node), lw.b.const
    z = L.array(lw, x, node, name, min_rank=0)
    if loc is not None:
        z = e("SUB", z, L.array(lw, loc, node, name, min_rank=0))
    if scale is not None:
        scale = L.array(lw, scale, node, name, min_rank=0)
        z = e("DIV", z, scale)
    return e, c, z, scale


def _valid(e, c, scale, value):
    """SciPy's NaN where scale <= 0."""
    if scale is None:
        return value
    return e("WHERE", e("GT", scale, c(0.0)), value, c(float("nan")))


def _cdf(lw, args, kwargs, node):
    e, c, z, scale = _standardized(lw, args, kwargs, node, "norm.cdf")
    return _valid(e, c, scale, _ndtr(lw, [z], {}, node))


def _sf(lw, args, kwargs, node):
    e, c, z, scale = _standardized(lw, args, kwargs, node, "norm.sf")
    return _valid(e, c, scale, _ndtr(lw, [e("NEG", z)], {}, node))


def _pdf(lw, args, kwargs, node):
    e, c, z, scale = _standardized(lw, args, kwargs, node, "norm.pdf")
    pdf = e("MUL", e("EXP", e("MUL", c(-0.5), e("MUL", z, z))), c(1.0 / math.sqrt(2.0 * math.pi)))
    return _valid(e, c, scale, pdf if scale is None else e("DIV", pdf, scale))


def _logpdf(lw, args, kwargs, node):
    e, c, z, scale = _standardized(lw, args, kwargs, node, "norm.logpdf")
    out = e("SUB", e("MUL", c(-0.5), e("MUL", z, z)), c(_LOG_SQRT_2PI))
    return _valid(e, c, scale, out if scale is None else e("SUB", out, e("LOG", scale)))


NORM: dict[str, Callable] = {"cdf": _cdf, "sf": _sf, "pdf": _pdf, "logpdf": _logpdf}


# ------------------------------------------------------------ multivariate_normal
_PSD_FACTOR = 1e6 * 2.220446049250313e-16   # SciPy's _eigvalsh_to_eps: 1e6 eps of float64


def _mvn_check(lw, bad, exc: type, message: str, node, hint: str | None = None) -> None:
    from coarsen.errors import UnsupportedAtRunTime
    from coarsen.frontend.exceptions import runtime_check
    from coarsen.ops.spec import O

    if exc is UnsupportedAtRunTime:
        loc = lw.src.loc(node)
        lw.emit(O.CHECK, (bad,), node, {"exc": exc, "args": (message, loc.filename, loc.lineno, loc.col, hint)})
        lw.ctx.runtime_raises.append(exc)
    else:
        runtime_check(lw, bad, exc, message, node)


def _mvn_logpdf(lw, args, kwargs, node, name: str = "multivariate_normal.logpdf"):
    """SciPy's log density -(d log(2 pi) + log det C + (x - m)^T C^-1 (x - m)) / 2 through the
    Cholesky factor L of C's lower triangle (the triangle SciPy's eigh reads): log det C =
    2 sum(log(diag L)), the quadratic form the squared norm of L^-1 (x - m). x is one point
    (a vector: a number) or rows of points (a matrix: a vector). SciPy's checks are kept: C
    of shape (d, d); its eigenvalues (np.linalg.eigvalsh) below -eps: ValueError, at most eps
    (singular, allow_singular=False): LinAlgError, eps = 1e6 eps64 max|w|. Where SciPy's
    result would change shape with the data (a matrix of one row: a number; d = 1 with a vector
    x: one point per element), refused when running."""
    import numpy as np

    from coarsen.errors import UnsupportedAtRunTime
    from coarsen.ops.shape import offset_mask
    from coarsen.ops.spec import O

    from coarsen.frontend.bindings import Static

    x, mean, cov, singular = L.positional(lw, args, kwargs, node, ["x", "mean", "cov", "allow_singular"], name, 1)

    def given(b) -> bool:
        return b is not None and not (isinstance(b, Static) and b.obj is None)
    if not given(mean) or not given(cov):
        missing = " and ".join(k for k, b in (("mean", mean), ("cov", cov)) if not given(b))
        lw.unsupported(f"{name}() without {missing} (SciPy's defaults: a zero mean, cov 1) is not supported", node,
                       "pass both: mean a vector of length d, cov a (d, d) matrix (np.zeros(d), np.eye(d) for the defaults)")
    cov_value = lw.as_value(cov, node) if not isinstance(cov, Static) else None
    if cov_value is not None and cov_value.type.rank < 2:
        lw.unsupported(f"{name}() with cov {'a number' if not cov_value.type.rank else 'a vector'} (SciPy reads it as "
                       f"{'a multiple of the identity' if not cov_value.type.rank else 'the diagonal'}) is not supported",
                       node, "pass the (d, d) matrix: c * np.eye(d) or np.diag(v)")
    if L.static(lw, singular, node, "allow_singular"):
        lw.unsupported(f"{name}() with allow_singular=True is not supported", node,
                       "a singular covariance has no Cholesky factor; pass a positive definite cov")
    e, c = L.emitter(lw, node), lw.b.const
    x = L.array(lw, x, node, name, min_rank=1)
    mean = L.array(lw, mean, node, name, min_rank=1)
    cov = L.array(lw, cov, node, name, min_rank=2)
    if x.type.rank > 2 or mean.type.rank != 1 or cov.type.rank != 2:
        lw.unsupported(f"{name}() of x of rank {x.type.rank}, mean of rank {mean.type.rank} and cov of rank "
                       f"{cov.type.rank} is not supported", node,
                       "x: one point (a vector) or points as rows (a matrix); mean: a vector; cov: a matrix")
    d = lw.emit(O.SHAPE, (mean,), node, {"dim": 0})
    n, m = L.shape(lw, cov, node)
    _mvn_check(lw, e("OR", e("NE", n, d), e("NE", m, d)), ValueError,
               "Dimension mismatch: array 'cov' is not of shape (d, d), d the length of 'mean'.", node)
    last = lw.emit(O.SHAPE, (x,), node, {"dim": x.type.rank - 1})
    if x.type.rank == 1:
        odd = e("AND", e("EQ", d, c(1)), e("NE", last, c(1)))
        _mvn_check(lw, odd, UnsupportedAtRunTime,
                   f"{name}() of a vector x with a mean of length 1: SciPy reads each element as a point "
                   "and returns a vector, which this program's shape (one point: a number) cannot follow",
                   node, "pass the points as a column, x[:, None]")
    else:
        rows = lw.emit(O.SHAPE, (x,), node, {"dim": 0})
        _mvn_check(lw, e("EQ", rows, c(1)), UnsupportedAtRunTime,
                   f"{name}() of a matrix x of one row: SciPy returns a number, which this program's shape "
                   "(one value per row: a vector) cannot follow", node, "pass the point as a vector, x[0]")
    _mvn_check(lw, e("NE", last, d), ValueError,
               "Dimension mismatch: the last axis of 'x' is not the length of 'mean'.", node)
    from coarsen.ops.scipy_linalg import _finite
    _finite(lw, (cov,), node)   # SciPy's eigh checks: ValueError for infs or NaNs
    w = lw.emit(O.EIGH_W, (cov,), node, {"lower": True, "alone": True})
    eps = e("MUL", c(_PSD_FACTOR), lw.emit(O.MAX, (e("ABS", w),), node, {"axis": None, "keepdims": False}))
    smallest = lw.emit(O.MIN, (w,), node, {"axis": None, "keepdims": False})
    _mvn_check(lw, e("LT", smallest, e("NEG", eps)), ValueError,
               "The input matrix must be symmetric positive semidefinite.", node)
    _mvn_check(lw, e("LE", smallest, eps), np.linalg.LinAlgError,
               "When `allow_singular is False`, the input matrix must be symmetric positive definite.", node)
    chol = lw.emit(O.CHOLESKY, (cov,), node)
    dev = e("SUB", x, mean)
    z = lw.emit(O.SOLVE, (chol, dev if x.type.rank == 1 else lw.emit(O.TRANSPOSE, (dev,), node)), node)
    maha = lw.emit(O.SUM, (e("MUL", z, z),), node, {"axis": None if x.type.rank == 1 else 0, "keepdims": False})
    diagonal = offset_mask(lw, n, m, c(0), node, "EQ")
    log_det = e("MUL", c(2.0), lw.emit(O.SUM, (e("LOG", e("WHERE", diagonal, chol, c(1.0))),), node,
                                       {"axis": None, "keepdims": False}))
    dims = lw.cast_to(d, d.type.with_dtype("f64"))
    const = e("ADD", e("MUL", dims, c(2.0 * _LOG_SQRT_2PI)), log_det)
    return e("MUL", c(-0.5), e("ADD", const, maha))


def _mvn_pdf(lw, args, kwargs, node):
    from coarsen.ops.spec import O

    return lw.emit(O.EXP, (_mvn_logpdf(lw, args, kwargs, node, "multivariate_normal.pdf"),), node)


MVN: dict[str, Callable] = {"logpdf": _mvn_logpdf, "pdf": _mvn_pdf}


def _multivariate(stats, owner: Any, name: str) -> Callable | None:
    gen = getattr(stats, "multivariate_normal", None)
    if gen is None:
        return None
    frozen = type(owner).__name__ == "multivariate_normal_frozen" and type(owner).__module__.startswith("scipy.stats")
    if type(owner) is not type(gen) and not frozen:
        return None
    lower = MVN.get(name)
    if lower is not None and not frozen:
        return lower

    def refuse(lw, args, kwargs, node):
        if frozen:
            lw.unsupported(f"a frozen multivariate_normal's {name} is not supported", node,
                           "call multivariate_normal.logpdf(x, mean, cov) (or .pdf) with the mean and cov")
        lw.unsupported(f"multivariate_normal.{name} is not supported", node,
                       "scipy.stats.multivariate_normal supports logpdf and pdf (with mean and cov)")
    return refuse


def method(owner: Any, name: str) -> Callable | None:
    """The lowering of `owner.name(...)` where owner is scipy.stats.norm or a frozen normal, or
    scipy.stats.multivariate_normal."""
    stats = sys.modules.get("scipy.stats")
    if stats is None:
        return None
    multivariate = _multivariate(stats, owner, name)
    if multivariate is not None:
        return multivariate
    frozen = isinstance(owner, getattr(stats.distributions, "rv_frozen", ()))
    dist = owner.dist if frozen else owner   # a frozen one holds a new instance of norm's class
    if type(dist) is not type(stats.norm) or (dist.a, dist.b) != (-math.inf, math.inf):
        return None
    lower = NORM.get(name)
    if lower is None:
        def refuse(lw, args, kwargs, node):
            lw.unsupported(f"norm.{name} is not supported", node,
                           f"scipy.stats.norm supports {', '.join(sorted(NORM))} (with loc and scale); "
                           "write the rest with them and np.log, np.exp")
        return refuse
    if not frozen:
        return lower

    def frozen_lower(lw, args, kwargs, node):   # norm(loc, scale) made outside: its arguments
        if lw.ctx.reads is not None:   # reads of the object's state: another rv is another program
            for attr in ("dist", "args", "kwds"):
                lw.ctx.reads.attr(owner, attr, getattr(owner, attr))
        fixed = dict(zip(["loc", "scale"], owner.args), **owner.kwds)
        if len(args) != 1 or kwargs or set(fixed) - {"loc", "scale"}:
            lw.type_error(f"a frozen norm's {name}() takes one argument here", node)
        return lower(lw, [args[0]], {k: lw.from_python(v, node) for k, v in fixed.items()}, node)
    return frozen_lower
