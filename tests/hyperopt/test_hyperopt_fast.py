"""The torch fast step (hyperopt/fast.py) is an optimization only: bitwise the generic engine.

Two copies of a model, one optimizer running the fast step and one forced onto the generic
engine (tower.py on the flat layout, what every step ran before fast.py): after every step the
parameters, every level's hyperparameters and hypergradients must be *equal* (not close), for
SGD towers (paper and log updates, momentum, Nesterov, weight decay), Adam, AdaGrad and RMSProp
bottoms, float32 and float64; then the checkpoints must be equal too.  NaN/inf steps must be
refused the same way, and parameters changed in place between steps must be seen.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

import hyperopt
import hyperopt.torch as ht


def _sgd_tower(height: int, update: str, alpha: float = 0.05, **bottom: Any) -> Any:
    spec = None
    for level in range(height - 1, -1, -1):
        kw = bottom if level == 0 else {}
        spec = hyperopt.SGD(alpha if level == 0 else 1e-3 * 0.5 ** level, optimizer=spec,
                            update=update, learn=["alpha"] if spec is not None and not kw
                            else None, **kw)
    return spec


SPECS: dict[str, Callable[[], Any]] = {
    "SGD": lambda: hyperopt.SGD(0.05),
    "SGD^2 paper": lambda: _sgd_tower(2, "paper"),
    "SGD^3 paper": lambda: _sgd_tower(3, "paper"),
    "SGD^4 log": lambda: _sgd_tower(4, "log"),
    "SGD(wd)^3 paper": lambda: _sgd_tower(3, "paper", weight_decay=0.01),
    "SGD(mu)/SGD": lambda: hyperopt.SGD(0.05, 0.5, optimizer=hyperopt.SGD(1e-3)),
    "SGD(nesterov,wd)/SGD": lambda: hyperopt.SGD(
        0.05, 0.3, nesterov=True, weight_decay=1e-2, optimizer=hyperopt.SGD(1e-3)),
    "Adam": lambda: hyperopt.Adam(1e-2),
    "Adam/SGD paper": lambda: hyperopt.Adam(1e-2, optimizer=hyperopt.SGD(1e-4, update="paper"),
                                            update="paper"),
    "Adam/Adam": lambda: hyperopt.Adam(1e-2, optimizer=hyperopt.Adam(1e-3)),
    "Adam(wd, learn beta2)/SGD": lambda: hyperopt.Adam(
        1e-2, weight_decay=1e-2, learn=["beta2"], optimizer=hyperopt.SGD(1e-3)),
    "AdaGrad/RMSProp": lambda: hyperopt.AdaGrad(0.1, optimizer=hyperopt.RMSProp(1e-3)),
    "RMSProp(wd)/SGD/SGD": lambda: hyperopt.RMSProp(
        0.01, weight_decay=1e-3, optimizer=hyperopt.SGD(1e-3, optimizer=hyperopt.SGD(1e-4))),
}


def _model(dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 3)).to(dtype)


def _generic(opt: Any) -> Any:
    """Force ``opt`` onto the generic engine (the state stays flat)."""
    state = opt._tower_state
    opt._fast = None
    opt._tower_state = state
    assert opt._is_flat() and not opt._fast_live()
    return opt


def _batches(n: int, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(16, 6, generator=gen, dtype=dtype),
             torch.randint(0, 3, (16,), generator=gen)) for _ in range(n)]


def _step(model: torch.nn.Module, opt: Any, x: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(SPECS))
def test_fast_step_is_bitwise_the_generic_engine(name: str, dtype: torch.dtype) -> None:
    fast_model, slow_model = _model(dtype), _model(dtype)
    fast = ht.from_spec(fast_model.parameters(), SPECS[name]())
    slow = _generic(ht.from_spec(slow_model.parameters(), SPECS[name]()))
    assert fast._fast_live()
    for t, (x, y) in enumerate(_batches(12, dtype)):
        _step(fast_model, fast, x, y)
        _step(slow_model, slow, x, y)
        for p, q in zip(fast_model.parameters(), slow_model.parameters()):
            assert torch.equal(p, q), (name, t)
        assert _same(fast.hyperparameters(), slow.hyperparameters()), (name, t)
        assert _same(fast.hypergradients(), slow.hypergradients()), (name, t)
        assert [g["lr"] for g in fast.param_groups] == [g["lr"] for g in slow.param_groups]
    assert _same(fast.state_dict(), slow.state_dict())
    assert fast.steps == slow.steps == fast._fast.fast_steps == 12  # none fell back


@pytest.mark.parametrize("skip", [False, True])
def test_nonfinite_steps_are_refused_as_before(skip: bool) -> None:
    spec = _sgd_tower(3, "paper")
    spec = hyperopt.SGD(0.05, optimizer=spec.optimizer, update="paper",
                        on_nonfinite="skip" if skip else None)
    models = [_model(torch.float64) for _ in range(2)]
    opts = [ht.from_spec(models[0].parameters(), spec),
            _generic(ht.from_spec(models[1].parameters(), spec))]
    errors: list[list[str]] = [[], []]
    for t, (x, y) in enumerate(_batches(8, torch.float64)):
        for k, (model, opt) in enumerate(zip(models, opts)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            if t in (3, 5):  # a NaN gradient, then an inf one
                model[0].weight.grad[0, 0] = math.nan if t == 3 else math.inf
            try:
                opt.step()
            except hyperopt.NonFiniteError as e:
                errors[k].append(str(e))
    assert errors[0] == errors[1] and len(errors[0]) == (0 if skip else 2)
    assert opts[0].skipped == opts[1].skipped == (2 if skip else 0)
    assert opts[0].steps == opts[1].steps == 6
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(p, q)
    assert _same(opts[0].state_dict(), opts[1].state_dict())


def test_update_that_would_overflow_is_refused() -> None:
    """float32 parameters near the top of the range: the norm bound cannot prove the update
    finite, the generic engine decides (here: the new parameter is inf, refused)."""
    model = _model(torch.float32)
    opt = ht.SGD(model.parameters(), 1.0, optimizer=ht.SGD(1e-3))
    x, y = _batches(1, torch.float32)[0]
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    with torch.no_grad():
        model[0].bias[0] = 3e38
        model[0].bias.grad[0] = -1e38
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(hyperopt.NonFiniteError, match="non-finite"):
        opt.step()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert opt.steps == 0


def test_parameters_changed_between_steps_are_used() -> None:
    """The fast step updates the parameters in place: an outside write between steps (a
    model.load_state_dict, a manual edit) is the starting point of the next step."""
    fast_model, slow_model = _model(torch.float64), _model(torch.float64)
    fast = ht.from_spec(fast_model.parameters(), _sgd_tower(3, "paper"))
    slow = _generic(ht.from_spec(slow_model.parameters(), _sgd_tower(3, "paper")))
    for t, (x, y) in enumerate(_batches(6, torch.float64)):
        if t == 3:
            for m in (fast_model, slow_model):
                with torch.no_grad():
                    m[2].weight.mul_(0.5)
                    m[0].bias.fill_(0.25)
        _step(fast_model, fast, x, y)
        _step(slow_model, slow, x, y)
    for p, q in zip(fast_model.parameters(), slow_model.parameters()):
        assert torch.equal(p, q)


def test_state_dict_round_trip_keeps_the_fast_step() -> None:
    model = _model(torch.float64)
    opt = ht.from_spec(model.parameters(), _sgd_tower(3, "paper"))
    for x, y in _batches(4, torch.float64):
        _step(model, opt, x, y)
    twin_model = _model(torch.float64)
    twin_model.load_state_dict(model.state_dict())
    twin = ht.from_spec(twin_model.parameters(), _sgd_tower(3, "paper"))
    twin.load_state_dict(opt.state_dict())
    assert twin._fast_live()
    for x, y in _batches(9, torch.float64)[4:]:
        _step(model, opt, x, y)
        _step(twin_model, twin, x, y)
    for p, q in zip(model.parameters(), twin_model.parameters()):
        assert torch.equal(p, q)


def test_step_hooks_and_profiler_label_still_work() -> None:
    """torch.optim's step wrapper runs only when it has something to do (hooks, a profiler):
    hooks registered on the optimizer or globally are called, the profiler sees the step."""
    model = _model(torch.float64)
    opt = ht.from_spec(model.parameters(), _sgd_tower(3, "paper"))
    calls: list[str] = []
    handles = [opt.register_step_pre_hook(lambda o, a, k: calls.append("pre")),
               opt.register_step_post_hook(lambda o, a, k: calls.append("post")),
               register_optimizer_step_pre_hook(
                   lambda o, a, k: calls.append("global pre"))]
    x, y = _batches(1, torch.float64)[0]
    _step(model, opt, x, y)
    assert calls == ["global pre", "pre", "post"]
    for h in handles:
        h.remove()
    _step(model, opt, x, y)
    assert len(calls) == 3 and opt.steps == 2
    with torch.profiler.profile() as prof:
        _step(model, opt, x, y)
    assert any(e.name == "Optimizer.step#SGD.step" for e in prof.events())
    assert opt.steps == 3


@pytest.mark.parametrize("name", ["Adam/Adam", "SGD^3 paper"])
def test_fast_step_with_zero_gradient_entries(name: str) -> None:
    """An input feature that is always 0: its weights' gradients are exactly 0, so Adam's
    second moment is 0 there (the branch of the beta2 tangent that must give 0, not 0/0)."""
    fast_model, slow_model = _model(torch.float64), _model(torch.float64)
    fast = ht.from_spec(fast_model.parameters(), SPECS[name]())
    slow = _generic(ht.from_spec(slow_model.parameters(), SPECS[name]()))
    for x, y in _batches(6, torch.float64):
        x[:, 0] = 0.0
        _step(fast_model, fast, x, y)
        _step(slow_model, slow, x, y)
    assert bool((fast_model[0].weight.grad[:, 0] == 0).all())
    for p, q in zip(fast_model.parameters(), slow_model.parameters()):
        assert torch.equal(p, q)
    assert _same(fast.state_dict(), slow.state_dict())
    assert fast._fast.fast_steps == 6
