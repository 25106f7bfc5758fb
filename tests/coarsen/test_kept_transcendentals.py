"""Reverse mode keeps, in a loop body, the transcendental values a segment's derivative reads
(`autodiff.reverse.Reverse.keep_transcendentals`): the forward computes `exp(-u)` of a sigmoid
and `tanh(u)` into variables of their own, the loop's tape records them, and the backward reads
them instead of calling exp/tanh again. Pinned: no exp/tanh call in the backward of a gate
cell, the forward calls each as often as the primal does, gradients equal the numpy target's
and central differences (the recomputing derivative's too: `REUSE_OWN_VALUES = False`), and
nested functions, scalar loops, branches in loops and the top level."""
from __future__ import annotations

import re

import numpy as np
import pytest

import coarsen
from coarsen.autodiff import reverse
from tests.kernels.programs import gate_cell


def nested_scalar(x):
    s = 0.3
    for i in range(x.shape[0]):
        s = np.exp(np.tanh(x[i] * s)) * 0.5 + np.log(1.0 + x[i] * x[i]) * s
    return s


def branch_in_loop(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            s = s + np.sin(x[i] * s + 1.0) * np.cos(x[i])
        else:
            s = s * 0.5 + np.exp(x[i])
    return s


def rows(x, w):
    total = 0.0
    for i in range(x.shape[0]):
        e = np.exp(x[i] * w)
        total = total + np.sum(e) + np.sum(np.tanh(x[i] - w) * x[i])
    return total


def top_level(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)) * np.tanh(x))


CALL = re.compile(r"np\.(exp|tanh|log|sin|cos)\(")


def _parts(src: str) -> tuple[str, str]:
    forward, backward = src.split("# backward")
    return forward, backward


CASES = [
    (gate_cell, lambda rng: (rng.normal(size=8), rng.normal(size=(5, 2)))),
    (nested_scalar, lambda rng: (rng.normal(size=6),)),
    (branch_in_loop, lambda rng: (rng.normal(size=7),)),
    (rows, lambda rng: (rng.normal(size=(4, 3)), rng.normal(size=3))),
]


def test_gate_cell_backward_calls_no_transcendental():
    w, xs = np.ones(8), np.ones((3, 2))
    src = coarsen.grad(gate_cell, target="numpy").source(w, xs)
    forward, backward = _parts(src)
    assert not CALL.search(backward), backward
    primal = coarsen.jit(gate_cell, target="numpy").source(w, xs)
    assert len(CALL.findall(forward)) == len(CALL.findall(primal)) == 5, (forward, primal)
    # the gates' pre-activations are no longer records: their shapes are
    record = next(line for line in forward.splitlines() if ".append((" in line)
    assert record.count("np.ascontiguousarray(_k_") == 5, record


def test_recomputing_derivative_still_available(tmp_path, monkeypatch):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))   # a program of its own, not the cached one
    w, xs = np.ones(8), np.ones((3, 2))
    reverse.REUSE_OWN_VALUES = False
    try:
        src = coarsen.grad(gate_cell, target="numpy").source(w, xs)
    finally:
        reverse.REUSE_OWN_VALUES = True
    assert CALL.search(_parts(src)[1])


def test_nested_functions_are_kept_innermost_first():
    src = coarsen.grad(nested_scalar, target="numpy").source(np.ones(4))
    forward, backward = _parts(src)
    assert not CALL.search(backward), backward
    assert re.search(r"_k_tanh_\w+ = np\.tanh\(", forward) and re.search(r"_k_exp_\w+ = np\.exp\(_k_tanh_", forward), forward


def test_top_level_segments_are_unchanged():
    src = coarsen.grad(top_level, target="numpy").source(np.ones(3))
    assert "_k_" not in src


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("f,make", CASES, ids=[c[0].__name__ for c in CASES])
def test_gradients_match_central_differences(f, make, target, tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    args = make(rng)
    g = coarsen.grad(f, target=target)(*args)
    x = args[0]
    h = 1e-6
    fd = np.zeros(x.size)
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        up, down = (args[0] + e.reshape(x.shape),) + args[1:], (args[0] - e.reshape(x.shape),) + args[1:]
        fd[k] = (f(*up) - f(*down)) / (2 * h)
    np.testing.assert_allclose(np.asarray(g).ravel(), fd, rtol=1e-6, atol=1e-7)
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    reverse.REUSE_OWN_VALUES = False
    try:
        before = coarsen.grad(f, target="numpy")(*args)
    finally:
        reverse.REUSE_OWN_VALUES = True
    np.testing.assert_allclose(g, before, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape", [(3, 2), (1, 1), (2, 0), (0, 3)])
def test_gate_cell_on_both_targets(shape):
    rng = np.random.default_rng(5)
    w, xs = rng.normal(size=4 * shape[1]), rng.normal(size=shape)
    v, g = coarsen.value_and_grad(gate_cell, target="cpu")(w, xs)
    rv, rg = coarsen.value_and_grad(gate_cell, target="numpy")(w, xs)
    np.testing.assert_allclose(v, rv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, rg, rtol=1e-12, atol=1e-12)
    assert v == pytest.approx(gate_cell(w, xs), rel=1e-12, abs=1e-12)
