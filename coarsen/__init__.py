"""coarsen: automatic differentiation by coarsening.

    import coarsen

    @coarsen.grad
    def f(x, y): ...

Public API: `grad`, `value_and_grad`, `vjp`, `jit`, `vmap`, `trace`, `explain`, `interpret`,
`coarsen.torch.function`, and the errors `CoarsenError`, `CoarsenTypeError`,
`UnsupportedError`, `InternalError`.

`import coarsen` imports only the errors: the rest loads on first use (module `__getattr__`,
PEP 562), so a process that runs a program from the disk cache never imports the compiler
(SymPy, networkx) or, until a "cpu" program runs, Numba; `coarsen.torch` imports torch only
when it is first used.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

from coarsen.errors import CoarsenError, CoarsenTypeError, InternalError, UnsupportedError
from kernels import locations

# warnings about a user's program point past coarsen's (and phicalc's) frames at the user's line
locations.register("coarsen", "phicalc")

_LAZY = {   # public name -> the module that defines it
    "grad": "coarsen.api", "value_and_grad": "coarsen.api", "vjp": "coarsen.api",
    "jit": "coarsen.api", "trace": "coarsen.api", "explain": "coarsen.api",
    "interpret": "coarsen.ir", "vmap": "coarsen.vmap",
    "jvp": "coarsen.transforms", "jacfwd": "coarsen.transforms", "jacrev": "coarsen.transforms",
    "jacobian": "coarsen.transforms", "hessian": "coarsen.transforms", "hvp": "coarsen.transforms",
}
_SUBMODULES = ("torch", "api", "programs", "vmap", "demo")

__all__ = ["grad", "value_and_grad", "vjp", "jit", "vmap", "trace", "explain", "interpret", "CoarsenError", "CoarsenTypeError", "UnsupportedError",
           "InternalError"]


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # importing the submodule coarsen.vmap sets the package's attribute `vmap` to it; the
        # public `coarsen.vmap` is the function (as when __init__ imported it eagerly)
        if name == "vmap" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES or (not name.startswith("__")
                                 and importlib.util.find_spec(f"coarsen.{name}") is not None):
        value = importlib.import_module(f"coarsen.{name}")   # `coarsen.ir...` after `import coarsen`
    else:
        raise AttributeError(f"module 'coarsen' has no attribute {name!r}")
    globals()[name] = value   # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
