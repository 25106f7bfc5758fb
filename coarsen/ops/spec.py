"""What one registry entry declares (see `coarsen.ops`).

Three kinds of entry:

- `Elementwise`: a NumPy-broadcasting op on numbers. Its derivative is its SymPy form (phicalc
  differentiates it inside segments); it is emitted as the text its SymPy form prints as, or
  by `emit` where it is not symbolic (comparisons, logic).
- `Structural`: any other IR op (reductions, layout, constructors, linear algebra). It brings
  its own type rule, interpreter evaluation, NumPy-source emission (which the cpu target
  compiles with Numba through `rt.*` helpers), VJP rule and, where written, JVP rule.
- `Composite`: a NumPy function lowered by the frontend to other registered ops
  (`np.linalg.norm` is sqrt(sum(x*x)), `np.outer` a broadcast product). It needs no entry in
  any later stage: its derivative, emission and evaluation are those of the ops it lowers to.

Entries name their ops by string (`"arcsin"` is `Op.ARCSIN`): `coarsen.ir.nodes` builds the
`Op` enum from the registry, so this module must not import the IR.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import sympy as sp

from phicalc.emit import QUALIFIED_FUNCTIONS
from phicalc.terms import _RealFunction


@dataclass(frozen=True)
class Elementwise:
    name: str                       # the op's value; the enum member is name.upper()
    arity: int
    callables: tuple[str, ...]      # dotted names of the Python callables it stands for
    numpy: Callable                 # interpreter evaluation on scalars and arrays
    result: str = "float"           # "float" (always f64), "promote" (NumPy arithmetic
                                    # promotion; arrays f64), "same" (keeps bool), "bool"
    sympy: Callable | None = None   # operand expressions -> SymPy form (None: not symbolic)
    fold: Callable | None = None    # Python scalars -> Python scalar (constant folding)
    emit: Callable | None = None    # (instr, operand sources) -> NumPy source, if not symbolic
    differentiable: bool = True     # False: integer/bool valued or piecewise constant
    vjp: Callable | None = None     # the reverse rule of a differentiable non-symbolic op
    printed: str | None = None      # the function its SymPy form prints as (`np.arcsin`)...
    device: str | None = None       # ...and its name in GPU device code (`math.asin`)
    torch: str | None = None        # the torch function the tests compare with
    domain: tuple[tuple[float, float], ...] = ((-3.0, 3.0),)   # per operand, for the tests
    avoid: tuple[float, ...] = ()   # points the tests keep 0.2 away from (poles, kinks)
    doc: str = ""

    kind = "elementwise"

    @property
    def member(self) -> str:
        return self.name.upper()


@dataclass(frozen=True)
class Structural:
    name: str
    callables: tuple[str, ...]      # dotted names lowered by `lower` (may be empty: reached
                                    # through another op's lowering or a method)
    type_rule: Callable             # (arg types, attrs) -> result Type; raise TypeRuleError
    evaluate: Callable              # (instr, *args) -> value (the interpreter)
    emit: Callable                  # (instr, operand sources) -> NumPy/`rt.*` source
    lower: Callable | None = None   # frontend: (lw, args, kwargs, node) -> binding
    vjp: Callable | None = None     # (rev, instr, code, declared): adds to operand adjoints
    jvp: Callable | None = None     # forward mode (IR -> IR, `coarsen.autodiff.forward`):
                                    # (fwd, instr, args, result, tangents) -> the result's
                                    # tangent as an IR value (tangents: values or None = 0)
    differentiable: bool = True     # False: its results are never active (indices, constants)
    methods: tuple[str, ...] = ()   # array method names lowered by `lower` too
    runtime: tuple[str, ...] = ()   # the `rt.*` helpers its emission calls
    view: bool = False              # the result may share memory with the first argument
    examples: tuple = ()            # (call source, argument shapes) for the registry test
    doc: str = ""
    ints: str | None = None         # see `Composite.ints`

    kind = "structural"

    @property
    def member(self) -> str:
        return self.name.upper()


@dataclass(frozen=True)
class Composite:
    name: str
    callables: tuple[str, ...]
    lower: Callable                 # (lw, args, kwargs, node) -> binding, built of other ops
    methods: tuple[str, ...] = ()
    examples: tuple = ()            # (call source, argument shapes) for the registry test
    doc: str = ""
    # What NumPy computes for integer/bool operands (`coarsen.ops.int_rule`): "float" where it
    # converts them to float64 (np.mean, np.linalg.det, np.log: a float64 result is NumPy's);
    # None (the default: "keeps", np.outer, np.kron, np.einsum) where it computes in their own
    # dtype, so that a lowering which computes such a call in float64 is refused at the call
    ints: str | None = None

    kind = "composite"


class _OpMembers:
    """`O.EXP` is `coarsen.ir.nodes.Op.EXP`, looked up when a lowering runs (the IR builds its
    Op enum from this registry, so the registry cannot import it first)."""

    def __getattr__(self, member: str):
        from coarsen.ir.nodes import Op

        return Op[member]


O = _OpMembers()


# printed name -> GPU device name of special functions that are no registry entry of their
# own (trigamma: only digamma's derivative reads it); see `coarsen.ops.device_names`
SPECIAL_DEVICE_NAMES: dict[str, str] = {}


def special_function(name: str, printed: str, nargs: int,
                     derivative: Callable[..., tuple] | None, device: str | None = None) -> type:
    """A SymPy function class for a special function that NumPy spells `printed`
    (`rt.erf`, `np.cbrt`): phicalc differentiates it with `derivative(*args)` (one partial
    per argument) and prints it under that name. A class without a derivative refuses to be
    differentiated (a second derivative we do not have), rather than being taken as zero.
    `device` names its GPU device form where no registry entry gives one."""

    def fdiff(self, argindex: int = 1):
        if derivative is None:
            raise NotImplementedError(f"no derivative of {name} (a higher-order derivative "
                                      "coarsen does not have)")
        return derivative(*self.args)[argindex - 1]

    cls = type(name, (_RealFunction,), {"nargs": nargs, "fdiff": fdiff, "__module__": __name__})
    QUALIFIED_FUNCTIONS[cls] = printed
    if device is not None:
        SPECIAL_DEVICE_NAMES[printed] = device
    return cls


def resolve(dotted: str) -> Any | None:
    """The object a dotted name stands for (`numpy.linalg.det`), or None where its module is
    missing (SciPy is optional)."""
    import importlib

    module, _, attr = dotted.rpartition(".")
    parts = [attr]
    while module:
        try:
            obj = importlib.import_module(module)
        except ImportError:
            module, _, head = module.rpartition(".")
            parts.insert(0, head)
            continue
        for part in parts:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj
    return None


@dataclass
class Registry:
    entries: dict[str, Any] = field(default_factory=dict)

    def add(self, *specs) -> None:
        for spec in specs:
            if spec.name in self.entries:
                raise KeyError(f"op {spec.name!r} is declared twice")
            self.entries[spec.name] = spec

    def of_kind(self, kind: str) -> list:
        return [s for s in self.entries.values() if s.kind == kind]


__all__ = ["Elementwise", "Structural", "Composite", "special_function", "resolve", "Registry", "O"]
