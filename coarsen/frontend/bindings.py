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


class ListItems(tuple):
    """A Python list's items. Lists are values here (a tuple of bindings), and `xs.append(v)`
    rebinds the name `xs` to a longer tuple; a list display makes a new object each time (even
    an empty one, unlike `()`), so that another name or container holding the same list is
    found by identity and the mutation refused (`containers.list_mutation`) instead of lost."""


class SharedList(tuple):
    """A list that, after a join or a compiled loop, may or may not be held by another name too
    (`k = m` on one side of an `if`, in a loop body): its items can be read, never changed (the
    other holder, joined apart, would not see it)."""


def _parts(binding: Any) -> tuple:
    """What a binding holds: a tuple's items, a dict's values, a maybe-bound name's value."""
    if isinstance(binding, MaybeBound):
        return (binding.value,)
    if isinstance(binding, tuple):
        return binding
    if isinstance(binding, dict):
        return tuple(binding.values())
    return ()


def holders(env: dict, obj: tuple, hidden: bool = False) -> int:
    """How many places of an environment hold the list `obj` (by identity, in lists, tuples and
    dicts too); `hidden`: the lowering's own names too (`$value`, an if-expression's value), but
    for the return value (no statement runs after a return, so no change is missed through it)."""
    def count(binding, depth=0) -> int:
        if binding is obj:
            return 1
        return sum(count(b, depth + 1) for b in _parts(binding)) if depth < 8 else 0
    return sum(count(b) for n, b in env.items() if not n.startswith("$") or (hidden and n != "$rv"))


def lists_in(binding: Any, depth: int = 0):
    """The lists (`ListItems`) a binding holds, itself included."""
    if isinstance(binding, ListItems):
        yield binding
    if depth < 8:
        for b in _parts(binding):
            yield from lists_in(b, depth + 1)


def freeze(binding: Any, shared: set) -> Any:
    """`binding` with the lists whose ids are in `shared` made `SharedList`s."""
    if isinstance(binding, MaybeBound):
        value = freeze(binding.value, shared)
        return binding if value is binding.value else MaybeBound(value, binding.flag)
    if isinstance(binding, dict):
        values = {k: freeze(b, shared) for k, b in binding.items()}
        return binding if all(values[k] is b for k, b in binding.items()) else values
    if not isinstance(binding, tuple):
        return binding
    items = tuple(freeze(b, shared) for b in binding)
    if id(binding) in shared:
        return SharedList(items)
    return binding if all(a is b for a, b in zip(items, binding)) else \
        (ListItems(items) if isinstance(binding, ListItems) else items)


def list_ids(bindings) -> frozenset:
    """The ids of the lists and tuples the bindings hold (nested ones too): what an inlined
    function was handed, which it must not change (the caller holds them)."""
    out: set = set()

    def walk(b, depth=0) -> None:
        if isinstance(b, tuple):
            out.add(id(b))
        if depth < 8:
            for item in _parts(b):
                walk(item, depth + 1)
    for b in bindings:
        walk(b)
    return frozenset(out)


def map_leaves(binding: Any, fn: Callable[[Value], Any]) -> Any:
    if isinstance(binding, Value):
        return fn(binding)
    if isinstance(binding, MaybeBound):
        return MaybeBound(fn(binding.value), fn(binding.flag))
    if isinstance(binding, tuple):
        items = tuple(map_leaves(b, fn) for b in binding)
        # the same items: the same object (a list keeps its identity, so its other holders are
        # still found); other items: a new tuple, whose items cannot be written (`containers`)
        return binding if all(a is b for a, b in zip(items, binding)) else items
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
    if isinstance(binding, ListItems):
        return f"a list of {len(binding)}"
    if isinstance(binding, SharedList):
        return (f"a list of {len(binding)} that another name holds on some paths into here (an `if` or "
                "a loop bound it to another name on some paths only)")
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
    inner = binding.obj if isinstance(binding, Static) else binding
    if hasattr(inner, "describe"):   # a function defined in the traced code (`closures.LocalFunction`)
        return inner.describe()
    if isinstance(binding, Static) and callable(binding.obj) and hasattr(binding.obj, "__qualname__"):
        return f"the function {binding.obj.__qualname__}"
    return repr(binding.obj) if isinstance(binding, Static) else repr(binding)
