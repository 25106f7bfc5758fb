"""IR nodes: structured SSA.

A `Function` is a `Region` of `Instr`s. Every value is defined once (`Value`, typed). Control
flow is structured (as in MLIR's scf dialect) and its joins are explicit:

- `IF cond {then} {else}` yields one value per result from each branch; its results are the
  phi nodes of the join: `%y = if %c then %a else %b` is phi(c, a, b).
- `FOR start stop step (inits) {body(i, carried...) -> carried'}`: the body's parameters are
  the loop header's phi nodes (block arguments), its yields the back edge.
- `WHILE (inits) {cond(carried...) -> bool} {body(carried...) -> carried'}`.

Regions may read values of enclosing regions (implicit capture); nothing escapes a region
except through its yields. `break`, `continue` and early `return` are lowered to carried flags
by the frontend, so every region has a single exit. Nodes hold data only; passes rebuild them.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from coarsen.errors import UNKNOWN_LOC, Loc
from coarsen.ir.types import Type


# The IR's own ops; every other op is an entry of the op registry (`coarsen.ops`), which
# declares it once, with its type rule, evaluation, derivative and emission for each target.
_CORE_OPS = [
    ("CONST", "const"),          # attrs: value (Python scalar or float64 ndarray)
    ("CAST", "cast"),            # attrs: dtype
    ("SHAPE", "shape"),          # attrs: dim; result i64
    # -- indexing; attrs: index (pattern of "i" int, "s"+flags slice, "n" newaxis)
    ("GETITEM", "getitem"),      # args: x, *index values
    ("SETITEM", "setitem"),      # args: x, *index values, v -> the updated array (value semantics)
    # -- a closed-form phi-calculus term produced by a pass (e.g. a loop's closed form);
    #    attrs: expr (SymPy), symbols (one SymPy Symbol per argument)
    ("EXPR", "expr"),
    # -- a run-time check (#22: `raise` under a condition known only when running): raises
    #    attrs["exc"](*attrs["args"]) (a builtin exception class, constant arguments) when its
    #    bool argument holds; its bool result is its argument. Every pass keeps it, and the
    #    emitters run it wherever it stands (its result is a root of the needed forward work)
    ("CHECK", "check"),
    # -- structured control flow
    ("IF", "if"), ("FOR", "for"), ("WHILE", "while"),
]


def _make_op_enum() -> type[enum.Enum]:
    from coarsen.ops import REGISTRY

    members = list(_CORE_OPS) + [(s.member, s.name) for s in REGISTRY.entries.values()]
    return enum.Enum("Op", members, module=__name__, qualname="Op")


Op = _make_op_enum()


def _registry_ops(kind: str, **fields) -> frozenset:
    from coarsen.ops import REGISTRY

    return frozenset(Op[s.member] for s in REGISTRY.of_kind(kind)
                     if all(getattr(s, k) == v for k, v in fields.items()))


ELEMENTWISE_UNARY = _registry_ops("elementwise", arity=1) | {Op.CAST}
ELEMENTWISE_BINARY = _registry_ops("elementwise", arity=2)
ELEMENTWISE = ELEMENTWISE_UNARY | ELEMENTWISE_BINARY | _registry_ops("elementwise", arity=3)
COMPARISONS = _registry_ops("elementwise", result="bool") - {Op.NOT, Op.AND, Op.OR}
REDUCTIONS = frozenset({Op.SUM, Op.MEAN, Op.PROD, Op.MAX, Op.MIN})   # attrs: axis, keepdims
CREATION = frozenset({Op.ZEROS, Op.ONES, Op.EMPTY})
# ops whose array result may share memory with their first argument (NumPy returns a view)
VIEWS = frozenset({Op.GETITEM}) | _registry_ops("structural", view=True)
CONTROL = frozenset({Op.IF, Op.FOR, Op.WHILE})


@dataclass(frozen=True, slots=True)
class Value:
    """An SSA value. `id` is unique within a function; `hint` is the source name, if any."""

    id: int
    type: Type
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Region:
    params: tuple[Value, ...]
    instrs: tuple["Instr", ...]
    yields: tuple[Value, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Instr:
    op: Op
    args: tuple[Value, ...]
    results: tuple[Value, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    regions: tuple[Region, ...] = ()
    loc: Loc = UNKNOWN_LOC

    @property
    def result(self) -> Value:
        (value,) = self.results
        return value


@dataclass(frozen=True, slots=True, eq=False)
class Function:
    """A traced function: flat typed parameters, one body region whose yields are the results.

    `arg_tree` / `result_tree` (see `coarsen.tree`) map the user's (possibly nested: tuples,
    dicts) arguments and results onto the flat `params` / `body.yields`.
    """

    name: str
    params: tuple[Value, ...]
    body: Region
    arg_tree: Any
    result_tree: Any
    loc: Loc = UNKNOWN_LOC
    sources: tuple[str, ...] = ()   # source text of the function and everything it inlines
    names: dict[int, str] = field(default_factory=dict)   # value id -> source variable name
    inlined: tuple = ()   # (module, qualname) of every function inlined
    # random draws made on the host at each call (`coarsen.frontend.random.Draw`), one per
    # hidden parameter: the params after the arguments' leaves
    draws: tuple = ()
    # element writes into arguments (#13): the leaf indices of the written argument arrays;
    # their final contents are the last len(writes) results, after the function's own
    writes: tuple = ()
    # (result index, argument leaf index) of each result that is an argument array itself
    # (`return x`, also after `x[0] = v`): the caller gets its own array back, as in Python;
    # every other result is a new array, even where passes simplify it to an argument (`x * 1.0`)
    returns: tuple = ()
    views: tuple = ()   # indices of the results that may be views of an argument array (`x[1:]`)
    # indices of the scalar results that are NumPy scalars on every path (`x[0]`, np.sum(x)):
    # returned as np.float64 / np.int64 / np.bool_, as Python returns them
    numpy_results: tuple = ()
    # (result index, NumPy dtype name) of the integer result arrays NumPy computes in a narrow
    # dtype (`x[::2]` of uint8 data): held as int64, returned in that dtype (`frontend.narrow`)
    result_dtypes: tuple = ()

    @property
    def results(self) -> tuple[Value, ...]:
        return self.body.yields


def raises(instr: "Instr") -> bool:
    """Whether `instr` may raise where plain Python raises, so that it runs even when its value
    is unused (dead code, a gradient that does not need it): a user's run-time check,
    int() of a float (NaN: ValueError, inf or beyond int64: OverflowError), and the reshape of
    an array to a scalar (ValueError unless its size is 1)."""
    if instr.op is Op.RESHAPE and len(instr.args) == 1 and instr.args[0].type.rank \
            and not instr.results[0].type.rank:
        # an array reshaped to a scalar: NumPy raises unless its size is 1; grad's scalar result
        # (`programs.scalar_result`) is this check, which a gradient that does not read the
        # value (an output independent of the argument) must still run, or grad of a vector
        # function returned zeros (#13)
        return True
    return instr.op is Op.CHECK or (instr.op is Op.CAST and instr.attrs.get("dtype") == "i64"
                                     and bool(instr.args) and instr.args[0].type.dtype == "f64"
                                     and not instr.results[0].type.rank)


def walk(region: Region):
    """Every instruction of a region, nested regions included, in program order."""
    for instr in region.instrs:
        yield instr
        for sub in instr.regions:
            yield from walk(sub)
