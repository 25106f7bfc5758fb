"""The optimizers: SGD, Adam, AdaGrad, RMSProp, each able to carry the optimizer of its own
hyperparameters (``optimizer=``), so towers of any height compose:
``Adam(1e-3, optimizer=Adam(1e-4, optimizer=SGD(1e-5)))``.

Input: initial hyperparameter values and options.  Output: an immutable description (a "spec")
that both backends run; with the NumPy backend it is also the optimizer itself, optax-style
(``init``/``step``/``apply_gradients``/``hyperparameters``; see numpy_backend.py).

Invariants:
- A spec is never mutated; all progress lives in the state.
- Hyperparameters are learned only when ``optimizer`` is given, all of them by default
  (``learn=`` picks a subset).  Learned ones must start strictly inside their domain
  (domains.py): ``alpha > 0``, betas and gamma in (0, 1), ``mu`` in (-1, 1) -- 0 included.
- ``eps``, ``weight_decay`` and ``nesterov`` are constants.
- ``per_param=True`` gives one step size per parameter array, ``"element"`` one per element.
- ``update=`` ("log" or "paper") and ``trust=`` say how this optimizer moves the hyperparameters
  of the optimizer below it (domains.py); ``update`` must be the same at every level of a tower.
"""
from __future__ import annotations

import math
from typing import Any, Callable, ClassVar, Iterable, Literal

from hyperopt import rules
from hyperopt.domains import Domain, check_value

PerParam = bool | Literal["element"]

# How the optimizer above moves a learned hyperparameter (domains.py):
#  "log": in the domain's coordinates (log step size, logit beta, atanh momentum), with the
#         trust bound (default 1.0): values stay valid, large initial step sizes are survived;
#  "paper": the paper's additive update exactly as its reference implementation (gdtuo) does
#         it (step sizes and momentum raw, betas/gamma through (tanh(c) + 1) / 2), unbounded.
UPDATES = ("log", "paper")


def default_trust(update: str) -> float | None:
    """``trust="auto"``: 1.0 for the log update, none (the paper's rule) for ``"paper"``."""
    return None if update == "paper" else 1.0

# Range checks for hyperparameters that stay constant (torch.optim's rules).
_CONST_OK: dict[str, tuple[Callable[[float], bool], str]] = {
    "alpha": (lambda v: v >= 0.0, ">= 0"),
    "mu": (lambda v: v >= 0.0, ">= 0"),
    "beta1": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "beta2": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "gamma": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
}


class Optimizer:
    """Base class: hyperparameters, constants, the next level, and the NumPy functional API."""

    hyper_domains: ClassVar[dict[str, Domain]]
    _slots_fn: ClassVar[Callable[..., Any]]
    _update_fn: ClassVar[Callable[..., Any]]

    def __init__(self, initial: dict[str, float], const: dict[str, Any],
                 optimizer: Optimizer | None, learn: Iterable[str] | None,
                 per_param: PerParam, trust: float | None | str, on_nonfinite: str | None,
                 update: str = "log") -> None:
        if optimizer is not None and not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer= must be a hyperopt optimizer such as hyperopt.SGD(1e-5), "
                            f"not {type(optimizer).__name__}")
        if learn is not None:
            learn = frozenset([learn] if isinstance(learn, str) else learn)
            unknown = learn - set(self.hyper_domains)
            if unknown:
                raise ValueError(f"{type(self).__name__} has no hyperparameter(s) "
                                 f"{sorted(unknown)}; choose from {list(self.hyper_domains)}")
            if optimizer is None:
                raise ValueError("learn= needs optimizer=: without an optimizer above, "
                                 "no hyperparameter is learned")
        if per_param not in (False, True, "element"):
            raise ValueError(f"per_param must be False, True or 'element', not {per_param!r}")
        if update not in UPDATES:
            raise ValueError(f"update must be one of {list(UPDATES)}, not {update!r}")
        if isinstance(trust, str):
            if trust != "auto":
                raise ValueError(f"trust must be a positive number, None or 'auto', not {trust!r}")
            trust = default_trust(update)
        if trust is not None and not (trust > 0 and math.isfinite(trust)):
            raise ValueError(f"trust must be a positive number or None, not {trust!r}")
        if on_nonfinite not in (None, "raise", "skip"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'skip', not {on_nonfinite!r}")
        if const.get("eps", 0.0) < 0 or const.get("weight_decay", 0.0) < 0:
            raise ValueError("eps and weight_decay must be >= 0")
        self.initial = {k: float(v) for k, v in initial.items()}
        self.const = const
        self.optimizer = optimizer
        self.learn = learn
        self.per_param = per_param
        self.trust = trust
        self.update = update
        self.on_nonfinite = on_nonfinite
        learned = self.learned_names()
        for name, value in self.initial.items():
            what = f"{type(self).__name__}({name}=...)"
            if name in learned:
                check_value(self.hyper_domains[name], value, what)
            else:
                ok, text = _CONST_OK[name]
                if not (math.isfinite(value) and ok(value)):
                    raise ValueError(f"{what}: {name}={value!r} must be {text}")

    def learned_names(self) -> frozenset[str]:
        if self.optimizer is None:
            return frozenset()
        return frozenset(self.hyper_domains) if self.learn is None else self.learn

    def constants(self, learned: frozenset[str]) -> dict[str, Any]:
        """Options the rule needs, given which hyperparameters are learned."""
        return dict(self.const)

    def init_slots(self, leaf: Any, const: dict[str, Any], ops: Any) -> dict[str, Any]:
        return type(self)._slots_fn(leaf, const, ops)

    def update_rule(self, leaf: Any, g: Any, slots: dict[str, Any], h: dict[str, Any],
                    const: dict[str, Any], want: frozenset[str], ops: Any) -> Any:
        return type(self)._update_fn(leaf, g, slots, h, const, want, ops)

    def height(self) -> int:
        """Number of optimizers in the tower, this one included (``SGD(optimizer=SGD())``: 2)."""
        return 1 + (self.optimizer.height() if self.optimizer is not None else 0)

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.initial.items()]
        parts += [f"{k}={v!r}" for k, v in self.const.items() if v != self._const_default(k)]
        if self.per_param:
            parts.append(f"per_param={self.per_param!r}")
        if self.learn is not None:
            parts.append(f"learn={sorted(self.learn)!r}")
        update = getattr(self, "update", "log")  # specs pickled before update= existed
        if update != "log":
            parts.append(f"update={update!r}")
        if self.trust != default_trust(update):
            parts.append(f"trust={self.trust!r}")
        if self.on_nonfinite is not None:
            parts.append(f"on_nonfinite={self.on_nonfinite!r}")
        if self.optimizer is not None:
            parts.append(f"optimizer={self.optimizer!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def config(self) -> list[dict[str, Any]]:
        """Everything that defines the tower, one plain dict per level, bottom first (what a
        checkpoint records and checks: numbers, strings, lists only)."""
        here = {"type": type(self).__name__, "initial": dict(self.initial),
                "const": dict(self.const), "learn": None if self.learn is None
                else sorted(self.learn), "per_param": self.per_param, "trust": self.trust,
                "update": getattr(self, "update", "log"), "on_nonfinite": self.on_nonfinite}
        return [here] + (self.optimizer.config() if self.optimizer is not None else [])

    def _const_default(self, key: str) -> Any:
        return {"weight_decay": 0.0, "nesterov": False}.get(key, object())

    # --- NumPy backend (functional, optax-like); implemented in numpy_backend.py -------------
    def init(self, params: Any) -> Any:
        """State for ``params`` (an array or a dict of arrays): every level's values and slots."""
        from hyperopt import numpy_backend
        return numpy_backend.init(self, params)

    def step(self, loss_fn: Callable[..., Any], params: Any, state: Any, *batch: Any,
             value_and_grad: Callable[..., Any] | None = None) -> tuple[float, Any, Any]:
        """``loss, params, state = opt.step(loss_fn, params, state, *batch)``.

        The gradient comes from ``coarsen.value_and_grad(loss_fn)`` (compiled once per loss_fn)
        unless ``value_and_grad`` (a transform with the same signature) is given.
        """
        from hyperopt import numpy_backend
        return numpy_backend.step(self, loss_fn, params, state, *batch,
                                  value_and_grad=value_and_grad)

    def apply_gradients(self, params: Any, grads: Any, state: Any,
                        loss: float | None = None) -> tuple[Any, Any]:
        """One step from gradients you computed yourself: ``params, state = ...``."""
        from hyperopt import numpy_backend
        return numpy_backend.apply_gradients(self, params, grads, state, loss)

    def hyperparameters(self, state: Any) -> list[dict[str, Any]]:
        """Current values, one dict per level, bottom level first."""
        from hyperopt import numpy_backend
        return numpy_backend.hyperparameters(state)


class SGD(Optimizer):
    """SGD with (heavy-ball or Nesterov) momentum, torch.optim conventions (dampening 0)."""

    hyper_domains = {"alpha": Domain.POSITIVE, "mu": Domain.SYMMETRIC}
    _slots_fn = rules.sgd_slots
    _update_fn = rules.sgd_update

    def __init__(self, alpha: float = 1e-3, mu: float = 0.0, optimizer: Optimizer | None = None,
                 *, nesterov: bool = False, weight_decay: float = 0.0,
                 learn: Iterable[str] | None = None, per_param: PerParam = False,
                 trust: float | None | str = "auto", on_nonfinite: str | None = None,
                 update: str = "log") -> None:
        super().__init__({"alpha": alpha, "mu": mu},
                         {"weight_decay": float(weight_decay), "nesterov": bool(nesterov)},
                         optimizer, learn, per_param, trust, on_nonfinite, update)
        if nesterov and mu == 0.0 and "mu" not in self.learned_names():
            raise ValueError("nesterov=True needs momentum: mu > 0, or mu learned")

    def constants(self, learned: frozenset[str]) -> dict[str, Any]:
        # A momentum buffer only when mu can be non-zero (saves a parameter-sized array).
        return {**self.const, "has_momentum": self.initial["mu"] != 0.0 or "mu" in learned}


class Adam(Optimizer):
    """Adam (L2 ``weight_decay`` as in torch.optim.Adam); ``eps`` is a constant."""

    hyper_domains = {"alpha": Domain.POSITIVE, "beta1": Domain.UNIT, "beta2": Domain.UNIT}
    _slots_fn = rules.adam_slots
    _update_fn = rules.adam_update

    def __init__(self, alpha: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, optimizer: Optimizer | None = None, *,
                 weight_decay: float = 0.0, learn: Iterable[str] | None = None,
                 per_param: PerParam = False, trust: float | None | str = "auto",
                 on_nonfinite: str | None = None, update: str = "log") -> None:
        super().__init__({"alpha": alpha, "beta1": beta1, "beta2": beta2},
                         {"eps": float(eps), "weight_decay": float(weight_decay)},
                         optimizer, learn, per_param, trust, on_nonfinite, update)


class AdaGrad(Optimizer):
    """AdaGrad, torch.optim.Adagrad conventions (``eps`` outside the square root)."""

    hyper_domains = {"alpha": Domain.POSITIVE}
    _slots_fn = rules.adagrad_slots
    _update_fn = rules.adagrad_update

    def __init__(self, alpha: float = 1e-2, optimizer: Optimizer | None = None, *,
                 eps: float = 1e-10, initial_accumulator_value: float = 0.0,
                 weight_decay: float = 0.0, learn: Iterable[str] | None = None,
                 per_param: PerParam = False, trust: float | None | str = "auto",
                 on_nonfinite: str | None = None, update: str = "log") -> None:
        if initial_accumulator_value < 0:
            raise ValueError("initial_accumulator_value must be >= 0")
        super().__init__({"alpha": alpha},
                         {"eps": float(eps), "weight_decay": float(weight_decay),
                          "initial_accumulator_value": float(initial_accumulator_value)},
                         optimizer, learn, per_param, trust, on_nonfinite, update)

    def _const_default(self, key: str) -> Any:
        return 0.0 if key == "initial_accumulator_value" else super()._const_default(key)


class RMSProp(Optimizer):
    """RMSProp, torch.optim.RMSprop conventions; ``gamma`` is torch's smoothing ``alpha``."""

    hyper_domains = {"alpha": Domain.POSITIVE, "gamma": Domain.UNIT}
    _slots_fn = rules.rmsprop_slots
    _update_fn = rules.rmsprop_update

    def __init__(self, alpha: float = 1e-2, gamma: float = 0.99,
                 optimizer: Optimizer | None = None, *, eps: float = 1e-8,
                 weight_decay: float = 0.0, learn: Iterable[str] | None = None,
                 per_param: PerParam = False, trust: float | None | str = "auto",
                 on_nonfinite: str | None = None, update: str = "log") -> None:
        super().__init__({"alpha": alpha, "gamma": gamma},
                         {"eps": float(eps), "weight_decay": float(weight_decay)},
                         optimizer, learn, per_param, trust, on_nonfinite, update)
