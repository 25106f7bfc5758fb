"""Reductions of a boolean-mask selection over the rows it picks, `X[labels == k].mean(axis=0)`
(Lloyd's k-means step, class-conditional means): NumPy's values over the selected rows only,
gradients against torch (which indexes by masks too) and central differences. Along another
axis the result's length is the count of selected rows, known only when running: refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]


def lloyd_step(X, C):
    d2 = np.sum((X[:, None, :] - C[None, :, :]) ** 2, axis=2)
    labels = d2.argmin(axis=1)
    new = np.zeros_like(C)
    for k in range(C.shape[0]):
        mask = labels == k
        new[k] = X[mask].mean(axis=0) if mask.sum() > 0 else C[k]
    return np.sum((new - C) ** 2)


def lloyd_step_torch(X, C):
    d2 = torch.sum((X[:, None, :] - C[None, :, :]) ** 2, dim=2)
    labels = d2.argmin(dim=1)
    rows = []
    for k in range(C.shape[0]):
        mask = labels == k
        rows.append(X[mask].mean(dim=0) if mask.sum() > 0 else C[k])
    return torch.sum((torch.stack(rows) - C) ** 2)


def row_reductions(X):
    m = X[:, 0] > 0
    return (np.sum(X[m].max(axis=0)) + np.sum(np.min(X[m], axis=0) * 2.0)
            + np.sum(np.sum(X[m], 0) ** 2) + np.mean(X[m], axis=-2)[1])


def row_reductions_torch(X):
    s = X[X[:, 0] > 0]
    return (torch.sum(s.max(dim=0).values) + torch.sum(s.min(dim=0).values * 2.0)
            + torch.sum(torch.sum(s, 0) ** 2) + torch.mean(s, dim=-2)[1])


def plane_mask(T):
    m = T[:, :, 0] > 0.0      # a 2-D mask over a 3-D array: the selection is (count, 3)
    return np.sum(T[m].mean(axis=0) * np.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("target", TARGETS)
def test_lloyd_step_against_torch(target):
    rng = np.random.default_rng(0)
    X, C = rng.normal(size=(40, 2)), rng.normal(size=(3, 2))
    value, (gx, gc) = coarsen.value_and_grad(lloyd_step, argnums=(0, 1), target=target)(X, C)
    xt, ct = torch.tensor(X, requires_grad=True), torch.tensor(C, requires_grad=True)
    lloyd_step_torch(xt, ct).backward()
    assert value == pytest.approx(lloyd_step(X, C), rel=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gc, ct.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_max_min_sum_mean_over_selected_rows(target):
    X = np.random.default_rng(1).normal(size=(25, 3))
    value, g = coarsen.value_and_grad(row_reductions, target=target)(X)
    xt = torch.tensor(X, requires_grad=True)
    row_reductions_torch(xt).backward()
    assert value == pytest.approx(row_reductions(X), rel=1e-12)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    T = np.random.default_rng(2).normal(size=(4, 5, 3))
    assert coarsen.jit(plane_mask, target=target)(T) == pytest.approx(plane_mask(T), rel=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_nothing_selected_is_numpys_answer(target):
    def mean_rows(X):
        return X[X[:, 0] > 10.0].mean(axis=0)

    def max_rows(X):
        return np.sum(X[X[:, 0] > 10.0].max(axis=0))
    X = np.ones((4, 2))
    with np.errstate(all="ignore"):
        assert np.isnan(coarsen.jit(mean_rows, target=target)(X)).all()   # NumPy: nan, RuntimeWarning
    with pytest.raises(ValueError, match="zero-size array"):
        coarsen.jit(max_rows, target=target)(X)


@pytest.mark.parametrize("call, words", [
    ("X[m].sum(axis=1)", "one entry per selected row"),
    ("X[m].sum(axis=0, keepdims=True)", "no keepdims"),
    ("np.mean(X[m], axis=2)", "out of bounds"),
])
def test_other_axes_and_arguments_are_refused(tmp_path, monkeypatch, call, words):
    (tmp_path / "masked_user.py").write_text(
        f"import numpy as np\n\ndef f(X):\n    m = X[:, 0] > 0\n    return np.sum({call})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    import masked_user
    importlib.reload(masked_user)
    with pytest.raises(coarsen.CoarsenError, match=rf"masked_user.py:5:\d+.*{words}"):
        coarsen.jit(masked_user.f)(np.ones((3, 2)))
