"""NUMPY_EMIT: one rule per primal op -> a Python/NumPy expression over operand names.

A rule gets the instruction and the source text of its operands (names or literals) and
returns one expression. SETITEM is a statement and handled by the emitter. Control flow and
EXPR are emitted by the program emitters.
"""
from __future__ import annotations

from typing import Callable

from coarsen.ir.nodes import Instr, Op
from coarsen.ops import elementwise, structural

NUMPY_EMIT: dict[Op, Callable[[Instr, list[str]], str]] = {}


def rule(*ops: Op):
    def register(fn):
        for op in ops:
            if op in NUMPY_EMIT:
                raise KeyError(f"duplicate NUMPY_EMIT rule for {op}")
            NUMPY_EMIT[op] = fn
        return fn
    return register


# from the op registry: every elementwise and structural op's NumPy source
for _spec in (*elementwise(), *structural()):
    NUMPY_EMIT[Op[_spec.member]] = _spec.emit


def _is_array(instr: Instr) -> bool:
    return instr.result.type.rank > 0


@rule(Op.CAST)
def _cast(instr, a):
    dtype = instr.attrs["dtype"]
    if _is_array(instr):
        if dtype == "f64":
            return f"rt.as_float_array({a[0]})"
        return f"({a[0]} != 0)" if dtype == "bool" else f"{a[0]}.astype(np.int64)"
    if dtype == "i64" and instr.args[0].type.dtype == "f64":   # NaN, inf, beyond int64: an error
        return f"rt.checked_int({a[0]})"
    if dtype == "i64" and instr.attrs.get("numpy"):   # np.int64(n): NumPy's wrapping scalar from here on
        return f"np.int64({a[0]})"
    return f"{ {'f64': 'float', 'i64': 'int', 'bool': 'bool'}[dtype]}({a[0]})"


def _shape(dims: list[str]) -> str:
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@rule(Op.SHAPE)
def _shape_of(instr, a):
    return f"{a[0]}.shape[{instr.attrs['dim']}]"


def index_source(pattern, values: list[str]) -> str:
    values = list(values)
    parts = []
    for p in pattern:
        if p in ("i", "a"):   # "a": an int64 index array (writes through index arrays)
            parts.append(values.pop(0))
        elif p == "n":
            parts.append("None")
        else:
            lo = values.pop(0) if p[1] == "1" else ""
            hi = values.pop(0) if p[2] == "1" else ""
            st = ":" + values.pop(0) if p[3] == "1" else ""
            parts.append(f"{lo}:{hi}{st}")
    return ", ".join(parts) + ("," if len(parts) == 1 and pattern[0] == "n" else "")


@rule(Op.GETITEM)
def _getitem(instr, a):
    return f"{a[0]}[{index_source(instr.attrs['index'], a[1:])}]"
