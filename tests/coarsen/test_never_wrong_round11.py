"""Never silently wrong, red team round 11 (lead's fixes; /work/scratch/hunt11/FINDINGS.md).

H11-1, stale: scipy.special's ufuncs have no module and no qualified name, so the fingerprint
that decides whether a compiled program still holds (`coarsen.deps.fingerprint`) named only
their type: `act = sp.expit` rebound to `sp.erf` (a global, a dict entry, an attribute, a
default) was served expit's program and derivative, in memory and from the disk cache of
another process. H11-3, stale: a name bound to a ufunc's method (`np.add.accumulate` rebound
to `np.multiply.accumulate`) was fingerprinted without the ufunc it belongs to.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
import scipy.special as sp

import coarsen
from coarsen.deps import fingerprint

TARGETS = ["numpy", "cpu"]
X = np.array([0.5, 1.0, 2.0])

act = sp.expit
table = {"act": sp.expit}
space = types.SimpleNamespace(act=sp.expit)
cumulative = np.add.accumulate


def through_global(x):
    return np.sum(act(x))


def through_dict(x):
    return np.sum(table["act"](x))


def through_attribute(x):
    return np.sum(space.act(x))


def through_default(x, f=sp.expit):
    return np.sum(f(x))


def through_method(x):
    return np.sum(cumulative(x) * x)


def test_every_numpy_and_scipy_ufunc_has_its_own_fingerprint():
    ufuncs = {id(u): u for module in (np, sp) for u in vars(module).values() if isinstance(u, np.ufunc)}
    prints = {}
    for u in ufuncs.values():
        fp = fingerprint(u)
        assert fp is not None, u
        assert fp not in prints, f"{u} and {prints[fp]} share the fingerprint {fp}"
        prints[fp] = u
    assert len(prints) > 300   # NumPy's and SciPy's


def test_ufunc_methods_and_unknown_ufuncs():
    assert fingerprint(np.add.accumulate) != fingerprint(np.multiply.accumulate)
    assert fingerprint(np.add.outer) != fingerprint(np.subtract.outer)
    assert fingerprint(np.add.reduce) == fingerprint(np.add.reduce)
    assert fingerprint(np.frompyfunc(lambda a: a, 1, 1)) is None   # nothing says which it is


@pytest.mark.parametrize("target", TARGETS)
def test_a_rebound_scipy_ufunc_is_seen(target, monkeypatch):
    cases = [(through_global, lambda f: monkeypatch.setitem(globals(), "act", f)),
             (through_dict, lambda f: monkeypatch.setitem(table, "act", f)),
             (through_attribute, lambda f: monkeypatch.setattr(space, "act", f)),
             (through_default, lambda f: monkeypatch.setattr(through_default, "__defaults__", (f,)))]
    for fn, rebind in cases:
        j, g = coarsen.jit(fn, target=target), coarsen.grad(fn, target=target)
        rebind(sp.expit)
        assert j(X) == pytest.approx(np.sum(sp.expit(X)), rel=1e-14)
        g(X)
        for f, derivative in [(sp.erf, 2 / np.sqrt(np.pi) * np.exp(-X * X)),
                              (sp.ndtr, np.exp(-X * X / 2) / np.sqrt(2 * np.pi)),
                              (sp.expit, sp.expit(X) * (1 - sp.expit(X)))]:
            rebind(f)
            assert j(X) == pytest.approx(np.sum(f(X)), rel=1e-14), (fn.__name__, f)
            np.testing.assert_allclose(g(X), derivative, rtol=1e-12, err_msg=f"{fn.__name__} {f}")
            # a new transform of the same function: the program cache, not the transform's own
            assert coarsen.jit(fn, target=target)(X) == pytest.approx(np.sum(f(X)), rel=1e-14)


@pytest.mark.parametrize("target", TARGETS)
def test_a_rebound_ufunc_method_is_seen(target, monkeypatch):
    j = coarsen.jit(through_method, target=target)
    for method in (np.add.accumulate, np.multiply.accumulate, np.add.accumulate):
        monkeypatch.setitem(globals(), "cumulative", method)
        assert j(X) == pytest.approx(np.sum(method(X) * X), rel=1e-14)


def test_the_disk_cache_of_another_process_sees_the_edited_ufunc(tmp_path):
    cache = tmp_path / "cache"
    for name in ("expit", "erf", "ndtr"):
        (tmp_path / "prog.py").write_text(textwrap.dedent(f"""
            import numpy as np, scipy.special as sp, coarsen
            act = sp.{name}
            def f(x):
                return np.sum(act(x))
            x = np.array([0.5, 1.0, 2.0])
            print(repr(float(coarsen.jit(f, target="numpy")(x))), repr(float(f(x))))
            """))
        out = subprocess.run([sys.executable, "prog.py"], cwd=tmp_path, capture_output=True, text=True,
                             env={**__import__("os").environ, "COARSEN_CACHE_DIR": str(cache)}, timeout=300)
        assert out.returncode == 0, out.stderr
        got, expected = out.stdout.split()
        assert got == expected, name


# H12-5 (round 12, on this round's new indexing): a list of ints held outside the function
# (a global, a default, a class attribute) was brought in as a tuple, so x[C] read x[0, 2]
COLUMNS = [0, 2]
ROWS3 = [1, 3, 4]


class Config:
    cols = [0, 2]


def by_global(A):
    return np.sum(A[COLUMNS] * np.arange(5.0)) + np.sum(A[ROWS3])


def by_default(A, c=[0, 2]):   # noqa: B006 (the user's style)
    return np.sum(A[c] * np.arange(5.0))


def by_attribute(A):
    return np.sum(A[Config.cols] * np.arange(5.0))


def returns_the_list(A):
    return COLUMNS


@pytest.mark.parametrize("target", TARGETS)
def test_a_list_held_outside_indexes_as_an_index_array(target):
    A = np.arange(25.0).reshape(5, 5)
    for f in (by_global, by_default, by_attribute):
        assert coarsen.jit(f, target=target)(A) == f(A), f.__name__
        np.testing.assert_array_equal(coarsen.grad(f, target=target)(A),
                                      np.asarray(coarsen.grad(f, target="numpy")(A)))
    assert coarsen.jit(returns_the_list, target=target)(A) == [0, 2]


# H12-2: max/min of a boolean selection came back int64 (r + r counted, X[1][r] picked rows)
def bool_selection(X):
    m = X[:, 0] > 0
    r = (X > 0)[m].max(axis=0)
    return np.sum(X[1][r]), (X > 0)[m].min(), (X > 0)[m].min(axis=0)


@pytest.mark.parametrize("target", TARGETS)
def test_max_min_of_a_boolean_selection_is_boolean(target):
    X = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, 6.0], [7.0, 8.0, -9.0], [0.5, 1.5, 2.5]])
    got, expected = coarsen.jit(bool_selection, target=target)(X), bool_selection(X)
    assert got[0] == expected[0] and got[1] is expected[1] is np.False_   # NumPy's bool, as NumPy returns it
    np.testing.assert_array_equal(got[2], expected[2])
    assert np.asarray(got[2]).dtype == np.bool_
