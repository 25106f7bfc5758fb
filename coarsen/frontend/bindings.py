"""What a Python name stands for while lowering.

- `Value`: an SSA value of the IR;
- `tuple` / `dict` (str keys) of bindings: Python structure, kept at compile time;
- `Static(obj)`: a compile-time Python object (a module, a function, a string, None);
- `Method(value, name)`: an array method looked up but not called yet (`x.sum`);
- `Conflict(message, hint)`: a name the paths into a join bind to values of different types;
  legal Python until it is read, so reading it is the error;
- `MaybeBound(value, flag)`: a name bound on some paths only (one side of an `if`, a loop
  body that may run no time): `flag` (a bool Value) says whether it is bound; reading it
  checks the flag when running (Python's UnboundLocalError), unless the flag is known true.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from coarsen.ir.nodes import Value


@dataclass(frozen=True, slots=True)
class Static:
    obj: Any


@dataclass(frozen=True, slots=True)
class Method:
    value: Value
    name: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """A name whose paths into a join disagree in type: reading it is the error, not the join."""

    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class MaybeBound:
    """A plain Value bound on some paths into here only: `flag` is true where it is bound."""

    value: Value
    flag: Value


def leaves(binding: Any) -> Iterator[Value]:
    if isinstance(binding, Value):
        yield binding
    elif isinstance(binding, MaybeBound):
        yield binding.value
        yield binding.flag
    elif isinstance(binding, tuple):
        for b in binding:
            yield from leaves(b)
    elif isinstance(binding, dict):
        for k in sorted(binding):
            yield from leaves(binding[k])


def map_leaves(binding: Any, fn: Callable[[Value], Any]) -> Any:
    if isinstance(binding, Value):
        return fn(binding)
    if isinstance(binding, MaybeBound):
        return MaybeBound(fn(binding.value), fn(binding.flag))
    if isinstance(binding, tuple):
        return tuple(map_leaves(b, fn) for b in binding)
    if isinstance(binding, dict):
        return {k: map_leaves(b, fn) for k, b in binding.items()}
    return binding


def same_structure(a: Any, b: Any) -> bool:
    if isinstance(a, Value) and isinstance(b, Value):
        return True
    if isinstance(a, MaybeBound) and isinstance(b, MaybeBound):
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same_structure(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_structure(a[k], b[k]) for k in a)
    return a == b


def describe(binding: Any) -> str:
    if isinstance(binding, Value):
        return f"a value of type {binding.type}"
    if isinstance(binding, tuple):
        return f"a tuple of {len(binding)}"
    if isinstance(binding, list):
        return (f"a list of {len(binding)} (a list argument is a container of separate values, "
                "as in JAX; pass np.array(...) for an array)")
    if isinstance(binding, dict):
        return "a dict"
    if isinstance(binding, Method):
        return f"the method .{binding.name}"
    if isinstance(binding, Conflict):
        return "a value whose type depends on the path taken"
    if isinstance(binding, MaybeBound):
        return f"a value of type {binding.value.type} (bound on some paths only)"
    return repr(binding.obj) if isinstance(binding, Static) else repr(binding)
