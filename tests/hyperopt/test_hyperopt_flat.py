"""The torch backend's flat layout (hyperopt/flat.py) and the float scalar levels.

The flat layout must be an optimization only: same trajectory as the per-tensor layout, the
same checkpoints, the torch.optim rule for parameters without a gradient, and the same
NaN/inf diagnostics naming the tensor.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import hyperopt
import hyperopt.torch as ht
from hyperopt.flat import flatten, unflatten
from hyperopt_helpers import TorchMLP, mlp_batches, mlp_params


def _adam_tower(params: object) -> torch.optim.Optimizer:
    return ht.Adam(params, alpha=0.01, optimizer=ht.SGD(1e-3, 0.2, optimizer=ht.SGD(1e-4)))


def _train(model: TorchMLP, opt: torch.optim.Optimizer, batches: list) -> None:
    for x, y in batches:
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()


def test_flat_and_per_tensor_layouts_follow_the_same_trajectory() -> None:
    batches = mlp_batches(12)
    flat_model, per_model = TorchMLP(mlp_params()), TorchMLP(mlp_params())
    flat_opt, per_opt = _adam_tower(flat_model.parameters()), _adam_tower(per_model.parameters())
    assert flat_opt._is_flat()
    per_opt._to_per_tensor()
    _train(flat_model, flat_opt, batches)
    _train(per_model, per_opt, batches)
    assert flat_opt._is_flat() and not per_opt._is_flat()
    for a, b in zip(flat_model.parameters(), per_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    for la, lb in zip(flat_opt.hyperparameters(), per_opt.hyperparameters()):
        for k in la:
            assert la[k] == pytest.approx(lb[k], rel=1e-9)


def test_layout_conversions_round_trip() -> None:
    model = TorchMLP(mlp_params())
    opt = _adam_tower(model.parameters())
    _train(model, opt, mlp_batches(5))
    per = unflatten(opt._tower_state, opt._tower, opt._shapes)
    again = flatten(per, opt._flat_tower)
    assert again is not None
    for a, b in zip(again.levels[0].slots[0].values(), opt._tower_state.levels[0].slots[0].values()):
        assert torch.equal(a, b)
    for ra, rb in zip(again.levels[0].tangents, opt._tower_state.levels[0].tangents):
        assert all(torch.equal(a, b) for a, b in zip(ra, rb))


def test_a_parameter_without_grad_switches_to_per_tensor_and_is_untouched() -> None:
    model = TorchMLP(mlp_params())
    opt = _adam_tower(model.parameters())
    _train(model, opt, mlp_batches(3))
    frozen = model.out.bias.detach().clone()
    x, y = mlp_batches(4)[3]
    opt.zero_grad()
    model.loss(x, y).backward()
    model.out.bias.grad = None
    opt.step()
    assert not opt._is_flat()
    assert torch.equal(model.out.bias, frozen)
    _train(model, opt, mlp_batches(6)[4:])  # and it goes on, per tensor
    assert not torch.equal(model.out.bias, frozen)
    # its checkpoint loads into a fresh (flat) optimizer: Adam's running products now differ
    # between tensors, so the fresh one stays per tensor too and resumes exactly
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    twin_model = TorchMLP(mlp_params())
    twin_model.load_state_dict(model.state_dict())
    twin = _adam_tower(twin_model.parameters())
    twin.load_state_dict(torch.load(buf, weights_only=True))
    assert not twin._is_flat()
    _train(model, opt, mlp_batches(8)[6:])
    _train(twin_model, twin, mlp_batches(8)[6:])
    for a, b in zip(model.parameters(), twin_model.parameters()):
        assert torch.equal(a, b)


def test_flat_layout_names_the_bad_tensor() -> None:
    model = TorchMLP(mlp_params())
    opt = _adam_tower(model.parameters())
    _train(model, opt, mlp_batches(2))
    x, y = mlp_batches(3)[2]
    opt.zero_grad()
    model.loss(x, y).backward()
    model.out.weight.grad[0, 0] = float("nan")
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(hyperopt.NonFiniteError, match="gradient of parameter '2'"):
        opt.step()
    assert opt._is_flat()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_division_by_zero_on_a_scalar_level_is_refused_like_nan() -> None:
    """Scalar levels compute on Python floats, where x / 0.0 raises: the step is refused, as
    NumPy's inf/nan would have been.  AdaGrad with eps=0 divides 0 by 0 when its first
    hypergradient is exactly 0."""
    spec = hyperopt.SGD(0.1, optimizer=hyperopt.AdaGrad(0.01, eps=0.0), learn=["alpha"])
    state = spec.init(np.array([1.0]))
    params, state = spec.apply_gradients(np.array([1.0]), np.array([0.0]), state)
    with pytest.raises(hyperopt.NonFiniteError, match="division by zero"):
        spec.apply_gradients(params, np.array([0.0]), state)
    skip = hyperopt.SGD(0.1, optimizer=hyperopt.AdaGrad(0.01, eps=0.0), learn=["alpha"],
                        on_nonfinite="skip")
    s = skip.init(np.array([1.0]))
    p, s = skip.apply_gradients(np.array([1.0]), np.array([0.0]), s)
    p2, s2 = skip.apply_gradients(p, np.array([0.0]), s)
    assert s2.skipped == 1 and np.array_equal(p2, p)
