"""Which arrays may share memory, and which ones compiled code may write into.

The IR gives element writes value semantics (`a[i] = v` defines a new SSA value). That matches
Python only when no other live name can see the array being written. So the frontend tracks,
for every array value, the set of *storages* (CPython array objects) it may be:

- a fresh array (np.zeros, .copy(), the result of arithmetic, a cast) is its own storage, and
  an *owned* one: the function created it, so it may write into it;
- a parameter, a module-level constant or anything else not marked fresh is its own storage,
  not owned (writing into it would be visible to the caller, or mutate a global);
- a view (slice, transpose, reshape) and an element-write or `+=` result share the storages of
  the array they come from;
- an IF result may be either branch's value: the union of both;
- a loop-carried value may be its initial value or any value the body yields: the union,
  iterated to a fixpoint (`LoopStorages`). Storages created inside a loop body are renamed to a
  token per carried position, so the fixpoint does not depend on fresh value ids.

A write through name `a` is allowed when all of `a`'s storages are owned (and not reachable
from the arguments of an inlined call), and no other live name may share one of them.
"""
from __future__ import annotations

from typing import Any, Hashable, Iterable

from coarsen.ir.nodes import Value

Storage = Hashable   # a value id (int), or a loop token (tuple)


class AliasInfo:
    """Storages of array values, and the set of storages the function owns."""

    def __init__(self) -> None:
        self.owned: set[Storage] = set()
        self.roots: dict[int, frozenset[Storage]] = {}

    def storages(self, value: Value) -> frozenset[Storage]:
        return self.roots.get(value.id, frozenset({value.id}))

    def fresh(self, value: Value) -> Value:
        """`value` is a new array the function created (writable)."""
        if value.type.rank:
            self.roots.pop(value.id, None)
            self.owned.add(value.id)
        return value

    def share(self, value: Value, *sources: Value) -> Value:
        """`value` may be (a view of) any of `sources`."""
        if value.type.rank:
            roots: frozenset[Storage] = frozenset()
            for s in sources:
                roots |= self.storages(s)
            self.roots[value.id] = roots
        return value

    def set_storages(self, value: Value, roots: frozenset[Storage]) -> None:
        if value.type.rank:
            self.roots[value.id] = roots

    def owns(self, value: Value, foreign: frozenset[Storage] = frozenset()) -> bool:
        roots = self.storages(value)
        return roots <= self.owned and not (roots & foreign)

    def overlap(self, a: Value, b: Value) -> bool:
        return bool(a.type.rank and b.type.rank and self.storages(a) & self.storages(b))


class LoopStorages:
    """The fixpoint of carried arrays' storages for one loop (see the module docstring)."""

    def __init__(self, aliases: AliasInfo, key: Any, inits: list[Value]) -> None:
        self.aliases = aliases
        self.key = key
        self.roots = [aliases.storages(v) if v.type.rank else frozenset() for v in inits]
        self.body_start = 0

    def extend(self, inits: list[Value]) -> None:
        """Carry more values (a `return` found inside the loop adds `$rv`)."""
        for v in inits[len(self.roots):]:
            self.roots.append(self.aliases.storages(v) if v.type.rank else frozenset())

    def bind(self, params: Iterable[Value]) -> None:
        for p, roots in zip(params, self.roots):
            self.aliases.set_storages(p, roots)

    def update(self, yields: list[Value]) -> bool:
        """Add what the body yields; True if some carried value's storages grew (lower again)."""
        token_owned: dict[Storage, bool] = {}
        grown = False
        local_token: dict[Storage, Storage] = {}
        for k, y in enumerate(yields):
            if not y.type.rank:
                continue
            for s in self.aliases.storages(y):
                if isinstance(s, int) and s >= self.body_start:   # created in this body
                    token = local_token.setdefault(s, ("loop", self.key, k))
                    token_owned[token] = token_owned.get(token, True) and s in self.aliases.owned
                    s = token
                if s not in self.roots[k]:
                    self.roots[k] = self.roots[k] | {s}
                    grown = True
        for token, owned in token_owned.items():
            if owned:
                self.aliases.owned.add(token)
            elif token in self.aliases.owned:
                self.aliases.owned.discard(token)
                grown = True
        return grown
