"""Programs a user would write that returned stale or wrong values, found by trying (#11 item
4), each with the fix: never a silently wrong value, on numpy and cpu.

- a function whose code a reloader swaps in place (IPython's %autoreload, jurigged keep the
  function object and replace `__code__`): the guard checks every read function's code;
- a module file edited after import (no reload), or an exec'd cell's name reused: `inspect`
  reads the text as it is now, not the code Python runs; tracing it is refused
  (`deps.source_matches`), and the disk key includes a digest of the code;
- a byte-swapped float64 array after a native one took the native fast path (Numba then
  failed to type it); it is converted as other dtypes are.
"""
from __future__ import annotations

import importlib
import linecache
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest

import coarsen

TARGETS = ["numpy", "cpu"]


def helper(x):
    return 2.0 * x


def uses_helper(x):
    return helper(x) * x


def _seven(x):
    return 7.0 * x


def _plus(x):
    return helper(x) + x


def _sum_sin(x):
    return np.sum(np.sin(x) * x)


@pytest.mark.parametrize("target", TARGETS)
def test_code_swapped_in_place_is_seen(target):
    g = coarsen.grad(uses_helper, target=target)
    saved = helper.__code__
    try:
        assert g(3.0) == pytest.approx(12.0)
        helper.__code__ = _seven.__code__      # what %autoreload does to an edited function
        assert g(3.0) == pytest.approx(42.0)   # d/dx 7x^2
        uses_helper.__code__ = _plus.__code__
        assert g(3.0) == pytest.approx(8.0)
    finally:
        helper.__code__ = saved
        uses_helper.__code__ = _restore_uses_helper


_restore_uses_helper = uses_helper.__code__


def _write_module(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    importlib.invalidate_caches()
    return path


@pytest.mark.parametrize("target", TARGETS)
def test_a_file_edited_after_import_is_refused_not_traced(target, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"edited_after_import_{target}"
    path = _write_module(tmp_path, name, """
        def f(x):
            return x * 2.0
    """)
    mod = importlib.import_module(name)
    try:
        path.write_text("def f(x):\n    return x * 4.0\n")   # edited, not reloaded
        linecache.checkcache(str(path))
        assert mod.f(1.0) == 2.0                              # Python still runs the old code
        with pytest.raises(coarsen.UnsupportedError, match="not the code it runs"):
            coarsen.grad(mod.f, target=target)(1.0)
        importlib.reload(mod)
        assert coarsen.grad(mod.f, target=target)(1.0) == 4.0
    finally:
        sys.modules.pop(name, None)


def _define(text, filename):
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace = {"np": np}
    exec(compile(text, filename, "exec"), namespace)
    return namespace["f"]


@pytest.mark.parametrize("target", TARGETS)
def test_an_exec_cell_name_reused_is_refused(target):
    first = _define("def f(x):\n    return x * 2.0\n", "<never-wrong-cell>")
    assert coarsen.grad(first, target=target)(1.0) == 2.0
    second = _define("def f(x):\n    return x * 3.0\n", "<never-wrong-cell>")
    assert coarsen.grad(second, target=target)(1.0) == 3.0
    with pytest.raises(coarsen.UnsupportedError, match="not the code it runs"):
        coarsen.grad(first, target=target)(1.0)   # a new transform of the old function


def test_closures_methods_and_decorated_functions_still_match_their_source():
    from coarsen import deps
    from coarsen.frontend.source import read_source

    def outer(k):
        def inner(x):
            return x * k
        return inner

    class C:
        def method(self, x):
            return super().__hash__() + x

    for fn in (outer(2.0), C.method, uses_helper, _sum_sin):
        assert deps.source_matches(fn, read_source(fn).text), fn


@pytest.mark.parametrize("target", TARGETS)
def test_byte_swapped_arrays_after_native_ones(target):
    base = np.linspace(-1.0, 1.0, 7)
    g, j = coarsen.grad(_sum_sin, target=target), coarsen.jit(_sum_sin, target=target)
    g(base)
    j(base)
    swapped = base.astype(">f8")
    np.testing.assert_allclose(g(swapped), np.cos(base) * base + np.sin(base))
    assert j(swapped) == pytest.approx(_sum_sin(base))


def _poly_sin(x):
    return x * 0.1 + x * x + np.sin(x)


@pytest.mark.parametrize("target", TARGETS)
def test_narrow_float_scalars_are_float64_on_every_target(target):
    """float32/float16 scalars computed as float64, as arrays of them are (the numpy target ran
    them in float32 and "cpu" in a mix, so the targets disagreed; Numba had no float16)."""
    for x in (np.float32(0.3), np.float16(0.3)):
        assert coarsen.jit(_poly_sin, target=target)(x) == _poly_sin(float(x))
        assert coarsen.grad(_poly_sin, target=target)(x) == pytest.approx(0.1 + 2 * float(x) + np.cos(float(x)),
                                                                         rel=1e-15)


SMALL = np.array([1.0, 2.0, 3.0])
LARGE = np.linspace(0.0, 1.0, 20_000)   # passed by reference (coarsen.byref)


def _small_copy(x):
    return SMALL * 1.0 + 0.0 * np.sum(x)


def _large_copy(x):
    return LARGE * 1.0


@pytest.mark.parametrize("target", TARGETS)
def test_results_never_alias_program_constants_or_outside_arrays(target):
    """`W * 1.0` simplifies to `W`: the result was the program's read-only constant, or the
    read-only view of a large outside array, which then changed with the user's later edits."""
    x = np.ones(2)
    calls = (lambda fn: coarsen.jit(fn, target=target)(x), lambda fn: coarsen.vjp(fn, x, target=target)[0])
    for fn, array in ((_small_copy, SMALL), (_large_copy, LARGE)):
        for call in calls:
            saved = array.copy()
            try:
                out = call(fn)
                array[0] = 100.0
                assert out[0] == saved[0], fn.__name__
                out[1] = -1.0          # the caller's own array
                assert array[1] == saved[1]
            finally:
                array[:] = saved


def _helper_with_defaults(x, w=np.array([1.0, 2.0]), s=2.0):
    return np.sum(w * x) * s


def _calls_helper(x):
    return _helper_with_defaults(x)


@pytest.mark.parametrize("target", TARGETS)
def test_an_inlined_helpers_defaults_are_reads(target):
    """The defaults an inlined call used were constants nobody watched: a default array edited
    in place, or `helper.__defaults__` rebound, kept the old values."""
    j = coarsen.jit(_calls_helper, target=target)
    x = np.ones(2)
    saved = _helper_with_defaults.__defaults__
    try:
        assert j(x) == 6.0
        _helper_with_defaults.__defaults__[0][0] = 10.0
        assert j(x) == 24.0
        _helper_with_defaults.__defaults__ = (np.array([1.0, 2.0]), 5.0)
        assert j(x) == 15.0
    finally:
        saved[0][0] = 1.0
        _helper_with_defaults.__defaults__ = saved


def _doubled(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(x):
        return 2.0 * fn(x)
    return wrapper


@_doubled
def _square_doubled(x):
    return x * x


@pytest.mark.parametrize("target", TARGETS)
def test_a_functools_wraps_decorator_is_compiled_not_skipped(target):
    """inspect follows __wrapped__ to the decorated function's source: coarsen compiled x*x
    and lost the wrapper's factor 2 (grad 6 at 3, not 12). It reads the wrapper's own code."""
    assert coarsen.grad(_square_doubled, target=target)(3.0) == 12.0
    assert coarsen.jit(_square_doubled, target=target)(3.0) == 18.0


with warnings.catch_warnings():   # np.matrix's PendingDeprecationWarning
    warnings.simplefilter("ignore")
    MATRIX = np.matrix([[1.0, 2.0], [3.0, 4.0]])
MASKED = np.ma.masked_array([1.0, 2.0, 100.0], mask=[False, False, True])


def _reads_matrix(x):
    return np.sum(MATRIX * x)


def _reads_masked(x):
    return np.sum(MASKED * x)


def _product(a, b):
    return np.sum(a * b)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("target", TARGETS)
def test_matrix_and_masked_arrays_are_refused(target, tmp_path):
    """np.matrix multiplies with `*` and a masked array skips its masked elements; compiled as
    plain arrays they gave 17 where NumPy gives 16, 103 where 3 (globals on every target,
    arguments on "cpu")."""
    x = np.array([[1.0], [2.0]])
    with pytest.raises(coarsen.UnsupportedError, match="numpy.matrix arrays are not supported"):
        coarsen.jit(_reads_matrix, target=target)(x)
    with pytest.raises(coarsen.UnsupportedError, match="MaskedArray arrays are not supported"):
        coarsen.grad(_reads_masked, target=target)(np.ones(3))
    with pytest.raises(TypeError, match="matrix arrays are not supported"):
        coarsen.jit(_product, target=target)(np.matrix([[1.0, 2.0], [3.0, 4.0]]), np.matrix([[1.0], [2.0]]))
    j = coarsen.jit(_product, target=target)
    assert j(np.ones(2), np.ones(2)) == 2.0
    with pytest.raises(TypeError, match="MaskedArray"):   # after a plain call: the fast path too
        j(np.ma.masked_array([1.0, 5.0], mask=[False, True]), np.ones(2))
    with pytest.raises(TypeError, match="MaskedArray"):
        coarsen.vmap(_product, target=target)(np.ma.masked_array(np.ones((2, 2))), np.ones((2, 2)))
    mapped = np.memmap(tmp_path / "a.dat", dtype=np.float64, mode="w+", shape=(2,))
    mapped[:] = [1.0, 3.0]   # a memmap has NumPy's own semantics: accepted
    assert coarsen.jit(_product, target=target)(mapped, np.ones(2)) == 4.0


def _times_small(x):
    return x * SMALL[:2]


def _times_large(x):
    return x * LARGE[:2]


@pytest.mark.parametrize("target", TARGETS)
def test_a_vjp_pullback_is_taken_where_its_outputs_were(target):
    """A small outside array is baked, so vjp_fn kept the values of the forward run; a large
    one (passed by reference) was read again by each vjp_fn call, after an in-place edit."""
    x = np.ones(2)
    for fn, array in ((_times_small, SMALL), (_times_large, LARGE)):
        saved = array.copy()
        try:
            out, pullback = coarsen.vjp(fn, x, target=target)
            before = np.array(pullback(np.ones(2))[0])
            array[0] = 10.0
            np.testing.assert_array_equal(pullback(np.ones(2))[0], before)
            np.testing.assert_array_equal(before, saved[:2])
        finally:
            array[:] = saved


def _floor_div(a, b):
    return a // b + a / b * 0.0


def _plain_floor_div(a, b):
    return a // b


def _float_mod(a, b):
    return a % b


def test_the_numpy_tier_and_machine_code_agree_on_float_division_by_zero():
    """The numpy target (the cpu target's first tier) ran Python floats, so `7.0 // 0.0` raised
    ZeroDivisionError there and gave inf in machine code: a program changed behaviour when its
    machine code arrived. Both now compute float64 as NumPy does (inf, nan), as CUDA does; and
    `a / b * 0.0` is inf * 0 = NaN at b = 0 (SymPy once folded it to 0, which hid that)."""
    for fn, expected in ((_floor_div, np.nan), (_float_mod, np.nan)):
        with np.errstate(all="ignore"):
            assert np.isnan(fn(np.float64(7.0), np.float64(0.0))) == np.isnan(expected)
        got = [coarsen.jit(fn, target=t)(7.0, 0.0) for t in ("numpy", "cpu")]
        np.testing.assert_array_equal(got, [expected, expected])
        np.testing.assert_array_equal(coarsen.grad(fn, target="numpy")(7.0, 0.0),
                                      coarsen.grad(fn, target="cpu")(7.0, 0.0))
    for t in ("numpy", "cpu"):
        assert coarsen.jit(_plain_floor_div, target=t)(7.0, 0.0) == np.inf


def _loop_int(x, n):
    s = 0.0
    for i in range(n):
        s = s + int(x) * 1.0 + x
    return s


def _loop_gather(x, idx, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(x[idx])
    return s


def _dead_int(x):
    k = int(x)
    return x * 2.0


def _value_only_int(x):
    return 2.0 * int(x) + x


@pytest.mark.parametrize("target", TARGETS)
def test_what_raises_runs_where_python_runs_it(target):
    """Loop-invariant code motion hoisted int() and gathers out of loops that run zero times
    (raising where Python does not), and dead-code elimination (or a gradient that did not
    need the value) dropped an int() that raises in Python."""
    x, bad = np.array([1.0, 2.0]), np.array([0, 5])
    for transform in (coarsen.jit, coarsen.value_and_grad):
        assert transform(_loop_int, target=target)(float("nan"), 0) in (0.0, (0.0, 0.0))
        assert np.all(np.asarray(transform(_loop_gather, target=target)(x, bad, 0)[0] if transform is
                                 coarsen.value_and_grad else transform(_loop_gather, target=target)(x, bad, 0)) == 0.0)
        with pytest.raises(IndexError):
            transform(_loop_gather, target=target)(x, bad, 1)
    for transform in (coarsen.jit, coarsen.grad, coarsen.value_and_grad):
        with pytest.raises(ValueError):
            transform(_dead_int, target=target)(float("nan"))
        with pytest.raises(OverflowError):
            transform(_value_only_int, target=target)(float("inf"))
