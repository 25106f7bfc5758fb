"""The pass pipeline between the frontend and differentiation, in order, with why.

Each pass is `name(fn, ctx) -> fn` (see its module docstring for pre/postconditions).
`run_pipeline` verifies the IR after every pass when asked (the tests always ask) and times
each pass for `coarsen.explain`.
"""
from __future__ import annotations

import time
from typing import Callable

from coarsen.ir.nodes import Function
from coarsen.ir.verifier import verify
from coarsen.passes.closed_forms import closed_forms
from coarsen.passes.cse import cse
from coarsen.passes.licm import licm
from coarsen.passes.simplify import simplify

PIPELINE: list[tuple[str, Callable]] = [
    # fold the flag joins the frontend leaves behind, drop dead code: smaller input for the rest
    ("simplify", simplify),
    # value numbering: repeated reads (p[0] in every step of an inlined helper) computed once
    ("cse", cse),
    # loop-invariant code motion, after distributing and re-associating matrix products so
    # that products of invariants appear (X.T @ (X @ w - y) -> (X.T @ X) @ w - X.T @ y)
    ("licm", licm),
    # phi-calculus: loops with closed forms disappear before segments are formed, so their
    # closed form joins the surrounding segment and the derivative has no loop
    ("closed_forms", closed_forms),
    # the closed forms leave their loops' inputs (trip counts, bounds) partly dead
    ("simplify", simplify),
]

VERIFY_EVERY_PASS = False   # tests/conftest.py sets it for every test that uses coarsen


def run_pipeline(fn: Function, ctx: dict | None = None) -> Function:
    ctx = {} if ctx is None else ctx
    timings = ctx.setdefault("timings", [])
    for name, fn_pass in PIPELINE:
        start = time.perf_counter()
        fn = fn_pass(fn, ctx)
        timings.append((name, time.perf_counter() - start))
        if VERIFY_EVERY_PASS:
            verify(fn, name)
    return fn
