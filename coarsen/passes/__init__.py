"""The pass pipeline between the frontend and differentiation, in order, with why.

Each pass is `name(fn, ctx) -> fn` (see its module docstring for pre/postconditions).
`run_pipeline` verifies the IR after every pass when asked (the tests always ask) and times
each pass for `coarsen.explain`.
"""
from __future__ import annotations

import os
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
    # closed form joins the surrounding segment and the derivative has no loop. Opt-in
    # (COARSEN_CLOSED_FORMS=1): a closed form is real algebra, the loop IEEE arithmetic, and
    # the two round differently (`t += 0.1` ten times is 0.9999999999999999, the closed form
    # 1.0: a later `if t >= 1.0` takes the other branch, value and derivative)
    ("closed_forms", closed_forms),
    # the closed forms leave their loops' inputs (trip counts, bounds) partly dead
    ("simplify", simplify),
]

VERIFY_EVERY_PASS = False   # tests/conftest.py sets it for every test that uses coarsen


def closed_forms_enabled() -> bool:
    """Whether counted loops are replaced by their closed forms (`COARSEN_CLOSED_FORMS=1`):
    faster derivatives, different rounding from the loop the program wrote."""
    return os.environ.get("COARSEN_CLOSED_FORMS", "0") == "1"


def options() -> str:
    """The pipeline options a compiled program depends on (part of the disk cache's key)."""
    return f"closed_forms={int(closed_forms_enabled())}"


def run_pipeline(fn: Function, ctx: dict | None = None) -> Function:
    ctx = {} if ctx is None else ctx
    timings = ctx.setdefault("timings", [])
    enabled = closed_forms_enabled()
    for name, fn_pass in PIPELINE:
        if name == "closed_forms" and not enabled:
            continue
        start = time.perf_counter()
        fn = fn_pass(fn, ctx)
        timings.append((name, time.perf_counter() - start))
        if VERIFY_EVERY_PASS:
            verify(fn, name)
    return fn
