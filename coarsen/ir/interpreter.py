"""The IR interpreter: the reference semantics every later pass is tested against.

`interpret(fn, *args)` runs a traced `Function` on concrete Python/NumPy values, op by op,
with value semantics (SETITEM returns a new array). Scalars come out as NumPy scalars of the
IR type (np.float64, int, bool); arrays as float64 (or bool) ndarrays.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from coarsen import tree
from coarsen.ops import elementwise, structural
from kernels import runtime
from coarsen.ir.nodes import Function, Instr, Op, Region
from coarsen.ir.types import Type

EVAL: dict[Op, Callable[..., Any]] = {}


def _rule(*ops: Op):
    def register(fn):
        for op in ops:
            if op in EVAL:
                raise KeyError(f"duplicate interpreter rule for {op}")
            EVAL[op] = fn
        return fn
    return register


# from the op registry: elementwise ops by their NumPy evaluation, structural ops by theirs
for _spec in elementwise():
    EVAL[Op[_spec.member]] = (lambda f: lambda instr, *args: f(*args))(_spec.numpy)
for _spec in structural():
    EVAL[Op[_spec.member]] = _spec.evaluate


@_rule(Op.CAST)
def _cast(instr, x):
    dtype = instr.attrs["dtype"]
    if np.ndim(x):
        return np.asarray(x, dtype={"f64": np.float64, "i64": np.int64, "bool": bool}[dtype])
    return {"f64": float, "i64": int, "bool": bool}[dtype](x)


@_rule(Op.CONST)
def _const(instr):
    return instr.attrs["value"]


@_rule(Op.EXPR)
def _expr(instr, *args):
    from coarsen.ops import to_source

    names = {s.name: a for s, a in zip(instr.attrs["symbols"], args)}
    return eval(to_source(instr.attrs["expr"], array=True), {"np": np, "rt": runtime}, names)




@_rule(Op.SHAPE)
def _shape(instr, x):
    return int(np.shape(x)[instr.attrs["dim"]])


@_rule(Op.CHECK)
def _check(instr, cond):
    if cond:
        raise instr.attrs["exc"](*instr.attrs["args"])
    return False


def build_index(pattern, values) -> tuple:
    """The NumPy index tuple for an index pattern and its runtime values."""
    values = list(values)
    index = []
    for p in pattern:
        if p == "i":
            index.append(int(values.pop(0)))
        elif p == "a":   # an int64 index array (writes through index arrays)
            index.append(np.asarray(values.pop(0), dtype=np.int64))
        elif p == "n":
            index.append(None)
        else:
            lo = int(values.pop(0)) if p[1] == "1" else None
            hi = int(values.pop(0)) if p[2] == "1" else None
            st = int(values.pop(0)) if p[3] == "1" else None
            index.append(slice(lo, hi, st))
    return tuple(index)


@_rule(Op.GETITEM)
def _getitem(instr, x, *idx):
    return x[build_index(instr.attrs["index"], idx)]


@_rule(Op.SETITEM)
def _setitem(instr, x, *rest):
    *idx, v = rest
    out = np.array(x, dtype=np.float64)
    if "a" in instr.attrs["index"]:   # through index arrays (`coarsen.ops.indexing.put_eval`)
        from coarsen.ops.indexing import put_eval
        return put_eval(instr, out, v, idx)
    out[build_index(instr.attrs["index"], idx)] = v
    return out


def coerce(value: Any, type: Type) -> Any:
    """A value as the IR type says: NumPy scalar for rank 0, ndarray otherwise."""
    if type.rank:
        return np.asarray(value, dtype=np.float64 if type.dtype == "f64" else
                          (bool if type.dtype == "bool" else np.int64))
    if type.dtype == "f64":
        return np.float64(value)
    if type.dtype == "i64":
        return int(value)
    return bool(value)


class Interpreter:
    def __init__(self) -> None:
        self.env: dict[int, Any] = {}

    def run_region(self, region: Region, params: list[Any]) -> list[Any]:
        for p, v in zip(region.params, params):
            self.env[p.id] = v
        for instr in region.instrs:
            self.run_instr(instr)
        return [self.env[v.id] for v in region.yields]

    def run_instr(self, instr: Instr) -> None:
        args = [self.env[a.id] for a in instr.args]
        op = instr.op
        if op is Op.IF:
            outs = self.run_region(instr.regions[0 if args[0] else 1], [])
        elif op is Op.FOR:
            start, stop, step, *carried = args
            body = instr.regions[0]
            for i in range(int(start), int(stop), int(step)):
                carried = self.run_region(body, [i, *carried])
            outs = carried
        elif op is Op.WHILE:
            cond, body = instr.regions
            carried = args
            while self.run_region(cond, carried)[0]:
                carried = self.run_region(body, carried)
            outs = carried
        else:
            with np.errstate(all="ignore"):
                outs = [EVAL[op](instr, *args)]
        for r, v in zip(instr.results, outs):
            self.env[r.id] = coerce(v, r.type)


def interpret(fn: Function, *args: Any) -> Any:
    """Run `fn` on user-level arguments (nested like the traced ones); return nested results."""
    leaves, _ = tree.flatten(args)
    interp = Interpreter()
    for v, p in zip(leaves, fn.params):
        interp.env[p.id] = coerce(v, p.type)
    outs = interp.run_region(fn.body, [])
    return tree.unflatten(fn.result_tree, outs)
