"""Statement fusion on the "cpu" target (`kernels.fusion`): values and gradients against the
numpy target and central differences, on shapes with size-1 and empty axes and on NaN/inf
inputs; that runs are fused (loops in the fused source, buffers only for what is read after);
that what the pass cannot prove is left as it was."""
from __future__ import annotations

import ast
import re

import numpy as np
import pytest

import coarsen
from kernels import fusion
from tests.kernels.programs import gate_cell


def dist_loop(x, y):
    """k-means' inner loop: a difference, its square, a sum, per row."""
    total = 0.0
    for i in range(x.shape[0]):
        d = x[i] - y[i]
        total = total + np.sum(d * d)
    return total


def stats_loop(x, w):
    total = 0.0
    for i in range(x.shape[0]):
        z = np.tanh(x[i] * w + 1.0)
        total = total + np.mean(z * z) + np.sum(np.exp(z) * w)
    return total


def axis_loop(x, w):
    """Per-axis reductions of rank-2 slices, with a row broadcast by `None`."""
    total = 0.0
    for t in range(x.shape[0]):
        a = x[t] * w[None, :]
        r = np.sum(a * a + 1.0, axis=1)
        c = np.mean(np.sin(a), axis=0)
        total = total + np.sum(r) + np.sum(c * c)
    return total


def max_loop(x, y):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + np.max(x[i] * y[i] - 1.0) + np.min(np.abs(x[i] - y[i]), axis=0)
    return total


SHAPES = [(4, 6), (1, 6), (4, 1), (0, 6), (4, 0)]


def _source_loops(f, *args) -> tuple[str, int]:
    src = coarsen.jit(f, target="cpu").source(*args)
    name = next(n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef))
    fused = fusion.fuse(src, name, args)
    return fused, fused.count("for _fi0 in range(")


def _both(f, args, argnum=0):
    cpu = coarsen.value_and_grad(f, argnums=argnum, target="cpu")(*args)
    ref = coarsen.value_and_grad(f, argnums=argnum, target="numpy")(*args)
    return cpu, ref


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("f", [dist_loop, stats_loop])
def test_rows_match_numpy_target(f, shape):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    y = rng.normal(size=shape) if f is dist_loop else rng.normal(size=shape[1])
    (v, g), (rv, rg) = _both(f, (x, y))
    _close(v, rv)
    _close(g, rg)


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (3, 0, 5), (3, 4, 0)])
def test_axis_reductions_match_numpy_target(shape):
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=shape), rng.normal(size=shape[2])
    for argnum in (0, 1):
        (v, g), (rv, rg) = _both(axis_loop, (x, w), argnum)
        _close(v, rv)
        _close(g, rg)


@pytest.mark.parametrize("shape", [(4, 6), (1, 6), (4, 1), (1, 1)])
def test_max_min_match_numpy_target(shape):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=shape), rng.normal(size=shape)
    (v, g), (rv, rg) = _both(max_loop, (x, y))
    _close(v, rv)
    _close(g, rg)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf(bad):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    x[2, 3] = bad
    (v, g), (rv, rg) = _both(dist_loop, (x, y))
    _close(v, rv)
    _close(g, rg)
    # max/min: the values agree (NaN propagates, as NumPy); which element a NaN's gradient goes
    # to differs between the targets' extremum masks with or without fusion (a separate bug)
    (v, g), (rv, rg) = _both(max_loop, (x, y))
    _close(v, rv)
    if bad == bad:
        _close(g, rg)
    (v, g), (rv, rg) = _both(stats_loop, (x, y[0]))
    _close(v, rv)
    _close(g, rg)


def test_gradients_match_central_differences():
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(3, 4, 5)), rng.normal(size=5)
    g = coarsen.grad(axis_loop, target="cpu")(x, w)
    fd = np.zeros_like(x)
    h = 1e-6
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        fd[i] = (axis_loop(x + e, w) - axis_loop(x - e, w)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


def test_runs_are_fused_without_temporaries():
    x, y = np.ones((4, 6)), np.ones((4, 6))
    src, loops = _source_loops(dist_loop, x, y)
    assert loops == 1, src
    assert "np.empty" not in src   # d and d * d are never stored: the sum reads them in the loop
    src, loops = _source_loops(axis_loop, np.ones((3, 4, 5)), np.ones(5))
    assert loops >= 1, src
    # the program compiled for these types runs the fused source
    grad = coarsen.grad(dist_loop, target="cpu")
    grad(x, y)
    assert grad.program((x, y)).fn.fused


def test_gradient_loop_body_allocates_nothing():
    """dist_loop's backward body: the difference, the broadcast cotangent, the unbroadcast and
    the update `d_x[i] += ...` are one loop writing into the row of d_x, no array made."""
    x, y = np.ones((4, 6)), np.ones((4, 6))
    src = coarsen.grad(dist_loop, target="cpu").source(x, y)
    name = next(n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef))
    fused = fusion.fuse(src, name, (x, y, 1.0))
    assert fused.count("for _fi0") == 1, fused
    assert "np.empty(" not in fused and "_fv" in fused, fused


def test_values_read_after_the_run_are_stored_once():
    src = ("def f(a, b):\n    c = a * b\n    d = np.tanh(c) + 1.0\n    s = np.sum(d * c)\n"
           "    for i in range(2):\n        s = s + 1.0\n    return s, d\n")
    out = fusion.fuse(src, "f", (np.ones(3), np.ones(3)))
    assert "for _fi0" in out
    assert out.count("np.empty(") == 1   # d is returned: stored; c and d * c are not
    ns = {"np": np}
    exec(out, ns)
    a, b = np.linspace(-1, 1, 3), np.arange(3.0)
    s, d = ns["f"](a, b)
    np.testing.assert_allclose(d, np.tanh(a * b) + 1.0)
    np.testing.assert_allclose(s, np.sum(d * a * b) + 2.0)


def test_gathered_rows_and_bounds_checks_on_shapes_join_a_run():
    """`rt.take` (rows gathered by an index array) has a known type, and coarsen's checks on
    constant indices (`if 2 >= c.shape[1]: raise IndexError`) move before the loop, so vectorised
    code after a gather (bundle adjustment's `C = cams[cam_index]`) is one loop; a check that
    fails still raises its error."""
    from kernels import runtime
    src = ("def f(x, idx):\n    c = rt.take(x, idx)\n    if 0 >= c.shape[1]:\n        raise IndexError('a')\n"
           "    u = c[:, 0]\n    w = np.sin(u) * 2.0\n    if 2 >= c.shape[1]:\n        raise IndexError('b')\n"
           "    v = c[:, 2]\n    z = w * v + u\n    return np.sum(z * z)\n")
    x, idx = np.arange(12.0).reshape(4, 3), np.array([3, 0, 0, 2])
    out = fusion.fuse(src, "f", (x, idx))
    assert out.count("for _fi0") == 1, out
    ns = {"np": np, "rt": runtime}
    exec(out, ns)   # generated test source only
    c = x[idx]
    np.testing.assert_allclose(ns["f"](x, idx), np.sum((np.sin(c[:, 0]) * 2.0 * c[:, 2] + c[:, 0]) ** 2))
    with pytest.raises(IndexError, match="b"):
        ns["f"](x[:, :2], idx)


def test_unknown_types_and_other_ranks_are_left_alone():
    src = "def f(a, b):\n    c = a * b\n    d = c + 1.0\n    return np.sum(d)\n"
    assert fusion.fuse(src, "f", (object(), object())) == src          # unknown types
    out = fusion.fuse(src, "f", (np.ones(3), np.ones(3)))
    assert "for _fi0" in out
    # integer arrays: ** and booleans are refused, + is fused
    src = "def f(a, b):\n    c = a > b\n    d = c * 2\n    return np.sum(d * 1.0)\n"
    assert fusion.fuse(src, "f", (np.ones(3), np.ones(3))) == src


def _run(out, *args):
    ns = {"np": np}
    exec(out, ns)   # generated test source only
    return ns["f"](*args)


def test_groups_of_other_shapes_get_their_own_loops():
    """Same rank, different shapes (GMM's icf[:, :d] beside icf[:, d:]): one loop and one shape
    check per group, so neither sends the other to the unfused statements."""
    src = ("def f(a, b):\n    c = a * 2.0\n    s = np.sum(c * c)\n    e = b + 1.0\n"
           "    t = np.sum(e * e)\n    return s + t\n")
    a, b = np.arange(12.0).reshape(3, 4), np.arange(6.0).reshape(3, 2)
    out = fusion.fuse(src, "f", (a, b))
    assert out.count("for _fi0") == 2, out
    np.testing.assert_allclose(_run(out, a, b), np.sum((a * 2) ** 2) + np.sum((b + 1) ** 2))
    # a runtime size-1 axis broadcasting: the unfused statements run (NumPy's rules)
    src = "def f(a, b):\n    c = a * b\n    s = np.sum(c * c)\n    return s\n"
    a, b = np.arange(12.0).reshape(3, 4), np.arange(4.0).reshape(1, 4)
    out = fusion.fuse(src, "f", (a, b))
    assert "for _fi0" in out
    np.testing.assert_allclose(_run(out, a, b), np.sum((a * b) ** 2))


def test_updates_in_place_only_of_unaliased_buffers():
    src = ("def f(a, b):\n    g = np.zeros(np.shape(a))\n    for i in range(a.shape[0]):\n"
           "        v = a[i] * b[i]\n        g[i] += v * 2.0\n    return g\n")
    a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    out = fusion.fuse(src, "f", (a, b))
    assert "_fv" in out and "np.empty(" not in out, out
    np.testing.assert_allclose(_run(out, a, b), 2 * a * b)
    # a view of g elsewhere (it could alias an operand): not updated in the loop
    aliased = src.replace("    return g\n", "    h = g[0]\n    return g, h\n")
    out = fusion.fuse(aliased, "f", (a, b))
    assert "_fv" not in out, out


def test_forward_and_backward_of_a_gather_are_one_loop():
    """Vectorised bundle adjustment's backward: the adjoint's columns `d_c[:, k] += ...` (views
    that are the same elements or none: full slices at the same places, constant indices)
    join the run, `d_c = np.zeros(np.shape(c))` moves before the loop, the scattered values
    `rt.take_add(d_x, d_c, idx)` are read but never aliased, and a shape
    `rt.broadcast_shapes(...)` of run values is the run's: forward and backward are one loop
    that stores nothing; the same column updated twice keeps its order; a column view with a
    runtime index is refused next to another."""
    from kernels import runtime
    src = ("def f(x, idx, ct):\n    c = rt.take(x, idx)\n    u = c[:, 0]\n    v = c[:, 2]\n"
           "    e = np.sin(u) * v\n    w = e * u\n"
           "    d_w = rt.broadcast_scalar(ct, rt.broadcast_shapes(np.shape(e), np.shape(w)))\n"
           "    d_e = d_w * u\n    d_c = np.zeros(np.shape(c))\n    d_c[:, 2] += d_e * np.sin(u)\n"
           "    d_u = d_w * e + d_e * np.cos(u) * v\n    d_c[:, 0] += d_u\n    d_c[:, 2] += d_u * 0.5\n"
           "    d_c[:, -1] += d_u\n"
           "    d_x = np.zeros(np.shape(x))\n    rt.take_add(d_x, d_c, idx)\n    return d_x\n")
    x, idx = np.arange(1.0, 13.0).reshape(4, 3) / 7.0, np.array([3, 0, 0, 2, -1])
    out = fusion.fuse(src, "f", (x, idx, 1.5))
    assert out.count("for _fi0") == 1 and "np.empty(" not in out, out
    ref = {"np": np, "rt": runtime}
    exec(src, ref)   # generated test source only
    ns = {"np": np, "rt": runtime}
    exec(out, ns)   # generated test source only
    np.testing.assert_array_equal(ns["f"](x, idx, 1.5), ref["f"](x, idx, 1.5))
    # a runtime column beside a constant one could be the same elements at another time: refused
    varying = src.replace("d_c[:, -1] += d_u", "d_c[:, int(ct)] += d_u")
    out = fusion.fuse(varying, "f", (x, idx, 1.5))
    assert "\n    d_c[:, int(ct)] += d_u\n" in out and "_fv" in out, out   # after the loop
    ns, ref = {"np": np, "rt": runtime}, {"np": np, "rt": runtime}
    exec(out, ns)   # generated test source only
    exec(varying, ref)   # generated test source only
    np.testing.assert_array_equal(ns["f"](x, idx, 1.5), ref["f"](x, idx, 1.5))


def powers_fit(x, t):
    """llsq's form: whole-number exponents of a float base, broadcast over (n, m)."""
    p = t[:, None] ** np.arange(x.shape[0])[None, :]
    r = np.sign(t) - p @ x
    return np.sum(r * r) + np.sum(t ** 2.0 * x[0]) + np.sum(np.abs(t) ** 1.5)


@pytest.mark.parametrize("n, m", [(7, 5), (1, 5), (7, 1), (0, 3)])
def test_integer_powers_match_numpy_target(n, m):
    rng = np.random.default_rng(6)
    x, t = rng.normal(size=m), np.linspace(-1.3, 1.2, n)
    (v, g), (rv, rg) = _both(powers_fit, (x, t))
    np.testing.assert_allclose(v, rv, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(g, rg, rtol=1e-13, atol=1e-13)
    src, _ = _source_loops(powers_fit, x, t)
    assert "rt.ipow(" in src


def test_integer_powers_special_values():
    x = np.array([1.0, -2.0, 0.5])
    t = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e200, -1e-200])
    (v, g), (rv, rg) = _both(powers_fit, (x, t))
    _close(v, rv)
    _close(g, rg)


# ------------------------------------------------------------------ random runs, fused vs NumPy
def _random_program(rng) -> tuple[str, list]:
    """A straight-line function of whole-array statements over a (n, m) array `a`, a row `r`
    broadcast by `None`, a column `c` and a scalar `s`, then reductions; some values returned
    (stored), the others not."""
    names = ["a", "rb", "cb", "s"]
    lines = ["def f(a, r, c, s):", "    rb = r[None, :]", "    cb = c[:, None]"]
    unary = ["np.tanh({})", "np.abs({})", "(-{})", "np.sqrt(np.abs({}))", "np.log1p(np.abs({}))"]
    binary = ["({} + {})", "({} - {})", "({} * {})", "({} / (1.0 + np.abs({})))",
              "np.maximum({}, {})", "np.minimum({}, {})", "np.where({} > {}, {}, 0.5)"]
    made = []
    for k in range(int(rng.integers(3, 8))):
        if rng.random() < 0.35:
            expr = unary[rng.integers(len(unary))].format(rng.choice(["a"] + made))
        else:
            form = binary[rng.integers(len(binary))]
            picks = [rng.choice(names + made) for _ in range(form.count("{}"))]
            if "a" not in picks and not set(picks) & set(made):
                picks[0] = "a"   # every value has the full (n, m) shape
            expr = form.format(*picks)
        lines.append(f"    t{k} = {expr}")
        made.append(f"t{k}")
    outs = []
    for k, t in enumerate(made[-3:]):
        red = ["np.sum({})", "np.mean({})", "rt.sum_axis({}, 1)", "rt.sum_axis({}, 0)",
               "rt.mean_axis({}, 1)"][rng.integers(5)]
        lines.append(f"    q{k} = {red.format(t)}")
        outs.append(f"q{k}")
    keep = [t for t in made if rng.random() < 0.3]
    lines.append(f"    return ({', '.join(outs + keep)},)")
    return "\n".join(lines) + "\n", outs + keep


@pytest.mark.parametrize("seed", range(20))
def test_random_runs_fused_equal_numpy(seed):
    import numba

    import kernels.numba_runtime  # noqa: F401  (rt.* in machine code)
    from kernels import runtime as rt
    rng = np.random.default_rng(seed)
    src, _ = _random_program(rng)
    shapes = [(4, 5), (1, 5), (4, 1), (0, 5), (4, 0)]
    n, m = shapes[seed % len(shapes)]
    a = rng.normal(size=(n, m))
    if a.size:
        a.flat[0] = [np.nan, np.inf, -np.inf, 0.0][seed % 4]
    args = (a, rng.normal(size=m), rng.normal(size=n), 0.7)
    out = fusion.fuse(src, "f", args)
    assert "for _fi0" in out, src
    ns_ref, ns_fused = {"np": np, "rt": rt}, {"np": np, "rt": rt}
    exec(src, ns_ref)    # generated test source only
    exec(out, ns_fused)
    with np.errstate(all="ignore"):
        want = ns_ref["f"](*args)
    got = numba.njit(error_model="numpy")(ns_fused["f"])(*args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12,
                                   equal_nan=True, err_msg=out)


def _random_loop_program(rng) -> str:
    """Statements in a loop that read values of the previous iteration (any t may be read
    before its assignment in the body): what liveness across the back edge must keep stored."""
    count = int(rng.integers(3, 7))
    lines = ["def f(a, r, c, s):", "    rb = r[None, :]"]
    lines += [f"    t{k} = a + {k}.0" for k in range(count)]
    lines += ["    tot = 0.0", "    for it in range(3):"]
    forms = ["({} + {})", "({} * 0.5 - {})", "np.tanh({} * {})", "np.maximum({}, {})",
             "({} * rb + {})", "np.where({} > 0.0, {}, s)"]
    for k in range(count):
        form = forms[rng.integers(len(forms))]
        picks = [f"t{rng.integers(count)}" for _ in range(form.count("{}"))]
        lines.append(f"        t{k} = {form.format(*picks)}")
    lines.append(f"        q = np.sum(t{rng.integers(count)})")
    lines.append("        tot = tot + q")
    lines.append(f"    return (tot, t{rng.integers(count)})")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(12))
def test_random_loop_runs_fused_equal_numpy(seed):
    import numba

    from kernels import runtime as rt
    rng = np.random.default_rng(100 + seed)
    src = _random_loop_program(rng)
    n, m = [(3, 4), (1, 4), (3, 1), (0, 4)][seed % 4]
    args = (rng.normal(size=(n, m)), rng.normal(size=m), rng.normal(size=n), 0.3)
    out = fusion.fuse(src, "f", args)   # may fuse nothing: every value carried is live
    ns_ref, ns_fused = {"np": np, "rt": rt}, {"np": np, "rt": rt}
    exec(src, ns_ref)    # generated test source only
    exec(out, ns_fused)
    want = ns_ref["f"](*args)
    got = numba.njit(error_model="numpy")(ns_fused["f"])(*args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12,
                                   equal_nan=True, err_msg=out)


def test_random_loop_programs_mostly_fuse():
    args = (np.ones((3, 4)), np.ones(4), np.ones(3), 0.3)
    fused = sum("for _fi0" in fusion.fuse(_random_loop_program(np.random.default_rng(100 + k)), "f", args)
                for k in range(12))
    assert fused >= 4


# ---------------------------------------------------------------- `a += E` into fresh buffers
def _njit_run(out, *args):
    import numba

    import kernels.numba_runtime  # noqa: F401  (rt.* in machine code)
    from kernels import numba_cache
    from kernels import runtime as rt
    numba_cache.install()   # the rt.* overloads' cache files are coarsen's format
    ns = {"np": np, "rt": rt}
    exec(out, ns)   # generated test source only
    return numba.njit(error_model="numpy")(ns["f"])(*args)


FRESH = ("def f(a, b, c):\n    g = a * 2.0\n    t = g[0]\n    g[0] = 0.0\n"
         "    g += b * c\n    g -= np.sin(c) * t\n    return g\n")


@pytest.mark.parametrize("n", [5, 1])
def test_whole_array_update_of_a_fresh_buffer_is_fused(n):
    """`g += E` (a whole-array update, in place in NumPy) of a buffer made fresh in the block and
    seen through no other name since (element reads and writes are no aliases) joins a run: E is
    added element by element, no temporary for it."""
    rng = np.random.default_rng(7)
    a, b, c = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    out = fusion.fuse(FRESH, "f", (a, b, c))
    assert out.count("for _fi0") == 1 and "_fv" in out and "np.empty(" not in out, out
    ns = {"np": np}
    exec(FRESH, ns)   # generated test source only
    _close(_njit_run(out, a, b, c), ns["f"](a, b, c))
    _close(_run(out, a, b, c), ns["f"](a, b, c))


@pytest.mark.parametrize("shape", [(3, 4), (1, 4), (3, 1), (0, 4), (3, 0)])
def test_whole_array_update_rank2_and_broadcast_shapes(shape):
    src = ("def f(a, b, r):\n    g = a - b\n    rb = r[None, :]\n    g += a * rb\n    g += b\n    return g\n")
    rng = np.random.default_rng(8)
    a, b, r = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape[1])
    out = fusion.fuse(src, "f", (a, b, r))
    assert "_fv" in out, out
    ns = {"np": np}
    exec(src, ns)   # generated test source only
    _close(_njit_run(out, a, b, r), ns["f"](a, b, r))
    # a runtime size-1 operand broadcasting into g: the original statements run
    b1 = rng.normal(size=(1, shape[1]))
    if shape[0] != 1:
        src1 = "def f(a, b, r):\n    g = a * 1.5\n    rb = r[None, :]\n    g += b * rb\n    return g\n"
        out1 = fusion.fuse(src1, "f", (a, b1, r))
        ns1 = {"np": np}
        exec(src1, ns1)   # generated test source only
        _close(_njit_run(out1, a, b1, r), ns1["f"](a, b1, r))


@pytest.mark.parametrize("alias", [
    "    h = g\n",                 # another name for the buffer
    "    h = g[1:]\n",             # a view of it
    "    h = g.T\n",
    "    h = np.reshape(g, (-1,))\n",
])
def test_update_of_a_buffer_seen_through_another_name_is_left_alone(alias):
    src = ("def f(a, b):\n    g = a * 2.0\n" + alias + "    g += b * 3.0\n    return g, h\n")
    out = fusion.fuse(src, "f", (np.ones(4), np.ones(4)))
    assert "_fv" not in out, out


def test_update_of_a_buffer_not_made_here_is_left_alone():
    # an argument, a name bound to another's buffer, one bound in a branch or in a loop before
    for src in ["def f(a, b):\n    g = a\n    g += b * 3.0\n    return g\n",
                "def f(a, b):\n    g = a * 2.0\n    k = g\n    g += k * b\n    return g\n",
                "def f(a, b):\n    if b[0] > 0.0:\n        g = a * 2.0\n    else:\n        g = a\n"
                "    g += b * 3.0\n    return g\n",
                "def f(a, b):\n    g = a * 2.0\n    for i in range(2):\n        h = g\n"
                "    g += b * 3.0\n    return g\n"]:
        out = fusion.fuse(src, "f", (np.ones(4), np.ones(4)))
        assert "_fv" not in out, (src, out)
    # a view of an operand of the update that is the buffer itself, shifted: never fused
    src = "def f(a, b):\n    g = a * 2.0\n    v = g[1:]\n    g[:-1] += v * b[1:]\n    return g\n"
    out = fusion.fuse(src, "f", (np.arange(5.0), np.ones(5)))
    assert "_fv" not in out, out
    ns = {"np": np}
    exec(src, ns)   # generated test source only
    _close(_run(out, np.arange(5.0), np.ones(5)), ns["f"](np.arange(5.0), np.ones(5)))


def roll_heun(x, s):
    """Held-out: a shifted-state integrator (np.roll) whose backward accumulates `d_y += ...`
    and `d_x += ...` into fresh adjoint buffers."""
    y = np.zeros(x.shape[0]) + 0.1
    for step in range(s):
        k1 = np.sin(x * np.roll(y, 1)) + y
        k2 = x * np.roll(y + 0.5 * k1, 1)
        y = y + 0.25 * (k1 + 2.0 * k2)
    return np.sum(y * y)


def grid_loop(a, b):
    """Rank 2: adjoints of a carried matrix updated as wholes."""
    y = a * 1.0
    for t in range(3):
        z = np.tanh(y * b)
        y = y + z * a - 0.1 * y
    return np.sum(y * y)


@pytest.mark.parametrize("n", [6, 2, 1, 0])
def test_fresh_updates_roll_heun_gradient(n):
    from benchmarks.adbench.programs import ode_final_vectorised
    rng = np.random.default_rng(9)
    x = rng.normal(size=n)
    (v, g), (rv, rg) = _both(roll_heun, (x, 3))
    _close(v, rv)
    _close(g, rg)
    h = 1e-6
    fd = np.array([(roll_heun(x + h * e, 3) - roll_heun(x - h * e, 3)) / (2 * h) for e in np.eye(n)])
    np.testing.assert_allclose(g, fd.reshape(n), rtol=1e-6, atol=1e-7)
    if n:
        (v, g), (rv, rg) = _both(ode_final_vectorised, (x, 4))
        _close(v, rv)
        _close(g, rg)


@pytest.mark.parametrize("shape", [(3, 4), (1, 4), (3, 1), (0, 4)])
def test_fresh_updates_rank2_gradient(shape):
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    (v, g), (rv, rg) = _both(grid_loop, (a, b))
    _close(v, rv)
    _close(g, rg)
    h = 1e-6
    fd = np.zeros(shape)
    for i in np.ndindex(shape):
        e = np.zeros(shape)
        e[i] = h
        fd[i] = (grid_loop(a + e, b) - grid_loop(a - e, b)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


def test_ode_vec_gradient_updates_adjoints_in_the_loop():
    """The vectorised ODE's backward: `d_x += ...` and `d_y += ...` of every stage are loops
    writing into the adjoint buffers (no temporary for the added term)."""
    from benchmarks.adbench.programs import ode_final_vectorised
    x = np.linspace(0.1, 1.0, 8)
    src = coarsen.grad(ode_final_vectorised, target="cpu").source(x, 3)
    name = next(n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef))
    fused = fusion.fuse(src, name, (x, 3, 1.0))
    assert fused.count("_fv") >= 8 and "d_x[:]" in fused, fused


# ------------------------------------------ several slices of one fresh buffer, apart at run time
SLICES = ("def f(u, v, w, k, m):\n    a = u * 2.0\n    b = np.tanh(v)\n    g = np.zeros(np.shape(w))\n"
          "    g[k:k + m] += a\n    g[:m] += b\n    return g\n")


@pytest.mark.parametrize("n,k,m", [(3, 3, 3), (3, 2, 3), (3, 0, 3), (1, 1, 1), (0, 0, 0), (2, 1, 2)])
def test_slice_updates_of_a_fresh_buffer_checked_apart(n, k, m):
    """`g[k:k+m] += a; g[:m] += b` (an LSTM's gate adjoints): one loop when the two views share
    no memory at run time (`rt.apart`), the statements otherwise (overlap: k < m), with
    the same values either way."""
    rng = np.random.default_rng(11)
    u, v, w = rng.normal(size=n), rng.normal(size=n), np.ones(2 * n)
    out = fusion.fuse(SLICES, "f", (u, v, w, k, m))
    assert "rt.apart(" in out and out.count("for _fi0") == 1, out
    ns = {"np": np}
    exec(SLICES, ns)   # generated test source only
    want = ns["f"](u, v, w, k, m)
    _close(_njit_run(out, u, v, w, k, m), want)
    from kernels import runtime as rt
    ns2 = {"np": np, "rt": rt}
    exec(out, ns2)   # generated test source only
    _close(ns2["f"](u, v, w, k, m), want)


def test_apart():
    import numba

    import kernels.numba_runtime  # noqa: F401
    from kernels import numba_cache
    from kernels import runtime as rt
    numba_cache.install()
    d = np.zeros(10)
    cases = [(d[:3], d[3:], True), (d[:4], d[3:], False), (d[::-1][:5], d[:5], True),
             (d[::-1][:5], d[::2][3:], False), (d[:0], d, True), (d, d, False), (d[2:5], np.zeros(3), True),
             (d[::2], d[1::2], False)]   # interleaved: counted as meeting
    jitted = numba.njit(lambda a, b: rt.apart(a, b))
    for a, b, want in cases:
        assert rt.apart(a, b) is want and rt.apart(b, a) is want
        assert jitted(a, b) == want and jitted(b, a) == want


@pytest.mark.parametrize("shape", [(3, 2), (1, 1), (4, 1), (2, 0), (0, 3)])
def test_gate_cell_gradient(shape):
    rng = np.random.default_rng(12)
    xs, w = rng.normal(size=shape), rng.normal(size=4 * shape[1])
    (v, g), (rv, rg) = _both(gate_cell, (w, xs))
    _close(v, rv)
    _close(g, rg)
    h = 1e-6
    fd = np.array([(gate_cell(w + h * e, xs) - gate_cell(w - h * e, xs)) / (2 * h) for e in np.eye(w.size)])
    np.testing.assert_allclose(g, fd.reshape(w.shape), rtol=1e-6, atol=1e-7)


def test_gate_cell_gradient_fuses_the_gate_slices():
    xs, w = np.ones((3, 2)), np.ones(8)
    src = coarsen.grad(gate_cell, target="cpu").source(w, xs)
    name = next(n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef))
    fused = fusion.fuse(src, name, (w, xs, 1.0))
    assert fused.count("rt.apart(") >= 3, fused


# ------------------------------------------- updates of a buffer read later only by arithmetic
COLUMNS = ("def f(x, w):\n    d = np.zeros(np.shape(x))\n    for r in range(x.shape[2]):\n"
           "        xr = x[:, :, r]\n        t = w * 2.0\n        d[:, :, r] += t * xr\n    e = -d\n    return e\n")


@pytest.mark.parametrize("shape", [(4, 3, 2), (1, 3, 2), (4, 1, 2), (4, 3, 1), (0, 3, 2), (4, 3, 0)])
def test_column_updates_of_a_buffer_read_by_arithmetic_are_fused(shape):
    """`d[:, :, r] += E` into a buffer every binding of which is new, read elsewhere only as an
    operand of arithmetic (`-d`, a new array: no alias of d): the update joins the run (GMM's
    backward `d_xc[:, :, j] += ...` before `-d_xc`)."""
    rng = np.random.default_rng(21)
    x, w = rng.normal(size=shape), rng.normal(size=shape[:2])
    out = fusion.fuse(COLUMNS, "f", (x, w))
    assert "_fv" in out and out.count("for _fi0") == 1, out
    ns = {"np": np}
    exec(COLUMNS, ns)   # generated test source only
    _close(_njit_run(out, x, w), ns["f"](x, w))
    _close(_run(out, x, w), ns["f"](x, w))


def test_updates_of_a_buffer_read_by_arithmetic_stay_unfused_where_unsafe():
    args = (np.arange(5.0), np.linspace(1.0, 2.0, 5))
    for src in [
        # the buffer is an argument (the caller's, maybe another argument's)
        "def f(a, b):\n    a[1:] += b[1:] * 2.0\n    e = -a\n    return e\n",
        # one binding of the buffer is not a new array
        "def f(a, b):\n    g = a * 2.0\n    if b[0] > 0.0:\n        g = b\n"
        "    g[1:] += a[1:] * 3.0\n    e = g * 2.0\n    return e\n",
        # read through a view as well
        "def f(a, b):\n    g = a * 2.0\n    h = g[1:]\n    g[:-1] += b[1:] * 3.0\n    e = g * 2.0\n    return e, h\n",
    ]:
        out = fusion.fuse(src, "f", args)
        assert "_fv" not in out, (src, out)
        ns = {"np": np}
        exec(src, ns)   # generated test source only
        want = ns["f"](*(np.copy(a) for a in args))
        _close(np.concatenate([np.ravel(w) for w in np.atleast_1d(*_run(out, *(np.copy(a) for a in args)))
                               if True] if isinstance(want, tuple) else [_run(out, *(np.copy(a) for a in args))]),
               np.concatenate([np.ravel(w) for w in want] if isinstance(want, tuple) else [want]))


def test_a_run_that_reads_the_buffer_does_not_update_it():
    """`y = g * 2.0` and then `g[::-1] += y * b`: fused into one loop, the reversed update would
    write elements the arithmetic has yet to read; the update runs after the run instead (as
    its own loop, reading y whole), with the values the statements give."""
    src = ("def f(a, b):\n    g = a * 1.0\n    y = g * 2.0\n    g[::-1] += y * b\n    e = -g\n"
           "    return e, y\n")
    a, b = np.arange(1.0, 6.0), np.linspace(1.0, 2.0, 5)
    out = fusion.fuse(src, "f", (a, b))
    ns = {"np": np}
    exec(src, ns)   # generated test source only
    for got in (_njit_run(out, a, b), _run(out, a, b)):
        for g, w in zip(got, ns["f"](a, b)):
            _close(g, w)
    tree = ast.parse(out)
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For) and n.target.id == "_fi0"]
    assert not any("_fv" in ast.unparse(n) and "g[" in ast.unparse(n) and "2.0" in ast.unparse(n)
                   for n in loops), out


# ------------------------------------------------- `rt.unbroadcast` to a keepdims shape: a sum
KEEP = ("def f(d, v, top):\n    top_k = top[:, None]\n    e = d * v\n    g = rt.unbroadcast(-e * v, np.shape(top_k))\n"
        "    h = e * 2.0\n    return g, h\n")
KEEP0 = ("def f(d, v, top):\n    top_k = top[None, :]\n    e = d * v\n    g = rt.unbroadcast(e * v, np.shape(top_k))\n"
         "    h = e + 1.0\n    return g, h\n")


@pytest.mark.parametrize("shape", [(4, 3), (1, 3), (4, 1), (0, 3), (4, 0)])
@pytest.mark.parametrize("src, axis", [(KEEP, 1), (KEEP0, 0)])
def test_unbroadcast_to_a_keepdims_shape_is_a_sum_in_the_run(shape, src, axis):
    """`rt.unbroadcast(E, np.shape(y))` with y of size 1 on one axis (its type: `top[:, None]`)
    sums E along that axis inside the run (GMM's adjoint of `inner - top[:, None]`), the
    result of y's shape; size-1 and empty axes give what the statement gives."""
    from kernels import runtime as rt
    rng = np.random.default_rng(31)
    d, v = rng.normal(size=shape), rng.normal(size=shape)
    top = rng.normal(size=shape[1 - axis])
    out = fusion.fuse(src, "f", (d, v, top))
    assert "_fr" in out and ".reshape(" in out and "rt.unbroadcast" in out.split("else:")[-1], out
    ns = {"np": np, "rt": rt}
    exec(src, ns)   # generated test source only
    for got in (_njit_run(out, d, v, top), _run_rt(out, d, v, top)):
        for g, w in zip(got, ns["f"](d, v, top)):
            assert np.shape(g) == np.shape(w)
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def _run_rt(out, *args):
    from kernels import runtime as rt
    ns = {"np": np, "rt": rt}
    exec(out, ns)   # generated test source only
    return ns["f"](*args)


def test_unbroadcast_to_an_unknown_or_wider_shape_stays_a_statement():
    from kernels import runtime as rt
    d, v = np.ones((4, 3)), np.ones((4, 3))
    for src, args in [
        # the target shape's size-1 axis is known only at run time: not a sum here
        ("def f(d, v, y):\n    e = d * v\n    g = rt.unbroadcast(e * v, np.shape(y))\n    h = e * 2.0\n"
         "    return g, h\n", (d, v, np.ones((4, 1)))),
        # a target of lower rank: a sum over the leading axis as well, not one kept axis
        ("def f(d, v, y):\n    y1 = y[:, None]\n    e = d * v\n    g = rt.unbroadcast(e * v, np.shape(y1))\n"
         "    h = e * 2.0\n    return g, h\n", (np.ones((2, 4, 3)), np.ones((2, 4, 3)), np.ones(4))),
    ]:
        out = fusion.fuse(src, "f", args)
        assert ".reshape(" not in out, (src, out)
        ns = {"np": np, "rt": rt}
        exec(src, ns)   # generated test source only
        for g, w in zip(_run_rt(out, *args), ns["f"](*args)):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


# ------------------------------------- the adjoint of a max along an axis, broadcast back (LSE)
def lse_rows(x, w):
    z = x * w[None, :]
    top = np.max(z, axis=1)
    return np.sum(top + np.log(np.sum(np.exp(z - top[:, None]), axis=1)))


@pytest.mark.parametrize("shape", [(5, 3), (1, 3), (5, 1), (1, 1), (0, 3)])
def test_lse_rows_gradient(shape):
    rng = np.random.default_rng(41)
    x, w = rng.normal(size=shape), rng.normal(size=shape[1])
    if shape[0] and shape[1] > 1:
        x[0, 1] = x[0, 0] * w[0] / w[1]   # a tie: the first maximum takes the adjoint
    (v, g), (rv, rg) = _both(lse_rows, (x, w))
    _close(v, rv)
    _close(g, rg)
    if 0 in shape:
        return
    h = 1e-6
    x = x + 1e-3 * np.arange(x.size).reshape(x.shape)   # no ties for the differences
    (_, g), _ = _both(lse_rows, (x, w))
    fd = np.array([(lse_rows(x + h * e.reshape(x.shape), w) - lse_rows(x - h * e.reshape(x.shape), w)) / (2 * h)
                   for e in np.eye(x.size)])
    np.testing.assert_allclose(g, fd.reshape(x.shape), rtol=1e-6, atol=1e-7)


def test_lse_rows_gradient_sums_the_keepdims_adjoint_and_reads_the_mask_in_the_loop():
    x, w = np.ones((5, 3)), np.ones(3)
    src = coarsen.grad(lse_rows, target="cpu").source(x, w)
    name = next(n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef))
    fused = fusion.fuse(src, name, (x, w, 1.0))
    assert ".reshape(" in fused and "_fm" in fused, fused


def test_mask_of_a_value_the_run_computes_stays_in_the_statement():
    from kernels import runtime as rt
    src = ("def f(x, d, t):\n    y = x * 2.0\n    g = d + rt.extremum_mask_axis(y, np.expand_dims(t, 1), 1) * d\n"
           "    return g\n")
    x, d = np.array([[1.0, 3.0], [2.0, 2.0]]), np.ones((2, 2))
    t = np.max(x * 2.0, axis=1)
    out = fusion.fuse(src, "f", (x, d, t))
    assert "_fm" not in out, out
    ns = {"np": np, "rt": rt}
    exec(src, ns)   # generated test source only
    _close(_run_rt(out, x, d, t), ns["f"](x, d, t))
    # read by the run before a member updates its input: the update stays out of the run
    src2 = ("def f(x, d, t):\n    g = d + rt.extremum_mask_axis(x, np.expand_dims(t, 1), 1) * d\n"
            "    x[:, :] += g\n    return g, x\n")
    t2 = np.max(x, axis=1)
    out2 = fusion.fuse(src2, "f", (x, d, t2))
    ns2 = {"np": np, "rt": rt}
    exec(src2, ns2)   # generated test source only
    for a, b in zip(_run_rt(out2, x.copy(), d, t2), ns2["f"](x.copy(), d, t2)):
        _close(a, b)
    for a, b in zip(_njit_run(out2, x.copy(), d, t2), ns2["f"](x.copy(), d, t2)):
        _close(a, b)


INNER = ("def f(x, w):\n    y = x * w\n    s = rt.sum_axis(y, 1)\n    m = rt.max_axis(y, 1)\n"
         "    c = rt.sum_axis(y, 0)\n    return s, m, c\n")


@pytest.mark.parametrize("shape", [(3, 4), (1, 4), (3, 1)])
def test_innermost_axis_reductions_accumulate_in_a_scalar(shape):
    """Sums and maxima along the run's innermost axis carry a scalar per row (stored once per
    row), with the same additions in the same order; other axes keep the array slot."""
    from kernels import runtime as rt
    rng = np.random.default_rng(51)
    x, w = rng.normal(size=shape), rng.normal(size=shape[1])
    x[0, 0] = np.nan
    out = fusion.fuse(INNER, "f", (x, w))
    assert out.count("_s = 0.0") == 1 and out.count("_s = -np.inf") == 1 and "[_fi1] += " in out, out
    ns = {"np": np, "rt": rt}
    exec(INNER, ns)   # generated test source only
    want = ns["f"](x, w)
    for got in (_njit_run(out, x, w), _run_rt(out, x, w)):
        for g, v in zip(got, want):
            np.testing.assert_array_equal(g, v)


# --------------------------------------------- several stored values of a run: one allocation
KEPT = ("def f(a, b, c):\n    e = np.sin(-a)\n    t = np.tanh(b)\n    y = c / (1.0 + e) + t\n"
        "    k = a > b\n    m = c > a\n    for i in range(2):\n        c = c + 1.0\n"
        "    return e, t, y, k, m\n")


@pytest.mark.parametrize("shape", [(5,), (1,), (0,), (3, 4), (3, 0)])
def test_values_stored_by_one_run_share_one_allocation(shape):
    """A run whose values the code after it keeps (a loop's tape records of a gate's exp and
    tanh) allocates one array per dtype, each value a row of it, instead of one per value:
    worth fusing even when no temporary is saved."""
    rng = np.random.default_rng(4)
    args = tuple(rng.normal(size=shape) for _ in range(3))
    out = fusion.fuse(KEPT, "f", args)
    assert "for _fi0" in out and out.count("np.empty(") == 2, out   # floats, booleans
    assert re.search(r"_fk\d+ = np\.empty\(\(3, ", out) and re.search(r"_fk\d+ = np\.empty\(\(2, .*dtype=np\.bool_", out), out
    ns = {"np": np}
    exec(out, ns)
    got = ns["f"](*args)
    ref = {"np": np}
    exec(KEPT, ref)
    want = ref["f"](*args)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape and g.flags.c_contiguous
        np.testing.assert_array_equal(g, w)
    # in machine code too, and the rows stay apart when written after the run
    later = out.replace("return (e, t, y, k, m)", "e += 1.0\n    t[...] = 7.0\n    return (e, t, y, k, m)")
    assert later != out
    e, t, y, k, m = _njit_run(later, *args)   # (libm's sin and tanh: within an ulp of NumPy's)
    np.testing.assert_allclose(y, want[2], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(e, want[0] + 1.0, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(t, np.full(shape, 7.0))
    np.testing.assert_array_equal(m, want[4])


def test_two_stored_values_alone_stay_statements():
    """Saving one allocation does not pay for the loop's checks and views (LSTM's primal cell);
    a run worth fusing anyway keeps a buffer per value (the ODE's adjoints)."""
    two = "def f(a, b):\n    e = np.sin(a)\n    y = e * b\n    for i in range(2):\n        b = b + 1.0\n    return e, y\n"
    assert fusion.fuse(two, "f", (np.ones(3), np.ones(3))) == two
    paid = ("def f(a, b):\n    t = a * b\n    e = np.sin(t) + 1.0\n    y = e * t\n"
            "    for i in range(2):\n        b = b + 1.0\n    return e, y\n")
    out = fusion.fuse(paid, "f", (np.ones(3), np.ones(3)))
    assert "for _fi0" in out and "_fk" not in out and out.count("np.empty(") == 2, out
