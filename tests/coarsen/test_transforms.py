"""Composed transformations: grad of grad, jvp, jacfwd/jacrev, hessian/hvp, and coarsen's API
called inside traced code.

References: torch (double backward with create_graph=True, autograd Jacobians) on hand-written
twins and on the generated programs of `ad_programs` (their torch twins); for jvp also the
dot-product identity <v, J u> = <J^T v, u> against torch's vector-Jacobian product.
"""
from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import coarsen
from ad_programs import load, programs
from coarsen.transforms import hessian, hvp, jacfwd, jacrev, jvp

torch.set_num_threads(1)
EXAMPLES = int(os.environ.get("COARSEN_TRANSFORM_EXAMPLES", "25"))
_DIR = Path(tempfile.mkdtemp(prefix="coarsen_tr_"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


@pytest.fixture(autouse=True, scope="module")
def private_program_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COARSEN_CACHE_DIR", str(tmp_path_factory.mktemp("coarsen_cache")))
        yield


def softplus(x):
    return math.log(1.0 + math.exp(x))


def loop_exp(x):
    s = 0.0
    for k in range(4):
        s = s + math.exp(x * k * 0.3)
    return s


def _torch_second(fn_torch, x: float) -> float:
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn_torch(t), t, create_graph=True)
    (h,) = torch.autograd.grad(g, t)
    return float(h)


SECOND = [
    (softplus, lambda t: torch.log(1.0 + torch.exp(t))),
    (loop_exp, lambda t: sum(torch.exp(t * k * 0.3) for k in range(4))),
]


@pytest.mark.parametrize("fn, fn_torch", SECOND, ids=[f.__name__ for f, _ in SECOND])
@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_grad_of_grad_is_the_second_derivative(fn, fn_torch, target):
    """Regression: grad(grad(f)) returned grad(f) (the outer transform took over the inner's
    function and programs through functools.update_wrapper's __dict__ copy)."""
    x = 0.5
    first = coarsen.grad(fn, target=target)(x)
    second = coarsen.grad(coarsen.grad(fn, target=target), target=target)(x)
    assert second == pytest.approx(_torch_second(fn_torch, x), rel=1e-10, abs=1e-12)
    assert second != pytest.approx(first)
    third = coarsen.grad(coarsen.grad(coarsen.grad(fn, target=target), target=target), target=target)(x)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn_torch(t), t, create_graph=True)
    (h,) = torch.autograd.grad(g, t, create_graph=True)
    (k,) = torch.autograd.grad(h, t)
    assert third == pytest.approx(float(k), rel=1e-9, abs=1e-12)


def test_grad_inside_traced_code():
    """Regression: coarsen.grad(h) in a traced function was inlined as if api.py were user code."""
    def g(x):
        return coarsen.grad(softplus)(x) * 2.0
    assert coarsen.grad(g, target="numpy")(0.5) == pytest.approx(2.0 * _torch_second(SECOND[0][1], 0.5), rel=1e-10)
    assert coarsen.jit(g, target="numpy")(0.5) == pytest.approx(2.0 / (1.0 + math.exp(-0.5)), rel=1e-12)


dsoftplus = coarsen.grad(softplus)


def with_jvp(x, v):
    y, t = coarsen.jvp(softplus, (x,), (v,))
    return t * y + dsoftplus(x)


def test_jvp_and_transformed_functions_inside_traced_code_compose_with_vmap():
    def ref(x, v):
        s = 1.0 / (1.0 + math.exp(-x))
        return v * s * math.log(1.0 + math.exp(x)) + s
    xs = np.array([0.5, -0.2, 1.3])
    out = coarsen.vmap(with_jvp, (0, None), target="numpy")(xs, 2.0)
    np.testing.assert_allclose(out, [ref(x, 2.0) for x in xs], rtol=1e-12)
    eps = 1e-6
    assert coarsen.grad(with_jvp, target="numpy")(0.5, 2.0) == pytest.approx(
        (ref(0.5 + eps, 2.0) - ref(0.5 - eps, 2.0)) / (2 * eps), rel=1e-6)


def looped(x, w):
    """A counted loop with a branch, a while loop with a data-dependent exit, element writes."""
    s = 0.0
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        if x[i] > 0.2:
            s = s + x[i] * x[i] * w
        else:
            s = s + np.sin(x[i] * w)
        out[i] = s * s
    k = 0
    while s < 4.0 and k < 3:
        s = s * 1.5 + w
        k += 1
    return np.sum(out) * 0.5 + np.max(out) + s * np.sum(np.exp(x))


def looped_torch(x, w):
    s = torch.zeros((), dtype=torch.float64)
    outs = []
    for i in range(x.shape[0]):
        if x[i] > 0.2:
            s = s + x[i] * x[i] * w
        else:
            s = s + torch.sin(x[i] * w)
        outs.append(s * s)
    out = torch.stack(outs)
    k = 0
    while s < 4.0 and k < 3:
        s = s * 1.5 + w
        k += 1
    return torch.sum(out) * 0.5 + torch.max(out) + s * torch.sum(torch.exp(x))


X = np.array([0.1, 0.5, -0.3, 0.9])
W = 0.7


def _torch_args():
    return (torch.tensor(X, requires_grad=True), torch.tensor(W, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_jvp_jacobians_hessian_hvp_against_torch(target):
    """Everything on the reference target; on "cpu" (a Numba compile per program) jvp and
    hessian only."""
    u, du_w = np.array([0.3, -1.0, 0.5, 2.0]), 0.25
    x, w = _torch_args()
    jac_x, jac_w = torch.autograd.functional.jacobian(looped_torch, (x, w))
    hess = torch.autograd.functional.hessian(looped_torch, (x, w))
    expected_value = float(looped_torch(x, w).detach())

    value, tangent = jvp(looped, (X, W), (u, du_w), target=target)
    assert value == pytest.approx(expected_value, rel=1e-12)
    assert tangent == pytest.approx(float(jac_x.numpy() @ u + jac_w.numpy() * du_w), rel=1e-10)
    # the tangent of one argument only
    _, t_w = jvp(looped, (X, W), (1.0,), argnums=1, target=target)
    assert t_w == pytest.approx(float(jac_w), rel=1e-10)

    h = hessian(looped, target=target)(X, W)
    np.testing.assert_allclose(h, hess[0][0].numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)
    if target != "numpy":
        return
    for jac in (jacfwd, jacrev):
        jx, jw = jac(looped, argnums=(0, 1), target=target)(X, W)
        np.testing.assert_allclose(jx, jac_x.numpy(), rtol=1e-10)
        assert jw == pytest.approx(float(jac_w), rel=1e-10)

    (hxx, hxw), (hwx, hww) = hessian(looped, argnums=(0, 1), target=target)(X, W)
    np.testing.assert_allclose(hxw, hess[0][1].numpy(), rtol=1e-9)
    np.testing.assert_allclose(hwx, hess[1][0].numpy(), rtol=1e-9)
    assert hww == pytest.approx(float(hess[1][1]), rel=1e-9)
    np.testing.assert_allclose(hvp(looped, (X, W), (u,), argnums=0, target=target), h @ u, rtol=1e-9)
    # composition: the Jacobian of the gradient is the Hessian
    np.testing.assert_allclose(jacfwd(coarsen.grad(looped, target=target), target=target)(X, W), h, rtol=1e-9)


def test_vector_valued_jacobians():
    def field(x):
        y = np.zeros(3)
        y[0] = x[0] * x[1]
        y[1] = np.sin(x[1]) + x[0] ** 2
        y[2] = np.sum(np.tanh(x))
        return y
    x = np.array([0.4, -1.2])
    j = torch.autograd.functional.jacobian(
        lambda t: torch.stack([t[0] * t[1], torch.sin(t[1]) + t[0] ** 2, torch.sum(torch.tanh(t))]),
        torch.tensor(x)).numpy()
    np.testing.assert_allclose(jacfwd(field, target="numpy")(x), j, rtol=1e-12)
    np.testing.assert_allclose(jacrev(field, target="numpy")(x), j, rtol=1e-12)
    out, t = jvp(field, (x,), (np.array([1.0, 2.0]),), target="numpy")
    np.testing.assert_allclose(t, j @ [1.0, 2.0], rtol=1e-12)


def test_jit_of_a_loop_writing_a_fresh_array_is_not_shared_across_iterations():
    """Regression (primal programs wrote every element write in place): `np.zeros` inside a
    loop was hoisted by LICM, so each iteration saw the previous iteration's writes."""
    def basis_sum(x):
        s = 0.0
        for i in range(x.shape[0]):
            e = np.zeros(x.shape[0])
            e[i] = 1.0
            s = s + np.sum(e * x) * (i + 1.0)
        return s
    x = np.array([1.0, 2.0, 3.0])
    for target in ("numpy", "cpu"):
        assert coarsen.jit(basis_sum, target=target)(x) == basis_sum(x) == 14.0


def _cumprod_total(x):
    return np.sum(np.cumprod(x))


def _cumprod_tangent(x):
    return jvp(_cumprod_total, (x,), (np.ones(2),))[1]


def _cumprod_second(x):
    return coarsen.grad(_cumprod_tangent)(x)[0]


def test_cumprod_second_derivatives_and_the_refused_third():
    # second derivatives of cumprod: forward over forward and reverse over forward, exact
    x, eps = np.array([1.0, 2.0]), 1e-6
    g = coarsen.grad(_cumprod_tangent, target="numpy")(x)   # reverse over forward
    for k, e in enumerate(np.eye(2)):
        fd = (_cumprod_tangent(x + eps * e) - _cumprod_tangent(x - eps * e)) / (2 * eps)
        assert g[k] == pytest.approx(fd, rel=1e-6, abs=1e-8)
        _, tt = jvp(_cumprod_tangent, (x,), (e,), target="numpy")   # forward over forward
        assert tt == pytest.approx(fd, rel=1e-6, abs=1e-8)
    with pytest.raises(coarsen.UnsupportedError, match="third derivative of np.cumprod"):
        coarsen.grad(_cumprod_second, target="numpy")(x)


def test_forward_mode_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="tangent"):
        jvp(softplus, (0.5,), (np.ones(2),), target="numpy")


# ---------------------------------------------------------------------- generated programs
def _reference(fn, args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with np.errstate(all="raise"):
                out = np.asarray(fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]), dtype=np.float64)
        except Exception:   # noqa: BLE001 - a failing reference run discards the draw
            return None
    return out if np.all(np.isfinite(out)) and np.all(np.abs(out) < 1e6) else None


def _compiled(call):
    try:
        return call()
    except coarsen.UnsupportedError as err:   # what forward mode refuses: never wrong
        assume("forward mode" not in err.message)
        # a write through a name that aliases another (the generator's helpers may return an
        # argument as it is: `t6, t7 = h0(.., y0)` then `y0 -= ..`): refusing it is never wrong
        assume("is also reachable as" not in err.message)
        raise


@SETTINGS
@given(prog=programs("array"), seed=st.integers(0, 2**16))
def test_jvp_dot_product_identity_against_torch(prog, seed):
    """<v, J u> from coarsen's forward mode equals <J^T v, u> from torch's reverse mode."""
    np_mod, th_mod = load(prog, _DIR)
    args = prog.inputs(seed)
    out = _reference(np_mod.f, args)
    assume(out is not None)
    nums = prog.float_argnums
    rng = np.random.default_rng(seed + 7)
    u = tuple(rng.uniform(-1, 1, size=np.shape(args[k])) if np.ndim(args[k]) else float(rng.uniform(-1, 1))
              for k in nums)
    v = rng.uniform(-1, 1, size=out.shape)
    note(f"args = {args!r}, u = {u!r}")
    value, tangent = _compiled(lambda: jvp(np_mod.f, args, u, argnums=nums, target="numpy"))
    np.testing.assert_allclose(value, out, rtol=1e-9, atol=1e-12)
    targs = [a if isinstance(a, int) else torch.tensor(a, dtype=torch.float64, requires_grad=k in nums)
             for k, a in enumerate(args)]
    t_out = th_mod.f(*targs)
    assume(isinstance(t_out, torch.Tensor) and t_out.requires_grad)
    grads = torch.autograd.grad(t_out, [targs[k] for k in nums], grad_outputs=torch.as_tensor(v), allow_unused=True)
    rhs = sum(float(np.sum((0.0 if g is None else g.numpy()) * uk)) for g, uk in zip(grads, u))
    lhs = float(np.sum(v * np.asarray(tangent)))
    assert lhs == pytest.approx(rhs, rel=1e-7, abs=1e-9 * (1 + abs(rhs)))


@pytest.mark.slow
@settings(SETTINGS, max_examples=max(1, EXAMPLES // 4))
@given(prog=programs("scalar"), seed=st.integers(0, 2**16))
def test_grad_of_grad_against_torch_double_backward(prog, seed):
    """d/dx_b (d f / d x_a) of generated scalar programs (loops, branches, while/break, element
    writes) against torch's double backward, and the Hessian's symmetry."""
    np_mod, th_mod = load(prog, _DIR)
    scalars = [k for k in prog.float_argnums if prog.params[k] == ("f",)]
    assume(scalars)
    args = prog.inputs(seed)
    assume(_reference(np_mod.f, args) is not None)
    a = scalars[seed % len(scalars)]
    b = scalars[(seed // 2) % len(scalars)]
    note(f"args = {args!r}, d2 f / d x{a} d x{b}")
    second = _compiled(lambda: coarsen.grad(coarsen.grad(np_mod.f, argnums=a, target="numpy"),
                                            argnums=b, target="numpy")(*args))
    targs = [x if isinstance(x, int) else torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in args]
    t_out = th_mod.f(*targs)
    assume(isinstance(t_out, torch.Tensor) and t_out.requires_grad)
    (g,) = torch.autograd.grad(t_out, targs[a], create_graph=True, allow_unused=True)
    expected = 0.0
    if g is not None and g.requires_grad:
        (h,) = torch.autograd.grad(g, targs[b], allow_unused=True)
        expected = 0.0 if h is None else float(h)
    assert second == pytest.approx(expected, rel=1e-7, abs=1e-9 * (1 + abs(expected)))
    if a != b:
        other = coarsen.grad(coarsen.grad(np_mod.f, argnums=b, target="numpy"), argnums=a, target="numpy")(*args)
        assert other == pytest.approx(second, rel=1e-7, abs=1e-9 * (1 + abs(second)))


SCALE = 2.0


def scaled(x):
    return SCALE * x * x


def calls_grad_of_scaled(x):
    return coarsen.grad(scaled)(x) * x


def test_rebinding_a_global_that_an_inner_function_reads_recompiles():
    """Programs built from a transformed function's IR are guarded by every outside value the
    inner traces read: no stale second derivative, Hessian or inlined gradient."""
    global SCALE
    second = coarsen.grad(coarsen.grad(scaled, target="numpy"), target="numpy")
    hess = hessian(scaled, target="numpy")
    outer = coarsen.jit(calls_grad_of_scaled, target="numpy")
    try:
        assert (second(1.5), hess(1.5), outer(1.5)) == (4.0, 4.0, 9.0)
        SCALE = 3.0
        assert (second(1.5), hess(1.5), outer(1.5)) == (6.0, 6.0, 13.5)
    finally:
        SCALE = 2.0


@pytest.mark.slow
@settings(SETTINGS, max_examples=max(1, EXAMPLES // 5))
@given(prog=programs("scalar"), seed=st.integers(0, 2**16))
def test_hessian_against_differences_of_grad_and_symmetric(prog, seed):
    """The Hessian (reverse over forward) of generated scalar programs w.r.t. an array or a
    scalar argument: central differences of coarsen's gradient, and symmetry."""
    np_mod, _ = load(prog, _DIR)
    nums = prog.float_argnums
    assume(nums)
    args = prog.inputs(seed)
    assume(_reference(np_mod.f, args) is not None)
    k = nums[seed % len(nums)]
    note(f"args = {args!r}, hessian w.r.t. argument {k}")
    h = np.asarray(_compiled(lambda: hessian(np_mod.f, argnums=k, target="numpy")(*args)))
    grad = coarsen.grad(np_mod.f, argnums=k, target="numpy")
    x = args[k]
    size = int(np.prod(np.shape(x)))
    flat_h = h.reshape(size, size)
    for j in range(size):
        columns = []
        for step in (1e-4, 1e-5):
            moved = []
            for sign in (1.0, -1.0):
                xs = np.array(x, dtype=np.float64).reshape(-1).copy()
                xs[j] += sign * step
                moved_arg = xs.reshape(np.shape(x)) if np.ndim(x) else float(xs[0])
                shifted = list(args)
                shifted[k] = moved_arg
                assume(_reference(np_mod.f, tuple(shifted)) is not None)
                moved.append(np.asarray(grad(*shifted), dtype=np.float64).reshape(-1))
            columns.append((moved[0] - moved[1]) / (2 * step))
        if not np.allclose(columns[0], columns[1], rtol=1e-4, atol=1e-6):
            continue   # a branch boundary or kink within a step: differences do not settle
        np.testing.assert_allclose(flat_h[:, j], columns[1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(flat_h, flat_h.T, rtol=1e-9, atol=1e-9)


def extrema(x):
    return (np.max(x) * 2.0 + np.sum(np.min(x, axis=0)) + np.sum(np.max(x, axis=1, keepdims=True))
            + np.min(x, keepdims=True)[0, 0])


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_forward_mode_extrema_at_ties_pick_the_first_position_as_reverse_mode(target):
    X = np.array([[1.0, 3.0, 3.0], [3.0, 0.5, 0.5]])
    expected = np.array([[1.0, 3.0, 0.0], [1.0, 2.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # compiled on the target, no NumPy fallback
        np.testing.assert_array_equal(jacfwd(extrema, target=target)(X), expected)
        np.testing.assert_array_equal(jacrev(extrema, target=target)(X), expected)


def cubic(x, w):
    return np.sum(np.sin(x) * w) + np.sum(x ** 3)


def sine_field(x):
    return np.sin(x) * np.sum(x)


def uses_jacobians(x):
    return np.sum(coarsen.jacfwd(sine_field)(x) ** 2) + np.sum(hessian(cubic)(x, 2.0))


def test_jacobians_and_hessians_compose_with_vmap_and_grad():
    X = np.random.default_rng(0).normal(size=(4, 3))
    H = coarsen.vmap(hessian(cubic), (0, None), target="numpy")(X, 0.5)
    J = coarsen.vmap(jacrev(sine_field), 0, target="numpy")(X)
    for k in range(4):
        np.testing.assert_allclose(H[k], hessian(cubic, target="numpy")(X[k], 0.5), rtol=1e-12)
        np.testing.assert_allclose(J[k], jacrev(sine_field, target="numpy")(X[k]), rtol=1e-12)
    x = X[0]

    def reference(x):
        return (np.sum(jacfwd(sine_field, target="numpy")(x) ** 2)
                + np.sum(hessian(cubic, target="numpy")(x, 2.0)))
    assert coarsen.jit(uses_jacobians, target="numpy")(x) == pytest.approx(reference(x), rel=1e-12)
    eps = 1e-6
    fd = np.array([(reference(x + eps * e) - reference(x - eps * e)) / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(coarsen.grad(uses_jacobians, target="numpy")(x), fd, rtol=1e-6, atol=1e-8)


def test_explain_a_transformed_function():
    import io
    text = coarsen.explain(coarsen.grad(softplus), 0.5, file=io.StringIO())
    assert "func softplus_grad" in text and "def softplus_grad_vjp" in text


def test_vmap_of_a_lambda_calling_jvp():
    xs = np.linspace(0.0, 1.0, 4)
    out = coarsen.vmap(lambda x: coarsen.jvp(softplus, (x,), (2.0,))[1], target="numpy")(xs)
    np.testing.assert_allclose(out, 2.0 / (1.0 + np.exp(-xs)), rtol=1e-12)
