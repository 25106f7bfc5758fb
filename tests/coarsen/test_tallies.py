"""math.fsum, np.bincount, np.digitize (`coarsen.ops.tallies`): values equal to math's / NumPy's
on every target (fsum exactly: not a plain sum, which differs in the last bits), their errors,
and derivatives (fsum's ones, bincount's in the weights) against central differences and torch."""
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


def exact_total(v):
    return math.fsum(v)


def exact_of_list(v):
    return math.fsum([v[0], v[1] * 2.0, 1e-20, -v[0]])


def _spread(rng, n):
    """Numbers of very different sizes: their plain sum rounds (fsum does not)."""
    return rng.normal(size=n) * 10.0 ** rng.integers(-12, 12, size=n)


@pytest.mark.parametrize("target", TARGETS)
def test_fsum_is_maths_own(target):
    rng = np.random.default_rng(0)
    f, g = coarsen.jit(exact_total, target=target), coarsen.jit(exact_of_list, target=target)
    differs = 0
    for _ in range(5):
        x = _spread(rng, 40)
        assert f(x) == math.fsum(x) and g(x) == exact_of_list(x)
        differs += f(x) != np.sum(x)
    assert differs   # the data tell fsum from a plain sum
    assert coarsen.jit(exact_total, target=target)(np.arange(5)) == 10.0
    np.testing.assert_array_equal(coarsen.grad(exact_total, target=target)(x), np.ones(40))
    np.testing.assert_array_equal(coarsen.grad(exact_of_list, target=target)(x)[:3], [0.0, 2.0, 0.0])
    assert coarsen.jvp(exact_total, (x,), (np.arange(40.0),), target=target)[1] == np.sum(np.arange(40.0))
    with pytest.raises(ValueError, match="-inf \\+ inf in fsum"):
        f(np.array([np.inf, -np.inf]))
    with pytest.raises(OverflowError, match="intermediate overflow"):
        f(np.array([1e308, 1e308]))


def class_totals(scores, labels):
    """Per-class sums of squared scores, as users write a group-by."""
    return np.bincount(labels, weights=scores ** 2, minlength=6)


def class_loss(scores, labels):
    totals = class_totals(scores, labels)
    counts = np.bincount(labels, minlength=6)
    return np.sum(totals * np.arange(1.0, 7.0) / np.maximum(counts, 1))


def class_loss_torch(scores, labels):
    totals = torch.zeros(6, dtype=torch.float64).index_add(0, labels, scores ** 2)
    counts = torch.bincount(labels, minlength=6)
    return torch.sum(totals * torch.arange(1.0, 7.0, dtype=torch.float64) / torch.clamp(counts, min=1))


@pytest.mark.parametrize("target", TARGETS)
def test_bincount(target):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, size=30)
    for _ in range(3 if target == "cpu" else 1):
        scores = rng.normal(size=30)
        got, want = coarsen.jit(class_totals, target=target)(scores, labels), class_totals(scores, labels)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        counts = coarsen.jit(lambda x: np.bincount(x), target=target)(labels)
        assert counts.dtype == np.int64 and np.array_equal(counts, np.bincount(labels))
        value, g = coarsen.value_and_grad(class_loss, target=target)(scores, labels)
        assert value == pytest.approx(class_loss(scores, labels), rel=1e-13)
        st = torch.tensor(scores, requires_grad=True)
        class_loss_torch(st, torch.tensor(labels)).backward()
        np.testing.assert_allclose(g, st.grad.numpy(), rtol=1e-12)
        T = rng.normal(size=30)
        fd = central_difference(class_loss, (scores, labels), 0, T)
        assert np.sum(g * T) == pytest.approx(fd, rel=1e-6)
        assert coarsen.jvp(lambda s: class_loss(s, labels), (scores,), (T,), target=target)[1] == \
            pytest.approx(fd, rel=1e-6)
    assert np.array_equal(coarsen.jit(lambda x: np.bincount(x), target=target)(np.zeros(0, dtype=int)),
                          np.bincount(np.zeros(0, dtype=int)))
    for bad, message in ((np.array([1, -1]), "no negative elements"),):
        with pytest.raises(ValueError, match=message):
            coarsen.jit(lambda x: np.bincount(x), target=target)(bad)
    with pytest.raises(ValueError, match="same length"):
        coarsen.jit(class_totals, target=target)(np.ones(3), labels)
    with pytest.raises(coarsen.CoarsenTypeError, match="Cannot cast"):
        coarsen.jit(lambda x: np.bincount(x), target=target)(np.ones(3))


def bucket(x, bins):
    return np.digitize(x, bins)


def bucket_right(x, bins):
    return np.digitize(x, bins, right=True)


@pytest.mark.parametrize("target", TARGETS)
def test_digitize(target):
    x = np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 3.0, 7.0, np.nan, -np.inf])
    for bins in (np.array([-1.0, 0.0, 1.0, 1.0, 3.0]), np.array([5.0, 0.0, -2.0]), np.array([2.0]), np.zeros(0)):
        for f in (bucket, bucket_right):
            got, want = coarsen.jit(f, target=target)(x, bins), f(x, bins)
            assert got.dtype == want.dtype and np.array_equal(got, want), (f.__name__, bins)
    with pytest.raises(ValueError, match="monotonically"):
        coarsen.jit(bucket, target=target)(x, np.array([1.0, 0.0, 2.0]))


CUDA_SCRIPT = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import math
import numpy as np, coarsen
import test_tallies as T
rng = np.random.default_rng(0)
x = T._spread(rng, 30)
assert coarsen.jit(T.exact_total, target="cuda")(x) == math.fsum(x)
labels = rng.integers(0, 5, size=30)
s = rng.normal(size=30)
v, g = coarsen.value_and_grad(T.class_loss, target="cuda")(s, labels)
rv, rg = coarsen.value_and_grad(T.class_loss, target="numpy")(s, labels)
assert np.isclose(v, rv, rtol=1e-13) and np.allclose(g, rg, rtol=1e-12)
bins = np.array([-1.0, 0.0, 1.0])
assert np.array_equal(coarsen.jit(T.bucket, target="cuda")(x, bins), T.bucket(x, bins))
print("ok")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_tallies_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
