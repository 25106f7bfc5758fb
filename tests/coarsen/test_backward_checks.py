"""Index checks and statement fusion in the backward pass (#14, the ODE's gradient).

- The backward of an element access checks its index only where the forward does not perform
  that access (its value unneeded): a check the forward has passed is not repeated per
  backward iteration (`coarsen.codegen.bounds.drop_checks`). An out-of-range index still
  raises IndexError at the user's line in every gradient.
- The fusion pass types tape records of shapes (`(0, )` prototypes) and `float(...)` scalars,
  so the adjoint statements between a loop's backward sweeps fuse (`kernels.fusion_types`).
Gradients are compared with central differences and the numpy target on random sizes.
"""
from __future__ import annotations

import numpy as np
import pytest

import coarsen
from kernels import fusion


@pytest.fixture(autouse=True, scope="module")
def private_program_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COARSEN_CACHE_DIR", str(tmp_path_factory.mktemp("coarsen_cache")))
        mp.setenv("COARSEN_ADAPTIVE", "0")
        yield


def rhs(a, y):
    """An array filled element by element, reading the previous state (not the adbench ODE)."""
    n = a.shape[0]
    z = np.zeros(n)
    z[0] = a[0] * y[0]
    for i in range(1, n):
        z[i] = a[i] * np.sin(y[i - 1]) + 0.5 * y[i]
    return z


def heun(a, s):
    """Heun's method (2 stages) over s steps of y' = rhs(a, y)."""
    h = 1.0 / s
    y = np.ones(a.shape[0])
    for step in range(s):
        k1 = rhs(a, y)
        k2 = rhs(a, y + h * k1)
        y = y + h / 2 * (k1 + k2)
    return np.sum(y * y)


def shifted(x, k):
    """Reads x[i + k]: the gradient needs no value of the read, only its index."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + 3.0 * x[i + k]
    return s


def central(f, x, *rest, eps=1e-6):
    g = np.zeros_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = eps
        g[j] = (f(x + e, *rest) - f(x - e, *rest)) / (2 * eps)
    return g


def backward_text(source: str) -> str:
    return source.split("# backward", 1)[1]


@pytest.mark.parametrize("seed", range(4))
def test_recurrence_gradients_agree_with_central_differences(seed):
    rng = np.random.default_rng(seed)
    n, s = int(rng.integers(1, 9)), int(rng.integers(1, 5))
    a = rng.uniform(-1.0, 1.0, n)
    expected = central(heun, a, s)
    for target in ("numpy", "cpu"):
        got = coarsen.grad(heun, target=target)(a, s)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_the_backward_repeats_no_check_the_forward_performs():
    a = np.linspace(-1.0, 1.0, 7)
    g = coarsen.grad(heun, target="cpu")
    g(a, 3)
    source = g.source(a, 3)
    forward, backward = source.split("# backward", 1)
    assert "raise IndexError" in forward        # the forward's reads of y[i - 1] are checked
    assert "raise IndexError" not in backward   # and only there
    assert "#chk" not in source


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_an_access_only_the_backward_makes_is_still_checked(target):
    x = np.arange(5.0)
    g = coarsen.grad(shifted, target=target)
    np.testing.assert_allclose(g(x, 1), [0.0, 3.0, 3.0, 3.0, 3.0])
    assert "raise IndexError" in backward_text(g.source(x, 1))
    with pytest.raises(IndexError, match="index out of bounds"):
        g(x, 2)
    with pytest.raises(IndexError, match="index out of bounds"):
        coarsen.value_and_grad(shifted, target=target)(x, 2)


def test_adjoint_statements_between_sweeps_fuse():
    a = np.linspace(-1.0, 1.0, 6)
    g = coarsen.grad(heun, target="cpu")
    g(a, 2)
    source = g.source(a, 2)
    name = source.split("def ", 1)[1].split("(", 1)[0]
    fused = fusion.fuse(source, name, (a, 2, 1.0))
    backward = fused.split("tape.pop()")[-1]   # (the fused text has no comments)
    assert "_fi0" in backward   # the adjoint statements of a step are a loop
    assert "rt.fresh(d_z" in backward   # (the unfused statements, when a shape differs)
    np.testing.assert_allclose(g(a, 2), coarsen.grad(heun, target="numpy")(a, 2), rtol=1e-12, atol=1e-14)


def test_shape_tuples_and_float_calls_are_typed():
    import ast
    from kernels.fusion_types import T, Types
    fn = ast.parse("def f(x, s):\n    h = float(2.0 / s)\n    t = [(x, (0, ))]\n    t.pop()\n"
                   "    a, sh, = t.pop()\n    k, m, = (3, 4)\n    return h\n").body[0]
    types = Types(fn, {"x": T("f", 1, (False,)), "s": T("i", 0)})
    assert types.env["h"] == T("f", 0)
    assert types.env["sh"] == T("shape", 1)
    assert types.env["a"] == T("f", 1, (False,))
    assert types.env["k"] == T("i", 0) and types.env["m"] == T("i", 0)


# ------------------------------------------------------------ taped rows of a written state
def cell_rnn(w, state, xs):
    """A state of rows read as views (one of them taped), then written row by row: an LSTM's
    shape, not the adbench LSTM (one layer, other gates)."""
    s = np.copy(state)
    total = 0.0
    for t in range(xs.shape[0]):
        h = s[0]
        c = s[1]
        g = np.tanh(w[0] * xs[t] + w[1] * h)
        c = c * g + np.sin(h) * w[2]
        h = g * np.tanh(c)
        s[0] = h
        s[1] = c
        total = total + np.sum(h * h)
    return total


def row_cases(seed):
    rng = np.random.default_rng(seed)
    b, n = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    return rng.normal(size=(3, b)), rng.normal(size=(2, b)), rng.normal(size=(n, b))


@pytest.mark.parametrize("seed", range(4))
def test_a_taped_row_of_a_written_state_gradients(seed):
    w, state, xs = row_cases(seed)
    for argnum, x in ((0, w), (1, state)):
        def f(v, argnum=argnum):
            args = [w, state, xs]
            args[argnum] = v
            return cell_rnn(*args)
        expected = central(lambda v: f(v.reshape(x.shape)), x.ravel()).reshape(x.shape)
        for target in ("numpy", "cpu"):
            got = coarsen.grad(cell_rnn, argnums=argnum, target=target)(w, state, xs)
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    state0 = state.copy()
    coarsen.grad(cell_rnn, target="cpu")(w, state, xs)
    np.testing.assert_array_equal(state, state0)   # the caller's array is untouched


def test_a_taped_row_is_copied_instead_of_the_state():
    w, state, xs = row_cases(0)
    g = coarsen.grad(cell_rnn, target="cpu")
    g(w, state, xs)
    forward = g.source(w, state, xs).split("# backward", 1)[0]
    loop = forward.split("for t_", 1)[1]
    copies = [line.strip() for line in loop.splitlines() if ".copy()" in line]
    # the rows the backward reads are copied (rows), the state is written in place (no copy)
    assert sorted(c[:2] for c in copies) == ["c_", "h_"], copies


def transposed_state(w, s0, n):
    """A taped transposed view (`m = s.T`) and a taped row of a state written in place."""
    s = np.copy(s0)
    tot = 0.0
    for t in range(n):
        m = s.T
        v = np.sum(m * w)
        m = w
        s[0] = np.sin(s[1] * v)
        s[1] = s[1] * 0.5 + np.cos(v)
        tot = tot + v
    return tot


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_a_taped_transposed_view_of_a_written_state(target):
    rng = np.random.default_rng(1)
    w, s0 = rng.normal(size=(3, 2)), rng.normal(size=(2, 3))
    for argnum, x in ((0, w), (1, s0)):
        def f(v, argnum=argnum):
            args = [w, s0, 4]
            args[argnum] = v.reshape(x.shape)
            return transposed_state(*args)
        expected = central(f, x.ravel()).reshape(x.shape)
        got = coarsen.grad(transposed_state, argnums=argnum, target=target)(w, s0, 4)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def strided_sweeps(x, lo, hi, step):
    """Element reads and writes in loops of any step (the backward runs the indices in reverse
    as its own loop variable: `Reverse.loop`'s header for steps 1, -1 and others)."""
    z = np.zeros(x.shape[0])
    for i in range(lo, hi, step):
        z[i] = x[i] * x[i - 1] + z[i]
    for j in range(hi - 1, lo - 1, -1):
        z[j] = z[j] * x[j]
    total = 0.0
    for k in range(lo + 1, hi, 3):
        total = total + z[k] * x[k - 1]
    return total + np.sum(z * z)


@pytest.mark.parametrize("lo, hi, step", [(1, 9, 1), (8, 0, -1), (1, 9, 2), (8, 0, -3), (5, 5, 1), (6, 2, 1)])
def test_backward_loops_over_the_forward_indices_in_reverse(lo, hi, step):
    x = np.random.default_rng(lo + 10 * hi).uniform(0.5, 1.5, size=10)
    for target in ("numpy", "cpu"):
        g = coarsen.grad(strided_sweeps, target=target)(x, lo, hi, step)
        fd = np.array([(strided_sweeps(x + e, lo, hi, step) - strided_sweeps(x - e, lo, hi, step)) / 2e-6
                       for e in np.eye(10) * 1e-6])
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
