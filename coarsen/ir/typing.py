"""Result-type rules, one per op group. Raise `TypeRuleError` with a user-level message.

Rules follow NumPy/Python: arithmetic broadcasts to the larger rank and promotes
bool < i64 < f64; true division and math functions give f64; comparisons give bool.
"""
from __future__ import annotations

from typing import Any

from coarsen.ir.nodes import COMPARISONS, CREATION, ELEMENTWISE, REDUCTIONS, Op
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
    elif dtype == "bool" and op not in _KEEPS_BOOL:
        dtype = "i64"   # True + True == 2
    if rank and dtype != "f64" and op is not Op.WHERE:
        dtype = "f64"   # arrays are float64 (bool only from comparisons)
    return Type(dtype, rank)


def _reduction(op: Op, types: list[Type], attrs: dict[str, Any]) -> Type:
    (x,) = types
    if x.rank == 0:
        raise TypeRuleError(f"{op.value} of a scalar")
    axis = attrs.get("axis")
    if axis is not None and not -x.rank <= axis < x.rank:
        raise TypeRuleError(f"axis {axis} is out of bounds for an array of rank {x.rank}")
    if attrs.get("keepdims"):
        rank = x.rank
    else:
        rank = 0 if axis is None else x.rank - 1
    dtype = "f64" if op is Op.MEAN or x.dtype != "bool" else "i64"
    return Type(dtype if rank == 0 else "f64", rank)


def _matmul(types: list[Type]) -> Type:
    a, b = types
    if a.rank == 0 or b.rank == 0:
        raise TypeRuleError("matmul of a scalar; use * for scalar products")
    if a.rank == 1 and b.rank == 1:
        return F64
    if a.rank <= 2 and b.rank <= 2:
        return Type("f64", a.rank + b.rank - 2)
    raise TypeRuleError("matmul of arrays of rank > 2 is not supported")


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
    if op in REDUCTIONS:
        return _reduction(op, types, attrs)
    if op is Op.MATMUL:
        return _matmul(types)
    if op in (Op.TRANSPOSE, Op.COPY):
        if types[0].rank == 0:
            raise TypeRuleError(f"{op.value} of a scalar")
        return types[0]
    if op is Op.RESHAPE:
        return Type("f64", len(types) - 1)
    if op is Op.SHAPE:
        return I64
    if op in CREATION:
        return Type("f64", len(types))
    if op is Op.STACK:
        if any(t.rank for t in types):
            raise TypeRuleError("np.array([...]) takes scalars only")
        return Type("f64", 1)
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
