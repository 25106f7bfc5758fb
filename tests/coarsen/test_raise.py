"""`raise` for validation (#22 item 3): decided when tracing it raises at the call; under a
condition known only when running it is a run-time check raising the user's exception class
with the user's message on every target (never skipped: the gradient-only program, whose
forward work is pruned to what the backward reads, runs it too)."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

import coarsen
from simulator import run_cuda_script

TARGETS = ["numpy", "cpu"]
LIMIT = 10.0


def shape_checked(x):
    if x.shape[0] != 3:   # decided when tracing? no: shapes are run-time values, so a check
        raise ValueError("x must have 3 entries")
    return np.sum(x ** 2)


def rank_checked(x):
    if x.ndim != 1:   # the rank is part of the signature: decided when tracing
        raise TypeError("x must be a vector")
    return np.sum(x ** 2)


def nonnegative(x):
    if np.any(x < 0):
        raise ValueError("x must be non-negative")
    return np.sum(np.sqrt(x))


def _validate(row):
    if np.all(row == 0.0):
        raise ZeroDivisionError("a row of zeros")
    return row / np.sum(row)


def in_a_loop(x, n):
    s = 0.0
    for i in range(n):
        if x[i] > LIMIT:
            raise OverflowError(f"x[i] above the limit {LIMIT:g}")
        s = s + x[i] ** 2
    return s


def in_a_helper(m):
    total = 0.0
    for k in range(m.shape[0]):
        total = total + np.sum(_validate(m[k]) ** 2)
    return total


def unused_result_guard(x, y):
    if y < 0.0:   # y is not differentiated: the check still runs in the gradient program
        raise ValueError("y must be non-negative")
    return np.sum(x * 2.0)


class CustomError(Exception):
    pass


def custom(x):
    if x[0] < 0:
        raise CustomError("negative")
    return np.sum(x)


CASES = [
    (shape_checked, (np.ones(3),), (np.ones(4),), ValueError, "x must have 3 entries"),
    (nonnegative, (np.array([1.0, 4.0]),), (np.array([1.0, -4.0]),), ValueError, "x must be non-negative"),
    (in_a_loop, (np.array([1.0, 4.0, 20.0]), 2), (np.array([1.0, 4.0, 20.0]), 3), OverflowError,
     "x[i] above the limit 10"),
    (in_a_helper, (np.array([[1.0, 2.0], [3.0, 1.0]]),), (np.array([[1.0, 2.0], [0.0, 0.0]]),),
     ZeroDivisionError, "a row of zeros"),
    (unused_result_guard, (np.ones(2), 1.0), (np.ones(2), -1.0), ValueError, "y must be non-negative"),
    (custom, (np.ones(2),), (np.array([-1.0, 2.0]),), CustomError, "negative"),   # the user's class (#22)
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn, good, bad, error, message", CASES, ids=[c[0].__name__ for c in CASES])
def test_a_raise_under_a_run_time_condition_is_checked_at_every_call(target, fn, good, bad, error, message):
    # plain Python raises exactly this
    with pytest.raises(error) as plain:
        fn(*bad)
    assert str(plain.value) == message
    for transform in (coarsen.grad, coarsen.value_and_grad, coarsen.jit):
        compiled = transform(fn, target=target)
        # valid arguments: the value (and gradient) as without the check
        result = compiled(*good)
        if transform is coarsen.jit:
            assert result == pytest.approx(fn(*good), rel=1e-13)
        with pytest.raises(error) as info:
            compiled(*bad)
        assert str(info.value) == message, (transform.__name__, str(info.value))
        compiled(*good)   # and valid again afterwards


def test_a_raise_decided_when_tracing_raises_at_the_call():
    with pytest.raises(TypeError, match="x must be a vector"):
        coarsen.grad(rank_checked, target="numpy")(np.ones((2, 2)))
    assert coarsen.grad(rank_checked, target="numpy")(np.ones(2)) == pytest.approx(np.full(2, 2.0))


def test_vjp_and_forward_mode_run_the_check():
    x = np.array([1.0, -4.0])
    with pytest.raises(ValueError, match="non-negative"):
        coarsen.vjp(nonnegative, x, target="numpy")
    with pytest.raises(ValueError, match="non-negative"):
        coarsen.jvp(nonnegative, (x,), (np.ones(2),), target="numpy")
    with pytest.raises(ValueError, match="non-negative"):
        coarsen.hessian(nonnegative, target="numpy")(x)
    with pytest.raises(ValueError, match="non-negative"):   # vmap on cpu: serial, so it is seen
        coarsen.vmap(coarsen.grad(nonnegative), target="cpu")(np.array([[1.0, 2.0], [1.0, -2.0]]))


def runtime_message(x):
    if x[0] < 0:
        raise ValueError(f"x[0] = {x[0]}")
    return np.sum(x)


def caught(x):
    try:
        if x[0] < 0:
            raise ValueError("negative")
        y = x * 2.0
    except ValueError:
        y = x
    return np.sum(y)


def _same_name_classes():
    def make():
        class StepError(Exception):
            pass

        def step(x):
            if x < 0.0:
                raise StepError("x < 0")
            return x * 2.0
        return StepError, step
    return make(), make()


def test_a_users_exception_class_is_raised_by_identity_not_by_name():
    # two classes of the same name and the same generated code: each program raises its own
    for error, step in _same_name_classes():
        for transform in (coarsen.grad, coarsen.jit):
            with pytest.raises(Exception) as info:
                transform(step, target="numpy")(-1.0)
            assert type(info.value) is error and str(info.value) == "x < 0"


class Valued(Exception):
    def __init__(self, what):
        super().__init__(f"bad {what}")


def custom_init(x):
    if x[0] < 0:
        raise Valued("x")
    return np.sum(x * x)


def test_a_users_exception_class_with_its_own_init_gets_the_same_arguments():
    with pytest.raises(Valued, match="^bad x$"):
        coarsen.value_and_grad(custom_init, target="numpy")(np.array([-1.0, 1.0]))


@pytest.mark.parametrize("fn, words", [
    (runtime_message, ["x[0]", "known only when running", "constant message"]),
    (caught, ["try/except"]),
])
def test_run_time_raises_the_compiled_code_cannot_reproduce_are_refused(fn, words):
    with pytest.raises(coarsen.UnsupportedError) as info:
        coarsen.grad(fn, target="numpy")(np.ones(2))
    for w in words:
        assert w in str(info.value)
    assert "test_raise.py:" in str(info.value)


# ------------------------------------------------------------------ cuda (simulator)
CUDA_SCRIPT = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}, {here!r}]
    import numpy as np, coarsen
    import test_raise as R
    for fn, good, bad, error, message in R.CASES:
        coarsen.grad(fn, target="cuda")(*good)
        try:
            coarsen.value_and_grad(fn, target="cuda")(*bad)
        except error as e:
            assert str(e) == message, (fn.__name__, str(e))
        else:
            raise AssertionError(fn.__name__ + ": no exception")
    print("ok")
""")


@pytest.mark.gpu
@pytest.mark.slow
def test_run_time_checks_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)



@pytest.mark.parametrize("target", TARGETS)
def test_assert_is_a_check_with_the_users_message(target):
    from raise_programs import asserted   # not in a test module: pytest rewrites their asserts
    g = coarsen.grad(asserted, target=target)
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [1.0, 0.5])
    for bad, args in ((np.array([1.0, -2.0]), ("x must be positive",)), (np.array([1.0]), ()),
                      (np.ones((2, 2)), ("a vector",))):
        with pytest.raises(AssertionError) as info:
            g(bad)
        assert info.value.args == args
