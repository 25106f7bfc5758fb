"""Functions made in comprehensions close over the comprehension's own variables (Python 3's
scope and late binding): called after it, they see the variables' last values, never an
enclosing name the comprehension's variable shadowed; functions held in lists and dicts and
lambdas called where they are written are called like named ones; a closure made by a nested
function reads the enclosing variables as they are when it runs (late binding)."""
from __future__ import annotations

import numpy as np
import pytest

import coarsen


def shadowed_comprehension_variable(x):
    k = 10.0
    fs = [lambda v: v * k for k in range(3)]
    f1 = fs[1]
    return f1(x) + k


def called_from_the_list(x):
    k = 10.0
    fs = [lambda v: v * k for k in range(3)]
    return fs[0](x) + sum(g(x) for g in fs)


def default_captures_each_value(x):
    fs = [lambda v, k=k: v * k for k in range(3)]
    return fs[1](x) + fs[2](x)


def appended_in_a_loop(x):
    fs = []
    for k in range(3):
        fs.append(lambda v: v * k)
    return fs[0](x)


def nested_comprehensions(x):
    fs = [[lambda v: v * i + j for j in range(2)] for i in range(3)]
    return fs[0][0](x) + fs[2][1](x)


def dict_of_lambdas(x):
    ops = {"sq": lambda v: v * v, "neg": lambda v: -v}
    return ops["sq"](x) + ops["neg"](x)


def called_where_written(x):
    return [(lambda v: v * k)(x) for k in range(3)][2] + (lambda v: v ** 3)(x)


def rebound_after_definition(x):
    k = 1.0
    f = lambda v: v * k
    k = 5.0
    return f(x)


def closure_from_a_nested_function(x):
    def outer():
        def inner():
            return x * 2
        return inner
    h = outer()
    x = x * 5.0   # rebound after the closure was made: Python's closure sees it
    return h()


def model_then_update(w):
    def factory():
        return lambda t: w * t
    model = factory()
    w = w + 1.0
    return model(3.0)


def closure_reads_its_own_local(x):
    def outer():
        y = x * 3.0
        return lambda: y + x
    h = outer()
    x = x * 2.0
    return h()   # y is outer's (3 * the old x), x the rebound one


PROGRAMS = [closure_from_a_nested_function, model_then_update, closure_reads_its_own_local,
            shadowed_comprehension_variable, called_from_the_list, default_captures_each_value,
            appended_in_a_loop, nested_comprehensions, dict_of_lambdas, called_where_written,
            rebound_after_definition]


@pytest.mark.parametrize("fn", PROGRAMS, ids=[f.__name__ for f in PROGRAMS])
def test_values_and_gradients_as_python(fn):
    x = 1.7
    assert coarsen.jit(fn, target="numpy")(x) == pytest.approx(fn(x), rel=1e-12)
    eps = 1e-6
    fd = (fn(x + eps) - fn(x - eps)) / (2 * eps)
    assert coarsen.grad(fn, target="numpy")(x) == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_the_comprehension_variable_does_not_leak():
    def comprehension_scope(x):   # noqa: the test's own function (defined in this file)
        k = 10.0
        ys = [x * k for k in range(3)]
        return ys[2] + k
    assert coarsen.jit(comprehension_scope, target="numpy")(1.5) == comprehension_scope(1.5)
