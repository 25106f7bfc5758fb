"""The "cpu" target's rewrite of generated source to vectorisable math (`kernels.numba_vecmath`).

`cpu_source(source)` replaces each call `np.exp(` (and `np.log(`: `rt.vlog`) of the code (not of a string: raise messages
quote user code) in a top-level statement of the generated function with `rt.vexp(`. Only
there: a call of `rt.vexp` ends Numba's fusion of the statement's elementwise expression (its
argument and its consumer each get an array of their own), which costs little once per call
on large arrays but ~20% of an LSTM's gradient when a loop body does it on 14-element arrays
at every step. On the NumPy tier `rt.vexp` is `np.exp`; in machine code it
is an arithmetic exp that LLVM vectorises on float64 arrays. Pure Python: importing it does not
import Numba (the tiered first call must not wait for Numba).
"""
from __future__ import annotations

import io
import os
import tokenize

REWRITES = {("np", "exp"): "rt.vexp", ("np", "log"): "rt.vlog"}
# at every depth, also under COARSEN_VEXP=0: whole-array max/min whose machine code takes
# NumPy's own result where it is a zero or a NaN (`rt.max_all`: NumPy's signed zeros)
EVERYWHERE = {("np", "max"): "rt.max_all", ("np", "min"): "rt.min_all"}
TOP_LEVEL = 4   # the generated function's body; deeper lines are in loops and branches


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def cpu_source(source: str) -> str:
    """`source` with the calls of `REWRITES` (top-level statements; not with `COARSEN_VEXP=0`,
    as before #14: `python -m benchmarks.adbench.ab` compares both) and of `EVERYWHERE` (at any
    depth) renamed; the same text when there are none."""
    rewrites = dict(EVERYWHERE)
    if os.environ.get("COARSEN_VEXP", "1").strip() != "0":
        rewrites.update(REWRITES)
    if not any(f"{a}.{b}(" in source for a, b in rewrites):
        return source
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    lines = source.splitlines(True)
    edits = []   # (row, start col, end col, text), rows 1-based
    for i in range(len(tokens) - 3):
        a, dot, b, paren = tokens[i:i + 4]
        key = (a.string, b.string)
        if (a.type == tokenize.NAME and dot.string == "." and b.type == tokenize.NAME
                and paren.string == "(" and key in rewrites and a.start[0] == b.end[0]
                and (i == 0 or tokens[i - 1].string != ".")
                and (key in EVERYWHERE or _indent(lines[a.start[0] - 1]) == TOP_LEVEL)):
            edits.append((a.start[0], a.start[1], b.end[1], rewrites[key]))
    for row, start, end, text in reversed(edits):   # right to left: columns stay valid
        line = lines[row - 1]
        lines[row - 1] = line[:start] + text + line[end:]
    return "".join(lines)
