"""Helpers the registry's frontend lowerings share: argument checks and small IR idioms.

A lowering gets the frontend's lowerer `lw` (see `coarsen.frontend.statements`), the call's
bindings and the call's AST node, and emits ops with `lw.emit(O.X, args, node, attrs)`.
Errors go through `lw.unsupported` / `lw.type_error`: they point at the user's call.
"""
from __future__ import annotations

from typing import Any

from coarsen.ops.spec import O


def emitter(lw, node):
    """`e("ADD", a, b)`: one registry op at the call's line."""
    return lambda op, *xs: lw.emit(getattr(O, op), xs, node)


def arity(lw, args, kwargs, node, n: int | tuple[int, ...], name: str, allowed_kw=()) -> None:
    extra = set(kwargs) - set(allowed_kw)
    if extra:
        lw.unsupported(f"{name}() keyword argument(s) {', '.join(sorted(extra))} not supported", node)
    counts = (n,) if isinstance(n, int) else n
    if len(args) not in counts:
        shown = " or ".join(str(c) for c in counts)
        lw.type_error(f"{name}() takes {shown} argument(s) here, got {len(args)}", node)


def positional(lw, args, kwargs, node, names: list[str], name: str, required: int,
               defaults: dict | None = None) -> list:
    """Arguments by position or keyword, in `names` order; missing optional ones from
    `defaults` (None where absent)."""
    defaults = defaults or {}
    extra = set(kwargs) - set(names)
    if extra:
        lw.unsupported(f"{name}() keyword argument(s) {', '.join(sorted(extra))} not supported", node)
    if len(args) > len(names):
        lw.type_error(f"{name}() takes at most {len(names)} arguments, got {len(args)}", node)
    out = list(args)
    for key in names[len(args):]:
        out.append(kwargs[key] if key in kwargs else defaults.get(key))
    if any(v is None for v in out[:required]):
        lw.type_error(f"{name}() needs {', '.join(names[:required])}", node)
    return out


def static(lw, binding, node, what: str) -> Any:
    """A compile-time value (an axis, a flag, a subscripts string); None stays None."""
    from coarsen.frontend.bindings import Static

    if binding is None or (isinstance(binding, Static) and binding.obj is None):
        return None
    if isinstance(binding, (bool, int, float, str)):   # a default filled in by a lowering
        return binding
    if isinstance(binding, tuple):
        return tuple(static(lw, b, node, what) for b in binding)
    negated = _negated_constant(lw, binding)   # -np.inf: the builder folds finite results only
    if negated is not None:
        return negated
    return lw.static_value(binding, node, what)


def producer(lw, value):
    """The instruction (in an open block) whose result `value` is, or None."""
    from coarsen.ir.nodes import Value

    if not isinstance(value, Value):
        return None
    for block in reversed(lw.b._blocks):
        for instr in reversed(block):
            if any(r.id == value.id for r in instr.results):
                return instr
    return None


def _negated_constant(lw, binding):
    from coarsen.ir.nodes import Value

    if not isinstance(binding, Value) or binding.type.rank or lw.b.constant_of(binding) is not None:
        return None
    instr = producer(lw, binding)
    if instr is None or instr.op is not O.NEG:
        return None
    inner = lw.b.constant_of(instr.args[0])
    return None if inner is None else -inner


def axis_of(lw, binding, rank: int, node, name: str, allow_none: bool = True) -> int | None:
    axis = static(lw, binding, node, "axis")
    if axis is None:
        if not allow_none:
            lw.type_error(f"{name}() needs an axis here", node)
        return None
    if not isinstance(axis, int) or isinstance(axis, bool):
        lw.unsupported(f"{name}() with axis={axis!r} is not supported", node, "give one integer axis")
    if not -rank <= axis < rank:
        lw.type_error(f"{name}(): axis {axis} is out of bounds for an array of rank {rank}", node)
    return axis % rank


def array(lw, binding, node, name: str, min_rank: int = 1, ints: bool = False):
    """The operand as a float64 array (NumPy converts it so, or the op is computed in float64
    here: `coarsen.ops.int_rule` refuses that where NumPy keeps integers); `ints`: an int64
    operand is kept (the lowering computes it exactly in int64)."""
    x = lw.as_value(binding, node)
    if x.type.rank < min_rank:
        lw.type_error(f"{name}() needs an array of rank >= {min_rank}, got {x.type}", node)
    if ints and x.type.dtype == "i64":
        return x
    if x.type.dtype == "i64":   # explicit: float64 from here on (np.linalg.norm of ints squares
        x = lw.convert(x, "f64", node)   # floats, as NumPy; an implicit cast let int64 wrap)
    elif x.type.dtype != "f64":   # bools: 0.0/1.0 (the cpu target compiles no float() of a bool)
        x = lw.cast_to(x, x.type.with_dtype("f64"))
    return x


def operands(lw, bindings, node, name: str, min_rank: int = 0) -> list:
    """Operands of a product (np.outer, np.kron, np.cross, np.vdot): kept int64 where all are
    int64 (computed exactly, wrapping as NumPy's), else float64 (bools among them: then
    `ops.int_rule` refuses a call NumPy computes logically or in int64)."""
    values = [lw.as_value(b, node) for b in bindings]
    ints = all(v.type.dtype == "i64" for v in values)
    return [array(lw, v, node, name, min_rank, ints=ints) for v in values]


def const(lw, value, node=None):
    return lw.b.const(value)


def shape(lw, x, node) -> list:
    return [lw.emit(O.SHAPE, (x,), node, {"dim": d}) for d in range(x.type.rank)]


def getitem(lw, x, pattern: list, values: list, node):
    """x[pattern] with pattern items 'i' (an index value), 'n' (newaxis), ':' (full slice),
    or ('s', lo, hi, step) with values or None."""
    codes, args = [], []
    for item in pattern:
        if item == "i":
            codes.append("i")
            args.append(values.pop(0))
        elif item == "n":
            codes.append("n")
        elif item == ":":
            codes.append("s000")
        else:
            _, lo, hi, st = item
            codes.append("s" + "".join("0" if v is None else "1" for v in (lo, hi, st)))
            args.extend(v for v in (lo, hi, st) if v is not None)
    return lw.emit(O.GETITEM, (x, *args), node, {"index": tuple(codes)})


def take_along(lw, x, axis: int, lo, hi, node, step=None):
    """x[..., lo:hi:step, ...] on `axis` (lo, hi, step: values or None)."""
    pattern = [":"] * axis + [("s", lo, hi, step)]
    return getitem(lw, x, pattern, [], node)


def index_along(lw, x, axis: int, i, node):
    """x[..., i, ...] on `axis` (drops it)."""
    pattern = [":"] * axis + ["i"]
    return getitem(lw, x, pattern, [i], node)


def newaxis(lw, x, axis: int, node):
    """x with a new axis of length 1 at `axis` (0 <= axis <= rank)."""
    pattern = [":"] * axis + ["n"]
    return getitem(lw, x, pattern, [], node)


def size(lw, x, node):
    total = lw.b.const(1)
    for d in shape(lw, x, node):
        total = lw.emit(O.MUL, (total, d), node)
    return total


def static_dims(lw, x, depth: int = 0) -> list:
    """x's axis lengths where they are known at compile time (an int), else None: from the
    instructions that made x (constructors with constant sizes, newaxis, keepdims reductions,
    constant reshapes, permutations, concatenations, broadcasts of those). A parameter's
    lengths are run-time facts (None), except in a shape-specialised trace."""
    from coarsen.ir.nodes import ELEMENTWISE, REDUCTIONS

    rank = x.type.rank
    known = lw.b.shapes.get(x.id) if lw.b.shaped else None   # a shape-specialised trace
    if known is not None:
        return list(known)
    unknown = [None] * rank
    instr = producer(lw, x) if depth < 64 else None
    if instr is None:
        return unknown
    op, args, attrs = instr.op, instr.args, instr.attrs
    if op is O.CONST:
        return list(getattr(attrs["value"], "shape", unknown))
    if op in (O.ZEROS, O.ONES, O.EMPTY) or op is O.RESHAPE:
        sizes = args if op is not O.RESHAPE else args[1:]
        return [lw.b.constant_of(d) for d in sizes]
    if op is O.STACK:
        return [len(args)]
    if op in (O.COPY, O.CUMSUM, O.CUMPROD, O.CAST):
        return static_dims(lw, args[0], depth + 1)
    if op is O.TRANSPOSE:
        return static_dims(lw, args[0], depth + 1)[::-1]
    if op is O.PERMUTE:
        dims = static_dims(lw, args[0], depth + 1)
        return [dims[a] for a in attrs["axes"]]
    if op in REDUCTIONS:
        dims = static_dims(lw, args[0], depth + 1)
        axis, keep = attrs.get("axis"), attrs.get("keepdims")
        if axis is None:
            return [1] * rank if keep else []
        return dims[:axis] + ([1] if keep else []) + dims[axis + 1:]
    if op is O.CONCAT:
        parts = [static_dims(lw, a, depth + 1) for a in args]
        axis = attrs["axis"]
        out = [next((p[k] for p in parts if p[k] is not None), None) for k in range(rank)]
        lengths = [p[axis] for p in parts]
        out[axis] = None if None in lengths else sum(lengths)
        return out
    if op is O.GETITEM:
        dims = static_dims(lw, args[0], depth + 1)
        out, k = [], 0
        for code in attrs["index"]:
            if code == "n":
                out.append(1)
                continue
            if code == "s000":
                out.append(dims[k])
            elif code != "i":
                out.append(None)
            k += 1
        return out + dims[k:]
    if op in ELEMENTWISE:   # broadcasting: a known length other than 1 wins, else unknown
        columns = [[] for _ in range(rank)]
        for a in args:
            dims = static_dims(lw, a, depth + 1) if a.type.rank else []
            for k, d in enumerate([1] * (rank - len(dims)) + dims):
                columns[k].append(d)
        out = []
        for col in columns:
            known = [d for d in col if d is not None and d != 1]
            out.append(known[0] if known else (None if None in col else 1))
        return out
    return unknown


def nonnegative(lw, n, node, message: str) -> None:
    """NumPy's ValueError for a negative size `n` (an int Value): when tracing where n is
    known, else a run-time check (never an empty array)."""
    from coarsen.frontend.exceptions import python_error

    known = lw.b.constant_of(n)
    if known is not None:
        if known < 0:
            python_error(lw, ValueError(message.format(n=known)), node, "pass a non-negative size")
        return
    negative = lw.emit(O.LT, (n, lw.b.const(0)), node)
    message = message.replace(", {n},", "").format(n="n")   # the value is not in the run-time message
    lw.b.emit(O.CHECK, (negative,), {"exc": ValueError, "args": (message,)}, lw.src.loc(node))
    lw.ctx.runtime_raises.append(ValueError)
