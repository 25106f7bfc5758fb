"""Numba implementations of `kernels.special` (rt.erf, rt.digamma, ...) and `kernels.scans`
(rt.cumsum, ...) for the cpu target.

Each function gets its own uniquely named overload, written out from one template (not a
closure of one factory: Numba links callees by qualified name, see `kernels.numba_runtime`):
a float maps to the scalar implementation, an array of any rank to a new array filled
element by element. Not cached on disk (template code has no source file to key on).
"""
from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from kernels import runtime as rt
from kernels import special

# named functions, not lambdas: Numba links a cached program's callees by qualified name, and
# two `<lambda>`s (erf's and erfc's) would be one name
@register_jitable
def _erf_scalar(x):
    return math.erf(x)


@register_jitable
def _erfc_scalar(x):
    return math.erfc(x)


_SCALAR = {
    "erf": _erf_scalar,
    "erfc": _erfc_scalar,
    "digamma": register_jitable(special.digamma_scalar),
    "trigamma": register_jitable(special.trigamma_scalar),
}


@register_jitable
def _gamma_scalar(x):
    # SciPy's: +-inf at +-0, nan at the negative integers and -inf (np.floor: a float, where
    # math.floor's int64 would overflow for huge or infinite x)
    if x == 0.0:
        return math.copysign(math.inf, x)
    if x < 0.0 and (math.isinf(x) or x == np.floor(x)):
        return math.nan
    if x > 171.7:
        return math.inf
    return math.gamma(x)


@register_jitable
def _lgamma_scalar(x):
    if x <= 0.0 and x == np.floor(x):
        return math.inf
    return math.lgamma(x)


_SCALAR["gamma"] = _gamma_scalar
_SCALAR["lgamma"] = _lgamma_scalar

_TEMPLATE = """
def _{name}_overload(x):
    if isinstance(x, types.Array):
        def impl(x):
            out = np.empty(x.shape)
            for idx in np.ndindex(x.shape):
                out[idx] = scalar(float(x[idx]))
            return out
        return impl
    return lambda x: scalar(float(x))
"""

for _name, _scalar in _SCALAR.items():
    _namespace = {"types": types, "np": np, "scalar": _scalar, "__name__": __name__}
    exec(compile(_TEMPLATE.format(name=_name), f"<kernels.numba_special {_name}>", "exec"), _namespace)
    overload(getattr(rt, _name))(_namespace[f"_{_name}_overload"])


# ------------------------------------------------------------------ rt.int_power (int64 a ** e)
@register_jitable
def _int_power_scalar(a, e):
    """a ** e in int64 for e >= 0: repeated squaring, wrapping as NumPy's int64 power."""
    result = np.int64(1)
    square = np.int64(a)
    k = np.int64(e)
    while k > 0:
        if k & 1:
            result = result * square
        k = k >> 1
        if k:
            square = square * square
    return result


def _int_power_overload(a, e):
    if isinstance(a, types.Array) and isinstance(e, types.Array):
        def both(a, e):
            out = np.empty(a.shape, dtype=np.int64)
            for idx in np.ndindex(a.shape):
                out[idx] = _int_power_scalar(a[idx], e[idx])
            return out
        return both
    if isinstance(a, types.Array):
        def base(a, e):
            out = np.empty(a.shape, dtype=np.int64)
            for idx in np.ndindex(a.shape):
                out[idx] = _int_power_scalar(a[idx], e)
            return out
        return base
    if isinstance(e, types.Array):
        def exponent(a, e):
            out = np.empty(e.shape, dtype=np.int64)
            for idx in np.ndindex(e.shape):
                out[idx] = _int_power_scalar(a, e[idx])
            return out
        return exponent
    return lambda a, e: _int_power_scalar(a, e)


overload(rt.int_power)(_int_power_overload)


# ---------------------------------------------------------------------- scans (kernels.scans)
# Each scan moves its axis last (a contiguous copy), runs over the rows of a 2-D view, and
# moves the axis back. One named function per scan and rank, from a template, as above.
@register_jitable
def _scan_rows(kind, a, b):
    rows, n = a.shape
    out = np.empty((rows, n))
    for r in range(rows):
        if kind == 0:       # cumsum: from the first element, as NumPy's (0.0 + -0.0 is 0.0)
            acc = a[r, 0] if n else 0.0
            for i in range(n):
                if i:
                    acc += a[r, i]
                out[r, i] = acc
        elif kind == 1:     # cumprod
            acc = 1.0
            for i in range(n):
                acc *= a[r, i]
                out[r, i] = acc
        elif kind == 2:     # rcumsum
            acc = 0.0
            for i in range(n - 1, -1, -1):
                acc += a[r, i]
                out[r, i] = acc
        elif kind == 4:     # cumprod_jvp: a is x, b the tangent of x
            y = 1.0
            dy = 0.0
            for i in range(n):
                dy = dy * a[r, i] + y * b[r, i]
                y *= a[r, i]
                out[r, i] = dy
        else:               # cumprod_grad: a is x, b the adjoint of cumprod(x)
            s = 0.0
            for i in range(n - 1, -1, -1):
                s = b[r, i] + (a[r, i + 1] * s if i + 1 < n else 0.0)
                out[r, i] = s
            y = 1.0
            for i in range(n):
                out[r, i] *= y
                y *= a[r, i]
    return out


@register_jitable
def _int_scan_rows(kind, a, b):
    """cumsum (kind 0) and cumprod (kind 1) of integer rows in int64, as NumPy computes them
    (exact, wrapping on overflow), not through float64."""
    rows, n = a.shape
    out = np.empty((rows, n), dtype=np.int64)
    for r in range(rows):
        acc = 0 if kind == 0 else 1
        for i in range(n):
            if kind == 0:
                acc += a[r, i]
            else:
                acc *= a[r, i]
            out[r, i] = acc
    return out


_SCAN_TEMPLATE = """
def _{name}_one_r1(x, axis):
    return _{name}_r1(x, x, axis)


def _{name}_one_r2(x, axis):
    return _{name}_r2(x, x, axis)


def _{name}_one_r3(x, axis):
    return _{name}_r3(x, x, axis)


def _{name}_r1(x, d, axis):
    a = np.ascontiguousarray(x).reshape((1, x.shape[0]))
    b = np.ascontiguousarray(d).reshape((1, d.shape[0]))
    return _scan_rows({kind}, a, b).reshape((x.shape[0],))


def _{name}_r2(x, d, axis):
    if axis == 1:
        return _scan_rows({kind}, np.ascontiguousarray(x), np.ascontiguousarray(d))
    out = _scan_rows({kind}, np.ascontiguousarray(x.T), np.ascontiguousarray(d.T))
    return np.ascontiguousarray(out.T)


def _{name}_r3(x, d, axis):
    if axis == 0:
        a = np.ascontiguousarray(np.transpose(x, (1, 2, 0)))
        b = np.ascontiguousarray(np.transpose(d, (1, 2, 0)))
    elif axis == 1:
        a = np.ascontiguousarray(np.transpose(x, (0, 2, 1)))
        b = np.ascontiguousarray(np.transpose(d, (0, 2, 1)))
    else:
        a = np.ascontiguousarray(x)
        b = np.ascontiguousarray(d)
    s = a.shape
    o = _scan_rows({kind}, a.reshape((s[0] * s[1], s[2])), b.reshape((s[0] * s[1], s[2]))).reshape(s)
    if axis == 0:
        return np.ascontiguousarray(np.transpose(o, (2, 0, 1)))
    if axis == 1:
        return np.ascontiguousarray(np.transpose(o, (0, 2, 1)))
    return o
"""

_SCANS = {"cumsum": 0, "cumprod": 1, "rcumsum": 2, "cumprod_grad": 3, "cumprod_jvp": 4}


def _scan_functions(name: str, rows=_scan_rows, tag: str = "scans") -> tuple[dict, dict]:
    namespace = {"np": np, "_scan_rows": rows, "__name__": __name__}
    exec(compile(_SCAN_TEMPLATE.format(name=name, kind=_SCANS[name]), f"<kernels.numba_special {name}>",
                 "exec"), namespace)   # our template
    for key, fn in namespace.items():
        if key.startswith(f"_{name}_"):
            fn.__qualname__ = f"{tag}.{fn.__name__}"   # one name per scan and rank
    two = {rank: register_jitable(namespace[f"_{name}_r{rank}"]) for rank in (1, 2, 3)}
    one = {rank: namespace[f"_{name}_one_r{rank}"] for rank in (1, 2, 3)}
    return one, two


def _scan_typer(name: str):
    from numba.core.errors import TypingError

    one_arg, two_args = _scan_functions(name)
    fns = two_args if name in _TWO_ARGS else one_arg
    # integer cumsum/cumprod stay int64 (the IR types them so)
    ints = _scan_functions(name, _int_scan_rows, "int_scans")[0] if name in ("cumsum", "cumprod") else {}

    def pick(x):
        if isinstance(x, types.Array) and isinstance(x.dtype, types.Integer) and x.ndim in ints:
            return ints[x.ndim]
        if isinstance(x, types.Array) and x.ndim in fns:
            return fns[x.ndim]
        raise TypingError(f"rt.{name}: rank {getattr(x, 'ndim', 0)} is not supported on the cpu target")

    def one(x, axis):
        return pick(x)

    def two(x, d, axis):
        return pick(x)
    return two if name in _TWO_ARGS else one


_TWO_ARGS = ("cumprod_grad", "cumprod_jvp")

for _name in _SCANS:
    overload(getattr(rt, _name))(_scan_typer(_name))


# ------------------------------------------------- three-array scans (cumprod's second derivatives)
@register_jitable
def _scan_rows3(kind, a, b, c):
    rows, n = a.shape
    out = np.empty((rows, n))
    big_s = np.empty(n)
    big_ds = np.empty(n)
    for r in range(rows):
        if kind == 0:       # cumprod_jvp_grad: a is x, b the tangent, c the adjoint
            s = 0.0
            ds = 0.0
            for i in range(n - 1, -1, -1):
                if i + 1 < n:
                    s, ds = c[r, i] + a[r, i + 1] * s, b[r, i + 1] * s + a[r, i + 1] * ds
                else:
                    s, ds = c[r, i], 0.0
                big_s[i] = s
                big_ds[i] = ds
            y = 1.0
            t = 0.0
            for i in range(n):
                out[r, i] = t * big_s[i] + y * big_ds[i]
                t = t * a[r, i] + y * b[r, i]
                y *= a[r, i]
        else:               # cumprod_jvp2: a is x, b and c the two tangents
            y = 1.0
            ta = 0.0
            tb = 0.0
            tc = 0.0
            for i in range(n):
                tc = tc * a[r, i] + ta * c[r, i] + tb * b[r, i]
                ta, tb = ta * a[r, i] + y * b[r, i], tb * a[r, i] + y * c[r, i]
                y *= a[r, i]
                out[r, i] = tc
    return out


_SCAN3_TEMPLATE = """
def _{name}_r1(x, t, g, axis):
    a = np.ascontiguousarray(x).reshape((1, x.shape[0]))
    b = np.ascontiguousarray(t).reshape((1, t.shape[0]))
    c = np.ascontiguousarray(g).reshape((1, g.shape[0]))
    return _scan_rows3({kind}, a, b, c).reshape((x.shape[0],))


def _{name}_r2(x, t, g, axis):
    if axis == 1:
        return _scan_rows3({kind}, np.ascontiguousarray(x), np.ascontiguousarray(t), np.ascontiguousarray(g))
    out = _scan_rows3({kind}, np.ascontiguousarray(x.T), np.ascontiguousarray(t.T), np.ascontiguousarray(g.T))
    return np.ascontiguousarray(out.T)


def _{name}_r3(x, t, g, axis):
    if axis == 0:
        p = (1, 2, 0)
    elif axis == 1:
        p = (0, 2, 1)
    else:
        p = (0, 1, 2)
    a = np.ascontiguousarray(np.transpose(x, p))
    b = np.ascontiguousarray(np.transpose(t, p))
    c = np.ascontiguousarray(np.transpose(g, p))
    s = a.shape
    o = _scan_rows3({kind}, a.reshape((s[0] * s[1], s[2])), b.reshape((s[0] * s[1], s[2])),
                    c.reshape((s[0] * s[1], s[2]))).reshape(s)
    if axis == 0:
        return np.ascontiguousarray(np.transpose(o, (2, 0, 1)))
    if axis == 1:
        return np.ascontiguousarray(np.transpose(o, (0, 2, 1)))
    return o
"""

_SCANS3 = {"cumprod_jvp_grad": 0, "cumprod_jvp2": 1}


def _scan3_typer(name: str):
    from numba.core.errors import TypingError

    namespace = {"np": np, "_scan_rows3": _scan_rows3, "__name__": __name__}
    exec(compile(_SCAN3_TEMPLATE.format(name=name, kind=_SCANS3[name]), f"<kernels.numba_special {name}>",
                 "exec"), namespace)   # our template
    fns = {}
    for rank in (1, 2, 3):
        fn = namespace[f"_{name}_r{rank}"]
        fn.__qualname__ = f"scans3.{fn.__name__}"
        fns[rank] = register_jitable(fn)

    def typer(x, t, g, axis):
        if isinstance(x, types.Array) and x.ndim in fns:
            return fns[x.ndim]
        raise TypingError(f"rt.{name}: rank {getattr(x, 'ndim', 0)} is not supported on the cpu target")
    return typer


for _name in _SCANS3:
    overload(getattr(rt, _name))(_scan3_typer(_name))
