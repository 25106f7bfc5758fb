"""An attribute no Python object of the binding's kind has (#22 item 3): plain Python raises
AttributeError there, so a `try`/`except AttributeError` around it folds to the handler when
tracing; uncaught, it is refused at the user's line (never a silent result)."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def options(x, opts):
    s = np.sum(x)
    if isinstance(opts, tuple):
        s = s + 1.0
    if hasattr(opts, "scale"):
        s = s + 100.0
    try:
        s = s * opts.scale   # a tuple has no .scale: the handler runs
    except AttributeError:
        s = s * 3.0
    try:
        s = s + x.weights    # nor has an array
    except AttributeError:
        s = s + np.sum(x * x)
    return s


def test_a_missing_attribute_of_a_tuple_or_an_array_folds_a_try_to_its_handler():
    x = np.array([1.0, 2.0])
    assert coarsen.jit(options, target="numpy")(x, (1, 2)) == options(x, (1, 2))
    np.testing.assert_allclose(coarsen.grad(options, target="numpy")(x, (1, 2)), 3.0 + 2 * x)


def uncaught(x):
    return x.weights + 1.0


def test_an_uncaught_missing_attribute_is_refused_at_the_users_line():
    with pytest.raises(coarsen.UnsupportedError) as info:
        coarsen.grad(uncaught, target="numpy")(1.0)
    assert "no attribute `weights`" in str(info.value) and "test_trace_time_attributes.py:36" in str(info.value)
