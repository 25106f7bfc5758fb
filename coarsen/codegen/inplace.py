"""When a primal program may write an element into its array's own buffer.

The IR gives element writes value semantics (`SETITEM` makes a new array); generated code
writes in place when no one can observe the old version. For primal programs (no backward
pass reading old versions) the rule here is conservative and local:

- the written array has no other use in the whole function (one reader: this write);
- it is defined in the region of the write (not outside a loop around it: a buffer hoisted out
  of a loop, e.g. `np.zeros(n)` moved by LICM, must not carry writes of one iteration into the
  next), by an op that makes a fresh buffer (zeros/ones/empty/copy/stack, or another write of
  this kind), never a parameter, a constant, or a view (indexing, transpose, reshape);
- or it is a loop's carried parameter whose initial value passes the same test (the buffer
  belongs to the loop; each iteration's version dies at the write).

Anything else is copied first. (Reverse mode has its own rule, `Reverse.inplace_ok`, which
also knows which versions the backward pass reads.)
"""
from __future__ import annotations

from typing import Callable

from coarsen.ir.nodes import Function, Instr, Op, Region, Value

_FRESH = frozenset({Op.ZEROS, Op.ONES, Op.EMPTY, Op.COPY, Op.STACK, Op.SETITEM})


def primal_inplace_ok(fn: Function) -> Callable[[Instr], bool]:
    uses: dict[int, int] = {}
    defined_by: dict[int, tuple[Instr, int]] = {}     # value id -> (instr, id of its region)
    region_of_instr: dict[int, int] = {}
    carry_init: dict[int, Value] = {}                 # loop region param id -> its init value
    param_region: dict[int, int] = {}

    def visit(region: Region) -> None:
        for instr in region.instrs:
            region_of_instr[id(instr)] = id(region)
            for a in instr.args:
                uses[a.id] = uses.get(a.id, 0) + 1
            for r in instr.results:
                defined_by[r.id] = (instr, id(region))
            if instr.op in (Op.FOR, Op.WHILE):
                inits = instr.args[3:] if instr.op is Op.FOR else instr.args
                for sub in instr.regions:
                    carried = sub.params[1:] if instr.op is Op.FOR and sub is instr.regions[-1] else sub.params
                    for p, init in zip(carried, inits):
                        carry_init[p.id] = init
                        param_region[p.id] = id(sub)
            for sub in instr.regions:
                visit(sub)
        for y in region.yields:
            uses[y.id] = uses.get(y.id, 0) + 1

    visit(fn.body)

    def owned(v: Value, region: int, depth: int = 0) -> bool:
        if uses.get(v.id, 0) != 1 or depth > 64:
            return False
        if v.id in carry_init:
            if param_region[v.id] != region:
                return False
            init = carry_init[v.id]
            loop, loop_region = defined_by_loop(init, v)
            return loop is not None and owned(init, loop_region, depth + 1)
        made = defined_by.get(v.id)
        if made is None:   # a function parameter: the caller's array
            return False
        instr, where = made
        if where != region or instr.op not in _FRESH:
            return False
        if instr.op is Op.SETITEM:   # a chain of writes: the first array must be owned too
            return owned(instr.args[0], region, depth + 1)
        return True

    def defined_by_loop(init: Value, param: Value):
        """The loop whose region has `param`, and the region holding that loop."""
        return _loops.get(param_region[param.id], (None, None))

    _loops: dict[int, tuple[Instr, int]] = {}

    def index_loops(region: Region) -> None:
        for instr in region.instrs:
            for sub in instr.regions:
                _loops[id(sub)] = (instr, id(region))
                index_loops(sub)

    index_loops(fn.body)

    def ok(instr: Instr) -> bool:
        return owned(instr.args[0], region_of_instr.get(id(instr), -1))

    return ok
