"""Hand edits of coarsen's generated derivatives, timed against the original: what each
inefficiency costs.

    python -m benchmarks.codegen_experiments [--sizes 10,40]

(An HMC grad_U experiment lived here: removing the forward line computed only for its shape,
and writing the sigmoid as `1 / (1 + exp(-z))`, took the generated program from 872 us to
134 us at 20000 records. coarsen now generates both itself; see BUGS.md, items 2 and 3.)

HookeanSpring: coarsen's "cpu" derivative of `hookean.spring_energy` saves 9 values per spring pair on a
typed-list tape (`tape.append((...))` forward, `tape.pop()` backward). Two hand edits of that
generated program, compiled the same way (Numba njit, error_model="numpy"):
- "array tape": the same reverse sweep, the tape a preallocated float array of 5 columns;
- "fused, no tape": the energy is a sum, so the adjoint of the accumulator is the loop-invariant
  cotangent; each pair's backward step can then run inside the forward loop, in forward order,
  with nothing saved (what the hand-written gradient does, and what phi-calculus's closed
  form of `e += term(i)` -- a sum of terms -- licenses).
"""
from __future__ import annotations

import argparse
import numba
import numpy as np

import coarsen
from benchmarks import hookean
from benchmarks.harness import Settings, measure


@numba.njit(error_model="numpy", cache=False)
def array_tape(x, rest, k, ct0):
    n = rest.shape[0]
    tape = np.empty((n * (n - 1) // 2, 5))
    m = 0
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            a, b, c, d = x[2 * i], x[2 * j], x[2 * i + 1], x[2 * j + 1]
            s = np.sqrt((a - b) * (a - b) + (c - d) * (c - d)) - rest[i, j]
            e += 0.5 * k * s * s
            tape[m, 0], tape[m, 1], tape[m, 2], tape[m, 3], tape[m, 4] = a, b, c, d, s
            m += 1
    dx = np.zeros(x.shape[0])
    for i in range(n - 1, -1, -1):
        for j in range(n - 1, i, -1):
            m -= 1
            a, b, c, d, s = tape[m, 0], tape[m, 1], tape[m, 2], tape[m, 3], tape[m, 4]
            t0 = 0.5 * ct0 * k * s / np.sqrt((a - b) * (a - b) + (c - d) * (c - d))
            t1, t2 = t0 * (2 * a - 2 * b), t0 * (2 * c - 2 * d)
            dx[2 * j + 1] -= t2
            dx[2 * i + 1] += t2
            dx[2 * j] -= t1
            dx[2 * i] += t1
    return (e,), (dx,)


@numba.njit(error_model="numpy", cache=False)
def fused(x, rest, k, ct0):
    n = rest.shape[0]
    e = 0.0
    dx = np.zeros(x.shape[0])
    for i in range(n):
        for j in range(i + 1, n):
            a, b, c, d = x[2 * i], x[2 * j], x[2 * i + 1], x[2 * j + 1]
            r = np.sqrt((a - b) * (a - b) + (c - d) * (c - d))
            s = r - rest[i, j]
            e += 0.5 * k * s * s
            t0 = 0.5 * ct0 * k * s / r
            t1, t2 = t0 * (2 * a - 2 * b), t0 * (2 * c - 2 * d)
            dx[2 * j + 1] -= t2
            dx[2 * i + 1] += t2
            dx[2 * j] -= t1
            dx[2 * i] += t1
    return (e,), (dx,)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.codegen_experiments")
    p.add_argument("--sizes", default="10,40")
    args = p.parse_args(argv)
    g = coarsen.grad(hookean.spring_energy, target="cpu")
    for n in (int(s) for s in args.sizes.split(",")):
        case = hookean.make_case(n, np.random.default_rng(0))
        ref = g(*case.args)
        generated = g.program(case.args).fn
        variants = [("coarsen's generated program (list tape)", lambda: generated(*case.args, 1.0)),
                    ("same, array tape", lambda: array_tape(*case.args, 1.0)),
                    ("same, fused into the forward loop, no tape", lambda: fused(*case.args, 1.0)),
                    ("hand-written gradient", lambda: hookean.hand_grad(*case.args))]
        for name, call in variants:
            out = call()
            grad = out[1][0] if isinstance(out, tuple) else out
            assert np.allclose(grad, ref, rtol=1e-12, atol=1e-12), name
        timings = measure(dict(variants), Settings())
        print(f"HookeanSpring n={n} ({n * (n - 1) // 2} pairs), medians:")
        for name, t in timings.items():
            print(f"  {name:<44} {1e6 * t.median_s:9.2f} us" + ("" if t.clean else "  (disturbed)"))


if __name__ == "__main__":
    main()
