"""closed_forms: replace a counted loop by the closed form of its recurrence (phi-calculus).

Pre: a verified Function. Post: a verified Function in which every FOR loop whose body is a
small elementwise scalar program, and whose carried values all have closed forms
(`phicalc.closed_form`: accumulation `s += x` -> `s0 + n*x`, affine `a*s + b`, products,
index sums, triangular systems), is replaced by one EXPR instruction per result over the
inits, the loop invariants, the bounds and the trip count `n`. The derivative then has no
loop at all. Loops with a step whose sign is unknown at compile time are left alone.
"""
from __future__ import annotations

from dataclasses import replace

import sympy as sp

from coarsen.ir.nodes import Function, Instr, Op, Region, Value
from coarsen.ir.types import F64, I64
from coarsen.segments import _SYMPY, sympy_number
from phicalc.recurrence import Recurrence, closed_form

MAX_BODY = 40


class _Rewriter:
    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.next_id = 1 + max(_max_id(fn.body), max((p.id for p in fn.params), default=0))
        self.report: list[str] = []

    def new(self, type, hint="") -> Value:
        v = Value(self.next_id, type, hint)
        self.next_id += 1
        return v

    def region(self, region: Region) -> Region:
        instrs: list[Instr] = []
        subst: dict[int, Value] = {}
        for instr in region.instrs:
            instr = replace(instr, args=tuple(subst.get(a.id, a) for a in instr.args))
            if instr.regions:
                instr = replace(instr, regions=tuple(self.region(r) for r in instr.regions))
            if instr.op is Op.FOR:
                replacement = self.try_closed_form(instr)
                if replacement is not None:
                    new_instrs, results = replacement
                    instrs.extend(new_instrs)
                    for old, new in zip(instr.results, results):
                        subst[old.id] = new
                    continue
            instrs.append(instr)
        yields = tuple(subst.get(y.id, y) for y in region.yields)
        if subst:
            instrs = [_subst_deep(i, subst) for i in instrs]
        return Region(region.params, tuple(instrs), yields)

    def try_closed_form(self, loop: Instr):
        start, stop, step, *inits = loop.args
        body = loop.regions[0]
        step_value = _const(self.fn, step)
        if step_value is None or step_value == 0 or len(body.instrs) > MAX_BODY:
            return None
        if any(p.type != F64 for p in body.params[1:]) or not body.params[1:]:
            return None
        symbols: dict[int, sp.Expr] = {}
        index_sym = sp.Symbol("i_loop", real=True)
        symbols[body.params[0].id] = index_sym
        state = [sp.Symbol(f"s{k}", real=True) for k in range(len(body.params) - 1)]
        for p, s in zip(body.params[1:], state):
            symbols[p.id] = s
        outer: dict[sp.Symbol, Value] = {}
        for instr in body.instrs:
            if instr.op is Op.CONST and instr.result.type.rank == 0:
                symbols[instr.result.id] = sympy_number(instr.attrs["value"])
                continue
            if len(instr.results) != 1 or instr.regions or instr.result.type.rank:
                return None
            args = []
            for a in instr.args:
                if a.id not in symbols:
                    if a.type.rank:
                        return None
                    sym = sp.Symbol(f"u{len(outer)}", real=True)
                    outer[sym] = a
                    symbols[a.id] = sym
                args.append(symbols[a.id])
            if instr.op in _SYMPY and len(args) <= 2:   # where/clip stay ops
                expr = _SYMPY[instr.op](*args)
            elif instr.op is Op.CAST and instr.attrs["dtype"] == "f64":
                expr = args[0]
            else:
                return None
            symbols[instr.result.id] = expr
        updates = []
        for y in body.yields:
            if y.id not in symbols:
                if y.type.rank:
                    return None
                sym = sp.Symbol(f"u{len(outer)}", real=True)
                outer[sym] = y
                symbols[y.id] = sym
            updates.append(symbols[y.id])
        uses_index = any(u.has(index_sym) for u in updates)
        n_sym = sp.Symbol("n_trips", integer=True, nonnegative=True)
        start_sym, step_sym = sp.Symbol("start", integer=True), sp.Integer(step_value)
        init_syms = [sp.Symbol(f"init{k}", real=True) for k in range(len(state))]
        try:
            forms = closed_form(Recurrence(tuple(state), tuple(updates), index_sym if uses_index else None),
                                init_syms, n_sym, start_sym, step_sym)
        except Exception:   # phicalc gives up loudly on shapes it does not know
            return None
        if forms is None or any(f is None for f in forms):
            return None
        new_instrs, n_value = self.trip_count(start, stop, step_value, loop)
        results = []
        for k, form in enumerate(forms):
            mapping = [(init_syms[k2], inits[k2]) for k2 in range(len(state))] + \
                [(sym, v) for sym, v in outer.items()] + [(n_sym, n_value), (start_sym, start)]
            used = [(s, v) for s, v in mapping if form.has(s)]
            r = self.new(F64, loop.results[k].hint)
            new_instrs.append(Instr(Op.EXPR, tuple(v for _, v in used), (r,),
                                    {"expr": form, "symbols": tuple(s for s, _ in used)}, loc=loop.loc))
            results.append(r)
            self.report.append(f"{loop.results[k].hint or 'loop value'} = {form}")
        return new_instrs, results

    def trip_count(self, start: Value, stop: Value, step: int, loop: Instr):
        """n = max(0, ceil((stop - start) / step)) as IR (integers)."""
        instrs = []

        def emit(op, args, type=I64, attrs=None):
            r = self.new(type)
            instrs.append(Instr(op, tuple(args), (r,), attrs or {}, loc=loop.loc))
            return r

        def const(v):
            return emit(Op.CONST, (), attrs={"value": v})
        start_value = _const(self.fn, start)
        if start_value == 0 and step > 0:
            span = stop
        else:
            span = emit(Op.SUB, (stop, start) if step > 0 else (start, stop))
        k = abs(step)
        if k != 1:
            span = emit(Op.FLOORDIV, (emit(Op.ADD, (span, const(k - 1))), const(k)))
        n = emit(Op.MAXIMUM, (span, const(0)))
        return instrs, n


def _const(fn: Function, v: Value):
    for instr in fn.body.instrs:
        if instr.op is Op.CONST and instr.result.id == v.id:
            return instr.attrs["value"]
    return _find_const(fn.body, v.id)


def _find_const(region: Region, vid: int):
    for instr in region.instrs:
        if instr.op is Op.CONST and instr.result.id == vid:
            return instr.attrs["value"]
        for sub in instr.regions:
            found = _find_const(sub, vid)
            if found is not None:
                return found
    return None


def _subst_deep(instr: Instr, subst: dict[int, Value]) -> Instr:
    def region(r: Region) -> Region:
        return Region(r.params, tuple(_subst_deep(i, subst) for i in r.instrs),
                      tuple(subst.get(y.id, y) for y in r.yields))
    return replace(instr, args=tuple(subst.get(a.id, a) for a in instr.args),
                   regions=tuple(region(r) for r in instr.regions))


def _max_id(region: Region) -> int:
    best = max((p.id for p in region.params), default=0)
    for instr in region.instrs:
        best = max([best] + [r.id for r in instr.results])
        for sub in instr.regions:
            best = max(best, _max_id(sub))
    return best


def closed_forms(fn: Function, ctx=None) -> Function:
    rewriter = _Rewriter(fn)
    body = rewriter.region(fn.body)
    if ctx is not None:
        ctx.setdefault("closed_forms", []).extend(rewriter.report)
    return replace(fn, body=body)
