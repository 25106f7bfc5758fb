"""Types of IR values: a dtype and a rank. Shapes are runtime facts; ranks are static.

Scalars are rank 0. Arrays hold float64 (`f64`) or, from comparisons, `bool`. Integer values
(loop indices, shapes) are scalars only.
"""
from __future__ import annotations

from dataclasses import dataclass

DTYPES = ("bool", "i64", "f64")  # ordered by promotion


@dataclass(frozen=True, slots=True)
class Type:
    dtype: str
    rank: int = 0

    @property
    def is_array(self) -> bool:
        return self.rank > 0

    @property
    def is_float(self) -> bool:
        return self.dtype == "f64"

    def with_rank(self, rank: int) -> "Type":
        return Type(self.dtype, rank)

    def with_dtype(self, dtype: str) -> "Type":
        return Type(dtype, self.rank)

    def __str__(self) -> str:
        return self.dtype if self.rank == 0 else f"{self.dtype}[{','.join('?' * self.rank)}]"


F64 = Type("f64")
I64 = Type("i64")
BOOL = Type("bool")


def promote_dtype(*dtypes: str) -> str:
    return max(dtypes, key=DTYPES.index)


def join(a: Type, b: Type) -> Type | None:
    """The type both a and b widen to at a join point, or None (scalar meets array, ranks differ)."""
    if a.rank != b.rank:
        return None
    return Type(promote_dtype(a.dtype, b.dtype), a.rank)
