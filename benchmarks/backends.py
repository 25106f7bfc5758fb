"""Run one plain-NumPy program on another array library, unchanged.

Each benchmark is written once, for coarsen, as plain Python + NumPy. The peers run the same
source: `rebind(fn, shim)` rebuilds the program's module-level functions with the global name
`np` bound to a shim over torch, jax.numpy or autograd.numpy, so helper functions the program
calls see the shim too.

Element writes into `np.zeros` arrays are the one construct JAX and HIPS autograd cannot run
as written (their arrays are immutable, or a write drops the autodiff box). Their shims hand
out a `ListBuffer` instead: element writes store into a Python list and the first array use
stacks it, which is what a person porting the program would write. torch writes in place.
"""
from __future__ import annotations

import math
import sys
import types
from typing import Any, Callable


def rebind(fn: Callable, shim: Any) -> Callable:
    """`fn` with the global `np` (in it and in every function of its module) bound to `shim`."""
    module = sys.modules[fn.__module__]
    namespace = dict(vars(module))
    namespace["np"] = shim
    if "coarsen" in namespace and getattr(shim, "grad", None) is not None:
        # nested AD (particle, saddle): the program's inner `coarsen.grad` becomes the peer's own
        namespace["coarsen"] = types.SimpleNamespace(grad=shim.grad)
    for name, obj in list(namespace.items()):
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            namespace[name] = types.FunctionType(obj.__code__, namespace, obj.__name__,
                                                 obj.__defaults__, obj.__closure__)
    return namespace[fn.__name__]


class ListBuffer:
    """A float array built by element writes; array operations see `stack(items)`."""

    def __init__(self, shape: tuple[int, ...], stack: Callable[[list], Any]) -> None:
        self.shape = shape
        self.items: list = [0.0] * math.prod(shape)
        self._stack = stack
        self._array = None

    def _flat(self, index) -> int | None:
        index = index if isinstance(index, tuple) else (index,)
        if len(index) != len(self.shape) or not all(isinstance(i, int) for i in index):
            return None
        flat = 0
        for i, n in zip(index, self.shape):
            flat = flat * n + (i + n if i < 0 else i)
        return flat

    def __getitem__(self, index):
        flat = self._flat(index)
        return self.items[flat] if flat is not None else self.array()[index]

    def __setitem__(self, index, value) -> None:
        flat = self._flat(index)
        if flat is None:
            raise TypeError("ListBuffer takes element writes with integer indices only")
        self.items[flat] = value
        self._array = None

    def array(self):
        if self._array is None:
            self._array = self._stack(self.items).reshape(self.shape)
        return self._array

    def __len__(self) -> int:
        return self.shape[0]


def _unwrap(x: Any) -> Any:
    return x.array() if isinstance(x, ListBuffer) else x


def _forward(name: str, reflected: bool = False):
    op = getattr(__import__("operator"), name)
    if reflected:
        return lambda self, other: op(_unwrap(other), self.array())
    return lambda self, other: op(self.array(), _unwrap(other))


for _name in ("add", "sub", "mul", "truediv", "pow", "matmul", "lt", "le", "gt", "ge"):
    setattr(ListBuffer, f"__{_name}__", _forward(_name))
    setattr(ListBuffer, f"__r{_name}__", _forward(_name, reflected=True))
ListBuffer.__neg__ = lambda self: -self.array()
ListBuffer.T = property(lambda self: self.array().T)


class _Shim:
    """A module-like namespace: `np.<name>` is `base.<name>` with ListBuffer arguments stacked,
    and `np.zeros` hands out ListBuffers."""

    def __init__(self, base: Any, stack: Callable[[list], Any]) -> None:
        self._base = base
        self._stack = stack
        self.float64 = base.float64

    def zeros(self, shape, dtype=None):
        return ListBuffer(tuple(shape) if isinstance(shape, tuple) else (shape,), self._stack)

    def __getattr__(self, name: str):
        fn = getattr(self._base, name)
        if not callable(fn):
            return fn

        def call(*args, **kwargs):
            return fn(*(_unwrap(a) for a in args), **kwargs)
        call.__name__ = name
        setattr(self, name, call)   # built once per name
        return call


def jax_numpy() -> _Shim:
    import jax
    import jax.numpy as jnp
    shim = _Shim(jnp, jnp.array)
    shim.grad = jax.grad
    return shim


def autograd_numpy() -> _Shim:
    import autograd
    import autograd.numpy as anp
    shim = _Shim(anp, anp.array)
    shim.grad = autograd.grad
    return shim


def torch_numpy() -> Any:
    """A NumPy-named namespace over torch (float64), with in-place element writes."""
    import torch

    ns = types.SimpleNamespace(float64=torch.float64)

    def unary(fn, scalar_fn):
        # Python floats stay Python floats (constants of the program); tensors go to torch.
        return lambda x: fn(x) if isinstance(x, torch.Tensor) else scalar_fn(x)

    for name, scalar in (("exp", math.exp), ("log", math.log), ("sqrt", math.sqrt),
                         ("sin", math.sin), ("cos", math.cos), ("tan", math.tan),
                         ("tanh", math.tanh), ("log1p", math.log1p), ("expm1", math.expm1),
                         ("abs", abs), ("arctan", math.atan), ("sinh", math.sinh),
                         ("cosh", math.cosh)):
        setattr(ns, name, unary(getattr(torch, name), scalar))

    def tensor(x):
        return x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float64)

    def reduction(fn):
        def reduce(x, axis=None, keepdims=False):
            return fn(x) if axis is None else fn(x, dim=axis, keepdim=keepdims)
        return reduce

    ns.sum = reduction(torch.sum)
    ns.mean = reduction(torch.mean)
    ns.zeros = lambda shape, dtype=None: torch.zeros(shape, dtype=torch.float64)
    ns.ones = lambda shape, dtype=None: torch.ones(shape, dtype=torch.float64)
    ns.dot = ns.matmul = torch.matmul
    ns.maximum = lambda a, b: torch.maximum(tensor(a), tensor(b))
    ns.minimum = lambda a, b: torch.minimum(tensor(a), tensor(b))
    ns.where = lambda c, a, b: torch.where(c if isinstance(c, torch.Tensor) else torch.tensor(bool(c)),
                                           tensor(a), tensor(b))
    ns.square = lambda x: x * x
    ns.logaddexp = lambda a, b: torch.logaddexp(tensor(a), tensor(b))
    # what the standard AD benchmark programs (benchmarks/adbench) use besides
    ns.inf, ns.pi, ns.nan = math.inf, math.pi, math.nan
    ns.sign = unary(torch.sign, lambda x: float((x > 0) - (x < 0)))
    ns.max = lambda x, axis=None, keepdims=False: (torch.amax(x) if axis is None else
                                                   torch.amax(x, dim=axis, keepdim=keepdims))
    ns.min = lambda x, axis=None, keepdims=False: (torch.amin(x) if axis is None else
                                                   torch.amin(x, dim=axis, keepdim=keepdims))
    ns.concatenate = lambda xs, axis=0: torch.cat([tensor(x) for x in xs], dim=axis)
    ns.roll = lambda x, shift: torch.roll(x, shift)
    ns.array = lambda x: torch.stack([tensor(v) for v in x]) if isinstance(x, (list, tuple)) else tensor(x)
    ns.cross = lambda a, b: torch.linalg.cross(a, b)
    ns.linspace = lambda a, b, n: torch.linspace(a, b, n, dtype=torch.float64)
    ns.arange = lambda n: torch.arange(n, dtype=torch.float64)

    def delete(x, index, axis=None):
        keep = [i for i in range(x.shape[axis or 0]) if i != index]
        return torch.index_select(x, axis or 0, torch.tensor(keep))
    ns.delete = delete
    ns.grad = lambda f, argnums=0: torch.func.grad(f, argnums=argnums)
    ns.copy = lambda x: x.clone()
    ns.clip = lambda x, lo, hi: torch.clamp(tensor(x), lo, hi)
    return ns
