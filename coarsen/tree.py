"""Nested arguments and results (tuples, lists, dicts of str) flattened to leaves, as JAX's
pytrees: `flatten(obj) -> (leaves, treedef)`, `unflatten(treedef, leaves) -> obj`.

A treedef is hashable: ("leaf",), ("tuple", (defs...)), ("list", (defs...)),
("dict", ((key, def), ...)) with keys sorted.
"""
from __future__ import annotations

from typing import Any

LEAF = ("leaf",)


def flatten(obj: Any) -> tuple[list[Any], tuple]:
    leaves: list[Any] = []
    return leaves, _flatten(obj, leaves)


def _flatten(obj: Any, leaves: list[Any]) -> tuple:
    if isinstance(obj, tuple):
        return ("tuple", tuple(_flatten(o, leaves) for o in obj))
    if isinstance(obj, list):
        return ("list", tuple(_flatten(o, leaves) for o in obj))
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("dict arguments need string keys")
        return ("dict", tuple((k, _flatten(obj[k], leaves)) for k in sorted(obj)))
    leaves.append(obj)
    return LEAF


def unflatten(treedef: tuple, leaves) -> Any:
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(treedef: tuple, it) -> Any:
    kind = treedef[0]
    if kind == "leaf":
        return next(it)
    if kind == "tuple":
        return tuple(_unflatten(d, it) for d in treedef[1])
    if kind == "list":
        return [_unflatten(d, it) for d in treedef[1]]
    return {k: _unflatten(d, it) for k, d in treedef[1]}


def num_leaves(treedef: tuple) -> int:
    kind = treedef[0]
    if kind == "leaf":
        return 1
    if kind == "dict":
        return sum(num_leaves(d) for _, d in treedef[1])
    return sum(num_leaves(d) for d in treedef[1])
