"""Large arrays a program reads from outside, passed to its compiled code by reference.

A module-level array (or a closure cell, attribute, default, tuple element) read by a traced
function becomes an array constant of the generated source. Small ones (up to
`deps.CONTENT_CHECK_BYTES`) stay module globals of the generated module, which Numba bakes
into machine code; the call guard compares their bytes with the trace's copy, so an in-place
edit is seen at the next call. Comparing the bytes of a large array at every call would cost a
pass over it, so a large one is never baked: it becomes a trailing parameter of the generated
function, and `Bound` passes the user's very array (a read-only view of it) at every call.
An in-place edit (`W[0] = 5.0`, `W += 1`) is then seen for free; the guard checks only that the
name still holds the same array with the same shape and dtype (what the code was specialised
to). JAX does the opposite (it bakes globals at trace time and never notices an edit); we
prefer the answer NumPy would give.

The disk cache stores, for each such parameter, the path from the function to the array
(`deps.resolve`), so a program loaded in another process binds that process's array.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from coarsen import deps

_F64 = np.dtype(np.float64)


def split(source: str, name: str, constants: dict[str, np.ndarray], reads: Any):
    """(source, baked constants, hidden) where the array constants that stand for large outside
    arrays (`reads.by_reference`) are trailing parameters of `name` in `source` instead of
    globals; hidden is [(parameter, live array, path from the function or None)]."""
    table = getattr(reads, "by_reference", None) or {}
    hidden = []
    baked = {}
    for cname, array in constants.items():
        entry = table.get(id(array))
        if entry is not None and entry[0] is array:
            hidden.append((cname, entry[1], reads.path_of(entry[1]), array.dtype))
        else:
            baked[cname] = array
    if not hidden:
        return source, constants, []
    return add_params(source, name, [h[0] for h in hidden]), baked, hidden


def add_params(source: str, name: str, params: list[str]) -> str:
    """`source` whose `def name(...)` takes `params` after its own parameters."""
    pattern = re.compile(rf"^def {re.escape(name)}\((.*)\):$", re.M)
    match = pattern.search(source)
    if match is None:   # generated code always has this line; never bake silently instead
        raise RuntimeError(f"coarsen: no `def {name}(...)` line in the generated source")
    own = match.group(1).strip()
    line = f"def {name}({', '.join(([own] if own else []) + params)}):"
    return source[:match.start()] + line + source[match.end():]


class Bound:
    """A compiled program called with the live arrays appended to its arguments. It answers
    what callers ask of a compiled function (`fn`, `machine_code`, `jitted`: the same
    functions with the arrays appended, one wrapper per function so identities hold;
    `ready`, `wait`, `tier`, ... forwarded), never with a way around the binding."""

    def __init__(self, inner: Callable, arrays: list[np.ndarray], dtypes: list | None = None) -> None:
        self.inner = inner
        self.arrays = list(arrays)
        # what the generated code takes: float64, or int64 for integer arrays (the trace's copy)
        self.dtypes = list(dtypes) if dtypes is not None else [_F64] * len(self.arrays)
        self._wrappers: dict[int, tuple] = {}
        if all(a.dtype == d and a.dtype.isnative for a, d in zip(self.arrays, self.dtypes)):
            self.values = tuple(_readonly_view(a) for a in self.arrays)
        else:
            self.values = None

    def current(self) -> tuple:
        """The arrays as the generated code takes them (a copy only when the user's array has
        another dtype or byte order, then made at every call)."""
        if self.values is not None:
            return self.values
        return tuple(np.asarray(a, dtype=d) for a, d in zip(self.arrays, self.dtypes))

    def __call__(self, *args):
        values = self.values
        return self.inner(*args, *(values if values is not None else self.current()))

    def _wrap(self, f: Callable | None) -> Callable | None:
        if f is None:
            return None
        found = self._wrappers.get(id(f))
        if found is not None and found[0] is f:
            return found[1]
        values, current = self.values, self.current
        if values is not None:
            def call(*args):
                return f(*args, *values)
        else:
            def call(*args):
                return f(*args, *current())
        self._wrappers[id(f)] = (f, call)
        return call

    @property
    def fn(self) -> Callable:
        return self._wrap(getattr(self.inner, "fn", self.inner))

    @property
    def machine_code(self) -> Callable | None:
        return self._wrap(getattr(self.inner, "machine_code", None))

    @property
    def jitted(self) -> Callable | None:
        return self._wrap(getattr(self.inner, "jitted", None))

    def __getattr__(self, name: str) -> Any:   # ready, wait, tier, fallback_reason, ...
        if name.startswith("__") or name in ("inner", "arrays", "dtypes", "values", "_wrappers"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def _readonly_view(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


def bind(compiled: Callable, hidden: list) -> Callable:
    """`compiled` with the hidden arrays passed at every call (itself when there are none)."""
    if not hidden:
        return compiled
    return Bound(compiled, [h[1] for h in hidden], [h[3] for h in hidden])


def resolve_hidden(fn: Any, stored: list) -> list | None:
    """The hidden parameters of a disk entry bound again in this process: [(parameter, live
    array, path, dtype)], or None when a path no longer leads to an array of the stored rank."""
    out = []
    for pname, path, ndim in stored:
        obj = deps.resolve(fn, tuple((kind, arg) for kind, arg in path))
        if not isinstance(obj, np.ndarray) or obj.ndim != ndim or obj.dtype.kind not in "fiub":
            return None
        # as the frontend copies it (frontend.expressions.from_python): integers as int64
        out.append((pname, obj, path, np.dtype(np.int64) if obj.dtype.kind in "iu" else _F64))
    return out
