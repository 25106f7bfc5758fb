"""Random draws inside compiled functions (#22 item 2): RandomState / Generator methods and
np.random.* draw on the host at every call from the caller's generator (the same numbers and the
same final state as running the plain function), and are constants for the derivative."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

import coarsen
from simulator import run_cuda_script

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]


# ------------------------------------------------------------------ black-box SVI (HIPS autograd's example)
D = 2
N_SAMPLES = 16


def log_density(z):
    """An unnormalised 2-D log density (a banana) on each row of z."""
    a, b = z[:, 0], z[:, 1]
    return -0.5 * a * a / 4.0 - 0.5 * (b - 0.5 * a * a) ** 2


def unpack(params):
    return params[:D], params[D:]


def gaussian_entropy(log_std):
    return 0.5 * D * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)


def variational_objective(params, rs):
    """As in autograd's black_box_svi.py: the noise is drawn inside, from the generator passed in."""
    mean, log_std = unpack(params)
    samples = rs.randn(N_SAMPLES, D) * np.exp(log_std) + mean
    lower_bound = gaussian_entropy(log_std) + np.mean(log_density(samples))
    return -lower_bound


def torch_objective(params, eps):
    p = torch.tensor(params, requires_grad=True)
    mean, log_std = p[:D], p[D:]
    z = torch.tensor(eps) * torch.exp(log_std) + mean
    a, b = z[:, 0], z[:, 1]
    logp = -0.5 * a * a / 4.0 - 0.5 * (b - 0.5 * a * a) ** 2
    loss = -(0.5 * D * (1.0 + np.log(2 * np.pi)) + torch.sum(log_std) + torch.mean(logp))
    loss.backward()
    return loss.item(), p.grad.numpy()


PARAMS = np.array([0.3, -0.2, -0.5, -0.4])


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
def test_black_box_svi_draws_from_the_callers_generator_at_every_call(target):
    objective = coarsen.value_and_grad(variational_objective, target=target)
    rs, plain = np.random.RandomState(7), np.random.RandomState(7)
    for _ in range(3):   # fresh noise at every call: never baked into the compiled program
        eps = plain.randn(N_SAMPLES, D)   # what the plain function draws
        value, g = objective(PARAMS, rs)
        tv, tg = torch_objective(PARAMS, eps)
        assert value == pytest.approx(tv, rel=1e-13)
        np.testing.assert_allclose(g, tg, rtol=1e-11, atol=1e-13)
    # the generator's state after the calls is plain Python's
    assert rs.randn() == plain.randn()
    # central differences, the generator reset before each evaluation
    seed = 11
    g = coarsen.grad(variational_objective, target=target)(PARAMS, np.random.RandomState(seed))
    h = 1e-6
    for k in range(len(PARAMS)):
        e = np.zeros_like(PARAMS)
        e[k] = h
        fd = (variational_objective(PARAMS + e, np.random.RandomState(seed))
              - variational_objective(PARAMS - e, np.random.RandomState(seed))) / (2 * h)
        assert g[k] == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_the_compiled_program_holds_no_draw_and_stays_out_of_the_disk_cache():
    objective = coarsen.grad(variational_objective, target="numpy")
    rs = np.random.RandomState(3)
    objective(PARAMS, rs)
    (prog,) = objective.programs.values()
    first = float(rs.randn(N_SAMPLES, D)[0, 0])   # a number the next call draws
    assert repr(first)[:8] not in prog.source
    assert len(prog.draws) == 1 and prog.draws[0].method == "randn"
    a = objective(PARAMS, np.random.RandomState(3))
    b = objective(PARAMS, np.random.RandomState(4))
    assert not np.allclose(a, b)   # the same program, other draws
    assert len(objective.programs) == 1


# ------------------------------------------------------------------ Generator, closures, globals
rng_global = np.random.default_rng(5)


def generator_methods(x):
    a = rng_global.standard_normal(3)
    b = rng_global.normal(1.0, 2.0, size=(2, 3))
    c = rng_global.uniform(-1.0, 1.0)
    d = rng_global.random((3,))
    k = rng_global.integers(0, 5)
    return np.sum(x * a) + np.sum(b * x) * c + np.sum(d * x * x) + k


def random_state_methods(x, rs):
    a = rs.randn(3)
    b = rs.rand(2, 3)
    c = rs.normal(0.5, 1.5, size=3)
    d = rs.uniform(low=2.0, high=3.0, size=(3,))
    e = rs.standard_normal()
    k = rs.randint(0, 4)
    r = rs.random_sample(3)
    return np.sum(x * a * c) + np.sum(b @ x) * e + np.sum(d * x) + k + np.sum(r * x)


def module_state(x):
    return np.sum(x * np.random.randn(3)) + np.random.uniform(0.0, 1.0) * np.sum(np.random.rand(3) * x)


def sized_by_arguments(x, n):
    z = np.random.standard_normal((n, x.shape[0]))
    return np.sum(z @ x)


@pytest.mark.parametrize("target", TARGETS)
def test_every_supported_method_gives_numpys_numbers_and_final_state(target):
    x = np.array([0.5, -1.0, 2.0])
    # a Generator closed over (a module global)
    global rng_global
    rng_global = np.random.default_rng(5)
    v, g = coarsen.value_and_grad(generator_methods, target=target)(x)
    after = rng_global.random()
    rng_global = np.random.default_rng(5)
    assert v == pytest.approx(generator_methods(x), rel=1e-13)
    assert after == rng_global.random()
    # a RandomState argument
    rs = np.random.RandomState(9)
    v, g = coarsen.value_and_grad(random_state_methods, target=target)(x, rs)
    plain = np.random.RandomState(9)
    assert v == pytest.approx(random_state_methods(x, plain), rel=1e-13)
    assert rs.randn() == plain.randn()
    # the gradient: the draws are constants (central differences with the state reset)
    for k in range(3):
        e = np.zeros(3)
        e[k] = 1e-6
        fd = (random_state_methods(x + e, np.random.RandomState(9))
              - random_state_methods(x - e, np.random.RandomState(9))) / 2e-6
        assert g[k] == pytest.approx(fd, rel=1e-6, abs=1e-8)
    # np.random.* (the global RandomState), sizes from arguments
    np.random.seed(1)
    v = coarsen.jit(module_state, target=target)(x)
    w = coarsen.jit(sized_by_arguments, target=target)(x, 4)
    after = np.random.rand()
    np.random.seed(1)
    assert v == pytest.approx(module_state(x), rel=1e-13)
    assert w == pytest.approx(sized_by_arguments(x, 4), rel=1e-13)
    assert after == np.random.rand()


def test_vjp_draws_once_for_its_value_and_every_pullback():
    def f(x, rs):
        return x * rs.randn(3)

    x = np.array([1.0, 2.0, 3.0])
    out, pullback = coarsen.vjp(f, x, np.random.RandomState(2), argnums=(0,), target="numpy")
    eps = np.random.RandomState(2).randn(3)
    np.testing.assert_array_equal(out, x * eps)
    (g1,) = pullback(np.ones(3))
    (g2,) = pullback(np.ones(3))
    np.testing.assert_array_equal(g1, eps)
    np.testing.assert_array_equal(g2, eps)


def branch_draw(x):
    if np.sum(x) > 0:
        return np.sum(x * np.random.randn(2))
    return np.sum(x)


def loop_draw(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(x * np.random.randn(2))
        if s > 3.0:
            break   # the number of draws depends on the data
    return s


def while_draw(x):
    s = 0.0
    while s < 3.0:
        s = s + np.sum(x * np.random.rand(2))
    return s


def traced_scale(x):   # NumPy's laplace branches on its uniform draw: not a transform to replay
    return np.sum(np.random.laplace(0.0, x[0], size=2))


def shuffles(x):
    return np.sum(np.random.permutation(x))


def seeds(x):
    rs = np.random.RandomState(0)
    return np.sum(x * rs.randn(2))


@pytest.mark.parametrize("fn, args, words", [
    (branch_draw, (np.ones(2),), ["condition or in a loop", "test_random.py:"]),
    (loop_draw, (np.ones(2), 3), ["condition or in a loop"]),
    (while_draw, (np.ones(2),), ["condition or in a loop"]),
    (traced_scale, (np.ones(2),), ["laplace", "known only when running", "standard_normal"]),
    (shuffles, (np.ones(2),), ["np.random.permutation"]),
    (seeds, (np.ones(2),), ["np.random.RandomState"]),
])
def test_draws_whose_order_or_parameters_are_not_fixed_when_tracing_are_refused(fn, args, words):
    with pytest.raises(coarsen.UnsupportedError) as info:
        coarsen.grad(fn, target="numpy")(*args)
    for w in words:
        assert w in str(info.value)


def euler_maruyama(x0, rs, n, dt):
    """A stochastic differential equation, one draw per step (geometric Brownian motion)."""
    x = x0
    for t in range(n):
        eps = rs.randn(x0.shape[0])
        x = x + 0.1 * dt * x + np.sqrt(dt) * 0.4 * x * eps
    return np.sum(x ** 2)


def nested_loops(x, rs):
    s = rs.uniform(0.0, 1.0)
    for i in range(2, 8, 2):
        a = rs.randn()
        for j in range(2):
            s = s + a * rs.normal(0.0, 1.0) * x
        s = s + rs.randint(0, 5)
    return s + rs.rand()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn, args, k", [
    (euler_maruyama, lambda: (np.array([1.0, 0.5]), np.random.RandomState(0), 6, 0.1), 0),
    (euler_maruyama, lambda: (np.array([1.0, 0.5]), np.random.RandomState(0), 0, 0.1), 0),   # no step
    (nested_loops, lambda: (1.5, np.random.RandomState(1)), 0),
], ids=["sde", "sde zero steps", "nested loops"])
def test_draws_in_counted_loops_are_made_per_iteration_in_program_order(target, fn, args, k):
    a = args()
    v, g = coarsen.value_and_grad(fn, argnums=k, target=target)(*a)
    b = args()
    assert v == pytest.approx(fn(*b), rel=1e-13)
    assert a[1].randn() == b[1].randn()   # the same final state
    x = args()[k]
    h = 1e-6
    for idx in np.ndindex(np.shape(x)):
        e = np.zeros(np.shape(x))
        e[idx] = h
        hi, lo = list(args()), list(args())
        hi[k], lo[k] = x + (e if np.ndim(x) else h), x - (e if np.ndim(x) else h)
        fd = (fn(*hi) - fn(*lo)) / (2 * h)
        assert np.asarray(g)[idx] == pytest.approx(fd, rel=1e-6, abs=1e-8)


X_DATA = np.random.RandomState(0).randn(50, 3)
Y_DATA = X_DATA @ np.array([1.0, -2.0, 0.5])


def minibatch_loss(w, rng):
    """Stochastic gradient descent's objective: a minibatch of row indices drawn inside."""
    idx = rng.integers(0, X_DATA.shape[0], size=8)
    r = X_DATA[idx] @ w - Y_DATA[idx]
    return np.mean(r ** 2)


class NoisyModel:
    __coarsen_fields__ = ("w", "rs")   # a pytree holding its generator: a leaf-less node

    def __init__(self, w, rs):
        self.w, self.rs = w, rs

    def loss(self, x):
        return np.sum((self.w * x + self.rs.standard_normal(self.w.shape[0])) ** 2)


def model_loss(model, x):
    return model.loss(x)


@pytest.mark.parametrize("target", TARGETS)
def test_integer_draws_index_minibatches_and_objects_carry_generators(target):
    w = np.array([0.1, 0.2, 0.3])
    v, g = coarsen.value_and_grad(minibatch_loss, target=target)(w, np.random.default_rng(4))
    assert v == pytest.approx(minibatch_loss(w, np.random.default_rng(4)), rel=1e-13)
    idx = np.random.default_rng(4).integers(0, 50, size=8)
    r = X_DATA[idx] @ w - Y_DATA[idx]
    np.testing.assert_allclose(g, 2 * X_DATA[idx].T @ r / 8, rtol=1e-12)
    m = NoisyModel(np.array([1.0, 2.0]), np.random.RandomState(5))
    v, g = coarsen.value_and_grad(model_loss, target=target)(m, 1.5)
    eps = np.random.RandomState(5).standard_normal(2)
    assert v == pytest.approx(np.sum((m.w * 1.5 + eps) ** 2), rel=1e-13)
    assert isinstance(g, NoisyModel) and g.rs is None
    np.testing.assert_allclose(g.w, 2 * (m.w * 1.5 + eps) * 1.5, rtol=1e-12)
    assert m.rs.randn() == np.random.RandomState(5).randn(3)[2]   # advanced by the two draws


def test_nested_transformations_of_a_drawing_function_are_refused_not_frozen():
    def f(x):
        return x * np.random.randn()

    with pytest.raises(coarsen.UnsupportedError, match="random draws"):
        coarsen.grad(coarsen.grad(f), target="numpy")(1.0)
    with pytest.raises(coarsen.UnsupportedError, match="random draws"):
        coarsen.vmap(coarsen.grad(f), target="numpy")(np.ones(3))


def test_a_rebound_generator_global_is_noticed():
    global rng_global

    def f(x):
        return x * rng_global.standard_normal()

    jf = coarsen.jit(f, target="numpy")
    rng_global = np.random.default_rng(1)
    a = jf(1.0)
    rng_global = np.random.default_rng(1)   # a new object: the program draws from it
    assert jf(1.0) == a


# ------------------------------------------------------------------ cuda (simulator)
CUDA_SCRIPT = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}, {here!r}]
    import numpy as np, coarsen
    import test_random as R
    rs, plain = np.random.RandomState(4), np.random.RandomState(4)
    v, g = coarsen.value_and_grad(R.variational_objective, target="cuda")(R.PARAMS, rs)
    tv, tg = R.torch_objective(R.PARAMS, plain.randn(R.N_SAMPLES, R.D))
    assert np.isclose(v, tv, rtol=1e-12) and np.allclose(g, tg, rtol=1e-10, atol=1e-13), (v, tv, g, tg)
    assert rs.randn() == plain.randn()
    print("ok")
""")


@pytest.mark.gpu
@pytest.mark.slow
def test_draws_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
