"""Which tier serves a "cpu" program's calls: its Numba machine code, or the same source on NumPy.

Input: a program's two tiers (`kernels.targets`): the Numba dispatcher and the NumPy version of
the same generated source, which agree to rounding (one source, one semantics), and the
arguments of a call. Output: the result of that call and the tier that should serve the calls
after it.

Why a choice at all: Numba compiles `np.exp`, `np.log`, `np.tanh`, ... on arrays into loops
that call the C library's scalar functions (llvmlite here has no SVML, and LLVM's loop
vectoriser widens the call but the code generator splits it into scalar calls again), about
6-8 ns per element, while NumPy's ufuncs use SIMD loops (AVX-512/AVX2: 0.5-1 ns per element).
Numba also evaluates each statement's broadcast into a fresh array as NumPy does, so on a
program made of a few dozen whole-array statements over thousands of elements, with the work
in transcendental functions (a log-sum-exp, a logistic regression's sigmoid, a mixture
model's densities), the NumPy tier is measured 1.3-2.7x faster than the machine code (see
benchmarks/README.md, "#14"). Scalar loops are the opposite (100-200x slower on NumPy).

The rule: time one machine-code call; programs under `MIN_S` stay on machine code (per-call
overhead decides there, and Numba's is lower), as do programs over `MAX_S` (trials would
cost too much of the first call). Otherwise run the NumPy tier on the same arguments with a
deadline of the machine code's time (a line trace on the generated function's frame only
abandons it past `DEADLINE` machine-code times: the trace slows it, and a scalar loop costs
no more than that), then twice more untraced and the machine code again, and keep NumPy only
when its best time is under `MARGIN` of the machine code's best (of three). The generated programs are pure (writes go into
their own copies, random draws are arguments), so running one twice changes nothing. A
program that raises, or any trial that fails, stays on machine code. Under a debugger or a
coverage tracer (`sys.gettrace()` set) nothing is tried. `COARSEN_ADAPTIVE=0` turns it off.

Times are the calling thread's CPU time (`time.thread_time`), not wall time: on a machine
shared with other work a descheduled trial would otherwise decide. The choice is made once per compiled program (per argument ranks), at the first call that
machine code serves, so for the sizes of that call.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

MIN_S = 20e-6      # below: machine code (NumPy's ~1 us per statement loses)
MAX_S = 0.02       # above: machine code, untried (the trials would lengthen the first call)
MARGIN = 0.8       # NumPy only when clearly faster: ties go to machine code
DEADLINE = 2.0     # the traced NumPy trial is abandoned past this many machine-code times


def enabled() -> bool:
    """`COARSEN_ADAPTIVE`: on unless set to 0/false/no/off."""
    return os.environ.get("COARSEN_ADAPTIVE", "1").strip().lower() not in ("0", "false", "no", "off")


class _Abandoned(Exception):
    """Raised by the deadline trace inside the NumPy tier's frame (never escapes `choose`)."""


def _timed(fn: Callable, args: tuple) -> float:
    start = time.thread_time()
    fn(*args)
    return time.thread_time() - start


def timed_within(numpy_fn: Callable, args: tuple, limit_s: float) -> float | None:
    """Wall time of `numpy_fn(*args)`, or None if it ran past `limit_s`: a line trace on the
    generated function's own frame (`numpy_fn.py_fn`) stops it at the first line past the
    deadline. One slow NumPy call between two lines is not interrupted."""
    code = getattr(getattr(numpy_fn, "py_fn", numpy_fn), "__code__", None)
    start = time.thread_time()
    deadline = start + limit_s

    def line(frame, event, arg):
        if time.thread_time() > deadline:
            raise _Abandoned
        return line

    def call(frame, event, arg):
        return line if frame.f_code is code else None

    sys.settrace(call)
    try:
        numpy_fn(*args)
    except _Abandoned:
        return None
    finally:
        sys.settrace(None)
    return time.thread_time() - start


def choose(machine: Callable, numpy_fn: Callable, args: tuple) -> tuple[Any, str, dict]:
    """Run `machine(*args)` and return (its result, "cpu" or "numpy", the timings seen)."""
    start = time.thread_time()
    out = machine(*args)
    t_machine = time.thread_time() - start
    seen = {"cpu": t_machine}
    if not enabled() or not MIN_S <= t_machine <= MAX_S or sys.gettrace() is not None:
        return out, "cpu", seen
    try:
        seen["cpu"] = t_machine = min(t_machine, _timed(machine, args))
        t_numpy = timed_within(numpy_fn, args, DEADLINE * t_machine)
        if t_numpy is None:
            return out, "cpu", seen
        seen["numpy"] = t_numpy = min(t_numpy, _timed(numpy_fn, args), _timed(numpy_fn, args))
        seen["cpu"] = t_machine = min(t_machine, _timed(machine, args))
    except Exception:   # noqa: BLE001  (a trial failing: machine code, which just ran, serves)
        return out, "cpu", seen
    return out, ("numpy" if t_numpy < MARGIN * t_machine else "cpu"), seen
