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
import io
import linecache
import logging  # noqa: F401  (imported before the at-fork hook below: see there)
import os
import sys
import threading
import tokenize
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
        if not isinstance(constants[name], np.ndarray):   # a class (a user's exception): by identity
            digest.update(f"{name}:object:{id(constants[name])}:".encode())
            continue
        array = np.ascontiguousarray(constants[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}:".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


_MODULE_LOCK = threading.RLock()   # one module per name, even when threads compile at once


def float64_literals(source: str) -> tuple[str, dict[str, np.float64]]:
    """`source` with each float literal read from a module global holding it as np.float64,
    and those globals. Python evaluates `2.25 / 0.0` in Python floats and raises
    ZeroDivisionError where the program's NumPy values (and Numba, CUDA) give inf: with float64
    literals the NumPy target computes what machine code computes. Lines keep their numbers."""
    lines = source.splitlines(True)
    edits: list[tuple[int, int, int, str]] = []
    names: dict[str, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NUMBER and any(c in tok.string for c in ".eE") \
                and not tok.string.lower().endswith("j") and not tok.string.lower().startswith("0x"):
            name = names.setdefault(tok.string, f"_f64_{len(names)}")
            (row, col), (_, end) = tok.start, tok.end
            edits.append((row - 1, col, end, name))
    for row, col, end, name in reversed(edits):
        lines[row] = lines[row][:col] + name + lines[row][end:]
    return "".join(lines), {name: np.float64(float(text)) for text, name in names.items()}


def _load_module(source: str, label: str, persist: bool, constants: dict | None = None):
    digest = hashlib.sha1((source + _RUNTIME + constants_digest(constants)).encode()).hexdigest()[:16]
    # a module holding objects (a user's exception class) is this process's only: no disk cache
    persist = persist and all(isinstance(c, np.ndarray) for c in (constants or {}).values())
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
            text, literals = float64_literals(source)
            module.__dict__.update(literals)
            # the text compiled is `source`, whatever the file holds now
            exec(compile(text, str(path), "exec"), module.__dict__)   # generated source only
        else:
            filename = f"<coarsen {label} {digest}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            module = type(sys)(modname)
            module.np = np
            module.rt = runtime
            module.__dict__.update(constants or {})
            text, literals = float64_literals(source)
            module.__dict__.update(literals)
            exec(compile(text, filename, "exec"), module.__dict__)   # generated source only
        sys.modules[modname] = module
        return module, persist


_COMPILING: set[threading.Thread] = set()   # background compiles in flight (tiered programs)


def wait_for_compiles(timeout: float | None = None) -> None:
    """Block until the background compiles in flight have finished."""
    me = threading.current_thread()
    for thread in list(_COMPILING):
        if thread is not me and thread.is_alive():
            thread.join(timeout)


# A child forked while a compile runs would inherit Numba's compiler lock (and import locks)
# held by a thread it does not have, and hang at its first compile: forking waits for compiles
# in flight. Before-fork hooks run in the reverse order of registration, and logging's takes
# its module lock, which importing Numba needs: logging is imported first, so that this hook
# runs before logging's, while the compile can still finish.

if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=lambda: wait_for_compiles())


def tiered() -> bool:
    """Whether "cpu" programs start on the NumPy tier while Numba compiles in the background
    (`COARSEN_TIERED`, on unless set to 0/false/no/off)."""
    return os.environ.get("COARSEN_TIERED", "1").strip().lower() not in ("0", "false", "no", "off")


class _NumbaFunction:
    """A generated program on the "cpu" target: Numba's machine code, with two ways in.

    Synchronous (`COARSEN_TIERED=0`): njit on the first call; the NumPy version (with a
    warning) if Numba cannot type the program.

    Tiered (the default): the first calls run the same generated source with NumPy (the
    "numpy" target, already correct and needing neither Numba nor a compile) while a
    background thread imports Numba, and compiles the program for the first call's argument
    types or loads its machine code from Numba's disk cache; every call after that runs the
    machine code. Both tiers run one source under the same semantics (float64 arithmetic,
    NumPy's error model, int64 integers, the same index checks); what differs is the order
    of float sums: NumPy sums pairwise (blocks of 8 partial sums), the machine code (Numba's
    np.sum, fused loops) left to right. Each partial sum rounds, so the results agree to
    rounding of the partial sums, which under cancellation is not rounding of the result:
    [1e16, 1.0 x 16, -1e16] sums to 16.0 in NumPy, 0.0 in machine code, so the answer can
    change at the switch. Nothing else changes at the switch. A
    program Numba cannot type stays on the NumPy tier and the next call warns at the user's
    line. The thread is not a daemon: a process that exits before the compile finishes waits
    for it, so Numba's disk cache is filled for the next process.
    """

    def __init__(self, py_fn: Callable, label: str, cache: bool = True, fuse=None) -> None:
        self.py_fn = py_fn
        self._fuse = fuse   # args -> the fused function for their types, or None (`kernels.fusion`)
        self.label = label
        self.cache = cache
        self.fallback_reason: str | None = None
        self._lock = threading.Lock()
        self.machine_code = None   # the Numba dispatcher, once made
        self._pending_warning: str | None = None
        self._compiler: threading.Thread | None = None
        self.ready = threading.Event()   # set once calls run machine code (or fell back)
        self._numpy = _quiet(py_fn)
        self.fn = self._first_call_tiered if tiered() else self._first_call

    # -- Numba -------------------------------------------------------------------------------
    def _specialise(self, args) -> None:
        """Before the first compile, with the arguments in hand: `machine_code` runs the
        statement-fused source (`kernels.fusion`) made for these arguments' kinds and ranks;
        `jitted` (what `vmap` calls, with its own argument types) stays the unfused source."""
        if self.machine_code is not None or self._fuse is None:
            return
        fused = self._fuse(args)
        if fused is None:
            return
        import numba
        from kernels import numba_cache
        numba_cache.install()
        import kernels.numba_runtime  # noqa: F401
        with self._lock:
            if self.machine_code is None:
                self.machine_code = numba.njit(error_model="numpy", cache=self.cache)(fused)
                self.fused = True

    fused = False   # whether machine_code runs the fused source (compiled for one signature)
    _plain = None

    @property
    def jitted(self):
        """The Numba dispatcher of the unfused source (created on first use; `vmap` calls it
        from compiled loops, with its own argument types)."""
        if self.fused:
            with self._lock:
                if self._plain is None:
                    import numba
                    self._plain = numba.njit(error_model="numpy", cache=self.cache)(self.py_fn)
                return self._plain
        with self._lock:
            if self.machine_code is None:
                import numba
                from kernels import numba_cache
                numba_cache.install()   # before any cached overload (rt.* included) is loaded
                import kernels.numba_runtime  # noqa: F401  (registers the rt.* implementations)
                try:
                    self.machine_code = numba.njit(error_model="numpy", cache=self.cache)(self.py_fn)
                except RuntimeError as err:   # Numba finds no writable place for its cache
                    self._pending_warning = (f"coarsen: Numba cannot cache {self.label} on disk ({err}); "
                                             "compiling it in memory")
                    self.machine_code = numba.njit(error_model="numpy")(self.py_fn)
            return self.machine_code

    def _fall_back(self, err: BaseException) -> None:
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        self.fallback_reason = reason
        self._pending_warning = (f"coarsen: target 'cpu' cannot compile {self.label} ({reason}); "
                                 "running it with the 'numpy' target")
        self.fn = self._numpy

    def _warn_pending(self) -> None:
        message, self._pending_warning = self._pending_warning, None
        if message:   # at the user's line, past however many coarsen frames lead here
            locations.warn(message, RuntimeWarning)

    def _compile_fused_or_plain(self, args) -> None:
        """Compile machine code for `args`: the fused source, or the unfused one if Numba
        refuses the fused (a typing gap of the pass must never cost machine code)."""
        import numba
        from numba.core.errors import NumbaError
        sig = tuple(numba.typeof(a) for a in args)
        if self.fused:
            # its loops assume these arguments' kinds and ranks, which every call of this
            # program has (the API's guard checks types, ranks and dtypes per signature); array
            # layouts may differ between calls (C, F, strided views), and compile as they come
            try:
                self.machine_code.compile(sig)
                return
            except (NumbaError, NotImplementedError):
                # NotImplementedError: a gap of Numba's lowering that its typing let through
                # (an array expression allocating a result of layout 'A': `np.tanh(0.1 + m)`
                # where m joins a C result and an F argument, as a loop's carry does)
                with self._lock:
                    self.machine_code, self.fused = None, False
        self.jitted.compile(sig)

    # -- synchronous -------------------------------------------------------------------------
    def _first_call(self, *args):
        from numba.core.errors import NumbaError
        self._specialise(args)
        self._warn_pending()
        try:
            self._compile_fused_or_plain(args)
            # the API keeps the `fn` it finds after this call: choose the tier now, on these
            # arguments (`kernels.adaptive`; the program is pure, so running it again is harmless)
            return self._choose(*args)
        except NumbaError as err:
            self._fall_back(err)
            self._warn_pending()
            return self.fn(*args)
        finally:
            self.ready.set()

    # -- tiered --------------------------------------------------------------------------------
    def _first_call_tiered(self, *args):
        with self._lock:
            if self._compiler is None:
                self._compiler = threading.Thread(target=self._compile, args=(args,),
                                                  name=f"coarsen-compile-{self.label}", daemon=False)
                _COMPILING.add(self._compiler)
                self._compiler.start()
        if self._pending_warning:   # a caller holding this method, not `fn`, hears it too
            self._warn_pending()
        return self._numpy(*args)

    def _compile(self, args) -> None:
        try:
            import numba
            from numba.core.errors import NumbaError
            self._specialise(args)
            try:
                self._compile_fused_or_plain(args)
            except NumbaError as err:
                self._fall_back(err)
                return
            self.fn = self._choose   # the next call picks the tier (`kernels.adaptive`)
        except Exception as err:   # noqa: BLE001  (Numba failing otherwise: the NumPy tier, already
            # correct, keeps serving calls, and the next call warns; no value depends on this path)
            self._fall_back(err)
        finally:
            self.ready.set()
            _COMPILING.discard(threading.current_thread())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until calls run machine code (or the program fell back); False on timeout."""
        if self.fn == self._first_call_tiered and self._compiler is None:
            return False   # never called: nothing compiles yet
        return self.ready.wait(timeout)

    # -- adaptive --------------------------------------------------------------------------------
    chosen: str | None = None   # "cpu" or "numpy" once chosen
    timings: dict | None = None

    def _choose(self, *args):
        """The first call machine code can serve: run it, then let `kernels.adaptive` decide
        which tier serves the calls after this one."""
        from kernels import adaptive
        out, self.chosen, self.timings = adaptive.choose(self.machine_code, self._numpy, args)
        self.fn = self.machine_code if self.chosen == "cpu" else self._numpy
        return out

    @property
    def tier(self) -> str:
        """"numpy" while the NumPy tier serves calls (or after a fall-back, or when it was chosen as
        the faster: `chosen`), "cpu" when machine code serves them or is about to."""
        if self.machine_code is not None and (self.fn is self.machine_code or self.fn == self._choose):
            return "cpu"
        return "numpy"

    def __call__(self, *args):
        out = self.fn(*args)
        if self._pending_warning:
            self._warn_pending()
        return out


def _quiet(fn: Callable) -> Callable:
    """`fn` run without NumPy's floating-point warnings, as Numba and CUDA code runs: generated
    code evaluates both sides of a `where` (and their derivatives) and selects afterwards, so
    the side thrown away may divide by zero without the result being affected. Integer
    arguments are int64 here as in compiled code (Python ints would not wrap on overflow), float
    arguments float64 (a Python float's `7.0 // 0.0` would raise where compiled code gives inf)."""
    @functools.wraps(fn)
    def run(*args):
        args = [np.int64(a) if type(a) is int else np.float64(a) if type(a) is float else a for a in args]
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
        from kernels.vecmath import cpu_source   # np.exp -> rt.vexp (both tiers run this text)
        module, persisted = _load_module(cpu_source(source), label, True, constants)

        def fuse(args):   # the fused source for these arguments' types (None: nothing fused)
            from kernels.fusion import enabled, fuse as fuse_source
            if not enabled():
                return None
            try:
                text = fuse_source(source, name, args)
            except Exception:   # noqa: BLE001  (the pass is an optimisation: unfused code is correct)
                return None
            if text == source:
                return None
            return getattr(_load_module(cpu_source(text), label + "_fused", persisted, constants)[0], name)
        return _NumbaFunction(getattr(module, name), label, cache=persisted, fuse=fuse)
    from kernels.cuda import compile_cuda
    return compile_cuda(source, name, label, constants)


def module_globals(fn: Callable) -> dict[str, Any]:
    """The namespace a compiled function reads its globals from (for array constants)."""
    inner = getattr(fn, "py_fn", fn)
    return inner.__globals__
