"""The torch backend's fast step for the flat layout: the generic engine's numbers, less work.

Why: a tower step on a PyTorch model should cost little more than torch.optim's own step
(issue 18).  The generic engine (tower.py) is functional: every step it concatenates the
parameters, builds new arrays for the parameters, the deltas and the tangents, copies the
parameters back and rebuilds the state's dataclasses.  For the flat layout (flat.py: one step
size shared by every tensor, so every level above 0 is scalar) this module does the same step
with fewer passes over the parameters and less Python:
- the parameters are updated in place (``torch._foreach_add_`` of views of the flat delta): no
  concatenation of the parameters (unless weight decay reads them), no copy back;
- SGD without momentum (the paper's towers) keeps level 0's step-size tangent as the (decayed)
  gradient itself with its sign folded into the hypergradient, ``dL/dalpha = -<g_t, g_{t-1}>``
  (the paper's closed form): one dot product, no negated copy; the negation is made only when
  someone reads the state (``materialize``);
- the finiteness checks are one fused reduction: ``sum ||p|| + ||delta||`` finite and far from
  overflow proves every new parameter finite before anything is written (hypergradients and
  the scalar levels' values are Python floats, checked with ``math.isfinite``);
- Adam, momentum SGD, AdaGrad and RMSProp at level 0 run op for op with their temporaries in
  buffers kept between steps (``AdamKernel``, ``_KERNELS``): no model-sized allocation per
  temporary;
- the state is mutable and turned into a ``TowerState`` only on demand (checkpoints,
  ``hyperparameters()``, a fallback to the generic engine).

Input: the flat tower, the parameters (one dtype and device) and a flat ``TowerState``; per
step the gradients (none missing) and the closure's loss.  Output: the parameters updated in
place, the state advanced; or ``False`` with nothing changed.

Invariants:
- Same numbers: every value is computed by the same operations in the same order as the
  generic engine on the flat layout (tower.py's own functions run the scalar levels; level 0
  calls the same rule, or for plain SGD the same two expressions), so trajectories are bitwise
  identical (tests/hyperopt/test_hyperopt_fast.py compares them step by step).
- Anything unusual -- a non-finite loss, hypergradient or value, a division by zero, a delta
  of another dtype, parameters so large the bound cannot exclude overflow -- makes ``step``
  return False before anything is written; the caller then runs the generic engine, which
  refuses or applies the step exactly as it always did.
- Level 0's rule reads the parameters only for weight decay (rules.py's ``_decayed``): they
  are concatenated only then.  ``FAST_RULES`` lists the rules known to honour that.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from hyperopt import rules
from hyperopt.arrays import SCALAR_OPS
from hyperopt.domains import Domain, apply_update, coordinate_gradient, to_value
from hyperopt.tower import (LevelState, Tower, TowerState, _update_levels, level_ops,
                            level_values)

_flatten = torch._utils._flatten_dense_tensors  # cat of flattened views, in C++
_unflatten = torch._utils._unflatten_dense_tensors  # views of a flat tensor shaped like a list

# Level-0 rules whose only use of the leaf is weight decay.
FAST_RULES = (rules.sgd_update, rules.adam_update, rules.adagrad_update, rules.rmsprop_update)


def fast_ok(tower: Tower, ops: Any) -> bool:
    """Whether ``FastFlat`` can run this (flat) tower."""
    spec = tower.levels[0].spec
    n = len(tower.levels)
    return (len(tower.levels[0].target_names) == 1
            and all(h.leaf is None and h.shape == () for h in tower.levels[0].layout)
            and getattr(type(spec), "_update_fn", None) in FAST_RULES
            and type(spec).update_rule is _base_update_rule()
            and all(level_ops(tower, j, ops) is SCALAR_OPS for j in range(1, n + 1)))


def _base_update_rule() -> Any:
    from hyperopt.optimizers import Optimizer
    return Optimizer.update_rule


class FastFlat:
    """A flat tower's state, kept mutable, and its fast step (see the module docstring)."""

    def __init__(self, tower: Tower, params: Sequence[torch.Tensor], ops: Any) -> None:
        self.tower, self.params, self.ops = tower, list(params), ops
        n = len(tower.levels)
        self.lops = [level_ops(tower, j, ops) for j in range(n + 1)]
        level0 = tower.levels[0]
        self.plain_sgd = (type(level0.spec)._update_fn is rules.sgd_update
                          and not level0.const["has_momentum"])
        self.weight_decay = bool(level0.const.get("weight_decay", 0.0))
        # Plain SGD learning its step size (the paper's towers): the flat gradient goes into
        # two buffers in turn, and once the hypergradient has read the last step's gradient
        # (the tangent) from the other one, the delta goes there, its views added to the
        # parameters: no allocation per step, and little memory touched (the cache matters on
        # small models).  Only this module reads them (a materialized state gets a negated
        # copy, see ``materialize``).
        self.buffers: list[torch.Tensor] | None = None
        if self.plain_sgd and not self.weight_decay and level0.layout:
            numel = sum(p.numel() for p in self.params)
            like = self.params[0]
            self.buffers = [torch.empty(numel, dtype=like.dtype, device=like.device)
                            for _ in range(2)]
            self.buffer_views = [_unflatten(b, self.params) for b in self.buffers]
            self.turn = 0
        # Adam: rules.adam_update with its temporaries in reused buffers (AdamKernel)
        self.adam: Any = None   # (Adam's, or momentum SGD's, AdaGrad's, RMSProp's kernel)
        self.adam_delta = None
        kernel = _KERNELS.get(type(level0.spec)._update_fn)
        if kernel is not None and not self.plain_sgd:
            self.adam = kernel(self.params)
            self.adam_delta = self.adam.scratch[5]
        # scalar levels run by ``_plain_sgd_level`` (the paper's towers), the rest by tower.py
        self.plain_sgd_levels = [
            j > 0 and type(lv.spec)._update_fn is rules.sgd_update
            and not lv.const["has_momentum"] and all(h.leaf is None for h in lv.layout)
            and "mu" not in lv.learned for j, lv in enumerate(tower.levels)]
        # per such level: what _plain_sgd_level needs, looked up once
        self.sgd_level_info: dict[int, tuple[Any, ...]] = {}
        for j, lv in enumerate(tower.levels):
            if self.plain_sgd_levels[j]:
                alpha_domain = lv.layout[0].domain if lv.layout else None
                plain = (lv.spec.trust is None
                         and all(d is Domain.ADDITIVE for d in lv.targets))
                self.sgd_level_info[j] = (
                    lv.targets, lv.coordinate_grads, lv.spec.initial["alpha"], alpha_domain,
                    lv.const.get("weight_decay", 0.0), lv.spec.trust, plain,
                    tuple({} for _ in lv.targets))
        self.dtype = self.params[0].dtype
        # new parameters are finite if sum ||p|| + ||delta|| stays below this (with a factor
        # 2 of slack for the rounding of the norms themselves)
        self.limit = 0.5 * torch.finfo(self.dtype).max
        self._cache: TowerState | None = None
        self.fast_steps = 0  # steps this path applied (the rest went to the generic engine)
        self._pkey: tuple[tuple[int, int], ...] | None = None  # see _param_bound
        self._pbound = math.inf

    # --- state ------------------------------------------------------------------------------
    def load(self, state: TowerState) -> None:
        """Take ``state`` (a flat TowerState of this tower) as the current state."""
        assert state.tower is self.tower
        l0 = state.levels[0]
        self.coords0 = tuple(l0.coords)
        (self.slots0,) = l0.slots
        self.tan0: list[Any] | None = (None if l0.tangents is None
                                       else [row[0] for row in l0.tangents])
        self.neg0 = [False] * len(self.tan0 or ())  # True: the stored array is -tangent
        self.hg0, self.updates0 = l0.hypergrad, l0.updates
        self.upper = tuple(state.levels[1:])
        self.step_count, self.skipped = state.step, state.skipped
        self._cache = state

    def materialize(self, tangents: bool = True) -> TowerState:
        """The current state as a TowerState (level 0's tangents left out if not wanted:
        values and hypergradients do not need them, and making them may cost a pass)."""
        if self._cache is not None:
            return self._cache
        tans = None
        if self.tan0 is not None and tangents:
            for k, neg in enumerate(self.neg0):
                if neg:  # -(-x) is x exactly: the dot products stay the same numbers
                    self.tan0[k], self.neg0[k] = torch.neg(self.tan0[k]), False
            tans = tuple((t,) for t in self.tan0)
        l0 = LevelState(self.coords0, (self.slots0,), tans, self.hg0, self.updates0)
        state = TowerState(self.tower, (l0, *self.upper), self.step_count, self.skipped)
        if tangents or self.tan0 is None:
            self._cache = state
        return state

    # --- the parameters' norm bound -----------------------------------------------------------
    def _params_key(self) -> tuple[tuple[int, int], ...]:
        return tuple((p._version, p.data_ptr()) for p in self.params)

    def _param_bound(self) -> float:
        """An upper bound of sum ||p|| (so of every |p_i|), NaN/inf if some p_i is.

        Computed (one pass) only when the parameters changed since this step last wrote
        them: any in-place write through autograd's view of a tensor (``p.mul_``,
        ``model.load_state_dict``, ``torch.nn.init``, an optimizer) bumps its version counter,
        a new ``p.data`` changes its data pointer.  (A write through ``p.data`` bumps neither:
        the bound may then be stale, and a parameter made non-finite that way is no longer
        refused by this step -- the next loss and gradients are non-finite, and the step
        after is.)  Otherwise it is carried forward: ``||p + delta|| <= ||p|| + ||delta||``.
        """
        if self._pkey is None or self._pkey != self._params_key():
            self._pbound = sum(map(float, torch._foreach_norm(self.params)))
            self._pkey = self._params_key()
        return self._pbound

    # --- the step ----------------------------------------------------------------------------
    def step(self, grads: Sequence[torch.Tensor], loss: float | None) -> bool:
        """One step from ``grads`` (every parameter has one); False: nothing was done, run the
        generic engine instead."""
        if loss is not None and not math.isfinite(loss):
            return False
        tower, lops, ops, params = self.tower, self.lops, self.ops, self.params
        level0 = tower.levels[0]
        if any(g.dtype != self.dtype for g in grads):
            return False
        if self.buffers is not None:  # into the buffer the tangent kept now does not use
            self.turn ^= 1
            flat_g = torch.cat([g.reshape(-1) for g in grads], out=self.buffers[self.turn])
        elif level0.layout or not self.plain_sgd or self.weight_decay:
            flat_g = _flatten(grads)
        else:
            flat_g = None
        # 1. hypergradients: level 0's dot products here, the scalar chain in tower.py
        hgs: list[tuple[Any, ...]] = []
        if level0.layout and self.tan0 is not None:
            up = lops[1]
            hg0 = []
            for t, neg, coord in zip(self.tan0, self.neg0, self.coords0):
                if t is None:
                    hg0.append(up.full_like(coord, 0.0))
                    continue
                # ops.vdot's flat case is torch.dot (same dtype, 1-d), adopt is .item()
                v = (torch.dot(flat_g, t).item() if self.buffers is not None
                     else up.adopt(ops.vdot(flat_g, t)))
                hg0.append(-v if neg else v)
            hgs.append(tuple(hg0))
            # tower.py's chain_hypergradients on the scalar levels, written out
            cot = hgs[0]
            for level, ls in zip(tower.levels[1:], self.upper):
                if not level.layout or ls.tangents is None:
                    break
                hg = []
                for tans in ls.tangents:
                    total = None
                    for c, t in zip(cot, tans):
                        if t is not None:
                            total = c * t if total is None else total + c * t
                    hg.append(0.0 if total is None else float(total))
                cot = tuple(hg)
                hgs.append(cot)
        for hg in hgs:
            if not all(map(math.isfinite, hg)):
                return False
        # 2. the scalar levels, top-down (tower.py's code)
        n = len(tower.levels)
        levels = (None, *self.upper)
        new_coords: list[Any] = [self.coords0, *(ls.coords for ls in self.upper)]
        parts: list[Any] = [None] * n
        try:
            for j in range(n - 1, 0, -1):
                if self.plain_sgd_levels[j]:
                    self._plain_sgd_level(j, levels[j], hgs, new_coords, parts)
                else:
                    _update_levels(tower, levels, (), (), hgs, lops, new_coords, parts, None,
                                   stop=j, top=j)
        except ZeroDivisionError:
            return False
        for j in range(n - 1):
            if not all(map(math.isfinite, new_coords[j])):
                return False
        # 3. level 0 on the flat gradient
        const, want = level0.const, level0.learned
        neg, delta_args = False, None
        if self.plain_sgd and not self.weight_decay:
            # rules.sgd_update without momentum: delta = -alpha * g, elementwise, so per tensor
            # (no flat delta to split); the tangent -g is kept as g (``neg``).
            alpha = level0.spec.initial["alpha"]
            for h, c in zip(level0.layout, new_coords[0]):  # level_values: only alpha is here
                alpha = float(to_value(h.domain, c, SCALAR_OPS))
            if self.buffers is None:
                deltas = torch._foreach_mul(grads, -alpha)
            else:  # one flat product into the other buffer, once nothing can fail
                deltas, delta_args = self.buffer_views[self.turn ^ 1], (flat_g, -alpha)
            slots: dict[str, Any] = {}
            tans = {"alpha": flat_g} if "alpha" in want else {}
            neg = True
            # |delta_i| <= |alpha| |g_i| (1 + 2^-24): bounded by |alpha| ||g||, with slack
            # (||g|| as sqrt(g.g): one BLAS dot; a sum of squares that overflows is inf, and the
            # step then goes to the generic engine, as for any bound that fails)
            gnorm = (math.sqrt(torch.dot(flat_g, flat_g).item()) if flat_g is not None
                     else sum(map(float, torch._foreach_norm(grads))))
            dnorm = abs(alpha) * gnorm * 1.01
        else:
            values = level_values(tower, 0, new_coords[0], 1, ops, None, lops)[0]
            flat_p = _flatten(params) if self.weight_decay else None
            if self.plain_sgd:  # with weight decay: the same two expressions on the flat arrays
                g = rules._decayed(flat_p, flat_g, const)
                delta = -values["alpha"] * g
                slots, tans, neg = {}, ({"alpha": g} if "alpha" in want else {}), True
            elif self.adam is not None:
                g = rules._decayed(flat_p, flat_g, const)
                delta, slots, tans = self.adam.update(g, self.slots0, values, const, want)
            else:
                delta, slots, tans = level0.spec.update_rule(flat_p, flat_g, self.slots0, values,
                                                             const, want, ops)
            if delta.dtype != self.dtype or delta.shape != flat_g.shape:
                return False
            deltas = self.adam.delta_views if delta is self.adam_delta else _unflatten(
                delta, params)
            dnorm = float(delta.norm())
        # every |p_i| <= ||p||: the new parameters are finite if this bound is (and is far
        # from overflow); NaN or inf anywhere makes it NaN or inf
        if not self._param_bound() + dnorm < self.limit:
            self._pkey = None
            if not self._param_bound() + dnorm < self.limit:
                return False
        if delta_args is not None:  # nothing returns False from here on
            torch.mul(*delta_args, out=self.buffers[self.turn ^ 1])  # type: ignore[index]
        torch._foreach_add_(params, deltas)
        self._pbound += dnorm  # ||p + delta|| <= ||p|| + ||delta||
        # the add bumped every version counter by one and moved no data: the key follows
        # without a pass over the tensors (were it ever wrong, the next step would only
        # recompute the bound)
        self._pkey = tuple((v + 1, ptr) for v, ptr in self._pkey)  # type: ignore[union-attr]
        # 4. the new state
        if level0.layout:
            self.tan0 = [tans[h.name] for h in level0.layout]
            self.neg0 = [neg] * len(self.tan0)
        else:
            self.tan0, self.neg0 = None, []
        self.coords0, self.slots0 = tuple(new_coords[0]), slots
        self.hg0 = hgs[0] if hgs else None
        self.updates0 += 1
        self.upper = tuple(_level_state(tuple(new_coords[j]), *parts[j]) for j in range(1, n))
        self.step_count += 1
        self.fast_steps += 1
        self._cache = None
        return True


    def _plain_sgd_level(self, j: int, ls: LevelState, hgs: list[tuple[Any, ...]],
                         new_coords: list[Any], parts: list[Any]) -> None:
        """tower.py's ``_update_levels`` for one scalar level running SGD without momentum,
        written out: the same expressions in the same order (rules.sgd_update,
        domains.apply_update), without the generic bookkeeping."""
        if j - 1 >= len(hgs):  # no hypergradient for level j-1 yet: level j waits
            parts[j] = (ls.slots, None, None, ls.updates)
            return
        domains, coordinate_grads, alpha, alpha_domain, wd, trust, plain, no_slots = \
            self.sgd_level_info[j]
        targets, xs = new_coords[j - 1], hgs[j - 1]
        if coordinate_grads:
            xs = [coordinate_gradient(d, c, x, SCALAR_OPS)
                  for d, c, x in zip(domains, targets, xs)]
        if alpha_domain is not None:  # level_values: alpha is the only value here
            alpha = float(to_value(alpha_domain, new_coords[j][0], SCALAR_OPS))
        new_targets, tans = [], []
        for d, t, x in zip(domains, targets, xs):
            g = x + wd * t if wd else x  # rules._decayed
            if plain:  # apply_update(ADDITIVE, ..., trust=None): c + delta, scale None
                new_targets.append(t + -alpha * g)
                tans.append(-g)
                continue
            c_new, scale = apply_update(d, t, -alpha * g, trust, SCALAR_OPS)
            new_targets.append(c_new)
            tans.append(-g if scale is None else -g * scale)
        parts[j] = (no_slots, ((tuple(tans),) if alpha_domain is not None else None),
                    hgs[j] if j < len(hgs) else None, ls.updates + 1)
        new_coords[j - 1] = tuple(new_targets)


class AdamKernel:
    """``rules.adam_update`` on flat torch tensors, operation for operation (same operands,
    same order, so the same numbers), its temporaries written into buffers kept between steps.

    Why: on a large model every temporary is a fresh allocation of the model's size, and the
    page faults of ~40 of them per step cost as much as the arithmetic.  Values that outlive
    the step (the moving averages, the tangents) are fresh tensors as in the rule; the delta
    lives in ``scratch[5]`` (added to the parameters at once through ``delta_views``).
    Python-float hyperparameters (the flat layout's) and 0-d float64 running products, as the
    rule gets them.  ``a / b`` for a tensor ``a`` is ``torch.div``; ``1.0 / x`` is torch's
    ``x.reciprocal() * 1.0``, and ``* 1.0`` is exact.
    """

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        numel = sum(p.numel() for p in params)
        like = params[0]
        self.scratch = [torch.empty(numel, dtype=like.dtype, device=like.device)
                        for _ in range(7)]
        self.delta_views = _unflatten(self.scratch[5], params)

    def update(self, g: torch.Tensor, slots: dict[str, Any], h: dict[str, Any],
               const: dict[str, Any], want: frozenset[str]
               ) -> tuple[torch.Tensor, dict[str, Any], dict[str, Any]]:
        s0, s1, s2, s3, s4, s5, s6 = self.scratch
        alpha, b1, b2, eps = h["alpha"], h["beta1"], h["beta2"], const["eps"]
        m_prev, v_prev = slots["exp_avg"], slots["exp_avg_sq"]
        p1_prev, p2_prev = slots["beta1_prod"], slots["beta2_prod"]
        m = torch.mul(m_prev, b1)  # m = b1 * m_prev + (1.0 - b1) * g
        m += torch.mul(g, 1.0 - b1, out=s0)
        g2 = torch.mul(g, g, out=s1)  # g2 = g * g
        v = torch.mul(v_prev, b2)  # v = b2 * v_prev + (1.0 - b2) * g2
        v += torch.mul(g2, 1.0 - b2, out=s0)
        p1, p2 = b1 * p1_prev, b2 * p2_prev
        c1, c2 = 1.0 - p1, 1.0 - p2
        root_c2 = torch.sqrt(c2)
        sqrt_v = torch.sqrt(v, out=s2)
        denom = torch.div(sqrt_v, root_c2, out=s3)  # denom = sqrt(v) / root_c2 + eps
        denom += eps
        direction = torch.div(torch.div(m, c1, out=s4), denom, out=s6)  # m_hat / denom
        tangents = {}
        if "alpha" in want:
            tangents["alpha"] = torch.neg(direction)
        if "beta1" in want:
            # dm_hat = (m_prev - g) / c1 + m * p1_prev / (c1 * c1); -alpha * dm_hat / denom
            dm_hat = torch.sub(m_prev, g, out=s0)
            dm_hat /= c1
            dm_hat += torch.mul(m, p1_prev, out=s4).div_(c1 * c1)
            tangents["beta1"] = torch.mul(dm_hat, -alpha).div_(denom)
        if "beta2" in want:
            # droot = ((v_prev - g2) * 0.5 * _safe_inv_sqrt(v) / root_c2
            #          + sqrt(v) * 0.5 * p2_prev / (c2 * root_c2))
            droot = torch.sub(v_prev, g2, out=s0)
            droot *= 0.5
            # _safe_inv_sqrt: where(pos, 1.0 / sqrt(where(pos, v, 1.0)), 0.0), pos = v > 0
            off = torch.logical_not(torch.gt(v, 0))  # (a NaN is "off" too, as in where)
            inv = s1.copy_(v).masked_fill_(off, 1.0)
            torch.sqrt(inv, out=inv)
            torch.reciprocal(inv, out=inv)
            droot *= inv.masked_fill_(off, 0.0)
            droot /= root_c2
            droot += torch.mul(sqrt_v, 0.5, out=s1).mul_(p2_prev).div_(c2 * root_c2)
            # alpha * direction / denom * droot
            tangents["beta2"] = torch.mul(direction, alpha).div_(denom).mul_(droot)
        delta = torch.mul(direction, -alpha, out=s5)  # -alpha * direction
        return delta, {"exp_avg": m, "exp_avg_sq": v, "beta1_prod": p1,
                       "beta2_prod": p2}, tangents


def _safe_inv_sqrt_into(v: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """rules._safe_inv_sqrt(v) written into ``out``: where(pos, 1.0 / sqrt(where(pos, v, 1.0)),
    0.0) with pos = v > 0 (a NaN is "off" too, as in where); ``1.0 / x`` is reciprocal."""
    off = torch.logical_not(torch.gt(v, 0))
    inv = out.copy_(v).masked_fill_(off, 1.0)
    torch.sqrt(inv, out=inv)
    torch.reciprocal(inv, out=inv)
    return inv.masked_fill_(off, 0.0)


class _Kernel:
    """A level-0 rule on flat tensors with its temporaries in buffers kept between steps, as
    ``AdamKernel`` (same operands, same order, so the same numbers as the rule): values that
    outlive the step (slots, tangents) are fresh tensors, the delta is ``scratch[5]``."""

    used = (0, 1, 2, 3, 5)  # the scratch buffers ``update`` writes (the others stay None)

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        numel = sum(p.numel() for p in params)
        like = params[0]
        self.scratch: list[Any] = [
            torch.empty(numel, dtype=like.dtype, device=like.device) if k in self.used else None
            for k in range(7)]
        self.delta_views = _unflatten(self.scratch[5], params)


class MomentumKernel(_Kernel):
    """rules.sgd_update with momentum (Nesterov too)."""

    used = (0, 1, 5)

    def update(self, g: torch.Tensor, slots: dict[str, Any], h: dict[str, Any],
               const: dict[str, Any], want: frozenset[str]
               ) -> tuple[torch.Tensor, dict[str, Any], dict[str, Any]]:
        s0, s1 = self.scratch[0], self.scratch[1]
        alpha, mu = h["alpha"], h["mu"]
        b_prev = slots["momentum_buffer"]
        b = torch.mul(b_prev, mu)  # b = mu * b_prev + g
        b += g
        if const["nesterov"]:  # direction = g + mu * b
            direction = torch.mul(b, mu, out=s0)
            direction += g
        else:
            direction = b
        tangents = {}
        if "alpha" in want:
            tangents["alpha"] = torch.neg(direction)
        if "mu" in want:
            if const["nesterov"]:  # -alpha * (b + mu * b_prev)
                inner = torch.mul(b_prev, mu, out=s1)
                inner += b
                tangents["mu"] = torch.mul(inner, -alpha)
            else:  # -alpha * b_prev
                tangents["mu"] = torch.mul(b_prev, -alpha)
        delta = torch.mul(direction, -alpha, out=self.scratch[5])
        return delta, {"momentum_buffer": b}, tangents


class AdaGradKernel(_Kernel):
    """rules.adagrad_update."""

    used = (0, 1, 2, 5)

    def update(self, g: torch.Tensor, slots: dict[str, Any], h: dict[str, Any],
               const: dict[str, Any], want: frozenset[str]
               ) -> tuple[torch.Tensor, dict[str, Any], dict[str, Any]]:
        s0, s1, s2 = self.scratch[0], self.scratch[1], self.scratch[2]
        s = torch.add(slots["sum"], torch.mul(g, g, out=s0))  # sum + g * g
        denom = torch.sqrt(s, out=s1)  # sqrt(s) + eps
        denom += const["eps"]
        direction = torch.div(g, denom, out=s2)
        tangents = {"alpha": torch.neg(direction)} if "alpha" in want else {}
        delta = torch.mul(direction, -h["alpha"], out=self.scratch[5])
        return delta, {"sum": s}, tangents


class RMSPropKernel(_Kernel):
    """rules.rmsprop_update."""

    def update(self, g: torch.Tensor, slots: dict[str, Any], h: dict[str, Any],
               const: dict[str, Any], want: frozenset[str]
               ) -> tuple[torch.Tensor, dict[str, Any], dict[str, Any]]:
        s0, s1, s2, s3 = self.scratch[:4]
        alpha, gamma = h["alpha"], h["gamma"]
        v_prev = slots["square_avg"]
        g2 = torch.mul(g, g, out=s1)
        v = torch.mul(v_prev, gamma)  # v = gamma * v_prev + (1.0 - gamma) * g2
        v += torch.mul(g2, 1.0 - gamma, out=s0)
        denom = torch.sqrt(v, out=s2)  # sqrt(v) + eps
        denom += const["eps"]
        direction = torch.div(g, denom, out=s3)
        tangents = {}
        if "alpha" in want:
            tangents["alpha"] = torch.neg(direction)
        if "gamma" in want:
            # alpha * direction / denom * (v_prev - g2) * 0.5 * _safe_inv_sqrt(v)
            t = torch.mul(direction, alpha).div_(denom)
            t.mul_(torch.sub(v_prev, g2, out=s0)).mul_(0.5)
            tangents["gamma"] = t.mul_(_safe_inv_sqrt_into(v, s1))
        delta = torch.mul(direction, -alpha, out=self.scratch[5])
        return delta, {"square_avg": v}, tangents


def _level_state(coords: Any, slots: Any, tangents: Any, hypergrad: Any, updates: int
                 ) -> LevelState:
    """``LevelState(...)`` without the frozen dataclass's per-field ``object.__setattr__``."""
    ls = object.__new__(LevelState)
    ls.__dict__.update(coords=coords, slots=slots, tangents=tangents, hypergrad=hypergrad,
                       updates=updates)
    return ls


_KERNELS = {rules.adam_update: AdamKernel, rules.sgd_update: MomentumKernel,
            rules.adagrad_update: AdaGradKernel, rules.rmsprop_update: RMSPropKernel}

__all__ = ["FastFlat", "fast_ok", "FAST_RULES"]
