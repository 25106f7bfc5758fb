"""vmap on "cuda" checks indices as the other targets do: an element whose index is out of
range raises IndexError naming the user's file:line, never leaves its output unwritten. A
`raise` in CUDA device code reaches the host only under debug=True (which also switches to
Python's error model), so the element program reports a failed check through an error flag
the launch reads back (`coarsen.vmap._device_checks`). Run in Numba's CUDA simulator."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import coarsen

BIG = np.linspace(0.0, 1.0, 20_000)   # passed by reference (coarsen.byref)


def pick(x):
    return x[int(x[0])] * 2.0


def table(a, b):
    t = np.array([1.0, 2.0, 3.0])
    return t[int(a)] * b + BIG[int(a) * 9_000]


def checked(x):
    if x < 0.0:
        raise ValueError("x must be positive")
    return x * x


def test_device_source_reports_instead_of_raising():
    from coarsen.codegen.forward import device_source
    from coarsen.vmap import _checked_ints, _device_checks
    g = coarsen.value_and_grad(table, argnums=1, target="numpy")
    g(1.0, 2.0)
    (prog,) = g.programs.values()
    with pytest.raises(NotImplementedError, match="checked"):   # never an unchecked int() on a GPU
        device_source(prog.source)
    source, messages = _device_checks(device_source(_checked_ints(prog.source, prog)), prog, "grad", [(), ()])
    assert "raise" not in source and "err_[0] = 1" in source
    assert all(e in (IndexError, ValueError, OverflowError) for e, m in messages)
    assert all("test_never_wrong_vmap_cuda.py:" in m and "out of bounds" in m
               for e, m in messages if e is IndexError)
    assert len(messages) == source.count("err_[0] =") >= 2
    header = next(line for line in source.splitlines() if line.startswith("def "))
    assert header.endswith(", err_):")


SCRIPT = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}, {here!r}]
    import numpy as np, coarsen
    import test_never_wrong_vmap_cuda as T
    good = np.array([[0.0, 1.0, 2.0], [1.0, 5.0, 5.0], [2.0, 0.0, 0.0]])
    bad = good.copy(); bad[1, 0] = 7.0      # row 1 indexes x[7]: only that thread fails
    for tr in (coarsen.jit, coarsen.grad, coarsen.value_and_grad):
        v, ref = coarsen.vmap(tr(T.pick), target="cuda"), coarsen.vmap(tr(T.pick), target="numpy")
        np.testing.assert_allclose(np.asarray(v(good)[0] if tr is coarsen.value_and_grad else v(good)),
                                   np.asarray(ref(good)[0] if tr is coarsen.value_and_grad else ref(good)))
        try:
            v(bad)
        except IndexError as e:
            assert "test_never_wrong_vmap_cuda.py:" in str(e) and "out of bounds" in str(e), str(e)
        else:
            raise AssertionError(tr.__name__ + ": no IndexError")
    a, b = np.array([0.0, 2.0, 1.0]), np.ones(3)
    for tr in (coarsen.jit(T.table), coarsen.grad(T.table, argnums=1)):
        v = coarsen.vmap(tr, target="cuda")
        np.testing.assert_allclose(v(a[:2], b[:2]), coarsen.vmap(tr, target="numpy")(a[:2], b[:2]))
        for bad_a in (np.array([0.0, 3.0]), np.array([1.0, -4.0])):
            try:
                v(bad_a, b[:2])
            except IndexError as e:
                assert "test_never_wrong_vmap_cuda.py:" in str(e), str(e)
            else:
                raise AssertionError("no IndexError for " + repr(bad_a))
    v = coarsen.vmap(coarsen.grad(T.checked), target="cuda")
    np.testing.assert_allclose(v(np.array([1.0, 2.0])), [2.0, 4.0])
    try:
        v(np.array([1.0, -2.0, 3.0]))
    except ValueError as e:
        assert str(e) == "x must be positive", str(e)
    else:
        raise AssertionError("no ValueError")
    print("ok")
""")


@pytest.mark.gpu
@pytest.mark.slow
def test_vmap_cuda_raises_index_errors_in_the_simulator(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    script = SCRIPT.format(root=os.path.dirname(os.path.dirname(here)), here=here)
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path))
    env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout[-3000:] + out.stderr[-3000:]


def scaled_int(x):
    return 2.0 * int(x) + x


INT_SCRIPT = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}, {here!r}]
    import numpy as np, coarsen
    import test_never_wrong_vmap_cuda as T
    v = coarsen.vmap(coarsen.jit(T.scaled_int), target="cuda")
    xs = np.linspace(-3.3, 3.3, 300)   # three blocks of 128 threads
    np.testing.assert_array_equal(v(xs), [T.scaled_int(x) for x in xs])
    for bad, err in ((np.nan, ValueError), (np.inf, OverflowError), (-1e30, OverflowError)):
        ys = xs.copy()
        ys[201] = bad   # one thread of the second block
        try:
            v(ys)
        except err as e:
            assert "convert" in str(e), str(e)
        else:
            raise AssertionError("no error for " + repr(bad))
    print("ok")
""")


@pytest.mark.gpu
def test_vmap_cuda_checks_int_of_nan_inf_and_overflow(tmp_path):
    """CUDA's int() gives garbage for NaN, inf and floats beyond int64; a GPU thread checks
    them as the host does (`coarsen.vmap._checked_ints`) and reports through the error flag."""
    from simulator import run_cuda_script
    run_cuda_script(INT_SCRIPT, tmp_path)


def test_checked_ints_refuses_what_it_cannot_check_in_order():
    from coarsen.vmap import _checked_ints
    source = "def f(x):\n    k = rt.checked_int(x * 2.0) + 1\n    return k\n"
    out = _checked_ints(source, None)
    assert "rt.checked_int" not in out and "raise ValueError" in out and "raise OverflowError" in out
    assert "k = int(_ci0) + 1" in out
    with pytest.raises(coarsen.UnsupportedError, match="under a condition"):
        _checked_ints("def f(x):\n    k = rt.checked_int(x) if x > 0 else 0\n    return k\n", None)
