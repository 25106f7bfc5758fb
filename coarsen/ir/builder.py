"""Builds IR: fresh values, typed instructions, nested regions.

The builder infers each result type with `coarsen.ir.typing.infer` and folds constant scalar
arithmetic, so `range(2 * n)` and `x.shape[0] - 1` stay small.

Shape-specialised tracing (`shaped`, set by `coarsen.frontend.trace`): the builder also knows
the shapes of the values whose shapes are fixed by the arguments' shapes and by constants
(`shapes`: parameters, array constants, and results of ops whose shape-determining operands are
known: `shape_of`), and folds `x.shape[d]` of such a value to a constant, so that recursion on
`a.shape[0]` and comprehensions over `range(len(x))` are decided when tracing. A shape that
may depend on data (a slice bound, an index vector of np.delete or a loop carry unknown when
tracing) stays unknown, so its `x.shape[d]` stays a run-time value: the program is then right
for every call with these argument shapes and types, which is what it is specialised to.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from coarsen.errors import UNKNOWN_LOC, Loc
from coarsen.ir.nodes import Instr, Op, Region, Value
from coarsen.ir.types import BOOL, F64, I64, Type
from coarsen.ir.typing import infer

def _folding_tables():
    from coarsen.ops import elementwise

    fold = {Op[s.member]: s.fold for s in elementwise() if s.fold is not None}
    # float-valued whatever the argument types, as the IR types them
    floats = {Op[s.member] for s in elementwise() if s.result == "float"}
    return fold, floats


# from the op registry: each op's constant folding on Python scalars
_FOLDABLE, _FLOAT_VALUED = _folding_tables()


def scalar_type_of(value: Any) -> Type:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return I64
    return F64


class Builder:
    def __init__(self) -> None:
        self._next_id = 0
        self._blocks: list[list[Instr]] = [[]]
        self.constants: dict[int, Any] = {}   # value id -> Python value, for folding
        self.shaped = False   # shape-specialised tracing (see the module docstring)
        self.shapes: dict[int, tuple[int, ...]] = {}   # value id -> shape known when tracing
        self.arrays: dict[int, Any] = {}   # value id -> non-float array whose contents are known
        self.shape_queried = False   # a SHAPE op was emitted (shapes could have decided more)

    # -- values
    @property
    def next_id(self) -> int:
        """The id the next new value will get (values made from now on have ids >= it)."""
        return self._next_id

    def new_value(self, type: Type, hint: str = "") -> Value:
        value = Value(self._next_id, type, hint)
        self._next_id += 1
        return value

    def const(self, value: Any, loc: Loc = UNKNOWN_LOC, type: Type | None = None) -> Value:
        if type is None:
            type = scalar_type_of(value)
            value = {"bool": bool, "i64": int, "f64": float}[type.dtype](value)
        result = self.new_value(type)
        self._blocks[-1].append(Instr(Op.CONST, (), (result,), {"value": value}, loc=loc))
        if type.rank == 0:
            self.constants[result.id] = value
        else:
            self.shapes[result.id] = tuple(np.shape(value))
            if type.dtype != "f64":
                self.arrays[result.id] = np.asarray(value)
        return result

    def constant_of(self, value: Value) -> Any | None:
        return self.constants.get(value.id)

    # -- instructions
    def mark(self) -> tuple[list, int]:
        """Where the next instruction goes; `since(mark)` lists those emitted after it."""
        return self._blocks[-1], len(self._blocks[-1])

    def since(self, mark: tuple[list, int]) -> list[Instr]:
        block, start = mark
        if block is not self._blocks[-1]:
            raise ValueError("since(): a block was opened or closed after the mark")
        return block[start:]

    def emit(self, op: Op, args: tuple[Value, ...] | list[Value], attrs: dict | None = None,
             loc: Loc = UNKNOWN_LOC, hint: str = "") -> Value:
        args = tuple(args)
        attrs = attrs or {}
        folded = self._fold(op, args)
        if op is Op.CAST and args[0].id in self.constants and not args[0].type.rank and not attrs.get("numpy"):
            folded = {"f64": float, "i64": int, "bool": bool}[attrs["dtype"]](self.constants[args[0].id])
        if op is Op.WHERE and args[0].id in self.constants and not any(a.type.rank for a in args):
            chosen = args[1] if self.constants[args[0].id] else args[2]   # np.delete's index
            if chosen.type == infer(op, [a.type for a in args], attrs):   # normalisation
                return chosen
        if op is Op.CONCAT and self.shaped and len(args) > 1:
            axis = attrs.get("axis", 0)
            kept = tuple(a for a in args if a.id not in self.shapes or self.shapes[a.id][axis] != 0)
            if len(kept) < len(args) and kept:   # empty parts (np.delete's a[:0]): dropped
                if len(kept) == 1:
                    return self.emit(Op.COPY, kept, {}, loc, hint)   # still a fresh array
                args = kept
        if op is Op.SHAPE:
            self.shape_queried = True
            if self.shaped and args[0].id in self.shapes:
                folded = self.shapes[args[0].id][attrs["dim"]]
        if folded is not None:
            return self.const(folded, loc)
        result = self.new_value(infer(op, [a.type for a in args], attrs), hint)
        instr = Instr(op, args, (result,), attrs, loc=loc)
        self._blocks[-1].append(instr)
        if self.shaped and result.type.rank:
            from coarsen.ir.shapes import shape_of
            known = shape_of(self, instr)
            if known is not None:
                self.shapes[result.id] = known
        return result

    def emit_control(self, op: Op, args: tuple[Value, ...], result_types: list[Type],
                     regions: tuple[Region, ...], loc: Loc = UNKNOWN_LOC,
                     hints: list[str] | None = None, attrs: dict | None = None) -> tuple[Value, ...]:
        hints = hints or [""] * len(result_types)
        results = tuple(self.new_value(t, h) for t, h in zip(result_types, hints))
        self._blocks[-1].append(Instr(op, tuple(args), results, attrs or {}, regions, loc))
        return results

    def _fold(self, op: Op, args: tuple[Value, ...]) -> Any | None:
        fn = _FOLDABLE.get(op)
        if fn is None or not all(a.id in self.constants for a in args):
            return None
        values = [self.constants[a.id] for a in args]
        if op in (Op.FLOORDIV, Op.MOD) and values[1] == 0:
            return None
        try:
            result = fn(*values)
        except (ArithmeticError, ValueError):   # 1/0, log(-1): left to run (NumPy's inf/nan)
            return None
        if op in _FLOAT_VALUED:
            result = float(result)
        if isinstance(result, float) and not math.isfinite(result):
            return None
        return result

    # -- regions
    @contextmanager
    def region(self) -> Iterator[list[Instr]]:
        """Collect the instructions emitted inside the `with` block into a new list."""
        block: list[Instr] = []
        self._blocks.append(block)
        try:
            yield block
        finally:
            self._blocks.pop()

    @contextmanager
    def reopen(self, block: list[Instr]) -> Iterator[list[Instr]]:
        """Append to an already built block (casts before a yield, dummies for a join)."""
        self._blocks.append(block)
        try:
            yield block
        finally:
            self._blocks.pop()

    @property
    def current(self) -> list[Instr]:
        return self._blocks[-1]
