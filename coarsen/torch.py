"""coarsen code inside PyTorch models: `coarsen.torch.function(f)`.

The result is a callable on tensors backed by a `torch.autograd.Function`: its forward runs
the compiled primal program (`coarsen.jit`), its backward the compiled vector-Jacobian
product, so `loss.backward()` flows through coarsen code like through any torch op (once: a
second backward through it, `create_graph=True`, raises; use coarsen.hessian / coarsen.hvp
on the NumPy function for second derivatives). Tensors
are computed in float64 on the CPU (copied in and out); non-tensor arguments (ints for loop
counts, floats held fixed) pass through as constants.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from coarsen.api import DEFAULT_TARGET, _Derivative, _Jit


def _to_numpy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        array = x.detach().to("cpu", torch.float64).numpy()
        return float(array) if array.ndim == 0 else array
    return x


class _Apply(torch.autograd.Function):
    @staticmethod
    def forward(ctx, wrapped: "Function", *args):
        values = [_to_numpy(a) for a in args]
        prog = wrapped.primal.program(tuple(values))
        draws = prog.draws
        if prog.writes:   # the write-back would change the tensors behind autograd's back
            from coarsen.errors import UnsupportedError
            raise UnsupportedError("coarsen.torch.function of a function that writes into an argument array "
                                   "is not supported", None, "write into a copy of the argument (y = x.copy())")
        if draws:   # the backward would draw other numbers than the forward did
            from coarsen.errors import UnsupportedError
            raise UnsupportedError(f"coarsen.torch.function of a function that makes random draws "
                                   f"({draws[0].method} at {draws[0].where}) is not supported", None,
                                   "draw with torch outside and pass the numbers in as an argument")
        outs = wrapped.primal(*values)
        outs = outs if isinstance(outs, tuple) else (outs,)
        ctx.wrapped, ctx.values = wrapped, values
        ctx.save_for_backward(*(a for a in args if isinstance(a, torch.Tensor)))
        ctx.devices = [a.device if isinstance(a, torch.Tensor) else None for a in args]
        ctx.dtypes = [a.dtype if isinstance(a, torch.Tensor) else None for a in args]
        ctx.out_shapes = [np.shape(o) for o in outs]
        ref = next((a for a in args if isinstance(a, torch.Tensor)), None)
        dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float64
        device = ref.device if ref is not None else None
        return tuple(torch.as_tensor(np.asarray(o, dtype=np.float64), dtype=dtype, device=device) for o in outs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        with torch.no_grad():
            grads = _Apply._pullback(ctx, grad_outputs)
        if not torch.is_grad_enabled():
            return grads
        # create_graph=True (gradient penalties, Hessians): the gradient was computed in NumPy,
        # outside torch's graph, so a backward through it would silently miss coarsen's
        # second-order terms (red team round 5, G5): it raises instead, as torch's own
        # once_differentiable functions do
        inputs = [t for t in ctx.saved_tensors if t.requires_grad]
        live = [k for k, g in enumerate(grads) if g is not None]
        if not inputs or not live:
            return grads
        # the gradients depend on the inputs (through the error node only: never evaluated)
        anchor = sum(t.detach().new_zeros(()) * t.reshape(-1)[:1].sum() for t in inputs)
        marked = torch._C._functions.DelayedError(
            "a second derivative through coarsen.torch.function is not supported (its gradient is "
            "computed outside torch's graph); use coarsen.hessian or coarsen.hvp on the NumPy function",
            len(live))(*(grads[k] + anchor for k in live))
        marked = marked if isinstance(marked, tuple) else (marked,)
        out = list(grads)
        for k, g in zip(live, marked):
            out[k] = g
        return tuple(out)

    @staticmethod
    def _pullback(ctx, grad_outputs):
        wrapped, values = ctx.wrapped, ctx.values
        cts = tuple(float(g) if np.ndim(g) == 0 else g for g in
                    (_to_numpy(g) if g is not None else np.zeros(s) for g, s in zip(grad_outputs, ctx.out_shapes)))
        grads = wrapped.pullback(values, cts)
        result: list[Any] = [None]
        for k, (device, dtype) in enumerate(zip(ctx.devices, ctx.dtypes)):
            if k in wrapped.positions(values) and ctx.needs_input_grad[k + 1]:
                g = grads[wrapped.positions(values).index(k)]
                result.append(torch.as_tensor(np.asarray(g, dtype=np.float64), dtype=dtype, device=device))
            else:
                result.append(None)
        return tuple(result)


class Function:
    """A coarsen-compiled function usable on torch tensors (see the module docstring)."""

    def __init__(self, fn: Callable, target: str | None = None) -> None:
        self.fn = fn
        self.target = target or DEFAULT_TARGET
        self.primal = _Jit(fn, None, self.target)
        self._vjps: dict[tuple[int, ...], _Derivative] = {}

    def positions(self, values) -> tuple[int, ...]:
        """The differentiable arguments: float scalars and float arrays."""
        return tuple(k for k, v in enumerate(values)
                     if isinstance(v, (float, np.floating)) or (isinstance(v, np.ndarray) and v.dtype.kind == "f"))

    def pullback(self, values, cotangents):
        nums = self.positions(values)
        d = self._vjps.get(nums)
        if d is None:
            d = self._vjps[nums] = _Derivative(self.fn, nums, self.target, "vjp")
        runner = d.runner(d.program(tuple(values)), tuple(values))
        return runner(tuple(values), cotangents)[1]

    def __call__(self, *args):
        outs = _Apply.apply(self, *args)
        return outs[0] if len(outs) == 1 else outs


def function(fn: Callable | None = None, target: str | None = None):
    """Wrap `fn` so it takes and returns torch tensors, differentiable by torch.autograd."""
    if fn is None:
        return lambda f: Function(f, target)
    return Function(fn, target)
