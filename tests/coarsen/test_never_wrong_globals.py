"""Large arrays read from outside and changed in place are seen at the next call, on every
target, as plain NumPy sees them: arrays over `deps.CONTENT_CHECK_BYTES` are passed to the
compiled code by reference at each call (`coarsen.byref`), never baked into it; small ones are
baked and compared by bytes (also inside tuples)."""
from __future__ import annotations

import types

import numpy as np
import pytest

import coarsen
from coarsen import deps

N = 3 * deps.CONTENT_CHECK_BYTES // 8 // 2   # float64s: 1.5x the content-check size
BIG = np.linspace(0.0, 1.0, N)
HOLDER = types.SimpleNamespace(table=np.linspace(1.0, 2.0, N))
PAIR = (np.array([1.0, 2.0, 3.0]), np.linspace(0.0, 1.0, N))
BIG_I32 = np.arange(N, dtype=np.int32)
STRIDED = np.linspace(0.0, 1.0, 2 * N)[::2]
SWAPPED = np.linspace(0.0, 1.0, N).astype(">f8")


def reads_global(x):
    return np.sum(BIG * x * x)


def reads_attribute(x):
    return np.sum(HOLDER.table * x)


def reads_tuple(x):
    return np.sum(PAIR[0] * x[:3]) + np.sum(PAIR[1] * x)


def reads_int32(x):
    return np.sum(BIG_I32 * x)


def reads_strided(x):
    return np.sum(STRIDED * x)


def reads_swapped(x):
    return np.sum(SWAPPED * np.sin(x))


def make_cell():
    cell = np.linspace(-1.0, 1.0, N)

    def reads_cell(x):
        return np.sum(cell * x)
    return reads_cell, cell


def with_default(x, w=np.linspace(2.0, 3.0, N)):
    return np.sum(w * x)


TARGETS = ["numpy", "cpu"]


@pytest.mark.parametrize("target", TARGETS)
def test_large_global_edited_in_place_is_seen(target):
    global BIG   # `BIG += 1.0` as at module level: rebinds the name to the same array
    x = np.linspace(0.5, 1.5, N)
    saved = BIG.copy()
    g, v, j = (coarsen.grad(reads_global, target=target), coarsen.value_and_grad(reads_global, target=target),
               coarsen.jit(reads_global, target=target))
    try:
        np.testing.assert_allclose(g(x), 2 * BIG * x)
        BIG[0] = 5.0
        np.testing.assert_allclose(g(x), 2 * BIG * x)
        assert v(x)[0] == pytest.approx(reads_global(x))
        BIG += 1.0
        np.testing.assert_allclose(g(x), 2 * BIG * x)
        assert j(x) == pytest.approx(reads_global(x))
        BIG *= -2.0   # and once more through every transform
        np.testing.assert_allclose(v(x)[1], 2 * BIG * x)
        assert j(x) == pytest.approx(reads_global(x))
    finally:
        BIG[:] = saved


@pytest.mark.parametrize("target", TARGETS)
def test_large_attribute_cell_default_tuple_edited_in_place_are_seen(target):
    x = np.linspace(0.5, 1.5, N)
    ga = coarsen.grad(reads_attribute, target=target)
    np.testing.assert_allclose(ga(x), HOLDER.table)
    HOLDER.table[7] = -3.0
    np.testing.assert_allclose(ga(x), HOLDER.table)

    fn, cell = make_cell()
    gc = coarsen.grad(fn, target=target)
    np.testing.assert_allclose(gc(x), cell)
    cell[::3] = 9.0
    np.testing.assert_allclose(gc(x), cell)

    gd = coarsen.grad(with_default, target=target)
    np.testing.assert_allclose(gd(x), with_default.__defaults__[0])
    with_default.__defaults__[0][-1] = 0.0
    np.testing.assert_allclose(gd(x), with_default.__defaults__[0])

    gt = coarsen.jit(reads_tuple, target=target)
    assert gt(x) == pytest.approx(reads_tuple(x))
    PAIR[0][1] = 7.0         # small: compared by bytes (inside a tuple too)
    PAIR[1][-5:] = 4.0       # large: passed by reference
    assert gt(x) == pytest.approx(reads_tuple(x))


@pytest.mark.parametrize("target", TARGETS)
def test_large_arrays_of_other_dtypes_layouts_byte_orders(target):
    x = np.linspace(0.5, 1.5, N)
    for fn, array in ((reads_int32, BIG_I32), (reads_strided, STRIDED), (reads_swapped, SWAPPED)):
        j = coarsen.jit(fn, target=target)
        assert j(x) == pytest.approx(fn(x), rel=1e-12)
        array[3] = 11
        array[-1] = -2
        assert j(x) == pytest.approx(fn(x), rel=1e-12), fn.__name__


@pytest.mark.parametrize("target", TARGETS)
def test_shape_changed_in_place_compiles_again(target):
    big = np.linspace(0.0, 1.0, 2 * N)
    holder = types.SimpleNamespace(w=big)

    def f(x):
        return np.sum(holder.w[: x.shape[0]] * x) + holder.w.shape[0]
    j = coarsen.jit(f, target=target)
    x = np.ones(N)
    assert j(x) == pytest.approx(f(x))
    big.shape = (2, N)    # in place: the same object, another shape
    with pytest.raises(Exception):   # plain Python raises too (a 2-D row times x)
        f(np.ones(N + 1))
    assert j(x) == pytest.approx(f(x))


@pytest.mark.parametrize("target", TARGETS)
def test_program_from_the_disk_cache_binds_the_live_array(target, monkeypatch, tmp_path):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    x = np.linspace(0.5, 1.5, N)
    saved = BIG.copy()
    try:
        assert coarsen.grad(reads_global, target=target)(x) is not None
        assert list(tmp_path.glob("program_*.json"))
        g = coarsen.grad(reads_global, target=target)   # a new transform: loaded from disk
        BIG[1] = -8.0
        np.testing.assert_allclose(g(x), 2 * BIG * x)
        (prog,) = g.programs.values()
        assert prog.ir is None   # (it was the disk entry)
    finally:
        BIG[:] = saved


def test_vmap_sees_a_large_global_edited_in_place():
    x = np.linspace(0.5, 1.5, N)
    X = np.stack([x, 2 * x])
    saved = BIG.copy()
    try:
        for target in TARGETS:
            v = coarsen.vmap(coarsen.grad(reads_global, target=target), target=target)
            np.testing.assert_allclose(v(X), 2 * BIG * X)
            BIG[2] = 3.0
            np.testing.assert_allclose(v(X), 2 * BIG * X)
    finally:
        BIG[:] = saved


def test_large_arrays_are_parameters_not_module_constants():
    g = coarsen.jit(reads_global, target="numpy")
    x = np.ones(N)
    g(x)
    (prog,) = g.programs.values()
    header = next(line for line in prog.source.splitlines() if line.startswith("def "))
    assert header.count(",") >= 1, header   # x and the hidden parameter
    from coarsen.byref import Bound
    assert isinstance(prog.fn, Bound) and prog.fn.arrays[0] is BIG


BIG_INT = np.arange(N, dtype=np.int64) + 2**53   # int64 values float64 cannot hold
BIG_INT32 = np.arange(N, dtype=np.int32)


def reads_big_ints(k):
    return BIG_INT[1] - k + BIG_INT32[7]


@pytest.mark.parametrize("target", TARGETS)
def test_large_integer_arrays_by_reference_stay_int64(target):
    j = coarsen.jit(reads_big_ints, target=target)
    assert j(2**53) == reads_big_ints(2**53) == 8
    saved = BIG_INT[1], BIG_INT32[7]
    try:
        BIG_INT[1] += 10
        BIG_INT32[7] = 9
        assert j(2**53) == reads_big_ints(2**53) == 20
    finally:
        BIG_INT[1], BIG_INT32[7] = saved
