"""Update rules in closed form, each with its derivative w.r.t. its own hyperparameters.

Input (per leaf): the leaf, its gradient ``g``, the leaf's slots (momentum buffers ...), the
hyperparameter values ``h`` for this leaf (scalars, or arrays shaped like the leaf for an
elementwise step size), the constants (eps, weight decay ...), the names whose tangents are
wanted, and an ops namespace.
Output: ``(delta, new_slots, tangents)`` where ``new_leaf = leaf + delta`` and
``tangents[name] = d delta / d h[name]`` (elementwise, leaf-shaped).

Why tangents: the next loss depends on ``h`` only through this step's ``delta`` (older state is
detached), so ``dL/dh = <dL/d new_leaf, scale * tangents[name]>``: a dot product at the next step,
i.e. the update's VJP w.r.t. its hyperparameters, at the cost of one array per learned name.
Conventions (slot names, where eps goes, bias correction) follow ``torch.optim`` so a tower of
height 1 reproduces it.  Learned betas make ``beta**t`` wrong as a bias correction, so Adam
keeps the running products ``prod_s beta_s`` instead (equal to ``beta**t`` while beta is fixed).
Each rule's tangents are checked against finite differences in tests/hyperopt/test_rules.py.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

Array = Any
Slots = dict[str, Array]
RuleResult = tuple[Array, Slots, dict[str, Array]]


def _decayed(leaf: Array, g: Array, const: Mapping[str, Any]) -> Array:
    # torch.optim's L2 weight decay: added to the gradient, never learned.
    wd = const.get("weight_decay", 0.0)
    return g + wd * leaf if wd else g


def _safe_inv_sqrt(v: Array, ops: Any) -> Array:
    """1/sqrt(v) where v > 0, else 0: where v == 0 every gradient so far was 0 and so is delta."""
    pos = v > 0
    return ops.where(pos, 1.0 / ops.sqrt(ops.where(pos, v, 1.0)), 0.0)


# --- SGD: b = mu*b + g; delta = -alpha*b (nesterov: -alpha*(g + mu*b)) ----------------------
def sgd_slots(leaf: Array, const: Mapping[str, Any], ops: Any) -> Slots:
    # torch keeps no buffer for momentum 0; we keep one whenever mu can become non-zero.
    return {"momentum_buffer": ops.zeros_like(leaf)} if const["has_momentum"] else {}


def sgd_update(leaf: Array, g: Array, slots: Slots, h: Mapping[str, Array],
               const: Mapping[str, Any], want: frozenset[str], ops: Any) -> RuleResult:
    g = _decayed(leaf, g, const)
    alpha, mu = h["alpha"], h["mu"]
    if not const["has_momentum"]:
        return -alpha * g, {}, ({"alpha": -g} if "alpha" in want else {})
    b_prev = slots["momentum_buffer"]
    b = mu * b_prev + g
    direction = g + mu * b if const["nesterov"] else b
    tangents = {}
    if "alpha" in want:
        tangents["alpha"] = -direction
    if "mu" in want:
        # d b/d mu = b_prev; nesterov adds d(mu*b)/d mu = b + mu*b_prev.
        tangents["mu"] = -alpha * (b + mu * b_prev) if const["nesterov"] else -alpha * b_prev
    return -alpha * direction, {"momentum_buffer": b}, tangents


# --- Adam: m, v moving averages, bias-corrected by running products of the betas -------------
def adam_slots(leaf: Array, const: Mapping[str, Any], ops: Any) -> Slots:
    return {"exp_avg": ops.zeros_like(leaf), "exp_avg_sq": ops.zeros_like(leaf),
            "beta1_prod": ops.scalar(1.0, leaf), "beta2_prod": ops.scalar(1.0, leaf)}


def adam_update(leaf: Array, g: Array, slots: Slots, h: Mapping[str, Array],
                const: Mapping[str, Any], want: frozenset[str], ops: Any) -> RuleResult:
    g = _decayed(leaf, g, const)
    alpha, b1, b2, eps = h["alpha"], h["beta1"], h["beta2"], const["eps"]
    m_prev, v_prev = slots["exp_avg"], slots["exp_avg_sq"]
    p1_prev, p2_prev = slots["beta1_prod"], slots["beta2_prod"]
    m = b1 * m_prev + (1.0 - b1) * g
    g2 = g * g
    v = b2 * v_prev + (1.0 - b2) * g2
    p1, p2 = b1 * p1_prev, b2 * p2_prev
    c1, c2 = 1.0 - p1, 1.0 - p2
    root_c2 = ops.sqrt(c2)
    denom = ops.sqrt(v) / root_c2 + eps  # torch: sqrt(v_hat) + eps
    m_hat = m / c1
    direction = m_hat / denom
    tangents = {}
    if "alpha" in want:
        tangents["alpha"] = -direction
    if "beta1" in want:
        dm_hat = (m_prev - g) / c1 + m * p1_prev / (c1 * c1)
        tangents["beta1"] = -alpha * dm_hat / denom
    if "beta2" in want:
        # d sqrt(v/c2) / d beta2 with dv = v_prev - g^2 and dc2 = -p2_prev.
        droot = ((v_prev - g2) * 0.5 * _safe_inv_sqrt(v, ops) / root_c2
                 + ops.sqrt(v) * 0.5 * p2_prev / (c2 * root_c2))
        tangents["beta2"] = alpha * direction / denom * droot
    new_slots = {"exp_avg": m, "exp_avg_sq": v, "beta1_prod": p1, "beta2_prod": p2}
    return -alpha * direction, new_slots, tangents


# --- AdaGrad: s += g^2; delta = -alpha*g/(sqrt(s)+eps) ----------------------------------------
def adagrad_slots(leaf: Array, const: Mapping[str, Any], ops: Any) -> Slots:
    return {"sum": ops.zeros_like(leaf) + const["initial_accumulator_value"]}


def adagrad_update(leaf: Array, g: Array, slots: Slots, h: Mapping[str, Array],
                   const: Mapping[str, Any], want: frozenset[str], ops: Any) -> RuleResult:
    g = _decayed(leaf, g, const)
    s = slots["sum"] + g * g
    direction = g / (ops.sqrt(s) + const["eps"])
    tangents = {"alpha": -direction} if "alpha" in want else {}
    return -h["alpha"] * direction, {"sum": s}, tangents


# --- RMSProp: v = gamma*v + (1-gamma)*g^2; delta = -alpha*g/(sqrt(v)+eps) ------------------
def rmsprop_slots(leaf: Array, const: Mapping[str, Any], ops: Any) -> Slots:
    return {"square_avg": ops.zeros_like(leaf)}


def rmsprop_update(leaf: Array, g: Array, slots: Slots, h: Mapping[str, Array],
                   const: Mapping[str, Any], want: frozenset[str], ops: Any) -> RuleResult:
    g = _decayed(leaf, g, const)
    alpha, gamma = h["alpha"], h["gamma"]
    v_prev = slots["square_avg"]
    g2 = g * g
    v = gamma * v_prev + (1.0 - gamma) * g2
    denom = ops.sqrt(v) + const["eps"]
    direction = g / denom
    tangents = {}
    if "alpha" in want:
        tangents["alpha"] = -direction
    if "gamma" in want:
        tangents["gamma"] = alpha * direction / denom * (v_prev - g2) * 0.5 * _safe_inv_sqrt(v, ops)
    return -alpha * direction, {"square_avg": v}, tangents


SlotsFn = Callable[[Array, Mapping[str, Any], Any], Slots]
UpdateFn = Callable[..., RuleResult]
