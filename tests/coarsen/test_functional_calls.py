"""Calls that take a function, as users write them: functools.reduce (a chain of matrix
products, a running product), map, operator.*, np.piecewise. Values against NumPy, gradients
against torch.autograd and central differences, on every target and over repeated calls."""
from __future__ import annotations

import functools
import operator
import warnings
from functools import reduce

import numpy as np
import pytest
import torch

import coarsen

TARGETS = ["numpy", "cpu"]
RNG = np.random.default_rng(7)
A, B, C = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2)), RNG.normal(size=(2, 3))
X = np.array([-1.5, 0.3, 2.0, -0.2, 1.2, -2.4])


def chain_product(a, b, c):   # autograd's examples: reduce(np.dot, matrices)
    return np.sum(np.tanh(reduce(np.dot, [a, b, c])))


def running_product(x):
    return reduce(lambda acc, v: acc * v, [x[0], x[1], x[2]], 2.0)


def operator_chain(x):
    return functools.reduce(operator.mul, [x[0], x[1], x[3]]) + reduce(operator.add, (x[2], x[4]), x[5])


def nested_def(x):
    def smooth_max(a, b):
        return np.logaddexp(a, b)
    return reduce(smooth_max, [x[k] for k in range(len(x))])


def mapped(x):
    return sum(map(np.sin, [x[0], x[1], x[2]])) + sum(list(map(lambda a, b: a * b, [x[0], x[1]], [x[2], x[3]])))


def mapped_loop(x):
    total = 0.0
    for v in map(np.exp, [x[1], x[4]]):
        total = total + v
    return total


def piecewise_two(x):   # NumPy's docs: |x| as two pieces
    return np.sum(np.piecewise(x, [x < 0, x >= 0], [lambda v: -v, lambda v: np.sqrt(v)]) * x)


def piecewise_otherwise(x):
    y = np.piecewise(x, [x < -1, x > 1], [lambda v: v ** 2, 3.0, lambda v: np.sin(v) * 2])
    return np.sum(y * y)


def piecewise_one_condition(x, scale):
    return np.sum(np.piecewise(x, x > 0, [lambda v: scale * v * v, lambda v: np.exp(v)]))


CASES = [(chain_product, (A, B, C)), (running_product, (X,)), (operator_chain, (X,)), (nested_def, (X,)),
         (mapped, (X,)), (mapped_loop, (X,)), (piecewise_two, (X,)), (piecewise_otherwise, (X,)),
         (piecewise_one_condition, (X, 0.7))]


def central_differences(f, args, h=1e-6):
    x = args[0]
    out = np.zeros_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e.flat[k] = h
        out.flat[k] = (f(x + e, *args[1:]) - f(x - e, *args[1:])) / (2 * h)
    return out


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("program,args", CASES, ids=[c[0].__name__ for c in CASES])
def test_values_and_gradients(program, args, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # np.piecewise's sqrt of the other piece
        want = program(*args)
        value_and_grad = coarsen.value_and_grad(program, target=target)
        for _ in range(3):
            value, grad = value_and_grad(*args)
            np.testing.assert_allclose(value, want, rtol=1e-12)
        np.testing.assert_allclose(grad, central_differences(program, args), rtol=1e-6, atol=1e-8)


def torch_chain(a, b, c):
    return torch.sum(torch.tanh(reduce(torch.matmul, [a, b, c])))


def torch_piecewise(x):
    y = torch.where(x < -1, x ** 2, torch.where(x > 1, torch.full_like(x, 3.0), torch.sin(x) * 2))
    return torch.sum(y * y)


@pytest.mark.parametrize("program,reference,args", [(chain_product, torch_chain, (A, B, C)),
                                                    (piecewise_otherwise, torch_piecewise, (X,))],
                         ids=["chain_product", "piecewise_otherwise"])
def test_gradients_against_torch(program, reference, args):
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    reference(*ts).backward()
    got = coarsen.grad(program, argnums=tuple(range(len(args))))(*args)
    for g, t in zip(got, ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10)


def not_elementwise(x):
    return np.sum(np.piecewise(x, [x < 0], [lambda v: v - np.mean(v), 0.0]))


W = np.arange(6.0)


def another_array(x):
    return np.sum(np.piecewise(x, [x < 0], [lambda v: v * W, 1.0]))


def reduce_over_array(x):
    return reduce(operator.add, x)


@pytest.mark.parametrize("program,match", [(not_elementwise, "not elementwise"), (another_array, "another array"),
                                           (reduce_over_array, "lists and tuples")],
                         ids=["not_elementwise", "another_array", "reduce_over_array"])
def test_refusals_name_the_line(program, match):
    with pytest.raises(coarsen.UnsupportedError, match=match) as err:
        coarsen.jit(program)(X)
    assert "test_functional_calls.py" in str(err.value)


def mismatched(x, y):
    return np.sum(np.piecewise(x, [y > 0], [1.0, 2.0]))


@pytest.mark.parametrize("target", TARGETS)
def test_a_condition_not_shaped_as_x_raises_index_error(target):
    with pytest.raises(IndexError):
        mismatched(X, X[:3])
    with pytest.raises(IndexError, match="boolean index did not match"):
        coarsen.jit(mismatched, target=target)(X, X[:3])
    np.testing.assert_allclose(coarsen.jit(mismatched, target=target)(X, -X), mismatched(X, -X))


def empty_reduce(x):
    return reduce(operator.add, [])


def test_empty_reduce_is_pythons_type_error():
    with pytest.raises(coarsen.CoarsenTypeError, match="empty iterable"):   # (Python: TypeError)
        coarsen.jit(empty_reduce)(X)


def piecewise_of_ints(x):
    k = x.astype(int)
    return np.piecewise(k, [k < 0], [lambda v: v * 0.5, 1.5])


def piecewise_of_a_mask(x):
    return np.piecewise(x > 0, [x > 1], [0.3, 0.0])


@pytest.mark.parametrize("program", [piecewise_of_ints, piecewise_of_a_mask], ids=lambda p: p.__name__)
def test_piecewise_of_ints_or_masks_is_refused(program):   # NumPy keeps x's dtype: truncates the pieces
    assert program(X).dtype != np.float64
    with pytest.raises(coarsen.UnsupportedError, match="keeps that dtype"):
        coarsen.jit(program)(X)


def piecewise_in_a_loop(x, n):
    s = 0.0
    for k in range(n):
        s = s + np.sum(np.piecewise(x, [x < 0], [lambda v: v * v, 1.0]))
    return s


@pytest.mark.parametrize("target", TARGETS)
def test_piecewise_in_a_loop_differentiates(target):   # round 14, H14-2: NameError in the backward
    for _ in range(2):
        np.testing.assert_allclose(coarsen.grad(piecewise_in_a_loop, target=target)(X, 2),
                                   np.where(X < 0, 4 * X, 0.0), rtol=1e-12)
