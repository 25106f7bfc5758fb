"""The torch backend as a torch.optim user meets it: checkpoints, memory, parameter handling."""
from __future__ import annotations

import gc
import io
from typing import Any, Callable

import numpy as np
import pytest
import torch

import hyperopt
import hyperopt.torch as ht
from hyperopt_helpers import TorchMLP, mlp_batches, mlp_params


def _tower(params: object) -> torch.optim.Optimizer:
    return ht.Adam(params, alpha=0.01, optimizer=ht.SGD(1e-3, 0.1, optimizer=ht.SGD(1e-4)))


def _train(model: TorchMLP, opt: torch.optim.Optimizer, batches: list) -> None:
    for x, y in batches:
        opt.zero_grad()
        model.loss(x, y).backward()
        opt.step()


def _elementwise_tower(params: object) -> torch.optim.Optimizer:
    return ht.SGD(params, 0.05, 0.5, per_param="element",
                  optimizer=ht.Adam(1e-3, per_param=True, optimizer=ht.SGD(1e-4)))


@pytest.mark.parametrize("make", [_tower, _elementwise_tower])
def test_state_dict_round_trip_resumes_identically(make: Callable) -> None:
    batches = mlp_batches(30)
    model_a = TorchMLP(mlp_params())
    opt_a = make(model_a.parameters())
    _train(model_a, opt_a, batches[:15])
    buf = io.BytesIO()
    torch.save({"model": model_a.state_dict(), "opt": opt_a.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)  # only tensors, numbers, strings: safe to load

    model_b = TorchMLP(mlp_params(seed=99))  # different weights: everything must come from disk
    opt_b = make(model_b.parameters())
    model_b.load_state_dict(saved["model"])
    opt_b.load_state_dict(saved["opt"])
    assert _same(opt_b.hyperparameters(), opt_a.hyperparameters())
    assert opt_b.steps == opt_a.steps == 15

    _train(model_a, opt_a, batches[15:])
    _train(model_b, opt_b, batches[15:])
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)
    assert _same(opt_b.hyperparameters(), opt_a.hyperparameters())
    # and resuming mattered: a fresh optimizer on the same weights goes elsewhere
    model_c = TorchMLP(mlp_params(seed=99))
    model_c.load_state_dict(saved["model"])
    _train(model_c, make(model_c.parameters()), batches[15:])
    assert not torch.equal(model_c.hidden.weight, model_a.hidden.weight)


def _same(a: Any, b: Any) -> bool:
    """Exact equality of nested hyperparameter values (floats or tensors)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def test_load_state_dict_rejects_other_optimizer() -> None:
    model = TorchMLP(mlp_params())
    sd = _tower(model.parameters()).state_dict()
    other = ht.Adam(model.parameters(), alpha=0.02, optimizer=ht.SGD(1e-3))
    with pytest.raises(ValueError, match="saved by"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match="not a hyperopt.torch state_dict"):
        other.load_state_dict(torch.optim.SGD(model.parameters(), lr=0.1).state_dict())


def _live_objects() -> tuple[int, int]:
    """(live torch tensors, all gc-tracked Python objects) after a full collection."""
    gc.collect()
    objects = gc.get_objects()
    # type(), not isinstance(): a dead weakref.proxy in the list raises on isinstance
    return sum(1 for o in objects if issubclass(type(o), torch.Tensor)), len(objects)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.slow
def test_memory_is_constant_over_thousands_of_steps() -> None:
    """5,000 steps of Adam/SGD/SGD: no growth in tensors, Python objects or RSS after warm-up.

    (The reference implementation keeps each step's graph alive through create_graph=True.)
    """
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
    opt = _tower(model.parameters())
    x, y = torch.randn(64, 20), torch.randint(0, 4, (64,))

    def steps(n: int) -> None:
        for _ in range(n):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    steps(1000)  # warm-up: allocator and torch's own caches settle
    (tensors0, objects0), rss0 = _live_objects(), _rss_bytes()
    # RSS as growth per step over many steps (a least-squares slope over 16 samples), not
    # one difference: a single allocator jump (another thread, a page-cache change on a busy
    # machine) moves one sample, a leak moves the slope. A step that kept its graph alive
    # would keep activations of 64x32 floats: tens of kB per step.
    counts, rss = [0], [rss0]
    for _ in range(16):
        steps(250)
        counts.append(counts[-1] + 250)
        rss.append(_rss_bytes())
    (tensors1, objects1) = _live_objects()
    assert tensors1 == tensors0
    assert objects1 - objects0 < 50, (objects0, objects1)  # 4,000 steps, not 4,000 objects
    per_step = float(np.polyfit(counts, rss, 1)[0])
    assert per_step < 512, f"RSS grows {per_step:.0f} bytes per step: {rss}"
    for level in opt._tower_state.levels:  # nothing kept carries an autograd graph
        arrays = list(level.coords) + [t for s in level.slots for t in s.values()]
        arrays += [t for row in (level.tangents or ()) for t in row if t is not None]
        assert not any(getattr(t, "requires_grad", False) or getattr(t, "grad_fn", None)
                       for t in arrays)
    assert opt.steps == 5000


def test_classes_without_params_are_tower_levels() -> None:
    assert type(ht.SGD(1e-5)) is hyperopt.SGD
    assert type(ht.Adam(alpha=1e-4, optimizer=ht.SGD(1e-5))) is hyperopt.Adam
    model = TorchMLP(mlp_params())
    opt = ht.SGD(model.parameters(), 0.1, optimizer=hyperopt.SGD(1e-3))  # neutral spec works too
    assert isinstance(opt, torch.optim.Optimizer) and opt.spec.height() == 2


def test_param_group_options_and_late_groups_are_refused() -> None:
    model = TorchMLP(mlp_params())
    with pytest.raises(ValueError, match="per_param"):
        ht.SGD([{"params": model.hidden.parameters(), "lr": 0.1}], alpha=0.1)
    opt = ht.SGD(model.hidden.parameters(), alpha=0.1)
    with pytest.raises(RuntimeError, match="new optimizer"):
        opt.add_param_group({"params": model.out.parameters()})


def test_parameters_without_grad_are_untouched() -> None:
    model = TorchMLP(mlp_params())
    frozen_before = model.out.weight.detach().clone()
    opt = ht.SGD(model.parameters(), 0.1, 0.5, optimizer=ht.SGD(1e-2))
    for x, y in mlp_batches(5):
        opt.zero_grad()
        model.loss(x, y).backward()
        model.out.weight.grad = None  # as if unused in this forward pass
        opt.step()
    assert torch.equal(model.out.weight, frozen_before)
    assert not torch.equal(model.hidden.weight, torch.from_numpy(mlp_params()["W1"].T))
    assert opt.hyperparameters()[0]["alpha"] != 0.1


def test_closure_float32_named_parameters_and_hooks() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    opt = ht.SGD(model.named_parameters(), 0.05, per_param=True, optimizer=ht.SGD(1e-2))
    calls = []
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(o.steps))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    first = closure().item()
    for _ in range(30):
        loss = opt.step(closure)
    assert loss.item() < first
    assert all(p.dtype == torch.float32 for p in model.parameters())
    alphas = opt.hyperparameters()[0]["alpha"]
    assert set(alphas) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert len(set(alphas.values())) == 4  # one learned step size per tensor
    assert calls == list(range(1, 31))
    assert set(opt.hypergradients()[0]) == {f"alpha[{n}]" for n in alphas} | {"mu"}


def test_hyperparameters_stay_valid_under_hostile_gradients() -> None:
    """Huge, alternating gradients push every hyperparameter hard; domains still hold."""
    p = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    opt = ht.Adam([p], alpha=0.5, beta1=0.5, beta2=0.6,
                  optimizer=ht.SGD(10.0, 0.5, optimizer=ht.SGD(10.0)))
    rng = np.random.default_rng(0)
    for i in range(200):
        p.grad = torch.from_numpy(rng.normal(size=4) * 10.0 ** rng.integers(-3, 6) * (-1) ** i)
        opt.step()
    h0, h1 = opt.hyperparameters()[:2]
    assert h0["alpha"] > 0 and 0 < h0["beta1"] < 1 and 0 < h0["beta2"] < 1
    assert h1["alpha"] > 0 and -1 < h1["mu"] < 1
    assert torch.isfinite(p).all()
