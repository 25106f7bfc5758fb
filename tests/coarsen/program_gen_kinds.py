"""Shared vocabulary of the program generator: kinds, variables, helpers, expressions.

Kinds: ("f",) float, ("i",) int, ("b",) bool, ("a", shape) float64 array, ("t", kinds) tuple.
"""
from __future__ import annotations

from dataclasses import dataclass, field

F, I, B = ("f",), ("i",), ("b",)
SHAPES_1 = [(1,), (2,), (3,), (4,)]
SHAPES_2 = [(2, 3), (3, 2), (2, 2), (1, 3), (3, 1)]
FLOATS = ["0.5", "1.0", "-1.5", "2.0", "0.25", "3.0", "-0.75", "1e-3"]

# unary float functions with their domains made safe; {x} is the argument
SCALAR_MATH = [
    "np.exp(-np.abs({x}))", "np.exp(np.sin({x}))", "math.exp(-abs({x}))",
    "np.log(np.abs({x}) + 1.0)", "math.log(abs({x}) + 1.0)", "np.log1p(np.abs({x}))",
    "math.log1p(abs({x}))", "np.expm1(np.tanh({x}))", "math.expm1(math.tanh({x}))",
    "np.sqrt(np.abs({x}))", "math.sqrt(abs({x}))", "np.sin({x})", "math.cos({x})",
    "np.cos({x})", "np.tan(np.tanh({x}))", "math.tan(math.tanh({x}))", "np.tanh({x})",
    "np.arctan({x})", "math.atan({x})", "np.sinh(np.clip({x}, -3.0, 3.0))",
    "math.cosh(math.tanh({x}))", "np.cosh(np.clip({x}, -3.0, 3.0))", "np.abs({x})", "abs({x})",
    "math.fabs({x})", "np.sign({x})", "(-{x})", "np.square({x})", "np.log10(np.abs({x}) + 1.0)",
]
ARRAY_MATH = [t for t in SCALAR_MATH if "math." not in t and "abs({x})" != t]


def is_array(kind: tuple) -> bool:
    return kind[0] == "a"


@dataclass
class Var:
    kind: tuple
    writable: bool = False   # a fresh, unaliased array: element writes and += are allowed
    frozen: bool = False     # never reassigned (int parameters of f, loop indices, counters)
    small: bool = False      # an int known to stay in -1..6 (usable as a loop bound)


@dataclass(frozen=True)
class Helper:
    name: str
    params: tuple[tuple, ...]
    returns: tuple
    default: str | None = None   # the last parameter's default value, if it has one


@dataclass(frozen=True)
class E:
    text: str
    aliases: frozenset = field(default_factory=frozenset)


def union(*es: E) -> frozenset:
    out: frozenset = frozenset()
    for e in es:
        out |= e.aliases
    return out
