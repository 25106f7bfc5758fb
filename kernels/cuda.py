"""The "cuda" target: array programs on an NVIDIA GPU (optional: `pip install 'coarsen[gpu]'`).

The generated program runs on the host with CuPy as its array module: matrix products go to
cuBLAS, reductions are CuPy's parallel reductions, and every elementwise *segment* — forward
value or the whole vector-Jacobian product of a segment — is one fused Numba CUDA kernel
(`_kernel*` functions in the generated source, one thread per element). NumPy inputs are
copied to the device and results copied back; CuPy inputs stay on the device.

With `NUMBA_ENABLE_CUDASIM=1` and no CuPy, the same program runs with NumPy as the array
module and the kernels in Numba's CUDA simulator: how CI tests this path without a GPU.
"""
from __future__ import annotations

import math
import os
import types
from typing import Any, Callable

import numpy as np

from kernels import runtime, scatter


def _array_module():
    simulated = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    try:
        from numba import cuda
    except ImportError as err:
        raise _unavailable("numba's CUDA support is missing") from err
    if simulated:
        return np, cuda
    try:
        import cupy
    except ImportError as err:
        raise _unavailable("CuPy is not installed") from err
    if not cuda.is_available():
        raise _unavailable("no CUDA GPU is visible")
    return cupy, cuda


def _unavailable(why: str):
    from kernels.targets import TargetUnavailable
    return TargetUnavailable(f"target 'cuda' is unavailable: {why}. Install the GPU extra "
                             "(pip install 'coarsen[gpu]' for CUDA 12 or 'coarsen[gpu-cuda13]' for CUDA 13: "
                             "numba-cuda and a CuPy build, imported as `cupy`) on a machine "
                             "with an NVIDIA GPU, or set NUMBA_ENABLE_CUDASIM=1 to simulate")


class _ArrayModule:
    """`np` inside a cuda program: the array module, plus the few helpers CuPy spells differently."""

    def __init__(self, xp) -> None:
        self._xp = xp

    def __getattr__(self, name: str):
        return getattr(self._xp, name)

    @staticmethod
    def shape(x):
        return np.shape(x) if not hasattr(x, "shape") else tuple(x.shape)


def _runtime(xp, cuda) -> types.SimpleNamespace:
    """kernels.runtime's functions re-bound to the array module (one implementation to keep)."""
    ns: dict[str, Any] = {}
    module_globals = dict(vars(runtime))
    module_globals["np"] = _ArrayModule(xp)
    for name, fn in vars(runtime).items():
        if isinstance(fn, types.FunctionType) and fn.__module__ == runtime.__name__:
            ns[name] = types.FunctionType(fn.__code__, module_globals, name, fn.__defaults__, fn.__closure__)
    # writes through index arrays (`kernels.scatter`): its functions call each other, so all of
    # them are re-bound into one namespace
    scatter_globals = dict(vars(scatter))
    scatter_globals["np"] = _ArrayModule(xp)
    for name, fn in vars(scatter).items():
        if isinstance(fn, types.FunctionType) and fn.__module__ == scatter.__name__:
            scatter_globals[name] = types.FunctionType(fn.__code__, scatter_globals, name, fn.__defaults__,
                                                       fn.__closure__)
            if not name.startswith("_"):
                ns[name] = scatter_globals[name]

    def fused(kernel, n_out: int, *operands):
        """Launch an elementwise kernel over the broadcast shape of its array operands."""
        values = [o.item() if hasattr(o, "ndim") and o.ndim == 0 else o for o in operands]
        arrays = [v for v in values if hasattr(v, "ndim")]
        shape = xp.broadcast_shapes(*[a.shape for a in arrays]) if arrays else ()
        n = int(np.prod(shape)) if shape else 1
        flat = [_writable(xp.ascontiguousarray(xp.broadcast_to(v, shape)).ravel()) if hasattr(v, "ndim")
                else v for v in values]
        outs = [xp.empty(n) for _ in range(n_out)]
        threads = 128
        kernel[max(1, (n + threads - 1) // threads), threads](n, *flat, *outs)
        return [o.reshape(shape) for o in outs]

    ns["fused"] = fused
    ns["Refusal"] = runtime.Refusal   # run-time refusals (`raise rt.Refusal(...)`): a class, not a function
    ns["LinAlgError"] = runtime.LinAlgError
    return types.SimpleNamespace(**ns)


def _writable(a):
    # Numba's simulator copies every array argument back after a launch, inputs included
    flags = getattr(a, "flags", None)
    return a.copy() if flags is not None and not flags.writeable else a


def compile_cuda(source: str, name: str, label: str, constants: dict | None = None) -> Callable:
    xp, cuda = _array_module()
    from kernels import cuda_special   # device forms of rt.digamma, ... (fused kernels call them)

    namespace: dict[str, Any] = {"np": _ArrayModule(xp), "rt": _runtime(xp, cuda), "cuda": cuda, "math": math,
                                 "cuda_special": cuda_special}
    namespace.update({k: xp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in (constants or {}).items()})
    exec(compile(source, f"<coarsen cuda {label}>", "exec"), namespace)   # generated source only
    for key in list(namespace):
        if key.startswith("_kernel"):
            namespace[key] = cuda.jit(namespace[key])
    program = namespace[name]

    def run(*args):
        on_host = any(isinstance(a, np.ndarray) for a in args)
        device_args = [xp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        result = program(*device_args)
        return _to_host(result) if on_host and xp is not np else result

    run.py_fn = program
    return run


def _to_host(obj):
    if isinstance(obj, tuple):
        return tuple(_to_host(o) for o in obj)
    if hasattr(obj, "get"):
        return obj.get()
    return obj
