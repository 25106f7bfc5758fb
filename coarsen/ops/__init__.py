"""The op registry: every op the compiler knows, declared once.

One module per family: `unary`, `binary` (elementwise), `reductions`, `shape` (layout and
indexing), `constructors`, `linalg`, `indexing` (gathers with index arrays), `sorting`,
`svd`, `tallies` (math.fsum, bincount, digitize), `nanreductions` (nanmax, nanargmax, nanprod, nanvar, ...), `numeric` (NumPy's miscellaneous numerics: nan_to_num, isclose, gradient, convolve, meshgrid, polyval). Each entry (see `spec`) says which Python callables it
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

from coarsen.ops import binary, constructors, indexing, linalg, nanreductions, numeric, reductions, shape, sorting, svd, tallies, unary
from phicalc import emit
from coarsen.ops.spec import SPECIAL_DEVICE_NAMES, Composite, Elementwise, Registry, Structural, resolve

REGISTRY = Registry()
REGISTRY.add(*unary.UNARY, *binary.BINARY, binary.INT_POWER, *reductions.OPS, *shape.OPS, *constructors.OPS, *linalg.OPS, *indexing.OPS)
COMPOSITES: list[Composite] = [*unary.COMPOSITES, *binary.COMPOSITES, *reductions.COMPOSITES,
                               *shape.COMPOSITES, *constructors.COMPOSITES, *linalg.COMPOSITES]
REGISTRY.add(*sorting.OPS, *svd.OPS, *tallies.OPS)
COMPOSITES += sorting.COMPOSITES + numeric.COMPOSITES + svd.COMPOSITES + nanreductions.COMPOSITES + tallies.COMPOSITES

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


def _operand_values(bindings) -> list:
    from coarsen.ir.nodes import Value

    out = []
    for b in bindings:
        if isinstance(b, Value):
            out.append(b)
        elif isinstance(b, (tuple, list)):
            out.extend(_operand_values(b))
    return out


def _float_dtype_given(bindings) -> bool:
    """A dtype=float64 argument (np.sum(i, dtype=float)): the float64 result is asked for."""
    import numpy as np

    from coarsen.frontend.bindings import Static

    for b in bindings:
        obj = b.obj if isinstance(b, Static) else None
        if obj is None or isinstance(obj, (bool, int)) or not isinstance(obj, (type, str, np.dtype)):
            continue
        try:
            if np.dtype(obj) == np.float64:
                return True
        except (TypeError, ValueError):   # not a dtype (an einsum subscripts string, a norm order)
            continue
    return False


def _refuse_narrow_float(lw, spec, operands, node) -> None:
    """A ufunc NumPy computes on boolean arrays in float16 (np.log(mask), np.rint(mask))."""
    import numpy as np

    from coarsen.ir.typing import ufunc_dtype

    ufunc = resolve(spec.callables[0]) if spec.callables else None
    found = ufunc_dtype(ufunc, tuple((v.type.dtype, v.type.rank) for v in operands))
    if found is not None and found.kind == "f" and found != np.float64:
        lw.unsupported(f"np.{ufunc.__name__}() of a boolean array: NumPy computes it in {found}, coarsen in "
                       "float64", node, "convert the mask first: mask.astype(float)")


def int_rule(spec) -> None:
    """One check for every lowering (structural and composite entries): a call whose operands
    are all integers or bools (arrays, NumPy scalars, ints) and whose lowering returns float64
    is refused at the user's call unless the entry declares `ints="float"` (NumPy converts such
    operands to float64 itself: np.mean, np.linalg.det). NumPy computes np.outer, np.kron,
    np.einsum, np.vdot, ... of ints in int64 (exact beyond 2**53, wrapping) and of uint8 in
    uint8, of bools logically: a float64 result would hold other values. Lowerings that
    compute integers exactly return int64 (checked for narrow data by `frontend.narrow`)."""
    inner = spec.lower
    if inner is None or getattr(inner, "int_rule", False) or spec.ints == "moves":
        return

    def lower(lw, args, kwargs, node):
        operands = _operand_values([*args, *kwargs.values()])
        integral = bool(operands) and all(v.type.dtype != "f64" for v in operands) \
            and not _float_dtype_given([*args, *kwargs.values()])
        if integral and spec.ints == "float" and any(v.type.dtype == "bool" and v.type.rank for v in operands):
            _refuse_narrow_float(lw, spec, operands, node)
        out = inner(lw, args, kwargs, node)
        if integral and spec.ints != "float" and any(v.type.dtype == "f64" for v in _operand_values([out])):
            kinds = sorted({"bool" if v.type.dtype == "bool" else "integer" for v in operands})
            name = (spec.callables[0].replace("numpy.", "np.") if spec.callables else spec.name)
            lw.unsupported(f"{name}() of {' and '.join(kinds)} operands: NumPy computes it in their dtype "
                           "(int64: exact beyond 2**53 and wrapping; uint8/int8 wrapping; bool: logically), "
                           "coarsen computes it in float64 here", node,
                           "convert an operand first (x.astype(float): then NumPy's result is float64 too)")
        return out

    lower.int_rule = True
    object.__setattr__(spec, "lower", lower)


# What NumPy gives for integer/bool operands, for entries whose lowering returns float64 there
# (an entry may say it itself: `ints=...`): "float" where NumPy's own result is float64 too;
# "moves" where the op only moves or selects elements (NumPy keeps the dtype; concat and stack
# take their operands' common dtype, so int64 stays int64; see ARCHITECTURE).
INTS = {
    "float": {"mean", "log", "math.log", "logit", "sinc", "deg2rad", "rad2deg", "rint",
              "cov", "trapezoid", "var", "std", "average", "nanmean", "nanvar", "nanstd", "logsumexp", "softmax", "log_softmax",
              "norm", "det (call)", "slogdet", "inv (call)", "solve (call)", "cholesky (call)", "eigh", "eigvalsh", "lstsq", "pinv", "qr", "svd", "eye", "identity",
              "linspace", "median", "percentile", "quantile", "nanmedian", "nanpercentile", "nanquantile",
              "interp"},
    "moves": {"concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "atleast_1d", "atleast_2d",
              "atleast_3d", "moveaxis", "roll", "delete", "tile", "take", "repeat", "flip", "argmax", "argmin",
              "expand_dims", "squeeze", "ravel", "flatten", "transpose", "transpose (method)", "swapaxes",
              "broadcast_to", "diagonal", "tril", "triu", "full", "full_like", "where", "sort", "argsort"},
}

for _spec in [*REGISTRY.entries.values(), *COMPOSITES]:
    if _spec.kind != "elementwise":
        _declared = next((k for k, names in INTS.items() if _spec.name in names), None)
        if _declared is not None and _spec.ints is None:
            object.__setattr__(_spec, "ints", _declared)
        int_rule(_spec)


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
