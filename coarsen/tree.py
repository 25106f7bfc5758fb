"""Nested arguments and results (tuples, lists, dicts of str) flattened to leaves, as JAX's
pytrees: `flatten(obj) -> (leaves, treedef)`, `unflatten(treedef, leaves) -> obj`.

A treedef is hashable: ("leaf",), ("tuple", (defs...)), ("list", (defs...)),
("dict", ((key, def), ...)) with keys sorted, ("object", cls, ((name, def), ...), statics),
("namedtuple", cls, (defs...)) for a NamedTuple (rebuilt as `cls(*children)`: a gradient is one),
("rng", class name) for a NumPy random generator (a RandomState or Generator argument: not a
leaf, as it is no number; compiled code gets its draws, see `coarsen.frontend.random`).

Objects (#22): an instance of a dataclass, or of a class that names its data attributes in
`__coarsen_fields__ = ("W", "b", "layers")`, is a node whose children are those attributes
(arrays, numbers, containers, other such objects), so `grad(loss)(model, x)` returns a
gradient of the same class holding the gradients, as JAX does for registered pytrees.
Attributes that are not data (strings, None, functions, other objects: a dataclass field
`activation: str`) are `statics`, part of the treedef and so of the compiled program's
signature: a call with a different static value compiles again.
"""
from __future__ import annotations

import dataclasses
from typing import Any

LEAF = ("leaf",)


def flatten(obj: Any) -> tuple[list[Any], tuple]:
    leaves: list[Any] = []
    return leaves, _flatten(obj, leaves)


def generators(obj: Any) -> list[Any]:
    """The random generators in `obj`, in the order `flatten` meets them (the "rng" nodes)."""
    found: list[Any] = []
    _flatten(obj, [], found)
    return found


def is_generator(obj: Any) -> bool:
    import numpy as np
    return isinstance(obj, (np.random.RandomState, np.random.Generator))


def _flatten(obj: Any, leaves: list[Any], gens: list[Any] | None = None) -> tuple:
    if is_generator(obj):
        if gens is not None:
            gens.append(obj)
        return ("rng", type(obj).__name__)
    if isinstance(obj, tuple) and is_namedtuple(obj):   # its class is part of the treedef
        return ("namedtuple", type(obj), tuple(_flatten(o, leaves, gens) for o in obj))
    if isinstance(obj, tuple):
        return ("tuple", tuple(_flatten(o, leaves, gens) for o in obj))
    if isinstance(obj, list):
        return ("list", tuple(_flatten(o, leaves, gens) for o in obj))
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("dict arguments need string keys")
        return ("dict", tuple((k, _flatten(obj[k], leaves, gens)) for k in sorted(obj)))
    fields = object_fields(obj)
    if fields is not None:
        children, statics = [], []
        for name in fields:
            value = getattr(obj, name)
            if _is_data(value):
                children.append((name, _flatten(value, leaves, gens)))
            else:
                try:
                    hash(value)
                except TypeError:
                    raise TypeError(f"attribute {name!r} of a {type(obj).__name__} argument is neither data "
                                    "(numbers, arrays, containers) nor hashable") from None
                statics.append((name, value))
        return ("object", type(obj), tuple(children), tuple(statics))
    leaves.append(obj)
    return LEAF


def is_namedtuple(obj: Any) -> bool:
    """A NamedTuple (or collections.namedtuple) instance: a tuple whose class names its fields."""
    return isinstance(obj, tuple) and isinstance(getattr(type(obj), "_fields", None), tuple)


def object_fields(obj: Any) -> tuple[str, ...] | None:
    """The data attributes of an object argument (a dataclass instance, or a class listing them
    in `__coarsen_fields__`), or None when `obj` is not such an object."""
    if isinstance(obj, type) or type(obj).__module__.split(".")[0] == "coarsen":
        return None   # coarsen's own dataclasses (the tracer's IR values) are leaves
    names = getattr(type(obj), "__coarsen_fields__", None)
    if names is not None:
        return tuple(names)
    fields = getattr(type(obj), "__dataclass_fields__", None)
    if fields is not None:
        return tuple(name for name, f in fields.items() if f._field_type is dataclasses._FIELD)
    return None


def _is_data(value: Any) -> bool:
    import numpy as np
    return (isinstance(value, (bool, int, float, np.number, np.bool_, np.ndarray, tuple, list, dict))
            or object_fields(value) is not None or is_generator(value))


def new_object(cls: type, attrs: dict) -> Any:
    """An instance of `cls` holding `attrs`, made without calling its __init__ (which may take
    other arguments or compute): as a frozen dataclass's fields are set."""
    obj = cls.__new__(cls)
    for name, value in attrs.items():
        object.__setattr__(obj, name, value)
    return obj


def unflatten(treedef: tuple, leaves, make_object=new_object, generators=()) -> Any:
    """The tree of `leaves`; `make_object(cls, attrs)` builds each object node (the tracer
    binds them to its own object bindings instead of instances); "rng" nodes take the next of
    `generators` (None when it runs out: a gradient has nothing for a generator)."""
    it = iter(leaves)
    out = _unflatten(treedef, it, make_object, iter(generators))
    return out


def _unflatten(treedef: tuple, it, make, gens=iter(())) -> Any:
    kind = treedef[0]
    if kind == "leaf":
        return next(it)
    if kind == "rng":
        return next(gens, None)
    if kind == "tuple":
        return tuple(_unflatten(d, it, make, gens) for d in treedef[1])
    if kind == "namedtuple":
        return treedef[1](*(_unflatten(d, it, make, gens) for d in treedef[2]))
    if kind == "list":
        return [_unflatten(d, it, make, gens) for d in treedef[1]]
    if kind == "object":
        attrs = {name: _unflatten(d, it, make, gens) for name, d in treedef[2]}
        attrs.update(treedef[3])
        return make(treedef[1], attrs)
    return {k: _unflatten(d, it, make, gens) for k, d in treedef[1]}


def num_leaves(treedef: tuple) -> int:
    kind = treedef[0]
    if kind == "leaf":
        return 1
    if kind == "rng":
        return 0
    if kind == "dict":
        return sum(num_leaves(d) for _, d in treedef[1])
    if kind == "object":
        return sum(num_leaves(d) for _, d in treedef[2])
    if kind == "namedtuple":
        return sum(num_leaves(d) for d in treedef[2])
    return sum(num_leaves(d) for d in treedef[1])
