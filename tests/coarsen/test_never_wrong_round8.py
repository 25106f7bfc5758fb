"""What red-team round 8 found (each failed before its fix). Values against NumPy/Python,
gradients against torch.autograd and central differences, on the numpy and cpu targets.

- Loops whose backward replays a tape (while, for with break or with a branch on data) taped
  a module-level array constant and rebound its name when popping: the generated function
  then raised UnboundLocalError on a generated name (power iteration, Newton, fixed point
  with a global matrix: a very common pattern).
- A program reading a module-level dict wrote a disk-cache entry that its own loader rejected
  as corrupt, with a warning in every later process."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen

TARGETS = ("numpy", "cpu")
torch.set_num_threads(1)

A0 = np.array([[3.0, 1.0], [1.0, 2.0]]) * 0.2
C0 = np.array([0.5, 2.0])


def power_iteration(b):
    x = np.zeros(2)
    i = 0
    while i < 3:
        x = A0 @ x + b
        i += 1
    return np.sum(x)


def fixed_point(b):
    x = 1.0
    i = 0
    while i < 3:
        x = np.sum(C0 * b) * x + 1.0
        i += 1
    return x


def until_large(b):
    x = np.zeros(2)
    for _ in range(30):
        x = A0 @ x + b
        if np.sum(x) > 10:
            break
    return np.sum(x)


def branch_on_data(x):
    s = 0.0
    for i in range(3):
        if x[i % 2] > 0.5 * i:
            s += np.sum(C0 * x) * s + 1
        else:
            s += np.sum(A0 @ x)
    return s


def rows_until(X):
    s = 0.0
    for row in X:
        s += np.sum(row * C0) ** 2
        if s > 100:
            break
    return s


def _torch_branch_on_data(x):   # torch's `s += ...` would write into a tensor autograd needs
    s = 0.0
    for i in range(3):
        if x[i % 2] > 0.5 * i:
            s = s + torch.sum(torch.tensor(C0) * x) * s + 1
        else:
            s = s + torch.sum(torch.tensor(A0) @ x)
    return s


def _torch_rows_until(X):
    s = 0.0
    for row in X:
        s = s + torch.sum(row * torch.tensor(C0)) ** 2
        if s > 100:
            break
    return s


TWINS = {branch_on_data: _torch_branch_on_data, rows_until: _torch_rows_until}


def _torch(fn, x):
    """The program run by torch: its globals as tensors, the same Python control flow."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f = TWINS.get(fn) or (lambda v: _run_torch(fn, v))
    f(t).backward()
    return t.grad.numpy()


class _TorchNumpy:
    zeros = staticmethod(lambda n: torch.zeros(n, dtype=torch.float64))
    sum = staticmethod(torch.sum)


def _fd(fn, x, h=1e-6):
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[k] += h
        xm[k] -= h
        g[k] = (fn(xp) - fn(xm)) / (2 * h)
    return g


CASES = [(power_iteration, np.array([1.0, 2.0])), (fixed_point, np.array([0.1, 0.2])),
         (until_large, np.array([1.0, 2.0])), (branch_on_data, np.array([1.2, 2.0])),
         (rows_until, np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 4.0]]))]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn,x", CASES, ids=[f.__name__ for f, _ in CASES])
def test_taped_loops_reading_a_module_level_array(fn, x, target):
    value, g = coarsen.value_and_grad(fn, target=target)(x)
    assert value == pytest.approx(fn(x), rel=1e-13)
    np.testing.assert_allclose(g, _torch(fn, x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, _fd(fn, x), rtol=1e-6, atol=1e-6)


def test_second_derivatives_and_vmap_of_such_a_loop():
    b = np.array([1.0, 2.0])
    h = coarsen.hessian(fixed_point, target="numpy")(b)
    t = torch.tensor(b, dtype=torch.float64)
    ref = torch.autograd.functional.hessian(
        lambda v: _run_torch(fixed_point, v), t).numpy()
    np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-12)
    batch = np.array([[1.0, 2.0], [0.5, 0.25], [-1.0, 3.0]])
    per_row = coarsen.vmap(coarsen.grad(power_iteration), target="numpy")(batch)
    np.testing.assert_allclose(per_row, [_torch(power_iteration, r) for r in batch], rtol=1e-12)


def _run_torch(fn, t):
    g = dict(fn.__globals__, np=_TorchNumpy, A0=torch.tensor(A0), C0=torch.tensor(C0))
    return type(fn)(fn.__code__, g)(t)


CONFIG_PROGRAM = '''
import warnings
import coarsen
P = {"a": %r, "b": {"c": 3.0}}
def f(x):
    return P["a"] * x + P["b"]["c"]
with warnings.catch_warnings():
    warnings.simplefilter("error")   # "ignoring the corrupt cache entry" would fail here
    print(coarsen.grad(f, target="numpy")(1.0), coarsen.jit(f, target="numpy")(1.0))
'''


@pytest.mark.slow
def test_a_module_level_dict_read_is_cached_on_disk_and_its_edits_are_seen(tmp_path):
    """Programs reading a module-level dict wrote disk entries their own loader rejected as
    corrupt (the path step "key"), warning in every later process."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path / "cache"))

    def run(a: float) -> str:
        script = tmp_path / "m.py"
        script.write_text(CONFIG_PROGRAM % a)
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert run(2.0) == ["2.0", "5.0"]
    assert run(2.0) == ["2.0", "5.0"]   # from the disk entry, without a warning
    assert run(4.0) == ["4.0", "7.0"]   # another value in the dict: another program
