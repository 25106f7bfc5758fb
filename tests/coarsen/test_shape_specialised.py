"""Shape-specialised tracing (#12/#13): recursion whose depth follows an argument's shape is
unrolled, generator expressions and comprehensions over `range(len(x))` compile, a program
specialised to shapes is never run on other shapes (one transformed function called with
several shapes gives each its own program), and what depends on data is refused at the user's
line. Arguments coarsen does not take are refused at the call, at the function's definition."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import coarsen
import shaped_programs as P

torch = pytest.importorskip("torch")

TARGETS = ["numpy", "cpu"]


def central(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def line_of(fn, marker: str) -> int:
    lines, first = inspect.getsourcelines(fn)
    return first + next(k for k, text in enumerate(lines) if marker in text)


DETS = [P.det_gen, P.det_loop, P.det_concat, P.det_len]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("det", DETS, ids=[d.__name__ for d in DETS])
def test_cofactor_determinants_unroll_and_match_numpy_and_torch(det, target):
    rs = np.random.RandomState(0)
    # cpu compiles the 3x3 expansion (the 4x4 one takes Numba minutes); numpy runs both
    sizes = [3, 2, 4, 3, 1] if target == "numpy" else [3, 2, 3]
    f, g = coarsen.jit(det, target=target), coarsen.grad(det, target=target)
    for n in sizes:   # one transformed function, several shapes: each its own program
        A = rs.randn(n, n)
        assert f(A) == pytest.approx(np.linalg.det(A), rel=1e-10, abs=1e-12)
        grad = g(A)
        np.testing.assert_allclose(grad, central(det, A), rtol=1e-6, atol=1e-8)
        t = torch.tensor(A, requires_grad=True)
        torch.linalg.det(t).backward()
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_shaped_programs_compose_with_jvp_hessian_and_vmap(target):
    rs = np.random.RandomState(1)
    A = rs.randn(3, 3)
    _, t = coarsen.jvp(P.det_gen, (A,), (np.eye(3),), target=target)
    assert t == pytest.approx(np.linalg.det(A) * np.trace(np.linalg.inv(A)), rel=1e-9)
    B = rs.randn(2, 2)   # the same transformation on another shape
    _, t = coarsen.jvp(P.det_gen, (B,), (np.eye(2),), target=target)
    assert t == pytest.approx(np.linalg.det(B) * np.trace(np.linalg.inv(B)), rel=1e-9)
    x = rs.randn(4)
    np.testing.assert_allclose(coarsen.hessian(P.gen_sum, target=target)(x), 2 * np.eye(4), atol=1e-12)
    X = rs.randn(5, 3)
    np.testing.assert_allclose(coarsen.vmap(P.gen_sum, target=target)(X), (X ** 2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(coarsen.vmap(coarsen.grad(P.gen_sum), target=target)(X), 2 * X, rtol=1e-12)
    X = rs.randn(5, 4)   # another row length
    np.testing.assert_allclose(coarsen.vmap(P.gen_sum, target=target)(X), (X ** 2).sum(1), rtol=1e-12)


GENERATORS = [(P.gen_sum, 1), (P.gen_max, 1), (P.gen_min, 1), (P.np_sum_listcomp, 1), (P.np_array_listcomp, 1),
              (P.rows_listcomp, 2), (P.gen_nested, 2), (P.listcomp_nested, 2), (P.gen_enumerate, 1),
              (P.gen_rows, 2), (P.gmm_like, 2)]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn, rank", GENERATORS, ids=[g[0].__name__ for g in GENERATORS])
def test_generator_expressions_and_comprehensions_over_shapes(fn, rank, target):
    rs = np.random.RandomState(2)
    f, vg = coarsen.jit(fn, target=target), coarsen.value_and_grad(fn, target=target)
    shapes = [(5,), (3,), (5,)] if rank == 1 else [(3, 3), (2, 2)] if fn is P.gen_nested else [(3, 2), (4, 2)]
    for shape in shapes:
        x = rs.randn(*shape)
        assert f(x) == pytest.approx(fn(x), rel=1e-12)
        value, grad = vg(x)
        assert value == pytest.approx(fn(x), rel=1e-12)
        np.testing.assert_allclose(grad, central(fn, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("target", TARGETS)
def test_generator_over_zip_of_two_arguments(target):
    x, y = np.array([1.0, 2.0, -0.5]), np.array([0.3, -1.0, 2.0])
    gx, gy = coarsen.grad(P.gen_zip, argnums=(0, 1), target=target)(x, y)
    np.testing.assert_allclose(gx, y)
    np.testing.assert_allclose(gy, x)


def test_recursion_on_data_is_refused_at_the_call():
    with pytest.raises(coarsen.UnsupportedError, match="does not stop when tracing") as info:
        coarsen.grad(P.halving, target="numpy")(np.ones(3))
    assert info.value.filename == P.__file__
    assert info.value.lineno == line_of(P.halving, "# data recursion")


@pytest.mark.parametrize("fn, args, what", [
    (P.gen_of_data_length, (np.ones(3), 2.0), "a generator expression"),
    (P.listcomp_of_data_length, (np.ones(3),), "a list comprehension"),
])
def test_a_length_known_only_at_run_time_is_refused_at_the_users_line(fn, args, what):
    with pytest.raises(coarsen.UnsupportedError, match=f"{what} needs a length known when tracing") as info:
        coarsen.grad(fn, target="numpy")(*args)
    assert info.value.filename == P.__file__
    assert info.value.lineno == line_of(fn, "# length from data")
    assert "for loop" in str(info.value)


@pytest.mark.parametrize("target", TARGETS)
def test_sum_over_a_range_known_at_run_time_is_a_loop(target):
    x = np.array([0.5, -1.0, 2.0, 3.0])
    vg = coarsen.value_and_grad(P.sum_of_data_length, target=target)
    for n in (4, 2, 0):
        value, grad = vg(x, n)
        assert value == pytest.approx(P.sum_of_data_length(x, n), rel=1e-12)
        np.testing.assert_allclose(grad, central(lambda z: P.sum_of_data_length(z, n), x), rtol=1e-6, atol=1e-8)


def test_shaped_programs_stay_out_of_the_disk_cache():
    """A shape-specialised program is right for its shapes only; the disk key has none."""
    from coarsen import deps
    from coarsen.frontend import trace
    reads = deps.Reads(P.det_gen)
    trace(P.det_gen, np.eye(3), reads=reads)
    assert reads.shaped and reads.unpinned
    reads = deps.Reads(P.gen_of_data_length)
    with pytest.raises(coarsen.UnsupportedError):
        trace(P.gen_of_data_length, np.ones(3), 2.0, reads=reads)


def square_sum(x):
    return np.sum(x ** 2)


@pytest.mark.parametrize("bad", [None, "ab", np.ones(2, dtype=complex),
                                 np.array(["2020-01-01"], dtype="datetime64[D]"), np.array(["a"])],
                         ids=["none", "str", "complex", "datetime", "strings"])
@pytest.mark.parametrize("transform", ["jit", "grad", "vmap", "jvp", "hessian", "jacfwd"])
def test_bad_arguments_are_refused_at_the_functions_definition(transform, bad):
    """Before: a bare TypeError or ValueError from inside coarsen, and vmap turned complex and
    datetime arrays into float64 silently (the imaginary part dropped)."""
    call = {"jit": lambda: coarsen.jit(square_sum, target="numpy")(bad),
            "grad": lambda: coarsen.grad(square_sum, target="numpy")(bad),
            "vmap": lambda: coarsen.vmap(square_sum, target="numpy")(bad),
            "jvp": lambda: coarsen.jvp(square_sum, (bad,), (bad,), target="numpy"),
            "hessian": lambda: coarsen.hessian(square_sum, target="numpy")(bad),
            "jacfwd": lambda: coarsen.jacfwd(square_sum, target="numpy")(bad)}[transform]
    with pytest.raises(coarsen.UnsupportedError, match="argument 0 `x`") as info:
        call()
    assert isinstance(info.value, TypeError)   # what Python raises for a bad argument
    assert info.value.filename == __file__
    assert info.value.lineno == inspect.getsourcelines(square_sum)[1]


def scaled_pair(x, y):
    return x * y


@pytest.mark.parametrize("case", ["jvp-shape", "jvp-count", "hvp-count", "vmap-batch", "vmap-axes",
                                  "vjp-cotangent-shape", "vjp-cotangent-count"])
def test_call_construct_errors_are_located_at_the_definition(case):
    """Before: bare ValueErrors raised inside coarsen (tangents, cotangents, batch sizes)."""
    x, y = np.ones(3), np.ones(3)
    call = {
        "jvp-shape": lambda: coarsen.jvp(scaled_pair, (x, y), (np.ones(2), y), target="numpy"),
        "jvp-count": lambda: coarsen.jvp(scaled_pair, (x, y), (x,), target="numpy"),
        "hvp-count": lambda: coarsen.hvp(square_sum, (x,), (x, x), target="numpy"),
        "vmap-batch": lambda: coarsen.vmap(scaled_pair, target="numpy")(np.ones(3), np.ones(4)),
        "vmap-axes": lambda: coarsen.vmap(scaled_pair, in_axes=(0, 1), target="numpy")(x, y),
        "vjp-cotangent-shape": lambda: coarsen.vjp(scaled_pair, x, y, target="numpy")[1](np.ones(2)),
        "vjp-cotangent-count": lambda: coarsen.vjp(scaled_pair, x, y, target="numpy")[1]((x, x)),
    }[case]
    fn = square_sum if case.startswith("hvp") else scaled_pair
    with pytest.raises(coarsen.UnsupportedError) as info:
        call()
    assert isinstance(info.value, ValueError)
    assert info.value.filename == __file__
    assert info.value.lineno == inspect.getsourcelines(fn)[1]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn, shape", [(P.sum_positive, (5,)), (P.sum_nested_conditions, (4, 3)),
                                       (P.containers_of_generators, (4,))],
                         ids=["sum_positive", "sum_nested_conditions", "containers_of_generators"])
def test_summed_data_conditions_and_generator_consumers(fn, shape, target):
    rs = np.random.RandomState(4)
    vg = coarsen.value_and_grad(fn, target=target)
    for _ in range(3):   # different signs: different items kept, one program
        x = rs.randn(*shape)
        value, grad = vg(x)
        assert value == pytest.approx(fn(x), rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(grad, central(fn, x), rtol=1e-6, atol=1e-8)


def test_a_data_condition_outside_a_sum_is_refused_at_the_users_line():
    with pytest.raises(coarsen.UnsupportedError, match="condition is known only when the program runs") as info:
        coarsen.jit(P.max_of_data_condition, target="numpy")(np.ones(3))
    assert info.value.filename == P.__file__
    assert info.value.lineno == line_of(P.max_of_data_condition, "# condition from data")
    assert "np.where" in str(info.value)


def constant_vector(x):
    return np.ones(3) * 2.0


def doubled(x):
    return x * 2.0


@pytest.mark.parametrize("target", TARGETS)
def test_derivatives_of_vector_valued_functions_raise_instead_of_returning_zeros(target):
    """grad's scalar result is a reshape of a size-1 array to a scalar (NumPy's float(x)); a
    gradient that does not read the value dropped that check, so grad of a vector output
    independent of x, and hessian/hvp of any vector-valued function (their tangent output is
    linear in v), returned zeros. The check now always runs (`ir.nodes.raises`)."""
    x = np.ones(3)
    for call in (lambda: coarsen.grad(constant_vector, target=target)(x),
                 lambda: coarsen.grad(doubled, target=target)(x),
                 lambda: coarsen.hessian(doubled, target=target)(x),
                 lambda: coarsen.hvp(doubled, (x,), (x,), target=target)):
        with pytest.raises(ValueError, match="size"):   # NumPy and Numba word it differently
            call()
    assert coarsen.grad(doubled, target=target)(np.ones(1)) == pytest.approx(2.0)   # size 1: a scalar
    np.testing.assert_allclose(coarsen.hessian(lambda v: v ** 3, target=target)(np.full(1, 2.0)), [[12.0]])


def test_a_lambda_inside_another_on_one_line_is_told_apart():
    """Before: the outer lambda's code contains the inner one, so the outer matched too."""
    run = lambda: coarsen.grad(lambda x: x ** 3, target="numpy")(2.0)   # noqa: E731
    assert run() == pytest.approx(12.0)


@pytest.mark.parametrize("target", TARGETS)
def test_a_shaped_function_transformed_inside_traced_code(target):
    """grad(det_gen) inside a traced function: the inner trace knows a's shape when the outer
    trace does (both are specialised to it); sum(grad det * A) = jvp(det; A) = n det(A)."""
    rs = np.random.RandomState(6)
    f, g = coarsen.jit(P.det_grad_inside, target=target), coarsen.grad(P.det_grad_inside, target=target)
    for n in ((3, 2, 3) if target == "numpy" else (2, 1, 2)):   # cpu: Numba's compile time
        A = rs.randn(n, n)
        d = np.linalg.det(A)
        assert f(A) == pytest.approx(2 * n * d, rel=1e-9)
        np.testing.assert_allclose(g(A), 2 * n * d * np.linalg.inv(A).T, rtol=1e-8, atol=1e-10)


def test_hessian_of_the_cofactor_determinant():
    rs = np.random.RandomState(7)
    A = rs.randn(3, 3)
    H = coarsen.hessian(P.det_gen, target="numpy")(A)
    h = 1e-5
    grad = lambda M: np.linalg.det(M) * np.linalg.inv(M).T   # noqa: E731
    ref = np.zeros((3, 3, 3, 3))
    for i in np.ndindex(3, 3):
        E = np.zeros((3, 3))
        E[i] = h
        ref[:, :, i[0], i[1]] = (grad(A + E) - grad(A - E)) / (2 * h)
    np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-8)
