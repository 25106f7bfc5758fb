"""Second derivatives of np.prod and np.cumprod (Hessians, jacfwd(grad), grad of grad) against
torch's double backward, exact at zeros: the division-free sweeps `cumprod_jvp_grad` (reverse
over forward) and `cumprod_jvp2` (forward over forward) of `kernels.scans`, compiled for cpu by
`kernels.numba_special`."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen

torch.set_num_threads(1)


def product(x):
    return np.prod(x)


def product_of_rows(m):
    return np.sum(np.prod(m, axis=1) ** 2)


def cumulative(x):
    return np.sum(np.cumprod(x) * np.arange(1.0, x.shape[0] + 1.0))


def cumulative_columns(m):
    return np.sum(np.cumprod(m, axis=0) ** 2)


_TORCH = {
    product: lambda x: torch.prod(x),
    product_of_rows: lambda m: torch.sum(torch.prod(m, dim=1) ** 2),
    cumulative: lambda x: torch.sum(torch.cumprod(x, 0) * torch.arange(1.0, x.shape[0] + 1.0, dtype=torch.float64)),
    cumulative_columns: lambda m: torch.sum(torch.cumprod(m, dim=0) ** 2),
}

_POINTS = [np.array([1.5, 2.0, -0.5, 0.7]), np.array([1.5, 0.0, -0.5, 2.0]), np.array([0.0, 0.0, 3.0, 1.0])]
_MATRICES = [np.array([[1.5, 2.0, -0.5], [0.3, 0.0, 1.2]]), np.array([[0.0, 0.0, 1.0], [2.0, -1.0, 0.5]])]
_CASES = ([(product, x) for x in _POINTS] + [(cumulative, x) for x in _POINTS]
          + [(product_of_rows, m) for m in _MATRICES] + [(cumulative_columns, m) for m in _MATRICES])


def _torch_hessian(fn, x):
    h = torch.autograd.functional.hessian(_TORCH[fn], torch.tensor(x, dtype=torch.float64))
    return h.numpy()


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", range(len(_CASES)), ids=[f"{f.__name__}-{k}" for k, (f, _) in enumerate(_CASES)])
def test_hessians_against_torch(case, target, monkeypatch):
    monkeypatch.setenv("COARSEN_TIERED", "0")   # the machine code itself on cpu
    fn, x = _CASES[case]
    want = _torch_hessian(fn, x)
    np.testing.assert_allclose(coarsen.hessian(fn, target=target)(x), want, rtol=1e-12, atol=1e-12)
    if x.ndim == 1:
        np.testing.assert_allclose(coarsen.jacfwd(coarsen.grad(fn, target=target), target=target)(x), want,
                                   rtol=1e-12, atol=1e-12)


def test_a_third_derivative_is_refused():
    def third(x):
        return coarsen.hessian(product)(x)[0, 1]
    with pytest.raises(coarsen.UnsupportedError, match="third derivative"):
        coarsen.grad(third, target="numpy")(np.array([1.0, 2.0, 3.0]))
