"""Compile generated Python source for a target.

`compile_source(source, name, target, label)` returns the function `name` that `source`
defines. Targets:
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
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kernels import locations, runtime

TARGETS = ("numpy", "cpu", "cuda")


class TargetUnavailable(RuntimeError):
    pass


def cache_dir() -> Path:
    root = os.environ.get("COARSEN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "coarsen")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _runtime_fingerprint() -> str:
    """A hash of this package's sources: Numba's on-disk cache of a generated module knows its
    file, not the `rt.*` implementations compiled into it, so a new runtime needs a new file."""
    digest = hashlib.sha1()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


_RUNTIME = _runtime_fingerprint()


def _load_module(source: str, label: str, persist: bool):
    digest = hashlib.sha1((source + _RUNTIME).encode()).hexdigest()[:16]
    modname = f"coarsen_generated_{label}_{digest}{'_file' if persist else ''}".replace("-", "_")
    if modname in sys.modules:
        return sys.modules[modname]
    if persist:
        path = cache_dir() / f"{modname}.py"
        if not path.exists() or path.read_text() != source:
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(source)
            os.replace(tmp, path)   # atomic: concurrent processes never see half a file
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        module.np = np
        module.rt = runtime
        spec.loader.exec_module(module)
    else:
        filename = f"<coarsen {label} {digest}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = type(sys)(modname)
        module.np = np
        module.rt = runtime
        exec(compile(source, filename, "exec"), module.__dict__)   # generated source only
    sys.modules[modname] = module
    return module


class _NumbaFunction:
    """njit on first call; NumPy fallback (with a warning) if Numba cannot type it."""

    def __init__(self, py_fn: Callable, label: str) -> None:
        import numba
        import kernels.numba_runtime  # noqa: F401  (registers the rt.* implementations)

        self.py_fn = py_fn
        self.label = label
        self.jitted = numba.njit(error_model="numpy", cache=True)(py_fn)
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
    the side thrown away may divide by zero without the result being affected."""
    @functools.wraps(fn)
    def run(*args):
        with np.errstate(all="ignore"):
            return fn(*args)
    run.py_fn = fn
    return run


def compile_source(source: str, name: str, target: str = "numpy", label: str = "") -> Callable:
    if target not in TARGETS:
        raise TargetUnavailable(f"unknown target {target!r}; available: {', '.join(TARGETS)}")
    label = label or name
    if target == "numpy":
        return _quiet(getattr(_load_module(source, label, persist=False), name))
    if target == "cpu":
        module = _load_module(source, label, persist=True)
        return _NumbaFunction(getattr(module, name), label)
    from kernels.cuda import compile_cuda
    return compile_cuda(source, name, label)


def module_globals(fn: Callable) -> dict[str, Any]:
    """The namespace a compiled function reads its globals from (for array constants)."""
    inner = getattr(fn, "py_fn", fn)
    return inner.__globals__
