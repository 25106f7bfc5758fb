"""Checked indices (issue #11): an integer index out of range raises IndexError naming the
user's file:line on every target, as NumPy does, for reads and writes, in the value and in
the gradient; common in-bounds indices (loop variables over an axis' range, constants into
module-level arrays) are proven at compile time and cost no check."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import coarsen
import bounds_programs as B

TARGETS = ["numpy", "cpu"]


@pytest.fixture(autouse=True, scope="module")
def private_program_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COARSEN_CACHE_DIR", str(tmp_path_factory.mktemp("coarsen_cache")))
        yield


def where(tag: str) -> str:
    return f"{B.__file__}:{B.LINES[tag]}:"


X = np.array([1.0, 2.0, 3.0])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jit"])
@pytest.mark.parametrize("i", [3, 5, 1000, -4, 10**8])
def test_out_of_bounds_reads_raise_with_the_users_line(target, transform, i):
    fn = {"grad": coarsen.grad, "value_and_grad": coarsen.value_and_grad,
          "jit": coarsen.jit}[transform](B.read, target=target)
    with pytest.raises(IndexError, match=where("READ")):
        fn(X, i)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("i", [3, -4, 50])
def test_out_of_bounds_writes_raise(target, i):
    with pytest.raises(IndexError, match=where("WRITE")):
        coarsen.grad(B.write, target=target)(1.5, i)
    with pytest.raises(IndexError, match=where("WRITE")):
        coarsen.jit(B.write, target=target)(1.5, i)


@pytest.mark.parametrize("target", TARGETS)
def test_each_axis_is_checked(target):
    m = np.arange(6.0).reshape(2, 3)
    assert coarsen.grad(B.read2, target=target)(m, 1, 2)[1, 2] == 10.0
    for i, j in [(2, 0), (0, 3), (-3, 0), (0, -4)]:
        with pytest.raises(IndexError, match=where("READ2") + r".* axis " + ("0" if j in (0,) else "1")):
            coarsen.value_and_grad(B.read2, target=target)(m, i, j)


@pytest.mark.parametrize("target", TARGETS)
def test_a_loop_past_the_end_raises(target):
    assert coarsen.value_and_grad(B.loop_past_end, target=target)(X, 3)[0] == 14.0
    with pytest.raises(IndexError, match=where("PAST_END")):
        coarsen.value_and_grad(B.loop_past_end, target=target)(X, 4)


@pytest.mark.parametrize("target", TARGETS)
def test_module_level_arrays_are_checked(target):
    assert coarsen.grad(B.read_table, target=target)(1.0, -1) == 3.0
    with pytest.raises(IndexError, match=where("TABLE")):
        coarsen.grad(B.read_table, target=target)(1.0, 3)


@settings(max_examples=30, deadline=None)
@given(i=st.integers(-6, 5), target=st.sampled_from(TARGETS))
def test_in_range_indices_agree_with_numpy_and_out_of_range_ones_raise(i, target):
    """Negative indices count from the end, as in NumPy; exactly NumPy's indices raise."""
    try:
        expected = B.read(X, i)
    except IndexError:
        with pytest.raises(IndexError, match=where("READ")):
            coarsen.value_and_grad(B.read, target=target)(X, i)
        return
    value, grad = coarsen.value_and_grad(B.read, target=target)(X, i)
    reference = 2.0 * X
    reference[i] += 2.0
    assert value == pytest.approx(expected, rel=1e-15)
    np.testing.assert_allclose(grad, reference, rtol=1e-15)


def test_loop_variables_over_an_axis_and_constants_into_constants_need_no_check():
    source = coarsen.grad(B.loops).source(X)
    assert "IndexError" not in source, source
    value, grad = coarsen.value_and_grad(B.loops)(X)
    assert value == pytest.approx(B.loops(X))
    # and where nothing is known about the index, there is a check
    assert "raise IndexError" in coarsen.grad(B.read).source(X, 1)


def element(i, x):
    return x[int(i)] * 2.0


@pytest.mark.parametrize("target", TARGETS)
def test_vmap_elements_check_their_indices(target):
    """On cpu the batch loop is a Numba prange, which loses an element's exception: an element
    program with index checks runs serially there, so the IndexError reaches the caller."""
    v = coarsen.vmap(element, in_axes=(0, None), target=target)
    np.testing.assert_array_equal(v(np.array([0.0, 2.0, -1.0]), X), [2.0, 6.0, 6.0])
    with pytest.raises(IndexError, match="index out of bounds for axis 0 of `x`"):
        v(np.array([0.0, 7.0]), X)
