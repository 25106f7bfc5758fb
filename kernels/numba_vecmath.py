"""`rt.vexp` on the "cpu" target: `np.exp` of a float64 array as a loop LLVM vectorises.

Numba compiles `np.exp(array)` into a loop of scalar libm `exp` calls: this llvmlite has no
SVML, and LLVM widens the call to `llvm.exp.v4f64` but its code generator splits that into four
scalar calls again (glibc's libmvec through `-vector-library` changed nothing). Here the
function is plain arithmetic, inlined into the loop, so the loop vectoriser runs it on 4 lanes:
about 0.4x libm's time per element (CPU time, 20000 elements: 50 us against 118 us; NumPy's
own AVX-512 loop is 14 us). Scalars keep `math.exp` (a dependent 13-term polynomial is slower than
libm one value at a time); integer arrays keep `np.exp`.

The algorithm (Cody-Waite, as fdlibm): k = round(x / ln 2) (by the 1.5 * 2^52 shift),
r = x - k ln2_hi - k ln2_lo (|r| <= ln 2 / 2, ln2_hi has trailing zeros so k ln2_hi is exact), exp(r) by its Taylor series
to r^13/13! (truncation < 1e-17 relative), times 2^k built from the exponent bits in two
halves (so 2^k for k down to -1075 never underflows before the last product: subnormal results
round once). Overflow (x > 709.78...) is inf, underflow (x < -745.13...) 0, NaN stays NaN.
Within 1 ulp of NumPy's exp over the normal range (tests/kernels/test_vecmath.py).

`kernels.vecmath.cpu_source` rewrites the generated "cpu" source's `np.exp(` calls to
`rt.vexp(`; the NumPy tier's `rt.vexp` is `np.exp` itself.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from kernels import runtime as rt

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
OVERFLOW = 709.782712893384        # exp(x) > DBL_MAX above this
UNDERFLOW = -745.1332191019412     # exp(x) < the smallest subnormal / 2 below this
C2, C3, C4, C5, C6, C7 = 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040
C8, C9, C10, C11, C12, C13 = 1 / 40320, 1 / 362880, 1 / 3628800, 1 / 39916800, 1 / 479001600, 1 / 6227020800


@intrinsic
def _bits_as_float(typingctx, bits):
    """The float64 whose IEEE bits are the int64 `bits` (a bit cast, no conversion)."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _float_bits(typingctx, x):
    """The int64 holding the IEEE bits of the float64 `x`."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


SHIFT = 6755399441055744.0   # 1.5 * 2**52: adding it rounds to an integer held in the low bits


@njit(inline="always", error_model="numpy", cache=True)
def exp_scalar(x):
    xc = min(max(x, -746.0), 710.0)   # keeps k in range; the selects below give the limits
    kd = xc * LOG2E + SHIFT            # round(xc / ln 2) without a float -> int conversion
    ki = _float_bits(kd) - _float_bits(SHIFT)
    k = kd - SHIFT
    r = (xc - k * LN2_HI) - k * LN2_LO
    p = 1.0 + r * (1.0 + r * (C2 + r * (C3 + r * (C4 + r * (C5 + r * (C6 + r * (
        C7 + r * (C8 + r * (C9 + r * (C10 + r * (C11 + r * (C12 + r * C13))))))))))))
    k1 = ki >> 1
    y = p * _bits_as_float((k1 + 1023) << 52) * _bits_as_float((ki - k1 + 1023) << 52)
    y = math.inf if x > OVERFLOW else y
    y = 0.0 if x < UNDERFLOW else y
    return x if x != x else y


@overload(rt.vexp, jit_options={"cache": True, "error_model": "numpy"})
def _vexp(x):
    if isinstance(x, types.Array) and x.dtype == types.float64 and x.ndim >= 1:
        def impl(x):
            src = np.ascontiguousarray(x)   # no copy when it already is
            out = np.empty(x.shape)
            flat_in = src.reshape(src.size)
            flat_out = out.reshape(out.size)
            for i in range(flat_in.size):
                flat_out[i] = exp_scalar(flat_in[i])
            return out
        return impl
    if isinstance(x, types.Array):   # other dtypes, 0-d: Numba's own np.exp
        return lambda x: np.exp(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: math.exp(x)
    return None


IPOW_MAX = 1024.0   # whole exponents up to this are multiplied out (at most 20 products)


@njit(inline="always", error_model="numpy", cache=True)
def ipow_scalar(x, e):
    """x ** e by squaring when e is a whole number in [0, IPOW_MAX] (llsq's `t ** arange(m)`:
    `pow` per element is ~20x a product); else `pow`. NaN/inf/0 bases follow from the products
    as `pow` gives them (pow(x, 0) = 1 for every x, NaN included). Each product rounds, and a
    squaring doubles the error it squares: within about e/2 ulp of `pow` in the worst case
    (t**127: ~1e-14 relative), median 6 ulp for e < 128 (tests/kernels/test_vecmath.py)."""
    if e >= 0.0 and e <= IPOW_MAX and e == math.floor(e):
        k = int(e)
        r = 1.0
        b = x
        while k:
            if k & 1:
                r *= b
            k >>= 1
            if k:
                b *= b
        return r
    return math.pow(x, e)


@overload(rt.ipow, inline="always", jit_options={"cache": True, "error_model": "numpy"})
def _ipow(x, e):
    if isinstance(x, types.Float) and isinstance(e, types.Float):
        return lambda x, e: ipow_scalar(float(x), float(e))
    if isinstance(x, (types.Float, types.Integer)) and isinstance(e, (types.Float, types.Integer)):
        return lambda x, e: np.power(x, e)
    return None


# log: musl's (fdlibm's) reduction and polynomial, without branches so that LLVM vectorises
# the loop: x = 2^k m, m in [sqrt(2)/2, sqrt(2)), f = m - 1, s = f / (2 + f),
# log(1 + f) = f - hfsq + s (hfsq + R(s^2)); subnormals scaled by 2^54 first; NaN, inf, 0 and
# negatives selected at the end (NaN, inf, -inf, NaN as NumPy). Within 1 ulp of NumPy.
LG1, LG2, LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
LG4, LG5 = 2.222219843214978396e-01, 1.818357216161805012e-01
LG6, LG7 = 1.531383769920937332e-01, 1.479819860511658591e-01
DBL_MIN = 2.2250738585072014e-308
TWO54 = 18014398509481984.0


@njit(inline="always", error_model="numpy", cache=True)
def log_scalar(x):
    small = x < DBL_MIN
    xs = x * TWO54 if small else x
    ui = _float_bits(xs)
    hx = (ui >> 32) + (0x3ff00000 - 0x3fe6a09e)
    k = (hx >> 20) - 0x3ff - (54 if small else 0)
    hx = (hx & 0x000fffff) + 0x3fe6a09e
    f = _bits_as_float((hx << 32) | (ui & 0xffffffff)) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    dk = float(k)
    y = s * (hfsq + t1 + t2) + dk * LN2_LO - hfsq + f + dk * LN2_HI
    y = math.inf if x == math.inf else y
    y = -math.inf if x == 0.0 else y
    y = math.nan if x < 0.0 else y
    return x if x != x else y


@overload(rt.vlog, jit_options={"cache": True, "error_model": "numpy"})
def _vlog(x):
    if isinstance(x, types.Array) and x.dtype == types.float64 and x.ndim >= 1:
        def impl(x):
            src = np.ascontiguousarray(x)
            out = np.empty(x.shape)
            flat_in = src.reshape(src.size)
            flat_out = out.reshape(out.size)
            for i in range(flat_in.size):
                flat_out[i] = log_scalar(flat_in[i])
            return out
        return impl
    if isinstance(x, types.Array):
        return lambda x: np.log(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: np.log(x)
    return None
