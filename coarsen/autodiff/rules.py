"""DERIVATIVES: the reverse-mode rule of every op that is not part of a segment.

Elementwise float ops never reach this table: they live in segments, whose derivatives are
symbolic. A rule `(rev, instr, code, declared)` reads the result's adjoint `rev.d(result)`
and adds to its operands' adjoints with `rev.accum`; it reads forward values through
`rev.ref` (so they are kept, and recorded inside loops). Ops with no entry and no exemption
raise an error naming the op.
"""
from __future__ import annotations

from coarsen.codegen.bounds import index_checks
from coarsen.codegen.numpy_emit import index_source
from coarsen.ir.nodes import Op
from coarsen.ops import REGISTRY

DERIVATIVES: dict = {}
# ops whose results are never active (integer/bool results, fresh constants); the registry's
# entries say so themselves (`differentiable=False`)
EXEMPT = frozenset({Op.CONST, Op.SHAPE, Op.ZEROS, Op.ONES, Op.EMPTY}) | frozenset(
    Op[s.member] for s in REGISTRY.entries.values() if not s.differentiable)


def derivative(*ops: Op):
    def register(fn):
        for op in ops:
            if op in DERIVATIVES:
                raise KeyError(f"duplicate derivative rule for {op}")
            DERIVATIVES[op] = fn
        return fn
    return register


def _reduction_args(instr):
    return instr.attrs.get("axis"), bool(instr.attrs.get("keepdims"))


def _expand(d: str, shape: str, axis, keep: bool) -> str:
    """The adjoint of a reduction broadcast back to the reduced array's shape."""
    if axis is None:
        return f"rt.broadcast_scalar(np.sum({d}), {shape})" if keep else f"rt.broadcast_scalar({d}, {shape})"
    return f"rt.expand_keep({d}, {shape})" if keep else f"rt.expand_axis({d}, {shape}, {axis})"


@derivative(Op.SUM)
def _sum(rev, instr, code, declared):
    (x,), r = instr.args, instr.result
    axis, keep = _reduction_args(instr)
    rev.accum(x, _expand(rev.d(r), rev.shape(x), axis, keep), code, declared)


@derivative(Op.MEAN)
def _mean(rev, instr, code, declared):
    (x,), r = instr.args, instr.result
    axis, keep = _reduction_args(instr)
    count = f"{rev.ref(x)}.size" if axis is None else f"{rev.shape(x)}[{axis}]"
    rev.accum(x, _expand(f"{rev.d(r)} / {count}", rev.shape(x), axis, keep), code, declared)


@derivative(Op.PROD)
def _prod(rev, instr, code, declared):
    (x,), r = instr.args, instr.result
    axis, keep = _reduction_args(instr)
    # d prod / d x_i is the product of the other elements (not prod / x_i: exact at zeros)
    rev.accum(x, f"{_expand(rev.d(r), rev.shape(x), axis, keep)} * rt.prod_others({rev.ref(x)}, {axis!r})",
              code, declared)


@derivative(Op.MAX, Op.MIN)
def _extremum(rev, instr, code, declared):
    (x,), r = instr.args, instr.result
    axis, keep = _reduction_args(instr)
    if axis is None or (x.type.rank == 1 and not keep):   # a scalar result: no axis to expand
        mask = f"rt.extremum_mask_all({rev.ref(x)}, {rev.ref(r)}{'[0]' * x.type.rank if keep else ''})"
    else:
        r_keep = rev.ref(r) if keep else f"np.expand_dims({rev.ref(r)}, {axis})"
        mask = f"rt.extremum_mask_axis({rev.ref(x)}, {r_keep}, {axis})"
    rev.accum(x, f"{mask} * {_expand(rev.d(r), rev.shape(x), axis, keep)}", code, declared)


@derivative(Op.MATMUL)
def _matmul(rev, instr, code, declared):
    (a, b), r = instr.args, instr.result
    d = rev.d(r)
    ra, rb = a.type.rank, b.type.rank
    if a.id in rev.active:
        bb = rev.ref(b)
        grad = {(2, 2): f"rt.matmul({d}, {bb}.T)", (1, 2): f"rt.matmul({bb}, {d})", (2, 1): f"rt.outer({d}, {bb})",
                (1, 1): f"{d} * {bb}"}[(ra, rb)]
        rev.accum(a, grad, code, declared)
    if b.id in rev.active:
        aa = rev.ref(a)
        grad = {(2, 2): f"rt.matmul({aa}.T, {d})", (1, 2): f"rt.outer({aa}, {d})", (2, 1): f"rt.matmul({aa}.T, {d})",
                (1, 1): f"{d} * {aa}"}[(ra, rb)]
        rev.accum(b, grad, code, declared)


@derivative(Op.TRANSPOSE)
def _transpose(rev, instr, code, declared):
    rev.accum(instr.args[0], f"{rev.d(instr.result)}.T", code, declared)


@derivative(Op.RESHAPE)
def _reshape(rev, instr, code, declared):
    x = instr.args[0]
    rev.accum(x, f"rt.reshape({rev.d(instr.result)}, {rev.shape(x)})", code, declared)


@derivative(Op.COPY)
def _copy(rev, instr, code, declared):
    rev.accum(instr.args[0], rev.d(instr.result), code, declared)


@derivative(Op.STACK)
def _stack(rev, instr, code, declared):
    for k, a in enumerate(instr.args):
        rev.accum(a, f"{rev.d(instr.result)}[{k}]", code, declared)


def _index(rev, instr, values):
    return index_source(instr.attrs["index"], [rev.ref(v) for v in values])


@derivative(Op.GETITEM)
def _getitem(rev, instr, code, declared):
    x, *idx = instr.args
    if x.id not in rev.active:
        return
    rev.ensure(x, code, declared)
    _check(rev, instr, rev.d(x), code)
    code.line(f"{rev.d(x)}[{_index(rev, instr, idx)}] += {rev.d(instr.result)}")


def _check(rev, instr, shape_of, code):
    """The forward access may not have run (its value unneeded): check the index here too."""
    for text in index_checks(rev.fn, rev.prog, instr, shape_of, rev.ref):
        code.line(text)


@derivative(Op.SETITEM)
def _setitem(rev, instr, code, declared):
    x, *rest = instr.args
    *idx, v = rest
    d = rev.d(instr.result)
    where = _index(rev, instr, idx)
    if v.id in rev.active or x.id in rev.active:
        _check(rev, instr, d, code)
    if v.id in rev.active:
        selected = f"{d}[{where}]"
        if v.type.rank:
            if x.id in rev.active:   # d is zeroed in place below: d_v must not stay a view of it
                selected = f"np.copy({selected})"
            selected = f"rt.unbroadcast({selected}, {rev.shape(v)})"
        else:
            selected = f"rt.to_scalar({selected})"
        rev.accum(v, selected, code, declared)
    if x.id in rev.active:
        code.line(f"{d}[{where}] = 0.0")
        rev.accum(x, d, code, declared, owned=True)


@derivative(Op.CAST)
def _cast(rev, instr, code, declared):
    rev.accum(instr.args[0], rev.d(instr.result), code, declared)


# from the op registry: the VJP rule of every differentiable op that is not symbolic
# (elementwise ops with a SymPy form are differentiated inside their segments)
for _spec in REGISTRY.entries.values():
    if _spec.differentiable and _spec.vjp is not None:
        derivative(Op[_spec.member])(_spec.vjp)
