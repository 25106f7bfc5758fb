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

SymPy simplifies as it builds, as if every number were finite: `x - x` is 0, `x*0.0` is 0,
`x*y/y` is x, `exp(log(x))` is x. IEEE arithmetic (NumPy's) disagrees at inf, NaN and zero, so
an expression is built so that SymPy cannot cancel what the program computes:
- every read of a variable inside an expression is its own *occurrence* symbol (a Dummy with the
  variable's name, so it prints as the variable): `x - x` stays `x_1 - x_2`; its derivative is
  the sum over the occurrences (`SegmentPlan.occurrences`), as reverse-mode AD would add them;
- a number that annihilates a product (0, inf, NaN as a factor or dividend) is an opaque
  *literal* symbol printed as itself (`x*0.0 + 1` stays, and is NaN at x = inf);
- after each build, the multiset of variable occurrences and non-arithmetic functions in the
  result is compared with what the operands brought (`_census`); a difference (`exp(log(u))`,
  an inlined reused value cancelling against itself) cuts the operands and builds again.
When the plan is complete, each segment whose occurrences can merge back into one symbol per
variable without changing its census does so (then CSE sees one `x`, as before).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.logic.boolalg import Boolean

from coarsen.ir.nodes import ELEMENTWISE, Function, Instr, Op, Region, Value, walk
from coarsen.ops import elementwise
from phicalc.terms import AsFloat, Paren, Phi

CAP = 64              # operations in one segment expression
ABSORB_LIMIT = 24     # instructions in an IF's branches for it to become a phi term
REUSE_INLINE = 2      # a reused value this small is recomputed instead of cut

# from the op registry: the SymPy form of every symbolic elementwise op (its derivative is
# phicalc's derivative of that form)
_SYMPY = {Op[s.member]: s.sympy for s in elementwise() if s.sympy is not None}
SYMBOLIC_OPS = frozenset(_SYMPY) | {Op.CAST, Op.EXPR}
_NUMPY = {Op[s.member]: s.numpy for s in elementwise() if s.sympy is not None}
# arithmetic whose operands keep the program's grouping (`Paren`): SymPy would flatten
# `a + (b - c)` into `a + b - c` and fold `(x + 1e16) - 1e16` into `x`
# (and `sqrt(4*x)` into `2*sqrt(x)`): every op whose SymPy form is a sum, product or power
_GROUPED = frozenset(Op[s.member] for s in elementwise() if s.sympy is not None and isinstance(
    s.sympy(*sp.symbols(f"a0:{s.arity}", real=True)), (sp.Add, sp.Mul, sp.Pow)))
# and the roundings, whose SymPy forms take the integers out of a sum: `floor(u + 1)` is
# `floor(u) + 1`, which is 0.0 at u = -1e-17 where NumPy's floor(u + 1.0) is 1.0
_GROUPED |= {Op.FLOOR, Op.CEIL}


class Occurrence(sp.Dummy):
    """One read of a variable in a segment expression; prints as the variable's name."""


class Literal(sp.Dummy):
    """A constant SymPy must not fold (0, inf, NaN as a factor); its name is its source text,
    `value` its float value (operations on literals alone are folded by NumPy, `_Planner.fold`)."""
    value: float


def _annihilator(expr: sp.Expr) -> bool:
    return expr.is_Number and (expr.is_zero or not expr.is_finite)


def _literal(expr: sp.Expr | float) -> "Literal":
    value = expr if isinstance(expr, float) else float(expr) if expr is not sp.nan else math.nan
    text = "np.nan" if value != value else "np.inf" if value == float("inf") else \
        "(-np.inf)" if value == float("-inf") else f"({value!r})" if value else \
        "(-0.0)" if math.copysign(1.0, value) < 0 else "0.0"
    lit = Literal(text, real=True)
    lit.value = value
    return lit


def _opaque_constants(op: Op, ops: list[sp.Expr]) -> list[sp.Expr]:
    """Annihilating constants (0, inf, NaN) become literals: SymPy would fold them away. A
    power keeps its exponent (`x**2`), but a base that is not a positive finite number is a
    literal too: SymPy's derivative of `b**y` in y is `b**y*log(b)`, `zoo` or complex for such
    a b (no NumPy form: `0.0 ** x` failed to compile), where NumPy's log gives -inf or NaN."""
    if op is Op.DIV and ops[1].is_Number and not _annihilator(ops[1]) and not _exact_reciprocal(ops[1]):
        # SymPy turns `x / 10.0` into `0.1*x`, which rounds differently: np.floor(0.3 / 0.1)
        # is 2.0 in NumPy, np.floor(0.3 * 10.0) is 3.0. A divisor whose reciprocal is inexact
        # stays a divisor.
        return [_literal(ops[0]) if _annihilator(ops[0]) else ops[0], _literal(ops[1])]
    if op is not Op.POW:
        return [_literal(o) if _annihilator(o) else o for o in ops]
    base, *rest = ops
    if base.is_Number and not (base.is_positive and base.is_finite):
        base = _literal(base)
    return [base, *rest]


def _exact_reciprocal(c: sp.Expr) -> bool:
    """Whether x / c equals x * (1 / c) for every float x: c is a power of two (or -1, 1)."""
    mantissa, _ = math.frexp(abs(float(c)))
    return mantissa == 0.5


def _census(expr: sp.Basic, memo: dict) -> Counter:
    """What an expression computes, up to SymPy's IEEE-safe rewriting: each variable occurrence
    and each non-arithmetic function (exp, Abs, Phi, a fractional power, ...). Sums and products
    count their operands (flattening, numeric coefficients), `b**n` for an integer n counts b
    |n| times (`x*x` is `x**2`, `(x**2)**-1` is `x**-2`). An automatic simplification that
    loses or merges a computation (`x - x`, `x/x`, `exp(log(x))`, `sqrt(x)**2`) changes it."""
    known = memo.get(expr)
    if known is not None:
        return known
    if isinstance(expr, sp.Symbol):
        out = Counter({expr: 1})
    elif not expr.args:
        out = Counter()
    elif isinstance(expr, (sp.Add, sp.Mul)):
        out = Counter()
        for a in expr.args:
            out.update(_census(a, memo))
    elif isinstance(expr, (Paren, AsFloat)):   # grouping and int->float change no value
        out = _census(expr.args[0], memo)
    elif isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        base = _census(expr.base, memo)
        out = Counter({k: n * abs(int(expr.exp)) for k, n in base.items()})
    else:
        out = Counter({expr.func: 1})
        for a in expr.args:
            out.update(_census(a, memo))
    memo[expr] = out
    return out


def sympy_number(value) -> sp.Expr:
    if isinstance(value, bool):
        return sp.true if value else sp.false
    if isinstance(value, float) and value == 0.0 and math.copysign(1.0, value) < 0:
        return _literal(value)   # SymPy has no negative zero (`1 / np.minimum(x, -0.0)`)
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
        return list({self.value_of[s].id: self.value_of[s] for s in syms if s in self.value_of}.values())

    def reads(self, vid: int) -> list[Value]:
        """Every value the emitted segment reads: its inputs and, for an array whose expression
        lost some of its leaves (`x * 0.0` is 0), all its leaves, which set its broadcast shape
        (`codegen.forward.emit_segment`)."""
        inputs = self.inputs(vid)
        seen = {w.id for w in inputs}
        leaves = self.leaves.get(vid, ())
        if any(w.id not in seen for w in leaves):
            inputs += [w for w in leaves if w.id not in seen]
        return inputs

    def occurrences(self, vid: int, v: Value) -> list[sp.Symbol]:
        """The symbols through which segment `vid` reads value `v` (one per occurrence that
        could not merge back into v's own symbol); its derivative w.r.t. v is their sum."""
        syms = sorted(self.expr[vid].free_symbols, key=lambda s: (s.name, str(s.dummy_index) if
                      isinstance(s, sp.Dummy) else ""))
        return [s for s in syms if s in self.value_of and self.value_of[s].id == v.id]

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
            if isinstance(e, (sp.Add, sp.Mul)):
                own = len(e.args) - 1
            else:   # a grouping or an int->float conversion is no operation of its own
                own = 0 if isinstance(e, (Paren, AsFloat)) else 1
            known = memo[e] = own + sum(count(a) for a in e.args)
        return known
    return count(expr)


def is_candidate_instr(instr: Instr) -> bool:
    if instr.op not in SYMBOLIC_OPS or len(instr.results) != 1:
        return False
    if instr.result.type.dtype != "f64":
        return False
    if instr.op is Op.CAST:
        # a conversion the program asked for (`float(n)`, `i.astype(float)`) from int or bool is
        # an operation of its own: read as its operand, an int64 expression would compute in
        # int64 (`float(n) * float(n)` wrapped at 2**63). An implicit cast (an f64-only op's
        # operand) is its operand: NumPy keeps the int (np.cumsum of ints is int64)
        return instr.args[0].type.dtype == "f64" or not instr.attrs.get("explicit")
    return True


def _absorbable(instr: Instr, limit: int = ABSORB_LIMIT, kept: frozenset = frozenset()) -> bool:
    if instr.op is not Op.IF or not instr.results or id(instr) in kept:
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
            if inner.op is Op.IF and _absorbable(inner, limit, kept):
                continue
            if inner.op is Op.IF or not is_candidate_instr(inner):
                # comparisons feeding a nested phi condition stay outside: not absorbable
                return False
    return count <= limit


class _Unabsorb(Exception):
    """A branch of an absorbed IF needs a cut; the IF (id in args[0]) stays control flow."""


class _Planner:
    def __init__(self, fn: Function, kept: frozenset = frozenset()) -> None:
        self.fn = fn
        self.kept = kept                   # IFs (by id) that stay control flow
        self.absorbing: list[int] = []     # the absorbed IFs being planned, innermost last
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
        self.census_memo: dict = {}
        self.head_census: dict = {}

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

    def occurrence(self, v: Value) -> sp.Expr:
        """A read of variable v: its own symbol, so SymPy cannot cancel it against another."""
        own = self.symbol(v)
        if not isinstance(own, sp.Symbol) or isinstance(own, Literal):
            return own                     # a scalar constant
        occ = Occurrence(own.name, **own.assumptions0)
        self.plan.value_of[occ] = v
        return occ

    def operand(self, v: Value) -> sp.Expr:
        if v.id in self.plan.expr and v.id not in self.plan.materialized:
            if self.scope_of.get(v.id, self.scope) == self.scope:
                return self.plan.expr[v.id]
            # formed outside this region (a loop body, say; also inside an absorbed IF, where
            # the capture check of `region` is off): read it as a variable, so its adjoint
            # exists outside the region and the region's backward adds to it
            self.cut(v, "read inside a nested region")
        return self.occurrence(v)

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
        # values are what the program computes, operation for operation: no numerically stable
        # rewrite here (NumPy's log(x + 1.0) is 0.0 at x = 1e-17, where log1p gives 1e-17, and
        # log(exp(a) + exp(b)) is -inf at a = b = -inf, where a + softplus(b - a) is NaN);
        # derivatives get them (`autodiff.reverse`)
        for vid in self.plan.materialized:
            self.plan.expr[vid] = self.merge_occurrences(self.plan.expr[vid])
        return self.plan

    def merge_occurrences(self, expr: sp.Expr) -> sp.Expr:
        """`expr` over one symbol per variable when SymPy then computes the same operations
        (`exp(x_1)*x_2` -> `exp(x)*x`); else as it is (`x_1 - x_2` would become 0)."""
        occ = {s: self.plan.symbol[self.plan.value_of[s].id] for s in expr.free_symbols
               if isinstance(s, Occurrence)}
        if not occ:
            return expr
        merged = expr.xreplace(occ)
        expected = Counter()
        for k, n in _census(expr, self.census_memo).items():
            expected[occ.get(k, k)] += n
        return merged if _census(merged, self.census_memo) == expected else expr

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
            if instr.op is Op.IF and _absorbable(instr, kept=self.kept):
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
        # an int meeting a float is converted first, as NumPy promotes (`i * 1.0`); ints alone
        # keep NumPy's int arithmetic (`i ** j` of int arrays is int64)
        promote = any(a.type.dtype == "f64" for a in instr.args)
        return [Phi(o, 1, 0) if a.type.dtype == "bool" and not (instr.op is Op.WHERE and k == 0)
                else AsFloat(o) if a.type.dtype == "i64" and promote else o
                for k, (a, o) in enumerate(zip(instr.args, ops))]

    def candidate(self, instr: Instr, absorbed: bool) -> None:
        v = instr.result
        expr = self.faithful(instr)
        if not absorbed and self.ops(expr) > CAP:
            self.split(instr)
            expr = self.faithful(instr)
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

    def faithful(self, instr: Instr) -> sp.Expr:
        """The instruction's expression over its operands', with nothing SymPy's finite-number
        algebra cancelled: annihilating constants become literals, and when the census still
        changes (a function meeting its inverse, an inlined value cancelling against itself),
        the operands are cut and read as variables."""
        ops = self.numeric_operands(instr)
        if instr.op in _NUMPY and all(isinstance(o, (sp.Number, Literal)) for o in ops):
            return self.fold(instr, ops)
        ops = _opaque_constants(instr.op, ops)
        expr = self.build(instr, ops)
        # (SymPy takes `sqrt(-|x|)` for `I*sqrt(|x|)`: complex, where NumPy gives NaN)
        if self.census_ok(instr, ops, expr) and not expr.has(sp.I):
            return expr
        if self.absorbing:
            # a branch of a phi term has no place for a materialized value: plan again with
            # this IF as control flow
            raise _Unabsorb(self.absorbing[-1])
        for a in instr.args:
            self.cut(a, "SymPy would simplify it away against its consumer")
        ops = _opaque_constants(instr.op, self.numeric_operands(instr))
        # what remains are rewrites of one operation on distinct variables and numbers
        # (`x**0` is 1, `x*1` is x), which IEEE arithmetic agrees with
        return self.build(instr, ops)

    def fold(self, instr: Instr, ops: list[sp.Expr]) -> sp.Expr:
        """An operation on constants, by NumPy's arithmetic: SymPy's `log(-1)` is `I*pi`, its
        `0/0` is `nan` but `log(0)` is `zoo`; NumPy's are NaN, NaN and -inf."""
        with np.errstate(all="ignore"):
            value = float(_NUMPY[instr.op](*(np.float64(o.value if isinstance(o, Literal) else float(o))
                                             for o in ops)))
        return sympy_number(value) if math.isfinite(value) else _literal(value)

    def census_ok(self, instr: Instr, ops: list[sp.Expr], expr: sp.Expr) -> bool:
        # a number operand is part of the head (`u**2` reads u twice, `u**y` once)
        shape = tuple(o if isinstance(o, sp.Number) else isinstance(o, Boolean) for o in ops)
        key = (instr.op, tuple((type(o), o) for o in shape), id(instr.attrs.get("expr")))
        known = self.head_census.get(key)
        if known is None:
            holes = [o if isinstance(o, sp.Number) else sp.Dummy(f"h{k}") if o else
                     sp.Dummy(f"h{k}", real=True) for k, o in enumerate(shape)]
            head = _census(self.build(instr, holes), {})
            known = self.head_census[key] = (head, [head.pop(h, 0) for h in holes])
        head, reads = known
        expected = Counter(head)
        for o, n in zip(ops, reads):
            for k, m in _census(o, self.census_memo).items():
                expected[k] += n * m
        return _census(expr, self.census_memo) == expected

    def build(self, instr: Instr, ops: list[sp.Expr]) -> sp.Expr:
        op = instr.op
        if op in _SYMPY:
            if op in _GROUPED:   # an operand that is a sum, product or power stays one value
                ops = [Paren(o) for o in ops]
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
        self.absorbing.append(id(instr))
        for region in instr.regions:
            self.region(region, absorbed=True)
            branches.append([self.operand(y) for y in region.yields])
        self.absorbing.pop()
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
    kept: frozenset = frozenset()
    while True:
        try:
            return _Planner(fn, kept).run()
        except _Unabsorb as err:
            kept |= {err.args[0]}


def describe(plan: SegmentPlan, names: dict[int, str]) -> str:
    """One line per segment: its value, size, inputs and why it was cut."""
    lines = []
    for vid, reason in plan.materialized.items():
        expr = plan.expr[vid]
        inputs = ", ".join(s.name for s in sorted(expr.free_symbols, key=lambda s: s.name))
        lines.append(f"  {names.get(vid, vid)}: {op_count(expr)} ops over ({inputs}); cut: {reason}")
        lines.append(f"      = {expr}")
    return "\n".join(lines)
