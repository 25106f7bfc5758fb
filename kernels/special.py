"""Special functions generated programs call as `rt.erf(x)`, `rt.digamma(x)`, ...

NumPy has no erf, lgamma or digamma ufuncs: each function here takes a float or an array of
any rank and applies a scalar implementation elementwise. The scalar implementations are
plain Python that Numba also compiles (`kernels.numba_special` registers them for the cpu
target), so the numpy and cpu targets compute the same values. erf, erfc, lgamma and gamma
are Python's `math` functions; digamma and trigamma are series below (relative error ~1e-15
away from the poles at 0, -1, -2, ... and digamma's roots; SciPy's values at the poles).
"""
from __future__ import annotations

import math

import numpy as np


def maximum_scalar(a: float, b: float) -> float:
    """np.maximum of two scalars: NaN if either is, else the larger, the second at a tie
    (what GPU device code computes for `rt.maximum`; CUDA's fmax would drop a NaN)."""
    return a if a > b or a != a else b


def minimum_scalar(a: float, b: float) -> float:
    """np.minimum of two scalars; see `maximum_scalar`."""
    return a if a < b or a != a else b


def digamma_scalar(x: float) -> float:
    """psi(x) = d/dx log Gamma(x), to ~1e-16 as SciPy (Boost's method): 7 terms of the
    asymptotic series from x >= 10; below, a shift into [1, 2] (psi(x + 1) = psi(x) + 1/x), where
    a rational form centred on the root 1.4616... keeps the relative error small there too;
    reflection for negative x through the exact fractional part (psi(x) = psi(1 - x) -
    pi / tan(pi x)); -inf at +0.0, +inf at -0.0, NaN at the negative integers and -inf (SciPy)."""
    if x == 0.0:
        return -math.copysign(math.inf, x)
    if x == -math.inf:
        return math.nan
    head = 0.0
    if x < 0.0:
        fl = math.floor(x)
        if x == fl:
            return math.nan
        frac = x - fl   # exact (as x - (fl + 1) below); tan has period pi
        if frac > 0.5:
            frac = x - (fl + 1.0)
        head = -math.pi / math.tan(math.pi * frac)
        x = 1.0 - x
    if x >= 10.0:
        f = 1.0 / x / x   # (x * x would overflow for huge x)
        series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (
            1.0 / 132 - f * (691.0 / 32760 - f * (1.0 / 12)))))))
        return head + (math.log(x) - 0.5 / x - series)
    result = 0.0
    while x > 2.0:
        x -= 1.0
        result += 1.0 / x
    if x < 1.0:
        result -= 1.0 / x
        x += 1.0
    # Boost's digamma_imp_1_2 (53-bit): psi(x) = g Y + g R(x - 1), g = x - root
    g = x - 1569415565.0 / 1073741824.0 - (381566830.0 / 1073741824.0) / 1073741824.0 \
        - 0.9016312093258695918615325266959189453125e-19
    z = x - 1.0
    num = 0.25479851061131551 + z * (-0.32555031186804491 + z * (-0.65031853770896507 + z * (
        -0.28919126444774784 + z * (-0.045251321448739056 + z * -0.0020713321167745952))))
    den = 1.0 + z * (2.0767117023730469 + z * (1.4606242909763515 + z * (0.43593529692665969 + z * (
        0.054151797245674225 + z * (0.0021284987017821144 + z * -0.55789841321675513e-6)))))
    return head + (result + (g * 0.99558162689208984 + g * (num / den)))


def trigamma_scalar(x: float) -> float:
    """psi'(x) (SciPy's polygamma(1, x)): recurrence up to x >= 10, then 7 terms of the
    asymptotic series; reflection for x < 0 through the exact fractional part (written without
    recursion, which Numba compiles poorly); +inf at the poles 0, -1, -2, ... and at -inf."""
    if x == -math.inf:   # (before math.floor, which raises for -inf in Python)
        return math.inf
    if x <= 0.0 and x == math.floor(x):
        return math.inf
    reflect = x < 0.0
    head = 0.0
    if reflect:
        # psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x)
        fl = math.floor(x)
        frac = x - fl   # exact (as x - (fl + 1) below); sin^2 has period pi
        if frac > 0.5:
            frac = x - (fl + 1.0)
        s = math.sin(math.pi * frac)
        h = math.pi / s
        head = h * h   # (not pi^2 / s^2: s * s underflows near the poles)
        x = 1.0 - x
    result = 0.0
    while x < 10.0:
        result += 1.0 / x / x
        x += 1.0
    f = 1.0 / x / x   # (x * x would overflow for huge x)
    tail = 1.0 / x + f / 2 + f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * (
        5.0 / 66 - f * (691.0 / 2730 - f * (7.0 / 6)))))))
    return head - (result + tail) if reflect else result + tail


def _gamma_scalar(x: float) -> float:
    try:
        return math.gamma(x)
    except (ValueError, OverflowError):   # poles and overflow: SciPy's inf/nan
        if x == 0.0:
            return math.copysign(math.inf, x)
        if x < 0.0 and (math.isinf(x) or x == math.floor(x)):   # (math.floor(-inf) raises)
            return math.nan
        return math.inf


def _lgamma_scalar(x: float) -> float:
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        return math.inf


SCALAR = {
    "erf": math.erf, "erfc": math.erfc, "lgamma": _lgamma_scalar, "gamma": _gamma_scalar,
    "digamma": digamma_scalar, "trigamma": trigamma_scalar,
}


def _elementwise(name: str):
    scalar = SCALAR[name]
    vectorized = np.vectorize(scalar, otypes=[np.float64])

    def fn(x):
        if np.ndim(x) == 0:
            return float(scalar(float(x)))
        return vectorized(np.asarray(x, dtype=np.float64))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name} of a float, or of each element of an array"
    return fn


erf = _elementwise("erf")
erfc = _elementwise("erfc")
lgamma = _elementwise("lgamma")
gamma = _elementwise("gamma")
digamma = _elementwise("digamma")
trigamma = _elementwise("trigamma")
