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
