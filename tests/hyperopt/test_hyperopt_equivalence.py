"""Trajectories that must coincide.

- A tower of height 1 is the plain optimizer: both backends reproduce torch.optim step by step.
- A tower whose top step size is 0 never moves its hyperparameters: it equals the plain one.
- The NumPy backend (gradients from coarsen or the stand-in) and the torch backend
  (gradients from ``loss.backward()`` on an ``nn.Module``) follow the same trajectory, learned
  hyperparameters included, to 1e-6 in float64.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch

import hyperopt
import hyperopt.torch as ht
from hyperopt_helpers import TorchMLP, mlp_batches, mlp_loss, mlp_params

STEPS = 30

PLAIN = {  # name: (hyperopt kwargs, torch.optim factory)
    "sgd": (lambda: hyperopt.SGD(0.2), lambda p: torch.optim.SGD(p, lr=0.2)),
    "sgd_momentum_wd": (lambda: hyperopt.SGD(0.1, 0.9, weight_decay=1e-3),
                        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3)),
    "sgd_nesterov": (lambda: hyperopt.SGD(0.1, 0.8, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True)),
    "adam": (lambda: hyperopt.Adam(0.01, 0.8, 0.99, 1e-6, weight_decay=1e-2),
             lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                        weight_decay=1e-2)),
    "adagrad": (lambda: hyperopt.AdaGrad(0.1, initial_accumulator_value=0.1),
                lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1)),
    "rmsprop": (lambda: hyperopt.RMSProp(0.01, 0.9),
                lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9)),
}


def run_torch_optim(make: Callable[[Any], torch.optim.Optimizer], steps: int = STEPS
                    ) -> dict[str, np.ndarray]:
    model = TorchMLP(mlp_params())
    opt = make(model.parameters())
    for x, y in mlp_batches(steps):
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()
    return model.as_numpy()


def run_hyperopt_torch(spec: hyperopt.Optimizer, steps: int = STEPS
                       ) -> tuple[dict[str, np.ndarray], Any]:
    model = TorchMLP(mlp_params())
    opt = _torch_from_spec(model.parameters(), spec)
    for x, y in mlp_batches(steps):
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()
    return model.as_numpy(), opt.hyperparameters()


def _torch_from_spec(params: Any, spec: hyperopt.Optimizer) -> torch.optim.Optimizer:
    """The torch-backend optimizer with exactly ``spec``'s settings (same repr)."""
    opt = getattr(ht, type(spec).__name__)(params, **_spec_kwargs(spec))
    assert repr(opt.spec) == repr(spec) == repr(ht.from_spec([torch.zeros(1)], spec).spec)
    return opt


def _spec_kwargs(spec: hyperopt.Optimizer) -> dict[str, Any]:
    kw: dict[str, Any] = dict(spec.initial)
    kw.update({k: v for k, v in spec.const.items()})
    kw.update(optimizer=spec.optimizer, learn=spec.learn, per_param=spec.per_param,
              trust=spec.trust, on_nonfinite=spec.on_nonfinite)
    return kw


def run_numpy(spec: hyperopt.Optimizer, vg: Callable, steps: int = STEPS
              ) -> tuple[dict[str, np.ndarray], Any]:
    result = hyperopt.minimize(mlp_loss, mlp_params(), spec, mlp_batches(steps), steps,
                               value_and_grad=vg)
    return result.params, spec.hyperparameters(result.state)


def assert_params_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], atol: float) -> None:
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=atol, err_msg=k)


@pytest.mark.parametrize("name", list(PLAIN))
def test_height_one_is_torch_optim(name: str, value_and_grad: Callable) -> None:
    make_spec, make_torch = PLAIN[name]
    want = run_torch_optim(make_torch)
    got_torch, _ = run_hyperopt_torch(make_spec())
    assert_params_close(got_torch, want, atol=1e-12)
    got_numpy, _ = run_numpy(make_spec(), value_and_grad)
    assert_params_close(got_numpy, want, atol=1e-10)
    # and the model really moved, so equality is not vacuous
    assert max(np.abs(want[k] - mlp_params()[k]).max() for k in want) > 1e-2


@pytest.mark.parametrize("name", ["sgd", "sgd_momentum_wd", "adam", "rmsprop"])
def test_zero_top_step_size_equals_plain(name: str, value_and_grad: Callable) -> None:
    make_spec, _ = PLAIN[name]
    plain = make_spec()
    kw = _spec_kwargs(plain)
    tower = type(plain)(**{**kw, "optimizer": hyperopt.SGD(0.0)})
    a, _ = run_numpy(plain, value_and_grad)
    b, hyper = run_numpy(tower, value_and_grad)
    assert_params_close(a, b, atol=1e-12)
    for k, v in plain.initial.items():
        assert hyper[0][k] == pytest.approx(v, rel=1e-12, abs=1e-15)


TOWERS = {
    "SGD/SGD": lambda: hyperopt.SGD(0.05, optimizer=hyperopt.SGD(1e-2)),
    "SGD(mu)/SGD/SGD": lambda: hyperopt.SGD(
        0.05, 0.5, optimizer=hyperopt.SGD(1e-2, optimizer=hyperopt.SGD(1e-3))),
    "Adam/Adam/SGD": lambda: hyperopt.Adam(
        0.01, optimizer=hyperopt.Adam(1e-3, optimizer=hyperopt.SGD(1e-4))),
    "RMSProp/AdaGrad": lambda: hyperopt.RMSProp(0.01, optimizer=hyperopt.AdaGrad(1e-2)),
    "SGD per tensor/SGD": lambda: hyperopt.SGD(0.05, per_param=True,
                                               optimizer=hyperopt.SGD(1e-2)),
    "Adam elementwise/SGD": lambda: hyperopt.Adam(0.01, per_param="element",
                                                  optimizer=hyperopt.SGD(1e-3)),
}


def _torch_as_numpy_layout(hyper: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """torch stores Linear weights as (out, in): transpose elementwise step sizes to match."""
    out = []
    for level in hyper:
        level = dict(level)
        for k, v in level.items():
            if isinstance(v, dict):
                level[k] = {n: (x.numpy().T if hasattr(x, "numpy") else x) for n, x in v.items()}
        out.append(level)
    return out


def _flat_values(hyper: list[dict[str, Any]]) -> list[float]:
    out: list[float] = []
    for level in hyper:
        for v in level.values():
            if isinstance(v, dict):
                for x in v.values():
                    out += list(np.ravel(np.asarray(x, dtype=np.float64)))
            else:
                out += list(np.ravel(np.asarray(v, dtype=np.float64)))
    return out


@pytest.mark.parametrize("name", list(TOWERS))
def test_numpy_and_torch_backends_same_trajectory(name: str, value_and_grad: Callable) -> None:
    p_np, h_np = run_numpy(TOWERS[name](), value_and_grad, steps=40)
    p_t, h_t = run_hyperopt_torch(TOWERS[name](), steps=40)
    assert_params_close(p_np, p_t, atol=1e-6)
    np.testing.assert_allclose(_flat_values(h_np), _flat_values(_torch_as_numpy_layout(h_t)),
                               rtol=1e-6, atol=1e-12)
    # the bottom level's hyperparameters were really learned (else this re-tests height 1)
    start = TOWERS[name]().initial
    moved = [np.max(np.abs(np.array(_flat_values([{k: h_np[0][k]}])) - start[k])) for k in start]
    assert max(moved) > 1e-4, moved
