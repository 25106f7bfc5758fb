"""Statement fusion for the "cpu" target: chains of whole-array statements as one loop nest.

Input: the generated source of one function (the text every target runs) and the types of its
parameters on the call that compiles it (`arg_type`). Output: the same function where each run
of fusable statements of one block is

    <view and scalar statements of the run, hoisted>
    _fn7_0 = ...; _fn7_1 = ...                # the iteration shape, read from operands
    if <every operand's shape matches it, and max/min reduce no empty axis>:
        <one buffer per result read after the run>
        for _fi0 in range(_fn7_0): for _fi1 in range(_fn7_1): <scalar statements>
        <results bound to their names>
    else:
        <the original statements>             # broadcasting by a runtime size-1 axis, ...

so Numba, which fuses one statement's expression into one loop but allocates an array per
statement, allocates only the results something else reads. A run's members are statements
`x = E` with E elementwise over arrays of one rank R (operands of lower rank and axes made by
`None` broadcast; `rt.unbroadcast`/`rt.broadcast_scalar`/`rt.expand_axis`/`rt.fresh` to the
run's shape are elementwise too) and reductions of such an E (`np.sum/mean/max/min`,
`rt.<same>_axis`), whose results later members may not read, and in-place updates `a[idx] += E`
of a buffer whose every read is such an update, a shape or a return (nothing can alias it).
Between members, view statements (`v = x[None, :]`), scalar arithmetic and bounds checks on
shapes (`if 8 >= C.shape[1]: raise IndexError(...)`) are hoisted when no member before them
reads or writes what they touch; anything else ends the run. A run is
emitted as one loop nest per group of members that share arrays (`_components`), each with its
own shape check; a value is stored only when it may be read after the run (`_live_after`:
liveness over the structured code, loop back edges included). Inside the loops a float `**`
or `np.power` is `rt.ipow` (whole exponents multiplied out). Modules: `kernels.fusion_types`
(the type inference), `kernels.fusion_runs` (a run's translation), this one (which statements
form runs, liveness, emission).

Invariants: a name not read outside its run is never stored (so never allocated), a name read
outside is stored once per element; every statement the pass does not understand (an unknown
type, a rank it cannot prove, integer or boolean arithmetic NumPy would compute otherwise) is
left as it was; the fused branch computes what the original computes, element by element with
the same scalar operations (max/min as NumPy: NaN propagates), and the original statements run
whenever a shape is not the one the loop assumes, or a max/min came out a zero or a NaN (which
zero NumPy gives depends on its SIMD lanes: the original statements take NumPy's own there). Types come from a small inference over the
source seeded with the parameters' types; unknown types refuse fusion. Pure Python (no Numba).
"""
from __future__ import annotations

import ast
import copy
import itertools
from collections import Counter
import os

from kernels.fusion_runs import Refuse, Run, _loads, _stores, keepdims_axis
from kernels.fusion_types import (ARITH, REDUCTIONS, VALUE, T, Types, _int_const, _is_np, _is_rt,  # noqa: F401
                                   arg_type)

# top-level runs calling these stay as they are: `kernels.vecmath` runs such a whole-array
# statement as a vectorised loop (4 lanes), which beats a scalar call per element in a loop nest
# whose inner axis is short (GMM's k = 5: the primal measured 0.7x slower fused)
VECTORISED = ("np.exp(", "np.log(")
def _reads(node, name: str, skip: set) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in skip:
            continue
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load):
            return True
        stack.extend(ast.iter_child_nodes(n))
    return False


def _scan(stmts: list, name: str, skip: set) -> str:
    """"live" if `name` may be read in `stmts` before being assigned, "killed" if it is surely
    assigned first, else "open"."""
    for stmt in stmts:
        if isinstance(stmt, ast.If):
            if _reads(stmt.test, name, skip):
                return "live"
            a, b = _scan(stmt.body, name, skip), _scan(stmt.orelse, name, skip)
            if "live" in (a, b):
                return "live"
            if a == b == "killed":
                return "killed"
        elif isinstance(stmt, (ast.For, ast.While)):
            head = stmt.iter if isinstance(stmt, ast.For) else stmt.test
            if _reads(head, name, skip):
                return "live"
            if isinstance(stmt, ast.For) and name in _stores(stmt.target):
                return "live" if _scan(stmt.body, name, skip) == "live" else "open"   # conservative
            if _scan(stmt.body, name, skip) == "live" or _scan(stmt.orelse, name, skip) == "live":
                return "live"
        elif isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Expr, ast.Return, ast.Raise, ast.AnnAssign)):
            if isinstance(stmt, ast.AugAssign) and name in _stores(stmt.target):
                return "live"   # `x += v` reads x
            if _reads(stmt, name, skip):
                return "live"
            if name in _stores(stmt):
                return "killed"
        else:
            return "live"   # anything else: assume read
    return "open"


def _live_after(ctx: list, stmts: list, end: int, name: str, skip: set) -> bool:
    """Whether `name` may be read after `stmts[:end]` run: the rest of the block, the next
    iteration of each loop around it, the statements after each enclosing statement."""
    r = _scan(stmts[end:], name, skip)
    if r != "open":
        return r == "live"
    for parent, index, loop in reversed(ctx):
        if loop is not None:
            if _scan(loop.body, name, skip) == "live":   # the next iteration
                return True
        r = _scan(parent[index + 1:], name, skip)
        if r != "open":
            return r == "live"
    return False


def _only_updated(types: Types, name: str) -> bool:
    """Whether every read of `name` in the function is an in-place update `name[...] += v`, its
    shape, or a return: then no other name or view can see it (no aliasing with operands)."""
    cache = types.__dict__.setdefault("updated_only", {})
    if name in cache:
        return cache[name]
    ok, allowed, computed = True, set(), set()
    for node in ast.walk(types.fn):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript) \
                and isinstance(node.target.value, ast.Name) and node.target.value.id == name:
            allowed.add(id(node.target.value))
        elif (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
              and isinstance(node.operand, ast.Name)):
            computed.add(id(node.operand))   # `-a`: a new array computed from a's elements
        elif isinstance(node, ast.BinOp) and type(node.op) in ARITH:
            computed.update(id(x) for x in (node.left, node.right) if isinstance(x, ast.Name))
        elif isinstance(node, ast.Return):
            allowed.update(id(n) for n in ast.walk(node))
        elif isinstance(node, ast.Call) and _is_np(node.func, ("shape",)):
            allowed.update(id(n) for n in node.args)
        elif (isinstance(node, ast.Call) and _is_rt(node.func, ("take_add", "take_add2", "take_add3"))
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Name)):
            allowed.add(id(node.args[1]))   # the scattered values: read, never aliased
        elif isinstance(node, ast.Attribute) and node.attr == "shape":
            allowed.add(id(node.value))
    arithmetic = False
    for node in ast.walk(types.fn):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load) \
                and id(node) not in allowed:
            if id(node) in computed:
                arithmetic = True
                continue
            ok = False
            break
    # an operand of arithmetic (the gradient's last `-d_xc` before an unbroadcast) makes a new
    # array: no name or view can see the buffer through it. Only for a buffer that is new
    # wherever it is bound (else it may be the caller's or another name's); a run that reads
    # the buffer never updates it (`Run.add_sink`, `Run.expr`), so the statements before or
    # after the run read what they would unfused
    cache[name] = ok and (not arithmetic or _always_fresh(types, name))
    return ok


def _sink(stmt, view: ast.Subscript, t, types: Types):
    """("sink", ...) for the update `view += E` when no operand of a run can alias the buffer:
    every read of it in the function is an update, a shape or a return (`_only_updated`), or
    `_build` found it fresh where the update stands (`_fresh_at`, `types.fresh_sinks`)."""
    v = types.of(stmt.value)
    if (t is not None and v is not None and t.kind == "f" and v.kind in ("f", "i") and t.rank >= 1
            and v.rank <= t.rank and (id(stmt) in types.__dict__.get("fresh_sinks", ())
                                      or _only_updated(types, view.value.id))):
        return ("sink", t.rank, view, t)
    return None


def _sink_base(stmt) -> str | None:
    """The buffer an in-place update `a += E` / `a[idx] += E` writes (None: another statement)."""
    if isinstance(stmt, ast.AugAssign):
        if isinstance(stmt.target, ast.Name):
            return stmt.target.id
        if isinstance(stmt.target, ast.Subscript) and isinstance(stmt.target.value, ast.Name):
            return stmt.target.value.id
    return None


_FRESH_NP = ("zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "copy")


def _fresh_value(node, types: Types) -> bool:
    """Whether evaluating `node` surely makes a new array that nothing else refers to:
    arithmetic on arrays (a NumPy result), `rt.fresh(...)`, `np.zeros(...)` and the like."""
    t = types.of(node)
    if t is None or t.rank < 1:
        return False
    if isinstance(node, ast.BinOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)):
        return True
    if isinstance(node, ast.Call) and not node.keywords:
        return bool(_is_rt(node.func, ("fresh",)) or _is_np(node.func, _FRESH_NP))
    return False


def _always_fresh(types: Types, name: str) -> bool:
    """Whether every binding of `name` in the function is `name = E` with E a new array (so,
    with `_only_updated`, the buffer is never the caller's or another name's)."""
    for node in ast.walk(types.fn):
        if isinstance(node, ast.Assign) and any(name in _stores(t) for t in node.targets):
            if not (len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and _fresh_value(node.value, types)):
                return False
        elif isinstance(node, (ast.For, ast.comprehension, ast.With, ast.AnnAssign, ast.NamedExpr)):
            target = getattr(node, "target", None) or node
            if name in _stores(target):
                return False
    return name not in {a.arg for a in types.fn.args.args}


def _harmless_read(node, parents: dict, name: str, types: Types) -> bool:
    """A read of `name` that makes no alias of its buffer: its shape, an element read into a
    number, the base of an in-place update or element write that does not store the buffer."""
    up = parents.get(id(node))
    if isinstance(up, ast.Attribute) and up.attr == "shape":
        return True
    if isinstance(up, ast.Call) and _is_np(up.func, ("shape",)) and up.args and up.args[0] is node:
        return True
    if isinstance(up, ast.Subscript) and up.value is node:
        outer = parents.get(id(up))
        if isinstance(outer, ast.AugAssign) and outer.target is up:
            return True   # a[idx] += E
        if isinstance(outer, ast.Assign) and up in outer.targets:
            return True   # a[idx] = E
        t = types.of(up)
        return t is not None and t.rank == 0 and t.kind in VALUE   # a number copied out
    return False


def _fresh_at(stmts: list, j: int, name: str, types: Types) -> bool:
    """Whether `name`'s buffer, at statement j of this block, can be seen through no other
    name: its last assignment before j in this block (a plain `name = E`) made a new array
    (`_fresh_value`), and no statement in between read it other than harmlessly (its shape,
    numbers copied out of it, in-place updates and element writes into it). So no operand of
    a run can be a view or alias of it, and updating it element by element inside the run's
    loop reads and writes what the statements would."""
    for k in range(j - 1, -1, -1):
        stmt = stmts[k]
        if name not in _stores(stmt) and not any(
                isinstance(n, ast.Name) and n.id == name for n in ast.walk(stmt)):
            continue
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == name):
            if not _fresh_value(stmt.value, types):
                return False
            for later in stmts[k + 1:j]:
                parents = {id(c): p for p in ast.walk(later) for c in ast.iter_child_nodes(p)}
                for n in ast.walk(later):
                    if isinstance(n, ast.Name) and n.id == name:
                        if isinstance(n.ctx, ast.Store):
                            if not (isinstance(later, ast.AugAssign) and later.target is n):
                                return False
                        elif not _harmless_read(n, parents, name, types):
                            return False
            return True
        if _sink_base(stmt) == name and name not in _loads(stmt.value):
            continue   # an earlier in-place update: the buffer is the one assigned before
        if isinstance(stmt, (ast.For, ast.While, ast.If, ast.With, ast.Try)):
            return False
        parents = {id(c): p for p in ast.walk(stmt) for c in ast.iter_child_nodes(p)}
        if name in _stores(stmt) or not all(
                _harmless_read(n, parents, name, types) for n in ast.walk(stmt)
                if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)):
            return False
    return False


def _classify(stmt, types: Types):
    """("map", rank, value), ("reduce", rank, op, axis, operand) or ("sink", rank, view, type)
    for a fusable statement."""
    if (isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, (ast.Add, ast.Sub))
            and isinstance(stmt.target, ast.Name)):
        # `a += E` of an array: NumPy updates a's buffer in place, as `a[:] += E` does
        t = types.of(stmt.target)
        if t is None or t.rank < 1:
            return None
        view = ast.Subscript(ast.Name(stmt.target.id, ast.Load()),
                             ast.Tuple([ast.Slice() for _ in range(t.rank)], ast.Load())
                             if t.rank > 1 else ast.Slice(), ast.Load())
        if id(stmt) not in types.__dict__.get("fresh_sinks", ()) and not _always_fresh(types, stmt.target.id):
            return None
        return _sink(stmt, view, t, types)
    if (isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, (ast.Add, ast.Sub))
            and isinstance(stmt.target, ast.Subscript) and isinstance(stmt.target.value, ast.Name)):
        return _sink(stmt, stmt.target, types.of(stmt.target), types)
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return None
    v = stmt.value
    keep = keepdims_axis(v, types)
    if keep is not None:   # a sum along one axis, kept as size 1 (`Run.add_reduce`)
        return ("reduce", types.of(v.args[0]).rank, "sum", keep, v.args[0])
    if isinstance(v, ast.Call) and not v.keywords:
        op = _is_np(v.func, REDUCTIONS)
        if op and len(v.args) == 1:
            t = types.of(v.args[0])
            return ("reduce", t.rank, op, None, v.args[0]) if t and t.kind == "f" and t.rank >= 1 else None
        name = _is_rt(v.func, tuple(f"{r}_axis" for r in REDUCTIONS))
        if name and len(v.args) == 2:
            t, axis = types.of(v.args[0]), _int_const(v.args[1])
            if t is None or t.kind != "f" or t.rank < 1 or axis is None or not -t.rank <= axis < t.rank:
                return None
            axis %= t.rank
            return ("reduce", t.rank, name[:-5], None if t.rank == 1 else axis, v.args[0])
    if not isinstance(v, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call)):
        return None   # names (aliases), views, constructors: not elementwise work
    t = types.of(v)
    if t is None or t.rank < 1 or t.kind not in ("f", "i", "b"):
        return None
    return ("map", t.rank, v)


_SCALAR_NODES = (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.BoolOp,
                 ast.Load, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _hoistable(stmt, types: Types) -> bool:
    """A statement that costs nothing to move before the loop: a view of a name, or arithmetic
    on scalars (nothing that can raise, allocate or call)."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return False
    v = stmt.value
    t = types.of(v)
    if t is None or t.kind not in VALUE:
        return False
    if t.rank >= 1:
        return ((isinstance(v, ast.Subscript) and isinstance(v.value, ast.Name))
                or (isinstance(v, ast.Attribute) and v.attr == "T" and isinstance(v.value, ast.Name)))
    return all(isinstance(n, _SCALAR_NODES) for n in ast.walk(v)) and not any(
        isinstance(n, (ast.BinOp)) and isinstance(n.op, (ast.FloorDiv, ast.Mod)) for n in ast.walk(v))


def _shape_check(stmt) -> bool:
    """`if <integer test on constants, names and shapes>: raise ...`: coarsen's bounds checks
    on constant indices (`if 8 >= C.shape[1]: raise IndexError(...)`). Nothing in the test can
    raise or depend on the run's elementwise work, so the check can run before the loop."""
    if not (isinstance(stmt, ast.If) and not stmt.orelse and len(stmt.body) == 1
            and isinstance(stmt.body[0], ast.Raise)):
        return False
    allowed = (ast.Name, ast.Constant, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Load,
               ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.Subscript, ast.Attribute)
    for n in ast.walk(stmt.test):
        if not isinstance(n, allowed) or (isinstance(n, ast.BinOp) and isinstance(n.op, (ast.FloorDiv, ast.Mod, ast.Div))):
            return False
        if isinstance(n, ast.Subscript) and not (isinstance(n.value, ast.Attribute) and n.value.attr == "shape"):
            return False
        if isinstance(n, ast.Attribute) and n.attr != "shape":
            return False
    return True


def _allocation(stmt, types: Types | None = None) -> bool:
    """`x = np.zeros(np.shape(y))` (or a shape name): a fresh buffer (an adjoint accumulator of
    another rank, say) that cannot raise and reads only a shape; moved before the loop, it lets
    the run go on past it (its in-place updates can then join the run)."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return False
    v = stmt.value
    if not (isinstance(v, ast.Call) and not v.keywords and _is_np(v.func, ("zeros",)) and len(v.args) == 1):
        return False
    a = v.args[0]
    if isinstance(a, ast.Name) and types is not None:   # a shape tuple read from the tape
        t = types.of(a)
        return t is not None and t.kind == "shape"
    return (isinstance(a, ast.Call) and not a.keywords and _is_np(a.func, ("shape",)) and len(a.args) == 1
            and isinstance(a.args[0], ast.Name))


def _note_fresh(stmts: list, j: int, types: Types) -> None:
    """Mark statement j, an in-place update, as a sink when its buffer is fresh there."""
    name = _sink_base(stmts[j])
    fresh = types.__dict__.setdefault("fresh_sinks", set())
    if (name is not None and id(stmts[j]) not in fresh and name not in _loads(stmts[j].value)
            and _fresh_at(stmts, j, name, types)):
        fresh.add(id(stmts[j]))


def _build(stmts: list, i: int, types: Types) -> tuple[Run | None, int]:
    """The run starting with statement i (a member) and the index past its last member."""
    _note_fresh(stmts, i, types)
    first = _classify(stmts[i], types)
    if first is None:
        return None, i
    run = Run(types, first[1])
    end, pending = i, []
    for j in range(i, len(stmts)):
        stmt = stmts[j]
        _note_fresh(stmts, j, types)
        kind = _classify(stmt, types)
        if (kind is not None and j > i and _allocation(stmt, types) and j + 1 < len(stmts)
                and _sink_base(stmts[j + 1]) == stmt.targets[0].id):
            kind = None   # zeros updated in place next: a buffer made before the loop, not a member
        if kind is not None and kind[1] == run.rank:
            if pending and _stores(stmt) & {t for s in pending for t in _stores(s)}:
                break
            state = copy.copy(run.__dict__)
            state = {k: (copy.copy(v) if isinstance(v, (list, dict, set)) else v) for k, v in state.items()}
            state["sources"] = [list(s) for s in run.sources]
            state["ones"] = [set(s) for s in run.ones]
            try:
                _add(run, stmt, kind)
            except Refuse:
                run.__dict__.update(state)
                break
            run.hoisted.extend(pending)
            pending, end = [], j + 1
            continue
        made = set(run.local) | set(run.reduced) | run.written   # what the run computes
        if _hoistable(stmt, types) or _allocation(stmt, types):   # (assignments; shape checks are ifs)
            target = stmt.targets[0].id
            if not set(_loads(stmt.value)) & made and target not in made | run.member_reads \
                    and target not in {t for s in pending for t in _stores(s)}:
                pending.append(stmt)
                continue
        if _shape_check(stmt) and not set(_loads(stmt.test)) & made:
            pending.append(stmt)
            continue
        break
    return (run if run.members else None), end


def _add(run: Run, stmt, kind: tuple) -> None:
    """Add `stmt`, of kind `_classify(stmt, ...)`, to the run (Refuse where it cannot join)."""
    if kind[0] == "map":
        run.add_map(stmt, kind[2])
    elif kind[0] == "sink":
        run.add_sink(stmt, kind[2], kind[3])
    else:
        run.add_reduce(stmt, kind[2], kind[3], kind[4])


def _components(run: Run, types: Types) -> list[Run]:
    """The run split into groups of members that share no array: each group gets its own shape
    check and loop, so that one array of another shape (GMM's `icf[:, :d]` beside
    `icf[:, d:]`) sends only its own group to the unfused statements. Groups touch disjoint
    names, so running them one after the other computes what the statements computed."""
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for k, stmt in enumerate(run.members):
        names = {n for n in set(_loads(stmt)) | _stores(stmt)
                 if n in run.local or (types.of(ast.Name(n, ast.Load())) or T("?", 0)).rank != 0}
        if isinstance(stmt, ast.AugAssign):
            names.add(_sink_base(stmt))
        for n in names:
            parent[find(("n", n))] = find(("s", k))
        find(("s", k))
    groups: dict = {}
    for k in range(len(run.members)):
        groups.setdefault(find(("s", k)), []).append(run.members[k])
    if len(groups) == 1:
        return [run]
    out = []
    for members in groups.values():
        part = Run(types, run.rank)
        try:
            for stmt in members:
                _add(part, stmt, _classify(stmt, types))
        except Refuse:
            return [run]
        out.append(part)
    return out


def _shape_uses(stmts: list, name: str) -> tuple[int, list]:
    """`np.shape(name)` calls in the simple statements after a run, up to the next compound
    statement or assignment of `name`."""
    found = []
    for stmt in stmts:
        if isinstance(stmt, (ast.For, ast.While, ast.If, ast.With, ast.Try, ast.FunctionDef)):
            break
        for node in ast.walk(stmt):
            if (isinstance(node, ast.Call) and _is_np(node.func, ("shape",)) and len(node.args) == 1
                    and isinstance(node.args[0], ast.Name) and node.args[0].id == name):
                found.append(node)
        if name in _stores(stmt):
            break
    return len(found), found


_DTYPES = {"f": "", "i": ", dtype=np.int64", "b": ", dtype=np.bool_"}


def _emit(run: Run, stmts: list, end: int, ctx: list) -> list | None:
    """The statements replacing the run's (None: not worth it), rewriting `np.shape(x)` of the
    statements after it where x is no longer stored."""
    stored, shapes = [], {}
    eliminated = run.saved + len([m for m in run.members if isinstance(m, ast.Assign)
                                  and m.targets[0].id not in run.reduced]) \
        - len(run.last_store)
    for name in run.last_store:
        if not _live_after(ctx, stmts, end, name, set()):
            eliminated += 1
            continue
        _, nodes = _shape_uses(stmts[end:], name)
        if nodes and not _live_after(ctx, stmts, end, name, {id(n) for n in nodes}):
            shapes[name] = nodes
            eliminated += 1
        else:
            stored.append(name)
    # a run that saves no temporary but stores several values of one dtype (a gate cell's
    # activations, which a loop's tape records) is fused when those values can share one
    # allocation (rows of one array, `_fk` below) and that saves at least two: a block saving
    # one allocation does not pay for the loop's shape checks and row views (LSTM primal's
    # two-value loop: +4%), and where the run pays anyway separate buffers stay (the ODE's
    # adjoints as rows of one block: +8-13%, measured 2026-12-07)
    blocks: Counter = Counter()
    if eliminated <= 0:
        blocks = Counter(run.local_types[name].kind for name in stored)
        blocks = Counter({kind: k for kind, k in blocks.items() if k >= 2})
        if sum(k - 1 for k in blocks.values()) >= 2:
            eliminated += sum(k - 1 for k in blocks.values())
        else:
            blocks = Counter()
    if eliminated <= 0 or (not ctx and any(v in line for line in run.body for v in VECTORISED)):
        return None
    extrema = [acc for op, _, acc in run.reduced.values() if op in ("max", "min")]
    if extrema and run.written:   # its fallback (below) would update the buffers twice
        return None
    uid = next(run.types.fresh)
    R = run.rank
    n = [f"_fn{uid}_{a}" for a in range(R)]
    lines = [ast.unparse(s) for s in run.hoisted] + run.views
    cond = []
    for a in range(R):
        src = run.sources[a]
        lines.append(f"{n[a]} = {src[0] if src else 1}")
        cond += [f"{s} == {n[a]}" for s in dict.fromkeys(src[1:]) if s != src[0]]
        if run.ones[a]:
            cond.append(f"{n[a]} == 1")
        if a in run.nonempty:
            cond.append(f"{n[a]} > 0")
    cond += [f"rt.apart({v}, {w})" for v, w in run.apart]
    shape = f"({', '.join(n)},)"
    lines.append(f"if {' and '.join(cond) if cond else 'True'}:")
    fused, after = [], []
    index = ", ".join(f"_fi{a}" for a in range(R))
    block, rows = {}, Counter()
    for kind, count in blocks.items():   # one (count, *shape) array, each value a C-contiguous row
        block[kind] = f"_fk{next(run.types.fresh)}"
        fused.append(f"{block[kind]} = np.empty(({count}, {', '.join(n)}){_DTYPES[kind]})")
    for name in stored:
        kind = run.local_types[name].kind
        if kind in block:
            k = rows[kind]
            rows[kind] += 1
            run.body.append(f"{block[kind]}[{k}, {index}] = {run.last_store[name]}")
            after.append(f"{name} = {block[kind]}[{k}]")
            continue
        buf = f"_fb{next(run.types.fresh)}"
        fused.append(f"{buf} = np.empty({shape}{_DTYPES[kind]})")
        run.body.append(f"{buf}[{index}] = {run.last_store[name]}")
        after.append(f"{name} = {buf}")
    for name, (op, axis, acc) in run.reduced.items():
        init = {"sum": "0.0", "mean": "0.0", "max": "-np.inf", "min": "np.inf"}[op]
        if axis is None:
            fused.append(f"{acc} = {init}")
            after.append(f"{name} = {acc} / ({' * '.join(n)})" if op == "mean" else f"{name} = {acc}")
        else:
            kept = [n[a] for a in range(R) if a != axis]
            fused.append(f"{acc} = np.full(({', '.join(kept)},), {init})")
            if op == "mean":
                after.append(f"{acc} /= {n[axis]}")
            if name in run.keepdims:
                dims = ", ".join("1" if a == axis else n[a] for a in range(R))
                after.append(f"{name} = {acc}.reshape(({dims},))")
            else:
                after.append(f"{name} = {acc}")
    loop, depth = [], 0
    inits = {"sum": "0.0", "mean": "0.0", "max": "-np.inf", "min": "np.inf"}
    for a in range(R):
        if a == R - 1:   # innermost-axis reductions: a scalar per row (`Run.add_reduce`)
            loop += ["    " * depth + f"{s} = {inits[op]}" for s, _, op in run.inner_accs]
        loop.append("    " * depth + f"for _fi{a} in range({n[a]}):")
        depth += 1
    loop += ["    " * depth + line for line in run.body]
    loop += ["    " * (R - 1) + f"{row} = {s}" for s, row, _ in run.inner_accs]
    orig = [ast.unparse(m) for m in run.members]
    for name in shapes:
        var = f"_fs{next(run.types.fresh)}"
        after.append(f"{var} = {shape}")
        orig.append(f"{var} = np.shape({name})")
        run.types.env[var] = T("shape", R)
        for node in shapes[name]:
            node.__class__ = ast.Name
            node.__dict__.clear()
            node.id, node.ctx = var, ast.Load()
    lines += ["    " + x for x in fused + loop + after]
    if extrema:
        # a max/min that came out a zero or a NaN: which zero (or NaN) NumPy's SIMD reduction
        # gives depends on its lanes, so the original statements compute it (`rt.max_all`,
        # `rt.<max/min>_axis` take NumPy's own result there): pure, they only recompute the rest
        lines.append(f"    if {' or '.join(f'rt.zero_or_nan({acc})' for acc in extrema)}:")
        lines += ["        " + x for x in orig]
    lines.append("else:")
    lines += ["    " + x for x in orig]
    return ast.parse("\n".join(lines)).body


def _fuse_block(stmts: list, types: Types, ctx: list) -> list:
    """`stmts` with their runs fused; `ctx`: (block, index, loop statement or None) of each
    statement enclosing this block, outermost first (for liveness)."""
    out, i = [], 0
    while i < len(stmts):
        run, end = _build(stmts, i, types)
        new = None
        if run is not None:
            parts = _components(run, types)
            hoisted, emitted = run.hoisted, []
            for part in parts:
                part.hoisted = []
                emitted.append(_emit(part, stmts, end, ctx))
            if any(e is not None for e in emitted):
                new = list(hoisted)
                for part, e in zip(parts, emitted):
                    new.extend(e if e is not None else part.members)
        if new is None:
            stmt = stmts[i]
            for field in ("body", "orelse"):
                if isinstance(stmt, (ast.For, ast.While, ast.If)) and getattr(stmt, field):
                    loop = stmt if isinstance(stmt, (ast.For, ast.While)) and field == "body" else None
                    setattr(stmt, field, _fuse_block(getattr(stmt, field), types, ctx + [(stmts, i, loop)]))
            out.append(stmt)
            i += 1
        else:
            types.runs += 1
            out.extend(new)
            i = end
    return out


def enabled() -> bool:
    """`COARSEN_FUSE` (on unless 0/false/no/off): `python -m benchmarks.adbench.ab` compares both."""
    return os.environ.get("COARSEN_FUSE", "1").strip().lower() not in ("0", "false", "no", "off")


def fuse(source: str, name: str, args: tuple) -> str:
    """`source` with the runs of function `name` fused for the types of `args` (the call that
    compiles it); `source` itself when nothing is fused."""
    tree = ast.parse(source)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if fn is None or fn.args.vararg or fn.args.kwarg or len(fn.args.args) != len(args):
        return source
    params = {a.arg: arg_type(v) for a, v in zip(fn.args.args, args)}
    types = Types(fn, params)
    types.runs, types.fn, types.fresh = 0, fn, itertools.count()
    fn.body = _fuse_block(fn.body, types, [])
    if not types.runs:
        return source
    return ast.unparse(tree) + "\n"
