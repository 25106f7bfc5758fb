"""Tiered "cpu" programs (`COARSEN_TIERED`, `kernels.targets._NumbaFunction`): the first calls
run the generated source with NumPy while Numba compiles in a background thread; then machine
code serves every call. The switch must never change an answer beyond rounding, nor an error.

The background compile is held at a gate in most tests, so which tier serves a call is decided
by the test, not by how fast the machine compiles.
"""
from __future__ import annotations

import math
import threading
import warnings

import numpy as np
import pytest

import coarsen


def loop(w, x, n):
    s = 0.0
    for i in range(n):
        if x[i] > 0.0:
            s = s + math.sin(w * x[i]) ** 2
        else:
            s = s + w * x[i] * x[i]
    return s


def ls(w, X, y):
    r = X @ w - y
    return np.mean(r * r) + 0.1 * np.sum(w * w)


def _compiled(transformed):
    (prog,) = transformed.programs.values()
    return prog.fn


def test_first_calls_on_numpy_then_machine_code(tiered):
    x = np.array([0.3, -1.2, 2.0, 0.7, -0.1])
    g = coarsen.value_and_grad(loop, target="cpu")
    ref = coarsen.value_and_grad(loop, target="numpy")(0.8, x, 5)
    first = [g(0.8, x, 5) for _ in range(3)]
    fn = _compiled(g)
    assert fn.tier == "numpy" and not fn.ready.is_set()
    assert "numba" not in type(fn.fn).__module__
    tiered.set()
    assert fn.wait(120)
    assert fn.tier == "cpu"
    after = [g(0.8, x, 5) for _ in range(2)]
    for v, d in first + after:
        assert v == pytest.approx(ref[0], rel=1e-13)
        assert d == pytest.approx(ref[1], rel=1e-13)
    # the runner made after the switch calls the machine code directly (the fast path)
    assert fn.fn is fn.machine_code
    (runner,) = g.runners.values()
    assert runner.__name__ != "warming"


def test_array_program_and_other_signatures(tiered):
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(6, 3)), rng.normal(size=6), rng.normal(size=3)
    g = coarsen.grad(ls, target="cpu")
    ref = coarsen.grad(ls, target="numpy")(w, X, y)
    np.testing.assert_allclose(g(w, X, y), ref, rtol=1e-13)
    tiered.set()
    assert _compiled(g).wait(120)
    np.testing.assert_allclose(g(w, X, y), ref, rtol=1e-13)
    # a non-contiguous argument after the switch: Numba specialises again, same answer
    Xf = np.asfortranarray(X)
    np.testing.assert_allclose(g(w, Xf, y), ref, rtol=1e-13)


def test_errors_are_the_same_on_both_tiers(tiered):
    def pick(x, i):
        return x[i] * x[i]
    g = coarsen.grad(pick, target="cpu")
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(g(x, 1), [0.0, 4.0, 0.0])
    with pytest.raises(IndexError):   # the NumPy tier
        g(x, 7)
    tiered.set()
    assert _compiled(g).wait(120) and _compiled(g).tier == "cpu"
    with pytest.raises(IndexError):   # machine code
        g(x, 7)
    np.testing.assert_allclose(g(x, -1), [0.0, 0.0, 6.0])


def test_jit_switches_too(tiered):
    f = coarsen.jit(loop, target="cpu")
    x = np.linspace(-1.0, 1.0, 7)
    want = loop(0.4, x, 7)
    assert f(0.4, x, 7) == pytest.approx(want, rel=1e-13)
    tiered.set()
    assert _compiled(f).wait(120)
    assert f(0.4, x, 7) == pytest.approx(want, rel=1e-13)
    assert _compiled(f).tier == "cpu"


def test_one_compile_for_many_threads(tiered, monkeypatch):
    started = []
    start = threading.Thread.start

    def counting(self):
        if self.name.startswith("coarsen-compile-"):
            started.append(self.name)
        start(self)
    monkeypatch.setattr(threading.Thread, "start", counting)
    g = coarsen.grad(loop, target="cpu")
    x = np.array([0.5, -0.5, 1.5])
    g(0.3, x, 3)   # compiles the program (tracing is not what this test is about)
    results = []
    workers = [threading.Thread(target=lambda: results.append(g(0.3, x, 3))) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert len(started) == 1
    tiered.set()
    assert _compiled(g).wait(120)
    assert all(r == pytest.approx(results[0], rel=1e-13) for r in results)


def test_numba_failure_stays_on_numpy_and_warns(tiered, monkeypatch):
    from numba.core.dispatcher import Dispatcher
    from numba.core.errors import TypingError

    def refuse(self, sig):
        raise TypingError("planted: cannot type this program")
    monkeypatch.setattr(Dispatcher, "compile", refuse)
    g = coarsen.grad(loop, target="cpu")
    x = np.array([0.2, -0.4])
    want = coarsen.grad(loop, target="numpy")(1.1, x, 2)
    assert g(1.1, x, 2) == pytest.approx(want, rel=1e-13)
    tiered.set()
    fn = _compiled(g)
    assert fn.wait(120)
    with pytest.warns(RuntimeWarning, match="cannot compile .*planted"):
        assert g(1.1, x, 2) == pytest.approx(want, rel=1e-13)
    assert fn.tier == "numpy" and "planted" in fn.fallback_reason
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # said once
        assert g(1.1, x, 2) == pytest.approx(want, rel=1e-13)


def test_off_compiles_on_the_first_call(monkeypatch, tmp_path):
    monkeypatch.setenv("COARSEN_TIERED", "0")
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    g = coarsen.grad(loop, target="cpu")
    g(0.3, np.array([1.0, -1.0]), 2)
    fn = _compiled(g)
    assert fn.ready.is_set() and fn.tier == "cpu"


def _child_compiles(queue):
    import os
    os.environ["COARSEN_TIERED"] = "0"
    x = np.array([0.25, -0.75, 1.0])
    queue.put(float(coarsen.grad(lambda w, x: np.sum(np.sin(w * x) * x), target="cpu")(0.5, x)))


def test_fork_during_a_background_compile(monkeypatch, tmp_path):
    """A process forked while a compile runs gets Numba in a usable state (the fork waits for
    compiles in flight), not a compiler lock held by a thread it does not have."""
    import multiprocessing as mp
    monkeypatch.setenv("COARSEN_TIERED", "1")
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    g = coarsen.grad(loop, target="cpu")
    g(0.3, np.array([1.0, -1.0, 0.5]), 3)   # starts the background compile
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_compiles, args=(queue,))
    child.start()
    child.join(300)
    assert child.exitcode == 0, "the forked child hung or failed"
    x = np.array([0.25, -0.75, 1.0])
    assert queue.get(timeout=10) == pytest.approx(float(np.sum(np.cos(0.5 * x) * x * x)), rel=1e-12)
    assert _compiled(g).ready.is_set()


FORK_SCRIPT = """
import multiprocessing as mp, os, sys, numpy as np
import coarsen
def loop(w, x):
    s = 0.0
    for i in range(3):
        s = s + np.sin(w * x[i])
    return s
def child(q):
    os.environ["COARSEN_TIERED"] = "0"
    q.put(float(coarsen.grad(lambda w: w * w * w, target="cpu")(2.0)))
coarsen.grad(loop, target="cpu")(0.3, np.array([1.0, -1.0, 0.5]))   # background compile starts
ctx = mp.get_context("fork"); q = ctx.Queue()
p = ctx.Process(target=child, args=(q,)); p.start(); p.join(240)
print("child", p.exitcode, q.get(timeout=5) if p.exitcode == 0 else None)
if p.exitcode is None:
    p.kill(); os._exit(3)
"""


def test_fork_in_a_fresh_process(tmp_path):
    """The same in a process whose first import of logging is Numba's (pytest imports it
    early): the at-fork hook must not wait for a compile blocked on logging's lock."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, COARSEN_TIERED="1", COARSEN_CACHE_DIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(__import__("pathlib").Path(__file__).resolve().parents[2]),
                                           os.environ.get("PYTHONPATH", "")]))
    script = tmp_path / "fork_user.py"
    script.write_text(FORK_SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "child 0 12.0" in proc.stdout
