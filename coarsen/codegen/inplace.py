"""When an element write may update its array's buffer in place, in every generated program.

The IR gives element writes value semantics (`SETITEM` makes a new array); generated code
writes in place when no one can observe the old version, else it copies first (#14 item 1: a
fill `z[i] = v` inside an outer loop copied the whole array at every element, O(n^2)).

`BufferVersions` decides, for primal programs (`refs` empty) and for reverse mode's forward
pass (`refs`: the forward values its backward pass reads). Versions of a buffer flow old ->
new through writes, loop carries, joins and views (a view shares its base's versions). A
write is in place when, among the versions it may share its buffer with (walked backwards,
not across a write that copies: its result owns a fresh buffer),
- none is read by the backward pass (`refs`);
- none is read by the forward after the write (in program order), nor inside a loop around
  the write when defined outside it (the next iteration reads it again: a buffer hoisted out
  of a loop, e.g. `np.zeros(n)` moved by LICM, must not carry one iteration's writes into the
  next);
- none was made by an op that may hand out memory the program does not own: a parameter
  (the caller's array; except the written arguments of #13, which the program copies once at
  its start: `copied_params`), a constant (shared by every call), a cast or closed form (may
  return its operand), a segment whose expression is a bare symbol or a phi (`y = x * 1.0` is
  emitted `y = x`).
Reads before the write in the same iteration are fine: `z[i] = z[i - 1] + v` in a loop
updates z in place.

Only what is needed is copied: when a loop writes into an array it carries and the array it
starts from is needed afterwards (the backward reads the state at the start of each outer step,
the forward reads it after the loop, or it is a buffer the program does not own), the carry is
copied once as the loop starts (`copy_at_entry`; the emitter writes `z = z0.copy()` before the
loop) and the writes inside update that copy in place, instead of copying at every element.
"""
from __future__ import annotations

from typing import Iterable

import networkx as nx

from coarsen.ir.nodes import VIEWS, Function, Instr, Op, Region, Value, walk

# ops whose array result may be memory the program does not own, or another value's buffer
_NOT_OWNED = frozenset({Op.CONST, Op.CAST, Op.EXPR})


class BufferVersions:
    def __init__(self, fn: Function, plan=None, refs: Iterable[int] = (),
                 copied_params: Iterable[int] = ()) -> None:
        self.fn, self.plan = fn, plan
        self.refs = set(refs)
        self.copied = set(copied_params)
        self.params = {p.id for p in fn.params}
        self.defs: dict[int, Instr] = {r.id: i for i in walk(fn.body) for r in i.results}
        self.snapshots: set[int] = set()
        self.versions = self._versions()
        if self.refs:
            self.snapshots = self._snapshots()
            if self.snapshots:
                self.versions = self._versions()
        self._program_order()
        self._inplace: dict[int, bool] = {}
        self._entry: dict[tuple[int, int], bool] = {}
        self._provisional = 0   # > 0 while deciding a loop entry: decisions then are not kept
        self._entry_of_param: dict[int, tuple[Instr, int]] = {}
        self._written_loops: set[int] = set()
        for instr in walk(fn.body):
            if instr.op in (Op.FOR, Op.WHILE):
                for sub in instr.regions:
                    params = sub.params[1:] if instr.op is Op.FOR else sub.params
                    for k, p in enumerate(params):
                        self._entry_of_param[p.id] = (instr, k)
                for k, r in enumerate(instr.results):   # zero trips: the result is the copy
                    self._entry_of_param[r.id] = (instr, k)
                if any(w.op is Op.SETITEM for sub in instr.regions for w in walk(sub)):
                    self._written_loops.add(id(instr))

    def copy_at_entry(self, loop: Instr, k: int) -> bool:
        """Whether carry k of `loop` is copied as the loop starts (see the module docstring)."""
        key = (id(loop), k)
        decided = self._entry.get(key)
        if decided is not None:
            return decided
        # while deciding: no copy (the conservative side); what is decided meanwhile assumed it,
        # so it is not kept (a write inside this loop decided now would stay a copy)
        self._entry[key] = False
        self._provisional += 1
        try:
            decided = self._decide_entry(loop, k)
        finally:
            self._provisional -= 1
        if self._provisional:
            del self._entry[key]
        else:
            self._entry[key] = decided
        return decided

    def _decide_entry(self, loop: Instr, k: int) -> bool:
        if id(loop) not in self._written_loops or not loop.results[k].type.rank:
            return False
        inits = loop.args[3:] if loop.op is Op.FOR else loop.args
        params = [sub.params[k + 1 if loop.op is Op.FOR else k] for sub in loop.regions]
        inside = {p.id for p in params}
        for p in params:
            inside |= nx.descendants(self.versions, p.id) if p.id in self.versions else set()
        if not any(w.op is Op.SETITEM and w.args[0].id in inside for sub in loop.regions for w in walk(sub)):
            return False
        earlier = self._earlier_same_buffer(inits[k].id)
        if earlier & self.refs or not all(self.owned_origin(v) for v in earlier):
            return True
        # read after the loop starts: versions the loop itself makes (`inside`, which through an
        # outer loop's carry reaches back to the init) are its own, as `later` in `_decide`
        position, loops = self.order[id(loop)]
        for v in earlier:
            for at, reader_loops in self.reads.get(v, ()):
                if (at > position and v not in inside) or \
                        any(lp in reader_loops and lp not in self.defined_in[v] for lp in loops):
                    return True
        return False

    def inplace_ok(self, instr: Instr) -> bool:
        decided = self._inplace.get(id(instr))
        if decided is not None:
            return decided
        # while deciding, assume the write is in place: through a loop carry a write can reach
        # its own base, and assuming the buffer shared is the conservative side
        self._inplace[id(instr)] = True
        decided = self._decide(instr)
        if self._provisional:
            del self._inplace[id(instr)]
        else:
            self._inplace[id(instr)] = decided
        return decided

    __call__ = inplace_ok

    def owned_origin(self, vid: int) -> bool:
        """Whether a version's defining op leaves its buffer to the program (see the module
        docstring); writes, views, joins and loop carries pass ownership through their edges."""
        if vid in self.params:
            return vid in self.copied
        instr = self.defs.get(vid)
        if instr is None:    # a region parameter: a loop carry, linked to its init and yield
            return True
        if instr.op in _NOT_OWNED:
            return False
        if self.plan is not None and vid in self.plan.candidates:
            expr = self.plan.expr.get(vid)
            return expr is not None and not expr.is_Symbol and type(expr).__name__ != "Phi"
        return True

    def _earlier_same_buffer(self, start: int) -> set[int]:
        seen, todo = {start}, [start]
        while todo:
            v = todo.pop()
            entry = self._entry_of_param.get(v)
            for u in self.versions.predecessors(v) if v in self.versions else ():
                if u in seen:
                    continue
                write = self._writes.get(v)
                if write is not None and write.args[0].id == u and not self.inplace_ok(write):
                    continue
                if entry is not None and u == self._init(*entry) and self.copy_at_entry(*entry):
                    continue   # a loop carry copied as the loop starts: a buffer of its own
                seen.add(u)
                todo.append(u)
        return seen | self._aliases(seen)

    def _aliases(self, versions: set[int]) -> set[int]:
        """Values that may *be* one of `versions` without being a version before it: the result
        of an IF whose branch yields one of them (`a = x if c else y` hands out y's buffer, so
        writing y in place changes what a reads: #12's random programs found the backward
        reading such an `a` after `y[0] = ...`), views of those, and so on."""
        out, todo = set(), list(versions)
        while todo:
            v = todo.pop()
            for u in self._shares.get(v, ()):
                if u not in out and u not in versions:
                    out.add(u)
                    todo.append(u)
        return out

    @staticmethod
    def _init(loop: Instr, k: int) -> int:
        return (loop.args[3:] if loop.op is Op.FOR else loop.args)[k].id

    def _decide(self, instr: Instr) -> bool:
        base = instr.args[0].id
        earlier = self._earlier_same_buffer(base)
        if earlier & self.refs:
            return False
        if not all(self.owned_origin(v) for v in earlier):
            return False
        # nor may the forward read an earlier version after the write: the frontend never does
        # (a write rebinds the name), but passes may (CSE merges two `np.zeros(3)`, one of them
        # written, the other read later). Versions that descend from this write are its own.
        later = nx.descendants(self.versions, instr.result.id) | {instr.result.id}
        position, loops = self.order[id(instr)]
        for v in earlier - later:
            for at, reader_loops in self.reads.get(v, ()):
                if at > position:
                    return False
                # a loop around the write that reads v, defined outside it, reads it again later
                if any(loop in reader_loops and loop not in self.defined_in[v] for loop in loops):
                    return False
        return True

    def _program_order(self) -> None:
        """Each instruction's position in program order and its enclosing loops; for each value,
        where it is read (a region's yields are read after its instructions)."""
        self.order: dict[int, tuple[int, tuple]] = {}
        self.reads: dict[int, list[tuple[int, tuple]]] = {}
        self.defined_in: dict[int, tuple] = {p.id: () for p in self.fn.params}
        counter = iter(range(1 << 62))

        def visit(region: Region, loops: tuple) -> None:
            for p in region.params:
                self.defined_in[p.id] = loops
            for instr in region.instrs:
                at = next(counter)
                self.order[id(instr)] = (at, loops)
                for a in instr.args:
                    self.reads.setdefault(a.id, []).append((at, loops))
                inner = loops + (id(instr),) if instr.op in (Op.FOR, Op.WHILE) else loops
                for sub in instr.regions:
                    visit(sub, inner)
                for r in instr.results:
                    self.defined_in[r.id] = loops
            at = next(counter)
            for y in region.yields:
                self.reads.setdefault(y.id, []).append((at, loops))
        visit(self.fn.body, ())

    def _snapshots(self) -> set[int]:
        """Views the backward reads (`refs`) of a buffer that some element write updates: the
        forward copies each where it is made (`ForwardEmitter`: `r = s[i].copy()`), so it is
        a buffer of its own and no longer keeps the writes into its base from being in place.
        A view's value is its base's contents when it is made (the IR's value semantics), so
        the copy is always right; it pays when the base is written: the LSTM's taped row
        `cell = s[2 * layer + 1]` of the state `s` it then writes, which cost two copies of
        the whole state per layer and step."""
        out: set[int] = set()
        for instr in walk(self.fn.body):
            if instr.op in VIEWS and instr.result.type.rank and instr.result.id in self.refs \
                    and instr.result.id in self.versions:
                if any(v in self._writes for v in nx.descendants(self.versions, instr.result.id)):
                    out.add(instr.result.id)
        return out

    def _versions(self) -> nx.DiGraph:
        g = nx.DiGraph()
        self._writes: dict[int, Instr] = {}
        self._shares: dict[int, list[int]] = {}   # value -> IF results / views that may be it
        for instr in walk(self.fn.body):
            if instr.op is Op.SETITEM:
                g.add_edge(instr.args[0].id, instr.result.id)
                self._writes[instr.result.id] = instr
            elif instr.op in VIEWS and instr.result.type.rank and instr.result.id in self.snapshots:
                g.add_node(instr.result.id)   # a copy (`_snapshots`): shares no buffer
            elif instr.op in VIEWS and instr.result.type.rank:
                g.add_edge(instr.args[0].id, instr.result.id)
                g.add_edge(instr.result.id, instr.args[0].id)
                self._shares.setdefault(instr.args[0].id, []).append(instr.result.id)
            elif self._bare_alias(instr) is not None:
                # a segment emitted as a bare alias (`a = Y[0] * 1.0` is `a = v`): it *is* its
                # operand's buffer, a view of it for what a later write into that buffer does
                u = self._bare_alias(instr)
                g.add_edge(u, instr.result.id)
                g.add_edge(instr.result.id, u)
                self._shares.setdefault(u, []).append(instr.result.id)
            elif instr.op is Op.IF:
                for sub in instr.regions:
                    for y, r in zip(sub.yields, instr.results):
                        if r.type.rank:
                            g.add_edge(y.id, r.id)
                            self._shares.setdefault(y.id, []).append(r.id)
            elif instr.op in (Op.FOR, Op.WHILE):
                inits = instr.args[3:] if instr.op is Op.FOR else instr.args
                yields = instr.regions[-1].yields
                for sub in instr.regions:
                    params = sub.params[1:] if instr.op is Op.FOR else sub.params
                    for k, r in enumerate(instr.results):
                        if r.type.rank:
                            g.add_edge(inits[k].id, params[k].id)
                            g.add_edge(yields[k].id, params[k].id)
                            g.add_edge(yields[k].id, r.id)
                            g.add_edge(inits[k].id, r.id)
        return g


    def _bare_alias(self, instr: Instr) -> int | None:
        """The value an array segment's result is emitted as a bare name of, or None."""
        if self.plan is None or not instr.results or not instr.results[0].type.rank:
            return None
        vid = instr.results[0].id
        expr = self.plan.expr.get(vid) if vid in self.plan.candidates else None
        if expr is None or not expr.is_Symbol or expr not in self.plan.value_of:
            return None
        source = self.plan.value_of[expr]
        return source.id if source.type.rank and source.id != vid else None


def written_params(fn: Function) -> list[Value]:
    """The argument arrays the function writes into (#13): the program copies each once at its
    start (`name = name.copy()`), so their writes may then be in place."""
    return [fn.params[k] for k in fn.writes]


def primal_inplace_ok(fn: Function, plan=None) -> BufferVersions:
    return BufferVersions(fn, plan, copied_params=[p.id for p in written_params(fn)])
