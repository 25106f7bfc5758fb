"""hyperopt.torch as a drop-in for torch.optim: ``lr=``, ``group["lr"]``, lr schedulers, copies,
and checkpoints that check the whole configuration (trust and the update rule included)."""
from __future__ import annotations

import copy
import io

import pytest
import torch

import hyperopt.torch as ht
from hyperopt_helpers import TorchMLP, mlp_batches, mlp_params


def _step(model: TorchMLP, opt: torch.optim.Optimizer, batch: tuple) -> None:
    opt.zero_grad()
    model.loss(*batch).backward()
    opt.step()


def test_lr_is_the_bottom_step_size() -> None:
    model = TorchMLP(mlp_params())
    opt = ht.SGD(model.parameters(), lr=0.1, optimizer=ht.SGD(lr=1e-3))
    assert opt.hyperparameters()[0]["alpha"] == pytest.approx(0.1)
    assert opt.hyperparameters()[1]["alpha"] == pytest.approx(1e-3)
    assert ht.SGD(model.parameters(), lr=0.1).spec.initial == ht.SGD(model.parameters(),
                                                                     0.1).spec.initial
    with pytest.raises(TypeError, match="given twice"):
        ht.SGD(model.parameters(), 0.1, lr=0.1)
    with pytest.raises(TypeError, match="given twice"):
        ht.Adam(model.parameters(), alpha=0.1, lr=0.1)


def test_param_groups_show_the_learned_lr() -> None:
    model = TorchMLP(mlp_params())
    opt = ht.SGD([{"params": model.hidden.parameters()}, {"params": model.out.parameters()}],
                 lr=0.05, optimizer=ht.SGD(1e-2))
    for batch in mlp_batches(6):
        _step(model, opt, batch)
        learned = opt.hyperparameters()[0]["alpha"]
        assert [g["lr"] for g in opt.param_groups] == [learned, learned]
    assert learned != pytest.approx(0.05)  # it was learned, and the view followed it


def test_step_lr_scales_the_learned_step_size() -> None:
    model = TorchMLP(mlp_params())
    opt = ht.SGD(model.parameters(), lr=0.05, optimizer=ht.SGD(1e-2))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    for t, batch in enumerate(mlp_batches(9)):
        _step(model, opt, batch)
        before = opt.hyperparameters()[0]["alpha"]
        sched.step()
        after = opt.hyperparameters()[0]["alpha"]
        factor = 0.5 if (t + 1) % 3 == 0 else 1.0
        assert after == pytest.approx(factor * before, rel=1e-12)
        assert opt.param_groups[0]["lr"] == after


def test_schedulers_that_cannot_apply_fail_clearly() -> None:
    model = TorchMLP(mlp_params())
    fixed = ht.SGD(model.parameters(), lr=0.05)  # height 1: nothing learned to scale
    sched = torch.optim.lr_scheduler.StepLR(fixed, step_size=1, gamma=0.5)
    _step(model, fixed, mlp_batches(1)[0])
    with pytest.raises(RuntimeError, match="does not learn its step size"):
        sched.step()
    per_tensor = ht.SGD([{"params": model.parameters()}], lr=0.05, per_param=True,
                        optimizer=ht.SGD(1e-2))
    with pytest.raises(KeyError, match="no single step size"):
        torch.optim.lr_scheduler.StepLR(per_tensor, step_size=1)
    groups = ht.SGD([{"params": model.hidden.parameters()}, {"params": model.out.parameters()}],
                    lr=0.05, optimizer=ht.SGD(1e-2))
    sched = torch.optim.lr_scheduler.LambdaLR(groups, [lambda e: 1.0, lambda e: 0.5])
    _step(model, groups, mlp_batches(1)[0])
    with pytest.raises(ValueError, match="share one learned step size"):
        sched.step()
    log = ht.SGD(model.parameters(), lr=0.05, optimizer=ht.SGD(1e-2))
    with pytest.raises(ValueError, match="must be > 0"):
        log.param_groups[0]["lr"] = -1.0


def test_per_param_groups_of_one_tensor_have_their_own_lr() -> None:
    model = TorchMLP(mlp_params())
    opt = ht.SGD([{"params": [p]} for p in model.parameters()], lr=0.05, per_param=True,
                 optimizer=ht.SGD(1e-2))
    for batch in mlp_batches(4):
        _step(model, opt, batch)
    learned = list(opt.hyperparameters()[0]["alpha"].values())
    assert [g["lr"] for g in opt.param_groups] == learned
    opt.param_groups[2]["lr"] = 0.25
    assert list(opt.hyperparameters()[0]["alpha"].values())[2] == pytest.approx(0.25)


def test_deepcopy_is_an_optimizer() -> None:
    model = TorchMLP(mlp_params())
    opt = ht.SGD(model.parameters(), lr=0.05, optimizer=ht.SGD(1e-2))
    twin = copy.deepcopy(opt)
    assert isinstance(twin, ht.SGD)
    twin.param_groups[0]["lr"] = 0.5
    assert twin.hyperparameters()[0]["alpha"] == pytest.approx(0.5)
    assert opt.hyperparameters()[0]["alpha"] == pytest.approx(0.05)


@pytest.mark.parametrize("other", [
    lambda ps: ht.SGD(ps, lr=0.05, optimizer=ht.SGD(1e-2, trust=None)),
    lambda ps: ht.SGD(ps, lr=0.05, update="paper", optimizer=ht.SGD(1e-2, update="paper")),
    lambda ps: ht.SGD(ps, lr=0.05, on_nonfinite="skip", optimizer=ht.SGD(1e-2)),
], ids=["trust", "update", "on_nonfinite"])
def test_checkpoint_checks_the_whole_configuration(other) -> None:
    model = TorchMLP(mlp_params())
    opt = ht.SGD(model.parameters(), lr=0.05, optimizer=ht.SGD(1e-2))
    _step(model, opt, mlp_batches(1)[0])
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    with pytest.raises(ValueError, match="level 1 (trust|update)|level 0 on_nonfinite"):
        other(model.parameters()).load_state_dict(saved)
    same = ht.SGD(model.parameters(), lr=0.05, optimizer=ht.SGD(1e-2))
    same.load_state_dict(saved)
    assert same.hyperparameters() == opt.hyperparameters()
    assert same.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    old = copy.deepcopy(saved)
    old["hyperopt"]["format"] = 1
    with pytest.raises(ValueError, match="did not record trust"):
        same.load_state_dict(old)


def test_zero_grad_behaves_as_torch_optims_with_and_without_a_profiler():
    # hyperopt's zero_grad skips torch.optim's profiler label when no profiler is on: the
    # gradients must end as torch.optim leaves them in every mode
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = ht.SGD(model.parameters(), lr=0.1, optimizer=ht.SGD(1e-3))
    x = torch.randn(4, 3)

    def backward() -> None:
        model(x).sum().backward()
    backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    backward()
    with torch.autograd.profiler.profile() as prof:
        opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert any("zero_grad" in e.name for e in prof.function_events)   # torch.optim's own path
