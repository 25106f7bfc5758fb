"""``update="paper"`` reproduces the paper's algorithm step by step.

The reference below is written from the paper's equations (Chandra et al., "Gradient Descent:
The Ultimate Optimizer", section 3) the way its implementation (gdtuo) runs them, and shares no
code with hyperopt: every hyperparameter is a plain float64 tensor in the paper's
parametrization (step sizes and momentum raw, betas ``(tanh(c) + 1) / 2``); each step builds
the graph ``h_top -> ... -> h_0 -> params`` of this step's updates, the next loss is
differentiated by autograd w.r.t. everything, and each level then takes one plain step on the
*stored* numbers of the level below (``c <- c + update(dL/dc)``), top-down, older state
detached.  Closed-form hyperopt must follow the same trajectory to rounding error.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import hyperopt
import hyperopt.torch as ht
from hyperopt_helpers import TorchMLP, mlp_batches, mlp_params


def _clamp(c: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(c) + 1.0) / 2.0


class _RefLevel:
    """One optimizer of the reference tower: its stored hyperparameters and its update rule."""

    def __init__(self, kind: str, values: dict[str, float], learned: set[str]) -> None:
        self.kind, self.learned = kind, learned
        self.coords = {k: torch.tensor(math.atanh(2 * v - 1) if k.startswith("beta") else v,
                                       dtype=torch.float64) for k, v in values.items()}
        self.slots: dict[int, dict[str, torch.Tensor]] = {}

    def value(self, name: str) -> torch.Tensor:
        c = self.coords[name]
        return _clamp(c) if name.startswith("beta") else c

    def update(self, i: int, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``x``'s new value given its gradient ``g`` (the graph to this level's values kept)."""
        s = self.slots.setdefault(i, {})
        if self.kind == "sgd":
            alpha, mu = self.value("alpha"), self.value("mu")
            b = mu * s["b"] + g if "b" in s else g  # torch.optim: the first buffer is g
            s["b"] = b.detach()
            return x - alpha * b
        alpha, b1, b2 = self.value("alpha"), self.value("beta1"), self.value("beta2")
        m = b1 * s.get("m", torch.zeros_like(g)) + (1 - b1) * g
        v = b2 * s.get("v", torch.zeros_like(g)) + (1 - b2) * g * g
        p1 = b1 * s.get("p1", torch.tensor(1.0, dtype=torch.float64))
        p2 = b2 * s.get("p2", torch.tensor(1.0, dtype=torch.float64))
        s.update(m=m.detach(), v=v.detach(), p1=p1.detach(), p2=p2.detach())
        return x - alpha * (m / (1 - p1)) / (torch.sqrt(v / (1 - p2)) + 1e-8)


def reference_run(levels: list[_RefLevel], model: TorchMLP, batches: list) -> list[dict]:
    """Train with the reference tower; per step the parameters and every learned value."""
    names = [n for n, _ in model.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    learned = [(j, k) for j, lv in enumerate(levels[:-1]) for k in lv.coords if k in lv.learned]
    trace = []
    for x, y in batches:
        for j, k in learned:  # step 0: the initial values are leaves of the graph
            if not levels[j].coords[k].requires_grad:
                levels[j].coords[k] = levels[j].coords[k].detach().requires_grad_(True)
        logits = torch.func.functional_call(model, dict(zip(names, params)),
                                            (torch.from_numpy(x),))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y.argmax(1)))
        hyper = [levels[j].coords[k] for j, k in learned]
        grads = torch.autograd.grad(loss, params + hyper, allow_unused=True)
        g_params, g_hyper = grads[:len(params)], dict(zip(learned, grads[len(params):]))
        for j, k in learned:  # everything older than this step is detached
            levels[j].coords[k] = levels[j].coords[k].detach().requires_grad_(True)
        for j in range(len(levels) - 2, -1, -1):  # top-down, as the paper
            for i, k in enumerate(levels[j].coords):
                g = g_hyper.get((j, k))
                if g is not None:  # the number was used by last step's update
                    levels[j].coords[k] = levels[j + 1].update(i, levels[j].coords[k],
                                                               g.detach())
        params = [levels[0].update(i, p.detach().requires_grad_(True), g.detach())
                  for i, (p, g) in enumerate(zip(params, g_params))]
        trace.append({"params": [p.detach().clone() for p in params],
                      "values": [{k: float(lv.value(k).detach()) for k in sorted(lv.learned)}
                                 for lv in levels[:-1]]})
    return trace


# (hyperopt spec, the same tower for the reference) -- bottom level first
def _sgd3() -> tuple[hyperopt.Optimizer, list[_RefLevel]]:
    spec = hyperopt.SGD(0.05, learn=["alpha"], update="paper", optimizer=hyperopt.SGD(
        2e-3, learn=["alpha"], update="paper", optimizer=hyperopt.SGD(1e-4, update="paper")))
    return spec, [_RefLevel("sgd", {"alpha": 0.05, "mu": 0.0}, {"alpha"}),
                  _RefLevel("sgd", {"alpha": 2e-3, "mu": 0.0}, {"alpha"}),
                  _RefLevel("sgd", {"alpha": 1e-4, "mu": 0.0}, set())]


def _sgd_momentum() -> tuple[hyperopt.Optimizer, list[_RefLevel]]:
    spec = hyperopt.SGD(0.05, 0.5, update="paper",
                        optimizer=hyperopt.SGD(0.01, 0.3, update="paper"))
    return spec, [_RefLevel("sgd", {"alpha": 0.05, "mu": 0.5}, {"alpha", "mu"}),
                  _RefLevel("sgd", {"alpha": 0.01, "mu": 0.3}, set())]


def _adam_sgd() -> tuple[hyperopt.Optimizer, list[_RefLevel]]:
    spec = hyperopt.Adam(0.01, 0.8, 0.9, update="paper",
                         optimizer=hyperopt.SGD(1e-3, update="paper"))
    return spec, [_RefLevel("adam", {"alpha": 0.01, "beta1": 0.8, "beta2": 0.9},
                            {"alpha", "beta1", "beta2"}),
                  _RefLevel("sgd", {"alpha": 1e-3, "mu": 0.0}, set())]


def _sgd_adam_sgd() -> tuple[hyperopt.Optimizer, list[_RefLevel]]:
    spec = hyperopt.SGD(0.05, learn=["alpha"], update="paper", optimizer=hyperopt.Adam(
        1e-3, 0.9, 0.99, update="paper", optimizer=hyperopt.SGD(1e-4, update="paper")))
    return spec, [_RefLevel("sgd", {"alpha": 0.05, "mu": 0.0}, {"alpha"}),
                  _RefLevel("adam", {"alpha": 1e-3, "beta1": 0.9, "beta2": 0.99},
                            {"alpha", "beta1", "beta2"}),
                  _RefLevel("sgd", {"alpha": 1e-4, "mu": 0.0}, set())]


@pytest.mark.parametrize("make", [_sgd3, _sgd_momentum, _adam_sgd, _sgd_adam_sgd],
                         ids=["SGD^3", "SGD(mu)/SGD(mu)", "Adam/SGD", "SGD/Adam/SGD"])
def test_paper_update_follows_the_reference_step_by_step(make: Any) -> None:
    spec, ref_levels = make()
    batches = mlp_batches(25, seed=3)
    model = TorchMLP(mlp_params(seed=2))
    expected = reference_run(ref_levels, model, batches)
    opt = ht.from_spec(model.parameters(), spec)
    moved = 0.0
    for t, ((x, y), want) in enumerate(zip(batches, expected)):
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()
        for p, q in zip(model.parameters(), want["params"]):
            torch.testing.assert_close(p.detach(), q, rtol=1e-9, atol=1e-12,
                                       msg=lambda m: f"step {t}: {m}")
        got = opt.hyperparameters()
        for j, values in enumerate(want["values"]):
            for k, v in values.items():
                assert got[j][k] == pytest.approx(v, rel=1e-9, abs=1e-14), (t, j, k)
                moved = max(moved, abs(v - make()[1][j].value(k).item()))
    assert moved > 1e-6  # the hyperparameters did move: the comparison is not vacuous


def test_paper_update_is_additive() -> None:
    """The issue's example: the log update without a bound gives exp(log(1e-4) + 10) = 2.2;
    the paper (and update="paper") gives 1e-4 + 1e-3."""
    from hyperopt.arrays import SCALAR_OPS
    from hyperopt.domains import Domain, apply_update, to_coordinate, to_value
    c, scale = apply_update(Domain.ADDITIVE, np.float64(1e-4), 1e-3, None, SCALAR_OPS)
    assert float(to_value(Domain.ADDITIVE, c, SCALAR_OPS)) == pytest.approx(1.1e-3, rel=1e-12)
    assert scale is None
    c, _ = apply_update(Domain.POSITIVE, np.float64(to_coordinate(Domain.POSITIVE, 1e-4)),
                        1e-3, None, SCALAR_OPS)
    assert float(to_value(Domain.POSITIVE, c, SCALAR_OPS)) == pytest.approx(2.2026, rel=1e-4)


def test_paper_step_sizes_may_turn_negative_like_the_paper() -> None:
    """No domain guard: a hypergradient pushing alpha below 0 gives alpha < 0, as in gdtuo."""
    spec = hyperopt.SGD(1e-3, learn=["alpha"], update="paper",
                        optimizer=hyperopt.SGD(10.0, update="paper"))
    state = spec.init(np.array([1.0]))
    params = np.array([1.0])
    for g in ([1.0], [-1.0]):  # <g1, g0> = -1: dL/dalpha = +1, alpha -= 10 * 1
        params, state = spec.apply_gradients(params, np.array(g), state)
    assert spec.hyperparameters(state)[0]["alpha"] == pytest.approx(1e-3 - 10.0)


def test_update_must_agree_across_the_tower() -> None:
    with pytest.raises(ValueError, match="one update rule"):
        hyperopt.SGD(0.1, update="paper", optimizer=hyperopt.SGD(1e-3)).init(np.zeros(2))
    with pytest.raises(ValueError, match="update must be one of"):
        hyperopt.SGD(0.1, update="additive")
    assert hyperopt.SGD(0.1, update="paper").trust is None  # the paper's rule: unbounded
    assert hyperopt.SGD(0.1).trust == 1.0
    assert hyperopt.SGD(0.1, update="paper", trust=0.5).trust == 0.5


@pytest.mark.parametrize("other", [
    lambda: hyperopt.SGD(0.1, optimizer=hyperopt.SGD(1e-3, trust=None)),
    lambda: hyperopt.SGD(0.1, update="paper", optimizer=hyperopt.SGD(1e-3, update="paper")),
], ids=["trust", "update"])
def test_numpy_state_checks_trust_and_update(other: Any) -> None:
    spec = hyperopt.SGD(0.1, optimizer=hyperopt.SGD(1e-3))
    state = spec.init(np.ones(3))
    with pytest.raises(ValueError, match="this state belongs to"):
        other().apply_gradients(np.ones(3), np.ones(3), state)
    same = hyperopt.SGD(0.1, optimizer=hyperopt.SGD(1e-3))  # an equal spec is accepted
    same.apply_gradients(np.ones(3), np.ones(3), state)
