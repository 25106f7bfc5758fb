"""Compile generated Python source for a target.

`compile_source(source, name, target, label, constants)` returns the function `name` that
`source` defines, with `constants` (module-level arrays the source reads) as globals: they are
part of the module's name, since Numba bakes globals into machine code. Targets:
- "numpy": plain Python + NumPy (the reference; always available);
- "cpu": the same source compiled by Numba `njit` (error_model="numpy": 1/0 is inf, as in
  NumPy). The source is written to a file in the cache directory so Numba can cache its
  machine code on disk too; a second process with the same program loads both. If Numba
  cannot type a program (an op it lacks), the function falls back to the NumPy version and
  warns once, naming the reason.
- "cuda": the program on the host with CuPy arrays, each elementwise segment one fused Numba
  CUDA kernel (see `kernels.cuda`; optional: numba-cuda and cupy, or the simulator).
Generated source is registered with `linecache`, so tracebacks show it.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import linecache
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kernels import diskcache, locations, runtime

TARGETS = ("numpy", "cpu", "cuda")


class TargetUnavailable(RuntimeError):
    pass


def cache_dir() -> Path | None:
    """The checked cache directory, or None when the disk cache is off (see `diskcache`)."""
    return diskcache.cache_dir()


def _runtime_fingerprint() -> str:
    """A hash of this package's sources: Numba's on-disk cache of a generated module knows its
    file, not the `rt.*` implementations compiled into it, so a new runtime needs a new file."""
    digest = hashlib.sha1()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


_RUNTIME = _runtime_fingerprint()


def constants_digest(constants: dict[str, np.ndarray] | None) -> str:
    """A hash of array constants' names, dtypes, shapes and bytes. Numba bakes globals into
    machine code, so a module is named after its constants too: new values, a new module
    (and a new on-disk machine-code cache entry), never old values under the same name."""
    digest = hashlib.sha256()
    for name in sorted(constants or {}):
        array = np.ascontiguousarray(constants[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}:".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


_MODULE_LOCK = threading.RLock()   # one module per name, even when threads compile at once


def _load_module(source: str, label: str, persist: bool, constants: dict | None = None):
    digest = hashlib.sha1((source + _RUNTIME + constants_digest(constants)).encode()).hexdigest()[:16]
    directory = cache_dir() if persist else None
    persist = directory is not None
    modname = f"coarsen_generated_{label}_{digest}{'_file' if persist else ''}".replace("-", "_")
    with _MODULE_LOCK:
        if modname in sys.modules:
            return sys.modules[modname], persist
        path = None
        if persist:
            path = directory / f"{modname}.py"
            data = source.encode()
            if diskcache.read_nofollow(path) != data and not diskcache.write_atomic(directory, path.name, data):
                persist = False   # the directory turned out unwritable: compile from memory
        if persist:
            spec = importlib.util.spec_from_file_location(modname, path)
            module = importlib.util.module_from_spec(spec)
            module.np = np
            module.rt = runtime
            module.__dict__.update(constants or {})
            # the text compiled is `source`, whatever the file holds now
            exec(compile(source, str(path), "exec"), module.__dict__)   # generated source only
        else:
            filename = f"<coarsen {label} {digest}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            module = type(sys)(modname)
            module.np = np
            module.rt = runtime
            module.__dict__.update(constants or {})
            exec(compile(source, filename, "exec"), module.__dict__)   # generated source only
        sys.modules[modname] = module
        return module, persist


class _NumbaFunction:
    """njit on first call; NumPy fallback (with a warning) if Numba cannot type it."""

    def __init__(self, py_fn: Callable, label: str, cache: bool = True) -> None:
        import numba
        from kernels import numba_cache
        numba_cache.install()   # before any cached overload (rt.* included) is loaded
        import kernels.numba_runtime  # noqa: F401  (registers the rt.* implementations)

        self.py_fn = py_fn
        self.label = label
        try:
            self.jitted = numba.njit(error_model="numpy", cache=cache)(py_fn)
        except RuntimeError as err:   # Numba finds no writable place for its cache
            locations.warn(f"coarsen: Numba cannot cache {label} on disk ({err}); compiling it "
                           "in memory", RuntimeWarning)
            self.jitted = numba.njit(error_model="numpy")(py_fn)
        self.fn = self._first_call
        self.fallback_reason: str | None = None

    def _first_call(self, *args):
        from numba.core.errors import NumbaError
        try:
            out = self.jitted(*args)
            self.fn = self.jitted
            return out
        except NumbaError as err:
            reason = str(err).strip().splitlines()[0][:300]
            self.fallback_reason = reason
            # at the user's line, past however many coarsen frames lead here
            locations.warn(f"coarsen: target 'cpu' cannot compile {self.label} ({reason}); "
                           "running it with the 'numpy' target", RuntimeWarning)
            self.fn = _quiet(self.py_fn)
            return self.fn(*args)

    def __call__(self, *args):
        return self.fn(*args)


def _quiet(fn: Callable) -> Callable:
    """`fn` run without NumPy's floating-point warnings, as Numba and CUDA code runs: generated
    code evaluates both sides of a `where` (and their derivatives) and selects afterwards, so
    the side thrown away may divide by zero without the result being affected. Integer
    arguments are int64 here as in compiled code (Python ints would not wrap on overflow)."""
    @functools.wraps(fn)
    def run(*args):
        args = [np.int64(a) if type(a) is int else a for a in args]
        with np.errstate(all="ignore"):
            return fn(*args)
    run.py_fn = fn
    return run


def compile_source(source: str, name: str, target: str = "numpy", label: str = "",
                   constants: dict[str, np.ndarray] | None = None) -> Callable:
    """The function `name` defined by `source`, compiled for `target`. `constants` are the
    module-level arrays the source reads: they are part of the module's identity (see
    `constants_digest`), so changed values never reuse machine code compiled for old ones."""
    if target not in TARGETS:
        raise TargetUnavailable(f"unknown target {target!r}; available: {', '.join(TARGETS)}")
    label = label or name
    if target == "numpy":
        return _quiet(getattr(_load_module(source, label, False, constants)[0], name))
    if target == "cpu":
        module, persisted = _load_module(source, label, True, constants)
        return _NumbaFunction(getattr(module, name), label, cache=persisted)
    from kernels.cuda import compile_cuda
    return compile_cuda(source, name, label, constants)


def module_globals(fn: Callable) -> dict[str, Any]:
    """The namespace a compiled function reads its globals from (for array constants)."""
    inner = getattr(fn, "py_fn", fn)
    return inner.__globals__
