"""The NumPy backend: functional, optax-style steps on NumPy parameters.

Input: an optimizer spec (optimizers.py), parameters (an array, or dicts/lists/tuples of
arrays), a plain Python/NumPy ``loss_fn(params, *batch)``, and batches.
Output: ``(loss, params, state)`` per step; ``minimize`` runs many and keeps a ``History``.

The parameter gradient comes from ``coarsen.value_and_grad`` (imported lazily, so importing
hyperopt costs nothing; compiled once per ``loss_fn`` and cached), or from any transform with
the same signature passed as ``value_and_grad=``.  The hyperparameter part of the step is plain
NumPy (tower.py), so a tower of height k costs k small dot products, not k gradients.
Invariants: inputs are never mutated; ``state`` is an immutable value safe to keep or pickle.
"""
from __future__ import annotations

import dataclasses
import itertools
import weakref
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from hyperopt.arrays import NUMPY_OPS
from hyperopt.tower import (TowerState, build_tower, hyperparameter_values, init_state,
                            tower_step)

ValueAndGrad = Callable[..., Callable[..., tuple[Any, Any]]]


# --- parameter trees: an array, or dicts / lists / tuples of them ---------------------------
def flatten(tree: Any, prefix: str = "") -> tuple[list[np.ndarray], Any, list[str]]:
    """``(leaves, treedef, names)``; dict keys are kept in insertion order."""
    if isinstance(tree, dict):
        leaves, defs, names = [], {}, []
        for k, v in tree.items():
            lv, d, nm = flatten(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
            leaves += lv
            names += nm
            defs[k] = d
        return leaves, defs, names
    if isinstance(tree, (list, tuple)):
        leaves, defs, names = [], [], []
        for i, v in enumerate(tree):
            lv, d, nm = flatten(v, f"{prefix}[{i}]")
            leaves += lv
            names += nm
            defs.append(d)
        return leaves, (type(tree), tuple(defs)), names
    a = np.asarray(tree)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"parameter {prefix or '<root>'} has dtype {a.dtype}; parameters must "
                        f"be floating-point arrays")
    return [a], None, [prefix or "params"]


def flatten_as(tree: Any, treedef: Any, where: str = "grads") -> list[np.ndarray]:
    """Leaves of ``tree`` in the order of ``treedef`` (dicts matched by key, not by order:
    a gradient transform may return keys sorted)."""
    if treedef is None:
        if isinstance(tree, (dict, list, tuple)):
            raise ValueError(f"{where}: expected an array, got a {type(tree).__name__}")
        return [np.asarray(tree)]
    if isinstance(treedef, dict):
        if not isinstance(tree, dict) or set(tree) != set(treedef):
            got = sorted(tree) if isinstance(tree, dict) else type(tree).__name__
            raise ValueError(f"{where}: expected keys {sorted(treedef)}, got {got}")
        return [a for k, d in treedef.items() for a in flatten_as(tree[k], d, f"{where}[{k!r}]")]
    kind, items = treedef
    if not isinstance(tree, (list, tuple)) or len(tree) != len(items):
        raise ValueError(f"{where}: expected a {kind.__name__} of {len(items)} items")
    return [a for v, d in zip(tree, items) for a in flatten_as(v, d, where)]


def unflatten(treedef: Any, leaves: Iterable[Any]) -> Any:
    it = iter(leaves)

    def build(d: Any) -> Any:
        if d is None:
            return next(it)
        if isinstance(d, dict):
            return {k: build(v) for k, v in d.items()}
        kind, items = d
        return kind(build(v) for v in items)

    return build(treedef)


@dataclasses.dataclass(frozen=True)
class State:
    """NumPy optimizer state: the tower's state plus the parameters' tree structure."""
    tower: TowerState
    treedef: Any

    @property
    def step(self) -> int:
        return self.tower.step

    @property
    def skipped(self) -> int:
        return self.tower.skipped


# --- gradients ----------------------------------------------------------------------------
_COMPILED: "weakref.WeakKeyDictionary[Callable, dict[Any, Callable]]" = weakref.WeakKeyDictionary()


def _default_transform() -> ValueAndGrad:
    import coarsen  # lazily: hyperopt must import without the compiler having been built
    vg = getattr(coarsen, "value_and_grad", None)
    if vg is None:
        raise RuntimeError("coarsen.value_and_grad is not available in this build of coarsen; "
                           "pass value_and_grad=<transform> (e.g. a torch-based one) to step()")
    return vg


def compiled_value_and_grad(loss_fn: Callable[..., Any],
                            transform: ValueAndGrad | None = None) -> Callable[..., Any]:
    """``transform(loss_fn)``, built once per (loss_fn, transform) pair."""
    transform = transform or _default_transform()
    try:
        per_fn = _COMPILED.setdefault(loss_fn, {})
    except TypeError:  # not weak-referenceable: compile every time
        return transform(loss_fn)
    if transform not in per_fn:
        per_fn[transform] = transform(loss_fn)
    return per_fn[transform]


# --- the optax-like API ---------------------------------------------------------------------
def init(opt: Any, params: Any) -> State:
    leaves, treedef, names = flatten(params)
    if not leaves:
        raise ValueError("params has no arrays to optimize")
    tower = build_tower(opt, [a.shape for a in leaves], names)
    return State(init_state(tower, leaves, NUMPY_OPS), treedef)


def _check_state(opt: Any, state: Any) -> None:
    if not isinstance(state, State):
        raise TypeError(f"state must come from opt.init(params), not {type(state).__name__}")
    spec = state.tower.tower.levels[0].spec
    if spec is not opt and spec.config() != opt.config():  # every setting, exactly
        raise ValueError(f"this state belongs to {spec!r}, not to {opt!r}")


def apply_gradients(opt: Any, params: Any, grads: Any, state: State,
                    loss: float | None = None) -> tuple[Any, State]:
    _check_state(opt, state)
    leaves, treedef, _ = flatten(params)
    if treedef != state.treedef:
        raise ValueError("params does not have the structure the state was created for")
    gleaves = flatten_as(grads, treedef)
    for g, p, name in zip(gleaves, leaves, state.tower.tower.levels[0].target_names):
        if g.shape != p.shape:
            raise ValueError(f"gradient of {name!r} has shape {g.shape}, the parameter {p.shape}")
    # NaN/inf are handled explicitly by the tower (raise or skip); NumPy's own warnings or a
    # user's np.seterr(all="raise") must not pre-empt that.
    with np.errstate(all="ignore"):
        new_leaves, ts = tower_step(state.tower, leaves, gleaves, loss, NUMPY_OPS)
    return unflatten(treedef, new_leaves), State(ts, treedef)


def step(opt: Any, loss_fn: Callable[..., Any], params: Any, state: State, *batch: Any,
         value_and_grad: ValueAndGrad | None = None) -> tuple[float, Any, State]:
    _check_state(opt, state)
    loss, grads = compiled_value_and_grad(loss_fn, value_and_grad)(params, *batch)
    loss = float(np.asarray(loss))
    params, state = apply_gradients(opt, params, grads, state, loss)
    return loss, params, state


def hyperparameters(state: State) -> list[dict[str, Any]]:
    """Every level's values (learned ones from the state, constants from the spec)."""
    return hyperparameter_values(state.tower, NUMPY_OPS)


@dataclasses.dataclass
class History:
    """What ``minimize`` saw: one entry per step taken (skipped steps included)."""
    loss: list[float] = dataclasses.field(default_factory=list)
    hyperparameters: list[list[dict[str, Any]]] = dataclasses.field(default_factory=list)
    skipped: list[int] = dataclasses.field(default_factory=list)  # indices of skipped steps

    def values(self, level: int, name: str) -> np.ndarray:
        """One hyperparameter over the run, e.g. ``history.values(0, "alpha")``."""
        return np.array([h[level][name] for h in self.hyperparameters])


@dataclasses.dataclass
class MinimizeResult:
    params: Any
    state: State
    history: History


def _batch_stream(batches: Any, steps: int | None) -> Iterator[tuple[Any, ...]]:
    if batches is None:
        if steps is None:
            raise ValueError("minimize without batches needs steps=")
        source: Iterable[Any] = itertools.repeat(())
    elif callable(batches):
        if steps is None:
            raise ValueError("minimize with a batch function needs steps=")
        source = (batches(i) for i in itertools.count())
    else:
        source = iter(batches)
    for i, b in enumerate(source):
        if steps is not None and i >= steps:
            return
        yield b if isinstance(b, tuple) else (b,)


def minimize(loss_fn: Callable[..., Any], params: Any, opt: Any, batches: Any = None,
             steps: int | None = None, *, state: State | None = None,
             value_and_grad: ValueAndGrad | None = None,
             callback: Callable[[int, float, Any, State], Any] | None = None) -> MinimizeResult:
    """Run ``opt`` on ``loss_fn`` for ``steps`` steps (or until ``batches`` runs out).

    ``batches``: None (``loss_fn(params)``), an iterable of batches, or ``batches(i)``; a batch
    is a tuple of extra positional arguments (or one array).  ``callback(i, loss, params,
    state)`` returning True stops early.  Pass ``state=`` to continue an earlier run.
    """
    state = opt.init(params) if state is None else state
    history = History()
    for i, batch in enumerate(_batch_stream(batches, steps)):
        skipped_before = state.skipped
        loss, params, state = step(opt, loss_fn, params, state, *batch,
                                   value_and_grad=value_and_grad)
        history.loss.append(loss)
        history.hyperparameters.append(hyperparameters(state))
        if state.skipped > skipped_before:
            history.skipped.append(i)
        if callback is not None and callback(i, loss, params, state):
            break
    return MinimizeResult(params, state, history)
