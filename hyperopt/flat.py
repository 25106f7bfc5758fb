"""One flat leaf for all parameters: the torch backend's fast layout, and its conversions.

Why: the update rules are elementwise and, unless step sizes are per parameter, every tensor of
the model sees the same hyperparameters, so running level 0 on the concatenation of all
parameters gives the same numbers as running it tensor by tensor (up to the summation order of
the hypergradient's dot product) at a cost of a fixed number of tensor operations per step,
however many tensors the model has.  That is what makes a tower step cheap for PyTorch models.

Input: a tower state laid out per tensor (``tower.py``), or one laid out for a single leaf of
shape ``(sum of numels,)``, and the parameter shapes.  Output: the same state in the other
layout.  Only level 0's slots and tangents depend on the layout (every level above sees
hyperparameters, which do not change).

Invariants:
- ``unflatten(flatten(s)) == s`` elementwise; states are never mutated (views of the flat
  arrays are fine: the engine is functional).
- ``flatten`` returns None when the per-tensor state cannot be written as one leaf: a 0-d slot
  (Adam's running products of the betas) that differs between tensors, which happens after
  steps where some parameter had no gradient; the caller then stays per tensor.
"""
from __future__ import annotations

from typing import Any, Sequence

from hyperopt.tower import LevelState, Tower, TowerState

Array = Any


def flat_tower_ok(tower: Tower) -> bool:
    """Level 0's hyperparameters are shared by every tensor (no per-tensor step sizes)."""
    return all(h.leaf is None for h in tower.levels[0].layout)


def unflatten(state: TowerState, tower: Tower, shapes: Sequence[tuple[int, ...]]) -> TowerState:
    """A flat state (one leaf) in the per-tensor layout of ``tower``."""
    numels = [_numel(s) for s in shapes]

    def split(a: Array) -> list[Array]:
        if a.ndim == 0:  # a scalar slot: every tensor has the same one
            return [a] * len(shapes)
        return [part.view(shape) for part, shape in zip(a.split(numels), shapes)]

    level0 = state.levels[0]
    (slots,) = level0.slots
    parts = {k: split(v) for k, v in slots.items()}
    per_slots = tuple({k: parts[k][i] for k in slots} for i in range(len(shapes)))
    tangents = None if level0.tangents is None else tuple(
        (None,) * len(shapes) if row[0] is None else tuple(split(row[0]))
        for row in level0.tangents)
    new0 = LevelState(level0.coords, per_slots, tangents, level0.hypergrad, level0.updates)
    return TowerState(tower, (new0, *state.levels[1:]), state.step, state.skipped)


def flatten(state: TowerState, tower: Tower) -> TowerState | None:
    """A per-tensor state in the flat layout of ``tower``, or None if it has no flat form."""
    import torch
    level0 = state.levels[0]
    slots: dict[str, Array] = {}
    for k in level0.slots[0] if level0.slots else ():
        vals = [s[k] for s in level0.slots]
        if vals[0].ndim == 0:
            if any(not torch.equal(v, vals[0]) for v in vals[1:]):
                return None
            slots[k] = vals[0]
        else:
            slots[k] = torch.cat([v.reshape(-1) for v in vals])
    tangents = None
    if level0.tangents is not None:
        rows = []
        for row in level0.tangents:
            if all(t is None for t in row):
                rows.append((None,))
            elif any(t is None for t in row):
                return None  # some tensors were not updated by the last step
            else:
                rows.append((torch.cat([t.reshape(-1) for t in row]),))
        tangents = tuple(rows)
    new0 = LevelState(level0.coords, (slots,), tangents, level0.hypergrad, level0.updates)
    return TowerState(tower, (new0, *state.levels[1:]), state.step, state.skipped)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
