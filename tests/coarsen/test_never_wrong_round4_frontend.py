"""Python's semantics where NumPy's differ, or refusals where the two disagree (round 4 of the
red team): chained comparisons short-circuit and refuse arrays, tuples compare as tuples, a
boolean is not an index, Python's booleans count (True + True is 2) on every target and tier."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def chain_scalar(x):
    return 2.0 * x if 0.0 < x < 1.0 else -x


def chain_short_circuit(x, i):
    return 1.0 if i < 3 < x[i] else 0.0   # x[i] is read only when i < 3


def chain_three(x):
    return 1.0 if x[0] < x[1] < x[2] <= 5 else 0.0


def chain_arrays(x):
    return np.where(0 < x < 1, 1.0, 0.0)


def tuple_equal(a, b):
    return 1.0 if a == b else 0.0


def tuple_not_equal(a, b):
    return 1.0 if a != b else 0.0


def shape_check(x):
    return np.sum(x) if x.shape == (3,) else 0.0


def tuple_less(a, b):
    return 1.0 if a < b else 0.0


def tuple_negated(t):
    return -t


def bool_index(x, c):
    return np.sum(x[c > 0])


def bool_sum(x, y):
    return (x > 0) + (y > 0)


def negated_bool(x):
    return -(x > 0)


def bool_counted(x, y):
    return int(x > 0) + int(y > 0) + (x > 0) * 2


_VALUES = [
    (chain_scalar, (0.5,)), (chain_scalar, (1.5,)), (chain_short_circuit, (np.array([1.0, 5.0, 4.0]), 5)),
    (chain_short_circuit, (np.array([1.0, 5.0, 4.0]), 1)), (chain_three, (np.array([1.0, 2.0, 3.0]),)),
    (chain_three, (np.array([1.0, 3.0, 2.0]),)), (tuple_equal, ((1.0, 2.0), (1.0, 3.0))),
    (tuple_equal, ((1.0, 2.0), (1.0, 2.0))), (tuple_equal, ((1.0, 2.0), (1.0,))),
    (tuple_not_equal, ((1.0, 2.0), (1.0, 3.0))), (shape_check, (np.ones(3),)), (shape_check, (np.ones(4),)),
    (bool_counted, (1.0, -2.0)), (bool_sum, (1.0, 2.0)), (bool_sum, (1.0, -2.0)), (negated_bool, (1.0,)),
]


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", range(len(_VALUES)), ids=[f"{f.__name__}-{k}" for k, (f, _) in enumerate(_VALUES)])
def test_values_as_python(case, target):
    fn, args = _VALUES[case]
    assert coarsen.jit(fn, target=target)(*args) == fn(*args)


def test_a_chain_is_differentiated_on_the_branch_taken():
    assert coarsen.grad(chain_scalar, target="numpy")(0.5) == 2.0
    assert coarsen.grad(chain_scalar, target="numpy")(1.5) == -1.0


@pytest.mark.parametrize("fn, args, message", [
    (chain_arrays, (np.array([0.5, 2.0]),), "chained comparison of arrays"),
    (tuple_less, ((1.0, 5.0), (2.0, 0.0)), "comparisons of tuples"),
    (bool_index, (np.ones(3), 1.0), "indexing with a boolean"),
])
def test_refused_at_the_users_line(fn, args, message):
    with pytest.raises(coarsen.UnsupportedError, match=message) as err:
        coarsen.jit(fn, target="numpy")(*args)
    assert "test_never_wrong_round4_frontend.py" in str(err.value)


def test_unary_minus_of_a_tuple_is_a_type_error():
    with pytest.raises(coarsen.CoarsenTypeError, match="unary -"):
        coarsen.jit(tuple_negated, target="numpy")((1.0, 2.0))


def empty_tuple(x):
    return ()


def scaled(x, scale=1.0, z=None):
    return x * scale


def overflowing_constant_product(x):
    return x * x * 1e300 * 1e10


def test_returning_an_empty_tuple():
    assert coarsen.jit(empty_tuple, target="numpy")(1.0) == ()


def test_keyword_call_leaves_later_defaults_alone():
    assert coarsen.jit(scaled, target="numpy")(2.0, scale=3.0) == 6.0
    assert coarsen.grad(scaled, target="numpy")(2.0, scale=3.0) == 3.0


def test_a_derivative_constant_beyond_float64_prints_as_inf():
    with np.errstate(all="ignore"):
        assert coarsen.grad(overflowing_constant_product, target="numpy")(0.01) == np.inf
        assert coarsen.jit(overflowing_constant_product, target="numpy")(0.01) == \
            overflowing_constant_product(np.float64(0.01))


def writes_first_argument(x, y):
    x[0] = 2.0
    return np.sum(x * y)


def test_a_refused_write_names_the_users_line():
    a = np.ones(3)
    with pytest.raises(coarsen.UnsupportedError, match="shares memory") as err:
        coarsen.jit(writes_first_argument, target="numpy")(a, a)
    assert "test_never_wrong_round4_frontend.py" in str(err.value) and "x[0] = 2.0" in str(err.value)


def asarray_float_then_write(i):
    y = np.asarray(i, dtype=float)
    y[0] = 0.5
    return y


def array_float_then_write(i):
    y = np.array(i, dtype=float)
    y[0] = 0.25
    return y




@pytest.mark.parametrize("fn", [asarray_float_then_write, array_float_then_write])
def test_dtype_float_converts_an_int_array(fn):
    got, want = coarsen.jit(fn, target="numpy")(np.array([1, 2, 3])), fn(np.array([1, 2, 3]))
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_python_bools_count_on_every_tier(monkeypatch):
    # the cpu target's NumPy tier (first calls) and its machine code must agree: True + True is 2
    for tiered in ("1", "0"):
        monkeypatch.setenv("COARSEN_TIERED", tiered)
        j = coarsen.jit(bool_sum, target="cpu")
        assert [j(1.0, 2.0) for _ in range(3)] == [2, 2, 2]
