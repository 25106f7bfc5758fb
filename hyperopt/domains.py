"""Where a hyperparameter may live, and how an update keeps it there.

Input: a hyperparameter's *coordinate* ``c`` (what the state stores), the raw additive change
``delta`` an optimizer wants to apply to its *value* ``v = to_value(c)``, and a trust bound.
Output: the new coordinate, and the elementwise factor ``d v_new / d delta`` that the
hypergradient chain needs one level up.

Invariants:
- Every coordinate maps to a valid value, so no update can leave the domain: step sizes are
  ``exp(c)`` (positive), betas and gamma ``sigmoid(c)`` (in (0, 1)), momentum ``tanh(c)`` (in
  (-1, 1): 0 is an interior point with slope 1, so momentum is learned even from 0, and any
  |mu| < 1 keeps the heavy-ball buffer bounded).
- To first order the update *is* the raw one: ``v_new = v + delta + O(delta**2)``, so small steps
  behave exactly as in the paper's unconstrained formulation.
- The coordinate moves by at most ``trust`` per step, smoothly: ``c_new = c + trust *
  tanh(r / trust)`` with ``r = delta * dc/dv``.  For step sizes ``trust=1`` means "at most a
  factor e per step"; this is the guard that keeps towers started at large step sizes from
  diverging (see hyperopt/README.md).  ``trust=None`` drops the bound.
- ``REAL`` (model parameters) is the identity: ``v_new = v + delta``.
- ``update="paper"`` (optimizers.py) swaps in the paper's parametrization, exactly as its
  reference implementation (gdtuo) stores it: step sizes and momentum are ``ADDITIVE`` (stored
  as the value itself, ``v_new = v + delta``, free to turn negative), betas and gamma are
  ``TANH_UNIT`` (``v = (tanh(c) + 1) / 2``, and the optimizer above descends on ``c`` itself:
  its gradient is ``dL/dc``, see ``coordinate_gradient``).  ``trust``, when given, bounds the
  change of ``c`` the same way; by default the paper's update has no bound.

All functions take an ``ops`` namespace (NumPy or torch) so both backends share the maths.
"""
from __future__ import annotations

import enum
import math
from typing import Any

Array = Any  # np.ndarray or torch.Tensor; the ops namespace knows which

# exp() of more than this overflows float64; tanh saturates long before it matters.
_MAX_EXP = 700.0


class Domain(enum.Enum):
    REAL = "real"  # model parameters: unconstrained, plain addition
    POSITIVE = "positive"  # step sizes: v = exp(c)
    UNIT = "unit"  # betas, gamma: v = sigmoid(c)
    SYMMETRIC = "symmetric"  # momentum: v = tanh(c)
    ADDITIVE = "additive"  # the paper's step sizes and momentum: v = c, updated additively
    TANH_UNIT = "tanh_unit"  # the paper's betas/gamma: v = (tanh(c) + 1) / 2, descent on c


_PAPER = {Domain.POSITIVE: Domain.ADDITIVE, Domain.SYMMETRIC: Domain.ADDITIVE,
          Domain.UNIT: Domain.TANH_UNIT}


def paper_domain(domain: Domain) -> Domain:
    """The domain a hyperparameter lives in under ``update="paper"``."""
    return _PAPER.get(domain, domain)


def check_value(domain: Domain, value: float, what: str) -> None:
    """Raise ValueError unless ``value`` is strictly inside ``domain`` (learned hyperparameters)."""
    ok = math.isfinite(value) and {
        Domain.REAL: True,
        Domain.POSITIVE: value > 0.0,
        Domain.UNIT: 0.0 < value < 1.0,
        Domain.SYMMETRIC: -1.0 < value < 1.0,
    }[domain]
    if not ok:
        interval = {Domain.REAL: "finite", Domain.POSITIVE: "> 0", Domain.UNIT: "in (0, 1)",
                    Domain.SYMMETRIC: "in (-1, 1)"}[domain]
        raise ValueError(f"{what}={value!r} must be {interval} to be learned")


def to_coordinate(domain: Domain, value: float) -> float:
    """Inverse of ``to_value`` for a Python float inside the domain."""
    if domain is Domain.POSITIVE:
        return math.log(value)
    if domain is Domain.UNIT:
        return math.log(value) - math.log1p(-value)
    if domain is Domain.SYMMETRIC:
        return math.atanh(value)
    if domain is Domain.TANH_UNIT:
        return math.atanh(2.0 * value - 1.0)
    return value


def to_value(domain: Domain, c: Array, ops: Any) -> Array:
    if domain is Domain.POSITIVE:
        return ops.exp(c)
    if domain is Domain.UNIT:
        return ops.sigmoid(c)
    if domain is Domain.SYMMETRIC:
        return ops.tanh(c)
    if domain is Domain.TANH_UNIT:
        return (ops.tanh(c) + 1.0) * 0.5
    return c


def _tanh_unit_slope(c: Array, ops: Any) -> Array:
    t = ops.tanh(c)
    return (1.0 - t * t) * 0.5


def coordinate_gradient(domain: Domain, c: Array, g: Array, ops: Any) -> Array:
    """What the optimizer above descends on, given ``g = dL/dv`` at coordinate ``c``.

    ``dL/dc`` for ``TANH_UNIT`` (the paper descends on the stored number), ``g`` itself for
    every other domain (their update is defined on the value; for ``ADDITIVE`` c is v).
    """
    return g * _tanh_unit_slope(c, ops) if domain is Domain.TANH_UNIT else g


def log_slope(domain: Domain, c: Array, ops: Any) -> Array:
    """``log(dv/dc)`` at ``c``, written to stay finite where ``dv/dc`` itself underflows."""
    if domain is Domain.POSITIVE:
        return c
    a = ops.abs(c)
    if domain is Domain.UNIT:  # sigmoid' = e^-|c| / (1 + e^-|c|)^2
        return -a - 2.0 * ops.log1p(ops.exp(-a))
    if domain is Domain.SYMMETRIC:  # tanh' = 4 e^-2|c| / (1 + e^-2|c|)^2
        return math.log(4.0) - 2.0 * a - 2.0 * ops.log1p(ops.exp(-2.0 * a))
    raise ValueError(f"log_slope is not defined for {domain}")


def apply_update(domain: Domain, c: Array, delta: Array, trust: float | None,
                 ops: Any) -> tuple[Array, Array | None]:
    """Move coordinate ``c`` so its value changes by about ``delta``.

    Returns ``(c_new, scale)`` with ``scale = d to_value(c_new) / d delta`` elementwise, or
    ``scale=None`` where it is 1 (``REAL``; ``ADDITIVE`` without a trust bound).
    For ``TANH_UNIT`` ``delta`` is a change of the coordinate (see ``coordinate_gradient``).
    """
    if domain is Domain.REAL:
        return c + delta, None
    if domain is Domain.ADDITIVE or domain is Domain.TANH_UNIT:
        # The paper: c_new = c + delta (for TANH_UNIT, delta is already a change of c).
        if trust is None:
            c_new, squash = c + delta, None
        else:
            th = ops.tanh(delta / trust)
            c_new, squash = c + trust * th, 1.0 - th * th
        if domain is Domain.ADDITIVE:
            return c_new, squash
        slope = _tanh_unit_slope(c_new, ops)
        return c_new, slope if squash is None else slope * squash
    ls = log_slope(domain, c, ops)
    # r = delta * dc/dv = delta / exp(ls); the clamp keeps exp finite (tanh saturates anyway).
    r = delta * ops.exp(ops.clip(-ls, -_MAX_EXP, _MAX_EXP))
    if trust is None:
        c_new = c + r
        squash = 1.0
    else:
        th = ops.tanh(r / trust)
        c_new = c + trust * th
        squash = 1.0 - th * th  # d(trust*tanh(r/trust))/dr
    # d v_new/d delta = v'(c_new) * squash * dc/dv(c); the ratio of slopes taken in log space.
    scale = ops.exp(ops.clip(log_slope(domain, c_new, ops) - ls, -_MAX_EXP, _MAX_EXP)) * squash
    return c_new, scale
