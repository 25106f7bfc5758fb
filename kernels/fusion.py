"""Statement fusion for the "cpu" target: chains of whole-array statements as one loop nest.

Input: the generated source of one function (the text every target runs) and the types of its
parameters on the call that compiles it (`arg_type`). Output: the same function where each run
of fusable statements of one block is

    <view and scalar statements of the run, hoisted>
    _n0 = ...; _n1 = ...                      # the iteration shape, read from operands
    if <every operand's shape matches it, and max/min reduce no empty axis>:
        <one buffer per result read after the run>
        for _i0 in range(_n0): for _i1 in range(_n1): <scalar statements>
        <results bound to their names>
    else:
        <the original statements>             # broadcasting by a runtime size-1 axis, ...

so Numba, which fuses one statement's expression into one loop but allocates an array per
statement, allocates only the results something else reads. A run's members are statements
`x = E` with E elementwise over arrays of one rank R (operands of lower rank and axes made by
`None` broadcast; `rt.unbroadcast`/`rt.broadcast_scalar`/`rt.expand_axis`/`rt.fresh` to the
run's shape are elementwise too) and reductions of such an E (`np.sum/mean/max/min`,
`rt.<same>_axis`), whose results later members may not read. Between members, view
statements (`v = x[None, :]`) and scalar arithmetic are hoisted when no member before them
reads or writes what they touch; anything else ends the run.

Invariants: a name not read outside its run is never stored (so never allocated), a name read
outside is stored once per element; every statement the pass does not understand (an unknown
type, a rank it cannot prove, integer or boolean arithmetic NumPy would compute otherwise) is
left as it was; the fused branch computes what the original computes, element by element with
the same scalar operations (max/min as NumPy: NaN propagates), and the original statements run
whenever a shape is not the one the loop assumes. Types come from a small inference over the
source seeded with the parameters' types; unknown types refuse fusion. Pure Python (no Numba).
"""
from __future__ import annotations

import ast
import copy
import itertools
import os
from dataclasses import dataclass

import numpy as np

# scalar NumPy functions applied element by element (Numba compiles them on scalars with the
# kernels its array loops use); result kind: "f" float, "same" the operands' join
ELEMENTWISE = {name: "f" for name in (
    "exp", "log", "sqrt", "tanh", "sin", "cos", "tan", "arctan", "arcsin", "arccos", "sinh",
    "cosh", "log1p", "expm1", "exp2", "log2", "log10", "arctanh", "arcsinh", "arccosh")}
ELEMENTWISE.update({"power": "same", "sign": "same", "abs": "same", "absolute": "same", "maximum": "same", "minimum": "same",
                    "negative": "same", "square": "same"})
REDUCTIONS = ("sum", "mean", "max", "min")
# top-level runs calling these stay as they are: `kernels.vecmath` runs such a whole-array
# statement as a vectorised loop (4 lanes), which beats a scalar call per element in a loop nest
# whose inner axis is short (GMM's k = 5: the primal measured 0.7x slower fused)
VECTORISED = ("np.exp(",)
ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


@dataclass(frozen=True)
class T:
    """A value's type: kind "f"/"i"/"b" (float64, int64, bool), rank, which axes are known to
    have size 1 (made by `None`); kind "shape": a shape tuple of `rank` ints."""
    kind: str
    rank: int
    ones: tuple = ()


CONFLICT = T("?", -1)
VALUE = ("f", "i", "b")


def arg_type(value) -> T | None:
    """The type of a parameter from the value passed (None: unknown, not fused)."""
    if isinstance(value, np.ndarray):
        kind = {"f": "f", "i": "i", "b": "b"}.get(value.dtype.kind)
        if kind is None or value.dtype.itemsize != 8 and kind != "b":
            return None
        return T(kind, value.ndim, (False,) * value.ndim)
    if isinstance(value, (bool, np.bool_)):
        return T("b", 0)
    if isinstance(value, (int, np.integer)):
        return T("i", 0)
    if isinstance(value, (float, np.floating)):
        return T("f", 0)
    return None


def _join_kind(a: str, b: str) -> str | None:
    if a not in ("f", "i") or b not in ("f", "i"):
        return None   # arithmetic on booleans: NumPy's rules differ (or/xor), refuse
    return "f" if "f" in (a, b) else "i"


def _broadcast(types: list[T]) -> T | None:
    rank = max(t.rank for t in types)
    ones = []
    for a in range(rank):
        axis_ones = True
        for t in types:
            k = a - (rank - t.rank)
            if k >= 0 and not t.ones[k]:
                axis_ones = False
        ones.append(axis_ones)
    return T("", rank, tuple(ones))


def _is_np(node, names) -> str | None:
    """"exp" for `np.exp` (and the names listed)."""
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "np" and node.attr in names):
        return node.attr
    return None


def _is_rt(node, names) -> str | None:
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "rt" and node.attr in names):
        return node.attr
    return None


class Types:
    """Flow-insensitive types of the function's names: the join of every assignment's type."""

    def __init__(self, fn: ast.FunctionDef, params: dict[str, T | None]) -> None:
        self.env: dict[str, T] = {k: (v if v is not None else CONFLICT) for k, v in params.items()}
        assigns = [n for n in ast.walk(fn) if isinstance(n, (ast.Assign, ast.For, ast.AugAssign))]
        # optimistic: an assignment whose type is not known yet binds nothing, until the types
        # stop changing; then a last pass makes every name with an unknown assignment CONFLICT
        self.final = False
        for round_ in range(12):
            before = dict(self.env)
            self.final = round_ == 11
            for node in assigns:
                if isinstance(node, ast.For):
                    self._bind(node.target, T("i", 0) if self._is_range(node.iter) else CONFLICT)
                elif isinstance(node, ast.AugAssign):
                    if isinstance(node.target, ast.Name):
                        self._bind(node.target, self.of(node.target))
                elif len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple):
                    t = self.of(node.value)   # a tape record: one type per element
                    elts = node.targets[0].elts
                    if t is not None and t.kind == "tuple" and len(t.ones) == len(elts):
                        for e, et in zip(elts, t.ones):
                            self._bind(e, et)
                    else:
                        self._bind(node.targets[0], None)
                elif len(node.targets) == 1:
                    self._bind(node.targets[0], self.of(node.value))
                else:
                    for t in node.targets:
                        self._bind(t, CONFLICT)
            if self.env == before:
                if self.final:
                    break
                self.final = True
                for node in assigns:
                    if isinstance(node, ast.For):
                        self._bind(node.target, T("i", 0) if self._is_range(node.iter) else CONFLICT)
                    elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                            and isinstance(node.targets[0], ast.Tuple):
                        t = self.of(node.value)
                        elts = node.targets[0].elts
                        if t is not None and t.kind == "tuple" and len(t.ones) == len(elts):
                            for e, et in zip(elts, t.ones):
                                self._bind(e, et)
                        else:
                            self._bind(node.targets[0], None)
                    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                        self._bind(node.targets[0], self.of(node.value))
                    elif isinstance(node, ast.Assign):
                        for t in node.targets:
                            self._bind(t, None)
                break

    @staticmethod
    def _is_range(node) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"

    def _bind(self, target, t: T | None) -> None:
        if not isinstance(target, ast.Name):
            if not self.final and t is None:
                return
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    self.env[sub.id] = CONFLICT
            return
        if t is None and not self.final:
            return   # not known yet: maybe next round
        t = t if t is not None else CONFLICT
        old = self.env.get(target.id)
        if old is None or old == t:
            self.env[target.id] = t
        elif old.kind == t.kind and old.rank == t.rank and t.kind != "?":
            self.env[target.id] = T(t.kind, t.rank, tuple(a and b for a, b in zip(old.ones, t.ones)))
        else:
            self.env[target.id] = CONFLICT

    def of(self, node) -> T | None:
        """The type of an expression, or None when unknown."""
        t = self._of(node)
        return None if t is None or t.kind == "?" else t

    def _of(self, node) -> T | None:
        if isinstance(node, ast.Tuple):   # tape records
            elts = [self.of(e) for e in node.elts]
            return None if any(e is None for e in elts) else T("tuple", 0, tuple(elts))
        if isinstance(node, ast.List) and len(node.elts) == 1:
            e = self.of(node.elts[0])
            return None if e is None else T("list", 0, (e,))
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return T("b", 0)
            if isinstance(v, int):
                return T("i", 0)
            if isinstance(v, float):
                return T("f", 0)
            return None
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in ARITH:
            a, b = self.of(node.left), self.of(node.right)
            if a is None or b is None:
                return None
            kind = _join_kind(a.kind, b.kind)
            if kind is None or (isinstance(node.op, ast.Pow) and kind == "i"):
                return None
            kind = "f" if isinstance(node.op, ast.Div) else kind
            shape = _broadcast([a, b])
            return T(kind, shape.rank, shape.ones)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.FloorDiv, ast.Mod)):
            a, b = self.of(node.left), self.of(node.right)   # index arithmetic only
            return T("i", 0) if a == T("i", 0) and b == T("i", 0) else None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            a = self.of(node.operand)
            return a if a is not None and a.kind in ("f", "i") else None
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE:
            a, b = self.of(node.left), self.of(node.comparators[0])
            if a is None or b is None or a.kind not in ("f", "i") or b.kind not in ("f", "i"):
                return None
            shape = _broadcast([a, b])
            return T("b", shape.rank, shape.ones)
        if isinstance(node, ast.IfExp):   # scalars only (arrays: the whole array is chosen)
            c, a, b = self.of(node.test), self.of(node.body), self.of(node.orelse)
            if c is None or a is None or b is None or c.rank or a.rank or b.rank:
                return None
            kind = a.kind if a.kind == b.kind else _join_kind(a.kind, b.kind)
            return T(kind, 0) if kind in VALUE else None
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if _is_np(node, ("inf", "nan", "pi", "e")):
            return T("f", 0)
        if isinstance(node, ast.Attribute) and node.attr == "T":
            a = self.of(node.value)
            return T(a.kind, 2, a.ones[::-1]) if a is not None and a.rank == 2 and a.kind in VALUE else None
        if isinstance(node, ast.Call):
            return self._call(node)
        return None

    def _subscript(self, node) -> T | None:
        # `x.shape[k]`: an int
        if isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
            return T("i", 0)
        base = self.of(node.value)
        if base is None or base.kind not in VALUE or base.rank == 0:
            return None
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        ones, axis = [], 0
        for item in items:
            if isinstance(item, ast.Constant) and item.value is None:
                ones.append(True)
            elif isinstance(item, ast.Slice):
                if axis >= base.rank:
                    return None
                full = item.lower is None and item.upper is None and item.step is None
                ones.append(base.ones[axis] if full else False)
                axis += 1
            else:
                t = self.of(item)
                if t is None or t.kind != "i" or t.rank != 0 or axis >= base.rank:
                    return None
                axis += 1
        ones.extend(base.ones[axis:])
        return T(base.kind, len(ones), tuple(ones))

    def _call(self, node) -> T | None:
        f, args = node.func, node.args
        if (isinstance(f, ast.Attribute) and f.attr == "pop" and not args and not node.keywords
                and isinstance(f.value, ast.Name)):
            t = self.of(f.value)
            return t.ones[0] if t is not None and t.kind == "list" else None
        if _is_np(f, ("ascontiguousarray", "copy")) and len(args) == 1 and not node.keywords:
            t = self.of(args[0])
            return T(t.kind, t.rank, t.ones) if t is not None and t.kind in VALUE else None
        if (isinstance(f, ast.Attribute) and f.attr == "copy" and not args and not node.keywords):
            t = self.of(f.value)
            return T(t.kind, t.rank, t.ones) if t is not None and t.kind in VALUE else None
        if (isinstance(f, ast.Attribute) and f.attr == "astype" and len(args) == 1 and not node.keywords
                and _is_np(args[0], ("float64", "int64"))):
            t = self.of(f.value)
            kind = "f" if args[0].attr == "float64" else "i"
            return T(kind, t.rank, t.ones) if t is not None and t.kind in VALUE and t.rank >= 1 else None
        if _is_np(f, ("arange",)) and len(args) == 1 and not node.keywords:
            t = self.of(args[0])
            return T("i", 1, (False,)) if t == T("i", 0) else None
        if _is_rt(f, ("matmul",)) and len(args) == 2:
            a, b = self.of(args[0]), self.of(args[1])
            if a is None or b is None or a.kind != "f" or b.kind != "f" or a.rank not in (1, 2) \
                    or b.rank not in (1, 2):
                return None
            rank = a.rank + b.rank - 2
            return T("f", rank, (False,) * rank)
        if _is_rt(f, ("to_scalar",)) and len(args) == 1:
            t = self.of(args[0])
            return T("f", 0) if t is not None and t.kind == "f" else None
        if (_is_np(f, ("concatenate",)) and len(args) == 2 and isinstance(args[0], ast.Tuple)
                and _int_const(args[1]) is not None):
            ts = [self.of(e) for e in args[0].elts]
            if not ts or any(t is None or t.kind != "f" for t in ts) or len({t.rank for t in ts}) != 1:
                return None
            return T("f", ts[0].rank, (False,) * ts[0].rank)
        if (_is_np(f, ("zeros", "ones", "empty")) and len(node.keywords) == 1
                and node.keywords[0].arg == "dtype" and _is_np(node.keywords[0].value, ("float64", "int64"))):
            t = self._call(ast.Call(f, args, []))
            kind = "f" if node.keywords[0].value.attr == "float64" else "i"
            return None if t is None else T(kind, t.rank, t.ones)
        if node.keywords:
            return None
        name = _is_np(f, ELEMENTWISE)
        if name:
            ts = [self.of(a) for a in args]
            if not ts or any(t is None or t.kind not in ("f", "i") for t in ts):
                return None
            shape = _broadcast(ts)
            kind = "f" if ELEMENTWISE[name] == "f" else ("f" if any(t.kind == "f" for t in ts) else "i")
            return T(kind, shape.rank, shape.ones)
        if _is_np(f, ("where",)) and len(args) == 3:
            c, a, b = (self.of(x) for x in args)
            if c is None or a is None or b is None or c.kind != "b":
                return None
            kind = _join_kind(a.kind, b.kind)
            shape = _broadcast([c, a, b])
            return T(kind, shape.rank, shape.ones) if kind else None
        if _is_rt(f, ("broadcast_shapes",)) and args:
            ts = [self.of(a) for a in args]
            if any(t is None or t.kind != "shape" for t in ts):
                return None
            return T("shape", max(t.rank for t in ts))
        if _is_np(f, ("shape",)) and len(args) == 1:
            a = self.of(args[0])
            return T("shape", a.rank) if a is not None and a.kind in VALUE else None
        if _is_np(f, ("zeros", "ones", "empty")) and len(args) == 1:
            a = args[0]
            if isinstance(a, ast.Tuple):
                return T("f", len(a.elts), (False,) * len(a.elts))
            s = self.of(a)
            return T("f", s.rank, (False,) * s.rank) if s is not None and s.kind == "shape" else None
        if _is_np(f, REDUCTIONS) and len(args) == 1:
            a = self.of(args[0])
            if a is None or a.kind != "f" or a.rank == 0:
                return None
            return T("f", 0)
        name = _is_rt(f, tuple(f"{r}_axis" for r in REDUCTIONS))
        if name and len(args) == 2:
            a = self.of(args[0])
            axis = _int_const(args[1])
            if a is None or a.kind != "f" or axis is None or not -a.rank <= axis < a.rank:
                return None
            axis %= a.rank
            ones = a.ones[:axis] + a.ones[axis + 1:]
            return T("f", a.rank - 1, ones)
        if _is_rt(f, ("unbroadcast", "broadcast_scalar")) and len(args) == 2:
            a, s = self.of(args[0]), self.of(args[1])
            if a is None or s is None or s.kind != "shape" or a.kind not in VALUE:
                return None
            kind = "f" if _is_rt(f, ("broadcast_scalar",)) else a.kind
            return T(kind, s.rank, (False,) * s.rank)
        if _is_rt(f, ("fresh",)) and len(args) == 1:
            a = self.of(args[0])
            return T("f", a.rank, a.ones) if a is not None and a.kind in ("f", "i") else None
        if _is_rt(f, ("expand_axis",)) and len(args) == 3:
            a, s = self.of(args[0]), self.of(args[1])
            if a is None or s is None or s.kind != "shape" or a.kind not in VALUE:
                return None
            return T(a.kind, s.rank, (False,) * s.rank)
        return None


def _int_const(node) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) is int):
        return -node.operand.value
    return None


# ------------------------------------------------------------------------------- runs
class Refuse(Exception):
    """A statement (or expression) the run cannot take."""


_fresh = itertools.count()


def _loads(node) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            counts[sub.id] = counts.get(sub.id, 0) + 1
    return counts


def _stores(node) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}


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
        if name:
            parts = [self.expr(a) for a in args]
            return f"np.{name}({', '.join(p for p, _ in parts)})", set().union(*(w for _, w in parts))
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
                    or args[0].id in self.local or args[0].id in self.reduced or t.kind not in VALUE):
                raise Refuse
            axis %= R
            self._shape(args[1])
            code, _ = self._leaf(args[0].id, t, [k if k < axis else k + 1 for k in range(R - 1)])
            return code, set(range(R))
        raise Refuse

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
        var = f"_fz{next(_fresh)}"
        self.body.append(f"{var} = {code}")
        self.local[target] = var
        self.last_store[target] = var
        self.local_types[target] = self.types.of(value)
        self.members.append(stmt)

    def add_sink(self, stmt: ast.AugAssign, view: ast.Subscript, t: T) -> None:
        """`a[idx] += E` (a fresh buffer only ever updated in place): `a[idx]` is a view made
        before the loop, updated element by element; E broadcasts to it."""
        base = view.value.id
        if base in self.member_reads or base in self.local or base in self.reduced or base in self.written:
            raise Refuse
        if set(_loads(view.slice)) & (set(self.local) | set(self.reduced)):
            raise Refuse
        code, _ = self.expr(stmt.value)
        var = f"_fv{next(_fresh)}"
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
        self.written.add(base)
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
        self._consistent()
        acc = f"_fr{next(_fresh)}"
        if axis is None:
            slot = acc
        else:
            slot = f"{acc}[{', '.join(f'_fi{a}' for a in range(self.rank) if a != axis)}]"
        if op in ("sum", "mean"):
            self.body.append(f"{slot} += {code}")
        else:
            cmp = ">" if op == "max" else "<"
            v = f"_fv{next(_fresh)}"
            self.body.append(f"{v} = {code}")
            self.body.append(f"{slot} = {v} if ({v} {cmp} {slot} or {v} != {v}) else {slot}")
            self.nonempty.update(range(self.rank) if axis is None else (axis,))
        self.reduced[target] = (op, axis, acc)
        self.members.append(stmt)
        if not isinstance(operand, ast.Name):
            self.saved += 1



def _only_updated(types: Types, name: str) -> bool:
    """Whether every read of `name` in the function is an in-place update `name[...] += v`, its
    shape, or a return: then no other name or view can see it (no aliasing with operands)."""
    cache = types.__dict__.setdefault("updated_only", {})
    if name in cache:
        return cache[name]
    ok, allowed = True, set()
    for node in ast.walk(types.fn):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript) \
                and isinstance(node.target.value, ast.Name) and node.target.value.id == name:
            allowed.add(id(node.target.value))
        elif isinstance(node, ast.Return):
            allowed.update(id(n) for n in ast.walk(node))
        elif isinstance(node, ast.Call) and _is_np(node.func, ("shape",)):
            allowed.update(id(n) for n in node.args)
        elif isinstance(node, ast.Attribute) and node.attr == "shape":
            allowed.add(id(node.value))
    for node in ast.walk(types.fn):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load) \
                and id(node) not in allowed:
            ok = False
            break
    cache[name] = ok
    return ok


def _classify(stmt, types: Types):
    """("map", rank, value), ("reduce", rank, op, axis, operand) or ("sink", rank, view, type)
    for a fusable statement."""
    if (isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, (ast.Add, ast.Sub))
            and isinstance(stmt.target, ast.Subscript) and isinstance(stmt.target.value, ast.Name)):
        t, v = types.of(stmt.target), types.of(stmt.value)
        if (t is not None and v is not None and t.kind == "f" and v.kind in ("f", "i") and t.rank >= 1
                and v.rank <= t.rank and _only_updated(types, stmt.target.value.id)):
            return ("sink", t.rank, stmt.target, t)
        return None
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return None
    v = stmt.value
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


def _build(stmts: list, i: int, types: Types) -> tuple[Run | None, int]:
    """The run starting with statement i (a member) and the index past its last member."""
    first = _classify(stmts[i], types)
    if first is None:
        return None, i
    run = Run(types, first[1])
    end, pending = i, []
    for j in range(i, len(stmts)):
        stmt = stmts[j]
        kind = _classify(stmt, types)
        if kind is not None and kind[1] == run.rank:
            if pending and _stores(stmt) & {s.targets[0].id for s in pending}:
                break
            state = copy.copy(run.__dict__)
            state = {k: (copy.copy(v) if isinstance(v, (list, dict, set)) else v) for k, v in state.items()}
            state["sources"] = [list(s) for s in run.sources]
            state["ones"] = [set(s) for s in run.ones]
            try:
                if kind[0] == "map":
                    run.add_map(stmt, kind[2])
                elif kind[0] == "sink":
                    run.add_sink(stmt, kind[2], kind[3])
                else:
                    run.add_reduce(stmt, kind[2], kind[3], kind[4])
            except Refuse:
                run.__dict__.update(state)
                break
            run.hoisted.extend(pending)
            pending, end = [], j + 1
            continue
        if _hoistable(stmt, types):
            touched = set(run.local) | set(run.reduced) | run.member_reads | run.written
            if not (set(_loads(stmt.value)) & (set(run.local) | set(run.reduced) | run.written)) \
                    and stmt.targets[0].id not in touched \
                    and stmt.targets[0].id not in {s.targets[0].id for s in pending}:
                pending.append(stmt)
                continue
        break
    return (run if run.members else None), end


def _add(run: Run, stmt, types: Types) -> None:
    kind = _classify(stmt, types)
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
            names.add(stmt.target.value.id)
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
                _add(part, stmt, types)
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
    if eliminated <= 0 or (not ctx and any(v in line for line in run.body for v in VECTORISED)):
        return None
    uid = next(_fresh)
    R = run.rank
    n = [f"_fn{uid}_{a}" for a in range(R)]
    lines = [ast.unparse(s) for s in run.hoisted] + run.views
    cond = []
    for a in range(R):
        src = run.sources[a]
        lines.append(f"{n[a]} = {src[0] if src else 1}")
        cond += [f"{s} == {n[a]}" for s in src[1:]]
        if run.ones[a]:
            cond.append(f"{n[a]} == 1")
        if a in run.nonempty:
            cond.append(f"{n[a]} > 0")
    shape = f"({', '.join(n)},)"
    lines.append(f"if {' and '.join(cond) if cond else 'True'}:")
    fused, after = [], []
    for name in stored:
        buf = f"_fb{next(_fresh)}"
        fused.append(f"{buf} = np.empty({shape}{_DTYPES[run.local_types[name].kind]})")
        run.body.append(f"{buf}[{', '.join(f'_fi{a}' for a in range(R))}] = {run.last_store[name]}")
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
            after.append(f"{name} = {acc}")
    loop, depth = [], 0
    for a in range(R):
        loop.append("    " * depth + f"for _fi{a} in range({n[a]}):")
        depth += 1
    loop += ["    " * depth + line for line in run.body]
    orig = [ast.unparse(m) for m in run.members]
    for name in shapes:
        var = f"_fs{next(_fresh)}"
        after.append(f"{var} = {shape}")
        orig.append(f"{var} = np.shape({name})")
        run.types.env[var] = T("shape", R)
        for node in shapes[name]:
            node.__class__ = ast.Name
            node.__dict__.clear()
            node.id, node.ctx = var, ast.Load()
    lines += ["    " + x for x in fused + loop + after]
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
    types.runs, types.fn = 0, fn
    fn.body = _fuse_block(fn.body, types, [])
    if not types.runs:
        return source
    return ast.unparse(tree) + "\n"
