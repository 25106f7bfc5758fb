"""The tower engine: one step of a stack of optimizers, shared by both backends.

Input: a tower built from an optimizer spec (``SGD(..., optimizer=SGD(...))``), the current
model leaves (flat list of arrays), their loss gradients, the loss, and an ops namespace.
Output: new leaves and a new ``TowerState``; the old state is never mutated.

Level 0 updates the model; level j >= 1 updates level j-1's learned hyperparameters, which it
sees as *coordinates* (``domains.py``); the top level's hyperparameters are constants.
One step:
1. Hypergradients, bottom-up: ``dL/dh_0 = <grad, T_0>``, ``dL/dh_j = <dL/dh_{j-1}, T_j>`` where
   ``T_j`` are the tangents (``rules.py``) of level j's *previous* update, scaled by the domain
   map.  Everything older than that update is detached, so level j costs one small dot product.
   A level that made no update last step has no tangents: the chain stops there (so level j
   first moves at step j).
2. If the loss, a gradient, a hypergradient or a new value is non-finite, nothing changes:
   ``NonFiniteError`` is raised, or the step is skipped and counted (``on_nonfinite``).
3. Updates, top-down (the order matters: each level uses the hyperparameters the level above
   has just set, which is what makes the next loss depend on them).
Levels whose arrays are all scalars compute on ``SCALAR_OPS`` (Python floats); values cross
between levels through ``ops.adopt``.  That is what keeps a level's cost to a few microseconds.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

from hyperopt.arrays import SCALAR_OPS
from hyperopt.domains import (Domain, apply_update, coordinate_gradient, paper_domain,
                              to_coordinate, to_value)

Array = Any


class NonFiniteError(FloatingPointError):
    """A loss, gradient, hypergradient or updated value was NaN/inf; nothing was changed."""


@dataclasses.dataclass(frozen=True)
class HyperLeaf:
    """One learned hyperparameter array of a level: ``name``, for which updated leaf."""
    name: str
    domain: Domain
    leaf: int | None  # None: shared by all leaves the level updates
    shape: tuple[int, ...]  # () unless the step size is elementwise


@dataclasses.dataclass(frozen=True)
class Level:
    """Static description of one level: what it updates and which of its values are learned."""
    spec: Any  # an hyperopt.optimizers.Optimizer
    learned: frozenset[str]
    layout: tuple[HyperLeaf, ...]  # the arrays level+1 updates, in order
    targets: tuple[Domain, ...]  # domain of each leaf this level updates
    target_names: tuple[str, ...]
    const: dict[str, Any]
    scalar: bool  # every target is 0-d: run on SCALAR_OPS (much faster than 0-d arrays)
    coordinate_grads: bool = False  # some target descends on its coordinate (update="paper")

    def describe(self, j: int) -> str:
        return f"level {j} ({type(self.spec).__name__})"


@dataclasses.dataclass(frozen=True)
class Tower:
    levels: tuple[Level, ...]
    on_nonfinite: str


@dataclasses.dataclass(frozen=True)
class LevelState:
    coords: tuple[Array, ...]  # coordinates of this level's learned hyperparameters
    slots: tuple[dict[str, Array], ...]  # one dict per leaf this level updates
    tangents: tuple[tuple[Array | None, ...], ...] | None  # [hyper leaf][updated leaf]
    hypergrad: tuple[Array, ...] | None  # dL/d value, computed at the latest step (diagnostics)
    updates: int  # updates this level has applied


@dataclasses.dataclass(frozen=True)
class TowerState:
    tower: Tower
    levels: tuple[LevelState, ...]
    step: int  # steps applied
    skipped: int  # steps refused for non-finite values (on_nonfinite="skip")


def build_tower(spec: Any, shapes: Sequence[tuple[int, ...]], names: Sequence[str]) -> Tower:
    """Walk ``spec.optimizer`` upwards and lay out every level's learned hyperparameters."""
    specs = [spec]
    while specs[-1].optimizer is not None:
        specs.append(specs[-1].optimizer)
    for j, s in enumerate(specs[1:], 1):
        if s.on_nonfinite is not None:
            raise ValueError(f"on_nonfinite is a setting of the bottom optimizer of a tower "
                             f"(it governs the whole step); remove it from level {j} ({s!r})")
        if s.update != specs[0].update:
            # One rule per tower: update="paper" on the bottom alone would otherwise be ignored
            # (a level's update= governs how it moves the hyperparameters below it).
            raise ValueError(f"update={specs[0].update!r} at level 0 but {s.update!r} at level "
                             f"{j} ({type(s).__name__}): a tower uses one update rule; pass "
                             f"update= to every level")
    levels = []
    domains = tuple(Domain.REAL for _ in shapes)
    shapes, names = tuple(map(tuple, shapes)), tuple(names)
    for j, s in enumerate(specs):
        learned = s.learned_names() if j < len(specs) - 1 else frozenset()
        paper = j + 1 < len(specs) and specs[j + 1].update == "paper"
        layout = []
        for name, dom in s.hyper_domains.items():
            if name not in learned:
                continue
            dom = paper_domain(dom) if paper else dom
            if name == "alpha" and s.per_param:
                elementwise = s.per_param == "element"
                layout += [HyperLeaf(name, dom, i, shapes[i] if elementwise else ())
                           for i in range(len(shapes))]
            else:
                layout.append(HyperLeaf(name, dom, None, ()))
        scalar = j > 0 and all(shape == () for shape in shapes)
        levels.append(Level(s, learned, tuple(layout), domains, names, s.constants(learned),
                            scalar, Domain.TANH_UNIT in domains))
        domains = tuple(h.domain for h in layout)
        shapes = tuple(h.shape for h in layout)
        names = tuple(h.name if h.leaf is None else f"{h.name}[{names[h.leaf]}]" for h in layout)
    return Tower(tuple(levels), specs[0].on_nonfinite or "raise")


def level_ops(tower: Tower, j: int, ops: Any) -> Any:
    """The namespace level j computes in; ``j == len(levels)`` (above the top) is scalar."""
    return SCALAR_OPS if j >= len(tower.levels) or tower.levels[j].scalar else ops


def init_state(tower: Tower, leaves: Sequence[Array], ops: Any) -> TowerState:
    states, targets = [], list(leaves)
    for j, level in enumerate(tower.levels):
        up = level_ops(tower, j + 1, ops)  # level j's coordinates are level j+1's targets
        coords = tuple(up.full_like(targets[h.leaf] if h.shape else up.scalar(0.0, targets[0]),
                                    to_coordinate(h.domain, level.spec.initial[h.name]))
                       for h in level.layout)
        mine = level_ops(tower, j, ops)
        slots = tuple(level.spec.init_slots(t, level.const, mine) for t in targets)
        states.append(LevelState(coords, slots, None, None, 0))
        targets = list(coords)
    return TowerState(tower, tuple(states), 0, 0)


def level_values(tower: Tower, j: int, coords: Sequence[Array], n_targets: int, ops: Any,
                 perturb: tuple[int, Any] | None = None, lops: list[Any] | None = None
                 ) -> list[dict[str, Array]]:
    """Hyperparameter values each leaf level j updates sees: ``[leaf][name]``."""
    level = tower.levels[j]
    if lops is None:
        up, mine = level_ops(tower, j + 1, ops), level_ops(tower, j, ops)
    else:
        up, mine = lops[j + 1], lops[j]
    if perturb is None and all(h.leaf is None for h in level.layout):
        # Shared by every leaf: one dict (the rules only read it).
        shared = dict(level.spec.initial)
        for h, c in zip(level.layout, coords):
            shared[h.name] = mine.adopt(to_value(h.domain, c, up))
        return [shared] * n_targets
    values = [dict(level.spec.initial) for _ in range(n_targets)]
    for k, (h, c) in enumerate(zip(level.layout, coords)):
        v = mine.adopt(to_value(h.domain, c, up))
        if perturb is not None and perturb[0] == k:
            v = v + perturb[1]  # finite-difference hook for the tests
        for i in (range(n_targets) if h.leaf is None else (h.leaf,)):
            values[i][h.name] = v
    return values


def hyperparameter_values(state: TowerState, ops: Any) -> list[dict[str, Any]]:
    """Every level's values as Python floats (or arrays for elementwise step sizes), bottom
    level first; per-parameter values as ``{leaf name: value}``."""
    tower, out = state.tower, []
    for j, (level, ls) in enumerate(zip(tower.levels, state.levels)):
        up = level_ops(tower, j + 1, ops)
        values: dict[str, Any] = dict(level.spec.initial)
        per_leaf: dict[str, dict[str, Any]] = {}
        for h, c in zip(level.layout, ls.coords):
            v = up.to_python(to_value(h.domain, c, up))
            if h.leaf is None:
                values[h.name] = v
            else:
                per_leaf.setdefault(h.name, {})[level.target_names[h.leaf]] = v
        values.update(per_leaf)
        out.append(values)
    return out


def hypergradients(tower: Tower, state: TowerState, grads: Sequence[Array | None],
                   ops: Any, lops: list[Any] | None = None) -> list[tuple[Array, ...]]:
    """dL/d(value) of each level's learned hyperparameters through the last update only."""
    if lops is None:
        lops = [level_ops(tower, j, ops) for j in range(len(tower.levels) + 1)]
    return chain_hypergradients(tower, state.levels, grads, lops, 0)


def chain_hypergradients(tower: Tower, levels: Sequence[LevelState], cot: Sequence[Any],
                         lops: list[Any], start: int, out: list[Any] | None = None
                         ) -> list[tuple[Array, ...]]:
    """``hypergradients`` from level ``start`` up, ``cot`` being dL/d(level start's targets);
    appended to ``out`` (the torch fast path computes level 0's itself, fast.py)."""
    out = [] if out is None else out
    for j in range(start, len(tower.levels)):
        level, ls = tower.levels[j], levels[j]
        if not level.layout or ls.tangents is None:
            break
        mine, up = lops[j], lops[j + 1]
        hg = []
        for h, tans, coord in zip(level.layout, ls.tangents, ls.coords):
            total = None
            for c, t in zip(cot, tans):
                if c is None or t is None:
                    continue
                part = c * t if h.shape else mine.vdot(c, t)
                total = part if total is None else total + part
            hg.append(up.full_like(coord, 0.0) if total is None else up.adopt(total))
        out.append(tuple(hg))
        cot = hg
    return out


def _first_bad(arrays: Sequence[Array | None], names: Sequence[str], ops: Any) -> str | None:
    """Name of the first non-finite array, or None (one fused check in the common case)."""
    present = [a for a in arrays if a is not None]
    if ops.all_finite_many(present):
        return None
    for a, n in zip(arrays, names):
        if a is not None and not ops.all_finite(a):
            return n
    return None


def _update_levels(tower: Tower, levels: Sequence[LevelState], leaves: Sequence[Array],
                   grads: Sequence[Array | None], hgs: list[tuple[Array, ...]], lops: list[Any],
                   new_coords: list[Any], parts: list[Any],
                   perturb: tuple[int, int, float] | None, stop: int = 0,
                   top: int | None = None) -> list[Array]:
    """The updates of ``tower_step``, top-down; fills ``new_coords`` and ``parts`` (per level:
    slots, tangents, hypergradient, update count) and returns the new leaves.  Levels
    ``top`` (default: the top one) down to ``stop`` run: the torch fast path (fast.py) runs
    level 0, and some scalar levels, itself."""
    new_leaves = list(leaves)
    n, ops = len(tower.levels), lops[0]  # level 0 runs on the backend's namespace
    for j in range(n - 1 if top is None else top, stop - 1, -1):
        level, ls = tower.levels[j], levels[j]
        if j == 0:
            targets, xs = list(leaves), grads
        elif j - 1 < len(hgs):
            targets, xs = list(new_coords[j - 1]), hgs[j - 1]
            if level.coordinate_grads:
                xs = [coordinate_gradient(d, c, x, lops[j])
                      for d, c, x in zip(level.targets, targets, xs)]
        else:  # no hypergradient for level j-1 yet: level j waits, and has nothing to chain
            parts[j] = (ls.slots, None, None, ls.updates)
            continue
        want, mine = level.learned, lops[j]
        p = perturb[1:] if perturb is not None and perturb[0] == j else None
        values = level_values(tower, j, new_coords[j], len(targets), ops, p, lops)
        slots, raw_tangents = list(ls.slots), []
        rule, const, trust = level.spec.update_rule, level.const, level.spec.trust
        for i, (t, x) in enumerate(zip(targets, xs)):
            if x is None:
                raw_tangents.append(None)
                continue
            delta, slots[i], tans = rule(t, x, ls.slots[i], values[i], const, want, mine)
            if j == 0:  # model parameters: plain addition, in the parameter's dtype
                targets[i] = mine.cast_like(t + delta, t)
            else:
                targets[i], scale = apply_update(level.targets[i], t, delta, trust, mine)
                if scale is not None:
                    tans = {k: v * scale for k, v in tans.items()}
            raw_tangents.append(tans)
        tangents = None
        if level.layout:
            tangents = tuple(
                tuple(None if rt is None or (h.leaf is not None and h.leaf != i) else rt[h.name]
                      for i, rt in enumerate(raw_tangents))
                for h in level.layout)
        parts[j] = (tuple(slots), tangents, hgs[j] if j < len(hgs) else None, ls.updates + 1)
        if j:
            new_coords[j - 1] = tuple(targets)
        else:
            new_leaves = targets
    return new_leaves


def tower_step(state: TowerState, leaves: Sequence[Array], grads: Sequence[Array | None],
               loss: float | None, ops: Any, perturb: tuple[int, int, float] | None = None
               ) -> tuple[list[Array], TowerState]:
    """One step; ``grads[i] is None`` leaves leaf i untouched (torch's ``p.grad is None``).

    ``perturb=(level, hyper_leaf, eps)`` adds eps to that value before it is used (tests only).
    """
    tower = state.tower
    n = len(tower.levels)
    lops = [level_ops(tower, j, ops) for j in range(n + 1)]  # the namespace of each level
    hgs = hypergradients(tower, state, grads, ops, lops)

    def refuse(what: str) -> tuple[list[Array], TowerState]:
        msg = (f"{what} at step {state.step + state.skipped}; parameters and optimizer state were "
               f"left unchanged")
        if tower.on_nonfinite == "raise":
            raise NonFiniteError(msg + " (pass on_nonfinite='skip' to skip such steps)")
        return list(leaves), dataclasses.replace(state, skipped=state.skipped + 1)

    if loss is not None and not math.isfinite(float(loss)):
        return refuse(f"non-finite loss {float(loss)}")

    def bad_gradient() -> str | None:
        # Checked only once something downstream is non-finite: a NaN/inf gradient always
        # reaches a hypergradient or an updated parameter, and this keeps the common case
        # to one fused check of the new parameters.
        bad = _first_bad(grads, tower.levels[0].target_names, ops)
        return None if bad is None else f"non-finite gradient of parameter {bad!r}"

    for j, hg in enumerate(hgs):
        up = lops[j + 1]
        if up is SCALAR_OPS and all(map(math.isfinite, hg)):
            continue
        bad = _first_bad(hg, tower.levels[j + 1].target_names, up)
        if bad is not None:
            return refuse(bad_gradient() or
                          f"non-finite hypergradient dL/d{bad} of {tower.levels[j].describe(j)}")

    new_coords = [ls.coords for ls in state.levels]
    # per level: (slots, tangents, hypergrad, updates); LevelStates are built once at the end
    parts: list[tuple[Any, Any, Any, int]] = [None] * n  # type: ignore[list-item]
    new_leaves = list(leaves)
    try:
        new_leaves = _update_levels(tower, state.levels, leaves, grads, hgs, lops, new_coords,
                                    parts, perturb)
    except ZeroDivisionError:  # scalar levels (Python floats): NumPy would have made inf/nan
        return refuse("division by zero in the update of a hyperparameter level")
    for j in range(n - 1):  # the top level has no learned hyperparameters
        up = lops[j + 1]
        if up is SCALAR_OPS:
            if all(map(math.isfinite, new_coords[j])):
                continue
        elif up.all_finite_many(new_coords[j]):
            continue
        bad = _first_bad(new_coords[j], tower.levels[j + 1].target_names, up)
        if bad is not None:
            return refuse(f"update made {tower.levels[j].describe(j)} hyperparameter {bad} "
                          f"non-finite")
    bad = _first_bad(new_leaves, tower.levels[0].target_names, ops)
    if bad is not None:
        return refuse(bad_gradient() or f"update made parameter {bad!r} non-finite")
    new_levels = tuple(LevelState(tuple(c), *part) for c, part in zip(new_coords, parts))
    return new_leaves, TowerState(tower, new_levels, state.step + 1, state.skipped)
