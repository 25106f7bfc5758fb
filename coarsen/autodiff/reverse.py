"""Reverse mode over segments: the derivative program of a `Function`, as Python source.

Input: a verified `Function`, the positions of the parameters to differentiate, and whether
the caller wants the value too. Output: source of one function
`name(*params, *cotangents) -> (outputs, gradients)`.

The backward pass is emitted first (so we know which forward values it reads), then the
forward pass, keeping only the work those values and the outputs need:
- a segment (see `coarsen.segments`) contributes `d_input += <CSE'd symbolic VJP>`;
- other ops use their rule in `rules.DERIVATIVES`;
- an IF runs the backward of the branch the forward took (its condition is kept);
- a loop runs its body's backward once per forward iteration, in reverse, popping from its
  tape the values the forward recorded: one record per iteration, not per op.
Adjoints of arrays that receive in-place updates (scatter-adds) own their buffer; every
other adjoint may alias the expression it was first assigned.
"""
from __future__ import annotations

import re

import sympy as sp

from coarsen.autodiff.activity import active_values
from coarsen.autodiff.rules import DERIVATIVES
from coarsen.codegen.bounds import drop_checks
from coarsen.codegen.inplace import BufferVersions, written_params
from coarsen.codegen.forward import ForwardEmitter, Program, fused_kernel, needed_values
from coarsen.codegen.source import Code
from coarsen.errors import InternalError
from coarsen.ir.nodes import Function, Instr, Op, Region, Value, raises
from coarsen.ir.types import Type
from coarsen.segments import _free_values, plan_segments
from phicalc.diff import vjp
from coarsen.ops import to_source
from phicalc.emit import cse


# Segment derivatives read the segment's own forward value (see `Reverse.segment`); False
# recomputes it, as before #14: `python -m benchmarks.adbench.ab` measures both in one process.
REUSE_OWN_VALUES = True

# Transcendental functions (by SymPy name) whose value inside a loop body's segment is kept for
# the backward (taped) when the segment's derivative reads it, instead of computed again there
# (`Reverse.keep_transcendentals`). An LSTM cell's sigmoid/tanh gates: the derivatives of
# 1/(1 + exp(-u)) and tanh(u) are exp(-u)/(1 + exp(-u))**2 and 1 - tanh(u)**2.
KEPT_FUNCTIONS = frozenset({"exp", "log", "tanh", "sinh", "cosh", "sin", "cos", "tan", "atan",
                            "asin", "acos", "asinh", "acosh", "atanh", "erf", "erfc"})


class Reverse:
    def __init__(self, fn: Function, wrt: list[int], fuse: bool = False, plan=None,
                 keep_none_of: frozenset = frozenset()) -> None:
        self.fn = fn
        self.plan = plan if plan is not None else plan_segments(fn)
        self._args = (wrt, fuse)
        self.keep_none_of = keep_none_of   # segments whose transcendentals are not kept
        self.prog = Program(fn, self.plan)
        self.prog.fuse = fuse
        self.wrt = [fn.params[k] for k in wrt]
        self.outputs = list(fn.body.yields)
        self.active = active_values(fn, [p.id for p in self.wrt], [o.id for o in self.outputs])
        self.refs: set[int] = set()          # forward values the backward reads
        self.shape_refs: set[int] = set()    # forward values whose shape the backward reads
        self.scatter = self._scatter_targets()
        self.pushes: dict[int, list[Value]] = {}
        self.tapes: dict[int, str] = {}
        # tapes held in a preallocated float64 array (id(region) -> the counted loop that
        # bounds its records), not a list: see `array_tape_bound`
        self.array_tapes: dict[int, tuple[Instr, ...]] = {}
        self.shape_only: set[int] = set()   # taped values whose records are their shapes
        self.counts: dict[int, str] = {}
        self.remat: set[int] = set()         # loop-body values the backward recomputes
        # values of transcendental subexpressions that a loop body's segment computes for its
        # backward (`keep_transcendentals`): id(region) -> those values; segment id -> its owner
        self.kept: dict[int, list[Value]] = {}
        self.kept_owner: dict[int, int] = {}
        self._next_id = 1 + max([p.id for p in fn.params] + [x.id for i in _walk(fn.body) for x in i.results]
                                + [p.id for i in _walk(fn.body) for sub in i.regions for p in sub.params])
        # adjoint variables known to hold a writable buffer of their own (a fresh copy, a loop
        # carry, or one handed over whole from such a variable): no copy needed to update it
        self.exclusive: set[str] = set()

    # ---------------------------------------------------------------- names
    def ref(self, v: Value) -> str:
        if v.id not in self.prog.fixed:
            self.refs.add(v.id)
        return self.prog.src(v)

    def shape(self, v: Value) -> str:
        self.shape_refs.add(v.id)
        if self.prog.def_region.get(v.id) is self.fn.body and v.id in self.plan.leaves:
            # resolved in `emit`: a top-level array segment the gradient reads only for its
            # shape need not be computed, its leaves' broadcast shape is the same
            return f"__shape_{v.id}__"
        return f"np.shape({self.prog.name(v)})"

    def resolve_shapes(self, code: Code) -> None:
        """Replace each shape placeholder: `np.shape(v)` when v is computed anyway, else the
        broadcast shape of its segment's leaves (recursively)."""
        memo: dict[int, tuple[str, ...]] = {}

        def shapes(vid: int) -> tuple[str, ...]:
            """The distinct `np.shape(...)` terms whose broadcast is v's shape (broadcasting is
            associative and commutative: a chain of segments gives one flat set, not a nest
            as deep as the chain, which Python's parser refuses past 200 parentheses)."""
            if vid in memo:
                return memo[vid]
            v = self.plan.values.get(vid) or next(p for p in self.fn.params if p.id == vid)
            leaves = self.plan.leaves.get(vid)
            if vid in self.refs or not leaves:
                self.shape_refs.add(vid)
                out: tuple[str, ...] = (f"np.shape({self.prog.name(v)})",)
            else:
                parts = [shapes(w.id) if w.id in self.plan.leaves and self.prog.def_region.get(w.id)
                         is self.fn.body else (self._leaf_shape(w),) for w in leaves]
                out = tuple(dict.fromkeys(t for part in parts for t in part))
            memo[vid] = out
            return out

        def balanced(terms: tuple[str, ...]) -> str:
            if len(terms) == 1:
                return terms[0]
            half = len(terms) // 2
            return f"rt.broadcast_shapes({balanced(terms[:half])}, {balanced(terms[half:])})"

        placeholders = {vid for vid in self.shape_refs if f"__shape_{vid}__" in "\n".join(code.lines)}
        for vid in placeholders:
            self.shape_refs.discard(vid)
        texts = {vid: balanced(shapes(vid)) for vid in placeholders}
        code.lines = [_substitute_shapes(line, texts) for line in code.lines]

    def _leaf_shape(self, w: Value) -> str:
        self.shape_refs.add(w.id)
        return f"np.shape({self.prog.name(w)})"

    def d(self, v: Value) -> str:
        return "d_" + self.prog.name(v)

    def zero(self, v: Value) -> str:
        return f"np.zeros({self.shape(v)})" if v.type.rank else "0.0"

    # ---------------------------------------------------------------- accumulation
    def _scatter_targets(self) -> set[int]:
        out: set[int] = set()
        for instr in _walk(self.fn.body):
            if instr.op in (Op.GETITEM, Op.TAKE):   # their adjoints scatter-add in place
                out.add(instr.args[0].id)
            elif instr.op is Op.SETITEM:
                out.add(instr.result.id)
        return out

    def ensure(self, v: Value, code: Code, declared: set[int]) -> None:
        if v.id not in declared:
            code.line(f"{self.d(v)} = {self.zero(v)}")
            declared.add(v.id)

    def accum(self, v: Value, expr: str, code: Code, declared: set[int], owned: bool = False) -> None:
        """d_v += expr. `owned`: expr is an adjoint nobody reads afterwards (may be taken over)."""
        if v.id not in self.active or v.id in self.prog.fixed:
            return
        dv = self.d(v)
        if v.id in declared:
            if v.id in self.scatter and v.type.rank:
                code.line(f"{dv} += {expr}")
            else:
                code.line(f"{dv} = {dv} + {expr}")
            return
        if v.id in self.scatter and v.type.rank and not owned:
            code.line(f"{dv} = rt.fresh({expr})")
            self.exclusive.add(dv)
        else:
            code.line(f"{dv} = {expr}")
            if owned and expr in self.exclusive:
                self.exclusive.add(dv)
        declared.add(v.id)

    # ---------------------------------------------------------------- regions
    def region(self, region: Region, code: Code, declared: set[int]) -> None:
        for instr in reversed(region.instrs):
            self.instr(instr, code, declared)

    def instr(self, instr: Instr, code: Code, declared: set[int]) -> None:
        if instr.op is Op.CONST:
            return
        if instr.results and instr.results[0].id in self.plan.candidates:
            for r in reversed(instr.results):
                if r.id in self.plan.materialized:
                    self.segment(r, code, declared)
            return
        if not any(r.id in self.active and r.id in declared for r in instr.results):
            return
        if instr.op is Op.IF:
            self.if_(instr, code, declared)
        elif instr.op in (Op.FOR, Op.WHILE):
            self.loop(instr, code, declared)
        else:
            rule = DERIVATIVES.get(instr.op)
            if rule is None:
                raise InternalError(f"no derivative rule for {instr.op.value} (pass 'autodiff')", instr.loc)
            rule(self, instr, code, declared)

    def segment(self, v: Value, code: Code, declared: set[int]) -> None:
        if v.id not in declared:
            return
        inputs = [s for s in self.plan.inputs(v.id) if s.id in self.active]
        if not inputs:
            return
        expr = self.plan.expr[v.id]
        dsym = sp.Symbol(self.d(v), real=True)
        # one symbol per read of an input that could not merge with the others (`x_1 - x_2`
        # must not become 0): the input's derivative is the sum over its occurrences
        reads = [self.plan.occurrences(v.id, s) for s in inputs]
        flat = vjp([expr], [o for occ in reads for o in occ], [dsym])
        grads, k = [], 0
        for occ in reads:
            grads.append(sp.Add(*flat[k:k + len(occ)]))
            k += len(occ)
        own = self.plan.symbol.get(v.id)
        if REUSE_OWN_VALUES and own is not None and self.prog.def_region.get(v.id) is self.fn.body \
                and isinstance(expr, sp.Expr) and not expr.is_Atom:
            # the derivative of exp(u) (sigmoid, tanh, a power, ...) holds the segment's own
            # expression: read the value the forward computed instead of computing it again. Top
            # level only: in a loop body that value would be a tape record per iteration.
            grads = [g.xreplace({expr: own}) for g in grads]
        if REUSE_OWN_VALUES and not self.prog.fuse and isinstance(expr, sp.Expr):
            grads = self.keep_transcendentals(v, expr, grads)
        pairs = [(s, g) for s, g in zip(inputs, grads) if g != 0]
        if not pairs:
            return
        array = self.prog.is_array_expr(v.id)
        for sym in set().union(*(g.free_symbols for _, g in pairs)):
            if sym in self.plan.value_of:
                self.ref(self.plan.value_of[sym])
        if array and self.prog.fuse:   # every input's contribution from one GPU kernel
            name, operands = fused_kernel(self.prog, [g for _, g in pairs], [dsym] if v.type.rank else [])
            out = self.prog.names.reserve("_g")
            code.line(f"{out} = rt.fused({name}, {len(pairs)}, {', '.join(o.name for o in operands)})")
            for k, (s, _) in enumerate(pairs):
                src = f"{out}[{k}]"
                src = f"rt.unbroadcast({src}, {self.shape(s)})" if s.type.rank else f"rt.to_scalar({src})"
                self.accum(s, src, code, declared)
            return
        assigns, reduced = cse([g for _, g in pairs])
        rename = {t: sp.Symbol(f"_{t.name}", real=True) for t, _ in assigns}
        for t, value in assigns:
            code.line(f"_{t.name} = {to_source(value.xreplace(rename), array)}")
        for (s, _), g in zip(pairs, reduced):
            src = to_source(g.xreplace(rename), array)
            if array:
                src = f"rt.unbroadcast({src}, {self.shape(s)})" if s.type.rank else f"rt.to_scalar({src})"
            self.accum(s, src, code, declared)

    def keep_transcendentals(self, v: Value, expr: sp.Expr, grads: list) -> list:
        """In a loop body, the forward keeps each transcendental subexpression of v's segment
        that the derivative reads (`exp(-u)` of a sigmoid, `tanh(u)`) as a value of its own,
        and the backward reads that value (from the loop's tape) instead of computing the
        function again: one record per iteration either way where the function's operand was
        read only through it (the operand's record is then dropped), and no exp or tanh in the
        backward. Innermost first, so `exp(tanh(u))` keeps both. The values are the same
        numbers the forward computed, so the derivatives are unchanged bit for bit up to
        the expression's own rounding (the forward's CSE already computed each once)."""
        region = self.prog.def_region.get(v.id)
        if region is None or region is self.fn.body or self.prog.loop_of.get(id(region)) is None \
                or v.id in self.keep_none_of:
            return grads
        kept: list[tuple[sp.Symbol, sp.Expr]] = []
        subs: dict[sp.Expr, sp.Symbol] = {}
        for node in sp.postorder_traversal(expr):
            if not (isinstance(node, sp.Function) and node.func.__name__ in KEPT_FUNCTIONS):
                continue
            if node in subs:
                continue
            here = node.xreplace(subs)
            if not any(g.has(here) for g in grads):
                continue
            if here == expr.xreplace(subs):
                # the segment is the function itself (`e = np.exp(u)`): its own value
                grads = [g.xreplace({here: self.plan.symbol[v.id]}) for g in grads]
                self.ref(v)
                break
            rank = max((self.plan.value_of[s].type.rank for s in here.free_symbols
                        if s in self.plan.value_of), default=0)
            w = Value(self._next_id, Type("f64", rank), "")
            self._next_id += 1
            name = self.prog.names.reserve(f"_k_{node.func.__name__}_{self.prog.name(v)}")
            self.prog.names.names[w.id] = name
            sym = sp.Symbol(name, real=True)
            self.plan.value_of[sym] = w
            self.prog.def_region[w.id] = region
            self.kept.setdefault(id(region), []).append(w)
            self.kept_owner[w.id] = v.id
            grads = [g.xreplace({here: sym}) for g in grads]
            subs[node] = sym
            kept.append((sym, here))
        if kept:
            self.prog.kept_subexpressions[v.id] = kept
        return grads

    def predeclare(self, instr: Instr, code: Code, declared: set[int]) -> None:
        """Adjoints that a nested region adds to must exist before the region's backward."""
        for sub in instr.regions:
            for v in _free_values(sub):
                if v.id in self.active and v.id not in self.prog.fixed:
                    self.ensure(v, code, declared)

    def nested(self, region: Region, prologue, code: Code, declared: set[int]) -> Code:
        """The backward of a region in its own scope, preceded by its tape pop (if any)."""
        inner = Code()
        scope = set(declared)
        prologue(inner, scope)
        self.region(region, inner, scope)
        local = {p.id for p in region.params} | {r.id for i in _walk(region) for r in i.results}
        local |= {p.id for i in _walk(region) for sub in i.regions for p in sub.params}
        escaped = [v for v in scope - declared if v not in local]
        if escaped:   # its contributions would be lost outside the region: fail loudly instead
            raise InternalError(f"adjoint of value(s) {escaped} defined outside a region first assigned "
                                "inside it (pass 'autodiff'; missing predeclaration)", self.fn.loc)
        return inner, scope

    def finish_nested(self, region: Region, inner: Code, code: Code, counted: Instr | None = None) -> None:
        """Write a region's backward after what it needs from its forward run: values that a
        counted loop's body can recompute from the index and loop invariants are recomputed
        (rematerialised: no memory traffic), the rest pop from the region's tape."""
        loop = self.prog.loop_of[id(region)]
        if loop is not None:
            local = [p for p in region.params] + [r for i in region.instrs for r in i.results]
            local += self.kept.get(id(region), [])
            needs = [v for v in local if (v.id in self.refs or v.id in self.shape_refs)
                     and v.id not in self.prog.fixed]
            remat = self.rematerialisable(region, counted) if counted is not None else {}
            recompute = [v for v in needs if v.id in remat]
            needs = [v for v in needs if v.id not in remat]
            if needs:
                self.pushes[id(region)] = needs
                # one stack per region: its records all have the same types (Numba lists are
                # homogeneous), and each region's records come back in reverse order
                tape = self.tapes.setdefault(id(region), self.prog.names.reserve("tape"))
                bound = self.array_tape_bound(region, needs)
                if bound is not None:
                    self.array_tapes[id(region)] = bound
                    code.line(f"{tape}_n -= 1")
                    for k, v in enumerate(needs):
                        read = f"{tape}[{tape}_n, {k}]"
                        code.line(f"{self.prog.name(v)} = {read}" + (" != 0.0" if v.type.dtype == "bool" else ""))
                else:
                    shapes = self.shape_records(needs, inner)
                    names = ", ".join(shapes.get(v.id, self.prog.name(v)) for v in needs)
                    code.line(f"{names}, = {tape}.pop()")
            if recompute:
                self.recompute(region, counted, recompute, remat, code)
        code.extend(inner)

    def shape_records(self, needs: list[Value], inner: Code) -> dict[int, str]:
        """Array values the region's backward reads only as `np.shape(v)` (an unbroadcast to an
        operand's shape): their records hold the shape, not a copy of the array (ODE's RK
        stages: 4 of 8 arrays per step), and `inner` reads a name bound to it. -> value id ->
        that name."""
        out: dict[int, str] = {}
        text = "\n".join(inner.lines)
        for v in needs:
            if not v.type.rank or v.id in self.refs:
                continue
            name = self.prog.name(v)
            call = re.compile(rf"\bnp\.shape\({re.escape(name)}\)")
            if re.search(rf"(?<![\w.]){re.escape(name)}\b", call.sub("", text)):
                continue   # read some other way as well: keep the array
            shape = self.prog.names.reserve(f"{name}_shape")
            inner.lines = [call.sub(shape, line) for line in inner.lines]
            text = call.sub(shape, text)
            out[v.id] = shape
            self.shape_only.add(v.id)
        return out

    def array_tape_bound(self, region: Region, needs: list[Value]) -> tuple[Instr, ...] | None:
        """The counted loops that bound how often `region` runs (outermost first), when its
        records can live in a float64 array allocated before the outermost (one row per
        record, a counter as the stack pointer): every record field a float or bool, and either
        the region inside exactly one loop, a `for` over a range in the function's top level
        (IF branches in between run at most once per iteration), or the body of a nest of
        `for` loops, the outermost at top level, whose inner ranges are fixed before it (so
        the rows are the product of the trip counts, all of them used: k-means' distance to
        each center of each point). Arrays instead of lists: ~17% off CartPole's gradient
        call, as no list is allocated, grown or boxed. Not on cuda, whose host arrays live on
        the GPU."""
        if self.prog.fuse or any(v.type.rank or v.type.dtype not in ("f64", "bool") for v in needs):
            return None
        loop = self.prog.loop_of[id(region)]
        if loop is None or loop.op is not Op.FOR:
            return None
        chain = [loop]
        while self.prog.parent[id(chain[0].regions[0])] is not self.fn.body:
            if region is not chain[-1].regions[0]:
                return None   # a branch inside a nest: rows for every trip would be too many
            outer_region = self.prog.parent[id(chain[0].regions[0])]
            outer = self.prog.loop_of[id(outer_region)]
            if outer is None or outer.op is not Op.FOR or outer_region is not outer.regions[0]:
                return None
            fixed = {p.id for p in self.fn.params} | self.prog.fixed
            if any(self.prog.def_region.get(a.id) is not self.fn.body and a.id not in fixed
                   for a in chain[0].args[:3]):
                return None   # a range that changes with the outer loop's index
            chain.insert(0, outer)
        return tuple(chain)

    def rematerialisable(self, body: Region, loop: Instr) -> dict[int, list[Value]]:
        """Body values computable from the index and loop invariants alone -> their inputs."""
        index = body.params[0]
        local = {p.id for p in body.params} | {r.id for i in body.instrs for r in i.results}
        deps: dict[int, list[Value]] = {index.id: []}
        for instr in body.instrs:
            if instr.regions or instr.op is Op.SETITEM or len(instr.results) != 1:
                continue
            r = instr.result
            if r.id in self.plan.candidates:
                if r.id not in self.plan.materialized:
                    continue
                inputs = self.plan.reads(r.id)   # with the leaves a lost shape reads
            else:
                inputs = list(instr.args)
            if all(a.id in deps or a.id not in local or a.id in self.prog.fixed for a in inputs):
                deps[r.id] = inputs
        return deps

    def recompute(self, body: Region, loop: Instr, values: list[Value], deps, code: Code) -> None:
        closure: set[int] = set()
        todo = [v.id for v in values]
        while todo:
            v = todo.pop()
            if v in closure or v not in deps:
                continue
            closure.add(v)
            todo.extend(a.id for a in deps[v])
        local = {p.id for p in body.params} | {r.id for i in body.instrs for r in i.results}
        for v in closure:
            for a in deps[v]:
                if a.id not in local:
                    self.ref(a)   # the recomputation reads this invariant
        self.remat |= closure
        index = body.params[0]
        if index.id in closure:
            self.ref(loop.args[0])   # the backward loop runs the index itself (`Reverse.loop`'s header)
            self.ref(loop.args[2])
        emitter = ForwardEmitter(self.prog, closure, {}, {}, {}, lambda instr: False)
        emitter.mark_checks = True
        for instr in body.instrs:
            if any(r.id in closure for r in instr.results):
                emitter.instr(instr, code)

    def if_(self, instr: Instr, code: Code, declared: set[int]) -> None:
        self.predeclare(instr, code, declared)
        live = [(k, r) for k, r in enumerate(instr.results) if r.id in self.active and r.id in declared]
        cond = self.ref(instr.args[0])
        for header, region in ((f"if {cond}:", instr.regions[0]), ("else:", instr.regions[1])):
            def prologue(inner, scope, region=region):
                for k, r in live:
                    self.accum(region.yields[k], self.d(r), inner, scope)
            inner, _ = self.nested(region, prologue, code, declared)
            with code.block(header):
                self.finish_nested(region, inner, code)

    def loop(self, instr: Instr, code: Code, declared: set[int]) -> None:
        is_for = instr.op is Op.FOR
        body = instr.regions[-1]
        params = body.params[1:] if is_for else body.params
        inits = instr.args[3:] if is_for else instr.args
        slots = [k for k, r in enumerate(instr.results)
                 if r.id in self.active or params[k].id in self.active]
        if not slots:
            return
        self.predeclare(instr, code, declared)
        carry = {k: self.prog.names.reserve(f"dc_{self.prog.name(instr.results[k])}") for k in slots}
        for k in slots:
            r = instr.results[k]
            # an array carry is updated in place inside the loop: it must own its buffer (the
            # result's adjoint may be a read-only broadcast or shared with another adjoint)
            start = (f"rt.fresh({self.d(r)})" if r.type.rank else self.d(r)) if r.id in declared else self.zero(r)
            code.line(f"{carry[k]} = {start}")
            if r.type.rank:
                self.exclusive.add(carry[k])

        def prologue(inner, scope):
            for k in slots:
                self.accum(body.yields[k], carry[k], inner, scope, owned=True)

        inner, scope = self.nested(body, prologue, code, declared)
        for k in slots:
            p = params[k]
            back = self.d(p) if p.id in scope else self.zero(p)
            if p.id in scope and p.type.rank and p.id not in self.scatter and back not in self.exclusive and (
                    body.yields[k].id in self.scatter or inits[k].id in self.scatter):
                # the next iteration's yield (or the init) takes the carry over and updates it in
                # place; d_p may be a read-only broadcast or another adjoint's buffer (not when
                # it is the carry's own buffer, updated in place through the body: RK4's trajectory)
                back = f"rt.fresh({back})"
            inner.line(f"{carry[k]} = {back}")
        if is_for:
            # the forward's indices in reverse order, as the loop variable itself: an index
            # computed from a counter (`i = 1 + _k * 1`) left Numba's loop 1.5x slower (the
            # ODE's sweeps: index checks and wraparound LLVM could not drop)
            start, stop, step = (a if a.isidentifier() or a.lstrip("-").isdigit() else f"({a})"
                                 for a in (self.ref(a) for a in instr.args[:3]))
            index = self.prog.name(body.params[0])
            if step == "1":
                header = f"for {index} in range({stop} - 1, {start} - 1, -1):"
            elif step == "-1":
                header = f"for {index} in range({stop} + 1, {start} + 1):"
            else:
                header = (f"for {index} in range({start} + (rt.trip_count({start}, {stop}, {step}) - 1) * ({step}), "
                          f"{start} - ({step}), -({step})):")
        else:
            count = self.counts.setdefault(id(instr), self.prog.names.reserve("trips"))
            header = f"for _ in range({count}.pop()):"
        with code.block(header):
            self.finish_nested(body, inner, code, instr if is_for else None)
        for k in slots:
            self.accum(inits[k], carry[k], code, declared, owned=True)

    # ---------------------------------------------------------------- program
    def inplace_ok(self, instr: Instr) -> bool:
        """A write may reuse its array unless the backward reads a version of that buffer from
        before the write, or the forward reads one later (`codegen.inplace.BufferVersions`)."""
        return self.buffers.inplace_ok(instr)

    def emit(self, name: str, with_value: bool) -> str:
        backward = Code()
        declared: set[int] = set()
        cts = []
        for k, o in enumerate(self.outputs):
            ct = self.prog.names.reserve(f"ct{k}")
            cts.append(ct)
            if o.id in self.active:
                # an array output's adjoint is a copy: the backward may update it in place (a
                # loop carry takes it over), and the caller's cotangent must stay untouched;
                # vjp's outputs-only run passes a scalar 0.0, broadcast here to the output's shape
                src = f"rt.cotangent({ct}, {self.shape(o)})" if o.type.rank else ct
                self.exclusive.add(src)
                self.accum(o, src, backward, declared, owned=True)
        self.region(self.fn.body, backward, declared)
        grads = []
        for p in self.wrt:
            grads.append(self.d(p) if p.id in declared else self.zero(p))
        self.resolve_shapes(backward)
        roots = ((self.refs | self.shape_refs) - self.remat) | ({o.id for o in self.outputs} if with_value else set())
        roots |= {v.id for vals in self.pushes.values() for v in vals}
        # a kept subexpression is computed with its segment (`keep_transcendentals`): only
        # where the forward computes that segment anyway. Else (a loop's running total that
        # only the backward's exp reads, the value not asked for) computing it and its exp in
        # the forward would be work the derivative did not need: emit again, recomputing them
        owners = {self.kept_owner[vid] for vid in roots if vid in self.kept_owner}
        if owners:
            unneeded = owners - needed_values(self.prog, roots)
            if unneeded:
                wrt, fuse = self._args
                self.__init__(self.fn, wrt, fuse, self.plan, self.keep_none_of | unneeded)
                return self.emit(name, with_value)
        roots |= owners
        # run-time checks (a user's `raise`) run wherever they stand, needed or not
        roots |= {i.result.id for i in _walk(self.fn.body) if raises(i)}   # and int() of a float
        # a while loop whose backward pops its trip count must run forward (and count) even
        # when the backward reads none of its values
        roots |= {i.regions[0].yields[0].id for i in _walk(self.fn.body) if id(i) in self.counts}
        copied = written_params(self.fn)   # #13: written arguments are copied once, here
        self.buffers = BufferVersions(self.fn, self.plan, self.refs, [p.id for p in copied])
        needed = needed_values(self.prog, roots)
        # index checks the forward performs already (it emits every needed access with its check)
        backward.lines = drop_checks(backward.lines, needed)
        forward = Code()
        for p in copied:
            forward.line(f"{self.prog.name(p)} = {self.prog.name(p)}.copy()")
        for rid, tape in self.tapes.items():
            if rid in self.array_tapes:
                continue
            # typed by a first record, popped at once: Numba must know the list's type even
            # where it prunes every append (a branch its constant folding decides); array
            # fields are pushed C-contiguous (no copy when they are) to match the prototype
            prototype = ", ".join(f"({'0, ' * v.type.rank})" if v.id in self.shape_only else _prototype(v)
                                  for v in self.pushes[rid])
            forward.line(f"{tape} = [({prototype},)]")
            forward.line(f"{tape}.pop()")
        for count in self.counts.values():
            forward.line(f"{count} = []")
        ForwardEmitter(self.prog, needed, self.pushes, self.tapes, self.counts, self.buffers,
                       self.array_tapes, self.shape_only).region(self.fn.body, forward)
        params = [self.prog.name(p) for p in self.fn.params]
        code = Code()
        code.line(f"# generated by coarsen: reverse-mode derivative of {self.fn.name} "
                  f"({self.fn.loc}) w.r.t. {', '.join(self.prog.name(p) for p in self.wrt)}")
        with code.block(f"def {name}({', '.join(params + cts)}):"):
            code.line("# forward")
            code.extend(forward)
            code.line("# backward")
            code.extend(backward)
            outs = ", ".join(self.prog.src(o) for o in self.outputs) if with_value else ""
            code.line(f"return ({outs}{',' if outs else ''}), ({', '.join(grads)}{',' if grads else ''})")
        return "".join(k + "\n" for k in self.prog.kernels.values()) + code.text()


def _substitute_shapes(line: str, texts: dict[int, str]) -> str:
    if "__shape_" not in line:
        return line
    for vid, text in texts.items():
        line = line.replace(f"__shape_{vid}__", text)
    return line


def _prototype(v: Value) -> str:
    """A value of v's type, to type a tape's list: a number, or an empty array of v's rank."""
    if v.type.rank == 0:
        return {"f64": "0.0", "bool": "False", "i64": "0"}[v.type.dtype]
    dtype = {"f64": "np.float64", "bool": "np.bool_", "i64": "np.int64"}[v.type.dtype]
    return f"np.empty(({'0, ' * v.type.rank}), dtype={dtype})"


def _walk(region: Region):
    for instr in region.instrs:
        yield instr
        for sub in instr.regions:
            yield from _walk(sub)


def derivative_source(fn: Function, wrt: list[int], name: str, with_value: bool = True) -> tuple[str, dict]:
    rev = Reverse(fn, wrt)
    return rev.emit(name, with_value), rev.prog.array_constants
