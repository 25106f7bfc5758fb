"""The tier choice of "cpu" programs (`kernels.adaptive`): machine code or the same generated
source on NumPy, whichever was faster on the first call machine code could serve.

The rule is tested on plain functions that burn known amounts of CPU time (the choice reads
thread CPU time, so these are stable on a loaded machine); the wiring through
`kernels.targets` and the public API with the thresholds forced either way, so that which tier
serves is decided by the test, and the answers are checked on both: values and gradients
against the "numpy" target and central differences, on shapes with size-1 and empty axes.
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

import coarsen
from kernels import adaptive, targets


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _counting(seconds: float, calls: list):
    def fn(*args):
        calls.append(args)
        _burn(seconds)
        return "ran"
    return fn


@pytest.fixture
def adaptive_on(monkeypatch):
    monkeypatch.setenv("COARSEN_ADAPTIVE", "1")


# ---------------------------------------------------------------------------------- the rule
def test_faster_numpy_tier_is_chosen(adaptive_on):
    machine, numpy_ = [], []
    out, tier, seen = adaptive.choose(_counting(0.004, machine), _counting(0.0005, numpy_), (1, 2))
    assert (out, tier) == ("ran", "numpy")
    assert seen["numpy"] < adaptive.MARGIN * seen["cpu"]
    assert all(a == (1, 2) for a in machine + numpy_)


def test_slower_or_equal_numpy_tier_is_not_chosen(adaptive_on):
    for numpy_s in (0.001, 0.0013):   # equal, and a little slower: ties go to machine code
        out, tier, _ = adaptive.choose(_counting(0.001, []), _counting(numpy_s, []), ())
        assert tier == "cpu"


def test_cheap_and_expensive_programs_are_not_tried(adaptive_on, monkeypatch):
    numpy_ = []
    _, tier, _ = adaptive.choose(lambda: "ran", _counting(0.0, numpy_), ())
    assert tier == "cpu" and not numpy_   # under MIN_S: the NumPy tier never runs
    monkeypatch.setattr(adaptive, "MAX_S", 0.001)
    _, tier, _ = adaptive.choose(_counting(0.003, []), _counting(0.0, numpy_), ())
    assert tier == "cpu" and not numpy_


def test_a_slow_numpy_trial_is_abandoned_at_the_deadline(adaptive_on):
    """A scalar loop on the NumPy tier (100x slower) is stopped at a line of its own frame, so the
    trial costs about DEADLINE machine-code times, not the whole loop."""
    steps = []

    def numpy_fn(n):
        for i in range(n):
            steps.append(i)
            _burn(0.0002)
        return "done"
    start = time.thread_time()
    out, tier, seen = adaptive.choose(_counting(0.002, []), numpy_fn, (10_000,))
    spent = time.thread_time() - start
    assert (out, tier) == ("ran", "cpu") and "numpy" not in seen
    assert 0 < len(steps) < 200 and spent < 0.5   # the whole loop would burn 2 s


def test_failures_debuggers_and_the_switch_keep_machine_code(adaptive_on, monkeypatch):
    def raises():
        raise FloatingPointError("planted")
    assert adaptive.choose(_counting(0.001, []), raises, ())[1] == "cpu"
    numpy_ = []
    tracer = lambda frame, event, arg: None   # noqa: E731  (a debugger or coverage)
    sys.settrace(tracer)
    try:
        assert adaptive.choose(_counting(0.001, []), _counting(0.0, numpy_), ())[1] == "cpu"
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)
    monkeypatch.setenv("COARSEN_ADAPTIVE", "0")
    assert adaptive.choose(_counting(0.001, []), _counting(0.0, numpy_), ())[1] == "cpu"
    assert not numpy_


def test_machine_code_raising_propagates(adaptive_on):
    def machine():
        raise ValueError("user check")
    with pytest.raises(ValueError, match="user check"):
        adaptive.choose(machine, lambda: None, ())


# ---------------------------------------------------------------------------------- the wiring
def vectorised(w, X, y):
    z = X @ w
    loss = np.sum(np.log1p(np.exp(-y * z))) + 0.5 * np.sum(w * w)
    return loss + np.sum(np.tanh(z) ** 2) / (1.0 + z.shape[0])


def _force(monkeypatch, tier: str) -> None:
    monkeypatch.setattr(adaptive, "MIN_S", 0.0)
    monkeypatch.setattr(adaptive, "MAX_S", 10.0)
    monkeypatch.setattr(adaptive, "DEADLINE", 1e9)
    monkeypatch.setattr(adaptive, "MARGIN", 1e9 if tier == "numpy" else 0.0)


def _compiled(transformed):
    (prog,) = transformed.programs.values()
    return prog.fn


def _central(f, args, h=1e-6):
    w = args[0]
    g = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[i] = h
        g[i] = (f(w + e, *args[1:]) - f(w - e, *args[1:])) / (2 * h)
    return g


@pytest.mark.parametrize("n, d", [(50, 3), (1, 1), (0, 2), (7, 1)])
@pytest.mark.parametrize("tier", ["numpy", "cpu"])
def test_chosen_tier_serves_and_agrees(adaptive_on, monkeypatch, tmp_path, tier, n, d):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    _force(monkeypatch, tier)
    rng = np.random.default_rng(n + d)
    args = (rng.normal(size=d), rng.normal(size=(n, d)), rng.choice([-1.0, 1.0], size=n))
    g = coarsen.grad(vectorised)
    vg = coarsen.value_and_grad(vectorised)
    jit = coarsen.jit(vectorised)
    reference = coarsen.value_and_grad(vectorised, target="numpy")(*args)
    for call in range(3):   # the choosing call, then the API's fast path on the chosen tier
        got = g(*args)
        np.testing.assert_allclose(got, reference[1], rtol=1e-12, atol=1e-14)
        value, grad = vg(*args)
        assert value == pytest.approx(reference[0], rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(grad, reference[1], rtol=1e-12, atol=1e-14)
        assert jit(*args) == pytest.approx(reference[0], rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(reference[1], _central(vectorised, args), rtol=1e-6, atol=1e-7)
    for transformed in (g, vg, jit):
        fn = _compiled(transformed)
        assert fn.chosen == tier and fn.tier == tier
        assert fn.fn is (fn._numpy if tier == "numpy" else fn.machine_code)
    got = g(*args)
    got[...] = 7.0   # a gradient the caller owns: the next call's is not this buffer
    np.testing.assert_allclose(g(*args), reference[1], rtol=1e-12, atol=1e-14)


def test_tiered_program_chooses_after_the_switch(adaptive_on, monkeypatch, tmp_path):
    monkeypatch.setenv("COARSEN_TIERED", "1")
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    _force(monkeypatch, "numpy")
    rng = np.random.default_rng(3)
    args = (rng.normal(size=4), rng.normal(size=(30, 4)), rng.choice([-1.0, 1.0], size=30))
    reference = coarsen.grad(vectorised, target="numpy")(*args)
    g = coarsen.grad(vectorised)
    np.testing.assert_allclose(g(*args), reference, rtol=1e-12)   # NumPy tier; compile starts
    fn = _compiled(g)
    assert fn.wait(300)
    assert fn.tier == "cpu" and fn.chosen is None   # machine code ready: the next call chooses
    for _ in range(3):
        np.testing.assert_allclose(g(*args), reference, rtol=1e-12)
    assert fn.chosen == "numpy" and fn.fn is fn._numpy
    targets.wait_for_compiles()


def test_threads_share_one_choice(adaptive_on, monkeypatch, tmp_path):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    _force(monkeypatch, "cpu")
    rng = np.random.default_rng(4)
    args = (rng.normal(size=3), rng.normal(size=(20, 3)), rng.choice([-1.0, 1.0], size=20))
    g = coarsen.grad(vectorised)
    reference = coarsen.grad(vectorised, target="numpy")(*args)
    g(*args)
    results = []
    threads = [threading.Thread(target=lambda: results.append(g(*args))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_allclose(r, reference, rtol=1e-12)
    assert _compiled(g).chosen == "cpu"
