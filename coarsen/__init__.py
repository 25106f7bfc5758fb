"""coarsen: automatic differentiation by coarsening.

    import coarsen

    @coarsen.grad
    def f(x, y): ...

Public API: `trace`, `explain`, `interpret`, `CoarsenError`, `UnsupportedError` (more as the
compiler lands: `grad`, `value_and_grad`, `vjp`, `jit`, `vmap`).
"""
from coarsen.errors import CoarsenError, CoarsenTypeError, InternalError, UnsupportedError
from coarsen.api import explain, grad, jit, trace, value_and_grad, vjp
from coarsen.ir import interpret
from coarsen.vmap import vmap

__all__ = ["grad", "value_and_grad", "vjp", "jit", "vmap", "trace", "explain", "interpret", "CoarsenError", "CoarsenTypeError", "UnsupportedError",
           "InternalError"]
