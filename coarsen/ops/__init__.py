"""The op registry: every op the compiler knows, declared once.

One module per family: `unary`, `binary` (elementwise), `reductions`, `shape` (layout and
indexing), `constructors`, `linalg`, `indexing` (gathers with index arrays). Each entry (see `spec`) says which Python callables it
stands for, how it is typed, folded, evaluated, differentiated and emitted. The stages build
their tables from here:

- `coarsen.ir.nodes.Op` gets one member per entry (`"arcsin"` -> `Op.ARCSIN`);
- `ir.typing`, `ir.builder` (folding), `ir.interpreter`, `frontend.calls`, `segments`
  (SymPy forms), `codegen.numpy_emit`, `codegen.forward` / `vmap` (GPU device names; printed
  names through `to_source`),
  `autodiff.rules` and `autodiff.activity` read the entries' fields.

Ops that are the IR's own structure (constants, casts, indexing, control flow, closed-form
`expr` terms) are not registry entries: `CORE` lists them, with where they are handled.
`tests/coarsen/test_op_registry.py` checks that every op has every entry or is listed here.
"""
from __future__ import annotations

from coarsen.ops import binary, constructors, indexing, linalg, reductions, shape, unary
from phicalc import emit
from coarsen.ops.spec import SPECIAL_DEVICE_NAMES, Composite, Elementwise, Registry, Structural, resolve

REGISTRY = Registry()
REGISTRY.add(*unary.UNARY, *binary.BINARY, *reductions.OPS, *shape.OPS, *constructors.OPS, *linalg.OPS, *indexing.OPS)
COMPOSITES: list[Composite] = [*unary.COMPOSITES, *binary.COMPOSITES, *reductions.COMPOSITES,
                               *shape.COMPOSITES, *constructors.COMPOSITES, *linalg.COMPOSITES]

# IR ops that are not registry entries, and where each is handled
CORE = {
    "const": "constants: the builder and every emitter",
    "cast": "dtype conversions: typing/builder/interpreter/numpy_emit and autodiff.rules",
    "shape": "x.shape[d]: frontend expressions, every stage (integer result, no derivative)",
    "getitem": "indexing: frontend expressions, reverse mode's scatter-add adjoint",
    "setitem": "element writes (value semantics): frontend statements, forward/reverse emitters",
    "expr": "closed-form phi-calculus terms made by passes.closed_forms",
    "check": "run-time raise checks (frontend.exceptions): kept by every pass, emitted as if/raise",
    "if": "structured control flow", "for": "structured control flow",
    "while": "structured control flow",
}


def to_source(expr, array: bool = False) -> str:
    """phicalc's printer with the names this registry prints through the runtime
    (`binary.PRINTED_AS`: `rt.maximum`, whose Numba form follows NumPy at ties)."""
    return emit.to_source(expr, array, names=binary.PRINTED_AS)


def elementwise() -> list[Elementwise]:
    return REGISTRY.of_kind("elementwise")


def structural() -> list[Structural]:
    return REGISTRY.of_kind("structural")


def spec_of(op) -> Elementwise | Structural | None:
    """The registry entry of an IR op (None for a core op)."""
    return REGISTRY.entries.get(op.value)


def device_names() -> dict[str, str]:
    """Printed function name -> its name in GPU device code (`np.arcsin` -> `math.asin`,
    `rt.digamma` -> `cuda_special.digamma`: `kernels.cuda_special`'s device functions)."""
    names = dict(SPECIAL_DEVICE_NAMES)
    names.update({s.printed: s.device for s in elementwise() if s.printed and s.device})
    return names


def callables():
    """(Python object, entry) for every callable an entry stands for that is importable."""
    seen: set[int] = set()   # aliases (scipy.special.psi is digamma) once
    for spec in [*REGISTRY.entries.values(), *COMPOSITES]:
        for dotted in spec.callables:
            obj = resolve(dotted)
            if obj is not None and id(obj) not in seen:
                seen.add(id(obj))
                yield obj, spec


def member_names() -> list[tuple[str, str]]:
    """(enum member, value) of every registry op, in declaration order."""
    return [(s.member, s.name) for s in REGISTRY.entries.values()]


__all__ = ["REGISTRY", "COMPOSITES", "CORE", "elementwise", "structural", "spec_of",
           "device_names", "callables", "member_names", "Elementwise", "Structural", "Composite"]
