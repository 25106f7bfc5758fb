"""scipy.stats.norm's methods (cdf, sf, pdf, logpdf; loc and scale; frozen `norm(loc, scale)`
objects made outside) as compositions of registry ops.

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


def method(owner: Any, name: str) -> Callable | None:
    """The lowering of `owner.name(...)` where owner is scipy.stats.norm or a frozen normal."""
    stats = sys.modules.get("scipy.stats")
    if stats is None:
        return None
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
