"""The torch backend: hyperoptimizer towers for any ``nn.Module``, the torch.optim way.

Input: ``model.parameters()`` (or named parameters) plus the hyperparameters, e.g.
``opt = hyperopt.torch.Adam(model.parameters(), alpha=1e-3, optimizer=hyperopt.torch.SGD(1e-5))``;
then per step ``loss.backward(); opt.step(); opt.zero_grad()``.
Output: parameters updated in place; ``opt.hyperparameters()`` every level's current values.

Called without parameters (``hyperopt.torch.SGD(1e-5)``) a class returns the backend-neutral
``hyperopt.SGD`` spec, which is what ``optimizer=`` takes; ``hyperopt.SGD(1e-5)`` works too.

Invariants:
- Same maths as the NumPy backend (tower.py, rules.py, domains.py run with torch ops), so the two
  give the same trajectory on the same model.
- The hypergradient is d(loss_t)/d(hyperparameters) through the last update only, computed in
  closed form from ``p.grad``: no autograd graph is kept between steps (the reference
  implementation, gdtuo, builds one per step with ``backward(create_graph=True)`` and
  differentiates through it; its memory is flat too, 316.0 -> 316.6 MiB over 4,000 steps in
  issue 18's measurement, but every step pays for the graph), so memory is constant: per
  parameter the rule's slots plus one tangent per learned hyperparameter.
- Flat layout (flat.py): when every tensor shares the step size (no ``per_param``) and all
  have one dtype and device, level 0 runs once on all parameters concatenated, so a step costs
  a fixed number of tensor operations however many tensors the model has.  A step where some
  parameter has no ``.grad`` switches the optimizer to the per-tensor layout for good (such
  parameters are left untouched, slots included, as torch.optim does).  Checkpoints are
  always written per tensor, so they do not depend on the layout.
- In the flat layout a step runs fast.py's fast step (parameters updated in place, SGD's
  hypergradient as ``-<g_t, g_{t-1}>``, temporaries in reused buffers, one norm bound for the
  NaN/inf check, the state kept mutable and made into a ``TowerState`` only when read): bitwise
  the same numbers as the generic engine, which runs whenever the fast step declines (any
  non-finite value, a missing gradient ...).  torch.optim's step wrapper (profiler label, step
  hooks) runs only when a profiler is on or hooks are registered.
- ``group["lr"]`` is the learned step size (``lr=`` is accepted for ``alpha``); setting it (an
  ``lr_scheduler``) sets the learned value, see ``_LearnedLR``.
- A step that meets NaN/inf changes nothing (``NonFiniteError`` or skipped and counted).
- ``state_dict()`` holds only tensors, numbers, strings and lists/dicts, so it survives
  ``torch.save``/``torch.load(weights_only=True)``; ``load_state_dict`` resumes exactly.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np
import torch
import torch.optim.optimizer as _torch_optimizer

from hyperopt import optimizers as _neutral
from hyperopt.domains import Domain, check_value, to_coordinate, to_value
from hyperopt.fast import FastFlat, fast_ok
from hyperopt.flat import flat_tower_ok, flatten, unflatten
from hyperopt.tower import (LevelState, NonFiniteError, TowerState, build_tower,
                            hyperparameter_values, init_state, level_ops, tower_step)

_FORMAT = 2  # 2: the whole configuration (trust, update ...) is saved and checked


class TorchOps:
    """The array namespace of arrays.py, for torch tensors (hyperparameters are float64)."""

    name = "torch"
    exp, log1p, tanh, sqrt, abs = torch.exp, torch.log1p, torch.tanh, torch.sqrt, torch.abs
    sigmoid, zeros_like = torch.sigmoid, torch.zeros_like

    @staticmethod
    def clip(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        return torch.clamp(x, lo, hi)

    @staticmethod
    def where(cond: torch.Tensor, a: Any, b: Any) -> torch.Tensor:
        return torch.where(cond, a, b)

    @staticmethod
    def full_like(x: torch.Tensor, value: float) -> torch.Tensor:
        return torch.full(tuple(x.shape), value, dtype=torch.float64, device=x.device)

    @staticmethod
    def scalar(value: float, like: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tensor(value, dtype=torch.float64,
                            device=None if like is None else like.device)

    @staticmethod
    def vdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.ndim == 1 and a.dtype == b.dtype:
            # The flat layout: one BLAS kernel, accumulating in the model's precision (BLAS
            # sums in blocks; casting to float64 would add three passes over the parameters).
            # (float64 when it crosses to a hyperparameter level: ``adopt``).
            return torch.dot(a, b)
        return (a * b).sum(dtype=torch.float64)

    @staticmethod
    def all_finite(x: torch.Tensor) -> bool:
        return bool(torch.isfinite(x).all())

    @staticmethod
    def all_finite_many(xs: list[torch.Tensor]) -> bool:
        """One fused check: a sum of per-tensor norms is finite iff every element is, except
        when huge finite values overflow the norm; then check tensor by tensor."""
        if not xs:
            return True
        if len(xs) == 1:  # the flat layout: one pass, no temporary
            if math.isfinite(xs[0].sum().item()):
                return True
        elif len({(x.device, x.dtype) for x in xs}) == 1:
            total = torch.stack(torch._foreach_norm(xs)).sum()
            if bool(torch.isfinite(total)):
                return True
        return all(bool(torch.isfinite(x).all()) for x in xs)

    @staticmethod
    def cast_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return x if x.dtype == like.dtype else x.to(like.dtype)

    @staticmethod
    def to_python(x: torch.Tensor) -> Any:
        return x.item() if x.ndim == 0 else x.detach().clone()

    @staticmethod
    def adopt(x: Any) -> Any:
        """Scalars from the scalar levels become Python floats (a NumPy scalar on the left of
        a tensor would turn the product into a NumPy array)."""
        if isinstance(x, torch.Tensor):
            return x if x.dtype == torch.float64 else x.to(torch.float64)
        return float(x)


TORCH_OPS = TorchOps()


class _TowerOptimizer(torch.optim.Optimizer):
    """A torch.optim.Optimizer running a hyperopt tower over its parameters."""

    _spec_cls: type[_neutral.Optimizer]

    def __new__(cls, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        # Without parameters this names an upper level of a tower: return the neutral spec.
        if params is None or isinstance(params, (int, float)):
            if params is not None:
                args = (params, *args)
            return cls._spec_cls(*args, **_lr_alias(args, kwargs))
        return super().__new__(cls)

    def __init__(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self._setup(params, self._spec_cls(*args, **_lr_alias(args, kwargs)))

    def _setup(self, params: Any, spec: _neutral.Optimizer) -> None:
        self.spec = spec
        self._building = True
        super().__init__(params, {})
        self._building = False
        for group in self.param_groups:
            extra = set(group) - {"params", "param_names"}
            if extra:
                raise ValueError(
                    f"param group options {sorted(extra)} are not supported: a tower has one "
                    f"set of hyperparameters (use per_param=True to learn one step size per "
                    f"tensor)")
        self._params = [p for g in self.param_groups for p in g["params"]]
        if len({id(p) for p in self._params}) != len(self._params):
            raise ValueError("a parameter appears twice")
        for p in self._params:
            if not p.is_floating_point():
                raise TypeError(f"can only optimize floating-point tensors, not {p.dtype}")
        names = [str(n) for g in self.param_groups
                 for n in g.get("param_names", range(len(g["params"])))]
        if len(set(names)) != len(names):  # numbering restarts per group; number globally
            names = [str(i) for i in range(len(self._params))]
        self._names = names
        self._shapes = [tuple(p.shape) for p in self._params]
        self._tower = build_tower(self.spec, self._shapes, names)
        # The flat layout (flat.py): level 0 runs once on all parameters concatenated.
        self._flat_tower = None
        self._fast: FastFlat | None = None  # the fast step (fast.py), while the layout is flat
        if (len(self._params) > 1 and flat_tower_ok(self._tower)
                and len({(p.dtype, p.device) for p in self._params}) == 1):
            self._flat_tower = build_tower(self.spec, [(sum(p.numel() for p in self._params),)],
                                           ["*"])
            if fast_ok(self._flat_tower, TORCH_OPS):
                self._fast = FastFlat(self._flat_tower, self._params, TORCH_OPS)
        with torch.no_grad():
            self._tower_state = init_state(self._tower, [p.detach() for p in self._params],
                                           TORCH_OPS)
            if self._flat_tower is not None:
                self._tower_state = flatten(self._tower_state, self._flat_tower)
        self.param_groups[:] = [_ParamGroup(g) for g in self.param_groups]
        self._lr = _LearnedLR(self)
        self._lr.publish()

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy/pickle would call cls.__new__(cls), which (without parameters) makes a spec.
        return (_rebuild, (type(self),), dict(self.__dict__))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if not getattr(self, "_building", False):
            raise RuntimeError("a hyperopt tower is laid out for its parameters at creation; "
                               "create a new optimizer to add parameters")
        super().add_param_group(param_group)

    @property
    def _tower_state(self) -> TowerState:
        """The whole state (with the fast step, made from its mutable form on demand)."""
        if self._fast_live():
            return self._fast.materialize()  # type: ignore[union-attr]
        return self._ts

    @_tower_state.setter
    def _tower_state(self, state: TowerState) -> None:
        fast = self.__dict__.get("_fast")
        if fast is not None and state.tower is self._flat_tower:
            fast.load(state)
            self._ts = None
        else:
            self._ts = state

    def _fast_live(self) -> bool:
        return self.__dict__.get("_ts") is None and self.__dict__.get("_fast") is not None

    def _values_state(self) -> TowerState:
        """The state for reading values and hypergradients (level 0's tangents not needed)."""
        if self._fast_live():
            return self._fast.materialize(tangents=False)  # type: ignore[union-attr]
        return self._ts

    def _level0_coords(self) -> tuple[Any, tuple[Any, ...]]:
        if self._fast_live():
            return self._flat_tower, self._fast.coords0  # type: ignore[union-attr]
        return self._ts.tower, self._ts.levels[0].coords

    @property
    def skipped(self) -> int:
        """Steps refused because of NaN/inf (``on_nonfinite="skip"``)."""
        return self._fast.skipped if self._fast_live() else self._ts.skipped  # type: ignore

    @property
    def steps(self) -> int:
        """Steps applied."""
        return self._fast.step_count if self._fast_live() else self._ts.step  # type: ignore

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Update the parameters from their ``.grad`` (and every level of the tower)."""
        # torch.optim wraps every optimizer's step in a profiler label and its step hooks
        # (Optimizer.profile_hook_step); ops run inside an active label cost ~1 us more each,
        # which is a fifth of a fast step.  So the wrapper runs only when it does something:
        # a profiler is on, or step hooks are registered.
        if (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _optim_hooks[0] or _optim_hooks[1] or torch._C._autograd._profiler_enabled()):
            return _hooked_step(self, closure)
        return self._step(closure)

    step.hooked = True  # type: ignore[attr-defined]  # (torch.optim: "already wrapped")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch.optim's ``zero_grad``; the common case (``set_to_none``, no profiler on) without
        its profiler label, which costs as much as the loop (the same reasoning as ``step``)."""
        if not set_to_none or torch._C._autograd._profiler_enabled():
            return super().zero_grad(set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            fast = self._fast
            if fast is not None and self._ts is None:  # the fast step (fast.py)
                grads = [p.grad for p in self._params]
                if all(g is not None and not g.is_sparse for g in grads):
                    self._lr.take_writes()  # a scheduler (or the user) set group["lr"]
                    value = None if loss is None else float(
                        loss.detach() if isinstance(loss, torch.Tensor) else loss)
                    if fast.step(grads, value):
                        self._lr.publish()
                        return loss
            grads = []
            for p in self._params:
                g = p.grad
                if g is not None:
                    if g.is_sparse:
                        raise RuntimeError("hyperopt.torch does not support sparse gradients")
                    g = g.detach()  # a create_graph=True gradient: keep no graph alive
                grads.append(g)
            self._lr.take_writes()  # a scheduler (or the user) set group["lr"]
            value = None if loss is None else float(
                loss.detach() if isinstance(loss, torch.Tensor) else loss)
            if self._is_flat() and any(g is None for g in grads):
                self._to_per_tensor()  # for good: the flat layout updates every parameter
            before = self._tower_state
            with np.errstate(all="ignore"):  # scalar levels: NaN/inf handled by the tower
                if self._is_flat():
                    self._flat_step(grads, value)
                else:
                    new, self._tower_state = tower_step(
                        before, [p.detach() for p in self._params], grads, value, TORCH_OPS)
                    if self._tower_state.step != before.step:  # applied, not refused
                        for p, n, g in zip(self._params, new, grads):
                            if g is not None:  # parameters without a gradient: not updated
                                p.copy_(n)
            if self._tower_state.step != before.step:
                self._lr.publish()
        return loss

    def _is_flat(self) -> bool:
        return self._fast_live() or self._ts.tower is self._flat_tower

    def _to_per_tensor(self) -> None:
        self._tower_state = unflatten(self._tower_state, self._tower, self._shapes)

    def _flat_step(self, grads: list[torch.Tensor], loss: float | None) -> None:
        params = self._params
        flat_p = _flatten(params)  # one C++ call each (a cat of flattened views)
        flat_g = _flatten(grads)
        before = self._tower_state
        try:
            new, self._tower_state = tower_step(before, [flat_p], [flat_g], loss, TORCH_OPS)
        except NonFiniteError:
            # Refused: say which tensor, as the per-tensor layout would (rare path).
            self._tower_state = unflatten(before, self._tower, self._shapes)
            try:
                tower_step(self._tower_state, [p.detach() for p in params], grads, loss,
                           TORCH_OPS)
            finally:
                self._tower_state = before
            raise
        if self._tower_state.step != before.step:
            torch._foreach_copy_(params, _unflatten(new[0], params))

    def hyperparameters(self) -> list[dict[str, Any]]:
        """Current values, one dict per level, bottom first (per-parameter ones by name)."""
        return hyperparameter_values(self._values_state(), TORCH_OPS)

    def hypergradients(self) -> list[dict[str, Any]]:
        """dL/d(value) of each level's learned hyperparameters at the latest step."""
        ts, out = self._values_state(), []
        for level, ls in zip(ts.tower.levels, ts.levels):
            if not level.layout:
                break
            hg = ls.hypergrad or (None,) * len(level.layout)
            out.append({(h.name if h.leaf is None else
                         f"{h.name}[{level.target_names[h.leaf]}]"):
                        (None if g is None else float(g) if np.ndim(g) == 0 else g.clone())
                        for h, g in zip(level.layout, hg)})
        return out

    def _per_tensor_state(self) -> TowerState:
        ts = self._tower_state
        return unflatten(ts, self._tower, self._shapes) if self._is_flat() else ts

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        ts = self._per_tensor_state()  # checkpoints do not depend on the layout

        def out(x: Any) -> Any:  # scalar levels hold Python floats (older states np.float64)
            return float(x) if isinstance(x, np.floating) else x

        levels = [{"coords": [out(c) for c in ls.coords],
                   "slots": [{k: out(v) for k, v in s.items()} for s in ls.slots],
                   "tangents": None if ls.tangents is None else [[out(x) for x in row]
                                                                  for row in ls.tangents],
                   "hypergrad": None if ls.hypergrad is None else [out(g) for g in ls.hypergrad],
                   "updates": ls.updates} for ls in ts.levels]
        return {"state": {}, "param_groups": [{"params": list(range(len(self._params)))}],
                "hyperopt": {"format": _FORMAT, "spec": repr(self.spec),
                             "config": self.spec.config(), "step": ts.step,
                             "skipped": ts.skipped, "levels": levels}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        data = state_dict.get("hyperopt")
        if not isinstance(data, dict) or "format" not in data:
            raise ValueError("not a hyperopt.torch state_dict")
        if data["format"] != _FORMAT:
            raise ValueError(f"state_dict format {data['format']} is not {_FORMAT}: format 1 "
                             f"did not record trust or the update rule, so resuming from it "
                             f"could silently change the optimizer")
        diff = _config_diff(data["config"], self.spec.config())
        if diff:
            raise ValueError(f"state_dict was saved by {data['spec']}, this optimizer is "
                             f"{self.spec!r}: {diff}")
        ts = self._per_tensor_state()
        if len(data["levels"]) != len(ts.levels):
            raise ValueError("state_dict has a different tower height")

        def like(saved: Any, current: Any, where: str) -> Any:
            if saved is None or current is None:
                return saved
            if not isinstance(current, torch.Tensor):  # a scalar level's float
                if isinstance(saved, torch.Tensor) and saved.numel() != 1:
                    raise ValueError(f"{where}: saved shape {tuple(saved.shape)} != ()")
                return float(saved)
            if not isinstance(saved, torch.Tensor):
                saved = torch.tensor(float(saved), dtype=torch.float64)
            if tuple(saved.shape) != tuple(current.shape):
                raise ValueError(f"{where}: saved shape {tuple(saved.shape)} != "
                                 f"{tuple(current.shape)}")
            return saved.detach().to(device=current.device, dtype=current.dtype).clone()

        levels = []
        for j, (saved, cur) in enumerate(zip(data["levels"], ts.levels)):
            if len(saved["coords"]) != len(cur.coords) or len(saved["slots"]) != len(cur.slots):
                raise ValueError(f"level {j}: state_dict has a different layout")
            coords = tuple(like(s, c, f"level {j} coords") for s, c in zip(saved["coords"],
                                                                         cur.coords))
            slots = tuple({k: like(s[k], c[k], f"level {j} slot {k}") for k in c}
                          for s, c in zip(saved["slots"], cur.slots))
            # Tangents are shaped like the leaves they multiply: the slots' first entry, or
            # the leaf itself at level 0.
            targets = [p for p in self._params] if j == 0 else list(ts.levels[j - 1].coords)
            tangents = None if saved["tangents"] is None else tuple(
                tuple(like(t, targets[i], f"level {j} tangent") for i, t in enumerate(row))
                for row in saved["tangents"])
            hg = None if saved["hypergrad"] is None else tuple(
                like(g, c, f"level {j} hypergradient") for g, c in zip(saved["hypergrad"],
                                                                     cur.coords))
            levels.append(LevelState(coords, slots, tangents, hg, int(saved["updates"])))
        loaded = TowerState(self._tower, tuple(levels), int(data["step"]), int(data["skipped"]))
        flat = None if self._flat_tower is None else flatten(loaded, self._flat_tower)
        self._tower_state = loaded if flat is None else flat
        self._lr.publish()

    def __repr__(self) -> str:
        return f"hyperopt.torch.{self.spec!r}"


_hooked_step = torch.optim.Optimizer.profile_hook_step(_TowerOptimizer._step)
_optim_hooks = (_torch_optimizer._global_optimizer_pre_hooks,
                _torch_optimizer._global_optimizer_post_hooks)
_flatten = torch._utils._flatten_dense_tensors  # cat of flattened views, in C++
_unflatten = torch._utils._unflatten_dense_tensors  # views of a flat tensor shaped like a list


def _rebuild(cls: type[_TowerOptimizer]) -> _TowerOptimizer:
    return torch.optim.Optimizer.__new__(cls)


def _lr_alias(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """torch.optim's ``lr=`` is the bottom level's step size ``alpha``."""
    if "lr" not in kwargs:
        return kwargs
    if "alpha" in kwargs or args:
        raise TypeError("the step size was given twice: pass lr= (torch.optim's name) or "
                        "alpha= (or the first positional argument), not both")
    kwargs = dict(kwargs)
    kwargs["alpha"] = kwargs.pop("lr")
    return kwargs


class _ParamGroup(dict):
    """A param group whose missing ``"lr"`` says why it is missing."""

    why_no_lr = ("this param group has no single step size: it holds several tensors with "
                 "one learned step size each (per_param=True or 'element'); read "
                 "opt.hyperparameters() instead")

    learned_lr: _LearnedLR | None = None
    index = 0

    def __missing__(self, key: Any) -> Any:
        if key == "lr":
            raise KeyError(f"'lr': {self.why_no_lr}")
        raise KeyError(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if key == "lr" and self.learned_lr is not None:
            self.learned_lr.write(self.index, value)


class _LearnedLR:
    """Keeps ``group["lr"]`` equal to the learned step size of the group's parameters.

    ``publish`` writes the current value into each group after every step (a view for loggers).
    Setting ``group["lr"]`` (an ``lr_scheduler`` step, or the user) sets the learned step size
    at once (``write``; ``take_writes`` before each step catches writes that bypass
    ``__setitem__``, such as ``dict.update``), and learning continues from the new value.  Chainable schedulers (StepLR, MultiStepLR, ExponentialLR, ...:
    they multiply what they read) therefore scale the learned step size; schedulers computed
    from ``initial_lr`` (LambdaLR, OneCycleLR, ...) reset it to their schedule when they step.
    Refused with a clear error: groups sharing one step size given different values, a value
    outside the domain, a write where the step size is not learned (a constant of the spec),
    and groups holding several per-tensor step sizes (they have no ``"lr"``).
    """

    def __init__(self, opt: _TowerOptimizer) -> None:
        self.opt = opt
        tower = opt._tower_state.tower
        level = tower.levels[0]
        shared = [k for k, h in enumerate(level.layout) if h.name == "alpha" and h.leaf is None]
        per_leaf = {h.leaf: k for k, h in enumerate(level.layout)
                    if h.name == "alpha" and h.leaf is not None and h.shape == ()}
        index = {id(p): i for i, p in enumerate(opt._params)}
        self.sources: list[int | str | None] = []  # hyper leaf index, "const" or None
        for g in opt.param_groups:
            leaves = [index[id(p)] for p in g["params"]]
            if shared:
                self.sources.append(shared[0])
            elif "alpha" not in level.learned:
                self.sources.append("const")
            elif len(leaves) == 1 and leaves[0] in per_leaf:
                self.sources.append(per_leaf[leaves[0]])
            else:
                self.sources.append(None)
        self.published: list[float | None] = [None] * len(self.sources)
        self.last_write: dict[int, tuple[int, int]] = {}  # src -> (step, group) of last write
        for i, g in enumerate(opt.param_groups):
            g.learned_lr, g.index = self, i

    def _value(self, src: int | str) -> float:
        tower, coords = self.opt._level0_coords()
        if src == "const":
            return tower.levels[0].spec.initial["alpha"]
        h = tower.levels[0].layout[src]
        return float(to_value(h.domain, coords[src], level_ops(tower, 1, TORCH_OPS)))

    def publish(self) -> None:
        for i, (g, src) in enumerate(zip(self.opt.param_groups, self.sources)):
            if src is not None:
                self.published[i] = v = self._value(src)
                dict.__setitem__(g, "lr", v)

    def write(self, i: int, value: Any) -> None:
        src = self.sources[i]
        if src is None:
            raise KeyError(f"'lr' cannot be set: {_ParamGroup.why_no_lr}")
        v = float(value.item() if isinstance(value, torch.Tensor) else value)
        if v == self.published[i]:
            return
        if src == "const":
            raise RuntimeError(self.const_message)
        step, j = self.last_write.get(src, (-1, i))
        if step == self.opt._tower_state.step and j != i:
            raise ValueError(
                f"param groups {j} and {i} share one learned step size, but were given "
                f"different values for 'lr' ({self.published[j]!r}, {v!r}): set the same "
                f"value in every group (or use per_param=True, one tensor per group)")
        self._set(src, v)
        self.last_write[src] = (self.opt._tower_state.step, i)

    const_message = ("param_groups[...]['lr'] was changed (an lr_scheduler?), but this "
                     "optimizer does not learn its step size (no optimizer= above it, or "
                     "learn= excludes 'alpha'), so there is no learned value to scale; use "
                     "torch.optim for scheduled constant step sizes")

    def take_writes(self) -> None:
        wanted: dict[int | str, list[tuple[int, float]]] = {}
        for i, (g, src) in enumerate(zip(self.opt.param_groups, self.sources)):
            if src is None or "lr" not in g:
                continue
            v = g["lr"]
            v = float(v.item() if isinstance(v, torch.Tensor) else v)
            if v != self.published[i]:
                wanted.setdefault(src, []).append((i, v))
        for src, writes in wanted.items():
            if src == "const":
                raise RuntimeError(self.const_message)
            groups = [i for i, s in enumerate(self.sources) if s == src]
            values = {v for _, v in writes}
            if len(values) > 1 or len(writes) != len(groups):
                raise ValueError(
                    f"param groups {groups} share one learned step size, but their 'lr' was "
                    f"set to {[g.get('lr') for g in self.opt.param_groups]}: set the same "
                    f"value in every group (or use per_param=True, one tensor per group)")
            self._set(src, values.pop())

    def _set(self, src: int, value: float) -> None:
        ts = self.opt._tower_state
        h = ts.tower.levels[0].layout[src]
        check_value(h.domain if h.domain is not Domain.ADDITIVE else Domain.REAL, value,
                    "param_groups[...]['lr']")
        up = level_ops(ts.tower, 1, TORCH_OPS)
        coords = list(ts.levels[0].coords)
        coords[src] = up.full_like(coords[src], to_coordinate(h.domain, value))
        level0 = dataclasses.replace(ts.levels[0], coords=tuple(coords))
        self.opt._tower_state = dataclasses.replace(ts, levels=(level0, *ts.levels[1:]))
        self.publish()


def _config_diff(saved: list[dict[str, Any]], mine: list[dict[str, Any]]) -> str:
    """What differs between two ``Optimizer.config()`` lists, in words ('' if nothing)."""
    if len(saved) != len(mine):
        return f"tower height {len(saved)} saved, {len(mine)} here"
    out = []
    for j, (a, b) in enumerate(zip(saved, mine)):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"level {j} {key}: saved {a.get(key)!r}, here {b.get(key)!r}")
    return "; ".join(out)


def _torch_class(spec_cls: type[_neutral.Optimizer]) -> type[_TowerOptimizer]:
    cls = type(spec_cls.__name__, (_TowerOptimizer,), {
        "_spec_cls": spec_cls, "__module__": __name__,
        "__doc__": (f"``{spec_cls.__name__}(params, ...)``: torch.optim-style "
                    f"{spec_cls.__name__}; the other arguments are those of "
                    f"hyperopt.{spec_cls.__name__}.\n\n{spec_cls.__doc__}")})
    return cls


SGD = _torch_class(_neutral.SGD)
Adam = _torch_class(_neutral.Adam)
AdaGrad = _torch_class(_neutral.AdaGrad)
RMSProp = _torch_class(_neutral.RMSProp)
_CLASSES = {_neutral.SGD: SGD, _neutral.Adam: Adam, _neutral.AdaGrad: AdaGrad,
            _neutral.RMSProp: RMSProp}


def from_spec(params: Any, spec: _neutral.Optimizer) -> _TowerOptimizer:
    """The torch optimizer running ``spec`` (e.g. ``hyperopt.Adam(1e-3, optimizer=...)``) on
    ``params``: one tower description, either backend."""
    cls = _CLASSES.get(type(spec))
    if cls is None:
        raise TypeError(f"not a hyperopt optimizer: {spec!r}")
    opt = torch.optim.Optimizer.__new__(cls)
    opt._setup(params, spec)
    return opt


__all__ = ["SGD", "Adam", "AdaGrad", "RMSProp", "from_spec", "TORCH_OPS", "TorchOps"]
