"""Types for `kernels.fusion`: a small inference over one generated function's source.

Input: the function's AST and its parameters' types (`arg_type` of the values of the call that
compiles it). Output: `Types.env`, one `T` per name, the join of every assignment's type
(flow-insensitive; optimistic until the types settle, so loop-carried names get theirs, then a
name with any assignment of unknown type is CONFLICT). `T` records a kind (float64, int64,
bool; a shape tuple, a tape record or list), a rank, and which axes are known to be 1 (made
by `None`). Everything not understood is unknown, and unknown types refuse fusion.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

# scalar NumPy functions applied element by element (Numba compiles them on scalars with the
# kernels its array loops use); result kind: "f" float, "same" the operands' join
ELEMENTWISE = {name: "f" for name in (
    "exp", "log", "sqrt", "tanh", "sin", "cos", "tan", "arctan", "arcsin", "arccos", "sinh",
    "cosh", "log1p", "expm1", "exp2", "log2", "log10", "arctanh", "arcsinh", "arccosh")}
ELEMENTWISE.update({"power": "same", "sign": "same", "abs": "same", "absolute": "same", "maximum": "same", "minimum": "same",
                    "negative": "same", "square": "same"})
# `rt.<name>` functions applied element by element (their Numba form follows NumPy at ties)
RT_ELEMENTWISE = {"maximum": "same", "minimum": "same"}
REDUCTIONS = ("sum", "mean", "max", "min")
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
                    self._bind_unpacked(node)
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
                        self._bind_unpacked(node)
                    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                        self._bind(node.targets[0], self.of(node.value))
                    elif isinstance(node, ast.Assign):
                        for t in node.targets:
                            self._bind(t, None)
                break

    def _bind_unpacked(self, node: ast.Assign) -> None:
        """`a, b = value`: a tape record binds one type per element, a shape ints; anything else
        binds the tuple unknown."""
        t = self.of(node.value)
        elts = node.targets[0].elts
        if t is not None and t.kind == "tuple" and len(t.ones) == len(elts):
            for e, et in zip(elts, t.ones):
                self._bind(e, et)
        elif t is not None and t.kind == "shape" and t.rank == len(elts):
            for e in elts:
                self._bind(e, T("i", 0))
        else:
            self._bind(node.targets[0], None)

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
            if elts and all(e == T("i", 0) for e in elts):
                return T("shape", len(elts))   # `(0, )`: a shape record's prototype, `(n, 3)`
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
        take = _is_rt(f, ("take", "take2", "take3"))
        if take and len(args) == {"take": 2, "take2": 3, "take3": 4}[take]:
            # x[i0, ...] gathered by int64 index arrays: a fresh array of the indices'
            # broadcast rank followed by x's remaining axes
            x, idx = self.of(args[0]), [self.of(a) for a in args[1:]]
            if x is None or x.kind not in VALUE or x.rank < len(idx) or any(
                    t is None or t.kind != "i" for t in idx):
                return None
            rank = max(t.rank for t in idx) + x.rank - len(idx)
            return T(x.kind, rank, (False,) * rank)
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
        if isinstance(f, ast.Name) and f.id in ("float", "int") and len(args) == 1:
            t = self.of(args[0])   # `h = float(2.0 / s)`: a scalar conversion
            return T("f" if f.id == "float" else "i", 0) if t is not None and t.kind in ("f", "i") \
                and t.rank == 0 else None
        name = _is_np(f, ELEMENTWISE) or _is_rt(f, RT_ELEMENTWISE)
        if name:
            ts = [self.of(a) for a in args]
            if not ts or any(t is None or t.kind not in ("f", "i") for t in ts):
                return None
            shape = _broadcast(ts)
            rule = ELEMENTWISE[name] if _is_np(f, ELEMENTWISE) else RT_ELEMENTWISE[name]
            kind = "f" if rule == "f" else ("f" if any(t.kind == "f" for t in ts) else "i")
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
        if _is_rt(f, ("extremum_mask_axis",)) and len(args) == 3:
            # a float64 mask of x's shape (1.0 where a max/min along the axis was picked): not
            # elementwise work, but typed, so the statements after it that read it can fuse
            a = self.of(args[0])
            return T("f", a.rank, a.ones) if a is not None and a.kind in VALUE and a.rank >= 1 else None
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
