"""Shapes known when tracing, for shape-specialised traces (see `coarsen.ir.builder`).

Input: an instruction just emitted and the builder's `shapes` (value id -> shape), `constants`
(scalar values) and `arrays` (non-float array contents known when tracing). Output: the shape
of the instruction's result, or None when it may depend on anything not known when tracing.

Invariant (what makes a shape-specialised program right for every call with the same argument
shapes): a shape is returned only when it is a function of the operands' known shapes and of
operands whose *values* decide shapes and are known. Float contents never decide a shape;
scalar operands do for every op but the elementwise ones (a slice bound, a size, an axis'
index); integer array contents do for `kept_indices` (np.delete's kept positions) only. The
shape is found by evaluating the op (`ir.interpreter.EVAL`) on stand-ins of the known shapes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from coarsen.ir.nodes import Instr, Op

_BROADCAST = {Op.CAST, Op.EXPR}   # besides the registry's elementwise ops
_NO_SHAPE = {Op.CHECK, Op.SHAPE, Op.CONST, Op.IF, Op.FOR, Op.WHILE}


def _elementwise() -> frozenset:
    global _ELEMENTWISE
    if _ELEMENTWISE is None:
        from coarsen.ops import elementwise
        _ELEMENTWISE = frozenset(Op[s.member] for s in elementwise()) | _BROADCAST
    return _ELEMENTWISE


_ELEMENTWISE: frozenset | None = None


def _stand_in(b, v) -> Any:
    """An array of v's known shape (and known contents for non-float arrays), or None."""
    if v.id in b.arrays:
        return b.arrays[v.id]
    shape = b.shapes.get(v.id)
    if shape is None:
        return None
    dtype = {"f64": np.float64, "i64": np.int64, "bool": bool}[v.type.dtype]
    out = np.zeros(shape, dtype=dtype)
    if v.type.dtype == "f64" and len(shape) >= 2 and shape[-1] == shape[-2]:
        out += np.eye(shape[-1])   # inv, solve, cholesky, det of a stand-in succeed
    return out


def shape_of(b, instr: Instr) -> tuple[int, ...] | None:
    """The result shape of `instr` if it is known when tracing (see the module docstring)."""
    op, args = instr.op, instr.args
    if op in _NO_SHAPE or len(instr.results) != 1:
        return None
    arrays = [a for a in args if a.type.rank]
    if any(a.id not in b.shapes for a in arrays):
        return None
    if op in _elementwise():
        try:
            return tuple(np.broadcast_shapes(*(b.shapes[a.id] for a in arrays)))
        except ValueError:
            return None
    if op is Op.SETITEM:
        return b.shapes[args[0].id]
    values = []
    for k, a in enumerate(args):
        if a.type.rank:
            if op is Op.KEPT_INDICES and a.id not in b.arrays:
                return None
            values.append(_stand_in(b, a))
        elif a.id in b.constants:
            values.append(b.constants[a.id])
        elif op is Op.GETITEM and _index_kind(instr, k) == "i":
            values.append(0)   # an integer index drops its axis whatever its value
        else:
            return None
    from coarsen.ir.interpreter import EVAL
    try:
        with np.errstate(all="ignore"):
            out = EVAL[op](instr, *values)
    except Exception:   # a stand-in the op refuses: the shape stays unknown
        return None
    result = instr.results[0]
    if result.type.dtype != "f64" and all(a.id in b.arrays or a.id in b.constants for a in args):
        b.arrays[result.id] = np.asarray(out)
    return tuple(np.shape(out))


def _index_kind(instr: Instr, k: int) -> str | None:
    """The index pattern entry operand k of a GETITEM stands for: "i", "a" or a slice bound."""
    pos = 1
    for p in instr.attrs["index"]:
        if p in ("i", "a"):
            if pos == k:
                return p
            pos += 1
        elif p == "n":
            continue
        else:
            for bit in p[1:4]:
                if bit == "1":
                    if pos == k:
                        return "slice"
                    pos += 1
    return None


__all__ = ["shape_of"]
