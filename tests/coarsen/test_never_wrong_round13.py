"""Red team round 13 (hunt13): each test fails on the commit before its fix."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

import coarsen

TARGETS = ["numpy", "cpu"]
X = np.array([0.3, 1.2, 2.0])


def add_at_list(x):
    y = np.zeros(3)
    np.add.at(y, [0, 0, 1], x[:3])
    return y


def add_at_held_tuple(x):
    y = np.zeros((2, 3))
    idx = ([0, 1, 1], [2, 2, 0])
    np.add.at(y, idx, x[:3])
    return y


def add_at_runtime_ints(x):
    y = np.zeros(3)
    k = int(x[0] > 0)
    np.add.at(y, [k, k, 0], x[:3])
    return y


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("program", [add_at_list, add_at_held_tuple, add_at_runtime_ints],
                         ids=lambda p: p.__name__)
def test_add_at_with_a_list_of_ints_is_an_index_array(program, target):   # H13-L2
    compiled = coarsen.jit(program, target=target)
    for _ in range(3):
        np.testing.assert_array_equal(compiled(X), program(X))
    t = torch.tensor(X, requires_grad=True)
    want = torch.zeros(3).double().index_add(0, torch.tensor([0, 0, 1]), t * 1.0)
    torch.sum(want ** 2).backward()
    grad = coarsen.grad(lambda x: np.sum(add_at_list(x) ** 2), target=target)(X)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12)


IA, IB = np.array([7, -7, 0, 5]), np.array([2, 2, 3, 0])


def element_floordiv_by_zero(a, b):
    return a[0] // b[3]


def reduction_mod_by_zero(a, b):
    return a.sum() % b[3]


def element_arithmetic(a, b):
    return a[1] // b[0] + a[1] % b[0] + b[2] ** 3 + 2 ** b[1] + np.int64(a[0]) // 0


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("program", [element_floordiv_by_zero, reduction_mod_by_zero, element_arithmetic],
                         ids=lambda p: p.__name__)
def test_elements_of_int_arrays_divide_as_numpy_scalars(program, target):   # H13-M1
    with np.errstate(divide="ignore"):
        want = program(IA, IB)
        compiled = coarsen.jit(program, target=target)
        for _ in range(3):
            assert compiled(IA, IB) == want


def element_negative_power(a, b):
    return b[0] ** -1


def python_ints_divide(a, b):
    return int(a[0]) // int(b[3])


@pytest.mark.parametrize("target", TARGETS)
def test_numpy_scalars_raise_numpys_errors_python_ints_pythons(target):
    with pytest.raises(ValueError, match="negative integer powers"):
        element_negative_power(IA, IB)
    with pytest.raises(ValueError, match="negative integer powers"):
        coarsen.jit(element_negative_power, target=target)(IA, IB)   # was 0.5
    with pytest.raises(ZeroDivisionError):
        python_ints_divide(IA, IB)
    with pytest.raises(ZeroDivisionError):
        coarsen.jit(python_ints_divide, target=target)(IA, IB)


def frozen_inside(x):
    return scipy.stats.norm(1.0, 3.0).logpdf(x)


def test_a_distribution_frozen_inside_is_refused_at_the_users_line():   # H13-L1
    with pytest.raises(coarsen.UnsupportedError, match="frozen distribution") as err:
        coarsen.jit(frozen_inside, target="numpy")(X)
    assert "test_never_wrong_round13.py" in str(err.value).splitlines()[0]
    assert "scipy/stats" not in str(err.value).splitlines()[0]


A5 = np.arange(25.0).reshape(5, 5)
W5 = np.arange(5.0)
OUTSIDE = [0, 2]


def reversed_outside_slice(a):
    return np.sum(a[OUTSIDE[::-1]] * W5)


def local_slice(a):
    c = [0, 2, 4]
    return np.sum(a[c[1:]] * W5)


def copied_list(a):
    c = [0, 2]
    d = c[:]
    return np.sum(a[d] * W5)


def repeated_outside(a):
    return np.sum(a[OUTSIDE * 1] * W5)


def default_slice(a, c=[0, 2]):
    return np.sum(a[c[0:2]] * W5)


def written_through_slice(a):
    c = [0, 2]
    b = a.copy()
    b[c[:]] = 0.0
    return np.sum(b * W5)


def joined_slices(a):
    c = [4, 0, 2]
    return np.sum(a[c[0:1] + c[1:2]] * W5)


def tuple_slice(a):
    t = (0, 2)
    return a[t[:]]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("program", [reversed_outside_slice, local_slice, copied_list, repeated_outside,
                                     default_slice, written_through_slice, joined_slices, tuple_slice],
                         ids=lambda p: p.__name__)
def test_a_slice_of_a_list_is_a_list(program, target):   # H13-1: it indexed as a tuple, a[0, 2]
    compiled = coarsen.jit(program, target=target)
    for _ in range(3):
        assert compiled(A5) == program(A5)


def squared_rows(a):
    c = [0, 2]
    return np.sum(a[c[:]] ** 2)


def returned_slice(x):
    c = [x[0], x[1]]
    return c[:]


def returned_outside_repeat(x):
    return OUTSIDE * 1


@pytest.mark.parametrize("target", TARGETS)
def test_list_slices_grad_and_return_as_lists(target):
    t = torch.tensor(A5, requires_grad=True)
    torch.sum(t[[0, 2]] ** 2).backward()
    np.testing.assert_allclose(coarsen.grad(squared_rows, target=target)(A5), t.grad.numpy())
    assert coarsen.jit(returned_slice, target=target)(X) == [0.3, 1.2]
    assert coarsen.jit(returned_outside_repeat, target=target)(X) == [0, 2]


XM = np.array([[1.0, 2.0], [-1.0, 3.0], [2.0, -4.0]])


def mean_rows_tuple_axis(x):
    return x[x[:, 0] > 0].mean(axis=(0,))


def sum_all_axes(x):
    return x[x[:, 0] > 0].sum(axis=(0, 1))


def max_negative_axis(x):
    return x[x[:, 0] > 0].max(axis=(-2,))


X32 = np.array([3, 1, 2], dtype=np.int32)


def sort_int32(x):
    return np.sort(x)[::-1]


def argsort_int32(x):
    return np.argsort(x)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("program,arg", [(mean_rows_tuple_axis, XM), (sum_all_axes, XM), (max_negative_axis, XM),
                                         (sort_int32, X32), (argsort_int32, X32)],
                         ids=["mean_rows_tuple_axis", "sum_all_axes", "max_negative_axis", "sort_int32",
                              "argsort_int32"])
def test_refused_before_now_as_numpy(program, arg, target):   # H13-L4: tuple axes; sorting narrow ints
    compiled = coarsen.jit(program, target=target)
    for _ in range(3):
        np.testing.assert_array_equal(compiled(arg), program(arg))


XJ = np.array([-1.5, 0.0, 2.0, 3.5, -0.2])


def mask_made_ints_on_one_path(x):
    m = x > 0
    if x[0] > 0:
        m = m.astype(int)
    return np.sum(x[m])


def mask_in_a_conditional_expression(x):
    m = x > 0
    m = m + 0 if x[0] > 0 else m
    return np.sum(x[m])


def ints_made_floats_on_one_path(x):
    k = x.astype(np.int64)
    if x[0] > 0:
        k = k * 1.5
    return k


def mask_unused_after(x):
    m = x > 0
    if x[0] > 0:
        m = m + 0
    return np.sum(x)


@pytest.mark.parametrize("program", [mask_made_ints_on_one_path, mask_in_a_conditional_expression,
                                     ints_made_floats_on_one_path], ids=lambda p: p.__name__)
def test_arrays_of_two_dtypes_joined_by_a_branch_are_refused(program):   # round 14, H14-1/H14-7
    with pytest.raises(coarsen.UnsupportedError, match="on one path") as err:   # -4.5 where NumPy has 5.5
        coarsen.jit(program)(XJ)
    assert "test_never_wrong_round13.py" in str(err.value)
    assert coarsen.jit(mask_unused_after)(XJ) == mask_unused_after(XJ)   # only a read is refused


XB = np.array([-1.0, -2.0, 3.0])


def numpy_bools_added(x):
    return x * ((x[0] < 0) + (x[1] <= 0))


def numpy_bool_plus_true(x):
    return (x[0] < 0) + True


def np_add_of_bools(x):
    return np.add(x[0] < 0, x[1] < 0)


def any_plus_all(x):
    return np.any(x > 0) + np.all(x > 0)


def negated_numpy_bool(x):
    return -(x[0] < 0)


@pytest.mark.parametrize("program", [numpy_bools_added, numpy_bool_plus_true, np_add_of_bools, any_plus_all,
                                     negated_numpy_bool], ids=lambda p: p.__name__)
def test_sums_of_numpy_booleans_are_refused(program):   # round 14, H14-4: NumPy's logical or, not a count
    with pytest.raises(coarsen.UnsupportedError, match="NumPy booleans") as err:
        coarsen.jit(program)(XB)
    assert "test_never_wrong_round13.py" in str(err.value)


def python_bools_count(x, n=3):
    return (n > 2) + (n > 1) + sum(v > 0 for v in [x[0], x[1], x[2]]) + np.sum(x > 0) + (x[0] < 0)


def test_counts_of_python_bools_and_ints_with_bools_still_run():
    assert coarsen.jit(python_bools_count)(XB) == python_bools_count(XB)


BIG = np.array([3, -7, 2 ** 62, 5], dtype=np.int64)


def np_int64_wraps(a):
    return np.int64(a[0]) * 2 ** 62 + np.int64(len(a)) * 2 ** 62 + np.int64(7) * 2 ** 62


@pytest.mark.parametrize("target", TARGETS)
def test_np_int64_conversions_wrap_as_numpy(target):   # round 14, H14-3: they were Python ints
    with np.errstate(over="ignore"):
        want = np_int64_wraps(BIG)
    compiled = coarsen.jit(np_int64_wraps, target=target)
    for _ in range(3):
        assert compiled(BIG) == want


def inverted_python_bool(x, n=3):
    return x * ~(n > 2)


def inverted_numpy_bools(x):
    return x * ~(x[0] > 0) + x * ~np.isnan(x[1]) + np.sum(x[~(x > 0)])


def test_invert_of_a_python_bool_is_refused_of_numpy_bools_runs():   # round 14, H14-5: ~True is -2
    with pytest.raises(coarsen.UnsupportedError, match="bitwise inversion"):
        coarsen.jit(inverted_python_bool)(XB)
    np.testing.assert_array_equal(coarsen.jit(inverted_numpy_bools)(XB), inverted_numpy_bools(XB))
