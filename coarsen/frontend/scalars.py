"""NumPy's scalars and Python's (a mixin of the `Lowerer` in `statements`).

`x[0]`, np.sum(x), np.argmax(x) and np.* ufunc results are NumPy scalars: their int64 wraps and
divides by zero to 0, their bools add as a logical or and negate with `~`, and they are returned
as np.float64 / np.int64 / np.bool_. Python's numbers (`n > 2`, `len(x)`, int(a[0])) do none of
that. The trace marks each scalar value (`TraceContext.numpy_scalars`; `mixed_scalars` for a
value that is NumPy's on some paths into a join or loop carry only, with the dtypes it has
there) and computes it with its own semantics, refusing at the user's line where a mixed value
or NumPy's narrow dtypes (np.sin(np.True_) is float16) would make the two differ.
"""
from __future__ import annotations

import numpy as np

from coarsen.ir.nodes import Op, Value
from coarsen.ir.types import BOOL
from coarsen.ir.typing import TypeRuleError, infer, numpy_array_dtype


class ScalarKinds:
    def mark_scalar(self, result: Value, args=()) -> None:
        """Mark a scalar result as NumPy's: an element or reduction of an array (no args given), or
        an elementwise op's result where an operand is NumPy's (np.int64(1) + 1 is np.int64), or
        mixed where an operand is NumPy's on some paths only."""
        if not args or any(a.id in self.ctx.numpy_scalars for a in args):
            self.ctx.numpy_scalars.add(result.id)
        elif any(self.numpy_dtypes(a) for a in args):
            self.ctx.mixed_scalars[result.id] = frozenset({result.type.dtype})

    def python_scalar(self, v: Value) -> Value:
        """v as a Python number (int(a[0]), math.sqrt(x[0]), np.allclose(...)): itself where it is
        one, else a copy, so that v keeps its kind where it is read otherwise."""
        if not self.numpy_dtypes(v):
            return v
        return self.b.emit(Op.CAST, (v,), {"dtype": v.type.dtype, "explicit": True})

    def numpy_dtypes(self, v: Value) -> frozenset:
        """The dtypes v has on the paths where it is a NumPy scalar (none: a Python number)."""
        if v.id in self.ctx.numpy_scalars:
            return frozenset({v.type.dtype})
        return self.ctx.mixed_scalars.get(v.id, frozenset())

    def scalar_mark(self, v: Value) -> tuple[bool, frozenset]:
        """(NumPy's on every path, the dtypes it has where it is NumPy's)."""
        return v.id in self.ctx.numpy_scalars, self.numpy_dtypes(v)

    @staticmethod
    def joined_mark(marks, dtype: str) -> tuple[bool, frozenset]:
        """The mark of a join's or loop carry's result of `dtype` from its sources' (mark, dtype):
        NumPy's where every source is a NumPy scalar of that dtype; mixed where some are NumPy's
        (np.True_ on one path, True or 2 on another: `+` is a logical or on one, a count on the
        other)."""
        marks = list(marks)
        if all(m[0] and d == dtype for m, d in marks):
            return True, frozenset({dtype})
        return False, frozenset().union(*(m[1] for m, _ in marks))

    def set_mark(self, v: Value, mark: tuple[bool, frozenset]) -> None:
        if mark[0]:
            self.ctx.numpy_scalars.add(v.id)
        elif mark[1]:
            self.ctx.mixed_scalars[v.id] = mark[1]

    def mark_joined(self, result: Value, sources) -> None:
        """Mark `result`, one of `sources` (a join, Python's max()), from their marks alone."""
        self.ctx.numpy_scalars.discard(result.id)
        self.ctx.mixed_scalars.pop(result.id, None)
        self.set_mark(result, self.joined_mark(((self.scalar_mark(v), v.type.dtype) for v in sources),
                                               result.type.dtype))

    def numpy_bool_sum(self, a: Value, b: Value) -> bool:
        """`a + b`/`a - b` that NumPy computes as booleans on some path: both operands booleans
        there and one of them NumPy's (`refuse_numpy_bool`)."""
        bools = [v.type == BOOL or "bool" in self.numpy_dtypes(v) for v in (a, b)]
        return all(bools) and any("bool" in self.numpy_dtypes(v) for v in (a, b))

    def numpy_bool_scalars(self, op: Op, args: tuple, node, ufunc: bool) -> Value | None:
        """An op of boolean scalars as NumPy computes it where NumPy does (a NumPy bool among the
        operands, or NumPy's ufunc called): `np.True_ * np.True_` and abs(np.True_) are NumPy
        bools (a logical and; the bool itself), so a `+` after them is refused as a logical or
        (`refuse_numpy_bool`); what NumPy computes in a narrow dtype (np.sin(np.True_) float16,
        np.True_ // np.True_ int8) or refuses (`-np.True_`) is refused. None: emit it as it is."""
        kinds = [self.numpy_dtypes(a) for a in args]
        if not any(a.type.dtype == "bool" or "bool" in k for a, k in zip(args, kinds)) \
                or any(a.type.dtype == "f64" for a in args) or not (ufunc or any(kinds)):
            return None
        if op in (Op.AND, Op.OR, Op.NOT, Op.CAST, Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE, Op.WHERE, Op.CLIP):
            return None   # the same in NumPy and Python (comparisons and logic of bools)
        mixed = any(k and a.id not in self.ctx.numpy_scalars for a, k in zip(args, kinds))
        # NumPy scalars are strong (rank 1 here), Python's weak (rank 0), as NumPy's ufuncs take them
        found = numpy_array_dtype(op, tuple(("bool" if "bool" in k else a.type.dtype,
                                             1 if a.id in self.ctx.numpy_scalars else 0) for a, k in zip(args, kinds)))
        if found is None and op in (Op.NEG, Op.SUB):
            self.refuse_numpy_bool(op, node)
        if found is None:
            return None   # no ufunc stands for it: as it is
        try:
            coarsen_type = infer(op, [a.type for a in args], {})
        except TypeRuleError:
            coarsen_type = None
        same = coarsen_type is not None and np.dtype({"bool": np.bool_, "i64": np.int64, "f64": np.float64}[
            coarsen_type.dtype]) == found
        if same:   # (on a path where it is Python's, Python's type is the same)
            return None
        if found == np.bool_ and not mixed and op in (Op.MUL, Op.ABS, Op.MAXIMUM, Op.MINIMUM):
            if op is Op.ABS:
                return args[0]
            out = self.b.emit(Op.AND if op in (Op.MUL, Op.MINIMUM) else Op.OR, args, None, self.src.loc(node))
            self.ctx.numpy_scalars.add(out.id)
            return out
        if op in (Op.ADD, Op.SUB) and found == np.bool_:
            self.refuse_numpy_bool(op, node)
        what = "a NumPy bool on some paths only" if mixed else f"NumPy's {found}"
        self.unsupported(f"`{op.value}` of booleans that NumPy computes ({what}) otherwise than Python", node,
                         "convert first: int(b) or float(b)")

    def refuse_numpy_bool(self, op: Op, node) -> None:
        """`+`/`-` of NumPy booleans (`(x[0] < 0) + (x[1] <= 0)`, np.add of bools) is their
        logical or / a TypeError in NumPy, a count in Python: refused, as for boolean arrays."""
        word = "their logical or" if op is Op.ADD else "a TypeError"
        self.unsupported(f"`{op.value}` of NumPy booleans: NumPy gives {word}, not a count", node,
                         "convert first: int(b) (a count) or use | and ~ (logic)")
