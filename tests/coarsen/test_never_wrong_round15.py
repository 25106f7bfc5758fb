"""Never silently wrong, round 15 (lead, hunt15): programs that were wrong or crashed before their fix, and their neighbours."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen

TARGETS = ["numpy", "cpu"]
X = np.array([0.3, -1.2, 2.0])
W = np.array([[0.5, -0.25]])


def central(f, x, h=1e-6):
    g = np.zeros_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e.flat[k] = h
        g.flat[k] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# a segment whose expression lost a leaf (`x * 0.0` is 0) still has that leaf's broadcast
# shape; recomputed in a loop's backward, it read a loop invariant the forward had dropped
def where_in_loop(x):
    s = 0.0
    for i in range(3):
        s = s + np.sum(np.where(True, 0.0, x * 0.0) + x * x)
    return s


def where_in_while(x):
    s = 0.0
    i = 0
    while i < 3:
        s = s + np.sum(np.where(True, 0.0, x * 0.0) + x * x)
        i += 1
    return s


def lost_leaf_sets_the_shape(x):
    s = 0.0
    for i in range(2):
        s = s + np.sum((x[:, None] * W * 0.0 + x[:, None]) ** 2)   # shape (3, 2): twice the sum
    return s


def lost_leaf_in_a_branch(x):
    s = 0.0
    for i in range(4):
        if i % 2 == 0:
            s = s + np.sum(x * 0.0 + np.sin(x))
        else:
            s = s + np.sum(x * x)
    return s


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("program", [where_in_loop, where_in_while, lost_leaf_sets_the_shape,
                                     lost_leaf_in_a_branch], ids=lambda p: p.__name__)
def test_backward_recompute_reads_the_leaves_that_set_a_shape(program, target):
    grad = coarsen.grad(program, target=target)
    for scale in (1.0, -0.5):
        x = X * scale
        np.testing.assert_allclose(grad(x), central(program, x), rtol=1e-6, atol=1e-8)
    t = torch.tensor(X, requires_grad=True)
    if program is lost_leaf_sets_the_shape:
        want = 2 * torch.sum((t[:, None] * torch.tensor(W) * 0.0 + t[:, None]) ** 2)
        want.backward()
        np.testing.assert_allclose(grad(X), t.grad.numpy(), rtol=1e-12)
