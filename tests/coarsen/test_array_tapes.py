"""Loop tapes whose records hold float64 arrays (`codegen.forward.TapeLayout`): in a counted
loop the arrays of each record are copied into one arena per tape and popped as views, their
shapes kept in an int64 table; a record with more than `ARENA_RECORD_LIMIT` numbers keeps its
arrays on a list, and a while loop keeps a list tape. Gradients against torch.autograd and
central differences (along a random direction) on both targets, for loops that run zero
times, leave early, nest, write records of changing shape (growing past the arena's first
size, and past the limit within one call), rank-2 records, and one compiled function called
with several sizes in turn."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen
from coarsen.codegen.forward import ARENA_RECORD_LIMIT

torch.set_num_threads(1)


def cell_steps(x, w, n):
    """LSTM-like: small arrays per step whose tanh/exp the backward reads."""
    h = x
    total = 0.0
    for t in range(n):
        g = np.tanh(h * w + 0.1 * t)
        c = 1.0 / (1.0 + np.exp(-g))
        h = c * g
        total = total + np.sum(h * h)
    return total


def growing(x, n):
    """Each step's record is one element longer than the last."""
    s = 0.0
    for i in range(n):
        v = np.sin(x[: i + 1] + 0.01 * s)
        s = s + np.sum(v * v) * 0.01
    return s


def shrinking(x, n):
    s = 0.0
    for i in range(n):
        v = np.cos(x[i:] * (0.5 + s))
        s = s + np.sum(v) * 0.01
    return s


def matrix_steps(a, n):
    """Rank-2 records."""
    m = a
    s = 0.0
    for t in range(n):
        m = np.tanh(m * 0.9 + 0.1)
        s = s + np.sum(m * a)
    return s


def early_exit(x, n):
    s = 0.0
    for i in range(n):
        v = np.tanh(x * (i + 1.0))
        s = s + np.sum(v * v)
        if s > 3.0:
            break
    return s


def while_steps(x):
    s = 0.0
    k = 0
    while s < 2.0 and k < 50:
        v = np.tanh(x * (k + 1.0))
        s = s + np.sum(v * v) * 0.1
        k += 1
    return s


def nested(x, w, n, m):
    h = x
    s = 0.0
    for t in range(n):
        for j in range(m):
            h = np.tanh(h * w[j] + 0.1 * t)
        s = s + np.sum(h * h)
    return s


def carried_int(x, n):
    """Records of an int the loop carries and an array whose length it sets."""
    s = 0.0
    j = 0
    for i in range(n):
        j = (j * 3 + 1) % x.shape[0]
        v = np.tanh(x[j:] * (s + 1.0))
        s = s + np.sum(v * v) * 0.1
    return s


def branch_in_loop(x, n):
    """A branch's records in a loop whose trips bound them (the arena), and those of a loop
    inside the branch (a list)."""
    s = 0.0
    for i in range(n):
        if s < 1.0:
            for k in range(2):   # a loop in the branch keeps it control flow
                v = np.tanh(x * (s + k + 1.0))
                s = s + np.sum(v * v) * 0.1
        else:
            s = s + np.sum(np.tanh(x * s)) * 0.01
    return s


class _TorchNumpy:   # the programs' numpy calls, spelled for torch
    sum = staticmethod(torch.sum)
    tanh = staticmethod(torch.tanh)
    sin = staticmethod(torch.sin)
    cos = staticmethod(torch.cos)
    exp = staticmethod(torch.exp)


def _torch_grad(f, args, wrt):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=i == wrt) if isinstance(a, np.ndarray) else a
          for i, a in enumerate(args)]
    fn = type(f)(f.__code__, dict(f.__globals__, np=_TorchNumpy))
    out = fn(*ts)
    if not torch.is_tensor(out) or not out.requires_grad:
        return np.zeros_like(args[wrt])
    out.backward()
    return ts[wrt].grad.numpy()


def _central(f, args, wrt, direction, eps=1e-6):
    def at(t):
        moved = list(args)
        moved[wrt] = args[wrt] + t * direction
        return f(*moved)
    return (at(eps) - at(-eps)) / (2 * eps)


def _check(g, f, args, wrt):
    got = g(*args)
    np.testing.assert_allclose(got, _torch_grad(f, args, wrt), rtol=1e-9, atol=1e-12)
    u = np.random.default_rng(7).normal(size=np.shape(args[wrt]))
    scale = max(1.0, abs(float(np.sum(got * u))))
    assert abs(float(np.sum(got * u)) - _central(f, args, wrt, u)) <= 1e-6 * scale


rng = np.random.default_rng(11)
CASES = [
    ("cells", cell_steps, (rng.normal(size=5), rng.normal(size=5), 6), 1),
    ("cells, zero trips", cell_steps, (rng.normal(size=5), rng.normal(size=5), 0), 0),
    ("growing", growing, (rng.normal(size=12), 12), 0),
    ("shrinking", shrinking, (rng.normal(size=9), 9), 0),
    ("rank 2", matrix_steps, (rng.normal(size=(3, 4)), 5), 0),
    ("rank 4", matrix_steps, (rng.normal(size=(2, 3, 1, 2)), 3), 0),
    ("rank 2, transposed", matrix_steps, (rng.normal(size=(4, 3)).T, 4), 0),
    ("early exit", early_exit, (rng.normal(size=4), 30), 0),
    ("early exit, no exit", early_exit, (rng.normal(size=4) * 0.01, 3), 0),
    ("nested", nested, (rng.normal(size=4), rng.normal(size=(3, 4)), 4, 3), 1),
    ("nested, zero inner trips", nested, (rng.normal(size=4), rng.normal(size=(3, 4)), 4, 0), 0),
    ("while", while_steps, (rng.normal(size=6),), 0),
    ("carried int", carried_int, (rng.normal(size=7), 10), 0),
    ("branch in loop", branch_in_loop, (rng.normal(size=5), 6), 0),
]


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("label,f,args,wrt", CASES, ids=[c[0] for c in CASES])
def test_gradients_against_torch_and_central_differences(label, f, args, wrt, target):
    _check(coarsen.grad(f, argnums=wrt, target=target), f, args, wrt)


@pytest.mark.parametrize("f,args,arena", [
    (cell_steps, (np.ones(3), np.ones(3), 2), True),
    (matrix_steps, (np.ones((2, 2)), 2), True),
    (nested, (np.ones(2), np.ones((2, 2)), 2, 2), True),
    (while_steps, (np.ones(3),), False),   # no trip count at entry: a list
    (early_exit, (np.ones(3), 4), False),   # a loop left by `break` runs as a while loop
])
def test_which_tape(f, args, arena):
    source = coarsen.grad(f, target="cpu").source(*args)
    assert ("rt.tape_put(" in source) == arena, source
    assert ("rt.tape_view(" in source) == arena, source
    if not arena:
        assert ".append((" in source and ".pop()" in source, source


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_one_function_called_with_several_sizes(target):
    """The arena is the call's own: no size or record of an earlier call is reused, whether
    the records go to the arena, past the limit to the list, or the loop runs zero times."""
    g = coarsen.grad(cell_steps, argnums=1, target=target)
    big = ARENA_RECORD_LIMIT // 2 + 1   # a record holds several arrays of this size: the list
    for d, n in [(3, 4), (10, 7), (2, 0), (big, 3), (3, 5), (1, 9)]:
        r = np.random.default_rng(d * 100 + n)
        args = (r.normal(size=d), r.normal(size=d) * 0.5, n)
        _check(g, cell_steps, args, 1)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_records_cross_the_arena_limit_within_one_call(target):
    """Records grow each step from a few numbers past `ARENA_RECORD_LIMIT`: the early ones
    in the arena (which grows past the size its first record reserved), the late ones on the
    list, popped back in order."""
    n = ARENA_RECORD_LIMIT + 40
    x = np.random.default_rng(5).normal(size=n) * 0.1
    g = coarsen.grad(growing, target=target)
    _check(g, growing, (x, n), 0)
    assert "rt.tape_put(" in g.source(x, n)
