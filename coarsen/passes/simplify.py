"""simplify: fold trivial joins and drop dead code.

Pre: a verified Function. Post: a verified Function computing the same outputs, where
- an IF result yielding the same value on both sides is that value; one yielding (True, False)
  is the condition, (False, True) its negation;
- an instruction none of whose results is used (and any region-holding op with no used
  result) is removed: every op is pure but CHECK (a `raise` run when its condition holds),
  which stays with the regions that hold it.
"""
from __future__ import annotations

from dataclasses import replace

from coarsen.ir.builder import Builder
from coarsen.ir.nodes import Function, Instr, Op, Region, Value, raises


def _substitute(region: Region, subst: dict[int, Value]) -> Region:
    def s(v: Value) -> Value:
        while v.id in subst:
            v = subst[v.id]
        return v
    instrs = []
    for instr in region.instrs:
        instrs.append(replace(instr, args=tuple(s(a) for a in instr.args),
                              regions=tuple(_substitute(r, subst) for r in instr.regions)))
    return Region(region.params, tuple(instrs), tuple(s(y) for y in region.yields))


def _fold_ifs(region: Region, subst: dict[int, Value], consts: dict[int, object],
              extra: dict[int, list[Instr]]) -> None:
    for instr in region.instrs:
        if instr.op is Op.CONST and instr.result.type.rank == 0:
            consts[instr.result.id] = instr.attrs["value"]
        for sub in instr.regions:
            _fold_ifs(sub, subst, consts, extra)
        if instr.op is not Op.IF:
            continue
        then, other = instr.regions
        for k, r in enumerate(instr.results):
            a, b = then.yields[k], other.yields[k]
            if a.id == b.id:
                subst[r.id] = a
            elif consts.get(a.id) is True and consts.get(b.id) is False:
                subst[r.id] = instr.args[0]


def _used(region: Region, used: set[int]) -> None:
    for instr in region.instrs:
        used.update(a.id for a in instr.args)
        for sub in instr.regions:
            _used(sub, used)
    used.update(y.id for y in region.yields)


def _checks(instr: Instr) -> bool:
    """What may raise (`nodes.raises`: a run-time check, int() of a float), or a region op
    holding one: never dead."""
    return raises(instr) or any(_checks(i) for sub in instr.regions for i in sub.instrs)


def _dce(region: Region, used: set[int]) -> Region:
    instrs = []
    for instr in region.instrs:
        if not any(r.id in used for r in instr.results) and not _checks(instr):
            continue
        if instr.regions:
            instr = replace(instr, regions=tuple(_dce(r, used) for r in instr.regions))
        instrs.append(instr)
    return Region(region.params, tuple(instrs), region.yields)


def simplify(fn: Function, ctx=None) -> Function:
    subst: dict[int, Value] = {}
    _fold_ifs(fn.body, subst, {}, {})
    body = _substitute(fn.body, subst) if subst else fn.body
    while True:
        used: set[int] = set()
        _used(body, used)
        new = _dce(body, used)
        if _count(new) == _count(body):
            break
        body = new
    return replace(fn, body=body)


def _count(region: Region) -> int:
    return sum(1 + sum(_count(r) for r in i.regions) for i in region.instrs)
