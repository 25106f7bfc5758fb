"""Shapes and dtypes at the boundary (issue #11): cotangents, argnums and integer inputs are
checked, or computed, the same way on every target."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen
import boundary_programs as P

TARGETS = ["numpy", "cpu"]


@pytest.fixture(autouse=True, scope="module")
def private_program_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COARSEN_CACHE_DIR", str(tmp_path_factory.mktemp("coarsen_cache")))
        yield


@pytest.mark.parametrize("target", TARGETS)
def test_a_wrong_shaped_cotangent_is_refused(target):
    out, pullback = coarsen.vjp(P.double, np.ones(3), target=target)
    np.testing.assert_array_equal(pullback(np.arange(3.0))[0], [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(pullback(np.arange(3))[0], [0.0, 2.0, 4.0])   # ints: as floats
    for bad in (np.ones(4), np.ones((3, 1)), np.ones((1, 3)), 1.0):
        with pytest.raises(ValueError, match=r"cotangent 0 has shape .* output 0 has shape \(3,\)"):
            pullback(bad)
    for bad in ("a", np.ones(3, dtype=complex), None):
        with pytest.raises(TypeError, match="cotangent 0 must be a real number or array"):
            pullback(bad)


@pytest.mark.parametrize("target", TARGETS)
def test_cotangents_of_several_outputs_are_checked_one_by_one(target):
    (a, b), pullback = coarsen.vjp(P.pair, np.ones(2), 3.0, target=target)
    gx, gy = pullback((np.ones(2), 1.0))
    np.testing.assert_array_equal(gx, [4.0, 4.0])
    assert gy == 3.0
    with pytest.raises(ValueError, match=r"cotangent 1 has shape \(2,\), but output 1 has shape \(\)"):
        pullback((np.ones(2), np.ones(2)))
    with pytest.raises(ValueError, match="expected 2 cotangent"):
        pullback(np.ones(2))


@pytest.mark.parametrize("argnums", ["0", True, (), [0, "1"], 1.0, None])
def test_bad_argnums_are_refused_when_transforming(argnums):
    for transform in (coarsen.grad, coarsen.value_and_grad):
        with pytest.raises(TypeError, match="argnums must be an int or a non-empty tuple of ints"):
            transform(P.square_plus, argnums=argnums)
    if argnums is not None:   # None: all arguments, for vjp
        with pytest.raises(TypeError, match="argnums must be"):
            coarsen.vjp(P.square_plus, np.ones(2), argnums=argnums)


@pytest.mark.parametrize("target", TARGETS)
def test_argnums_out_of_range_and_numpy_ints(target):
    with pytest.raises(ValueError, match="argnums 3 is out of range for 1 arguments"):
        coarsen.grad(P.square_plus, argnums=3, target=target)(np.ones(2))
    np.testing.assert_array_equal(coarsen.grad(P.square_plus, argnums=np.int64(0), target=target)(
        np.array([3.0, 1.0])), [6.0, 1.0])


@pytest.mark.parametrize("target", TARGETS)
def test_integer_arrays_are_computed_alike_by_every_transform(target):
    """Integer arrays are int64 in coarsen's programs, as NumPy computes them (x[0]**2 wraps to
    0, as in NumPy); differentiating with respect to one is refused, never done in float64
    (see also test_never_wrong_ints.py)."""
    x = np.array([2**32, 1])
    with np.errstate(over="ignore"):
        assert coarsen.jit(P.square_plus, target=target)(x) == P.square_plus(x) == 1
    with pytest.raises(coarsen.UnsupportedError, match="cannot differentiate"):
        coarsen.value_and_grad(P.square_plus, target=target)(x)
    np.testing.assert_array_equal(coarsen.grad(P.square_plus, target=target)(x.astype(float)),
                                  [2.0**33, 1.0])


@pytest.mark.parametrize("target", TARGETS)
def test_integer_scalars_are_int64_on_every_target(target):
    """A Python int argument is computed in int64; cubed beyond it (2**66), Python's exact
    int is not what int64 holds: an OverflowError on every target, never the wrapped 0."""
    k = 2**22
    with pytest.raises(OverflowError):
        coarsen.jit(P.cube_of, target=target)(1.0, k)
    assert coarsen.jit(P.cube_of, target=target)(1.0, 2**20) == float(2**60)
    assert coarsen.grad(P.cube_of, target=target)(1.0, 3) == 27.0


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bad", [np.ones(2, dtype=complex), np.array(["a", "b"]), np.array([1.0, None])])
def test_unsupported_argument_dtypes_are_the_same_error_everywhere(target, bad):
    for transform in (coarsen.jit, coarsen.grad, coarsen.value_and_grad):
        with pytest.raises(TypeError, match=f"arrays of dtype {bad.dtype} are not supported"):
            transform(P.square_plus, target=target)(bad)
