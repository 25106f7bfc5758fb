"""Fixtures for the hyperopt tests.

``value_and_grad``: ``coarsen.value_and_grad`` once the compiler provides it; until then a
stand-in that runs the *same plain NumPy loss function* on torch tensors (float64) and
differentiates it with torch.autograd.  It works by handing the function ``_Traced`` wrappers
that NumPy dispatches on (``__array_ufunc__``/``__array_function__``), so ``np.tanh(x @ W)``
becomes ``torch.tanh(x @ W)``; an unsupported NumPy call raises TypeError naming it.
Shared problems live in hyperopt_helpers.py.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch

import coarsen


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds; still run by CI")


# Small models on few cores: torch's intra-op threads cost far more than they save (two
# threads measured ~150x slower here), so the whole hyperopt suite runs single-threaded.
torch.set_num_threads(1)


def _unwrap(x: Any) -> Any:
    if isinstance(x, _Traced):
        return x.t
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, (tuple, list)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, np.generic):
        return x.item()
    return x


def _wrap(x: Any) -> Any:
    return _Traced(x) if isinstance(x, torch.Tensor) else x


def _reduce(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(a: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Any:
        a = _unwrap(a)
        if axis is None:
            out = fn(a)
            return out.reshape((1,) * a.ndim) if keepdims else out
        return fn(a, dim=axis, keepdim=keepdims)
    return call


_UFUNCS: dict[Any, Callable[..., Any]] = {
    np.add: torch.add, np.subtract: torch.sub, np.multiply: torch.mul,
    np.true_divide: torch.div, np.negative: torch.neg, np.positive: lambda a: a,
    np.power: torch.pow, np.tanh: torch.tanh, np.exp: torch.exp, np.log: torch.log,
    np.log1p: torch.log1p, np.expm1: torch.expm1, np.sqrt: torch.sqrt, np.square: torch.square,
    np.absolute: torch.abs, np.maximum: torch.maximum, np.minimum: torch.minimum,
    np.matmul: torch.matmul, np.sin: torch.sin, np.cos: torch.cos,
    np.greater: torch.gt, np.greater_equal: torch.ge, np.less: torch.lt,
    np.less_equal: torch.le, np.equal: torch.eq,
    np.logaddexp: torch.logaddexp,
}

_FUNCS: dict[Any, Callable[..., Any]] = {
    np.sum: _reduce(torch.sum), np.mean: _reduce(torch.mean), np.max: _reduce(torch.amax),
    np.amax: _reduce(torch.amax), np.min: _reduce(torch.amin), np.amin: _reduce(torch.amin),
    np.where: lambda c, a, b: torch.where(_unwrap(c), _as_t(a), _as_t(b)),
    np.dot: lambda a, b: torch.matmul(_unwrap(a), _unwrap(b)),
    np.clip: lambda a, lo, hi: torch.clamp(_unwrap(a), _unwrap(lo), _unwrap(hi)),
    np.transpose: lambda a: _unwrap(a).T,
    np.reshape: lambda a, shape: _unwrap(a).reshape(shape),
}


def _as_t(x: Any) -> torch.Tensor:
    x = _unwrap(x)
    return x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float64)


class _Traced:
    """A torch tensor seen by NumPy code as an array-like that NumPy functions dispatch on."""

    __array_priority__ = 1000

    def __init__(self, t: torch.Tensor) -> None:
        self.t = t

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kw: Any) -> Any:
        fn = _UFUNCS.get(ufunc)
        if method != "__call__" or kw or fn is None:
            raise TypeError(f"torch stand-in: np.{ufunc.__name__}.{method} is not supported")
        return _wrap(fn(*[_unwrap(x) for x in inputs]))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        fn = _FUNCS.get(func)
        if fn is None:
            raise TypeError(f"torch stand-in: np.{func.__name__} is not supported")
        return _wrap(fn(*args, **kwargs))

    def _bin(op: Callable[..., Any], swap: bool = False) -> Callable[..., Any]:  # type: ignore
        def method(self: _Traced, other: Any) -> Any:
            a, b = self.t, _unwrap(other)
            return _wrap(op(b, a) if swap else op(a, b))
        return method

    __add__, __radd__ = _bin(torch.add), _bin(torch.add, True)
    __sub__, __rsub__ = _bin(torch.sub), _bin(torch.sub, True)
    __mul__, __rmul__ = _bin(torch.mul), _bin(torch.mul, True)
    __truediv__, __rtruediv__ = _bin(torch.div), _bin(torch.div, True)
    __pow__, __rpow__ = _bin(torch.pow), _bin(torch.pow, True)
    __matmul__, __rmatmul__ = _bin(torch.matmul), _bin(torch.matmul, True)
    __gt__, __ge__, __lt__, __le__ = _bin(torch.gt), _bin(torch.ge), _bin(torch.lt), _bin(torch.le)

    def __neg__(self) -> _Traced:
        return _Traced(-self.t)

    def __getitem__(self, idx: Any) -> _Traced:
        return _Traced(self.t[_unwrap(idx)])

    @property
    def T(self) -> _Traced:
        return _Traced(self.t.T)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.t.shape)

    @property
    def ndim(self) -> int:
        return self.t.ndim

    def sum(self, axis: Any = None, keepdims: bool = False) -> Any:
        return _wrap(_reduce(torch.sum)(self.t, axis, keepdims))

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        return _wrap(_reduce(torch.mean)(self.t, axis, keepdims))

    def max(self, axis: Any = None, keepdims: bool = False) -> Any:
        return _wrap(_reduce(torch.amax)(self.t, axis, keepdims))

    def reshape(self, *shape: Any) -> _Traced:
        return _Traced(self.t.reshape(*shape))


def torch_value_and_grad(f: Callable[..., Any], argnums: int = 0) -> Callable[..., Any]:
    """Stand-in for ``coarsen.value_and_grad``: same signature, float64, via torch.autograd."""
    if argnums != 0:
        raise NotImplementedError("the stand-in differentiates the first argument only")

    def value_and_grad(params: Any, *batch: Any) -> tuple[float, Any]:
        if isinstance(params, dict):
            leaves = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
                      for k, v in params.items()}
            traced: Any = {k: _Traced(v) for k, v in leaves.items()}
        else:
            leaves = {"": torch.tensor(np.asarray(params, dtype=np.float64), requires_grad=True)}
            traced = _Traced(leaves[""])
        out = _unwrap(f(traced, *batch))
        grads = torch.autograd.grad(out, list(leaves.values()), allow_unused=True)
        g = {k: (np.zeros(v.shape) if gr is None else gr.numpy())
             for (k, v), gr in zip(leaves.items(), grads)}
        return float(out.detach()), (g if isinstance(params, dict) else g[""])

    return value_and_grad


@pytest.fixture
def torch_stand_in() -> Callable[..., Any]:
    """The torch-based stand-in itself (so tests can check it against coarsen)."""
    return torch_value_and_grad


@pytest.fixture
def value_and_grad() -> Callable[..., Any]:
    """``coarsen.value_and_grad`` when it exists, else the torch-based stand-in."""
    if hasattr(coarsen, "value_and_grad"):
        return coarsen.value_and_grad
    return torch_value_and_grad
