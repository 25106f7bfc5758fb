"""Hypergradients equal finite differences of the one-step look-ahead loss.

For a state at step t: perturb one learned hyperparameter value of level j by +-eps just before
step t uses it, finish step t (every lower level and the parameters), evaluate the loss on the
next batch; the central difference must equal the hypergradient the tower computes at step t+1.
This checks every closed-form tangent, the domain maps' scales and the chaining between levels
at once, for every level of the tower.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hyperopt
from hyperopt.arrays import NUMPY_OPS
from hyperopt.domains import Domain, to_value
from hyperopt.numpy_backend import compiled_value_and_grad, flatten, flatten_as, unflatten
from hyperopt.tower import hypergradients, tower_step
from hyperopt_helpers import mlp_batches, mlp_loss, mlp_params


def check_lookahead(opt: hyperopt.Optimizer, vg_transform: Callable[..., Any], seed: int = 0,
                    warmup: int | None = None, rtol: float = 2e-5) -> int:
    """Compare every learned hyperparameter of every level; returns how many were checked."""
    params = mlp_params(seed)
    height = opt.height()
    warmup = height + 2 if warmup is None else warmup
    batches = mlp_batches(warmup + 2, seed=seed + 1)
    state = opt.init(params)
    for b in batches[:warmup]:
        _, params, state = opt.step(mlp_loss, params, state, *b, value_and_grad=vg_transform)
    vg = compiled_value_and_grad(mlp_loss, vg_transform)
    now, nxt = batches[warmup], batches[warmup + 1]
    loss, grads = vg(params, *now)
    leaves, treedef, _ = flatten(params)
    gleaves = flatten_as(grads, treedef)
    ts = state.tower
    new_leaves, ts1 = tower_step(ts, leaves, gleaves, loss, NUMPY_OPS)
    _, grads1 = vg(unflatten(treedef, new_leaves), *nxt)
    hgs = hypergradients(ts1.tower, ts1, flatten_as(grads1, treedef), NUMPY_OPS)
    rng = np.random.default_rng(seed)
    checked = 0
    for j, level in enumerate(ts.tower.levels[:-1]):
        assert j < len(hgs), f"level {j} has no hypergradient after {warmup} steps"
        for k, h in enumerate(level.layout):
            value = to_value(h.domain, ts1.levels[j].coords[k], NUMPY_OPS)
            # Elementwise step sizes: check along a random direction d: FD = <hg, d>.
            direction = rng.normal(size=h.shape) if h.shape else 1.0
            # Step sizes: relative steps (they can be 1e-6); betas and mu: small against both
            # the value (mu can be 0) and the distance to the domain's edge (beta2 = 0.999).
            size = float(np.max(np.abs(value)))
            eps = (1e-4 * size if h.domain is Domain.POSITIVE
                   else 1e-4 * min(max(size, 0.1), 1.0 - size))

            def lookahead(e: float) -> float:
                out, _ = tower_step(ts, leaves, gleaves, loss, NUMPY_OPS,
                                    perturb=(j, k, e * direction))
                return float(mlp_loss(unflatten(treedef, out), *nxt))

            fd = (lookahead(eps) - lookahead(-eps)) / (2 * eps)
            got = float(np.sum(hgs[j][k] * direction))
            scale = max(abs(fd), abs(got), 1e-8)
            roundoff = 1e-15 * max(1.0, abs(float(loss))) / eps  # what the FD itself can resolve
            assert abs(got - fd) <= rtol * scale + roundoff, (
                f"{opt!r}: level {j} {h.name} (leaf {h.leaf}): hypergradient {got} vs "
                f"finite difference {fd}")
            checked += 1
    return checked


TOWERS = {
    "SGD/SGD": lambda: hyperopt.SGD(0.05, optimizer=hyperopt.SGD(1e-3)),
    "SGD(mu)/SGD": lambda: hyperopt.SGD(0.05, 0.5, optimizer=hyperopt.SGD(1e-3)),
    "SGD(nesterov,wd)/Adam": lambda: hyperopt.SGD(
        0.05, 0.3, nesterov=True, weight_decay=1e-2, optimizer=hyperopt.Adam(1e-3)),
    "Adam/Adam/SGD": lambda: hyperopt.Adam(
        0.01, optimizer=hyperopt.Adam(1e-3, optimizer=hyperopt.SGD(1e-4))),
    "AdaGrad/RMSProp": lambda: hyperopt.AdaGrad(0.1, optimizer=hyperopt.RMSProp(1e-3)),
    "RMSProp/SGD/SGD/SGD": lambda: hyperopt.RMSProp(
        0.01, 0.9, optimizer=hyperopt.SGD(1e-3, optimizer=hyperopt.SGD(1e-3,
                                                                       optimizer=hyperopt.SGD(1e-3)))),
    "SGD^4 (per-tensor alpha)": lambda: hyperopt.SGD(
        0.05, per_param=True, optimizer=hyperopt.SGD(1e-3, per_param=True, optimizer=hyperopt.SGD(
            1e-3, optimizer=hyperopt.SGD(1e-4)))),
    "Adam(elementwise alpha)/SGD": lambda: hyperopt.Adam(
        0.01, per_param="element", optimizer=hyperopt.SGD(1e-4)),
    "SGD/SGD untrusted": lambda: hyperopt.SGD(0.05, 0.2, optimizer=hyperopt.SGD(1e-3, trust=None)),
    "Adam learn alpha only/Adam": lambda: hyperopt.Adam(
        0.01, learn=["alpha"], optimizer=hyperopt.Adam(1e-3)),
}


@pytest.mark.parametrize("name", list(TOWERS))
def test_hypergradients_match_lookahead_finite_differences(name: str,
                                                           value_and_grad: Callable) -> None:
    opt = TOWERS[name]()
    assert check_lookahead(opt, value_and_grad) >= opt.height() - 1


def test_every_level_moves_after_its_warmup(value_and_grad: Callable) -> None:
    """Level j first gets a hypergradient at step j (older history is detached, not zero)."""
    opt = hyperopt.SGD(0.05, optimizer=hyperopt.SGD(1e-3, optimizer=hyperopt.SGD(1e-3)))
    params, state = mlp_params(), None
    state = opt.init(params)
    seen = []
    for b in mlp_batches(4):
        _, params, state = opt.step(mlp_loss, params, state, *b, value_and_grad=value_and_grad)
        seen.append([lv.hypergrad is not None for lv in state.tower.levels[:2]])
    assert seen == [[False, False], [True, False], [True, True], [True, True]]


def _quadratic(seed: int) -> tuple[Callable[..., float], Callable[..., np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=7)
    return (lambda w: 0.5 * float(np.sum((a @ w - b) ** 2)), lambda w: a.T @ (a @ w - b),
            rng.normal(size=4))


@pytest.mark.parametrize("update", ["log", "paper"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_sgd_step_size_hypergradient_without_momentum(update: str, weight_decay: float) -> None:
    """SGD without momentum: dL(w_1)/d alpha = -<g_1, g_0 + wd w_0> (the paper's closed form),
    checked against a central difference of the loss after one step of plain NumPy SGD
    written out here, and on both backends (torch: the fast flat step, two tensors)."""
    loss, grad, w0 = _quadratic(3)
    alpha = 0.05
    spec = hyperopt.SGD(alpha, weight_decay=weight_decay, learn=["alpha"], update=update,
                        optimizer=hyperopt.SGD(1e-6, update=update))

    def after_one_step(a: float) -> np.ndarray:
        return w0 - a * (grad(w0) + weight_decay * w0)

    eps = 1e-6
    fd = (loss(after_one_step(alpha + eps)) - loss(after_one_step(alpha - eps))) / (2 * eps)
    w1 = after_one_step(alpha)
    closed = -float(grad(w1) @ (grad(w0) + weight_decay * w0))
    assert fd == pytest.approx(closed, rel=1e-6)
    assert abs(closed) > 1e-3  # a hypergradient that can tell the sign apart
    # NumPy backend
    state = spec.init(w0)
    w, state = spec.apply_gradients(w0, grad(w0), state)
    np.testing.assert_allclose(w, w1, rtol=1e-12)
    _, state = spec.apply_gradients(w, grad(w), state)
    (hg,) = state.tower.levels[0].hypergrad
    assert hg == pytest.approx(closed, rel=1e-12)
    # torch backend: the parameter split into two tensors (the flat layout's fast step)
    import torch
    import hyperopt.torch as ht
    parts = [torch.tensor(w0[:3]), torch.tensor(w0[3:])]
    opt = ht.from_spec(parts, spec)
    assert opt._fast_live()
    for _ in range(2):
        g = grad(torch.cat([p.detach() for p in parts]).numpy())
        parts[0].grad, parts[1].grad = torch.tensor(g[:3]), torch.tensor(g[3:])
        opt.step()
    assert opt._fast.fast_steps == 2
    assert opt.hypergradients()[0]["alpha"] == pytest.approx(closed, rel=1e-12)


_KINDS = st.sampled_from(["sgd", "adam", "adagrad", "rmsprop"])


def _make(kind: str, alpha: float, other: float, opt: Any, per_param: Any) -> hyperopt.Optimizer:
    if kind == "sgd":
        return hyperopt.SGD(alpha, other * 0.9, optimizer=opt, per_param=per_param)
    if kind == "adam":
        return hyperopt.Adam(alpha, 0.5 + 0.45 * other, 0.9 + 0.099 * other, optimizer=opt,
                             per_param=per_param)
    if kind == "adagrad":
        return hyperopt.AdaGrad(alpha, optimizer=opt, per_param=per_param)
    return hyperopt.RMSProp(alpha, 0.5 + 0.49 * other, optimizer=opt, per_param=per_param)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(_KINDS, min_size=2, max_size=4),
       log_alphas=st.lists(st.floats(-4.0, -1.0), min_size=4, max_size=4),
       others=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4),
       per_param=st.sampled_from([False, True, "element"]),
       seed=st.integers(0, 1000))
def test_random_towers_match_finite_differences(kinds: list[str], log_alphas: list[float],
                                                others: list[float], per_param: Any, seed: int,
                                                value_and_grad: Callable) -> None:
    opt = None
    for level, kind in reversed(list(enumerate(kinds))):
        # Upper levels get smaller step sizes, as one would choose them.
        alpha = 10.0 ** (log_alphas[level] - level)
        opt = _make(kind, alpha, others[level], opt, per_param if level == 0 else False)
    assert opt is not None
    check_lookahead(opt, value_and_grad, seed=seed, rtol=1e-4)
