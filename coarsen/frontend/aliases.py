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
from the arguments of an inlined call), and no other live name may share one of them, except
a *row view* provably disjoint from the write (#13 item 5): `r = s[i]` then `s[i + 1] = v`.
For that, `whole` holds the arrays known to be a whole storage (fresh arrays, their element
writes, joins and loop carries of whole arrays), `rows` the views `s[i, ...]` of a whole `s`
by their leading index, and `disjoint_indices` decides two integer indices differ: the same
base plus different constant offsets, both provably >= 0 (a negative index would wrap: `s[-1]`
and `s[0]` are one row when s has one), or two different constants of the same sign.
`reads` keeps the source of each view (`s[i]`), so a refusal's hint copies that read.
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
        self.whole: set[int] = set()               # arrays that are a whole storage
        self.rows: dict[int, tuple[int, Value]] = {}   # view id -> (whole base id, leading index)
        self.reads: dict[int, str] = {}            # view id -> its source text (`s[i]`)

    def storages(self, value: Value) -> frozenset[Storage]:
        return self.roots.get(value.id, frozenset({value.id}))

    def fresh(self, value: Value) -> Value:
        """`value` is a new array the function created (writable)."""
        if value.type.rank:
            self.roots.pop(value.id, None)
            self.owned.add(value.id)
            self.whole.add(value.id)
        return value

    def same(self, value: Value, *sources: Value) -> Value:
        """`value` is one of `sources` or an element write into one (the same storage, whole
        when they all are)."""
        self.share(value, *sources)
        if value.type.rank and all(s.id in self.whole for s in sources):
            self.whole.add(value.id)
        return value

    def row_view(self, view: Value, base: Value, pattern: tuple, index: list, text: str) -> None:
        """`view` is `base[...]` (a view): remember its source, and its leading index when it
        is an integer into a whole base."""
        if not view.type.rank:
            return
        self.reads[view.id] = text
        if pattern and pattern[0] == "i" and base.id in self.whole:
            self.rows[view.id] = (base.id, index[0])

    def disjoint_row(self, leaf: Value, array: Value, written: Value | None, defs: dict) -> bool:
        """Whether `leaf` is a row view of a storage `array` (whole) shares, provably not the
        row `array[written, ...]` writes."""
        row = self.rows.get(leaf.id)
        if row is None or written is None or array.id not in self.whole:
            return False
        return disjoint_indices(row[1], written, defs)

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
        self.whole = [v.id in aliases.whole for v in inits]
        self.body_start = 0

    def extend(self, inits: list[Value]) -> None:
        """Carry more values (a `return` found inside the loop adds `$rv`)."""
        for v in inits[len(self.roots):]:
            self.roots.append(self.aliases.storages(v) if v.type.rank else frozenset())
            self.whole.append(v.id in self.aliases.whole)

    def bind(self, params: Iterable[Value]) -> None:
        for p, roots, whole in zip(params, self.roots, self.whole):
            self.aliases.set_storages(p, roots)
            if whole and p.type.rank:
                self.aliases.whole.add(p.id)

    def update(self, yields: list[Value]) -> bool:
        """Add what the body yields; True if some carried value's storages grew (lower again)."""
        token_owned: dict[Storage, bool] = {}
        grown = False
        local_token: dict[Storage, Storage] = {}
        for k, y in enumerate(yields):
            if not y.type.rank:
                continue
            if k < len(self.whole) and self.whole[k] and y.id not in self.aliases.whole:
                self.whole[k] = False   # a carried view: not whole after all (lower again)
                grown = True
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


def _affine(v: Value, defs: dict) -> tuple[Any, int]:
    """v as (base, constant offset): base None for a constant, else a Value id."""
    from coarsen.ir.nodes import Op
    offset = 0
    for _ in range(16):
        d = defs.get(v.id)
        if d is None:
            return v.id, offset
        if d[0] == "const":
            return None, offset + d[1]
        op, a, b = d
        cb = defs.get(b.id)
        if op in (Op.ADD, Op.SUB) and cb is not None and cb[0] == "const":
            offset += cb[1] if op is Op.ADD else -cb[1]
            v = a
            continue
        ca = defs.get(a.id)
        if op is Op.ADD and ca is not None and ca[0] == "const":
            offset += ca[1]
            v = b
            continue
        return v.id, offset
    return v.id, offset


def disjoint_indices(a: Value, b: Value, defs: dict) -> bool:
    """Whether the integer indices a and b surely select different rows (see the module
    docstring). `defs`: value id -> ("const", int) | (Op, x, y) for ADD/SUB, and ("start", int)
    for a counted loop's index (its lower bound, the loop counting up from a constant)."""
    (base_a, off_a), (base_b, off_b) = _affine(a, defs), _affine(b, defs)
    if base_a != base_b or off_a == off_b:
        return False
    if base_a is None:
        return (off_a >= 0) == (off_b >= 0)
    start = defs.get(("start", base_a))
    return start is not None and start + min(off_a, off_b) >= 0
