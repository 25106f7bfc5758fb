"""A run of `kernels.fusion`: member statements translated to the scalar statements of one loop
nest's body, with the shape checks the loop needs.

`Run.add_map` (x = E), `add_reduce` (x = np.sum(E), rt.sum_axis(E, k), ...) and `add_sink`
(a[idx] += E) translate a statement or raise `Refuse`; a member's value is a scalar variable
read by later members (`local`), array operands are read at the loop indices (size-1 axes made
by `None` at index 0), and every operand axis that is not known to be 1 is a size the loop's
shape must equal at run time (`sources`). `ones` marks axes that must be 1 (a value or shape of
size 1 there), `nonempty` the axes a max/min reduces. Names are numbered per fused function
(`Types.fresh`), so the fused text, and the machine code cached for it, is the same in every
process.
"""
from __future__ import annotations

import ast

from kernels.fusion_types import (ARITH, COMPARE, ELEMENTWISE, RT_ELEMENTWISE, VALUE, T, Types, _int_const,
                                  _is_np, _is_rt)

class Refuse(Exception):
    """A statement (or expression) the run cannot take."""


def _loads(node) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            counts[sub.id] = counts.get(sub.id, 0) + 1
    return counts


def _stores(node) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}


def _constant_slice(node) -> tuple | None:
    """`a[:, 3]`'s pattern (None, 3): per axis None for a full slice `:`, the constant index
    otherwise; None when the subscript is anything else."""
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    out = []
    for p in parts:
        if isinstance(p, ast.Slice) and p.lower is None and p.upper is None and p.step is None:
            out.append(None)
        elif _int_const(p) is not None:
            out.append(_int_const(p))
        else:
            return None
    return tuple(out)


class Run:
    """Consecutive statements of one block fused into one loop nest of rank `rank`."""

    def __init__(self, types: Types, rank: int) -> None:
        self.types, self.rank = types, rank
        self.members: list[ast.Assign] = []
        self.hoisted: list[ast.Assign] = []
        self.body: list[str] = []              # scalar statements of the innermost loop
        self.local: dict[str, str] = {}        # name -> scalar variable of its value in the loop
        self.local_types: dict[str, T] = {}
        self.local_reads: dict[str, int] = {}  # loads read as local scalars
        self.last_store: dict[str, str] = {}   # name -> scalar variable of its last value
        self.reduced: dict[str, tuple] = {}    # name -> (op, axis or None, accumulator)
        self.sources: list[list[str]] = [[] for _ in range(rank)]   # per axis: size expressions
        self.ones: list[set] = [set() for _ in range(rank)]           # axes that must be 1
        self.member_reads: set[str] = set()
        self.saved = 0                          # allocations saved (before materialising)
        self.nonempty: set[int] = set()         # axes a max/min reduces: > 0
        self.written: set[str] = set()          # arrays updated in place (`a[i] += v`)
        self.views: list[str] = []              # their views, made before the loop
        self.sink_patterns: dict = {}           # base -> slice patterns of its views (None: other)
        self.sink_views: dict = {}              # base -> [(view variable, a slice of a vector?)]
        self.apart: list = []                   # view pairs that must share no memory (run time)
        self.keepdims: dict[str, int] = {}      # reduced name -> the axis kept as size 1
        self.inner_accs: list = []              # (scalar, row slot, op) of innermost-axis reductions

    # -- expressions -> scalar code ---------------------------------------------------------
    def _leaf(self, name: str, t: T, axes: list[int]) -> tuple[str, set]:
        """`name[...]` at the loop indices; `axes[k]` is the run axis of the leaf's axis k."""
        idx, seen = [], set()
        for k, a in enumerate(axes):
            if t.ones[k]:
                idx.append("0")
            else:
                idx.append(f"_fi{a}")
                self.sources[a].append(f"{name}.shape[{k}]")
                seen.add(a)
        self.member_reads.add(name)
        return f"{name}[{', '.join(idx)}]", seen

    def _shape(self, node) -> None:
        """A shape operand (`np.shape(y)` or a shape tuple) that must be the run's shape."""
        if isinstance(node, ast.Name):
            t = self.types.of(node)
            if t is None or t.kind != "shape" or t.rank != self.rank or node.id in self.local:
                raise Refuse
            self.member_reads.add(node.id)
            for a in range(self.rank):
                self.sources[a].append(f"{node.id}[{a}]")
            return
        if isinstance(node, ast.Call) and not node.keywords and _is_rt(node.func, ("broadcast_shapes",)) \
                and node.args:
            for arg in node.args:   # each the run's shape: so is their broadcast
                self._shape(arg)
            return
        if not (isinstance(node, ast.Call) and _is_np(node.func, ("shape",)) and len(node.args) == 1
                and isinstance(node.args[0], ast.Name)):
            raise Refuse
        name = node.args[0].id
        if name in self.local:
            self.local_reads[name] = self.local_reads.get(name, 0) + 1
            return
        t = self.types.of(node.args[0])
        if t is None or t.rank != self.rank or name in self.reduced:
            raise Refuse
        self.member_reads.add(name)
        for a in range(self.rank):
            if t.ones[a]:
                self.ones[a].add(True)
            else:
                self.sources[a].append(f"{name}.shape[{a}]")

    def expr(self, node) -> tuple[str, set]:
        """Scalar code of `node` at the loop indices and the run axes it spans (witnesses)."""
        R = self.rank
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return repr(node.value), set()
        if _is_np(node, ("inf", "nan", "pi", "e")):
            return f"np.{node.attr}", set()
        if isinstance(node, ast.Name):
            if node.id in self.reduced or node.id in self.written:
                raise Refuse
            if node.id in self.local:
                self.local_reads[node.id] = self.local_reads.get(node.id, 0) + 1
                return self.local[node.id], set(range(R))
            t = self.types.of(node)
            if t is None or t.kind not in VALUE or t.rank > R:
                raise Refuse
            if t.rank == 0:
                self.member_reads.add(node.id)
                return node.id, set()
            return self._leaf(node.id, t, list(range(R - t.rank, R)))
        if isinstance(node, ast.BinOp) and type(node.op) in ARITH:
            a, wa = self.expr(node.left)
            b, wb = self.expr(node.right)
            right = self.types.of(node.right)
            if isinstance(node.op, ast.Pow) and right is not None and right.kind == "f":
                self.saved += 1
                return f"rt.ipow({a}, {b})", wa | wb   # float exponents: whole ones multiplied out
            return f"({a} {ARITH[type(node.op)]} {b})", wa | wb
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            a, wa = self.expr(node.operand)
            return f"({'-' if isinstance(node.op, ast.USub) else '+'}{a})", wa
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE:
            a, wa = self.expr(node.left)
            b, wb = self.expr(node.comparators[0])
            return f"({a} {COMPARE[type(node.ops[0])]} {b})", wa | wb
        if isinstance(node, ast.Call) and not node.keywords:
            return self._call(node)
        raise Refuse

    def _call(self, node) -> tuple[str, set]:
        f, args, R = node.func, node.args, self.rank
        name = _is_np(f, ELEMENTWISE)
        if name == "power" and len(args) == 2:
            ts = [self.types.of(a) for a in args]
            if any(t is None or t.kind != "f" for t in ts):
                raise Refuse   # integer powers: NumPy's rules (negative exponents raise)
            (a, wa), (b, wb) = self.expr(args[0]), self.expr(args[1])
            self.saved += 1   # whole exponents multiplied out instead of pow
            return f"rt.ipow({a}, {b})", wa | wb
        module = "np" if name else "rt"
        name = name or _is_rt(f, RT_ELEMENTWISE)
        if name:
            parts = [self.expr(a) for a in args]
            return f"{module}.{name}({', '.join(p for p, _ in parts)})", set().union(*(w for _, w in parts))
        if _is_np(f, ("where",)) and len(args) == 3:
            (c, wc), (a, wa), (b, wb) = (self.expr(x) for x in args)
            return f"({a} if {c} else {b})", wc | wa | wb
        if _is_rt(f, ("fresh",)) and len(args) == 1:
            t = self.types.of(args[0])
            if t is None or t.rank != R:
                raise Refuse
            a, wa = self.expr(args[0])
            return (f"float({a})" if t.kind == "i" else a), wa
        if _is_rt(f, ("unbroadcast",)) and len(args) == 2:
            t = self.types.of(args[0])
            if t is None or t.rank != R:
                raise Refuse
            a, wa = self.expr(args[0])
            self._shape(args[1])
            for ax in set(range(R)) - wa:   # x's own size there is 1: so must the shape's be
                self.ones[ax].add(True)
            return a, set(range(R))
        if _is_np(f, ("zeros", "ones")) and len(args) == 1:
            # a float64 buffer of the run's shape (an adjoint accumulator): filled in the loop
            self._shape(args[0])
            return ("0.0" if f.attr == "zeros" else "1.0"), set(range(R))
        if _is_rt(f, ("broadcast_scalar",)) and len(args) == 2:
            t = self.types.of(args[0])
            if t is None or t.rank != 0:
                raise Refuse
            a, _ = self.expr(args[0])
            self._shape(args[1])
            return f"float({a})", set(range(R))
        if _is_rt(f, ("expand_axis",)) and len(args) == 3 and isinstance(args[0], ast.Name):
            axis = _int_const(args[2])
            t = self.types.of(args[0])
            if (t is None or axis is None or t.rank != R - 1 or not -R <= axis < R
                    or args[0].id in self.local or args[0].id in self.reduced or args[0].id in self.written
                    or t.kind not in VALUE):
                raise Refuse
            axis %= R
            self._shape(args[1])
            code, _ = self._leaf(args[0].id, t, [k if k < axis else k + 1 for k in range(R - 1)])
            return code, set(range(R))
        if _is_rt(f, ("extremum_mask_axis",)) and len(args) == 3:
            # not elementwise (the first max along an axis): computed before the loop, where
            # nothing the run computes or updates is an input (its inputs count as the run's
            # reads, so no later member updates them), and read element by element
            t = self.types.of(node)
            reads = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id not in ("np", "rt")}
            if t is None or t.rank != R or reads & (set(self.local) | set(self.reduced) | self.written):
                raise Refuse
            self.member_reads |= reads
            var = f"_fm{next(self.types.fresh)}"
            self.views.append(f"{var} = {ast.unparse(node)}")
            return self._leaf(var, t, list(range(R)))
        raise Refuse

    def _shape_except(self, node, axis: int) -> None:
        """`np.shape(y)` whose axes other than `axis` must be the run's (y's size there is 1)."""
        if not (isinstance(node, ast.Call) and _is_np(node.func, ("shape",)) and len(node.args) == 1
                and isinstance(node.args[0], ast.Name)):
            raise Refuse
        name = node.args[0].id
        t = self.types.of(node.args[0])
        if name in self.local or name in self.reduced or t is None or t.rank != self.rank:
            raise Refuse
        self.member_reads.add(name)
        for a in range(self.rank):
            if a != axis:
                self.sources[a].append(f"{name}.shape[{a}]")

    def _consistent(self) -> None:
        """Refuse a member whose shape has size 1 on an axis where another operand may not
        (an `unbroadcast` to `(n, 1)` sums; broadcasting against a runtime size 1 is left to
        NumPy's rules in the original statements)."""
        for a in range(self.rank):
            if self.ones[a] and self.sources[a]:
                raise Refuse

    # -- statements -----------------------------------------------------------------------
    def add_map(self, stmt: ast.Assign, value) -> None:
        target = stmt.targets[0].id
        if target in self.reduced:
            raise Refuse
        code, seen = self.expr(value)
        for ax in set(range(self.rank)) - seen:   # a value of size 1 on this axis
            self.ones[ax].add(True)
        self._consistent()
        var = f"_fz{next(self.types.fresh)}"
        self.body.append(f"{var} = {code}")
        self.local[target] = var
        self.last_store[target] = var
        self.local_types[target] = self.types.of(value)
        self.members.append(stmt)

    def add_sink(self, stmt: ast.AugAssign, view: ast.Subscript, t: T) -> None:
        """`a[idx] += E` (a fresh buffer only ever updated in place): `a[idx]` is a view made
        before the loop, updated element by element; E broadcasts to it."""
        base = view.value.id
        if base in self.member_reads or base in self.local or base in self.reduced:
            raise Refuse
        pattern = _constant_slice(view.slice)
        checks = []
        if base in self.written:
            # another update of the same buffer: only through views that are the same elements
            # or none of them (full slices at the same places, constant indices elsewhere), so
            # each element gets its updates in statement order, as unfused; or, for slices of a
            # vector (runtime bounds: an LSTM's gate slices `d[a:b] += u`), views checked at run time
            # to share no memory with the buffer's other views (`rt.apart`), so each element
            # gets one update
            seen = self.sink_patterns.get(base)
            if pattern is None or seen is None or any(
                    [k for k, x in enumerate(p) if x is None] != [k for k, x in enumerate(pattern) if x is None]
                    for p in seen):
                if not (t.rank == 1 and isinstance(view.slice, ast.Slice)) or not all(
                        flat for _, flat in self.sink_views.get(base, ())):
                    raise Refuse   # (columns of a matrix interleave: never apart)
                checks = [v for v, _ in self.sink_views.get(base, ())]
        if set(_loads(view.slice)) & (set(self.local) | set(self.reduced)):
            raise Refuse
        code, _ = self.expr(stmt.value)
        var = f"_fv{next(self.types.fresh)}"
        self.views.append(f"{var} = {ast.unparse(view)}")
        idx = []
        for k in range(self.rank):
            if t.ones[k]:
                idx.append("0")
                self.ones[k].add(True)
            else:
                idx.append(f"_fi{k}")
                self.sources[k].append(f"{var}.shape[{k}]")
        self._consistent()
        self.body.append(f"{var}[{', '.join(idx)}] {'+' if isinstance(stmt.op, ast.Add) else '-'}= {code}")
        self.apart = self.apart + [(var, v) for v in checks]
        self.sink_views[base] = self.sink_views.get(base, []) + [
            (var, t.rank == 1 and isinstance(view.slice, ast.Slice))]
        self.written.add(base)
        self.sink_patterns[base] = None if pattern is None else self.sink_patterns.get(base, []) + [pattern]
        self.members.append(stmt)
        if not isinstance(stmt.value, ast.Name):
            self.saved += 1

    def add_reduce(self, stmt: ast.Assign, op: str, axis, operand) -> None:
        target = stmt.targets[0].id
        if target in self.local or target in self.reduced:
            raise Refuse
        code, seen = self.expr(operand)
        for ax in set(range(self.rank)) - seen:
            self.ones[ax].add(True)
        keep = keepdims_axis(stmt.value, self.types)
        if keep is not None:
            # `rt.unbroadcast(E, np.shape(y))`, y of size 1 at `axis` (its type says so) and of
            # E's sizes elsewhere: E summed along the axis, kept as size 1 (the adjoint of a
            # broadcast `top[:, None]`); the other axes of the shape must be the run's
            if keep != axis:
                raise Refuse
            self._shape_except(stmt.value.args[1], axis)
            self.keepdims[target] = axis
        self._consistent()
        acc = f"_fr{next(self.types.fresh)}"
        if axis is None:
            slot = acc
        elif axis == self.rank - 1:
            # along the innermost loop: a scalar that the loop carries in a register, stored
            # once per row (`_emit`); through memory, each addition waited on the last one's
            # store (k-means' 10 x 1000 mask sum: 62 -> 36 us, 41 us unfused). The same
            # additions in the same order: the row's accumulator starts where the array's would
            slot = f"{acc}_s"
            self.inner_accs.append((slot, f"{acc}[{', '.join(f'_fi{a}' for a in range(axis))}]", op))
        else:
            slot = f"{acc}[{', '.join(f'_fi{a}' for a in range(self.rank) if a != axis)}]"
        if op in ("sum", "mean"):
            self.body.append(f"{slot} += {code}")
        else:
            cmp = ">" if op == "max" else "<"
            v = f"_fv{next(self.types.fresh)}"
            self.body.append(f"{v} = {code}")
            self.body.append(f"{slot} = {v} if ({v} {cmp} {slot} or {v} != {v}) else {slot}")
            self.nonempty.update(range(self.rank) if axis is None else (axis,))
        self.reduced[target] = (op, axis, acc)
        self.members.append(stmt)
        if not isinstance(operand, ast.Name):
            self.saved += 1


def keepdims_axis(node, types: Types) -> int | None:
    """The axis that `rt.unbroadcast(E, np.shape(y))` sums E along (kept as size 1), when it is
    one axis known statically: y of E's rank (>= 2), its type of size 1 there and E's not, and
    no other axis of y known to be 1. None for anything else (left to the statement)."""
    if not (isinstance(node, ast.Call) and not node.keywords and _is_rt(node.func, ("unbroadcast",))
            and len(node.args) == 2):
        return None
    shape = node.args[1]
    if not (isinstance(shape, ast.Call) and not shape.keywords and _is_np(shape.func, ("shape",))
            and len(shape.args) == 1 and isinstance(shape.args[0], ast.Name)):
        return None
    e, y = types.of(node.args[0]), types.of(shape.args[0])
    if e is None or y is None or e.kind != "f" or e.rank < 2 or y.rank != e.rank:
        return None
    axes = [a for a in range(e.rank) if y.ones[a]]
    if len(axes) != 1 or e.ones[axes[0]]:
        return None
    return axes[0]
