"""Warnings that point at the user's code, not at the library's.

A warning about a user's program (Numba cannot compile it, it runs on NumPy instead) is only
useful where the user can act on it: at the line of *their* code that made the call. The
number of library frames between that line and the `warnings.warn` varies (first call or
later call, nested transforms, a cache hook called back by Numba), so no fixed `stacklevel`
is right. `warn(message)` walks the stack instead and attributes the warning to the first
frame whose module is not part of the library: a registered package (`kernels` and the
packages it drives, Numba and llvmlite; `coarsen` registers itself and `phicalc`), a
generated program (`coarsen_generated_*` modules, code compiled from `<coarsen ...>`
strings) or the import machinery.
"""
from __future__ import annotations

import sys
import warnings

_PACKAGES: set[str] = {"kernels", "numba", "llvmlite", "importlib"}


def register(*packages: str) -> None:
    """Treat frames of modules in these top-level packages as library frames."""
    _PACKAGES.update(packages)


def _is_library(frame) -> bool:
    name = frame.f_globals.get("__name__") or ""
    if name.partition(".")[0] in _PACKAGES or name.startswith("coarsen_generated_"):
        return True
    filename = frame.f_code.co_filename
    return filename.startswith("<coarsen") or filename.startswith("<frozen importlib")


def user_stacklevel() -> int:
    """The `stacklevel` that attributes a `warnings.warn` made by the caller of this function
    to the first frame outside the library (to the caller's caller if all frames are)."""
    frame = sys._getframe(2)   # the caller's caller: stacklevel 2
    level = 2
    while frame is not None and _is_library(frame):
        frame = frame.f_back
        level += 1
    return level if frame is not None else 2


def warn(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """`warnings.warn(message, category)` attributed to the user's line."""
    warnings.warn(message, category, stacklevel=user_stacklevel())
