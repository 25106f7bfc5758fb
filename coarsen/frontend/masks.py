"""Boolean masks: NumPy's `x[m]` with a bool array `m` (comparisons, `&`, `|`, `~`, np.isnan, ...).

A masked read has as many elements as `m` has True values, a length known only when the
program runs, so it is not a value here. It is a `Masked(base, mask)` binding, made only where
a consumer takes the selection whole (`operand`), and each consumer is NumPy's result written
over the full array:
- np.sum / builtin sum / .sum(): the sum of where(m, x, 0);
- np.mean / .mean(): that sum (in float64) over the count of selected elements (NaN when none
  is, as NumPy's mean of an empty array);
- np.max / np.min (np.amax, np.amin, .max(), .min()): of where(m, x, -inf) (inf), after
  NumPy's ValueError when nothing is selected (never -inf);
- with axis=0 (the selection's first axis: `X[labels == k].mean(axis=0)`), each over the
  mask's axes of the same where(...), the mean over the count of selected rows; along another
  axis the result's length is that count, so it is refused;
- len(x[m]) and x[m].size: the count of True values (times the trailing axes' size);
- writes: `y[m] = v` is y = where(m, v, y) for a number, an array filling y's axes after the
  mask's, or `z[m]` through the same mask; `y[m] op= v` is y = where(m, y op v, y) computed
  on the selected elements (the others read 1.0, so no inf or NaN of a discarded element
  reaches a derivative).
A mask of lower rank than x selects along x's leading axes (broadcast over the rest); its
shape must be x's leading shape (NumPy's IndexError at the user's line, checked when the
program runs). Anything else a masked read would flow into (a name, a return, an index, an
array whose length is the count) is refused at the user's line with a hint.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import Any

import numpy as np

from coarsen.ir.nodes import Instr, Op, Value
from coarsen.ir.types import Type

HINT = ("keep the shape and select: np.where(mask, x, 0.0); sums, means, max/min, len and .size of "
        "x[mask], and writes y[mask] = v, compile")

# functions that take a masked read whole: name for the lowering below
REDUCTIONS = {np.sum: "sum", builtins.sum: "sum", np.mean: "mean", np.max: "max", np.amax: "max",
              np.min: "min", np.amin: "min", builtins.len: "len", np.size: "size"}
METHODS = ("sum", "mean", "max", "min")


@dataclass(frozen=True)
class Masked:
    """`base[mask]` (a bool mask of rank <= base's), checked to fit base's leading axes."""

    base: Value
    mask: Value
    text: str   # as the user wrote it, for messages


def escaping(lw, node: ast.AST, text: str | None = None) -> None:
    lw.unsupported(f"`{text or ast.unparse(node)}` selects with a boolean mask, so its length depends on the data; "
                   "it cannot be kept, returned, indexed or computed with here", node, HINT)


def select(lw, base: Value, mask: Value, node: ast.AST) -> Masked:
    """`base[mask]`, after NumPy's IndexError where the mask does not fit base's leading axes."""
    from coarsen.frontend.exceptions import runtime_check
    r = mask.type.rank
    if r > base.type.rank:
        lw.type_error(f"too many indices: a boolean mask of rank {r} for an array of rank {base.type.rank} "
                      "(NumPy: IndexError)", node)
    for d in range(r):
        n, k = (lw.emit(Op.SHAPE, (v,), node, {"dim": d}) for v in (base, mask))
        runtime_check(lw, lw.emit(Op.NE, (n, k), node), IndexError,
                      f"{lw.src.loc(node)}: boolean index did not match indexed array along axis {d}", node)
    return Masked(base, mask, ast.unparse(node))


def _expand(lw, mask: Value, rank: int, node) -> Value:
    """The mask with new trailing axes, to broadcast against an array of `rank`."""
    extra = rank - mask.type.rank
    if not extra:
        return mask
    return lw.emit(Op.GETITEM, (mask,), node, {"index": ("s000",) * mask.type.rank + ("n",) * extra})


def _count(lw, m: Masked, node) -> Value:
    """How many elements `m` selects (an int)."""
    total = lw.emit(Op.SUM, (m.mask,), node, {"axis": None, "keepdims": False})
    count = lw.cast_to(total, Type("i64", 0))
    for d in range(m.mask.type.rank, m.base.type.rank):
        count = lw.emit(Op.MUL, (count, lw.emit(Op.SHAPE, (m.base,), node, {"dim": d})), node)
    return count


def reduce(lw, how: str, m: Masked, args: list, kwargs: dict, node: ast.AST) -> Value:
    """np.sum(x[m]), np.mean, np.max, np.min, len, x[m].size (`how`) over the full array."""
    axis = _selection_axis(lw, how, m, args, kwargs, node)
    if axis is not None:
        return _reduce_selected_rows(lw, how, m, node)
    if how == "len":
        if m.mask.type.rank == 0:
            lw.type_error("len() of a 0-d array", node)
        total = lw.emit(Op.SUM, (m.mask,), node, {"axis": None, "keepdims": False})
        return lw.cast_to(total, Type("i64", 0))
    if how == "size":
        return _count(lw, m, node)
    x, mask = m.base, _expand(lw, m.mask, m.base.type.rank, node)
    if x.type.dtype == "bool" or (how == "mean" and x.type.dtype != "f64"):
        x = lw.cast_to(x, x.type.with_dtype("f64" if how == "mean" else "i64"))
    if how in ("max", "min"):
        from coarsen.frontend.exceptions import runtime_check
        name = "maximum" if how == "max" else "minimum"
        runtime_check(lw, lw.emit(Op.EQ, (_count(lw, m, node), lw.b.const(0)), node), ValueError,
                      f"zero-size array to reduction operation {name} which has no identity", node)
        big = np.inf if x.type.dtype == "f64" else np.iinfo(np.int64).max
        fill = lw.b.const(-big if how == "max" else big) if x.type.dtype == "f64" else \
            lw.b.const(int(np.iinfo(np.int64).min if how == "max" else big))
        op = Op.MAX if how == "max" else Op.MIN
        out = lw.emit(op, (lw.emit(Op.WHERE, (mask, x, fill), node),), node, {"axis": None, "keepdims": False})
        return _as_bool(lw, out, m, node)
    zero = lw.b.const(0.0 if x.type.dtype == "f64" else 0)
    total = lw.emit(Op.SUM, (lw.emit(Op.WHERE, (mask, x, zero), node),), node, {"axis": None, "keepdims": False})
    if how == "sum":
        return total
    return lw.emit(Op.DIV, (total, lw.cast_to(_count(lw, m, node), Type("f64", 0))), node)


def _selection_axis(lw, how: str, m: Masked, args: list, kwargs: dict, node: ast.AST) -> int | None:
    """The axis a reduction of `x[m]` names: None (all of it), or 0, the selection's first axis
    (the rows the mask picks: `X[labels == k].mean(axis=0)`, a k-means centroid). Along any
    other axis the result has as many entries as the mask picks, a length known only when the
    program runs: refused, as are other arguments."""
    from coarsen.frontend.bindings import Static

    hint = (f"reduce over the selected rows (axis=0), or keep the shape: np.where(mask[:, None], x, 0.0)")
    given = dict(kwargs)
    if args:
        if len(args) > 1 or "axis" in given or how in ("len", "size"):
            lw.unsupported(f"{how}() of a boolean-mask selection takes an axis only", node, hint)
        given["axis"] = args[0]
    if set(given) - {"axis"}:
        lw.unsupported(f"{how}() of a boolean-mask selection takes no {', '.join(sorted(set(given) - {'axis'}))} "
                       "argument here", node, hint)
    if "axis" not in given:
        return None
    rank = 1 + m.base.type.rank - m.mask.type.rank   # x[m]: (count, *x.shape[mask rank:])
    if isinstance(given["axis"], tuple):   # axis=(0,), or every axis (the whole selection)
        axes = [lw.static_value(a, node, "the axis") for a in given["axis"]]
        if not all(type(a) is int and -rank <= a < rank for a in axes) or len({a % rank for a in axes}) < len(axes):
            lw.type_error(f"axis {tuple(axes)!r} is out of bounds or repeated for the selection `{m.text}` of "
                          f"rank {rank}", node)
        if len(axes) == rank:
            return None
        if len(axes) != 1:
            lw.unsupported(f"{how}(`{m.text}`) over the axes {tuple(axes)}: a length known only when the program "
                           "runs", node, hint)
        given["axis"] = Static(axes[0])
    axis = lw.static_value(given["axis"], node, "the axis")
    if axis is None:
        return None
    if isinstance(axis, tuple) or type(axis) is not int or not -rank <= axis < rank:
        lw.type_error(f"axis {axis!r} is out of bounds for the selection `{m.text}` of rank {rank}", node)
    if axis % rank:
        lw.unsupported(f"{how}(`{m.text}`, axis={axis}): one entry per selected row, a length known only when "
                       "the program runs", node, hint)
    return 0


def _reduce_selected_rows(lw, how: str, m: Masked, node: ast.AST) -> Value:
    """A reduction of `x[m]` over its first axis: over the mask's axes of where(m, x, fill)."""
    x, mask = m.base, _expand(lw, m.mask, m.base.type.rank, node)
    rows = lw.cast_to(lw.emit(Op.SUM, (m.mask,), node, {"axis": None, "keepdims": False}), Type("i64", 0))
    if x.type.dtype == "bool" or (how == "mean" and x.type.dtype != "f64"):
        x = lw.cast_to(x, x.type.with_dtype("f64" if how == "mean" else "i64"))
    if how in ("max", "min"):
        from coarsen.frontend.exceptions import runtime_check
        name = "maximum" if how == "max" else "minimum"
        runtime_check(lw, lw.emit(Op.EQ, (rows, lw.b.const(0)), node), ValueError,
                      f"zero-size array to reduction operation {name} which has no identity", node)
        if x.type.dtype == "f64":
            fill = lw.b.const(-np.inf if how == "max" else np.inf)
        else:
            fill = lw.b.const(int(np.iinfo(np.int64).min if how == "max" else np.iinfo(np.int64).max))
        out, op = lw.emit(Op.WHERE, (mask, x, fill), node), Op.MAX if how == "max" else Op.MIN
    else:
        out, op = lw.emit(Op.WHERE, (mask, x, lw.b.const(0.0 if x.type.dtype == "f64" else 0)), node), Op.SUM
    for _ in range(m.mask.type.rank):
        out = lw.emit(op, (out,), node, {"axis": 0, "keepdims": False})
    if how == "mean":
        out = lw.emit(Op.DIV, (out, lw.cast_to(rows, Type("f64", 0))), node)
    return _as_bool(lw, out, m, node) if how in ("max", "min") else out


def _as_bool(lw, out: Value, m: Masked, node: ast.AST) -> Value:
    """max/min of a bool selection is a bool, as NumPy's (computed over int64 0/1 here)."""
    return lw.emit(Op.NE, (out, lw.b.const(0)), node) if m.base.type.dtype == "bool" else out


def same_mask(lw, a: Value, b: Value, depth: int = 0) -> bool:
    """Whether two mask values are surely equal: one value, or the same pure op of surely
    equal operands (`y[x > 0] = z[x > 0]` evaluates `x > 0` twice)."""
    if a.id == b.id:
        return True
    if depth > 8 or a.type != b.type:
        return False
    da, db = _definition(lw, a), _definition(lw, b)
    if da is None or db is None or da.op is not db.op or da.regions or da.op is Op.CHECK \
            or len(da.args) != len(db.args):
        return False
    if da.op is Op.CONST:
        return np.array_equal(np.asarray(da.attrs["value"]), np.asarray(db.attrs["value"])) \
            and type(da.attrs["value"]) is type(db.attrs["value"])
    return repr(da.attrs) == repr(db.attrs) and all(same_mask(lw, x, y, depth + 1) for x, y in zip(da.args, db.args))


def _definition(lw, v: Value) -> Instr | None:
    for block in reversed(lw.b._blocks):
        for instr in block:
            if any(r.id == v.id for r in instr.results):
                return instr
    return None


def _fits(lw, v: Value, y: Value, first: int, node: ast.AST) -> None:
    """NumPy's ValueError where `v`'s axes do not broadcast to y's axes from `first` on
    (aligned from the right): each is y's length or 1. `np.where` alone would grow y."""
    from coarsen.frontend.exceptions import runtime_check
    for k in range(1, min(v.type.rank, y.type.rank - first) + 1):
        n, m = (lw.emit(Op.SHAPE, (a,), node, {"dim": a.type.rank - k}) for a in (y, v))
        bad = lw.emit(Op.AND, (lw.emit(Op.NE, (m, n), node), lw.emit(Op.NE, (m, lw.b.const(1)), node)), node)
        runtime_check(lw, bad, ValueError, f"{lw.src.loc(node)}: could not broadcast the value into the "
                      "masked selection", node)


def write(lw, name: str, y: Value, m: Masked, value: Any, node: ast.AST, op: ast.operator | None = None) -> Value:
    """`y[m] = value` (or `y[m] op= value`): the new value of y, where(m, new, y)."""
    r = m.mask.type.rank
    mask = _expand(lw, m.mask, y.type.rank, node)
    if isinstance(value, Masked):
        if not same_mask(lw, value.mask, m.mask):
            lw.unsupported(f"`{name}[...] = {value.text}` writes a selection made with another mask: which "
                           "element goes where depends on the data", node,
                           f"write through one mask: {name}[mask] = z[mask], or np.where(...)")
        v = value.base
        if v.type.rank != y.type.rank:
            lw.unsupported(f"`{name}[mask] = {value.text}` needs `{value.text}`'s array to have the rank of "
                           f"`{name}` here", node, f"{name} = np.where(mask, z, {name})")
        _fits(lw, v, y, r, node)
        if op is not None:   # the discarded elements read 1.0 (no inf or NaN of theirs in a derivative)
            v = lw.emit(Op.WHERE, (mask, v, lw.b.const(1 if v.type.dtype != "f64" else 1.0)), node)
    else:
        v = lw.as_value(value, node)
        if v.type.rank > y.type.rank - r:
            lw.unsupported(f"`{name}[mask] = ...` with an array value: NumPy puts its items into the selected "
                           "elements in order, so which value lands where depends on the data (it must have "
                           "as many items as the mask has True values)", node,
                           f"write a number, z[mask] through the same mask, or select: "
                           f"{name} = np.where(mask, z, {name})")
        _fits(lw, v, y, r, node)
    if op is not None:
        selected = lw.emit(Op.WHERE, (mask, y, lw.b.const(1.0)), node)
        v = lw.binop(op, selected, v, node)
    if v.type.dtype != "f64":
        v = lw.cast_to(v, v.type.with_dtype("f64"))
    return lw.emit(Op.WHERE, (mask, v, y), node)
