"""closed_forms: replace a counted loop by the closed form of its recurrence (phi-calculus).

Pre: a verified Function. Post: a verified Function in which every FOR loop whose body is a
small elementwise scalar program, and whose carried values all have closed forms
(`phicalc.closed_form`: accumulation `s += x` -> `s0 + n*x`, affine `a*s + b`, products,
index sums, triangular systems), is replaced by one EXPR instruction per result over the
inits, the loop invariants, the bounds and the trip count `n`. The derivative then has no
loop at all. Loops with a step whose sign is unknown at compile time are left alone.

A closed form is real algebra; the loop is IEEE arithmetic. So that the two agree on inf, NaN
and zero trips: a loop whose body SymPy would simplify (`s + (x - x)`, `s * 0.0`: the census
of `coarsen.segments`) keeps its loop; each closed form is `Phi(n > 0, form, init)` (with no
trips the loop returns its inits exactly, where `s0 + n*x` is NaN at x = inf); and before it
replaces the loop, the closed form and the loop are both run, in float64, on inputs that are
inf, -inf, NaN, zero or ordinary, for a few trip counts (`_agrees`): an expanded form
(`s += (x + i)*x` -> `s0 + n*x**2 + x*n*(n-1)/2`, NaN at n = 1, x = inf, where the loop gives
inf) keeps its loop.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import numpy as np
import sympy as sp

from coarsen.ir.nodes import Function, Instr, Op, Region, Value
from coarsen.ir.types import F64, I64
from coarsen.segments import _NUMPY, _SYMPY, _census, _exact_reciprocal, sympy_number
from coarsen.ops import to_source
from phicalc.recurrence import Recurrence, closed_form
from phicalc.terms import Phi, relation

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
                expr = _faithful(instr.op, args)
                if expr is None:
                    return None
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
        forms = [f if f == init_syms[k] else Phi(relation(sp.StrictGreaterThan, n_sym, 0), f, init_syms[k])
                 for k, f in enumerate(forms)]
        start_value = _const(self.fn, start)
        if not _agrees(state, updates, index_sym, forms, init_syms, list(outer), n_sym, start_sym,
                       step_value, start_value):
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


def _faithful(op: Op, args: list[sp.Expr]) -> sp.Expr | None:
    """`op(*args)` as SymPy builds it, or None where SymPy's finite-number algebra changed what
    it computes (a cancelled operand, an annihilating or non-finite constant)."""
    if any(isinstance(a, sp.Number) and (a.is_zero or not a.is_finite) for a in args) \
            and op is not Op.POW:
        return None
    if op is Op.DIV and isinstance(args[1], sp.Number) and not all(isinstance(a, sp.Number) for a in args) \
            and not _exact_reciprocal(args[1]):
        return None   # SymPy's x / 10.0 is 0.1*x, which rounds differently (segments keeps x / 10.0)
    if all(isinstance(a, sp.Number) for a in args):
        # constants by NumPy's arithmetic (SymPy's log(-1) is I*pi)
        with np.errstate(all="ignore"):
            value = float(_NUMPY[op](*(np.float64(float(a)) for a in args)))
        return sympy_number(value) if math.isfinite(value) else None
    expr = _SYMPY[op](*args)
    if expr.has(sp.I, sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None
    holes = [a if isinstance(a, sp.Number) else sp.Dummy(real=True) for a in args]
    head = _census(_SYMPY[op](*holes), {})
    expected = Counter()
    for h, a in zip(holes, args):
        n = head.pop(h, 0) if not isinstance(a, sp.Number) else 0
        for key, m in _census(a, {}).items():
            expected[key] += n * m
    expected.update(head)
    return expr if _census(expr, {}) == expected else None


_SPECIAL = (math.inf, -math.inf, math.nan, 0.0, -0.0)
_ORDINARY = (1.5, -0.75)
_TRIPS = (0, 1, 2, 3)


def _agrees(state, updates, index, forms, inits, invariants, n_sym, start_sym, step, start) -> bool:
    """Whether the closed forms compute what the loop computes, IEEE arithmetic and all, on
    special and ordinary inputs: each input special in turn (the others ordinary), then all
    pairs of specials when there are few inputs."""
    from kernels import runtime
    inputs = list(inits) + list(invariants)
    try:
        step_fns = [_numeric(u, state + [index] + invariants) for u in updates]
        form_fns = [_numeric(f, inits + invariants + [n_sym, start_sym]) for f in forms]
    except NotImplementedError:
        return False
    cases = [[_ORDINARY[k % 2] for k in range(len(inputs))]]
    for k in range(len(inputs)):
        for v in _SPECIAL:
            case = list(cases[0])
            case[k] = v
            cases.append(case)
    if len(inputs) <= 3:
        for a in range(len(inputs)):
            for b in range(a + 1, len(inputs)):
                for va in _SPECIAL[:3]:
                    for vb in _SPECIAL[:3]:
                        case = list(cases[0])
                        case[a], case[b] = va, vb
                        cases.append(case)
    starts = (start,) if start is not None else (0, 1)
    with np.errstate(all="ignore"):
        for case in cases:
            vals = [np.float64(v) for v in case]
            ini, inv = vals[:len(inits)], vals[len(inits):]
            for first in starts:
                for n in _TRIPS:
                    s = list(ini)
                    for k in range(n):
                        i = np.float64(first + k * step)
                        s = [fn(*s, i, *inv, rt=runtime) for fn in step_fns]
                    closed = [fn(*ini, *inv, np.float64(n), np.float64(first), rt=runtime)
                              for fn in form_fns]
                    if not all(_same(a, b) for a, b in zip(s, closed)):
                        return False
    return True


def _numeric(expr: sp.Expr, params: list[sp.Symbol]):
    """`expr` as a float64 Python function of `params` (phicalc's NumPy printer)."""
    names = {p: sp.Symbol(f"p{k}", real=True) for k, p in enumerate(params)}
    text = to_source(expr.xreplace(names))
    args = ", ".join(f"p{k}" for k in range(len(params)))
    namespace = {"np": np}
    exec(f"def f({args}, rt=None):\n    return np.float64({text})", namespace)   # our own printer's text
    return namespace["f"]


def _same(a, b) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


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
