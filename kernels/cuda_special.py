"""Device forms of `kernels.special` for CUDA kernels: fused kernels call `cuda_special.digamma(x)`
where host code calls `rt.digamma(x)` (CUDA's libdevice has lgamma and tgamma, which device
code reaches as `math.lgamma`/`math.gamma`, but no digamma or trigamma), and
`cuda_special.maximum(a, b)` for `rt.maximum` (NumPy's rules on NaN and ties).

The scalar implementations are `kernels.special`'s, compiled as device functions, so every
target computes the same series. Imported only when a cuda program is compiled (it needs
numba's CUDA support); `kernels.cuda` puts this module in each program's namespace.
"""
from __future__ import annotations

import math

from numba import cuda

from kernels import special

digamma = cuda.jit(device=True)(special.digamma_scalar)
trigamma = cuda.jit(device=True)(special.trigamma_scalar)
maximum = cuda.jit(device=True)(special.maximum_scalar)   # rt.maximum: NumPy's NaN and tie rules
minimum = cuda.jit(device=True)(special.minimum_scalar)


def _exp2(x: float) -> float:
    return math.pow(2.0, x)   # np.exp2: exact at the integers, as pow(2, n) is


exp2 = cuda.jit(device=True)(_exp2)

