"""The few array operations the update rules need, for NumPy.

Input: NumPy arrays (any float dtype) and Python floats.  Output: NumPy arrays.
The torch backend supplies an object with the same attribute names (``hyperopt.torch``), so
``rules.py``, ``domains.py`` and ``tower.py`` are written once for both backends.
Invariant: nothing here mutates its arguments; every function returns a new array.
"""
from __future__ import annotations

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
    def cast_like(x: Any, like: Any) -> Any:
        """``x`` in ``like``'s dtype (a float64 update applied to a float32 leaf stays float32)."""
        return np.asarray(x).astype(np.asarray(like).dtype, copy=False)

    @staticmethod
    def to_python(x: Any) -> Any:
        a = np.asarray(x)
        return float(a) if a.ndim == 0 else a.copy()


NUMPY_OPS = NumpyOps()
