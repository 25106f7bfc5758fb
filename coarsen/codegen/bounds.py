"""Checked indices: every integer index is checked against its axis unless proven in bounds.

Generated code indexes with plain `x[i]`. NumPy raises IndexError on an out-of-range index,
but Numba reads or writes whatever memory is there; so every integer index of a GETITEM or
SETITEM (forward, and the scatter of its adjoint) gets a check raising IndexError that names
the user's file:line, on every target alike (negative indices count from the end, as NumPy).

The checks that matter for speed are those inside loops, and there the common indices are
provable, so no check is emitted for them:
- a loop variable of `for i in range(a, b)` (step > 0) with `a >= 0` and `b` the length of the
  same axis of the indexed array (`x.shape[k]`, `len(x)`), or such a bound minus a constant;
  also `i + c` / `i - c` with the shifted interval still inside (`x[i - 1]` for `i` from 1);
- a constant index into an array of known shape (a module-level array, `np.zeros(3)`), or a
  loop over a constant range indexing one.
"The same array" follows shape-preserving definitions: element writes, copies, loop carries
whose every iteration yields such an update of the carry, branches yielding the same array.

Input: the `Function` being emitted. Output: `index_checks(...)` source lines.
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np

from coarsen.ir.nodes import Function, Instr, Op, Region, Value, walk


class InBounds:
    """Facts about integer values (lower bounds; upper bounds as `shape(array, axis) + c` or
    a constant) and arrays of the same shape, for one function."""

    def __init__(self, fn: Function) -> None:
        self.defs: dict[int, Instr] = {}
        self.parent: dict[int, int] = {}
        self.known_shape: dict[int, tuple] = {}      # value id -> shape of a constant array
        self.index_of: dict[int, Instr] = {}         # loop variable id -> its FOR
        for instr in walk(fn.body):
            for r in instr.results:
                self.defs[r.id] = instr
            if instr.op is Op.CONST and isinstance(instr.attrs.get("value"), np.ndarray):
                self.known_shape[instr.result.id] = instr.attrs["value"].shape
            if instr.op is Op.FOR:
                self.index_of[instr.regions[0].params[0].id] = instr
        for instr in walk(fn.body):   # np.zeros(3), np.ones((2, n0)) with constant sizes
            if instr.op in (Op.ZEROS, Op.ONES, Op.EMPTY) and instr.result.type.rank == len(instr.args):
                dims = [self._const(a) for a in instr.args]
                if all(d is not None for d in dims):
                    self.known_shape[instr.result.id] = tuple(dims)
        self._same_shapes(fn)

    # ------------------------------------------------------------ arrays of the same shape
    def find(self, vid: int) -> int:
        root = vid
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while vid != root:   # path compression
            self.parent[vid], vid = root, self.parent.get(vid, vid)
        return root

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        return True

    def _same_shapes(self, fn: Function) -> None:
        changed = True
        while changed:
            changed = False
            for instr in walk(fn.body):
                if instr.op in (Op.SETITEM, Op.COPY) and instr.args[0].type.rank:
                    changed |= self.union(instr.result.id, instr.args[0].id)
                elif instr.op is Op.FOR:
                    body = instr.regions[0]
                    changed |= self._carries(instr.args[3:], (body.params[1:],), body, instr.results)
                elif instr.op is Op.WHILE:
                    cond, body = instr.regions
                    changed |= self._carries(instr.args, (cond.params, body.params), body, instr.results)
                elif instr.op is Op.IF:
                    then, other = instr.regions
                    for a, b, r in zip(then.yields, other.yields, instr.results):
                        if r.type.rank and self.find(a.id) == self.find(b.id):
                            changed |= self.union(r.id, a.id)
        for vid, shape in list(self.known_shape.items()):
            self.known_shape[self.find(vid)] = shape

    def _carries(self, inits, param_lists, body: Region, results) -> bool:
        changed = False
        for j, (init, y, r) in enumerate(zip(inits, body.yields, results)):
            params = [ps[j] for ps in param_lists]
            # an iteration keeps the carry's shape: the next value is the carry, updated
            if r.type.rank and self.find(y.id) == self.find(params[-1].id):
                for v in (init, *params, r):
                    changed |= self.union(v.id, y.id)
        return changed

    # ------------------------------------------------------------ integer bounds
    def lower(self, v: Value, depth: int = 0) -> int | None:
        """A constant c with v >= c, or None."""
        instr = self.defs.get(v.id)
        if depth > 8:
            return None
        if v.id in self.index_of:
            start, _, step = self.index_of[v.id].args[:3]
            s = self._const(step)
            return self.lower(start, depth + 1) if s is not None and s > 0 else None
        if instr is None:
            return None
        if instr.op is Op.CONST:
            c = instr.attrs.get("value")
            return int(c) if _is_int(c) else None
        if instr.op is Op.SHAPE:
            return 0
        if instr.op in (Op.ADD, Op.SUB):
            a, b = instr.args
            c = self._const(b)
            base = self.lower(a, depth + 1)
            if c is None or base is None:
                return None
            return base + c if instr.op is Op.ADD else base - c
        return None

    def at_most(self, v: Value, depth: int = 0) -> tuple | None:
        """(base, c) with v <= base + c: base ("shape", class, axis) or None (c alone)."""
        instr = self.defs.get(v.id)
        if depth > 8:
            return None
        if v.id in self.index_of:   # i < stop, so i <= stop - 1
            _, stop, step = self.index_of[v.id].args[:3]
            s = self._const(step)
            bound = self.at_most(stop, depth + 1) if s is not None and s > 0 else None
            return None if bound is None else (bound[0], bound[1] - 1)
        if instr is None:
            return None
        if instr.op is Op.CONST:
            c = instr.attrs.get("value")
            return (None, int(c)) if _is_int(c) else None
        if instr.op is Op.SHAPE:
            x, axis = instr.args[0], instr.attrs["dim"]
            shape = self.known_shape.get(self.find(x.id))
            if shape is not None:
                return (None, shape[axis])
            return (("shape", self.find(x.id), axis), 0)
        if instr.op in (Op.ADD, Op.SUB):
            a, b = instr.args
            c = self._const(b)
            base = self.at_most(a, depth + 1)
            if c is None or base is None:
                return None
            return (base[0], base[1] + c if instr.op is Op.ADD else base[1] - c)
        return None

    def _const(self, v: Value) -> int | None:
        instr = self.defs.get(v.id)
        if instr is not None and instr.op is Op.CONST and _is_int(instr.attrs.get("value")):
            return int(instr.attrs["value"])
        return None

    def proven(self, array: Value, axis: int, index: Value) -> bool:
        """Whether `0 <= index < array.shape[axis]` holds whenever the access runs."""
        lo = self.lower(index)
        if lo is None or lo < 0:
            return False
        hi = self.at_most(index)
        if hi is None:
            return False
        base, c = hi
        cls = self.find(array.id)
        if base is None:
            shape = self.known_shape.get(cls)
            return shape is not None and c <= shape[axis] - 1
        return base == ("shape", cls, axis) and c <= -1


def _is_int(c) -> bool:
    return isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_))


def facts(fn: Function, holder) -> InBounds:
    """The `InBounds` of `fn`, computed once per emitter (`holder`: the emission's Program)."""
    found = getattr(holder, "_in_bounds", None)
    if found is None or found[0] is not fn:
        found = (fn, InBounds(fn))
        holder._in_bounds = found
    return found[1]


CHECK_MARK = re.compile(r"^(\s*)#chk(\d+)#")


def check_marker(instr: Instr) -> str:
    """A prefix for the lines of a backward pass's check of `instr`'s access (see `drop_checks`)."""
    return f"#chk{instr.results[0].id}#"


def drop_checks(lines: list[str], checked: set[int]) -> list[str]:
    """`lines` with the checks marked by `check_marker` removed where the access's result is in
    `checked` (the forward performs that access, with its check, on every path the backward
    replays: same index values, taped or recomputed, arrays of the same shape), unmarked
    otherwise; a block left empty gets `pass`."""
    out: list[str] = []
    for line in lines:
        m = CHECK_MARK.match(line)
        if m is None:
            out.append(line)
        elif int(m.group(2)) not in checked:
            out.append(m.group(1) + line[m.end():])
    if len(out) == len(lines):
        return out
    fixed: list[str] = []
    for k, line in enumerate(out):
        fixed.append(line)
        if line.rstrip().endswith(":") and not line.lstrip().startswith("#"):
            indent = len(line) - len(line.lstrip())
            nxt = out[k + 1] if k + 1 < len(out) else ""
            if len(nxt) - len(nxt.lstrip()) <= indent or not nxt.strip():
                fixed.append(" " * (indent + 4) + "pass")
    return fixed


def index_checks(fn: Function, holder, instr: Instr, shape_of: str,
                 src: Callable[[Value], str]) -> list[str]:
    """Source lines raising IndexError (naming the user's file:line) for every integer index
    of `instr` (GETITEM / SETITEM) not proven in bounds; `shape_of` is an expression for an
    array of the indexed array's shape (the array itself, or its adjoint)."""
    pattern = instr.attrs["index"]
    array = instr.args[0]
    values = list(instr.args[1:])
    bounds = facts(fn, holder)
    lines: list[str] = []
    axis = 0
    for p in pattern:
        if p == "n":
            continue
        if p == "a":   # an index array: `ops.indexing.take_checks`
            values.pop(0)
        elif p == "i":
            index = values.pop(0)
            if not bounds.proven(array, axis, index):
                hint = instr.result.hint if instr.op is Op.SETITEM else array.hint
                name = (hint or array.hint).lstrip("$") or "array"
                message = f"{instr.loc}: index out of bounds for axis {axis} of `{name}`"
                i, n = src(index), f"{shape_of}.shape[{axis}]"
                lo, hi = bounds.lower(index), bounds.at_most(index)
                if lo is not None and lo >= 0:     # one comparison where the sign is known
                    test = f"{i} >= {n}"
                elif hi is not None and hi[0] is None and hi[1] < 0:
                    test = f"{i} < -{n}"
                else:
                    test = f"not -{n} <= {i} < {n}"
                lines.append(f"if {test}:")
                lines.append(f"    raise IndexError({message!r})")
        else:
            values = values[sum(flag == "1" for flag in p[1:]):]
        axis += 1
    return lines
