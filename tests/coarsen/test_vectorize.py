"""np.vectorize (`coarsen.frontend.vectorize`): as a decorator and as a call, of defs and lambdas
with branches and math.*, several broadcast arguments, otypes; values (dtype included) equal to
NumPy's on every target, derivatives against central differences and torch; NumPy's result
dtype rule (the first element's call) refused where a join hides it, NumPy's size-0 error,
excluded/signature refused with a hint."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import coarsen
from derivative_checks import central_difference
from simulator import run_cuda_script

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]


@np.vectorize
def huber(r):
    if abs(r) <= 1.0:
        return 0.5 * r * r
    return abs(r) - 0.5


def huber_loss(w, X, y):
    """A robust regression loss as users write it: a scalar rule, vectorized."""
    return np.mean(huber(X @ w - y))


def huber_loss_torch(w, X, y):
    r = X @ w - y
    return torch.mean(torch.where(torch.abs(r) <= 1.0, 0.5 * r * r, torch.abs(r) - 0.5))


def two_args(x, y):
    g = np.vectorize(lambda a, b: math.sin(a) * b if a < b else a + math.exp(-b))
    return g(x, y[:, None])


def soft_step(x):
    def step(a, width=0.5):
        t = a / width
        if t < -1.0:
            return 0.0
        if t > 1.0:
            return 1.0
        return 0.5 + 0.75 * t - 0.25 * t ** 3
    return np.sum(np.vectorize(step)(x) * np.arange(x.size))


@pytest.mark.parametrize("target", TARGETS)
def test_values_and_derivatives(target):
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(12, 3)), rng.normal(size=12) * 2, rng.normal(size=3)
    vg = coarsen.value_and_grad(huber_loss, target=target)
    for _ in range(3 if target == "cpu" else 1):   # tiered: later calls run machine code
        w = rng.normal(size=3)
        value, g = vg(w, X, y)
        # (machine code's np.mean / matmul round differently from NumPy's in the last bits, the
        # same program without np.vectorize too; the elements are NumPy's: test_dtypes_...)
        assert value == pytest.approx(huber_loss(w, X, y), rel=1e-14)
        wt = torch.tensor(w, requires_grad=True)
        huber_loss_torch(wt, torch.tensor(X), torch.tensor(y)).backward()
        np.testing.assert_allclose(g, wt.grad.numpy(), rtol=1e-12, atol=1e-14)
        d = rng.normal(size=3)
        assert np.sum(g * d) == pytest.approx(central_difference(huber_loss, (w, X, y), 0, d), rel=1e-6)
        assert coarsen.jvp(huber_loss, (w, X, y), (d, np.zeros_like(X), np.zeros_like(y)),
                           target=target)[1] == pytest.approx(np.sum(g * d), rel=1e-12)
    x, yy = rng.normal(size=5), rng.normal(size=3)
    got = coarsen.jit(two_args, target=target)(x, yy)
    assert got.dtype == np.float64 and np.array_equal(got, two_args(x, yy))
    out, pull = coarsen.vjp(two_args, x, yy, target=target)
    ct = rng.normal(size=out.shape)
    gx, gy = pull(ct)
    fx = lambda a, b: np.sum(two_args(a, b) * ct)   # noqa: E731
    assert np.sum(gx * x) == pytest.approx(central_difference(fx, (x, yy), 0, x), rel=1e-6)
    assert np.sum(gy * yy) == pytest.approx(central_difference(fx, (x, yy), 1, yy), rel=1e-6)
    z = np.linspace(-1.0, 1.0, 9) + 0.01
    g = coarsen.grad(soft_step, target=target)(z)
    assert coarsen.jit(soft_step, target=target)(z) == soft_step(z)
    assert np.sum(g * z) == pytest.approx(central_difference(soft_step, (z,), 0, z), rel=1e-6)


def as_int(x):
    return np.vectorize(lambda a: a * 2.7, otypes=[int])(x)


def as_bool(x):
    return np.vectorize(lambda a: a > 0.0)(x)


def int_result(n):
    return np.vectorize(lambda k: k * 3 + 1)(n)


def tripled(x):
    return np.vectorize(lambda a: a * 3.0)(x)


def scalar_call(a, b):
    return np.vectorize(lambda u, v: u * v + 1.0)(a, b)


@pytest.mark.parametrize("target", TARGETS)
def test_dtypes_signed_zeros_and_scalars(target):
    x = np.array([[-1.5, 0.2, 3.9], [2.0, -0.0, 0.0]])
    for f, arg in ((as_int, x), (as_bool, x), (int_result, np.arange(6).reshape(2, 3)),
                   (scalar_call, (2.0, 3.0))):
        args = arg if isinstance(arg, tuple) else (arg,)
        got, want = coarsen.jit(f, target=target)(*args), f(*args)
        assert np.asarray(got).dtype == want.dtype and np.array_equal(got, want), f.__name__
    got, want = coarsen.jit(tripled, target=target)(x), tripled(x)
    assert np.array_equal(got, want)   # -0.0 stays -0.0: the broadcast keeps the zero's sign
    assert np.array_equal(np.signbit(got), np.signbit(want)) and np.signbit(got[1, 1])


def first_element_decides(x):
    return np.vectorize(lambda a: 1 if a > 0 else 2.5)(x)


def excluded(x):
    return np.vectorize(lambda a, b: a * b, excluded={1})(x, 2.0)


def with_signature(x):
    return np.vectorize(lambda a: a * 2.0, signature="()->()")(x)


def empty(x, otypes):
    if otypes:
        return np.vectorize(lambda a: a * 2.0, otypes=[float])(x)
    return np.vectorize(lambda a: a * 2.0)(x)


def huge(n):
    return np.vectorize(lambda k: k * 2 ** 52)(n)


@pytest.mark.parametrize("target", TARGETS)
def test_refusals_and_numpys_errors(target):
    x = np.array([-1.0, 2.0])
    for f, message in ((first_element_decides, "first element"), (excluded, "excluded="),
                       (with_signature, "signature=")):
        with pytest.raises(coarsen.UnsupportedError, match=message) as err:
            coarsen.jit(f, target=target)(x)
        assert f"{__file__}:{f.__code__.co_firstlineno + 1}:" in str(err.value) and "hint" in str(err.value)
    assert coarsen.jit(lambda a: np.vectorize(lambda v: 1 if v > 0 else 2.5, otypes=[float])(a),
                       target=target)(x).tolist() == [2.5, 1.0]
    with pytest.raises(ValueError, match="size 0 inputs unless `otypes` is set"):
        coarsen.jit(empty, target=target)(np.zeros(0), False)
    assert coarsen.jit(empty, target=target)(np.zeros(0), True).shape == (0,)
    assert np.array_equal(coarsen.jit(huge, target=target)(np.array([1, 2])), huge(np.array([1, 2])))
    with pytest.raises(coarsen.UnsupportedError, match="beyond 2\\*\\*53"):
        coarsen.jit(huge, target=target)(np.array([1, 4]))


CUDA_SCRIPT = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import numpy as np, coarsen
import test_vectorize as T
rng = np.random.default_rng(0)
X, y, w = rng.normal(size=(12, 3)), rng.normal(size=12) * 2, rng.normal(size=3)
v, g = coarsen.value_and_grad(T.huber_loss, target="cuda")(w, X, y)
rv, rg = coarsen.value_and_grad(T.huber_loss, target="numpy")(w, X, y)
assert np.isclose(v, rv, rtol=1e-13) and np.allclose(g, rg, rtol=1e-12), (v, rv, g, rg)
x, yy = rng.normal(size=5), rng.normal(size=3)
assert np.allclose(coarsen.jit(T.two_args, target="cuda")(x, yy), T.two_args(x, yy), rtol=1e-13)
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_vectorize_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
