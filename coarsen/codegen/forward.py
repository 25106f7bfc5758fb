"""The forward program: IR -> Python/NumPy statements, with dead code dropped.

Input: a `Function`, its `SegmentPlan`, the set of values something needs (the outputs, and
in a derivative program every forward value the backward pass reads), and for each region
inside a loop the values to record on that loop's tape. Output: source lines.

Segments are emitted as one expression each (CSE'd); other ops through `NUMPY_EMIT`. A loop
carries its values in the variables named after its results; each region inside a loop ends
by appending the values the backward pass will read to the tape of its innermost loop.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from coarsen.codegen.bounds import check_marker, index_checks
from coarsen.codegen.numpy_emit import NUMPY_EMIT, index_source
from coarsen.codegen.source import Code, Names
from coarsen.ir.nodes import ELEMENTWISE, Function, Instr, Op, Region, Value, walk
from coarsen.ops import device_names, elementwise
from coarsen.segments import Literal, SegmentPlan, value_name
from coarsen.ops import to_source
from phicalc.emit import cse


def float_literal(c: float) -> str:
    """A float as source: infinities and NaN by their NumPy names (`repr` gives `inf`, a
    NameError in the generated program)."""
    if c != c:
        return "np.nan"
    if c in (float("inf"), float("-inf")):
        return "np.inf" if c > 0 else "(-np.inf)"
    return repr(float(c))


class Program:
    """Shared facts about a function being emitted."""

    def __init__(self, fn: Function, plan: SegmentPlan) -> None:
        self.fn = fn
        self.plan = plan
        self.names = Names(fn.names)
        for vid, sym in plan.symbol.items():
            self.names.names[vid] = sym.name
            self.names.taken.add(sym.name)
        for p in fn.params:
            if p.id not in self.names.names:
                self.names.names[p.id] = self.names.reserve(value_name(p, "", True))
        self.fuse = False                        # cuda: array segments become fused kernels
        self.kernels: dict[str, str] = {}        # kernel name -> source
        self.constants: dict[int, Any] = {}      # scalar constants (printed inline)
        self.array_constants: dict[str, np.ndarray] = {}   # name -> array (module globals)
        self.fixed: set[int] = set()             # every constant's value id: never taped
        # segment id -> [(symbol, expression)]: subexpressions computed into variables of their
        # own before the segment, which reads them (reverse mode keeps them for its backward)
        self.kept_subexpressions: dict[int, list[tuple[sp.Symbol, sp.Expr]]] = {}
        self.def_region: dict[int, Region] = {}
        self.owner: dict[int, Instr] = {}        # id(region) -> the control instr holding it
        self.parent: dict[int, Region] = {}      # id(region) -> enclosing region
        self.loop_of: dict[int, Instr | None] = {}  # id(region) -> innermost enclosing loop
        self._index(fn.body, None, None)

    def _index(self, region: Region, owner: Instr | None, loop: Instr | None) -> None:
        self.loop_of[id(region)] = loop
        for p in region.params:
            self.def_region[p.id] = region
        for instr in region.instrs:
            for r in instr.results:
                self.def_region[r.id] = region
            if instr.op is Op.CONST:
                self.fixed.add(instr.result.id)
                if instr.result.type.rank == 0:
                    self.constants[instr.result.id] = instr.attrs["value"]
                else:
                    self.array_constants[self.name(instr.result)] = instr.attrs["value"]
            inner_loop = instr if instr.op in (Op.FOR, Op.WHILE) else loop
            for sub in instr.regions:
                self.owner[id(sub)] = instr
                self.parent[id(sub)] = region
                self._index(sub, instr, inner_loop)

    def name(self, v: Value) -> str:
        return self.names.of(v)

    def src(self, v: Value) -> str:
        if v.id in self.constants:
            c = self.constants[v.id]
            return float_literal(c) if isinstance(c, float) else repr(c)
        return self.name(v)

    def is_array_expr(self, vid: int) -> bool:
        expr = self.plan.expr[vid]
        return self.plan.values[vid].type.rank > 0 or any(
            self.plan.value_of[s].type.rank > 0 for s in expr.free_symbols if s in self.plan.value_of)


def fused_kernel(prog: "Program", exprs: list[sp.Expr], extra_arrays=()) -> tuple[str, list[sp.Symbol]]:
    """Define a GPU kernel computing `exprs` elementwise (one thread per element); return
    its name and its operands in call order. Arrays arrive flattened to the broadcast shape."""
    assigns, reduced = cse(exprs)
    rename = {t: sp.Symbol(f"_{t.name}", real=True) for t, _ in assigns}
    free = set().union(*(e.free_symbols for e in exprs))
    # one parameter per variable: the occurrences of a variable share its name, and a literal
    # (`segments.Literal`) prints as itself
    operands = sorted({s.name: s for s in free if not isinstance(s, Literal)}.values(),
                      key=lambda s: s.name)
    name = f"_kernel{len(prog.kernels)}"
    arrays = {s for s in free if s in prog.plan.value_of and prog.plan.value_of[s].type.rank}
    arrays |= set(extra_arrays) & free
    outs = [f"_out{k}" for k in range(len(exprs))]
    lines = [f"def {name}(_n, {', '.join([s.name for s in operands] + outs)}):",
             "    _i = cuda.grid(1)", "    if _i < _n:"]
    # each occurrence its own element symbol: one shared symbol would let SymPy cancel x - x
    body = {s: sp.Dummy(f"{s.name}[_i]", real=True) for s in arrays}
    for t, value in assigns:
        lines.append(f"        _{t.name} = {_scalar_source(value.xreplace(rename).xreplace(body))}")
    for out, e in zip(outs, reduced):
        lines.append(f"        {out}[_i] = {_scalar_source(e.xreplace(rename).xreplace(body))}")
    prog.kernels[name] = "\n".join(lines) + "\n"
    return name, operands


def device_source(text: str) -> str:
    """Scalar source as GPU device code: each function by its device name from the op
    registry (`np.arcsin(` -> `math.asin(`: GPU threads have no NumPy ufuncs). A function with
    no device form is refused here, not left for the CUDA compiler to reject obscurely."""
    import re

    names = device_names()

    def swap(m: re.Match) -> str:
        name = m.group(1)
        if name == "rt.checked_int":   # CUDA's int() gives garbage for NaN/inf: `vmap._checked_ints`
            raise NotImplementedError("int() of a float in GPU device code is checked by "   # rewrites it
                                      "coarsen.vmap._checked_ints first; use target='cpu'")
        if name in names:
            return names[name] + "("
        if name in _HOST_ONLY:
            raise NotImplementedError(f"{name} has no GPU device form; use target='cpu'")
        return m.group(0)
    return re.sub(r"\b((?:np|rt)\.\w+)\(", swap, text)


_HOST_ONLY = {s.printed for s in elementwise() if s.printed and not s.device}


def _scalar_source(expr: sp.Expr) -> str:
    return device_source(to_source(expr, array=False))


def emit_expression(prog: Program, target: str, expr: sp.Expr, array: bool, code: Code) -> None:
    """`target = expr`, with common subexpressions in temporaries (or one fused GPU kernel)."""
    if array and prog.fuse:
        name, operands = fused_kernel(prog, [expr])
        code.line(f"{target} = rt.fused({name}, 1, {', '.join(s.name for s in operands)})[0]")
        return
    assigns, (reduced,) = cse([expr])
    rename = {t: sp.Symbol(f"_{t.name}", real=True) for t, _ in assigns}
    for t, value in assigns:
        code.line(f"_{t.name} = {to_source(value.xreplace(rename), array)}")
    code.line(f"{target} = {to_source(reduced.xreplace(rename), array)}")


def emit_segment(prog: Program, v: Value, code: Code) -> None:
    """`v = <its segment's expression>`, keeping v's type where SymPy's simplification lost it:
    a float whose expression reads no float (`0.0 * n` is the integer 0) is made a float, and
    an array whose expression lost some of the leaves that set its broadcast shape (`x * 0.0`
    is 0) is broadcast back to that shape."""
    expr = prog.plan.expr[v.id]
    inner = Code()
    kept = prog.kept_subexpressions.get(v.id, ())
    for sym, sub in kept:
        emit_expression(prog, sym.name, sub, prog.is_array_expr(v.id), inner)
    for sym, sub in kept:   # innermost first: each is written over the symbols before it
        expr = expr.xreplace({sub: sym})
    emit_expression(prog, prog.name(v), expr, prog.is_array_expr(v.id), inner)
    *temps, last = inner.lines
    target, text = last.split(" = ", 1)
    expr = prog.plan.expr[v.id]
    symbols = {prog.plan.value_of[s].id: prog.plan.value_of[s] for s in expr.free_symbols if s in prog.plan.value_of}
    if v.type.rank == 0 and v.type.dtype == "f64" and not any(w.type.dtype == "f64" for w in symbols.values()):
        text = float_literal(float(expr)) if expr.is_Number else f"float({text})"
    elif v.type.rank:
        leaves = prog.plan.leaves.get(v.id, ())
        if any(w.id not in symbols for w in leaves):
            shape_of = " + ".join(prog.src(w) for w in leaves)
            text = f"{text} + np.zeros(np.shape({shape_of}))"
    for line in temps:
        code.line(line)
    code.line(f"{target} = {text}")


def needed_values(prog: Program, roots: set[int]) -> set[int]:
    """Every value the roots depend on, control dependences (branch conditions, loop bounds,
    loop tests) included: the forward work that must run."""
    deps: dict[int, set[int]] = {}

    def control_of(region: Region) -> set[int]:
        out: set[int] = set()
        r = region
        while id(r) in prog.owner:
            instr = prog.owner[id(r)]
            if instr.op is Op.IF:
                out.add(instr.args[0].id)
            elif instr.op is Op.FOR:
                out.update(a.id for a in instr.args[:3])
            else:
                out.add(instr.regions[0].yields[0].id)
            r = prog.parent[id(r)]
        return out

    def visit(region: Region) -> None:
        ctl = control_of(region)
        for p in region.params:
            deps.setdefault(p.id, set()).update(ctl)
        for instr in region.instrs:
            for sub in instr.regions:
                visit(sub)
            if instr.op is Op.IF:
                for k, r in enumerate(instr.results):
                    deps[r.id] = {instr.args[0].id} | {sub.yields[k].id for sub in instr.regions} | ctl
            elif instr.op in (Op.FOR, Op.WHILE):
                body = instr.regions[-1]
                inits = instr.args[3:] if instr.op is Op.FOR else instr.args
                loop_ctl = {a.id for a in instr.args[:3]} if instr.op is Op.FOR else {instr.regions[0].yields[0].id}
                for k, r in enumerate(instr.results):
                    carried = {inits[k].id, body.yields[k].id}
                    deps[r.id] = carried | loop_ctl | ctl
                    for sub in instr.regions:
                        params = sub.params[1:] if instr.op is Op.FOR else sub.params
                        deps.setdefault(params[k].id, set()).update(carried | loop_ctl)
                if instr.op is Op.FOR:
                    deps.setdefault(body.params[0].id, set()).update(loop_ctl)
            else:
                for r in instr.results:
                    deps[r.id] = {a.id for a in instr.args} | ctl

    visit(prog.fn.body)
    needed: set[int] = set()
    todo = list(roots)
    while todo:
        v = todo.pop()
        if v in needed:
            continue
        needed.add(v)
        todo.extend(deps.get(v, ()))
    return needed


# A record whose float64 arrays hold at most this many numbers in all is copied into its tape's
# arena (`TapeLayout`); a bigger one keeps its arrays alive in a list. Keeping a small array
# alive per iteration costs more than copying it (a fresh heap block per step, freed in reverse
# order by the backward: the LSTM's 140 numbers per layer and step, gradient 5.7 -> 3.6 ms); a
# big one's copy costs more than its allocation (the ODE's 4 x 1000 per step, 77 -> 95 us).
ARENA_RECORD_LIMIT = 1024


class TapeLayout:
    """Where each field of a loop region's records lives when its tape is arrays, not a list
    (`Reverse.array_tape_bound`): one row per record in a float64 table (floats and bools) and
    an int64 table (ints, shapes, the shape of each array field, and after them the record's
    number of array elements), and the numbers of the float64 array fields one after the other
    in one flat float64 arena, a stack that the backward pops in reverse (`rt.tape_put`,
    `rt.tape_view`). The arena is sized at the first record for as many records as the loops
    can still run (up to a cap; `rt.tape_grow`), and grows when a later record is bigger
    (shapes that change with the iteration), so small arrays are copied into one allocation
    instead of each kept alive until the backward reads it. A record bigger than
    `ARENA_RECORD_LIMIT` puts its arrays on a list instead; the size column tells the backward
    which. `fields`: (value, kind, column) with kind "float", "int", "shape" or "array"."""

    def __init__(self, values: list[Value], shape_only: set[int]) -> None:
        self.fields: list[tuple[Value, str, int]] = []
        self.floats = self.ints = self.arrays = 0
        for v in values:
            if v.id in shape_only or (v.type.rank and v.type.dtype == "f64"):
                kind = "shape" if v.id in shape_only else "array"
                self.fields.append((v, kind, self.ints))
                self.ints += v.type.rank
                self.arrays += kind == "array"
            elif v.type.dtype == "i64" and not v.type.rank:
                self.fields.append((v, "int", self.ints))
                self.ints += 1
            elif v.type.dtype in ("f64", "bool") and not v.type.rank:
                self.fields.append((v, "float", self.floats))
                self.floats += 1
            else:
                raise ValueError(f"no array tape for a field of type {v.type}")

    @staticmethod
    def fits(v: Value, shape_only: set[int]) -> bool:
        """Whether a record field can live in the arrays (else the region keeps a list)."""
        if v.id in shape_only:
            return True
        if v.type.rank:
            return v.type.dtype == "f64"
        return v.type.dtype in ("f64", "bool", "i64")


def prototype_value(v: Value) -> str:
    """A value of v's type, to type a tape's list: a number, or an empty array of v's rank."""
    if v.type.rank == 0:
        return {"f64": "0.0", "bool": "False", "i64": "0"}[v.type.dtype]
    dtype = {"f64": "np.float64", "bool": "np.bool_", "i64": "np.int64"}[v.type.dtype]
    return f"np.empty(({'0, ' * v.type.rank}), dtype={dtype})"


class ForwardEmitter:
    def __init__(self, prog: Program, needed: set[int], pushes: dict[int, list[Value]],
                 tapes: dict[int, str], counts: dict[int, str], inplace_ok,
                 array_tapes: dict[int, tuple[Instr, ...]] | None = None,
                 shape_only: set[int] | None = None) -> None:
        self.prog = prog
        self.needed = needed
        self.pushes = pushes      # id(region) -> values to record at its end
        self.tapes = tapes        # id(region) -> its tape (a list used as a stack)
        self.counts = counts      # id(while instr) -> trip-count list name
        self.array_tapes = array_tapes or {}   # id(region) -> the for loops that bound its records
        self.shape_only = shape_only or set()   # pushed values whose record is their shape
        self.inplace_ok = inplace_ok
        # a backward's recomputation marks its index checks (`bounds.drop_checks`)
        self.mark_checks = False

    def live(self, instr: Instr) -> bool:
        if any(r.id in self.needed for r in instr.results):
            return True
        if instr.regions:
            return any(r.id in self.needed for sub in instr.regions for i in walk(sub) for r in i.results) or \
                any(p.id in self.needed for sub in instr.regions for p in sub.params)
        return False

    def region(self, region: Region, code: Code) -> None:
        for instr in region.instrs:
            if self.live(instr):
                self.instr(instr, code)
        self.push(region, code)

    def push(self, region: Region, code: Code) -> None:
        values = self.pushes.get(id(region))
        if not values:
            return
        tape = self.tapes[id(region)]
        if id(region) in self.array_tapes:
            layout = TapeLayout(values, self.shape_only)
            for v, kind, col in layout.fields:
                name = self.prog.name(v)
                if kind == "float":
                    code.line(f"{tape}[{tape}_n, {col}] = {name}")
                elif kind == "int":
                    code.line(f"{tape}_s[{tape}_n, {col}] = {name}")
                else:   # a shape, or an array's shape (its numbers go to the arena below)
                    for d in range(v.type.rank):
                        code.line(f"{tape}_s[{tape}_n, {col + d}] = np.shape({name})[{d}]")
            arrays = [self.prog.name(v) for v, kind, _ in layout.fields if kind == "array"]
            if arrays:
                code.line(f"{tape}_r = {' + '.join(f'{a}.size' for a in arrays)}")
                code.line(f"{tape}_s[{tape}_n, {layout.ints}] = {tape}_r")
                with code.block(f"if {tape}_r <= {ARENA_RECORD_LIMIT}:"):
                    # room for this record, and (shapes fixed) for every later one at once
                    with code.block(f"if {tape}_p + {tape}_r > {tape}_a.shape[0]:"):
                        code.line(f"{tape}_a = rt.tape_grow({tape}_a, {tape}_p, {tape}_r, "
                                  f"{tape}_r * ({tape}_rows - {tape}_n))")
                    for a in arrays:
                        code.line(f"{tape}_p = rt.tape_put({tape}_a, {tape}_p, {a})")
                with code.block("else:"):
                    code.line(f"{tape}_l.append(({''.join(f'np.ascontiguousarray({a}), ' for a in arrays)}))")
            code.line(f"{tape}_n += 1")
        else:
            names = ", ".join(f"np.shape({self.prog.name(v)})" if v.id in self.shape_only
                              else f"np.ascontiguousarray({self.prog.name(v)})" if v.type.rank
                              else self.prog.name(v) for v in values)
            code.line(f"{tape}.append(({names},))")

    def instr(self, instr: Instr, code: Code) -> None:
        prog, op = self.prog, instr.op
        if op is Op.CONST:
            return
        if instr.results and instr.results[0].id in prog.plan.candidates:
            for r in instr.results:
                if r.id in prog.plan.materialized and r.id in self.needed:
                    emit_segment(prog, r, code)
            return
        if op is Op.IF:
            self.if_(instr, code)
        elif op is Op.FOR:
            self.for_(instr, code)
        elif op is Op.WHILE:
            self.while_(instr, code)
        elif op is Op.CHECK:   # the user's `raise` under a run-time condition (frontend.exceptions)
            cond = prog.src(instr.args[0])
            exc, args = instr.attrs["exc"], ", ".join(repr(a) for a in instr.attrs["args"])
            code.line(f"if {cond}:")
            code.line(f"    raise {exception_name(prog, exc)}({args})")
            code.line(f"{prog.name(instr.result)} = {cond}")
        elif op is Op.SETITEM:
            x, *rest = instr.args
            *idx, v = rest
            r = prog.name(instr.result)
            copy = "" if self.inplace_ok(instr) else ".copy()"
            if "a" in instr.attrs["index"]:   # through index arrays (`coarsen.ops.indexing`)
                from coarsen.ops.indexing import put_lines
                for text in put_lines(instr, r, prog.src(x), copy, prog.src(v), [prog.src(i) for i in idx]):
                    code.line(text)
                return
            mark = check_marker(instr) if self.mark_checks else ""
            for text in index_checks(prog.fn, prog, instr, prog.src(x), prog.src):
                code.line(mark + text)
            code.line(f"{r} = {prog.src(x)}{copy}")
            code.line(f"{r}[{index_source(instr.attrs['index'], [prog.src(i) for i in idx])}] = {prog.src(v)}")
        else:
            if op is Op.GETITEM:   # Numba reads out of bounds silently: check (see bounds)
                mark = check_marker(instr) if self.mark_checks else ""
                for text in index_checks(prog.fn, prog, instr, prog.src(instr.args[0]), prog.src):
                    code.line(mark + text)
            elif op is Op.TAKE:    # index arrays likewise (`ops.indexing`)
                from coarsen.ops.indexing import take_checks
                for text in take_checks(instr, prog.src(instr.args[0]), [prog.src(a) for a in instr.args[1:]]):
                    code.line(text)
            rule = NUMPY_EMIT.get(op)
            if rule is None:
                raise NotImplementedError(f"no NumPy emitter for {op.value}")
            operands = [prog.src(a) for a in instr.args]
            if op in ELEMENTWISE and instr.result.type.dtype == "i64":
                # arithmetic on a Python bool counts (True + True is 2, -True is -1): a scalar
                # bool here may be NumPy's on the numpy target (a comparison of np.float64s),
                # whose + is a logical or; NumPy's own booleans are refused (`frontend.narrow`)
                operands = [f"int({s})" if a.type.dtype == "bool" and not a.type.rank else s
                            for a, s in zip(instr.args, operands)]
            code.line(f"{prog.name(instr.result)} = {rule(instr, operands)}")
            if instr.result.id in getattr(self.inplace_ok, "snapshots", ()):
                # a view the backward reads, of a buffer later written in place (`BufferVersions`)
                code.line(f"{prog.name(instr.result)} = {prog.name(instr.result)}.copy()")

    def if_(self, instr: Instr, code: Code) -> None:
        prog = self.prog
        for header, region in ((f"if {prog.src(instr.args[0])}:", instr.regions[0]), ("else:", instr.regions[1])):
            with code.block(header):
                self.region_body(region, code)
                for r, y in zip(instr.results, region.yields):
                    if r.id in self.needed:
                        code.line(f"{prog.name(r)} = {prog.src(y)}")

    def region_body(self, region: Region, code: Code) -> None:
        for instr in region.instrs:
            if self.live(instr):
                self.instr(instr, code)
        self.push(region, code)

    def _carry_in(self, instr: Instr, inits, code: Code) -> list[int]:
        slots = [k for k, r in enumerate(instr.results) if r.id in self.needed
                 or any(sub.params[k + (1 if instr.op is Op.FOR else 0)].id in self.needed for sub in instr.regions)]
        entry = getattr(self.inplace_ok, "copy_at_entry", None)   # `codegen.inplace.BufferVersions`
        for k in slots:
            copy = ".copy()" if entry is not None and entry(instr, k) else ""
            code.line(f"{self.prog.name(instr.results[k])} = {self.prog.src(inits[k])}{copy}")
        return slots

    def _bind_params(self, params, instr, slots, code: Code) -> None:
        for k in slots:
            if params[k].id in self.needed:
                code.line(f"{self.prog.name(params[k])} = {self.prog.name(instr.results[k])}")

    def _carry_out(self, body: Region, instr: Instr, slots, code: Code) -> None:
        for k in slots:
            code.line(f"{self.prog.name(instr.results[k])} = {self.prog.src(body.yields[k])}")

    def for_(self, instr: Instr, code: Code) -> None:
        prog = self.prog
        start, stop, step, *inits = instr.args
        body = instr.regions[0]
        slots = self._carry_in(instr, inits, code)
        for rid, loops in self.array_tapes.items():
            if loops[0] is instr:
                tape = self.tapes[rid]
                trips = " * ".join(f"rt.trip_count({', '.join(prog.src(a) for a in loop.args[:3])})"
                                   for loop in loops)
                layout = TapeLayout(self.pushes[rid], self.shape_only)
                if layout.arrays:
                    code.line(f"{tape}_rows = {trips}")
                    trips = f"{tape}_rows"
                if layout.floats:
                    code.line(f"{tape} = np.empty(({trips}, {layout.floats}))")
                if layout.ints or layout.arrays:   # (and each record's size, with arrays)
                    code.line(f"{tape}_s = np.empty(({trips}, {layout.ints + bool(layout.arrays)}), dtype=np.int64)")
                if layout.arrays:
                    code.line(f"{tape}_a = np.empty(0)")   # sized by the first record (`push`)
                    code.line(f"{tape}_p = 0")
                    # records too big for the arena keep their arrays, as a list tape does
                    # (typed by a first record, popped at once, as `Reverse.emit`'s lists)
                    prototype = "".join(prototype_value(v) + ", " for v, kind, _ in layout.fields
                                        if kind == "array")
                    code.line(f"{tape}_l = [({prototype})]")
                    code.line(f"{tape}_l.pop()")
                code.line(f"{tape}_n = 0")
        index = prog.name(body.params[0])
        with code.block(f"for {index} in range({prog.src(start)}, {prog.src(stop)}, {prog.src(step)}):"):
            self._bind_params(body.params[1:], instr, slots, code)
            self.region_body(body, code)
            self._carry_out(body, instr, slots, code)

    def while_(self, instr: Instr, code: Code) -> None:
        prog = self.prog
        cond, body = instr.regions
        slots = self._carry_in(instr, instr.args, code)
        count = self.counts.get(id(instr))
        if count:
            code.line(f"{count}_n = 0")
        with code.block("while True:"):
            self._bind_params(cond.params, instr, slots, code)
            self.region_body(cond, code)
            code.line(f"if not {prog.src(cond.yields[0])}:")
            code.line("    break")
            self._bind_params(body.params, instr, slots, code)
            self.region_body(body, code)
            self._carry_out(body, instr, slots, code)
            if count:
                code.line(f"{count}_n += 1")
        if count:
            code.line(f"{count}.append({count}_n)")


def exception_name(prog, exc: type) -> str:
    """How generated code names the class a run-time check raises: a builtin by its name;
    coarsen's own run-time refusal as `rt.Refusal`; a user's class (#22) as a module global of
    the generated module, named after the class and its identity (so the module's name and
    Numba's constant differ per class), held with the array constants (`kernels.targets`
    keeps such a module out of every disk cache)."""
    import builtins

    from kernels import runtime
    if getattr(builtins, exc.__name__, None) is exc:
        return exc.__name__
    if exc is runtime.Refusal:   # coarsen's own refusal (`coarsen.errors.UnsupportedAtRunTime`)
        return "rt.Refusal"
    if exc is runtime.LinAlgError:   # NumPy's, as SciPy raises it (multivariate_normal's checks)
        return "rt.LinAlgError"
    name = f"_exc_{exc.__name__}_{id(exc):x}"
    prog.array_constants[name] = exc
    return name
