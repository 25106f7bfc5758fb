"""Tapes of scalar records in nests of counted loops: preallocated float64 arrays (one row per
record) when the inner ranges are fixed before the outermost loop and no branch sits between
(k-means' running minimum over centers for each point, a three-deep nest), lists otherwise (a
triangular nest, whose inner range is set by the outer index; a loop inside a branch); array
records of values the backward reads only for their shape hold the shape (more on records
of arrays in test_array_tapes.py). Gradients against
torch.autograd on both targets, and which tape each program gets."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import coarsen


def running_min(centers, points):
    total = 0.0
    for i in range(points.shape[0]):
        best = np.inf
        for j in range(centers.shape[0]):
            diff = points[i] - centers[j]
            best = min(best, np.sum(diff * diff))
        total = total + best
    return total


def triangular(x):
    s = 0.0
    for i in range(x.shape[0]):
        for j in range(i):
            s = s + np.tanh(x[i] * x[j] + s * 0.1)
    return s


def branch_in_inner(x, n):
    s = 0.0
    for i in range(n):
        for j in range(x.shape[0]):
            if x[j] * (i + 1) > 0.5:
                for k in range(2):   # a loop in the branch keeps it control flow
                    s = s + np.sin(x[j] * s + 0.3 * k)
    return s


def three_deep(x, n, m, k):
    s = 1.0
    for a in range(n):
        for b in range(m):
            for c in range(k):
                s = s * 0.9 + np.cos(x[c] * s) * (a + b + 1) * 0.1
    return s


def rhs(x, y):
    z = np.zeros(x.shape[0])
    z[0] = x[0]
    for i in range(1, x.shape[0]):
        z[i] = x[i] * y[i - 1]
    return z


def rk4(x, s):
    """GradBench's ODE: the backward reads four of each step's eight arrays only for their
    shapes, so their records are shapes, not copies."""
    h = 2.0 / s
    y = np.zeros(x.shape[0])
    for step in range(s):
        k1 = rhs(x, y)
        k2 = rhs(x, y + h / 2 * k1)
        k3 = rhs(x, y + h / 2 * k2)
        k4 = rhs(x, y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.sum(y * y)


def _torch(f, args, wrt):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=i == wrt) if isinstance(a, np.ndarray) else a
          for i, a in enumerate(args)]

    class T:   # the programs' numpy calls, spelled for torch
        inf = float("inf")
        sum = staticmethod(torch.sum)
        tanh = staticmethod(torch.tanh)
        sin = staticmethod(torch.sin)
        cos = staticmethod(torch.cos)

        @staticmethod
        def zeros(n):
            return torch.zeros(n, dtype=torch.float64)
    g = dict(f.__globals__, np=T, min=lambda a, b: b if b < a else a)
    g["rhs"] = type(rhs)(rhs.__code__, g)
    fn = type(f)(f.__code__, g)
    out = fn(*ts)
    out.backward()
    return ts[wrt].grad.numpy()


rng = np.random.default_rng(3)
# (program, arguments, argnum, an array tape, a list tape)
CASES = [
    (running_min, (rng.uniform(size=(4, 3)), rng.uniform(size=(9, 3))), 0, True, False),
    (triangular, (rng.normal(size=6) * 0.5,), 0, False, True),
    (branch_in_inner, (rng.uniform(size=5), 3), 0, None, True),
    (three_deep, (rng.normal(size=4) * 0.3, 2, 3, 4), 0, True, False),
    (rk4, (rng.uniform(size=7), 3), 0, None, True),
]


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("f,args,wrt,array_tape,list_tape", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_nested_loop_gradients_against_torch(f, args, wrt, array_tape, list_tape, target):
    g = coarsen.grad(f, argnums=wrt, target=target)
    np.testing.assert_allclose(g(*args), _torch(f, args, wrt), rtol=1e-9, atol=1e-12)
    source = g.source(*args)
    if array_tape is not None:
        assert ("np.empty((rt.trip_count(" in source) == array_tape, source
    assert (".append((" in source) == list_tape, source


def test_arrays_read_only_for_their_shape_are_recorded_as_shapes():
    """rk4's records: four arrays copied into the tape's arena (or kept on its list when big),
    four shapes only (`codegen.forward.TapeLayout`)."""
    source = coarsen.grad(rk4, target="cpu").source(rng.uniform(size=7), 3)
    lines = source.splitlines()
    assert sum("rt.tape_put(" in line for line in lines) == 4, source
    assert sum("rt.tape_view(" in line for line in lines) == 4, source
    append = next(line for line in lines if ".append((" in line)
    assert append.count("np.ascontiguousarray(") == 4 and "np.shape(" not in append, append
    popped_shapes = [line for line in lines if re.search(r"\w+_shape = \(int\(tape", line)]
    assert len(popped_shapes) == 4, source
