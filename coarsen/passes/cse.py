"""cse: global value numbering over structured SSA.

Pre: a verified Function. Post: a verified Function in which an instruction that repeats an
earlier one (same op, same operands, same attributes) that dominates it — earlier in the
same region or in an enclosing one — is replaced by that earlier result. Every op is pure, so
this only removes work; the generated code gets shorter, which also shortens Numba's compile.
Only scalar results are merged (and views, which are never written): two array results that
are equal as values can still be two buffers, one of which the program updates in place, so
merging them would let a write through one show through the other.
"""
from __future__ import annotations

from dataclasses import replace

from coarsen.ir.nodes import VIEWS, Function, Instr, Op, Region, Value

_SKIP = frozenset({Op.IF, Op.FOR, Op.WHILE, Op.SETITEM})


_VIEWS = VIEWS | {Op.SHAPE}


def _key(instr: Instr):
    if instr.op in _SKIP or len(instr.results) != 1:
        return None
    if instr.result.type.rank and instr.op not in _VIEWS:
        return None
    if instr.op is Op.CONST:
        value = instr.attrs["value"]
        if instr.result.type.rank:
            return None
        return (instr.op, type(value).__name__, repr(value), instr.result.type)
    try:
        attrs = tuple(sorted((k, v if not isinstance(v, list) else tuple(v)) for k, v in instr.attrs.items()))
        hash(attrs)
    except TypeError:
        return None
    return (instr.op, tuple(a.id for a in instr.args), attrs)


def _region(region: Region, table: dict, subst: dict[int, Value]) -> Region:
    table = dict(table)   # what dominates this region, plus what it defines as it goes
    out = []
    for instr in region.instrs:
        instr = replace(instr, args=tuple(subst.get(a.id, a) for a in instr.args))
        if instr.regions:
            instr = replace(instr, regions=tuple(_region(r, table, subst) for r in instr.regions))
        key = _key(instr)
        if key is not None:
            known = table.get(key)
            if known is not None and known.type == instr.result.type:
                subst[instr.result.id] = known
                continue
            table[key] = instr.result
        out.append(instr)
    return Region(region.params, tuple(out), tuple(subst.get(y.id, y) for y in region.yields))


def cse(fn: Function, ctx=None) -> Function:
    return replace(fn, body=_region(fn.body, {}, {}))
