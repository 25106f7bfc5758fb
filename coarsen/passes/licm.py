"""licm: loop-invariant code motion, with the linear-algebra rewrites that expose invariants.

Pre: a verified Function. Post: a verified Function computing the same values, where in
every loop body
- a matrix product with a loop-invariant left factor is distributed over sums and
  differences, pulled through scalar scaling, and re-associated, `P @ (A @ w)` ->
  `(P @ A) @ w`, so products of invariants appear: batch gradient descent's
  `X.T @ (X @ w - y)` becomes `(X.T @ X) @ w - X.T @ y`, the paper's BGDHyperOpt algebra;
- every pure instruction whose operands are all defined outside the loop is computed once,
  before it. Indexing is not moved (out of range on a loop that runs zero times would raise),
  nor is anything holding regions.
"""
from __future__ import annotations

from dataclasses import replace

from coarsen.ir.nodes import Function, Instr, Op, Region, Value, raises
from coarsen.ir.typing import infer

# what may raise stays in the loop (hoisted out of a loop that runs zero times, it would raise
# where Python does not): index reads and writes, gathers, a user's check, the linear algebra
# NumPy refuses singular input to; int() of a float (`nodes.raises`) too
_UNMOVABLE = frozenset({Op.GETITEM, Op.SETITEM, Op.IF, Op.FOR, Op.WHILE, Op.CHECK, Op.TAKE, Op.INV, Op.SOLVE,
                        Op.CHOLESKY, Op.EIGH_W, Op.EIGH_V, Op.LSTSQ,
                        Op.LSTSQ_RANK, Op.QR_Q, Op.QR_R, Op.SVD_U, Op.SVD_S, Op.SVD_VT,
                        Op.SVD_JVP, Op.SVD_VALUES_JVP} | {getattr(Op, n) for n in ("KEPT_INDICES",) if hasattr(Op, n)})


class _Licm:
    def __init__(self, fn: Function) -> None:
        self.next_id = 1 + _max_id(fn)
        self.moved = 0

    def new(self, op: Op, args: tuple[Value, ...], loc, attrs=None) -> Instr:
        attrs = attrs or {}
        v = Value(self.next_id, infer(op, [a.type for a in args], attrs))
        self.next_id += 1
        return Instr(op, args, (v,), attrs, loc=loc)

    def region(self, region: Region) -> Region:
        out: list[Instr] = []
        for instr in region.instrs:
            if instr.regions:
                instr = replace(instr, regions=tuple(self.region(r) for r in instr.regions))
            if instr.op in (Op.FOR, Op.WHILE):
                hoisted, instr = self.loop(instr)
                out.extend(hoisted)
            out.append(instr)
        return Region(region.params, tuple(out), region.yields)

    def loop(self, loop: Instr) -> tuple[list[Instr], Instr]:
        body = loop.regions[-1]
        inside = _defined(body)
        for sub in loop.regions[:-1]:
            inside |= _defined(sub)
        defs = {r.id: i for i in body.instrs for r in i.results}
        hoisted: list[Instr] = []
        new_body: list[Instr] = []
        subst: dict[int, Value] = {}

        def inv(v: Value) -> bool:
            return v.id not in inside

        def place(instr: Instr) -> Value:
            if all(inv(a) for a in instr.args):
                hoisted.append(instr)
                self.moved += 1
            else:
                new_body.append(instr)
                inside.add(instr.result.id)
            return instr.result

        def matmul(p: Value, q: Value, loc, depth: int = 0) -> Value:
            d = defs.get(q.id)
            if depth < 6 and inv(p) and d is not None and not inv(q):
                if d.op in (Op.ADD, Op.SUB) and all(a.type.rank == q.type.rank for a in d.args):
                    left, right = (matmul(p, a, loc, depth + 1) for a in d.args)
                    return place(self.new(d.op, (left, right), loc))
                if d.op in (Op.MUL, Op.DIV) and d.args[1].type.rank == 0 and d.args[0].type.rank == q.type.rank:
                    return place(self.new(d.op, (matmul(p, d.args[0], loc, depth + 1), d.args[1]), loc))
                if d.op is Op.MATMUL and inv(d.args[0]):
                    inner = matmul(p, d.args[0], loc, depth + 1)
                    return matmul(inner, d.args[1], loc, depth + 1)
            return place(self.new(Op.MATMUL, (p, q), loc))

        for instr in body.instrs:
            instr = replace(instr, args=tuple(subst.get(a.id, a) for a in instr.args))
            if instr.op is Op.MATMUL and inv(instr.args[0]) and not inv(instr.args[1]) \
                    and instr.args[0].type.rank == 2:
                result = matmul(instr.args[0], instr.args[1], instr.loc)
                if result.id != instr.result.id:
                    subst[instr.result.id] = result
                    defs[result.id] = next((i for i in new_body + hoisted if i.results[0].id == result.id), instr)
                continue
            if instr.op not in _UNMOVABLE and not raises(instr) and not instr.regions and instr.args \
                    and all(inv(a) for a in instr.args):
                hoisted.append(instr)
                inside.discard(instr.result.id)
                self.moved += 1
                continue
            new_body.append(instr)
        if not hoisted:
            return [], loop
        yields = tuple(subst.get(y.id, y) for y in body.yields)
        regions = loop.regions[:-1] + (Region(body.params, tuple(_resolve(new_body, subst)), yields),)
        return hoisted, replace(loop, regions=regions)


def _resolve(instrs: list[Instr], subst: dict[int, Value]) -> list[Instr]:
    out = []
    for instr in instrs:
        out.append(replace(instr, args=tuple(subst.get(a.id, a) for a in instr.args),
                           regions=tuple(_subst_region(r, subst) for r in instr.regions)))
    return out


def _subst_region(region: Region, subst: dict[int, Value]) -> Region:
    return Region(region.params, tuple(_resolve(list(region.instrs), subst)),
                  tuple(subst.get(y.id, y) for y in region.yields))


def _defined(region: Region) -> set[int]:
    out = {p.id for p in region.params}
    for instr in region.instrs:
        out.update(r.id for r in instr.results)
        for sub in instr.regions:
            out |= _defined(sub)
    return out


def _max_id(fn: Function) -> int:
    best = max((p.id for p in fn.params), default=0)

    def visit(region: Region) -> None:
        nonlocal best
        for p in region.params:
            best = max(best, p.id)
        for instr in region.instrs:
            for r in instr.results:
                best = max(best, r.id)
            for sub in instr.regions:
                visit(sub)
    visit(fn.body)
    return best


def licm(fn: Function, ctx=None) -> Function:
    pass_ = _Licm(fn)
    body = pass_.region(fn.body)
    if ctx is not None:
        ctx["licm_moved"] = ctx.get("licm_moved", 0) + pass_.moved
    return replace(fn, body=body)
