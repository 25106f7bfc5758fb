"""Special functions generated programs call as `rt.erf(x)`, `rt.digamma(x)`, ...

NumPy has no erf, lgamma or digamma ufuncs: each function here takes a float or an array of
any rank and applies a scalar implementation elementwise. The scalar implementations are
plain Python that Numba also compiles (`kernels.numba_special` registers them for the cpu
target), so the numpy and cpu targets compute the same values. erf, erfc, lgamma and gamma
are Python's `math` functions; digamma and trigamma are series below (relative error
< 1e-9 away from the poles at 0, -1, -2, ...; NaN at the poles, as SciPy).
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
    """psi(x) = d/dx log Gamma(x): recurrence up to x >= 6, then the asymptotic series;
    reflection for negative x."""
    if x <= 0.0 and x == math.floor(x):
        return math.nan
    result = 0.0
    if x < 0.0:
        # psi(x) = psi(1 - x) - pi / tan(pi x)
        result = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 6.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))))
    return result + math.log(x) - 0.5 / x - series


def trigamma_scalar(x: float) -> float:
    """psi'(x): recurrence up to x >= 6, then the asymptotic series; reflection for x < 0
    (written without recursion, which Numba compiles poorly)."""
    if x <= 0.0 and x == math.floor(x):
        return math.nan
    reflect = x < 0.0
    head = 0.0
    if reflect:
        # psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x)
        s = math.sin(math.pi * x)
        head = math.pi * math.pi / (s * s)
        x = 1.0 - x
    result = 0.0
    while x < 6.0:
        result += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    tail = 1.0 / x + f / 2 + f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * (5.0 / 66)))))
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
