"""The few array operations the update rules need: for NumPy arrays and for scalars.

Input: NumPy arrays (any float dtype), or Python floats (float64).  Output: the same kind.
``rules.py``, ``domains.py`` and ``tower.py`` are written once against these names; the torch
backend supplies a third namespace (``hyperopt.torch.TORCH_OPS``).
``SCALAR_OPS`` runs the levels whose arrays are all 0-d (the hyperparameter levels of a tower,
unless step sizes are elementwise) on Python floats with ``math`` functions: tens of
nanoseconds per operation instead of about a microsecond for ``np.float64`` scalars and several
for 0-d arrays or tensors, which is what keeps a level's cost small.  It keeps IEEE semantics
(inf/nan) so the tower's non-finite checks see what NumPy or torch would have produced, except
that division by zero raises (tower.py refuses the step, as it would for the inf/nan).
Invariant: nothing here mutates its arguments.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np



class NumpyOps:
    """Array namespace for the NumPy backend (an instance is ``NUMPY_OPS``)."""

    name = "numpy"

    @staticmethod
    def exp(x: Any) -> Any:
        return np.exp(x)

    @staticmethod
    def log1p(x: Any) -> Any:
        return np.log1p(x)

    @staticmethod
    def tanh(x: Any) -> Any:
        return np.tanh(x)

    @staticmethod
    def sqrt(x: Any) -> Any:
        return np.sqrt(x)

    @staticmethod
    def abs(x: Any) -> Any:
        return np.abs(x)

    @staticmethod
    def sigmoid(x: Any) -> Any:
        # exp(-|x|) never overflows; both branches of the where are finite.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    @staticmethod
    def clip(x: Any, lo: float, hi: float) -> Any:
        return np.clip(x, lo, hi)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b)

    @staticmethod
    def zeros_like(x: Any) -> Any:
        return np.zeros_like(x)

    @staticmethod
    def full_like(x: Any, value: float) -> Any:
        """A float64 array of ``x``'s shape filled with ``value`` (hyperparameters are float64)."""
        return np.full(np.shape(x), value, dtype=np.float64)

    @staticmethod
    def scalar(value: float, like: Any = None) -> Any:
        return np.array(value, dtype=np.float64)

    @staticmethod
    def vdot(a: Any, b: Any) -> Any:
        """Sum of the elementwise product as a 0-d float64 array."""
        return np.asarray(np.vdot(a, b), dtype=np.float64)

    @staticmethod
    def all_finite(x: Any) -> bool:
        return bool(np.all(np.isfinite(x)))

    @staticmethod
    def all_finite_many(xs: Any) -> bool:
        return all(bool(np.all(np.isfinite(x))) for x in xs)

    @staticmethod
    def cast_like(x: Any, like: Any) -> Any:
        """``x`` in ``like``'s dtype (a float64 update applied to a float32 leaf stays float32)."""
        return np.asarray(x).astype(np.asarray(like).dtype, copy=False)

    @staticmethod
    def to_python(x: Any) -> Any:
        a = np.asarray(x)
        return float(a) if a.ndim == 0 else a.copy()

    @staticmethod
    def adopt(x: Any) -> Any:
        """A value from another namespace, usable here; scalars become Python floats so they
        combine with float32 arrays without promoting them (NEP 50)."""
        if hasattr(x, "detach"):  # a torch tensor handed down by the torch backend
            x = x.detach().cpu().numpy()
        return float(x) if np.ndim(x) == 0 else np.asarray(x)


class ScalarOps:
    """The same namespace on Python floats (0-d levels: hyperparameters).

    Python float arithmetic is IEEE for ``+ - *`` (overflow gives inf, never an exception), and
    these functions return inf/nan where the math module would raise.  The one difference from
    NumPy is ``x / 0.0``, which raises ``ZeroDivisionError``: ``tower.py`` treats it as the
    non-finite value NumPy would have produced (the step is refused).
    """

    name = "scalar"

    @staticmethod
    def exp(x: Any) -> Any:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf

    @staticmethod
    def log1p(x: Any) -> Any:
        return math.log1p(x) if x > -1.0 else (-math.inf if x == -1.0 else math.nan)

    tanh = staticmethod(math.tanh)

    @staticmethod
    def sqrt(x: Any) -> Any:
        return math.sqrt(x) if x >= 0.0 else math.nan

    abs = staticmethod(abs)

    @staticmethod
    def sigmoid(x: Any) -> Any:
        if x != x:
            return math.nan
        e = math.exp(-abs(x))
        return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)

    @staticmethod
    def clip(x: Any, lo: float, hi: float) -> Any:
        return min(max(x, lo), hi) if x == x else x  # NaN stays NaN

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    @staticmethod
    def zeros_like(x: Any) -> Any:
        return 0.0

    @staticmethod
    def full_like(x: Any, value: float) -> Any:
        return float(value)

    @staticmethod
    def scalar(value: float, like: Any = None) -> Any:
        return float(value)

    @staticmethod
    def vdot(a: Any, b: Any) -> Any:
        return a * b

    all_finite = staticmethod(math.isfinite)

    @staticmethod
    def all_finite_many(xs: Any) -> bool:
        return all(map(math.isfinite, xs))

    @staticmethod
    def cast_like(x: Any, like: Any) -> Any:
        return x

    @staticmethod
    def to_python(x: Any) -> Any:
        return float(x)

    @staticmethod
    def adopt(x: Any) -> Any:
        return float(x.item() if hasattr(x, "item") else x)


NUMPY_OPS = NumpyOps()
SCALAR_OPS = ScalarOps()
