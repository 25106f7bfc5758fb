"""Segments of interest: the dataflow graph cut into large closed-form expressions.

Input: a verified `Function`. Output: a `SegmentPlan`:
- every *candidate* value (the result of an elementwise float op, or of an IF whose two
  branches are themselves small elementwise programs) has a SymPy expression `expr[v]` over
  *symbols* of the values it reads (non-candidates and materialized candidates);
- a candidate is *materialized* (computed into a variable; a cut) when it must exist on its own:
  a non-elementwise op reads it, a region yields it, a nested region captures it, it is reused
  (reuse-centric: a shared intermediate is computed once, and its derivative too), or its
  expression would pass the size cap (then the operand with the most uses is cut first);
- each materialized value is one *segment*: its expression tree over its input symbols.

An absorbed IF becomes a phi-calculus term `Phi(c, then, else)` inside the segment of its
consumer: the derivative of the branch taken is `Phi(c, d_then, d_else)`, so the branch costs
no control flow in the derivative program. Invariant: no materialized value's expression has
more than `cap` operations.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import sympy as sp

from coarsen.ir.nodes import ELEMENTWISE, Function, Instr, Op, Region, Value, walk
from phicalc.rewrite import stable
from coarsen.ops import elementwise
from phicalc.terms import Phi

CAP = 64              # operations in one segment expression
ABSORB_LIMIT = 24     # instructions in an IF's branches for it to become a phi term
REUSE_INLINE = 2      # a reused value this small is recomputed instead of cut

# from the op registry: the SymPy form of every symbolic elementwise op (its derivative is
# phicalc's derivative of that form)
_SYMPY = {Op[s.member]: s.sympy for s in elementwise() if s.sympy is not None}
SYMBOLIC_OPS = frozenset(_SYMPY) | {Op.CAST, Op.EXPR}


def sympy_number(value) -> sp.Expr:
    if isinstance(value, bool):
        return sp.true if value else sp.false
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**31):
        return sp.Integer(int(value))
    return sp.Float(value)


@dataclass
class SegmentPlan:
    expr: dict[int, sp.Expr] = field(default_factory=dict)       # candidate value id -> expression
    symbol: dict[int, sp.Symbol] = field(default_factory=dict)   # value id -> its symbol
    value_of: dict[sp.Symbol, Value] = field(default_factory=dict)
    materialized: dict[int, str] = field(default_factory=dict)   # value id -> why it was cut
    absorbed: set[int] = field(default_factory=set)              # id() of IF instrs folded into phis
    candidates: set[int] = field(default_factory=set)
    # array candidate -> the array values at the leaves of its expression tree as built, before
    # SymPy simplified it: `x * 0.0` is 0 and `(a[:, None] * b) * 0.0 + c` is c, but the value
    # keeps the broadcast shape of all its leaves (see `codegen.forward.emit_segment`)
    leaves: dict[int, tuple[Value, ...]] = field(default_factory=dict)
    values: dict[int, Value] = field(default_factory=dict)

    def inputs(self, vid: int) -> list[Value]:
        """The values a materialized segment reads, in a deterministic order."""
        syms = sorted(self.expr[vid].free_symbols, key=lambda s: s.name)
        return [self.value_of[s] for s in syms if s in self.value_of]

    def size(self, vid: int) -> int:
        return op_count(self.expr[vid])


def op_count(expr: sp.Basic, memo: dict | None = None) -> int:
    """Arithmetic operations in `expr` as a tree (what a printed segment computes before CSE):
    n-1 for an n-ary sum or product, 1 for any other operation. `sp.count_ops` counts much the
    same (it also counts a rational coefficient as a division) at ~20x the cost: it took a fifth
    of compiling a 1000-statement program. `memo` carries counts across calls, so a segment
    grown from its operands' expressions costs only its new nodes."""
    memo = {} if memo is None else memo

    def count(e: sp.Basic) -> int:
        if not e.args or e.is_Atom:
            return 0
        known = memo.get(e)
        if known is None:
            own = len(e.args) - 1 if isinstance(e, (sp.Add, sp.Mul)) else 1
            known = memo[e] = own + sum(count(a) for a in e.args)
        return known
    return count(expr)


def is_candidate_instr(instr: Instr) -> bool:
    if instr.op not in SYMBOLIC_OPS or len(instr.results) != 1:
        return False
    if instr.result.type.dtype != "f64":
        return False
    if instr.op is Op.CAST:
        return True
    return True


def _absorbable(instr: Instr, limit: int = ABSORB_LIMIT) -> bool:
    if instr.op is not Op.IF or not instr.results:
        return False
    if any(r.type.dtype != "f64" for r in instr.results):
        return False
    if any(r.type.rank for r in instr.results):
        # an array phi would become np.where(c, a, b): both sides computed, and a side that is
        # a never-read placeholder (np.zeros((0, 0)) for a name bound on one path) does not
        # broadcast; an IF of arrays stays control flow, running (and differentiating) one side
        return False
    count = 0
    for region in instr.regions:
        for inner in walk(region):
            count += 1
            if inner.op is Op.CONST and inner.result.type.rank == 0:
                continue
            if inner.op is Op.IF and _absorbable(inner, limit):
                continue
            if inner.op is Op.IF or not is_candidate_instr(inner):
                # comparisons feeding a nested phi condition stay outside: not absorbable
                return False
    return count <= limit


class _Planner:
    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.plan = SegmentPlan()
        self.op_memo: dict = {}
        self.uses: Counter[int] = Counter()
        self.outside_use: dict[int, str] = {}
        self.constants: dict[int, object] = {}
        self.names = fn.names
        self.params = {p.id for p in fn.params}
        # the innermost region that is not absorbed into a phi term (its code is one block),
        # and where each candidate was formed: an expression never crosses a region boundary
        self.scope: int | None = None
        self.scope_of: dict[int, int | None] = {}

    # ---------------------------------------------------------------- symbols
    def symbol(self, v: Value) -> sp.Expr:
        if v.id in self.constants:
            return sympy_number(self.constants[v.id])
        s = self.plan.symbol.get(v.id)
        if s is None:
            name = value_name(v, self.names.get(v.id, ""), v.id in self.params)
            s = sp.Symbol(name, real=True) if v.type.dtype != "bool" else sp.Symbol(name)
            self.plan.symbol[v.id] = s
            self.plan.value_of[s] = v
        return s

    def operand(self, v: Value) -> sp.Expr:
        if v.id in self.plan.expr and v.id not in self.plan.materialized:
            if self.scope_of.get(v.id, self.scope) == self.scope:
                return self.plan.expr[v.id]
            # formed outside this region (a loop body, say; also inside an absorbed IF, where
            # the capture check of `region` is off): read it as a variable, so its adjoint
            # exists outside the region and the region's backward adds to it
            self.cut(v, "read inside a nested region")
        return self.symbol(v)

    # ---------------------------------------------------------------- analysis
    def count_uses(self, region: Region, absorbed_depth: bool) -> None:
        for instr in region.instrs:
            for a in instr.args:
                self.uses[a.id] += 1
            for sub in instr.regions:
                self.count_uses(sub, absorbed_depth)
            if instr.op is Op.CONST and instr.result.type.rank == 0:
                self.constants[instr.result.id] = instr.attrs["value"]
        for y in region.yields:
            self.uses[y.id] += 1

    def run(self) -> SegmentPlan:
        self.count_uses(self.fn.body, False)
        self.region(self.fn.body, top=True)
        for y in self.fn.body.yields:
            self.cut(y, "function result")
        # numerically stable forms (softplus, log1p, expm1) for each segment's expression
        for vid in self.plan.materialized:
            self.plan.expr[vid] = stable(self.plan.expr[vid])
        return self.plan

    def cut(self, v: Value, reason: str) -> None:
        if v.id in self.plan.expr and v.id not in self.plan.materialized:
            self.plan.materialized[v.id] = reason
            self.symbol(v)

    def region(self, region: Region, top: bool = False, absorbed: bool = False) -> None:
        outer_scope = self.scope
        if not absorbed:
            self.scope = id(region)
        local: set[int] = {p.id for p in region.params}
        for instr in region.instrs:
            local.update(r.id for r in instr.results)
            # a candidate captured from an enclosing region must exist as a variable
            for a in instr.args:
                if a.id not in local and not absorbed:
                    self.cut(a, "read inside a nested region")
            if instr.op is Op.IF and _absorbable(instr):
                self.absorb(instr)
            elif is_candidate_instr(instr):
                self.candidate(instr, absorbed)
            else:
                for a in instr.args:
                    self.cut(a, f"read by {instr.op.value}")
                for sub in instr.regions:
                    self.region(sub)
                    for y in sub.yields:
                        self.cut(y, "yielded from a region")
                    for v in _free_values(sub):
                        self.cut(v, "read inside a nested region")
        if not absorbed and not top:
            for y in region.yields:
                self.cut(y, "yielded from a region")
        self.scope = outer_scope

    def numeric_operands(self, instr: Instr) -> list[sp.Expr]:
        """The operands' expressions; a bool used as a number (`x * (x > 0)`) is Phi(b, 1, 0):
        NumPy refuses arithmetic like `-b` on bool arrays, and its derivative is zero."""
        ops = [self.operand(a) for a in instr.args]
        return [Phi(o, 1, 0) if a.type.dtype == "bool" and not (instr.op is Op.WHERE and k == 0) else o
                for k, (a, o) in enumerate(zip(instr.args, ops))]

    def candidate(self, instr: Instr, absorbed: bool) -> None:
        v = instr.result
        expr = self.build(instr, self.numeric_operands(instr))
        if not absorbed and self.ops(expr) > CAP:
            self.split(instr)
            expr = self.build(instr, self.numeric_operands(instr))
        self.plan.expr[v.id] = expr
        self.plan.candidates.add(v.id)
        self.plan.values[v.id] = v
        self.scope_of[v.id] = self.scope
        if v.type.rank:
            leaves: dict[int, Value] = {}
            for a in instr.args:
                if a.id in self.plan.expr and a.id not in self.plan.materialized:
                    leaves.update((w.id, w) for w in self.plan.leaves.get(a.id, ()))
                elif a.type.rank:
                    leaves[a.id] = a
            self.plan.leaves[v.id] = tuple(leaves.values())
        if not absorbed and self.uses[v.id] >= 2 and self.ops(expr) >= REUSE_INLINE:
            self.cut(v, f"reused {self.uses[v.id]} times")

    def split(self, instr: Instr) -> None:
        """Reuse-centric split of an oversized tree: cut the operands, most-used first."""
        while True:
            inner = [a for a in instr.args if a.id in self.plan.expr and a.id not in self.plan.materialized]
            if not inner:
                return
            best = max(inner, key=lambda a: (self.uses[a.id], self.ops(self.plan.expr[a.id])))
            self.cut(best, f"size cap {CAP} (most-used operand)")
            if self.ops(self.build(instr, self.numeric_operands(instr))) <= CAP:
                return

    def ops(self, expr: sp.Basic) -> int:
        return op_count(expr, self.op_memo)

    def build(self, instr: Instr, ops: list[sp.Expr]) -> sp.Expr:
        op = instr.op
        if op in _SYMPY:
            return _SYMPY[op](*ops)
        if op is Op.CAST:
            return ops[0]
        if op is Op.EXPR:
            mapping = dict(zip(instr.attrs["symbols"], ops))
            return instr.attrs["expr"].xreplace(mapping)
        raise KeyError(op)

    def absorb(self, instr: Instr) -> None:
        self.plan.absorbed.add(id(instr))
        cond = self.symbol(instr.args[0])
        branches = []
        for region in instr.regions:
            self.region(region, absorbed=True)
            branches.append([self.operand(y) for y in region.yields])
        for r, a, b in zip(instr.results, *branches):
            self.plan.expr[r.id] = Phi(cond, a, b)
            self.scope_of[r.id] = self.scope
            self.plan.candidates.add(r.id)
            self.plan.values[r.id] = r
            if self.uses[r.id] >= 2:
                self.cut(r, f"reused {self.uses[r.id]} times")


def _free_values(region: Region) -> list[Value]:
    defined: set[int] = set()
    free: list[Value] = []

    def visit(r: Region) -> None:
        defined.update(p.id for p in r.params)
        for instr in r.instrs:
            for a in instr.args:
                if a.id not in defined:
                    free.append(a)
            for sub in instr.regions:
                visit(sub)
            defined.update(x.id for x in instr.results)
        for y in r.yields:
            if y.id not in defined:
                free.append(y)
    visit(region)
    return free


def value_name(v: Value, hint: str, is_param: bool) -> str:
    """The Python name of a value in generated code: a parameter keeps its name, any other
    value gets its source name (or `v`) and its id. Never `d_...`: that is an adjoint."""
    base = re.sub(r"\W", "_", v.hint or hint).strip("_") or "v"
    if base[0].isdigit() or base.startswith("d_"):
        base = "v" + base
    return base if is_param else f"{base}_{v.id}"


def plan_segments(fn: Function) -> SegmentPlan:
    return _Planner(fn).run()


def describe(plan: SegmentPlan, names: dict[int, str]) -> str:
    """One line per segment: its value, size, inputs and why it was cut."""
    lines = []
    for vid, reason in plan.materialized.items():
        expr = plan.expr[vid]
        inputs = ", ".join(s.name for s in sorted(expr.free_symbols, key=lambda s: s.name))
        lines.append(f"  {names.get(vid, vid)}: {op_count(expr)} ops over ({inputs}); cut: {reason}")
        lines.append(f"      = {expr}")
    return "\n".join(lines)
