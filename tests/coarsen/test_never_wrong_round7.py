"""Round 7 of the red team's findings (each failed before its fix).

- H8: `scipy.special.xlogy(0, nan)` was 0.0 (SciPy: NaN): the NaN test is a comparison of its
  own (`y != y` inside a SymPy expression folds to False).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special

import coarsen

TARGETS = ("numpy", "cpu")


def xlogy_plain(x, y):
    return special.xlogy(x, y)


def xlogy_composed(x, y):
    return special.xlogy(x * 2.0, y + 1.0) + x


def xlogy_in_loop(x, y):
    s = 0.0
    for i in range(3):
        s = s + special.xlogy(x - i, y)
    return s


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn", [xlogy_plain, xlogy_composed, xlogy_in_loop])
def test_xlogy_is_nan_where_y_is_nan_even_at_x_zero(target, fn):
    cases = [(0.0, np.nan), (0.0, 2.0), (0.0, -1.0), (1.0, np.nan), (2.0, 3.0), (np.nan, 1.0),
             (0.0, 0.0), (0.0, np.inf), (-1.0, np.nan)]
    if fn is not xlogy_in_loop:
        cases.append((np.array([0.0, 0.0, 1.0, 0.0, -0.0]), np.array([np.nan, 2.0, 3.0, -1.0, np.nan])))
    compiled = coarsen.jit(fn, target=target)
    for x, y in cases:
        with np.errstate(all="ignore"):
            want = fn(x, y)
            got = compiled(x, y)
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0, equal_nan=True,
                                   err_msg=f"{fn.__name__}({x}, {y}) on {target}")


@pytest.mark.parametrize("target", TARGETS)
def test_xlogy_gradient_matches_torch_away_from_zero(target):
    g = coarsen.grad(xlogy_in_loop, argnums=(0, 1), target=target)(2.5, 3.0)
    x = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    sum(torch.xlogy(x - i, y) for i in range(3)).backward()
    np.testing.assert_allclose(g, (x.grad.item(), y.grad.item()), rtol=1e-12)
