"""Writes and aliases (#13 items 4-5): the alias check accepts writes to provably disjoint rows
of an array another name views, refuses the rest with a hint that copies the specific read;
writes into an argument array (see the module docstring of `coarsen.frontend.aliases`)."""
from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest

import coarsen

_COUNTER = itertools.count()


def load(tmp_path, source: str, name: str = "f"):
    path = tmp_path / f"writes_prog_{next(_COUNTER)}.py"
    path.write_text("import numpy as np\n\n\n" + source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def central(f, x, h=1e-6):
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        g[k] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# rows written while another name views a different row; the second loop overwrites, at
# iteration i + 1, the row that `r` viewed at iteration i (a taped view must not see it)
_DISJOINT = """
def f(x):
    n = x.shape[0]
    s = np.zeros((n, 2))
    for i in range(0, n - 1, 2):
        s[i], s[i + 1] = x[i] * np.ones(2), np.sin(x[i + 1]) * np.ones(2)
        a = s[i]
        s[i + 1] = s[i + 1] * a
    for i in range(n - 1):
        r = s[i + 1]
        s[i, 0] = np.sin(r[0]) * r[1]
        s[i, 1] = r[0] * r[0]
    t = s[0]
    s[1] = t * 3.0
    return np.sum(s * s)
"""


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_writes_to_provably_disjoint_rows_are_accepted(tmp_path, target):
    f = load(tmp_path, _DISJOINT)
    x = np.array([0.3, -0.7, 1.1, 0.5, 0.9, -0.2])
    value, grad = coarsen.value_and_grad(f, target=target)(x)
    assert np.isclose(value, f(x), rtol=1e-12)
    assert np.isclose(coarsen.jit(f, target=target)(x), f(x), rtol=1e-12)
    np.testing.assert_allclose(grad, central(f, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("source, read", [
    # the same row
    ("def f(x):\n    s = np.zeros((3, 2))\n    r = s[1]\n    s[1] = x * np.ones(2)\n    return np.sum(r)\n", "s[1]"),
    # s[-1] and s[0] are one row when s has one: not provably disjoint
    ("def f(x):\n    s = np.zeros((x.shape[0], 2))\n    r = s[0]\n    s[-1] = x[0] * np.ones(2)\n"
     "    return np.sum(r)\n", "s[0]"),
    # i - 1 wraps to the last row at i = 0
    ("def f(x):\n    s = np.zeros((x.shape[0], 2))\n    for i in range(x.shape[0]):\n        r = s[i]\n"
     "        s[i - 1] = r + x[i]\n    return np.sum(s)\n", "s[i]"),
    # a column view is no row
    ("def f(x):\n    s = np.zeros((3, 2))\n    c = s[:, 0]\n    s[1] = x * np.ones(2)\n    return np.sum(c)\n",
     "s[:, 0]"),
])
def test_overlapping_or_unprovable_writes_are_refused_with_a_hint_that_copies_the_read(tmp_path, source, read):
    f = load(tmp_path, source)
    with pytest.raises(coarsen.UnsupportedError) as err:
        coarsen.grad(f, target="numpy")(np.array([1.0, 2.0, 3.0]))
    assert "also reachable" in err.value.message
    assert f"= {read}.copy()" in err.value.hint, err.value.hint
    name = read.split("[")[0]
    assert f"= {name}.copy()" not in err.value.hint


def test_the_suggested_copy_compiles_and_is_right(tmp_path):
    f = load(tmp_path, "def f(x):\n    s = np.zeros((x.shape[0], 2))\n    for i in range(x.shape[0]):\n"
                       "        r = s[i].copy()\n        s[i - 1] = r + x[i]\n    return np.sum(s * s)\n")
    x = np.array([1.0, 2.0, 3.0])
    value, grad = coarsen.value_and_grad(f, target="numpy")(x)
    assert np.isclose(value, f(x))
    np.testing.assert_allclose(grad, central(f, x), rtol=1e-6)


# ------------------------------------------------------------------ writes into arguments
_WRITERS = {
    "element": "def f(x):\n    x[0] = x[0] * 2.0\n    return np.sum(x * x)\n",
    "loop": "def f(x):\n    for i in range(1, x.shape[0]):\n        x[i] = x[i - 1] * 0.5 + np.sin(x[i])\n"
            "    return np.sum(x * x)\n",
    "augmented": "def f(x):\n    x *= 3.0\n    x[1] += x[0]\n    return np.sum(np.exp(x))\n",
    "branch": "def f(x):\n    if x[0] > 0.0:\n        x[-1] = x[0] * x[1]\n    return np.sum(x) * x[-1]\n",
}


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("kind", sorted(_WRITERS))
def test_writes_into_an_argument_match_plain_python_value_gradient_and_caller_state(tmp_path, target, kind):
    f = load(tmp_path, _WRITERS[kind])
    x0 = np.array([0.7, -1.2, 0.4, 1.5])

    def plain(x):   # f's value at the array passed in (f writes into its argument)
        return f(x.copy())

    expected_after = x0.copy()
    expected_value = f(expected_after)   # plain Python: the value, and the array it leaves
    x = x0.copy()
    value, grad = coarsen.value_and_grad(f, target=target)(x)
    assert np.isclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(x, expected_after, rtol=1e-12)        # the caller sees the writes
    np.testing.assert_allclose(grad, central(plain, x0), rtol=1e-6, atol=1e-8)   # d/d(value passed in)
    x = x0.copy()
    np.testing.assert_allclose(coarsen.grad(f, target=target)(x), grad, rtol=1e-12)
    np.testing.assert_allclose(x, expected_after, rtol=1e-12)
    x = x0.copy()
    assert np.isclose(coarsen.jit(f, target=target)(x), expected_value, rtol=1e-12)
    np.testing.assert_allclose(x, expected_after, rtol=1e-12)


def test_writes_into_one_argument_while_differentiating_another(tmp_path):
    f = load(tmp_path, "def f(w, buf):\n    for i in range(buf.shape[0]):\n        buf[i] = w * i\n"
                       "    return np.sum(buf * buf)\n")
    buf = np.zeros(3)
    g = coarsen.grad(f, argnums=0, target="numpy")(1.5, buf)
    assert np.isclose(g, 2 * 1.5 * (0 + 1 + 4))
    np.testing.assert_array_equal(buf, [0.0, 1.5, 3.0])


def test_argument_writes_that_cannot_match_plain_python_are_refused(tmp_path):
    writer = load(tmp_path, _WRITERS["element"])
    for transform in (lambda: coarsen.jvp(writer, (np.ones(3),), (np.ones(3),), target="numpy"),
                      lambda: coarsen.vjp(writer, np.ones(3), target="numpy"),
                      lambda: coarsen.vmap(writer, target="numpy")(np.ones((2, 3)))):
        with pytest.raises(coarsen.UnsupportedError, match="writ"):
            transform()
    rebound = load(tmp_path, "def f(x):\n    x[0] = 1.0\n    x = x * 2.0\n    return np.sum(x)\n")
    with pytest.raises(coarsen.UnsupportedError, match="keep naming it"):
        coarsen.grad(rebound, target="numpy")(np.ones(3))
    with pytest.raises(coarsen.UnsupportedError, match="float32"):
        coarsen.jit(writer, target="numpy")(np.ones(3, dtype=np.float32))
    two = load(tmp_path, "def f(x, y):\n    x[0] = 5.0\n    return np.sum(y)\n")
    x = np.ones(3)
    with pytest.raises(coarsen.UnsupportedError, match="shares memory"):
        coarsen.jit(two, target="numpy")(x, x[1:])    # plain Python: 7.0 through y... never 2.0
    torch = pytest.importorskip("torch")
    import coarsen.torch as ct
    tensor = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(coarsen.UnsupportedError, match="writes into an argument"):
        ct.function(writer)(tensor)   # the write-back would change the tensor behind autograd
    assert tensor.detach().numpy().tolist() == [1.0, 1.0, 1.0]
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        coarsen.jit(writer, target="numpy")(frozen)
    np.testing.assert_array_equal(frozen, np.ones(3))


TABLE = np.array([1.0, 2.0, 3.0])


def _writes_and_reads_table(x):
    x[0] = 5.0
    return TABLE[0] * 1.0


def test_writing_into_an_argument_that_is_a_module_level_array_the_function_reads_is_refused():
    x = np.ones(3)
    assert coarsen.jit(_writes_and_reads_table, target="numpy")(x) == 1.0 and x[0] == 5.0
    with pytest.raises(coarsen.UnsupportedError, match="module-level array"):
        coarsen.jit(_writes_and_reads_table, target="numpy")(TABLE)   # plain Python: 5.0
    assert TABLE[0] == 1.0
