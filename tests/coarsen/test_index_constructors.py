"""Index arrays made by NumPy's index constructors (np.triu_indices, np.tril_indices, their
`_from` forms, np.diag_indices) and index tuples held in a name (`iu = ...; r2[iu]`), as the
vectorised pairwise energies of molecular dynamics are written. The lengths come from an
argument's shape, so the trace is specialised to the shapes (each shape its own program).
Values against NumPy, gradients against torch and central differences."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]


def lennard_jones(x, sigma=1.0, eps=1.0):
    diff = x[:, None, :] - x[None, :, :]
    r2 = np.sum(diff ** 2, axis=-1)
    iu = np.triu_indices(x.shape[0], k=1)
    sr6 = (sigma ** 2 / r2[iu]) ** 3
    return np.sum(4 * eps * (sr6 ** 2 - sr6))


def lennard_jones_torch(x):
    diff = x[:, None, :] - x[None, :, :]
    r2 = torch.sum(diff ** 2, dim=-1)
    i, j = torch.triu_indices(x.shape[0], x.shape[0], 1)
    sr6 = (1.0 / r2[i, j]) ** 3
    return torch.sum(4 * (sr6 ** 2 - sr6))


def coulomb_pairs(x):
    i, j = np.triu_indices(len(x), 1)
    d = x[i] - x[j]
    return np.sum(1.0 / np.sqrt(np.sum(d * d, axis=1)))


def cholesky_like(a):
    off = a[np.tril_indices_from(a, -1)]
    return np.sum(off ** 2) + np.sum(np.log(a[np.diag_indices_from(a)] ** 2))


def masked_write(x):
    y = x * 1.0
    y[np.triu_indices(x.shape[0], 1)] = 0.0
    return np.sum(y * x)


def tuple_in_a_name(x):
    row = (1, Ellipsis)
    corner = (0, x.shape[1] - 1)
    return np.sum(x[row]) + 3.0 * x[corner]


def list_in_a_name(x):
    cols = [0, 2]
    return np.sum(x[cols] ** 2) + np.sum(x[1:, cols])   # NumPy: a list is an index array


def _central(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("target", TARGETS)
def test_vectorised_lennard_jones_against_torch(target):
    x = np.random.default_rng(0).normal(size=(6, 3)) * 2.0
    value, g = coarsen.value_and_grad(lennard_jones, target=target)(x)
    xt = torch.tensor(x, requires_grad=True)
    lennard_jones_torch(xt).backward()
    assert value == pytest.approx(lennard_jones(x), rel=1e-13)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f", [coulomb_pairs, cholesky_like, masked_write, tuple_in_a_name, list_in_a_name])
@pytest.mark.parametrize("target", TARGETS)
def test_index_constructors_against_numpy_and_differences(f, target):
    rng = np.random.default_rng(1)
    jf, gf = coarsen.jit(f, target=target), coarsen.grad(f, target=target)
    for shape in [(4, 4), (3, 3), (5, 5), (3, 3)]:   # a new shape is a new program, never a stale one
        x = rng.normal(size=shape) + 2.0 * np.eye(shape[0])
        assert jf(x) == pytest.approx(f(x), rel=1e-13)
        np.testing.assert_allclose(gf(x), _central(f, x), rtol=1e-6, atol=1e-8)


def test_a_length_known_only_from_data_is_refused_at_the_users_line():
    def f(x):
        return np.sum(x[np.triu_indices(int(x[0, 0]))])
    with pytest.raises(coarsen.UnsupportedError, match=r"test_index_constructors.py:\d+.*known when tracing"):
        coarsen.jit(f)(np.full((3, 3), 2.0))


def test_diag_indices_from_a_non_square_array_is_numpys_error():
    def f(x):
        return np.sum(x[np.diag_indices_from(x)])
    with pytest.raises(coarsen.CoarsenError, match="square"):
        coarsen.jit(f)(np.ones((2, 3)))
