"""Checks shared by the tests of differentiable library calls (np.linalg.lstsq/qr/eigh/svd,
scipy.stats.multivariate_normal, ...): a derivative against central differences and
torch.autograd, forward mode against the same differences, and the cuda target (in a fresh
process on the simulator, `simulator.run_cuda_script`) against the numpy target.

    from derivative_checks import TARGETS, calls, central_difference, central_gradient, ...

`calls(target)`: how many times to call a program per case. A tiered cpu program (COARSEN_TIERED=1)
serves its first calls from the NumPy tier and later ones from machine code, so cpu cases call
three times; numpy cases once.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pytest
import torch

import coarsen

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]


def calls(target: str) -> range:
    """The calls a case makes on `target` (see the module docstring)."""
    return range(3 if target == "cpu" else 1)


def central_difference(f: Callable, args: Sequence, k: int, direction, h: float = 1e-6):
    """(f(.., a_k + h d, ..) - f(.., a_k - h d, ..)) / 2h: the derivative of f in argument k along
    `direction`."""
    plus, minus = list(args), list(args)
    plus[k] = args[k] + h * direction
    minus[k] = args[k] - h * direction
    return (f(*plus) - f(*minus)) / (2 * h)


def central_gradient(f: Callable, args: Sequence, k: int, h: float = 1e-6):
    """The gradient of the scalar f in argument k (a number or a float array), one central
    difference per element."""
    if np.ndim(args[k]) == 0:
        return central_difference(f, args, k, 1.0, h)
    x = np.asarray(args[k], dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = 1.0
        g[idx] = central_difference(f, args, k, e, h)
    return g


def torch_gradients(f_torch: Callable, args: Sequence, argnums: Sequence[int]) -> list[np.ndarray]:
    """The gradients of the scalar `f_torch(*args as float64 tensors)` in `argnums`, by
    torch.autograd."""
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=k in argnums) for k, a in enumerate(args)]
    f_torch(*tensors).backward()
    return [tensors[k].grad.numpy() for k in argnums]


def check_against_torch(grads: Sequence, f_torch: Callable, args: Sequence, argnums: Sequence[int],
                        rtol: float = 1e-8, atol: float = 1e-10) -> None:
    """coarsen's gradients `grads` (one per argnum) equal torch.autograd's of `f_torch`."""
    for g, want in zip(grads, torch_gradients(f_torch, args, argnums), strict=True):
        np.testing.assert_allclose(g, want, rtol=rtol, atol=atol)


def check_against_differences(f: Callable, args: Sequence, argnums: Sequence[int], grads: Sequence,
                              target: str, rng: np.random.Generator,
                              rtol: float = 1e-6, atol: float = 1e-8) -> float:
    """Along a random direction in the arguments `argnums`: the reverse-mode gradients `grads`
    and coarsen's forward mode (`coarsen.jvp` on `target`) both equal the central difference of
    `f` (plain NumPy). Returns the forward-mode tangent."""
    directions = [rng.normal(size=np.shape(args[k])) for k in argnums]
    fd = sum(central_difference(f, args, k, d) for k, d in zip(argnums, directions))
    assert sum(np.sum(g * d) for g, d in zip(grads, directions, strict=True)) == pytest.approx(fd, rel=rtol, abs=atol)
    _, tangent = coarsen.jvp(f, tuple(args), tuple(directions), argnums=tuple(argnums), target=target)
    assert tangent == pytest.approx(fd, rel=rtol, abs=atol)
    return tangent


def same_on_cuda_as_on_numpy(f: Callable, args: Sequence, argnums: Sequence[int] = (0,), *,
                             rtol: float = 1e-13, grad_rtol: float = 1e-10, grad_atol: float = 1e-12,
                             jvp_rtol: float = 1e-10, rng: np.random.Generator | None = None) -> None:
    """For CUDA_SCRIPTs run by `simulator.run_cuda_script`: value, gradients (`argnums`) and a
    forward-mode tangent of `f` on the cuda target equal the numpy target's."""
    argnums = tuple(argnums)
    rng = np.random.default_rng(0) if rng is None else rng
    value, grads = coarsen.value_and_grad(f, argnums=argnums, target="cuda")(*args)
    want, want_grads = coarsen.value_and_grad(f, argnums=argnums, target="numpy")(*args)
    if len(argnums) == 1:
        grads, want_grads = (grads,), (want_grads,)
    assert np.isclose(value, want, rtol=rtol), (f.__name__, value, want)
    for g, w in zip(grads, want_grads, strict=True):
        assert np.allclose(g, w, rtol=grad_rtol, atol=grad_atol), (f.__name__, g, w)
    tangents = tuple(rng.normal(size=np.shape(args[k])) for k in argnums)
    got = coarsen.jvp(f, args, tangents, argnums=argnums, target="cuda")[1]
    ref = coarsen.jvp(f, args, tangents, argnums=argnums, target="numpy")[1]
    assert np.isclose(got, ref, rtol=jvp_rtol), (f.__name__, got, ref)


def refused(call: Callable[[], object], message: str) -> None:
    """`call()` raises coarsen.UnsupportedError whose text contains `message` (for CUDA_SCRIPTs,
    which run without pytest.raises' reporting)."""
    try:
        call()
    except coarsen.UnsupportedError as err:
        assert message in str(err), str(err)
        return
    raise AssertionError(f"not refused (expected {message!r})")
