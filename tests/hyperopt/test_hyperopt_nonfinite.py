"""A NaN/inf loss, gradient, hypergradient or update never reaches the parameters.

With ``on_nonfinite="raise"`` (the default) the step raises ``NonFiniteError`` naming what went
wrong; with ``"skip"`` it returns everything unchanged and counts the step.  Both backends.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
import torch

import hyperopt
import hyperopt.torch as ht
from hyperopt_helpers import TorchMLP, mlp_batches, mlp_loss, mlp_params


def _tower(on_nonfinite: str | None = None) -> hyperopt.Optimizer:
    return hyperopt.SGD(0.1, 0.5, optimizer=hyperopt.SGD(1e-2), on_nonfinite=on_nonfinite)


def _quadratic_grads(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in params.items()}


def _two_good_steps(opt: hyperopt.Optimizer) -> tuple[dict[str, np.ndarray], Any]:
    params = mlp_params()
    state = opt.init(params)
    for _ in range(2):  # so the tower has tangents and hypergradients flow
        params, state = opt.apply_gradients(params, _quadratic_grads(params), state, loss=1.0)
    return params, state


BAD_INPUTS = {
    "loss": (lambda g: g, math.nan, "non-finite loss"),
    "gradient": (lambda g: {**g, "b1": g["b1"] + np.inf}, 1.0,
                 "non-finite gradient of parameter 'b1'"),
    # Finite gradients whose dot product with the last update overflows: only the
    # hypergradient is non-finite.
    "hypergradient": (lambda g: {k: np.sign(v) * 1e308 for k, v in g.items()}, 1.0,
                      "non-finite hypergradient"),
}


@pytest.mark.parametrize("what", list(BAD_INPUTS))
def test_raise_leaves_everything_unchanged(what: str) -> None:
    opt = _tower()
    params, state = _two_good_steps(opt)
    corrupt, loss, message = BAD_INPUTS[what]
    with pytest.raises(hyperopt.NonFiniteError, match=message):
        opt.apply_gradients(params, corrupt(_quadratic_grads(params)), state, loss=loss)
    # functional API: the caller's params and state are untouched and still usable
    new_params, new_state = opt.apply_gradients(params, _quadratic_grads(params), state, loss=1.0)
    assert new_state.step == 3 and new_state.skipped == 0


@pytest.mark.parametrize("what", list(BAD_INPUTS))
def test_skip_counts_and_changes_nothing(what: str) -> None:
    opt = _tower("skip")
    params, state = _two_good_steps(opt)
    corrupt, loss, _ = BAD_INPUTS[what]
    out, out_state = opt.apply_gradients(params, corrupt(_quadratic_grads(params)), state,
                                         loss=loss)
    assert out_state.skipped == 1 and out_state.step == state.step
    for k in params:
        assert np.array_equal(out[k], params[k])
    assert opt.hyperparameters(out_state) == opt.hyperparameters(state)
    # the next good step proceeds as if the bad one never happened
    a, sa = opt.apply_gradients(out, _quadratic_grads(out), out_state, loss=1.0)
    b, sb = opt.apply_gradients(params, _quadratic_grads(params), state, loss=1.0)
    for k in a:
        assert np.array_equal(a[k], b[k])
    assert opt.hyperparameters(sa) == opt.hyperparameters(sb)


def test_update_overflow_is_refused() -> None:
    """Finite inputs whose update overflows (huge step times huge gradient)."""
    opt = hyperopt.SGD(1e300)
    params = {"w": np.array([1.0, 2.0])}
    state = opt.init(params)
    with pytest.raises(hyperopt.NonFiniteError, match="update made parameter 'w' non-finite"):
        opt.apply_gradients(params, {"w": np.array([1e300, 1.0])}, state)


def test_minimize_records_skipped_steps(value_and_grad: Callable) -> None:
    batches = mlp_batches(6)
    x_bad = batches[3][0].copy()
    x_bad[0, 0] = np.nan  # one corrupt example
    batches[3] = (x_bad, batches[3][1])
    result = hyperopt.minimize(mlp_loss, mlp_params(), _tower("skip"), batches,
                               value_and_grad=value_and_grad)
    assert result.history.skipped == [3]
    assert result.state.skipped == 1 and result.state.step == 5
    assert all(np.isfinite(v).all() for v in result.params.values())


def test_torch_backend_raise_and_skip() -> None:
    model = TorchMLP(mlp_params())
    opt = ht.SGD(model.parameters(), 0.1, 0.5, optimizer=ht.SGD(1e-2))
    x, y = mlp_batches(1)[0]
    for _ in range(2):
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()
    before = [p.detach().clone() for p in model.parameters()]
    opt.zero_grad()
    model.loss(x, y).backward()
    model.hidden.bias.grad[0] = float("nan")
    with pytest.raises(hyperopt.NonFiniteError, match="gradient of parameter '1'"):
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))

    skipper = ht.SGD(model.parameters(), 0.1, optimizer=ht.SGD(1e-2), on_nonfinite="skip")
    loss = skipper.step(lambda: torch.tensor(float("inf")))  # a closure's loss is checked too
    assert math.isinf(float(loss)) and skipper.skipped == 1 and skipper.steps == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_on_nonfinite_belongs_to_the_bottom_optimizer() -> None:
    opt = hyperopt.SGD(0.1, optimizer=hyperopt.SGD(1e-2, on_nonfinite="skip"))
    with pytest.raises(ValueError, match="bottom optimizer"):
        opt.init(np.zeros(3))
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        hyperopt.SGD(0.1, on_nonfinite="ignore")
