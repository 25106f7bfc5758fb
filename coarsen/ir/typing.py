"""Result-type rules, one per op group. Raise `TypeRuleError` with a user-level message.

Rules follow NumPy/Python: arithmetic broadcasts to the larger rank and promotes
bool < i64 < f64; true division and math functions give f64; comparisons give bool.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from coarsen.ir.nodes import COMPARISONS, ELEMENTWISE, Op
from coarsen.ir.types import BOOL, F64, I64, Type, promote_dtype
from coarsen.ops import spec_of


class TypeRuleError(Exception):
    pass


def _results(kind: str) -> frozenset:
    from coarsen.ops import elementwise

    return frozenset(Op[s.member] for s in elementwise() if s.result == kind)


# from the op registry: ops whose result is always float64, or bool
_FLOAT_MATH = _results("float")
_LOGIC = _results("bool") - COMPARISONS
_KEEPS_BOOL = _results("same")


def _elementwise(op: Op, types: list[Type], attrs: dict[str, Any]) -> Type:
    rank = max(t.rank for t in types)
    if op is Op.CAST:
        return Type(attrs["dtype"], rank)
    if op in COMPARISONS or op in _LOGIC:
        return Type("bool", rank)
    operands = types[1:] if op is Op.WHERE else types
    dtype = promote_dtype(*(t.dtype for t in operands))
    if op in _FLOAT_MATH:
        dtype = "f64"
    elif rank and dtype != "f64" and op is not Op.WHERE:
        # bool and int64 arrays, beside Python ints and bools: NumPy's own dtype (`mask + 1` is
        # int64, `mask * True` bool); a narrow one (`mask // mask` is int8) maps to its kind
        # here and is refused by `coarsen.frontend.narrow`
        found = numpy_array_dtype(op, tuple((t.dtype, t.rank) for t in types))
        if op is Op.CLIP and all(t.dtype == "bool" for t in types):
            found = np.dtype(bool)   # np.clip(mask, False, True): a mask (clip stands for no ufunc)
        if found is not None:
            dtype = {"b": "bool", "i": "i64", "u": "i64"}.get(found.kind, "f64")
        elif dtype == "bool" and op not in _KEEPS_BOOL:
            dtype = "i64"
    elif dtype == "bool" and op not in _KEEPS_BOOL:
        dtype = "i64"   # True + True == 2
    return Type(dtype, rank)


_SAMPLES = {"bool": (np.array([True, False]), True), "i64": (np.array([3, -2], np.int64), 3),
            "f64": (np.array([1.5, -0.5]), 1.5)}


@functools.lru_cache(maxsize=None)
def numpy_array_dtype(op: Op, operands: tuple[tuple[str, int], ...]) -> np.dtype | None:
    """The dtype NumPy gives the op's ufunc applied to arrays (rank > 0) and Python scalars
    (rank 0: weak, as NumPy treats `x + 1`) of these dtypes; None where NumPy has no loop for
    them (`-mask` is a TypeError) or the op stands for no ufunc."""
    return ufunc_dtype(_ufunc(op), operands)


def ufunc_dtype(ufunc, operands: tuple[tuple[str, int], ...]) -> np.dtype | None:
    """`numpy_array_dtype` of a NumPy ufunc (None for anything else)."""
    if not isinstance(ufunc, np.ufunc) or ufunc.nin != len(operands) \
            or any(d not in _SAMPLES for d, _ in operands):
        return None
    args = [_SAMPLES[d][0 if rank else 1] for d, rank in operands]
    try:
        with np.errstate(all="ignore"):
            return np.asarray(ufunc(*args)).dtype
    except (TypeError, ValueError):
        return None


def _ufunc(op: Op):
    from coarsen.ops.spec import resolve

    spec = spec_of(op)
    for dotted in getattr(spec, "callables", ()):
        f = resolve(dotted)   # (None where its module is not installed)
        if isinstance(f, np.ufunc):
            return f
    return None


def index_rank(pattern: tuple[str, ...], rank: int) -> int:
    """Rank of x[index] for an index pattern: 'i' drops an axis, 's..' keeps, 'n' adds."""
    consumed = sum(1 for p in pattern if p != "n")
    if consumed > rank:
        raise TypeRuleError(f"too many indices ({consumed}) for an array of rank {rank}")
    return rank - pattern.count("i") + pattern.count("n")


def infer(op: Op, types: list[Type], attrs: dict[str, Any]) -> Type:
    """The result type of a single-result op applied to arguments of these types."""
    if op in ELEMENTWISE:
        return _elementwise(op, types, attrs)
    spec = spec_of(op)
    if spec is not None and spec.kind == "structural":
        return spec.type_rule(types, attrs)
    if op is Op.SHAPE:
        return I64
    if op is Op.CHECK:
        if types[0] != BOOL:
            raise TypeRuleError(f"a check takes a bool scalar, not {types[0]}")
        return BOOL
    if op is Op.GETITEM:
        rank = index_rank(attrs["index"], types[0].rank)
        return Type(types[0].dtype if rank else ("f64" if types[0].dtype == "f64" else types[0].dtype), rank)
    if op is Op.SETITEM:
        return types[0]
    if op is Op.EXPR:
        return Type("f64", max((t.rank for t in types), default=0))
    if op is Op.CONST:
        raise TypeRuleError("constants carry their own type")
    raise TypeRuleError(f"no type rule for {op.value}")


__all__ = ["infer", "index_rank", "TypeRuleError", "F64", "I64", "BOOL"]
