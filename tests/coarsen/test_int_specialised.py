"""Traces specialised to the values of int arguments (as JAX's static arguments), made only when
a trace with run-time ints is refused: recursion on an int, comprehensions and lists over
range(n). Each n gets its own program, and a call never runs another n's program."""
from __future__ import annotations

import math

import numpy as np
import pytest

import coarsen


def power_by_recursion(x, n):
    return x if n <= 1 else x * power_by_recursion(x, n - 1)


def comprehension_over_range(x, n):
    return sum([x ** k for k in range(n)])


def list_built_in_a_loop(x, n):
    xs = []
    for i in range(n):
        xs.append(x * i)
    return np.sum(np.array(xs)) if xs else 0.0 * x


def counted_loop(x, n):   # needs no specialisation: one program for every n
    s = 0.0
    for i in range(n):
        s = s + math.sin(x * i)
    return s


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("fn", [power_by_recursion, comprehension_over_range, list_built_in_a_loop, counted_loop],
                         ids=lambda f: f.__name__)
def test_each_int_gets_its_own_program(fn, target):
    grad, jit = coarsen.grad(fn, target=target), coarsen.jit(fn, target=target)
    for n in (3, 5, 3, 1, np.int64(4), 0):
        x = 0.7
        assert jit(x, n) == pytest.approx(fn(x, n), rel=1e-12, abs=1e-15)
        eps = 1e-6
        fd = (fn(x + eps, n) - fn(x - eps, n)) / (2 * eps)
        assert grad(x, n) == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_only_refused_traces_are_specialised():
    assert not coarsen.jit(counted_loop, target="numpy").program((0.5, 3)).shaped
    assert coarsen.jit(power_by_recursion, target="numpy").program((0.5, 3)).shaped


def test_recursion_on_data_is_still_refused():
    with pytest.raises(coarsen.UnsupportedError, match="does not stop when tracing"):
        coarsen.grad(_halve_until_small)(5.0)


def _halve_until_small(x):
    return x if x < 1 else _halve_until_small(x / 2)


def test_int_specialised_programs_stay_out_of_the_disk_cache():
    from coarsen import deps
    from coarsen.frontend import trace
    reads = deps.Reads(power_by_recursion)
    trace(power_by_recursion, 0.5, 3, reads=reads)
    assert reads.shaped and reads.unpinned
