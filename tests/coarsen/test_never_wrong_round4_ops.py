"""Red-team round 4 (scratch/hunt FINDINGS.md), fixes in the op registry and the kernels: never
a silently wrong number, on numpy and cpu (cpu cases are machine code and marked slow).

- F11: cpu machine code summed a bool array along an axis as a logical or (the accumulator
  kept the bool dtype); mean of ints accumulates in float64 as NumPy's;
- F21: builtin max()/min() with an array among the values (`max(x, 0.0)`) is refused, not
  np.maximum (Python raises ValueError: the truth value of an array is ambiguous);
- F22: math.X(array) is a TypeError-like refusal, not elementwise;
- F9: math.X domain/range errors raise ValueError / OverflowError as Python's math module,
  where np.X returns nan/inf;
- F3: np.diff of a bool array is NumPy's not_equal (int arrays stay int);
- F15: np.var/np.std/np.cov with ddof >= n divide by max(n - ddof, 0) (inf/nan);
- F14: np.eye/np.identity/np.linspace with a negative size raise NumPy's ValueError;
- F19: np.zeros_like/ones_like of int/bool arrays keep the dtype, np.full_like of an int array
  with a float fill is refused;
- F25: np.cross of vectors of length other than 2 or 3 raises NumPy's ValueError;
- F26: np.log(x, 2) is refused (NumPy's second argument is `out`), math.log(x, 2) works.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import coarsen
from coarsen.errors import CoarsenTypeError, UnsupportedError

TARGETS = ["numpy", pytest.param("cpu", marks=pytest.mark.slow)]


def _same(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    if want.dtype.kind in "ib":   # exact (int64 beyond 2**53 too)
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def _fd(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


# ---------------------------------------------------------------- F11: bool sums along an axis
def count_rows(x):
    return (x > 0).sum(axis=1)


def count_cols(x):
    return np.sum(x > 0, axis=0)


def frac_rows(x):
    return np.mean(x > 0, axis=1)


def count_keep(x):
    return np.sum(x > 0, axis=1, keepdims=True)


def prod_rows(x):
    return np.prod(x > 0, axis=1)


def count_3d(x):
    return np.sum(x > 0, axis=1)


def count_3d_last(x):
    return np.sum(x > 0, axis=2)


def mean_ints(i):
    return np.mean(i, axis=1)


def max_bool(x):
    return np.max(x > 0, axis=0)


X2 = np.array([[1.0, 2.0, 3.0], [-1.0, 2.0, 3.0]])
X3 = np.arange(24.0).reshape(2, 3, 4) - 11.5


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, x", [(count_rows, X2), (count_cols, X2), (frac_rows, X2), (count_keep, X2),
                                  (prod_rows, X2), (count_3d, X3), (count_3d_last, X3), (max_bool, X2),
                                  (mean_ints, np.array([[2 ** 62, 2 ** 62], [3, 4]]))])
def test_bool_and_int_reductions_along_an_axis(target, f, x):
    _same(coarsen.jit(f, target=target)(x), f(x))


def grad_of_frac(x):
    return np.sum(np.mean(x > 0, axis=1) * x[:, 0])


@pytest.mark.parametrize("target", TARGETS)
def test_grad_through_a_bool_mean(target):
    g = coarsen.grad(grad_of_frac, target=target)(X2)
    want = np.zeros_like(X2)
    want[:, 0] = np.mean(X2 > 0, axis=1)
    np.testing.assert_allclose(g, want)


# ---------------------------------------------------------------- F21: builtin max/min of arrays
def relu_builtin(x):
    return max(x, 0.0)


def relu_builtin_first(x):
    return max(0.0, x)


def min_arrays(x):
    return min(x, 2.0 * x)


def max_rows(X):
    return max(X[0], X[1])


def max_list(x):
    return max([x, 2 * x])


def max_one_array(x):
    return max(x) + min(x)


def max_numbers(a, b):
    return max(a, b, 0.5) - min(a, b)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, x", [(relu_builtin, np.array([-0.5, 0.5])), (relu_builtin_first, np.array([-0.5, 0.5])),
                                  (min_arrays, np.array([-0.5, 0.5])), (max_rows, X2),
                                  (max_list, np.array([-0.5, 0.5]))])
def test_builtin_max_of_arrays_is_refused(target, f, x):
    with pytest.raises(ValueError):
        f(x)
    with pytest.raises(UnsupportedError, match=r"compares whole arrays") as err:
        coarsen.jit(f, target=target)(x)
    assert "np.maximum" in str(err.value) or "np.minimum" in str(err.value)
    assert "test_never_wrong_round4_ops.py" in str(err.value)


@pytest.mark.parametrize("target", TARGETS)
def test_builtin_max_of_one_vector_and_of_numbers_still_work(target):
    x = np.array([0.5, -2.0, 3.0])
    assert coarsen.jit(max_one_array, target=target)(x) == max_one_array(x)
    assert coarsen.jit(max_numbers, target=target)(0.25, -1.0) == max_numbers(0.25, -1.0)
    assert coarsen.grad(max_numbers, target=target)(2.0, -1.0) == pytest.approx(1.0)


# ---------------------------------------------------------------- F22: math.X of arrays
def math_exp_array(x):
    return math.exp(x) * math.sqrt(x)


def math_log_sum(x):
    return np.sum(math.log(x))


def math_isnan_array(x):
    return np.where(math.isnan(x), 0.0, x)


def math_pow_array(x):
    return math.pow(x, 2.0)


def math_fabs_int(n):
    return math.fabs(n)


def math_pow_ints(n):
    return math.pow(n, -1)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f", [math_exp_array, math_log_sum, math_isnan_array, math_pow_array])
def test_math_functions_of_arrays_are_a_type_error(target, f):
    x = np.array([0.5, 2.0])
    with pytest.raises(TypeError):
        f(x)
    with pytest.raises(CoarsenTypeError, match=r"math\.\w+\(\) of an array"):
        coarsen.jit(f, target=target)(x)


@pytest.mark.parametrize("target", TARGETS)
def test_math_functions_convert_ints_to_float(target):
    out = coarsen.jit(math_fabs_int, target=target)(-2)
    assert out == 2.0 and isinstance(out, float)
    assert coarsen.jit(math_pow_ints, target=target)(2) == 0.5


# ---------------------------------------------------------------- F9: math domain and range errors
def m_sqrt(x):
    return math.sqrt(x)


def m_log(x):
    return math.log(x)


def m_log_base(x):
    return math.log(x, 2.0)


def m_log_of_base(b):
    return math.log(8.0, b)


def m_log10(x):
    return math.log10(x) + math.log2(x)


def m_log1p(x):
    return math.log1p(x)


def m_exp(x):
    return math.exp(x)


def m_expm1(x):
    return math.expm1(x)


def m_cosh(x):
    return math.cosh(x) + math.sinh(x)


def m_acos(x):
    return math.acos(x) + math.asin(x)


def m_acosh(x):
    return math.acosh(x)


def m_atanh(x):
    return math.atanh(x)


def m_trig(x):
    return math.sin(x) + math.cos(x) + math.tan(x)


def m_gamma(x):
    return math.gamma(x)


def m_lgamma(x):
    return math.lgamma(x)


def m_pow(x):
    return math.pow(x, -1.0)


def m_pow_base(y):
    return math.pow(10.0, y)


def m_pow_half(x):
    return math.pow(x, 0.5)


def np_spellings(x):
    return np.sqrt(x) + np.log(x) + np.exp(x)


MATH_CASES = [
    (m_sqrt, [-0.5, -1e-300, -0.0, 0.0, 4.0, math.inf, math.nan, -math.inf]),
    (m_log, [0.0, -0.0, -1.0, -math.inf, 2.0, math.inf, math.nan]),
    (m_log_base, [0.0, -3.0, 8.0]),
    (m_log_of_base, [1.0, 0.0, -2.0, 2.0]),
    (m_log10, [0.0, -1.0, 100.0]),
    (m_log1p, [-1.0, -2.0, -0.5, math.inf]),
    (m_exp, [1000.0, 709.78, 710.0, -1000.0, math.inf, -math.inf, math.nan]),
    (m_expm1, [1000.0, 1.0, -math.inf]),
    (m_cosh, [1000.0, -1000.0, 3.0, math.inf]),
    (m_acos, [2.0, -1.5, math.inf, 1.0, -1.0, 0.5, math.nan]),
    (m_acosh, [0.5, -math.inf, 1.0, 2.0, math.inf]),
    (m_atanh, [1.0, -1.0, 2.0, 0.5]),
    (m_trig, [math.inf, -math.inf, 1.0, math.nan]),
    (m_gamma, [0.0, -0.0, -1.0, -2.0, -math.inf, 200.0, 171.7, -1.5, 3.0, math.inf, math.nan]),
    (m_lgamma, [0.0, -1.0, -math.inf, 1e308, 2.5, -2.5, math.inf]),
    (m_pow, [0.0, -0.0, 2.0, math.inf, 1e-320]),
    (m_pow_base, [400.0, -400.0, 2.0, math.inf]),
    (m_pow_half, [-2.0, 4.0, math.inf]),
]


def _outcome(f, x):
    try:
        return "value", f(x)
    except (ValueError, OverflowError, ZeroDivisionError) as e:
        return "raise", type(e)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, xs", MATH_CASES, ids=[f.__name__ for f, _ in MATH_CASES])
def test_math_domain_and_range_errors_raise_as_python(target, f, xs):
    jf = coarsen.jit(f, target=target)
    for x in xs:
        want = _outcome(f, x)
        got = _outcome(jf, x)
        assert got[0] == want[0], (x, want, got)
        if want[0] == "raise":
            assert got[1] is want[1], (x, want, got)
        elif math.isnan(want[1]):
            assert math.isnan(got[1]), (x, got)
        else:
            assert got[1] == pytest.approx(want[1], rel=1e-13), (x, want, got)


def m_known(x):
    return x * math.sqrt(-0.5)


@pytest.mark.parametrize("target", TARGETS)
def test_a_math_domain_error_known_when_tracing_raises(target):
    with pytest.raises(ValueError, match="math domain error"):
        coarsen.jit(m_known, target=target)(1.0)


@pytest.mark.parametrize("target", TARGETS)
def test_numpy_spellings_keep_nan_and_inf(target):
    with np.errstate(all="ignore"):
        want = np_spellings(-1.0), np_spellings(0.0)
    got = coarsen.jit(np_spellings, target=target)(-1.0), coarsen.jit(np_spellings, target=target)(0.0)
    assert math.isnan(got[0]) and math.isnan(want[0])
    assert got[1] == want[1] == -math.inf


def m_smooth(x):
    return math.sqrt(x) * math.exp(x) + math.log(x, 2.0) + math.lgamma(x) + math.pow(x, 1.5)


@pytest.mark.parametrize("target", TARGETS)
def test_grad_of_checked_math_functions(target):
    g = coarsen.grad(m_smooth, target=target)
    for x in (0.5, 2.0):
        assert g(x) == pytest.approx(_fd(m_smooth, x), rel=1e-6)
    with pytest.raises(ValueError, match="math domain error"):
        g(-1.0)


# ---------------------------------------------------------------- F3: np.diff of bools
def sign_changes(x):
    return np.sum(np.diff(x > 0))


def diff_bool(x):
    return np.diff(x > 0)


def diff_bool_flipped(x):
    return np.diff(np.flip(x > 0), n=2)


def diff_bool_rows(X):
    return np.diff(X > 0, axis=0)


def diff_ints(i):
    return np.diff(i)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, x", [(sign_changes, np.array([1.0, -2.0, 3.0, 4.0])),
                                  (diff_bool, np.array([1.0, -2.0, 3.0, 4.0])),
                                  (diff_bool_flipped, np.array([1.0, -2.0, 3.0, 4.0])),
                                  (diff_bool_rows, X2), (diff_ints, np.array([3, -2, 2, 9]))])
def test_diff_of_bools_is_not_equal(target, f, x):
    _same(coarsen.jit(f, target=target)(x), f(x))


# ---------------------------------------------------------------- F15: ddof >= n
def var_ddof(x):
    return np.var(x, ddof=5)


def std_ddof(x):
    return np.std(x, ddof=5)


def var_axis_ddof(X):
    return np.var(X, axis=1, ddof=3)


def var_ddof_all(x):
    return np.var(x, ddof=4)


def cov_ddof(X):
    return np.cov(X, ddof=4)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, x", [(var_ddof, np.array([1.0, 2.0, 4.0, 8.0])), (std_ddof, np.array([1.0, 2.0, 4.0, 8.0])),
                                  (var_axis_ddof, np.array([[1.0, 2.0], [3.0, 3.0]])),
                                  (var_ddof_all, np.array([1.0, 2.0, 4.0, 8.0])),
                                  (var_ddof_all, np.array([2.0, 2.0, 2.0, 2.0])),
                                  (cov_ddof, np.array([[1.0, 2.0, 4.0], [0.0, 1.0, 0.5]]))])
def test_var_with_ddof_at_least_n_is_numpys_inf_or_nan(target, f, x):
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = f(x)
    with np.errstate(all="ignore"):
        got = coarsen.jit(f, target=target)(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


# ---------------------------------------------------------------- F14: negative sizes
def eye_n(n):
    return np.eye(n)


def eye_nm(n):
    return np.eye(2, n)


def linspace_n(n):
    return np.linspace(0.0, 1.0, n)


def identity_n(n):
    return np.identity(n)


def linspace_known(x):
    return np.linspace(0.0, x, -2)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f", [eye_n, eye_nm, linspace_n, identity_n])
def test_negative_sizes_raise_numpys_value_error(target, f):
    jf = coarsen.jit(f, target=target)
    with pytest.raises(ValueError):
        f(-1)
    with pytest.raises(ValueError):
        jf(-1)
    _same(jf(3), f(3))
    _same(jf(0), f(0))


@pytest.mark.parametrize("target", TARGETS)
def test_a_negative_size_known_when_tracing_raises(target):
    with pytest.raises(ValueError, match="Number of samples, -2, must be non-negative"):
        coarsen.jit(linspace_known, target=target)(1.0)


# ---------------------------------------------------------------- F19: *_like of int/bool arrays
def full_like_float_fill(i):
    return np.full_like(i, 2.7)


def full_like_int_fill(i):
    return np.full_like(i, 3)


def full_like_as_float(i):
    return np.full_like(i, 2.7, dtype=float)


def zeros_like_write(i):
    z = np.zeros_like(i)
    for k in range(i.shape[0]):
        z[k] = i[k] / 2
    return z


def zeros_like_int(i):
    return np.zeros_like(i) + np.ones_like(i)


def zeros_like_bool(x):
    return np.zeros_like(x > 0)


def zeros_like_as_float_write(i):
    z = np.zeros_like(i, dtype=float)
    for k in range(i.shape[0]):
        z[k] = i[k] / 2
    return z


I3 = np.array([3, -2, 2])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, x", [(full_like_int_fill, I3), (full_like_as_float, I3), (zeros_like_int, I3),
                                  (zeros_like_bool, np.array([1.0, -1.0])), (zeros_like_as_float_write, I3)])
def test_like_constructors_keep_numpys_dtype(target, f, x):
    _same(coarsen.jit(f, target=target)(x), f(x))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f", [full_like_float_fill, zeros_like_write])
def test_like_constructors_refuse_what_numpy_would_truncate(target, f):
    with pytest.raises(UnsupportedError):
        coarsen.jit(f, target=target)(I3)


# ---------------------------------------------------------------- F25, F26
def cross(x, y):
    return np.cross(x, y)


def log_with_out(x):
    return np.log(x, 2)


def math_log_base(x):
    return math.log(x, 2) + math.log10(x)


@pytest.mark.parametrize("target", TARGETS)
def test_cross_of_4_vectors_raises(target):
    x, y = np.arange(4.0), np.array([1.0, -1.0, 2.0, 0.5])
    with pytest.raises(ValueError, match="incompatible dimensions"):
        cross(x, y)
    jf = coarsen.jit(cross, target=target)
    with pytest.raises(ValueError, match="incompatible dimensions"):
        jf(x, y)
    _same(jf(x[:3], y[:3]), cross(x[:3], y[:3]))
    X = np.arange(6.0).reshape(2, 3)
    _same(jf(X, X[::-1] + 1.0), cross(X, X[::-1] + 1.0))
    with pytest.raises(ValueError):
        jf(X[:, :2], X[:, :2])   # NumPy's deprecated 2-vector form: refused, never a wrong value


@pytest.mark.parametrize("target", TARGETS)
def test_np_log_second_argument_is_not_a_base(target):
    with pytest.raises(TypeError):
        log_with_out(np.array([2.0]))
    with pytest.raises(CoarsenTypeError, match="out"):
        coarsen.jit(log_with_out, target=target)(np.array([2.0, 4.0]))
    assert coarsen.jit(math_log_base, target=target)(8.0) == pytest.approx(math_log_base(8.0))
    g = coarsen.grad(math_log_base, target=target)(8.0)
    assert g == pytest.approx(_fd(math_log_base, 8.0), rel=1e-6)


# ---------------------------------------------------------------- F19/F4: bool and int dtypes kept
def changes_of_concat(x):
    return np.sum(np.diff(np.concatenate([x > 0, x < 0])))


def changes_of_repeat(x):
    return np.diff(np.repeat(x > 0, 2))


def stacked_bools(x):
    return np.stack([x > 0, x < 1])


def taken_bools(x):
    return np.take(x > 0, [0, 2])


def full_int(n):
    return np.full(n, 3)


def full_bool(n):
    return np.full(n, True)


def broadcast_ints(i):
    return np.broadcast_to(i, (2, 3))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, x", [(changes_of_concat, np.array([0.5, -1.0, 2.0])),
                                  (changes_of_repeat, np.array([0.5, -1.0, 2.0])),
                                  (stacked_bools, np.array([0.5, -1.0, 2.0])),
                                  (taken_bools, np.array([0.5, -1.0, 2.0])),
                                  (full_int, 3), (full_bool, 2),
                                  (broadcast_ints, np.array([1, 2 ** 60 + 1, 3]))])
@pytest.mark.filterwarnings("error::RuntimeWarning")   # machine code, not a fallback to NumPy
def test_bool_and_int_arrays_keep_their_dtype(target, f, x):
    _same(coarsen.jit(f, target=target)(x), f(x))


# ---------------------------------------------------------------- reductions of bools: NumPy's dtypes in the IR too
def bool_reductions(x):
    return np.max(x > 0), np.min(x > 0), np.sum(x > 0), np.prod(x > 0), np.mean(x > 0)


def bool_axis_reductions(X):
    return np.max(X > 0, axis=1), np.sum(X > 0, axis=0, keepdims=True), np.prod(X > 0, axis=0)


def counts_times_sums(X):
    return np.sum(np.sum(X, axis=0) * np.sum(X > 0, axis=0))


@pytest.mark.parametrize("target", TARGETS)
def test_bool_reductions_in_tuples_keep_numpys_dtype(target):
    """A tuple of results came back in the IR's types: sums of bools along an axis were float64,
    max/min of bools int64 (NumPy: int64 counts, bools)."""
    x = np.array([[1.0, -2.0, 6.0], [-1.0, 2.0, 3.0]])
    for f, a in ((bool_reductions, x[0]), (bool_axis_reductions, x)):
        for got, want in zip(coarsen.jit(f, target=target)(a), f(a)):
            _same(got, want)
    g = coarsen.grad(counts_times_sums, target=target)(x)
    np.testing.assert_allclose(g, np.broadcast_to(np.sum(x > 0, axis=0), x.shape))


# ---------------------------------------------------------------- int matrices: exact int64 (beyond 2**53)
def int_diag(i):
    return np.diag(i)


def int_tri(M):
    return np.tril(M), np.triu(M, 1)


def int_trace(M):
    return np.trace(M)


def int_ptp(i):
    return np.ptp(i)


def int_diagonal(M):
    return np.diagonal(M)


def bool_ptp(x):
    return np.ptp(x > 0)


BIG_I = np.array([3, -2, 2 ** 60 + 1])
BIG_M = np.outer(np.array([1, 2, 3]), np.array([2 ** 55 + 1, 1, 2]))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, x", [(int_diag, BIG_I), (int_tri, BIG_M), (int_trace, BIG_M), (int_ptp, BIG_I),
                                  (int_diagonal, BIG_M)])
def test_int_matrices_stay_exact_int64(target, f, x):
    got, want = coarsen.jit(f, target=target)(x), f(x)
    for g, w in zip(got if isinstance(want, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        _same(g, w)


@pytest.mark.parametrize("target", TARGETS)
def test_ptp_of_bools_is_numpys_type_error(target):
    x = np.array([0.5, -1.0])
    with pytest.raises(TypeError):
        bool_ptp(x)
    with pytest.raises(CoarsenTypeError):
        coarsen.jit(bool_ptp, target=target)(x)


# ---------------------------------------------------------------- F4: scans of bools and ints in int64
def cumsum_bools(x):
    return np.cumsum(x > 0)


def scans_of_bools(X):
    return np.cumsum(X > 0, axis=0), np.cumprod(X > 0, axis=1)


def scans_of_ints(i):
    return np.cumsum(i), np.cumprod(i)


def index_by_count(x):
    return x[np.cumsum(x > 0)[-1]]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, x", [(cumsum_bools, np.array([1.0, -2.0, 6.0])), (scans_of_bools, X2),
                                  (scans_of_ints, np.array([2 ** 60 + 1, 1, 2])),
                                  (index_by_count, np.array([1.0, -2.0, 6.0]))])
def test_scans_of_bools_and_ints_are_int64(target, f, x):
    got, want = coarsen.jit(f, target=target)(x), f(x)
    for g, w in zip(got if isinstance(want, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        _same(g, w)


def _mean_of_transposed_keepdims(x):
    return np.sum(np.mean(x.T, axis=1, keepdims=True) ** 2) + np.sum(np.sum(x.T > 0, axis=1, keepdims=True))


@pytest.mark.slow
def test_keepdims_reductions_of_a_strided_view_compile_on_cpu(monkeypatch):
    # the float/int accumulators of the cpu reducers kept a strided view's layout, and the
    # keepdims reshape refused it: the program fell back to NumPy (an error here)
    monkeypatch.setenv("COARSEN_TIERED", "0")
    x = np.arange(6.0).reshape(2, 3) - 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert coarsen.jit(_mean_of_transposed_keepdims, target="cpu")(x) == _mean_of_transposed_keepdims(x)
