"""Red team round 13 (hunt13): each test fails on the commit before its fix."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen

TARGETS = ["numpy", "cpu"]
X = np.array([0.3, 1.2, 2.0])


def add_at_list(x):
    y = np.zeros(3)
    np.add.at(y, [0, 0, 1], x[:3])
    return y


def add_at_held_tuple(x):
    y = np.zeros((2, 3))
    idx = ([0, 1, 1], [2, 2, 0])
    np.add.at(y, idx, x[:3])
    return y


def add_at_runtime_ints(x):
    y = np.zeros(3)
    k = int(x[0] > 0)
    np.add.at(y, [k, k, 0], x[:3])
    return y


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("program", [add_at_list, add_at_held_tuple, add_at_runtime_ints],
                         ids=lambda p: p.__name__)
def test_add_at_with_a_list_of_ints_is_an_index_array(program, target):   # H13-L2
    compiled = coarsen.jit(program, target=target)
    for _ in range(3):
        np.testing.assert_array_equal(compiled(X), program(X))
    t = torch.tensor(X, requires_grad=True)
    want = torch.zeros(3).double().index_add(0, torch.tensor([0, 0, 1]), t * 1.0)
    torch.sum(want ** 2).backward()
    grad = coarsen.grad(lambda x: np.sum(add_at_list(x) ** 2), target=target)(X)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12)
