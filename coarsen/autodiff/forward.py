"""Forward mode: an IR -> IR transformation that carries a tangent beside every active value.

`Forward(builder).run(fn, args, tangents)` re-emits the traced function `fn` into `builder`
with its parameters bound to `args` (IR values of the caller), and emits, next to each
instruction whose operands carry a tangent, the instructions that compute its tangent.
With no tangents it is a plain inliner (a traced function copied into another trace).

Why IR -> IR (and not generated source, as reverse mode is): the result is an ordinary
traced function, so everything downstream applies to it unchanged -- the passes, the
segments of interest (elementwise tangent ops fuse with their primal ops into one SymPy
expression per materialized value, CSE'd), code generation for every target, `vmap`, and
reverse mode itself. Reverse-over-forward is how coarsen composes transformations:
`grad(grad(f))`, `hvp`, `hessian` differentiate (in reverse) a forward-mode program.

Control flow stays structured: an IF yields the tangents of its results from both branches
(zeros where a branch has none); a FOR/WHILE carries a tangent for every carried float that
is active -- found by a fixed point, since a carry can become active through the back edge
(`s = s * x` with `s0 = 1.0`). Tangents are only ever attached to f64 values: integer and
boolean values (indices, conditions) have none, so conditions are never differentiated (the
derivative of the branch taken, as in reverse mode).

The JVP rules live in `TANGENT`, keyed by IR `Op` (the op registry may absorb them later).
"""
from __future__ import annotations

from typing import Callable

import sympy as sp

from coarsen.errors import UNKNOWN_LOC, UnsupportedError
from coarsen.ir.builder import Builder
from coarsen.ir.nodes import CONTROL, ELEMENTWISE, Function, Instr, Op, Region, Value
from coarsen.ir.types import I64

Tangent = Value | None
TANGENT: dict[Op, Callable] = {}
# ops whose results have no tangent (piecewise constant, integer/bool valued, or fresh)
NO_TANGENT = frozenset({
    Op.CONST, Op.SHAPE, Op.ZEROS, Op.ONES, Op.EMPTY, Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE,
    Op.NOT, Op.AND, Op.OR, Op.FLOORDIV, Op.SIGN,
})


def tangent_rule(*ops: Op):
    def register(fn):
        for op in ops:
            if op in TANGENT:
                raise KeyError(f"duplicate tangent rule for {op}")
            TANGENT[op] = fn
        return fn
    return register


class Forward:
    """Re-emits IR into a builder, with tangents (see the module docstring)."""

    def __init__(self, builder: Builder) -> None:
        self.b = builder
        self.env: dict[int, Value] = {}    # old value id -> new value
        self.tan: dict[int, Value] = {}    # old value id -> tangent (absent: zero)
        self.loc = UNKNOWN_LOC

    # ------------------------------------------------------------------ entry points
    def run(self, fn: Function, args: list[Value], tangents: list[Tangent]) -> tuple[list[Value], list[Tangent]]:
        """Emit `fn` applied to `args` (with these parameter tangents); its results and their
        tangents (None: zero)."""
        for p, a, t in zip(fn.params, args, tangents, strict=True):
            if a.type != p.type:
                raise UnsupportedError(f"{fn.name} was traced for a {p.type} argument `{p.hint}`, got {a.type}",
                                       fn.loc)
            self.env[p.id] = a
            if t is not None and p.type.dtype == "f64":
                self.tan[p.id] = self.fit(t, a)
        self.instrs(fn.body.instrs)
        return ([self.env[v.id] for v in fn.body.yields],
                [self.tan.get(v.id) for v in fn.body.yields])

    # ------------------------------------------------------------------ helpers
    def emit(self, op: Op, args, attrs: dict | None = None, loc=None, hint: str = "") -> Value:
        return self.b.emit(op, tuple(args), attrs or {}, loc if loc is not None else self.loc, hint)

    def const(self, value: float) -> Value:
        return self.b.const(float(value), self.loc)

    def zeros_like(self, v: Value) -> Value:
        if v.type.rank == 0:
            return self.const(0.0)
        dims = [self.emit(Op.SHAPE, (v,), {"dim": d}) for d in range(v.type.rank)]
        return self.emit(Op.ZEROS, dims)

    def fit(self, t: Value, like: Value) -> Value:
        """`t` as an f64 value of `like`'s rank (a scalar tangent of an array broadcasts)."""
        if t.type.dtype != "f64":
            t = self.emit(Op.CAST, (t,), {"dtype": "f64"})
        if t.type.rank < like.type.rank:
            t = self.emit(Op.ADD, (self.zeros_like(like), t))
        return t

    def or_zero(self, t: Tangent) -> Value:
        return t if t is not None else self.const(0.0)

    def add(self, a: Tangent, b: Tangent) -> Tangent:
        if a is None:
            return b
        if b is None:
            return a
        return self.emit(Op.ADD, (a, b))

    def mul(self, a: Value, t: Tangent) -> Tangent:
        return None if t is None else self.emit(Op.MUL, (a, t))

    # ------------------------------------------------------------------ instructions
    def instrs(self, instrs) -> None:
        for instr in instrs:
            self.loc = instr.loc
            if instr.op in CONTROL:
                self.control(instr)
            else:
                self.simple(instr)

    def simple(self, instr: Instr) -> None:
        args = [self.env[a.id] for a in instr.args]
        (old,) = instr.results
        if instr.op is Op.CONST:
            new = self.b.const(instr.attrs["value"], instr.loc, old.type)
        else:
            new = self.emit(instr.op, args, dict(instr.attrs), instr.loc, old.hint)
        self.env[old.id] = new
        tangents = [self.tan.get(a.id) for a in instr.args]
        if old.type.dtype != "f64" or all(t is None for t in tangents) or instr.op in NO_TANGENT:
            return
        rule = TANGENT.get(instr.op)
        if rule is None:
            raise UnsupportedError(f"forward mode does not support {instr.op.value} yet", instr.loc,
                                   "use reverse mode (coarsen.grad / coarsen.vjp / jacrev)")
        t = rule(self, instr, args, new, tangents)
        if t is not None:
            if new.type.rank and instr.op in ELEMENTWISE and any(
                    tt is None for a, tt in zip(instr.args, tangents) if a.type.rank):
                # an array operand without a tangent may be what sets the broadcast shape
                # (np.zeros((3, 4)) + x[:, None]): the tangent takes the result's shape
                t = self.emit(Op.ADD, (self.zeros_like(new), t))
            self.tan[old.id] = self.fit(t, new)

    def control(self, instr: Instr) -> None:
        {Op.IF: self.if_, Op.FOR: self.loop, Op.WHILE: self.loop}[instr.op](instr)

    def _region(self, region: Region, params: list[Value], active: list[int]):
        """Emit a region's body with `params` bound; (block, yields, yield tangents)."""
        with self.b.region() as block:
            self.instrs(region.instrs)
        return block, [self.env[y.id] for y in region.yields], [self.tan.get(y.id) for y in region.yields]

    def _close(self, block, ys: list[Value], ts: list[Tangent], active: list[int]) -> tuple[Value, ...]:
        """The yields of a region: its values, then the tangents of the active positions."""
        with self.b.reopen(block):
            extra = [self.fit(ts[k], ys[k]) if ts[k] is not None else self.zeros_like(ys[k]) for k in active]
        return tuple(ys) + tuple(extra)

    def if_(self, instr: Instr) -> None:
        cond = self.env[instr.args[0].id]
        branches = [self._region(r, [], []) for r in instr.regions]
        active = [k for k, r in enumerate(instr.results)
                  if r.type.dtype == "f64" and any(ts[k] is not None for _, _, ts in branches)]
        closed = [(block, self._close(block, ys, ts, active)) for block, ys, ts in branches]
        regions = tuple(Region((), tuple(block), yields) for block, yields in closed)   # after _close
        self._results(instr, (cond,), regions, active)

    def loop(self, instr: Instr) -> None:
        is_for = instr.op is Op.FOR
        bounds = [self.env[a.id] for a in instr.args[:3]] if is_for else []
        inits = [self.env[a.id] for a in instr.args[3 if is_for else 0:]]
        init_tans = [self.tan.get(a.id) for a in instr.args[3 if is_for else 0:]]
        active = {k for k, t in enumerate(init_tans) if t is not None and inits[k].type.dtype == "f64"}
        body = instr.regions[-1]
        while True:   # the active carries: a fixed point over the back edge
            order = sorted(active)
            regions, grown = [], set()
            for region in instr.regions:
                params = list(region.params)
                carried = params[1:] if is_for and region is body else params
                new_params = [self.b.new_value(p.type, p.hint) for p in params]
                for p, q in zip(params, new_params):
                    self.env[p.id] = q
                tparams = []
                for k in order:
                    t = self.b.new_value(carried[k].type, _tangent_hint(carried[k]))
                    self.tan[carried[k].id] = t
                    tparams.append(t)
                for k, p in enumerate(carried):
                    if k not in active:
                        self.tan.pop(p.id, None)
                block, ys, ts = self._region(region, new_params, order)
                if region is body:
                    grown = {k for k, t in enumerate(ts) if t is not None and k not in active
                             and ys[k].type.dtype == "f64"}
                regions.append((block, new_params + tparams, ys, ts))
            if not grown:
                break
            active |= grown
        closed = []
        for (block, params, ys, ts), region in zip(regions, instr.regions):
            yields = self._close(block, ys, ts, order) if region is body else tuple(ys)
            closed.append(Region(tuple(params), tuple(block), yields))
        init_t = [self.fit(init_tans[k], inits[k]) if init_tans[k] is not None else self.zeros_like(inits[k])
                  for k in order]
        self._results(instr, tuple(bounds + inits + init_t), tuple(closed), order)

    def _results(self, instr: Instr, args: tuple, regions: tuple, active: list[int]) -> None:
        types = [r.type for r in instr.results] + [instr.results[k].type for k in active]
        hints = [r.hint for r in instr.results] + [_tangent_hint(instr.results[k]) for k in active]
        new = self.b.emit_control(instr.op, args, types, regions, instr.loc, hints, dict(instr.attrs))
        n = len(instr.results)
        for old, v in zip(instr.results, new[:n]):
            self.env[old.id] = v
            self.tan.pop(old.id, None)
        for k, t in zip(active, new[n:]):
            self.tan[instr.results[k].id] = t


def _tangent_hint(v: Value) -> str:
    return f"{v.hint}_dot" if v.hint else ""


# ---------------------------------------------------------------------- rules
# rule(fw, instr, args (new), result (new), tangents of the args) -> tangent or None

@tangent_rule(Op.ADD)
def _add(fw, instr, args, r, ts):
    return fw.add(*ts)


@tangent_rule(Op.SUB)
def _sub(fw, instr, args, r, ts):
    da, db = ts
    if db is None:
        return da
    neg = fw.emit(Op.NEG, (db,))
    return neg if da is None else fw.emit(Op.SUB, (da, db))


@tangent_rule(Op.NEG)
def _neg(fw, instr, args, r, ts):
    return fw.emit(Op.NEG, (ts[0],))


@tangent_rule(Op.CAST, Op.COPY, Op.TRANSPOSE)
def _same_op(fw, instr, args, r, ts):
    if instr.op is Op.CAST:
        return ts[0]
    return fw.emit(instr.op, (ts[0],), dict(instr.attrs))


@tangent_rule(Op.MUL)
def _mul(fw, instr, args, r, ts):
    (a, b), (da, db) = args, ts
    return fw.add(fw.emit(Op.MUL, (da, b)) if da is not None else None,
                  fw.emit(Op.MUL, (a, db)) if db is not None else None)


@tangent_rule(Op.DIV)
def _div(fw, instr, args, r, ts):
    (a, b), (da, db) = args, ts
    num = da
    if db is not None:
        rdb = fw.emit(Op.MUL, (r, db))
        num = fw.emit(Op.NEG, (rdb,)) if da is None else fw.emit(Op.SUB, (da, rdb))
    return fw.emit(Op.DIV, (num, b))


@tangent_rule(Op.POW)
def _pow(fw, instr, args, r, ts):
    (a, b), (da, db) = args, ts
    out = None
    if da is not None:   # b * a**(b-1) * da
        lower = fw.emit(Op.POW, (a, fw.emit(Op.SUB, (b, fw.b.const(1)))))
        out = fw.emit(Op.MUL, (fw.emit(Op.MUL, (b, lower)), da))
    if db is not None:   # a**b * log(a) * db
        out = fw.add(out, fw.emit(Op.MUL, (fw.emit(Op.MUL, (r, fw.emit(Op.LOG, (a,)))), db)))
    return out


def _unary(op: Op, factor: Callable):
    @tangent_rule(op)
    def rule(fw, instr, args, r, ts):
        return fw.emit(Op.MUL, (factor(fw, args[0], r), ts[0]))
    return rule


def _e(fw, op, *args):
    return fw.emit(op, args)


_unary(Op.EXP, lambda fw, a, r: r)
_unary(Op.LOG, lambda fw, a, r: _e(fw, Op.DIV, fw.const(1.0), a))
_unary(Op.LOG1P, lambda fw, a, r: _e(fw, Op.DIV, fw.const(1.0), _e(fw, Op.ADD, fw.const(1.0), a)))
_unary(Op.EXPM1, lambda fw, a, r: _e(fw, Op.ADD, r, fw.const(1.0)))
_unary(Op.SQRT, lambda fw, a, r: _e(fw, Op.DIV, fw.const(0.5), r))
_unary(Op.SIN, lambda fw, a, r: _e(fw, Op.COS, a))
_unary(Op.COS, lambda fw, a, r: _e(fw, Op.NEG, _e(fw, Op.SIN, a)))
_unary(Op.TAN, lambda fw, a, r: _e(fw, Op.ADD, fw.const(1.0), _e(fw, Op.MUL, r, r)))
_unary(Op.TANH, lambda fw, a, r: _e(fw, Op.SUB, fw.const(1.0), _e(fw, Op.MUL, r, r)))
_unary(Op.ARCTAN, lambda fw, a, r: _e(fw, Op.DIV, fw.const(1.0), _e(fw, Op.ADD, fw.const(1.0), _e(fw, Op.MUL, a, a))))
_unary(Op.SINH, lambda fw, a, r: _e(fw, Op.COSH, a))
_unary(Op.COSH, lambda fw, a, r: _e(fw, Op.SINH, a))
_unary(Op.ABS, lambda fw, a, r: _e(fw, Op.SIGN, a))   # 0 at 0, as reverse mode's Sign


@tangent_rule(Op.MAXIMUM, Op.MINIMUM)
def _extreme2(fw, instr, args, r, ts):
    # at a tie the first argument takes the derivative (phicalc's Maximum / Minimum)
    a, b = args
    first = fw.emit(Op.GE if instr.op is Op.MAXIMUM else Op.LE, (a, b))
    return fw.emit(Op.WHERE, (first, fw.or_zero(ts[0]), fw.or_zero(ts[1])))


@tangent_rule(Op.WHERE)
def _where(fw, instr, args, r, ts):
    return fw.emit(Op.WHERE, (args[0], fw.or_zero(ts[1]), fw.or_zero(ts[2])))


@tangent_rule(Op.CLIP)
def _clip(fw, instr, args, r, ts):
    # phicalc's Clip: hi when x > hi or lo > hi, else lo when x < lo, else x
    x, lo, hi = args
    dx, dlo, dhi = (fw.or_zero(t) for t in ts)
    high = fw.emit(Op.OR, (fw.emit(Op.GT, (x, hi)), fw.emit(Op.GT, (lo, hi))))
    low = fw.emit(Op.LT, (x, lo))
    return fw.emit(Op.WHERE, (high, dhi, fw.emit(Op.WHERE, (low, dlo, dx))))


@tangent_rule(Op.MOD)
def _mod(fw, instr, args, r, ts):
    (a, b), (da, db) = args, ts
    if db is None:
        return da
    term = fw.emit(Op.MUL, (fw.emit(Op.FLOORDIV, (a, b)), db))
    return fw.emit(Op.NEG, (term,)) if da is None else fw.emit(Op.SUB, (da, term))


@tangent_rule(Op.SUM, Op.MEAN)
def _linear_reduction(fw, instr, args, r, ts):
    return fw.emit(instr.op, (ts[0],), dict(instr.attrs))


@tangent_rule(Op.MAX, Op.MIN)
def _extremum(fw, instr, args, r, ts):
    """The tangent at the first position where x equals the extremum (in C order, or along the
    axis; the first NaN where the extremum is NaN): reverse mode's rule (`rt.extremum_mask_*`), so that at a tie both modes agree. A
    counted loop over the positions (or over the axis) carries the tangent found so far."""
    (x,), (dx,) = args, ts
    axis, keep = instr.attrs.get("axis"), bool(instr.attrs.get("keepdims"))
    b = fw.b
    if axis is None:
        size = b.const(1)
        for d in range(x.type.rank):
            size = fw.emit(Op.MUL, (size, fw.emit(Op.SHAPE, (x,), {"dim": d})))
        xs, dxs = (fw.emit(Op.RESHAPE, (v, size)) for v in (x, dx))
        target = fw.emit(instr.op, (x,), {"axis": None, "keepdims": False})
        pattern, count, init_t, init_found = ("i",), size, fw.const(0.0), b.const(False)
    else:
        axis = axis % x.type.rank
        xs, dxs = x, dx
        target = fw.emit(instr.op, (x,), {"axis": axis, "keepdims": False})
        pattern = tuple("i" if d == axis else "s000" for d in range(x.type.rank))
        count = fw.emit(Op.SHAPE, (x,), {"dim": axis})
        init_t = fw.zeros_like(target)
        init_found = fw.emit(Op.CAST, (fw.zeros_like(target),), {"dtype": "bool"})
    i = b.new_value(I64, "k")
    t_param, found_param = b.new_value(init_t.type, "ext_dot"), b.new_value(init_found.type, "found")
    with b.region() as block:
        xi = fw.emit(Op.GETITEM, (xs, i), {"index": pattern})
        dxi = fw.emit(Op.GETITEM, (dxs, i), {"index": pattern})
        reached = fw.emit(Op.EQ, (xi, target))
        if x.type.dtype == "f64":   # MAX/MIN propagate NaN: the first NaN is the one picked
            nan_here = fw.emit(Op.AND, (fw.emit(Op.NE, (xi, xi)), fw.emit(Op.NE, (target, target))))
            reached = fw.emit(Op.OR, (reached, nan_here))
        hit = fw.emit(Op.AND, (reached, fw.emit(Op.NOT, (found_param,))))
        t_next = fw.emit(Op.WHERE, (hit, dxi, t_param))
        found_next = fw.emit(Op.OR, (found_param, hit))
    body = Region((i, t_param, found_param), tuple(block), (t_next, found_next))
    t, _ = b.emit_control(Op.FOR, (b.const(0), count, b.const(1), init_t, init_found),
                          [init_t.type, init_found.type], (body,), fw.loc, ["ext_dot", "found"])
    if keep:
        if axis is None:   # a (1, ..., 1) array (Numba cannot index a float with None)
            ones = fw.emit(Op.ZEROS, (b.const(1),) * x.type.rank)
            return fw.emit(Op.ADD, (ones, t))
        pattern_keep = tuple("n" if d == axis else "s000" for d in range(x.type.rank))
        t = fw.emit(Op.GETITEM, (t,), {"index": pattern_keep})
    return t


@tangent_rule(Op.MATMUL)
def _matmul(fw, instr, args, r, ts):
    (a, b), (da, db) = args, ts
    return fw.add(fw.emit(Op.MATMUL, (da, b)) if da is not None else None,
                  fw.emit(Op.MATMUL, (a, db)) if db is not None else None)


@tangent_rule(Op.RESHAPE)
def _reshape(fw, instr, args, r, ts):
    return fw.emit(Op.RESHAPE, (ts[0], *args[1:]), dict(instr.attrs))


@tangent_rule(Op.STACK)
def _stack(fw, instr, args, r, ts):
    return fw.emit(Op.STACK, tuple(fw.or_zero(t) for t in ts), dict(instr.attrs))


@tangent_rule(Op.GETITEM)
def _getitem(fw, instr, args, r, ts):
    if ts[0] is None:
        return None
    return fw.emit(Op.GETITEM, (ts[0], *args[1:]), dict(instr.attrs))


@tangent_rule(Op.SETITEM)
def _setitem(fw, instr, args, r, ts):
    x, *rest = args
    *idx, v = rest
    dx, dv = ts[0], ts[-1]
    base = dx if dx is not None else fw.zeros_like(x)
    if dv is None and "a" in instr.attrs["index"]:   # through index arrays: v has its full shape
        dv = fw.zeros_like(v)
    return fw.emit(Op.SETITEM, (base, *idx, fw.or_zero(dv)), dict(instr.attrs))


@tangent_rule(Op.EXPR)
def _expr(fw, instr, args, r, ts):
    """A closed-form term: its tangent is sum_i d expr / d s_i * t_i, differentiated by SymPy
    (phicalc's terms carry their own derivative rules)."""
    expr, symbols = instr.attrs["expr"], instr.attrs["symbols"]
    out_expr, out_args, out_syms = sp.S.Zero, list(args), list(symbols)
    for k, (s, t) in enumerate(zip(symbols, ts)):
        if t is None:
            continue
        ts_sym = sp.Dummy(f"t{k}", real=True)
        out_expr += sp.diff(expr, s) * ts_sym
        out_args.append(t)
        out_syms.append(ts_sym)
    return fw.emit(Op.EXPR, out_args, {"expr": out_expr, "symbols": tuple(out_syms)})


def jvp_function(fn: Function, wrt: list[int]) -> Function:
    """`fn` extended with one tangent parameter per position in `wrt` (after its own
    parameters) and one tangent result per result (after its own results; zeros where a
    result does not depend on the differentiated parameters). Results must be floats."""
    from coarsen.ir.verifier import verify
    for r in fn.results:
        if r.type.dtype != "f64":
            raise UnsupportedError(f"forward mode needs float outputs; {fn.name} returns {r.type}", fn.loc)
    b = Builder()
    params = [b.new_value(p.type, p.hint) for p in fn.params]
    tparams = [b.new_value(fn.params[k].type, _tangent_hint(fn.params[k])) for k in wrt]
    tangents: list[Tangent] = [None] * len(params)
    for k, t in zip(wrt, tparams):
        tangents[k] = t
    fw = Forward(b)
    fw.loc = fn.loc
    outs, touts = fw.run(fn, params, tangents)
    touts = [t if t is not None else fw.zeros_like(o) for o, t in zip(outs, touts)]
    names = {fw.env[old].id: name for old, name in fn.names.items() if old in fw.env}
    from coarsen import tree
    arg_tree = ("tuple", tuple(fn.arg_tree[1]) + tuple(tree.LEAF for _ in wrt))
    result_tree = ("tuple", (fn.result_tree, fn.result_tree))
    out = Function(f"{fn.name}_jvp", tuple(params + tparams), Region((), tuple(b.current), tuple(outs + touts)),
                   arg_tree, result_tree, fn.loc, fn.sources, names, fn.inlined)
    return verify(out, "forward")


__all__ = ["Forward", "TANGENT", "jvp_function", "tangent_rule"]


def _via_sympy_form(spec) -> Callable:
    """The tangent of a registry elementwise op without a rule above: its SymPy form as an
    EXPR term, differentiated by the EXPR rule."""
    def rule(fw, instr, args, r, ts):
        symbols = tuple(sp.Dummy(f"a{k}", real=True) for k in range(len(args)))
        term = Instr(Op.EXPR, instr.args, instr.results,
                     {"expr": spec.sympy(*symbols), "symbols": symbols}, loc=instr.loc)
        return _expr(fw, term, args, r, ts)
    return rule


def _from_registry() -> None:
    """From the op registry (`coarsen.ops`): structural ops' JVP rules, every symbolic
    elementwise op that has no rule above, and the ops declared without a derivative."""
    global NO_TANGENT
    from coarsen.ops import REGISTRY

    NO_TANGENT = NO_TANGENT | frozenset(Op[s.member] for s in REGISTRY.entries.values() if not s.differentiable)
    for spec in REGISTRY.entries.values():
        op = Op[spec.member]
        if op in TANGENT or op in NO_TANGENT:
            continue
        if spec.kind == "structural" and spec.jvp is not None:
            TANGENT[op] = spec.jvp
        elif spec.kind == "elementwise" and spec.sympy is not None:
            TANGENT[op] = _via_sympy_form(spec)


_from_registry()
