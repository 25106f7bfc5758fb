"""Boolean arrays beside Python ints and bools take NumPy's dtype (round 12, H12-3).

A comparison's mask plus a Python int is NumPy's int64 (`(x > 0) + 1`), a mask times True a
mask; compiled code used to make every such array float64, so `((x > 0) + 1) // 0` was inf
where NumPy's is 0, and `-((x > 0) + 0)` held -0.0 where NumPy holds 0. What NumPy computes
in a narrow dtype (np.sin(mask) in float16, `mask % True`, `mask ** 2` in int8) is refused.
"""
from __future__ import annotations

import math
import operator
import warnings

import numpy as np
import pytest
import torch

import coarsen

TARGETS = ["numpy", "cpu"]
X = np.array([-1.0, 2.0, 3.0, 0.0, -0.5])


def floordiv_by_zero(x):
    return ((x > 0) + 1) // 0


def mod_by_zero(x):
    return ((x > 0) + 2) % 0


def plus_int(x):
    return (x > 0) + 1


def times_true(x):
    return (x > 0) * True


def and_true(x):
    return (x > 0) & True


def affine(x):
    return (x > 0) * 3 - 1


def negated_count(x):
    return -((x > 0) + 0)


def eye_times_true(x):
    return np.eye(3, dtype=bool) * True


def maximum_int(x):
    return np.maximum(x > 0, 1)


def maximum_masks(x):
    return np.maximum(x > 0, x > 1)


def abs_mask(x):
    return np.abs(x > 0)


def floor_mask(x):
    return np.floor(x > 0)


def fabs_ints(x):
    return np.fabs(x.astype(np.int64))


def clip_mask(x):
    return np.clip(x > 0, 0, 1)


def where_masks(x):
    return np.where(x > 0, x > 1, True)


def count_in_loop(x):
    c = (x > 0) + 0
    for i in range(3):
        c = c + (x > i)
    return c // 2


def mask_plus_float(x):
    return (x > 0) + 1.5


def true_divide(x):
    return (x > 0) / 2


PROGRAMS = [floordiv_by_zero, mod_by_zero, plus_int, times_true, and_true, affine, negated_count,
            eye_times_true, maximum_int, maximum_masks, abs_mask, floor_mask, fabs_ints, clip_mask,
            where_masks, count_in_loop, mask_plus_float, true_divide]


def same_as_numpy(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True)
    if got.dtype.kind == "f":   # the same signed zeros
        assert np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
def test_mask_arithmetic_is_numpys(program, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = program(X)
        compiled = coarsen.jit(program, target=target)
        for _ in range(3):   # the tiered cpu target changes between calls
            same_as_numpy(compiled(X), want)


def sin_mask(x):
    return np.sin(x > 0)


def exp_mask(x):
    return np.exp(x > 0) * 2.0


def log_mask(x):
    return np.log(x > 0)


def rint_mask(x):
    return np.rint(x > 0)


def fabs_mask(x):
    return np.fabs(x > 0)


def square_mask(x):
    return np.square(x > 0)


def mask_squared(x):
    return (x > 0) ** 2


def mask_mod_true(x):
    return (x > 0) % True


def mask_floordiv_mask(x):
    return (x > 0) // (x > 1)


NARROW = {sin_mask: "float16", exp_mask: "float16", log_mask: "float16", rint_mask: "float16",
          fabs_mask: "float16", square_mask: "int8", mask_squared: "int8", mask_mod_true: "int8",
          mask_floordiv_mask: "int8"}


@pytest.mark.parametrize("program", list(NARROW), ids=lambda p: p.__name__)
def test_narrow_results_of_masks_are_refused(program):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert str(np.asarray(program(X)).dtype) == NARROW[program]   # NumPy's, as the message says
    with pytest.raises(coarsen.UnsupportedError, match=NARROW[program]) as err:
        coarsen.jit(program, target="numpy")(X)
    assert "test_bool_promotion.py" in str(err.value)


def mask_cubed(x):
    return (x > 0) ** 3 + np.power(x > 0, 2)


def test_other_powers_of_masks_are_int64():
    same_as_numpy(coarsen.jit(mask_cubed, target="numpy")(X), mask_cubed(X))


def weighted(x):
    return np.sum(x * x * ((x > 0) + 1)) + np.sum(np.maximum(x > 1, 0) * x)


def test_grad_through_mask_counts():
    x = np.array([-1.3, 2.1, 0.7, 1.6, -0.2])
    t = torch.tensor(x, requires_grad=True)
    (torch.sum(t * t * ((t > 0).long() + 1)) + torch.sum((t > 1).long() * t)).backward()
    for target in TARGETS:
        g = coarsen.grad(weighted, target=target)
        for _ in range(2):
            np.testing.assert_allclose(g(x), t.grad.numpy(), rtol=1e-12)
    h = 1e-6
    fd = [(weighted(x + h * e) - weighted(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    np.testing.assert_allclose(coarsen.grad(weighted)(x), fd, rtol=1e-6)


def math_fabs_of_int(n):
    return math.fabs(n) * 2


def test_math_fabs_is_still_a_float():
    assert coarsen.jit(math_fabs_of_int)(-3) == 6.0
    assert isinstance(coarsen.jit(math_fabs_of_int)(-3), float)


def operator_pow_mask(x):
    return operator.pow(x > 0, 2)


def true_to_a_mask(x):
    return True ** (x > 0)


def unary_plus_mask(x):
    return +(x > 0)


@pytest.mark.parametrize("program", [operator_pow_mask, true_to_a_mask, unary_plus_mask], ids=lambda p: p.__name__)
def test_more_narrow_or_failing_mask_arithmetic_is_refused(program):   # round 14, H14-8
    with pytest.raises(coarsen.UnsupportedError):
        coarsen.jit(program)(X)


def clip_mask_by_bools(x):
    return np.clip(x > 0, False, True)


@pytest.mark.parametrize("target", TARGETS)
def test_clip_of_a_mask_by_bools_is_a_mask(target):
    same_as_numpy(coarsen.jit(clip_mask_by_bools, target=target)(X), clip_mask_by_bools(X))


OUTSIDE_MASK = np.array([True, False, True, True, False])


def outside_mask_plus_int(x):
    return (OUTSIDE_MASK + 1) * x


def mask_argument_affine(b):
    return b * 3 - 1


def test_bool_data_from_outside_plus_an_int_is_int64():   # round 14, H14-9: refused as "bool"
    same_as_numpy(coarsen.jit(outside_mask_plus_int)(X), outside_mask_plus_int(X))
    same_as_numpy(coarsen.jit(mask_argument_affine)(OUTSIDE_MASK), mask_argument_affine(OUTSIDE_MASK))
