"""Narrow integer and boolean data (#11): compiled code holds integers as int64, so what NumPy
computes in int8/int16/int32/uint*/bool (wrapping, or a logical or for `+`) is refused at the
user's line; what it computes exactly as int64 or float64 runs and agrees with NumPy, and an
integer array result comes back in NumPy's dtype (uint8 for `x[::2]` of uint8 data, uint64 for
its cumsum)."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen

TARGETS = ["numpy", "cpu"]
NARROW = [np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32, np.uint64]


def square_plus(x):
    return x * x + x


def pair(x):
    return x[0] + x[1]


def negated(x):
    return -x


def shifted(x):
    return x + 1


def carried(x):   # the narrow dtype flows through a loop carry
    s = x[0]
    for i in range(3):
        s = s * 2
    return s


def branch_joined(x, c):   # ... and through an if
    s = x[1] if c > 0.0 else x[0]
    return s * 2


def exact(x, idx, wide):   # no narrow arithmetic: floats, int64 promotion, gathers, reductions
    return (np.sum(x[idx] * 2.0) + np.sum(idx * 0.5) + np.max(idx) + np.sum(idx)
            + np.sum(idx + wide) + float(np.min(idx)) + np.sum(idx > 1))


def bool_sum(b, c):
    return b + c


def bool_product_then_sum(b, c):
    return b * c + b


def bool_count(b, x):
    return np.sum(b) + np.sum(b * x) + np.sum(np.where(b, x, 0.0))


SMALL_I8 = np.array([100, 120, 3], dtype=np.int8)
SCALAR_I8 = np.int8(100)
MASK = np.array([True, False, True])


def reads_int8_global(x):
    return SMALL_I8[0] + SMALL_I8[1] + x


def reads_int8_scalar(x):
    return SCALAR_I8 + SCALAR_I8 + x


def reads_mask(x):
    return np.sum(MASK + MASK) * x


def builds_int32(n):
    return np.zeros(n, dtype=np.int32) + 1


@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("fn", [square_plus, pair, negated, shifted, carried])
def test_narrow_integer_arithmetic_is_refused_at_the_users_line(fn, dtype):
    x = np.array([100, 120, 3], dtype=dtype)
    with pytest.raises(coarsen.UnsupportedError, match=rf"test_never_wrong_narrow.py:\d+.*{np.dtype(dtype)}.*\n.*\n.*\n.*astype"):
        coarsen.jit(fn, target="numpy")(x)
    # the same values as int64 compile (and, being int64, agree with NumPy)
    wide = x.astype(np.int64)
    np.testing.assert_array_equal(coarsen.jit(fn, target="numpy")(wide), fn(wide))


def test_narrow_data_through_a_branch_and_numpy_scalars():
    x = np.array([100, 120], dtype=np.int8)
    with pytest.raises(coarsen.UnsupportedError, match="int8"):
        coarsen.jit(branch_joined, target="numpy")(x, 1.0)
    with pytest.raises(coarsen.UnsupportedError, match="int32"):
        coarsen.jit(shifted, target="numpy")(np.int32(2**31 - 1))   # NumPy: -2**31
    assert coarsen.jit(shifted, target="numpy")(np.int64(2**31 - 1)) == 2**31


@pytest.mark.parametrize("target", TARGETS)
def test_what_numpy_computes_exactly_runs_and_agrees(target):
    x = np.linspace(0.0, 1.0, 5)
    wide = np.array([7, 8, 9])
    for dtype in NARROW[:-1]:
        idx = np.array([0, 3, 4], dtype=dtype)
        assert coarsen.jit(exact, target=target)(x, idx, wide) == pytest.approx(exact(x, idx, wide), rel=1e-14)
    with pytest.raises(coarsen.UnsupportedError, match="uint64 data: NumPy computes this in float64"):
        coarsen.jit(exact, target=target)(x, np.array([0, 3, 4], dtype=np.uint64), wide)   # uint64 + int64
    g = coarsen.grad(exact, target=target)(x, np.array([0, 3, 3], dtype=np.int32), wide)
    np.testing.assert_allclose(g, [2.0, 0.0, 0.0, 4.0, 0.0])


@pytest.mark.parametrize("target", TARGETS)
def test_boolean_arrays_add_as_numpy_or_are_refused(target):
    b, c = np.array([True, False, True]), np.array([True, True, False])
    x = np.array([1.0, 2.0, 3.0])
    for fn in (bool_sum, bool_product_then_sum):
        with pytest.raises(coarsen.UnsupportedError, match="logical or"):
            coarsen.jit(fn, target=target)(b, c)
    assert coarsen.jit(bool_count, target=target)(b, x) == bool_count(b, x)


def test_narrow_outside_data_is_checked_too():
    for fn, dtype in ((reads_int8_global, "int8"), (reads_int8_scalar, "int8"), (reads_mask, "logical or"),
                      (builds_int32, "int32")):
        with pytest.raises(coarsen.UnsupportedError, match=dtype):
            coarsen.jit(fn, target="numpy")(2 if fn is builds_int32 else 1.0)


def test_a_program_for_int64_data_is_not_reused_for_int32():
    j = coarsen.jit(shifted, target="numpy")
    np.testing.assert_array_equal(j(np.array([1, 2])), [2, 3])
    with pytest.raises(coarsen.UnsupportedError, match="int32"):
        j(np.array([1, 2], dtype=np.int32))


@pytest.mark.parametrize("target", TARGETS)
def test_vmap_refuses_integer_batches_it_would_compute_in_float64(target):
    big = np.array([2**53 + 1, 3])
    with pytest.raises(coarsen.UnsupportedError, match="int64 array would be computed in float64"):
        coarsen.vmap(coarsen.jit(square_plus), target=target)(big)
    with pytest.raises(coarsen.UnsupportedError, match="int8"):
        coarsen.vmap(square_plus, target=target)(np.array([100, 120], dtype=np.int8))
    out = coarsen.vmap(coarsen.jit(square_plus), target=target)(big.astype(float))
    np.testing.assert_allclose(out, square_plus(big.astype(float)))


def test_numpy_bool_scalars_are_not_python_bools():
    j = coarsen.jit(bool_sum, target="numpy")
    assert j(True, True) == 2 == bool_sum(True, True)   # Python's bools count
    with pytest.raises(coarsen.UnsupportedError, match="logical or"):
        j(np.True_, np.True_)   # NumPy's: np.True_ + np.True_ is True


U8_TABLE = np.array([3, 250, 7], dtype=np.uint8)


def kept_narrow(a, b, x):
    """Integer arrays NumPy keeps in (or widens to) a narrow dtype, beside a float and a scalar."""
    return (a[::2], np.cumsum(a), np.sum(b, axis=0), np.maximum(a, a[::-1]), np.where(a > 100, a, a[0]),
            np.stack([a, a]), b.T, U8_TABLE[1:] if x > 0 else U8_TABLE[:2], a * 0.5, np.max(a), a > 1)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", NARROW)
def test_integer_results_keep_numpys_dtype(target, dtype):
    a = np.array([120, 100, 3], dtype=dtype)
    b = np.array([[120, 100], [100, 7]], dtype=dtype)
    want = kept_narrow(a, b, 1.0)
    f = coarsen.jit(kept_narrow, target=target)
    for _ in range(2):
        got = f(a, b, 1.0)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
            if np.ndim(w):
                assert g.dtype == w.dtype, (g, w)
        assert type(got[-2]) is int   # an integer scalar is Python's int, as an int64 one is


def _random_expression(rng, depth: int) -> str:
    """An expression over `a` (narrow), `w` (int64), `f` (float64) arrays and int constants."""
    if depth == 0:
        return str(rng.choice(["a", "w", "f", "a", "1", "100", "a[0]", "w[1]", "np.max(a)"]))
    op = rng.choice(["+", "-", "*", "//", "%", "max", "sum", "cmp", "half", "where", "neg", "take"])
    x, y = _random_expression(rng, depth - 1), _random_expression(rng, depth - 1)
    # (sums of arrays: np.sum of a scalar is the scalar itself when traced, NumPy's widens an
    # unsigned one to uint64, whose mixing with int64 is float64: the one case left, in #11's notes)
    return {"max": f"np.maximum({x}, {y})", "sum": f"np.sum(({x}) + w)", "cmp": f"({x} > {y}) * 1.0",
            "half": f"({x}) * 0.5", "where": f"np.where({x} > 0, {x}, {y})", "neg": f"-({x})",
            "take": f"a[np.arange(3)]"}.get(op, f"({x}) {op} ({y})")


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8])
def test_random_expressions_agree_with_numpy_or_are_refused(tmp_path, dtype):
    """The class, not the examples: whatever the compiler accepts on narrow data gives NumPy's
    numbers (wrapping included) and an integer result where NumPy's is an integer."""
    import importlib.util
    rng = np.random.default_rng(int(np.dtype(dtype).itemsize))
    a = np.array([100, 120, 7], dtype=dtype)
    w, f = np.array([3, -2, 5]), np.array([0.5, -1.5, 2.0])
    accepted = 0
    lines = [f"def e{k}(a, w, f):\n    return {_random_expression(rng, 2)}\n" for k in range(40)]
    path = tmp_path / f"narrow_exprs_{np.dtype(dtype)}.py"
    path.write_text("import numpy as np\n\n\n" + "\n\n".join(lines))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for k in range(40):
        fn = getattr(mod, f"e{k}")
        with np.errstate(all="ignore"):
            try:
                expected = fn(a, w, f)
            except (TypeError, OverflowError, ZeroDivisionError):
                continue   # NumPy refuses it too (or a Python int divides by zero)
        try:
            got = coarsen.jit(fn, target="numpy")(a, w, f)
        except coarsen.UnsupportedError:
            continue
        accepted += 1
        np.testing.assert_array_equal(got, expected, err_msg=lines[k])
        assert (np.asarray(got).dtype.kind == "f") == (np.asarray(expected).dtype.kind == "f"), lines[k]
        if np.ndim(expected):   # arrays in NumPy's dtype (scalars: Python's int or float)
            assert got.dtype == expected.dtype, lines[k]
    assert accepted >= 5   # the check does not refuse everything
