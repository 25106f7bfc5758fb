"""DERIVATIVES: the reverse-mode rule of every op that is not part of a segment.

Elementwise float ops never reach this table: they live in segments, whose derivatives are
symbolic. A rule `(rev, instr, code, declared)` reads the result's adjoint `rev.d(result)`
and adds to its operands' adjoints with `rev.accum`; it reads forward values through
`rev.ref` (so they are kept, and recorded inside loops). Ops with no entry and no exemption
raise an error naming the op.
"""
from __future__ import annotations

from coarsen.codegen.bounds import check_marker, index_checks
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
    """The forward access may not have run (its value unneeded): check the index here too.
    Marked with the access's result (`bounds.check_marker`): `Reverse.emit` drops the check
    where the forward performs the same access (same index, an array of the same shape), so
    it has already passed there."""
    for text in index_checks(rev.fn, rev.prog, instr, shape_of, rev.ref):
        code.line(check_marker(instr) + text)


@derivative(Op.SETITEM)
def _setitem(rev, instr, code, declared):
    x, *rest = instr.args
    *idx, v = rest
    if "a" in instr.attrs["index"]:   # through index arrays: `coarsen.ops.indexing.put_vjp`
        from coarsen.ops.indexing import put_vjp
        return put_vjp(rev, instr, code, declared)
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
        elif not (len(instr.attrs["index"]) == x.type.rank and all(k == "i" for k in instr.attrs["index"])):
            selected = f"rt.to_scalar({selected})"   # a scalar written into several elements
        # (an element's adjoint is read as it is: the call kept the ODE's sweeps 1.2x slower)
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
