"""Narrow integers and boolean arrays: computed as NumPy would, or refused (#11).

Compiled code holds every integer as int64. That is NumPy's own arithmetic for int64 data, but
not for an int8/int16/int32 or unsigned array (or a NumPy scalar of such a type): NumPy keeps
`x + 1` in int8 and wraps at 127, `x[0] * x[1]` in int32 wraps at 2**31, uint64 minus int64
is float64, and `b + c` of two boolean arrays is their logical or, not a count.

Input: the traced function, the NumPy dtype of every parameter and constant that came from
such data (`origins`: value id -> dtype). The check walks the IR in program order (IF yields
and loop carries to a fixed point), giving every integer value the dtype NumPy would give it:
views, indexing, copies, max/min, where, stack and concat keep it; sum/prod/cumsum/cumprod
widen a signed one to int64 (exact, as ours); an operand NumPy promotes to int64 (an int64
array, an element or reduction of one) makes the result int64. An integer result whose NumPy
dtype is not int64 (it could wrap where ours does not, or NumPy's differs in kind) is refused
at the user's line, with the conversion that makes it exact as a hint; so is the sum or
difference of two boolean arrays. A value NumPy computes exactly as we do passes: comparisons,
conversion to float (`x * 0.5`, `x / 2`), indexing with narrow index arrays.

Output: the NumPy dtype of each result array that holds narrow integers (or UnsupportedError):
compiled code computes it in int64 with NumPy's values, and `coarsen.api` returns it in NumPy's
dtype (`x[::2]` of uint8 data is uint8, `np.cumsum` of it uint64). Integer scalars are Python
ints, as int64 ones are.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from coarsen.errors import UnsupportedError
from coarsen.frontend import is_narrow
from coarsen.ir.nodes import Function, Instr, Op, Region

INT64 = np.dtype(np.int64)
BOOL = np.dtype(bool)

# ops whose integer result holds elements of their first argument (the rest index it)
_INDEXING = {Op.GETITEM, Op.TAKE, Op.TRANSPOSE, Op.RESHAPE, Op.COPY, Op.PERMUTE, Op.MAX, Op.MIN}
# ops whose integer result is one of their arguments' elements (NumPy: the promoted dtype)
_SELECTING = {Op.MAXIMUM, Op.MINIMUM, Op.WHERE, Op.CLIP, Op.STACK, Op.CONCAT, Op.SIGN}
# NumPy widens a signed or boolean input to int64, an unsigned one to uint64
_WIDENING = {Op.SUM, Op.PROD, Op.CUMSUM, Op.CUMPROD}
# integer results that are Python ints in plain Python (sizes), never an array's elements
_SIZES = {Op.SHAPE, Op.CONST, Op.ZEROS, Op.ONES, Op.EMPTY, Op.IOTA, Op.CAST,
          Op.ARGSORT, Op.SEARCHSORTED}   # (positions: int64 in NumPy whatever the data's dtype)


_UFUNCS: dict | None = None


def _float_ufuncs() -> dict:
    """Op -> NumPy ufunc of the registry's float-valued elementwise ops (np.sin, np.exp, ...):
    NumPy computes them on narrow data in a narrow float (float16 for uint8/int8/bool, float32
    for 16-bit ints), not float64."""
    global _UFUNCS
    if _UFUNCS is None:
        from coarsen import ops
        from coarsen.ops.spec import resolve

        _UFUNCS = {}
        for spec in ops.elementwise():
            if spec.result != "float" or spec.name == "pow":
                continue
            for dotted in spec.callables:
                f = resolve(dotted)
                if isinstance(f, np.ufunc) and f.nout == 1:
                    _UFUNCS[Op[spec.member]] = f
                    break
        _UFUNCS.setdefault(Op.LOG, np.log)   # (np.log is a composite: its op stands for it)
    return _UFUNCS


class _Check:
    def __init__(self, origins: dict[int, np.dtype]) -> None:
        self.dtype: dict[int, np.dtype] = dict(origins)   # value id -> NumPy dtype (narrow only)
        self.float_of: dict[int, np.dtype] = {}   # implicit float64 casts of narrow data -> its dtype
        self.strong: set[int] = set()   # int64 scalars NumPy holds as np.int64 (promote narrow data)
        self.consts: dict[int, Any] = {}

    def numpy_dtype(self, v) -> np.dtype | None:
        """The dtype NumPy would give `v`; None for a Python int (weak: takes the other side's)."""
        if v.id in self.dtype:
            return self.dtype[v.id]
        if v.type.dtype == "f64":
            return np.dtype(np.float64)
        if v.type.dtype == "bool":
            return BOOL if v.type.rank else None
        if v.type.rank or v.id in self.strong:
            return INT64
        return None

    def region(self, region: Region) -> None:
        for instr in region.instrs:
            self.instr(instr)

    def instr(self, instr: Instr) -> None:
        op = instr.op
        if op is Op.CONST:
            self.consts[instr.results[0].id] = instr.attrs.get("value")
        if op is Op.IF:
            for r in instr.regions:
                self.region(r)
            for k, res in enumerate(instr.results):
                self.join(res, [r.yields[k] for r in instr.regions])
            return
        if op in (Op.FOR, Op.WHILE):
            self.loop(instr)
            return
        if instr.regions:   # (no other op has regions today)
            for r in instr.regions:
                self.region(r)
        for r in instr.results:
            self.result(instr, r)

    def boolish(self, instr: Instr) -> bool:
        """All operands are booleans, one of them NumPy's (an array, or an element of one)."""
        return (bool(instr.args) and all(self.numpy_dtype(a) == BOOL or a.type.dtype == "bool" for a in instr.args)
                and any(self.numpy_dtype(a) == BOOL for a in instr.args))

    def result(self, instr: Instr, r) -> None:
        op = instr.op
        if op in (Op.ADD, Op.SUB, Op.NEG, Op.SIGN) and self.boolish(instr):
            word = {Op.ADD: "their logical or", Op.SUB: "a TypeError", Op.NEG: "a TypeError",
                    Op.SIGN: "a TypeError (np.sign has no bool loop)"}[op]
            self.refuse(instr, f"`{op.value}` of NumPy booleans: NumPy gives {word}, not a count",
                        "convert first: b.astype(int) (a count) or use | and ~ (logic)")
        if op is Op.MUL and self.boolish(instr):   # NumPy: their logical and (the same 0 or 1), a bool
            self.dtype[r.id] = BOOL
            return
        if op in _INDEXING or op is Op.SETITEM:   # elements of the first argument (an int8, a bool)
            source = instr.args[0]
            if op is Op.SETITEM and source.id in self.dtype:
                self.stored(instr, source, instr.args[-1])
            self.set(r, self.numpy_dtype(source))
            return
        if op is Op.CAST and r.type.dtype == "f64" and not instr.attrs.get("explicit") \
                and instr.args[0].id in self.dtype:
            self.float_of[r.id] = self.dtype[instr.args[0].id]   # a lowering's conversion
        if r.type.dtype == "f64" and op in _float_ufuncs():
            self.float_math(instr, _float_ufuncs()[op])
        if r.type.dtype != "i64":
            return   # comparisons, and conversions to float64 (exact: as NumPy's)
        if op in _SIZES:
            return   # casts to int (astype(int)) and sizes: int64 / Python ints
        if not any(a.id in self.dtype for a in instr.args):
            # int64 data: an element or reduction of an int64 array is an np.int64 (strong)
            if any(self.numpy_dtype(a) == INT64 for a in instr.args) and not r.type.rank:
                self.strong.add(r.id)
            return
        inputs = [a for a in instr.args if a.type.dtype != "bool" or op is not Op.WHERE or a is not instr.args[0]]
        if op in _WIDENING:
            dtype = self.numpy_dtype(inputs[0]) or INT64
            self.set(r, np.dtype(np.uint64) if dtype.kind == "u" else INT64)
            return
        known = [d for d in (self.numpy_dtype(a) for a in inputs) if d is not None]
        dtype = np.result_type(*known) if known else INT64
        if dtype == BOOL and len(known) < len(inputs):   # booleans beside a Python int: int64 (`M + 1`)
            dtype = INT64
        if op in _SELECTING and dtype.kind != "f":   # (uint64 beside int64: NumPy's is float64)
            for a in inputs:
                if a.id in self.consts and isinstance(self.consts[a.id], int) and dtype.kind in "iu" \
                        and not np.iinfo(dtype).min <= self.consts[a.id] <= np.iinfo(dtype).max:
                    self.refuse(instr, f"{self.consts[a.id]} does not fit the {dtype} data beside it "
                                "(NumPy raises OverflowError)", self.hint(dtype))
            self.set(r, dtype)
            return
        if dtype == INT64:
            self.set(r, INT64)
            return
        what = (f"NumPy computes this in {dtype}" + (" and wraps on overflow" if dtype.kind in "iu" else "")
                + ", coarsen computes integers in int64")
        hint = ("convert the data first: x.astype(float) (as NumPy computes it here) or x.astype(np.int64)"
                if dtype.kind == "f" else self.hint(dtype))
        self.refuse(instr, f"integer arithmetic (`{op.value}`) on {self.describe(instr)}: {what}", hint)

    def float_math(self, instr: Instr, ufunc) -> None:
        """np.sin(x) of uint8/int8/bool data is float16 in NumPy (of int16 float32): refused,
        where every operand is such data (a float64 operand, or a Python float, makes it float64)."""
        dtypes = []
        for a in instr.args:
            d = self.dtype.get(a.id, self.float_of.get(a.id))
            if d is None:
                if a.type.dtype == "f64" or a.type.rank or a.id in self.strong:
                    return   # float64 (or int64) data beside it: computed in float64, as ours
                continue     # a Python int: takes the data's dtype
            dtypes.append(d)
        if not dtypes:
            return
        kinds = ' and '.join(sorted({str(d) for d in dtypes}))
        hint = "convert the data first: x.astype(float) (float64, as coarsen computes it)"
        try:
            out = ufunc.resolve_dtypes((np.result_type(*dtypes),) * ufunc.nin + (None,))[-1]
        except (TypeError, ValueError):   # NumPy has no loop for this data: it raises, never float64
            self.refuse(instr, f"np.{ufunc.__name__} of {kinds} data: NumPy has no loop for it", hint)
        if out != np.float64:
            self.refuse(instr, f"np.{ufunc.__name__} of {kinds} data: NumPy computes it in {out}, coarsen in "
                        "float64", hint)

    def stored(self, instr: Instr, target, value) -> None:
        into = self.dtype[target.id]
        if value.id in self.consts and isinstance(self.consts[value.id], (int, bool)):
            if into.kind == "b" or np.iinfo(into).min <= self.consts[value.id] <= np.iinfo(into).max:
                return
        elif value.type.dtype == "i64" and np.can_cast(self.numpy_dtype(value) or INT64, into):
            return
        elif value.type.dtype == "bool":
            return
        self.refuse(instr, f"a write into {into} data: NumPy converts the value to {into}"
                    + (" (wrapping)" if into.kind in "iu" else ""), self.hint(into))

    def set(self, r, dtype) -> None:
        if dtype is not None and is_narrow(dtype):
            self.dtype[r.id] = np.dtype(dtype)
        else:
            self.dtype.pop(r.id, None)
            if dtype == INT64 and not r.type.rank:
                self.strong.add(r.id)

    def join(self, res, sources) -> bool:
        """`res` takes the narrow dtype of any of `sources`; whether that changed it."""
        dtypes = [self.dtype[s.id] for s in sources if s.id in self.dtype]
        if not dtypes or res.type.dtype == "f64" and BOOL not in dtypes:
            return False
        new = np.result_type(*dtypes)
        if self.dtype.get(res.id) == new:
            return False
        self.dtype[res.id] = new
        return True

    def loop(self, instr: Instr) -> None:
        if instr.op is Op.FOR:
            inits, bodies, skip = instr.args[3:], [instr.regions[0]], 1
        else:
            inits, bodies, skip = instr.args, list(instr.regions), 0
        for _ in range(64):   # carries only gain dtypes: a fixed point soon
            changed = False
            for body in bodies:
                params = body.params[skip:]
                for k, p in enumerate(params):
                    changed |= self.join(p, [inits[k]] + ([instr.regions[-1].yields[k]] if k < len(instr.regions[-1].yields) else []))
            for body in bodies:
                self.region(body)
            if not changed:
                break
        for k, res in enumerate(instr.results):
            self.join(res, [inits[k], instr.regions[-1].yields[k]])

    def describe(self, instr: Instr) -> str:
        dtypes = sorted({str(self.dtype[a.id]) for a in instr.args if a.id in self.dtype})
        return " and ".join(dtypes) + " data"

    @staticmethod
    def hint(dtype) -> str:
        return ("convert the data first: x.astype(np.int64) (exact), or x.astype(float); "
                f"{dtype} arithmetic is not compiled")

    @staticmethod
    def refuse(instr: Instr, what: str, hint: str):
        raise UnsupportedError(what, instr.loc, hint)


def check_narrow(fn: Function, origins: dict[int, np.dtype]) -> tuple[tuple[int, str], ...]:
    """Refuse integer work on narrow data that NumPy would compute in another dtype, and sums
    and differences of boolean arrays (above); return (result index, NumPy dtype) of each
    integer result array whose NumPy dtype is not int64."""
    check = _Check(origins)
    check.region(fn.body)
    return tuple((k, str(check.dtype[y.id])) for k, y in enumerate(fn.body.yields)
                 if y.type.dtype == "i64" and y.type.rank and y.id in check.dtype
                 and check.dtype[y.id].kind in "iu")
