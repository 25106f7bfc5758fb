"""Integer index arrays (#13 item 4): they stay int64, gather with NumPy's advanced-indexing
semantics (`coarsen.ops.indexing`), and their adjoint scatter-adds (repeated indices
accumulate). Generated programs are checked against CPython for the value, against torch's
autograd for the gradient (torch's advanced indexing backward is `index_put_(accumulate=True)`,
and `index_select`/`index_add` for the explicit forms) and against central differences; index
checks, refusals and NamedTuple parameters have regression tests."""
from __future__ import annotations

import importlib.util
import itertools
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coarsen

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

_COUNTER = itertools.count()


def load(tmp_path, source: str, name: str = "f"):
    """The function `name` of a module holding `source` (coarsen reads functions' source)."""
    path = tmp_path / f"idx_prog_{next(_COUNTER)}.py"
    path.write_text("import numpy as np\n\n\n" + source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def central(f, x, *rest, h=1e-6):
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        g[k] = (f(x + e, *rest) - f(x - e, *rest)) / (2 * h)
    return g


# (base, indexing expression, axis i0 indexes, axis i1 indexes, axis j indexes): T is rank 3,
# X rank 2, x rank 1; i0/i1 index arrays, j an int
PATTERNS = [
    ("x", "x[i0]", 0, 0, 0), ("X", "X[i0]", 0, 1, 1), ("X", "X[i0, j]", 0, 1, 1),
    ("X", "X[j, i1]", 0, 1, 0), ("X", "X[:, i1]", 0, 1, 0), ("X", "X[i0, i1]", 0, 1, 0),
    ("X", "X[i0, 1:]", 0, 1, 0), ("X", "X[i0][:, i1]", 0, 1, 0), ("T", "T[i0, :, i1]", 0, 2, 0),
    ("T", "T[j, :, i1]", 0, 2, 0), ("T", "T[:, i0, i1]", 1, 2, 0), ("T", "T[i0, j]", 0, 2, 1),
]
FUNCTIONS = {"sin": ("np.sin", "torch.sin"), "exp": ("np.exp", "torch.exp"), "cube": ("", "")}


def _program(base: str, expr: str, fname: str) -> tuple[str, str]:
    np_f, torch_f = FUNCTIONS[fname]
    body = f"g = {expr}\n    return np.sum({np_f}(g) * g) + np.sum(g * g * g)" if fname != "cube" \
        else f"g = {expr}\n    return np.sum(g * g * g)"
    source = f"def f({base}, i0, i1, j):\n    {body}\n"
    return source, (expr, torch_f)


def _torch_grad(base_array, i0, i1, j, expr, torch_f, fname):
    t = torch.tensor(base_array, dtype=torch.float64, requires_grad=True)
    env = {"x": t, "X": t, "T": t, "i0": torch.tensor(i0), "i1": torch.tensor(i1), "j": j}
    g = eval(expr, {}, env)   # the same subscript in torch (NumPy's advanced-indexing rules)
    out = torch.sum(g * g * g)
    if fname != "cube":
        out = out + torch.sum(eval(torch_f, {"torch": torch})(g) * g)
    out.backward()
    return t.grad.numpy()


@st.composite
def gathers(draw):
    base, expr, a0, a1, aj = draw(st.sampled_from(PATTERNS))
    fname = draw(st.sampled_from(sorted(FUNCTIONS)))
    rank = {"x": 1, "X": 2, "T": 3}[base]
    shape = tuple(draw(st.integers(2, 4)) for _ in range(rank))
    length = draw(st.integers(1, 6))

    def indices(n):   # repeats and negative indices on purpose
        return np.array(draw(st.lists(st.integers(-n, n - 1), min_size=length, max_size=length)), dtype=np.int64)
    i0, i1 = indices(shape[a0]), indices(shape[a1])
    j = draw(st.integers(-shape[aj], shape[aj] - 1))
    seed = draw(st.integers(0, 2**16))
    return base, expr, fname, shape, i0, i1, j, seed


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=gathers())
def test_generated_gathers_against_cpython_torch_and_differences(tmp_path_factory, case):
    base, expr, fname, shape, i0, i1, j, seed = case
    source, (texpr, torch_f) = _program(base, expr, fname)
    f = load(tmp_path_factory.mktemp("g"), source)
    a = np.random.default_rng(seed).uniform(-1.0, 1.0, shape)
    value, grad = coarsen.value_and_grad(f, target="numpy")(a, i0, i1, j)
    assert np.isclose(value, f(a, i0, i1, j), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, _torch_grad(a, i0, i1, j, texpr, torch_f, fname), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad, central(f, a, i0, i1, j), rtol=1e-5, atol=1e-7)
    out, tangent = coarsen.jvp(lambda v: f(v, i0, i1, j), (a,), (np.ones_like(a),), target="numpy")
    assert np.isclose(tangent, np.sum(grad), rtol=1e-9, atol=1e-9)   # <1, grad> = J 1


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=gathers())
def test_generated_gathers_on_the_cpu_target_against_torch(tmp_path_factory, case):
    base, expr, fname, shape, i0, i1, j, seed = case
    source, (texpr, torch_f) = _program(base, expr, fname)
    f = load(tmp_path_factory.mktemp("g"), source)
    a = np.random.default_rng(seed).uniform(-1.0, 1.0, shape)
    value, grad = coarsen.value_and_grad(f, target="cpu")(a, i0, i1, j)
    assert np.isclose(value, f(a, i0, i1, j), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, _torch_grad(a, i0, i1, j, texpr, torch_f, fname), rtol=1e-9, atol=1e-12)


_CUDA_SCRIPT = """
import sys
sys.path[:0] = [{root!r}]
import numpy as np, coarsen
def f(X, idx, j):
    return np.sum(np.sin(X[idx, j]) * X[idx]) + np.sum(X[idx, idx] ** 2)
def w(x):
    x[0] = x[0] * 2.0
    return np.sum(x * x)
def put(x, v, idx):
    y = x * 2.0
    y[idx] = v * y[idx]
    np.add.at(y, idx, v)
    return np.sum(y * y)
X, idx = np.arange(12.0).reshape(3, 4) / 10.0, np.array([2, 0, 2, -1])
px, pv, pidx = np.linspace(0.1, 1.0, 5), np.array([1.0, 2.0, 3.0]), np.array([0, 3, -2])
pa = coarsen.value_and_grad(put, argnums=(0, 1), target="cuda")(px, pv, pidx)
pb = coarsen.value_and_grad(put, argnums=(0, 1), target="numpy")(px, pv, pidx)
puts = np.isclose(pa[0], pb[0]) and all(np.allclose(u, w) for u, w in zip(pa[1], pb[1]))
g = coarsen.grad(f, target="cuda")(X, idx, 1)
ref = coarsen.grad(f, target="numpy")(X, idx, 1)
x = np.array([1.0, 2.0])
v, gw = coarsen.value_and_grad(w, target="cuda")(x)
try:
    coarsen.grad(f, target="cuda")(X, np.array([0, 3]), 1)
    raised = False
except IndexError as err:
    raised = "axis 0 of `X`" in str(err)
ok = np.allclose(g, ref, rtol=1e-12) and v == 8.0 and x.tolist() == [2.0, 2.0] and gw.tolist() == [8.0, 4.0] and raised \\
    and puts
print("ok" if ok else f"FAILED {{g}} {{ref}} {{v}} {{x}} {{gw}} {{raised}}")
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_gathers_and_argument_writes_on_the_cuda_target_in_the_simulator(tmp_path):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path))
    env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    script = tmp_path / "cuda_gathers.py"   # a file: coarsen reads the functions' source
    script.write_text(_CUDA_SCRIPT.format(root=root))
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout[-3000:] + out.stderr[-3000:]


_CPU_PROGRAM = """
def f(T, X, x, i0, i1, j):
    a = np.sum(np.sin(x[i0]) * x[i0])
    b = np.sum(X[i0] ** 2) + np.sum(np.exp(X[i0, j])) + np.sum(X[j, i1] * X[:, i1][j])
    c = np.sum(X[i0, i1] ** 3) + np.sum(T[j, :, i1] * T[i0, :, i1])
    return a + b + c
"""


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
def test_every_gather_form_in_one_program_against_torch(tmp_path, target):
    f = load(tmp_path, _CPU_PROGRAM)
    rng = np.random.default_rng(3)
    T, X, x = rng.normal(size=(3, 2, 4)), rng.normal(size=(4, 4)), rng.normal(size=5)
    i0 = np.array([0, 2, 2, -1, 0], dtype=np.int32)   # int32: arrives as int64
    i1 = np.array([3, -4, 1, 1, 3])
    value, grads = coarsen.value_and_grad(f, argnums=(0, 1, 2), target=target)(T, X, x, i0, i1, 1)
    assert np.isclose(value, f(T, X, x, i0, i1, 1), rtol=1e-12)
    ts = [torch.tensor(v, requires_grad=True) for v in (T, X, x)]
    tT, tX, tx = ts
    ti0, ti1 = torch.tensor(i0.astype(np.int64)), torch.tensor(i1)
    a = torch.sum(torch.sin(tx.index_select(0, ti0 % 5)) * tx.index_select(0, ti0 % 5))
    b = torch.sum(tX.index_select(0, ti0 % 4) ** 2) + torch.sum(torch.exp(tX[ti0, 1])) \
        + torch.sum(tX[1, ti1] * tX[:, ti1][1])
    c = torch.sum(tX[ti0, ti1] ** 3) + torch.sum(tT[1][:, ti1].T * tT[ti0, :, ti1])   # torch: an int is basic indexing
    (a + b + c).backward()
    for g, t in zip(grads, ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_repeated_indices_accumulate_like_index_add(tmp_path, target):
    f = load(tmp_path, "def f(x, idx):\n    return np.sum(x[idx] * np.arange(idx.shape[0]))\n")
    x, idx = np.linspace(0.0, 1.0, 4), np.array([1, 1, 1, 3, -1])
    g = coarsen.grad(f, target=target)(x, idx)
    expected = torch.zeros(4, dtype=torch.float64).index_add(
        0, torch.tensor(idx % 4), torch.arange(5, dtype=torch.float64))
    np.testing.assert_array_equal(g, expected.numpy())   # [0, 3, 0, 7]


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_index_arrays_stay_int64_and_are_not_differentiated(tmp_path, target):
    f = load(tmp_path, "def f(idx):\n    return idx * 2 + 1\n")
    out = coarsen.jit(f, target=target)(np.array([1, 5, -2], dtype=np.int64))
    assert out.dtype == np.int64 and out.tolist() == [3, 11, -3]
    with pytest.raises(coarsen.UnsupportedError, match="int32"):   # NumPy: int32 arithmetic (#11)
        coarsen.jit(f, target=target)(np.array([1, 5, -2], dtype=np.int32))
    g = load(tmp_path, "def f(x, idx):\n    return np.sum(x[idx + 1] * x[idx])\n")
    x, idx = np.array([1.0, 2.0, 3.0]), np.array([0, 1])
    grads = coarsen.grad(g, argnums=0, target=target)(x, idx)
    np.testing.assert_allclose(grads, [2.0, 4.0, 2.0])
    with pytest.raises(coarsen.UnsupportedError, match="int"):
        coarsen.grad(g, argnums=1, target=target)(x, idx)   # as JAX: no gradient for ints


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_index_out_of_range_raises_index_error_at_the_users_line(tmp_path, target):
    f = load(tmp_path, "def f(X, idx):\n    return np.sum(X[:, idx] ** 2)\n")
    X = np.ones((2, 3))
    np.testing.assert_array_equal(coarsen.grad(f, target=target)(X, np.array([-3, 2])), [[2.0, 0.0, 2.0]] * 2)  # -3 wraps
    for bad in ([0, 3], [-4]):
        with pytest.raises(IndexError, match=r"idx_prog_\d+\.py:5:.*axis 1 of `X`"):
            coarsen.grad(f, target=target)(X, np.array(bad))
        with pytest.raises(IndexError, match=r"idx_prog_\d+\.py:5:"):
            coarsen.jit(f, target=target)(X, np.array(bad))


def test_refusals_name_the_construct_and_give_a_hint(tmp_path):
    cases = [
        ("def f(x):\n    return np.sum(x[x > 0] * 2.0)\n", (np.ones(3),), "boolean mask", "np.where"),
        ("def f(x, w):\n    return np.sum(x[w])\n", (np.ones(3), np.zeros(2)), "floats", "astype(int)"),
        ("def f(X, idx):\n    y = X * 1.0\n    y[:, idx] = 0.0\n    return np.sum(y)\n",
         (np.ones((3, 2)), np.array([0])), "leading axes", "move the indexed axis first"),
        ("def f(X, idx):\n    return np.sum(X[idx, None])\n", (np.ones((3, 2)), np.zeros((2, 2), dtype=int)),
         "np.newaxis", "index first"),
    ]
    for source, args, what, hint in cases:
        f = load(tmp_path, source)
        with pytest.raises(coarsen.UnsupportedError) as err:
            coarsen.grad(f, target="numpy")(*args)
        assert what in err.value.message and hint in (err.value.hint or ""), err.value
        assert "idx_prog_" in str(err.value.loc)


class Params(NamedTuple):
    W: np.ndarray
    b: float


def _loss(p, x):
    W, b = p
    return np.sum(np.tanh(p.W @ x + p.b)) + b * 0.5 + np.sum(W[0] ** 2)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_namedtuple_parameters_are_pytrees(target):
    p = Params(np.linspace(-1.0, 1.0, 6).reshape(2, 3), 0.3)
    x = np.array([0.5, -1.0, 2.0])
    g = coarsen.grad(_loss, target=target)(p, x)
    assert type(g) is Params
    tW, tb = torch.tensor(p.W, requires_grad=True), torch.tensor(p.b, dtype=torch.float64, requires_grad=True)
    out = torch.sum(torch.tanh(tW @ torch.tensor(x) + tb)) + tb * 0.5 + torch.sum(tW[0] ** 2)
    out.backward()
    np.testing.assert_allclose(g.W, tW.grad.numpy(), rtol=1e-12)
    assert np.isclose(g.b, tb.grad.item(), rtol=1e-12)


def test_gathers_compose_with_vmap_jvp_and_hessian(tmp_path):
    f = load(tmp_path, "def f(x, idx):\n    return np.sum(np.sin(x[idx]) * x[idx]) + np.sum(x[(x * 0.0 + 1.5).astype(int)])\n")
    rng = np.random.default_rng(0)
    xs, idx = rng.normal(size=(3, 5)), np.array([0, 4, 4, -2])
    g = coarsen.vmap(coarsen.grad(f), in_axes=(0, None), target="numpy")(xs, idx)
    for x, gx in zip(xs, g):
        np.testing.assert_allclose(gx, central(f, x, idx), rtol=1e-6, atol=1e-8)
    x = xs[0]
    out, t = coarsen.jvp(f, (x, idx), (np.ones(5),), argnums=0, target="numpy")
    assert np.isclose(out, f(x, idx)) and np.isclose(t, np.sum(central(f, x, idx)), rtol=1e-6)
    H = coarsen.hessian(f, target="numpy")(x, idx)
    grad = coarsen.grad(f, target="numpy")
    np.testing.assert_allclose(H, np.array([central(lambda v: grad(v, idx)[k], x) for k in range(5)]),
                               rtol=1e-5, atol=1e-6)
