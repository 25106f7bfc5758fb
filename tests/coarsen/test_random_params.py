"""Random draws whose distribution parameters are traced values (#22): `rs.normal(mu, sigma,
size=n)`, `rng.uniform(a, b)`, `rng.exponential(scale)` with mu, sigma, a, b, scale computed
from the arguments. The standard variate is drawn on the host from the caller's generator and
the compiled program forms NumPy's own transform of it, so:
- the numbers are NumPy's, bit for bit, and the generator ends in the same state;
- the derivative is the pathwise one, checked against central differences of the plain
  function with the generator reseeded (common random numbers) and against torch;
- NumPy's argument checks (scale < 0, a range that is not finite or, for a Generator,
  negative) raise NumPy's exception and message at run time.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

import coarsen
from simulator import run_cuda_script

MU = np.array([0.3, -1.2, 0.5])


def normal_array_loc(mu, s, rs):   # the result has mu's shape
    return np.sum(np.sin(rs.normal(mu, s)))


def normal_sized(mu, s, rs):   # mu broadcast to the size
    return np.sum(np.cos(rs.normal(loc=mu, scale=s * s, size=(4, 3))))


def uniform_sized(mu, s, rs):
    return np.sum(rs.uniform(mu, mu + s * s, size=(2, 3)) ** 2)


def in_a_loop(mu, s, rs):   # one transformed draw per iteration, in program order
    t = 0.0
    for i in range(3):
        t = t + rs.exponential(s) * mu[i] + rs.uniform(mu[i] - 2.0, s) * mu[0]
    return t


def draws(mu, s, rs):   # the draws themselves, as results
    return rs.normal(mu, s, size=(5, 3)), rs.uniform(mu, mu + s, size=(2, 3)), rs.exponential(s * mu * mu)


GENERATORS = {"RandomState": lambda: np.random.RandomState(5), "Generator": lambda: np.random.default_rng(5)}


def _state(gen):
    return gen.random_sample(3) if isinstance(gen, np.random.RandomState) else gen.random(3)


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_the_draws_are_numpys_bit_for_bit_and_the_state_advances_as_numpys(kind):
    for s in (0.7, 2.1):
        gen, plain = GENERATORS[kind](), GENERATORS[kind]()
        got, want = coarsen.jit(draws, target="numpy")(MU, s, gen), draws(MU, s, plain)
        for a, b in zip(got, want):
            assert a.shape == b.shape and np.array_equal(a, b)
        assert np.array_equal(_state(gen), _state(plain))


@pytest.mark.slow
def test_the_draws_are_numpys_bit_for_bit_on_the_cpu_target():
    for kind in sorted(GENERATORS):
        got, want = coarsen.jit(draws, target="cpu")(MU, 1.3, GENERATORS[kind]()), draws(MU, 1.3, GENERATORS[kind]())
        for a, b in zip(got, want):
            assert np.array_equal(a, b)


def _central(fn, mu, s, kind, h=1e-6):
    """Central differences of the plain function, every evaluation from the same seed."""
    d_mu = np.zeros_like(mu)
    for k in range(mu.size):
        e = np.zeros_like(mu)
        e[k] = h
        d_mu[k] = (fn(mu + e, s, GENERATORS[kind]()) - fn(mu - e, s, GENERATORS[kind]())) / (2 * h)
    d_s = (fn(mu, s + h, GENERATORS[kind]()) - fn(mu, s - h, GENERATORS[kind]())) / (2 * h)
    return d_mu, d_s


@pytest.mark.parametrize("kind", sorted(GENERATORS))
@pytest.mark.parametrize("fn", [normal_array_loc, normal_sized, uniform_sized, in_a_loop])
def test_the_gradient_is_the_pathwise_derivative(fn, kind):
    gen = GENERATORS[kind]()
    value, (d_mu, d_s) = coarsen.value_and_grad(fn, argnums=(0, 1), target="numpy")(MU, 1.3, gen)
    assert value == pytest.approx(fn(MU, 1.3, GENERATORS[kind]()), rel=1e-14)
    want_mu, want_s = _central(fn, MU, 1.3, kind)
    np.testing.assert_allclose(d_mu, want_mu, rtol=1e-6, atol=1e-8)
    assert d_s == pytest.approx(want_s, rel=1e-6, abs=1e-8)


def test_the_gradient_matches_torch_with_the_same_standard_draws():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    d_mu, d_s = coarsen.grad(normal_sized, argnums=(0, 1), target="numpy")(MU, 1.3, np.random.default_rng(9))
    z = torch.tensor(np.random.default_rng(9).standard_normal((4, 3)))
    mu, s = torch.tensor(MU, requires_grad=True), torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    torch.cos(mu + s * s * z).sum().backward()
    np.testing.assert_allclose(d_mu, mu.grad.numpy(), rtol=1e-13)
    assert d_s == pytest.approx(s.grad.item(), rel=1e-13)


def uniform_scalar(a, b, rs):
    return rs.uniform(a, b)


def normal_scalar(a, b, rs):
    return rs.normal(a, b)


def exponential_scalar(a, b, rs):
    return rs.exponential(b) + a


@pytest.mark.parametrize("fn, a, b, kind", [
    (normal_scalar, 0.0, -1.0, "RandomState"), (normal_scalar, 0.0, -0.0, "Generator"),
    (exponential_scalar, 0.0, -2.0, "Generator"),
    (uniform_scalar, 0.0, np.inf, "RandomState"), (uniform_scalar, np.nan, 1.0, "Generator"),
    (uniform_scalar, 1.0, 0.5, "Generator"),
])
def test_numpys_argument_checks_raise_numpys_error(fn, a, b, kind):
    with pytest.raises(Exception) as plain:
        fn(a, b, GENERATORS[kind]())
    with pytest.raises(type(plain.value)) as info:
        coarsen.jit(fn, target="numpy")(a, b, GENERATORS[kind]())
    assert str(info.value) == str(plain.value)


def test_a_reversed_range_is_fine_for_a_random_state():
    # RandomState.uniform accepts high < low (a Generator refuses it): the same number
    assert coarsen.jit(uniform_scalar, target="numpy")(1.0, 0.5, GENERATORS["RandomState"]()) \
        == uniform_scalar(1.0, 0.5, GENERATORS["RandomState"]())


def sized_two(mu, s, rs):
    return np.sum(rs.normal(mu, s, size=(2,)))


def test_parameters_that_do_not_broadcast_to_the_size_raise_as_numpy_does():
    rs = np.random.RandomState(0)
    with pytest.raises(ValueError):
        sized_two(MU, 1.0, rs)
    with pytest.raises(ValueError, match="not compatible with broadcast dimensions"):
        coarsen.jit(sized_two, target="numpy")(MU, 1.0, np.random.RandomState(0))
    for mu in (MU[:1], np.ones(2)):   # broadcastable: the same numbers
        assert coarsen.jit(sized_two, target="numpy")(mu, 1.0, np.random.RandomState(0)) \
            == sized_two(mu, 1.0, np.random.RandomState(0))


def laplace_traced(mu, s, rs):
    return np.sum(rs.laplace(mu, s, size=3))


def two_arrays_no_size(mu, s, rs):   # the shape of mu[:2] is not an argument's
    return np.sum(rs.normal(mu[:2], s))


def stretched(mu, s, rs):   # mu[:, None] * s is (3, 1); adding MU stretches it to (3, 3)
    return np.sum(rs.normal(mu[:, None] * s + mu, 1.0))


@pytest.mark.parametrize("fn, words", [
    (laplace_traced, ["laplace", "known only when running", "not one transformed standard draw"]),
    (two_arrays_no_size, ["argument's shape", "size="]),
    (stretched, ["argument's shape", "size="]),
])
def test_draws_coarsen_cannot_reproduce_are_refused(fn, words):
    with pytest.raises(coarsen.UnsupportedError) as info:
        coarsen.grad(fn, argnums=(0, 1), target="numpy")(MU, 1.0, np.random.RandomState(0))
    for w in words:
        assert w in str(info.value)
    assert "test_random_params.py:" in str(info.value)



def choices(x, rng):   # an array's elements, an index, indices without replacement
    picked = rng.choice(x, size=4)
    k = rng.choice(x.shape[0])
    return np.sum(picked ** 2) + x[k] * rng.choice(x) + np.sum(x[rng.choice(x.shape[0], size=(2, 2), replace=False)])


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_choice_draws_numpys_indices_and_gathers(kind):
    x = np.arange(1.0, 7.0)
    gen, plain = GENERATORS[kind](), GENERATORS[kind]()
    value, grad = coarsen.value_and_grad(choices, target="numpy")(x, gen)
    assert value == choices(x, plain)
    assert np.array_equal(_state(gen), _state(plain))
    h, want = 1e-6, np.zeros_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        want[k] = (choices(x + e, GENERATORS[kind]()) - choices(x - e, GENERATORS[kind]())) / (2 * h)
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-8)


def choice_of_a_slice(x, rng):
    return np.sum(rng.choice(x[:3], size=2))


def test_choice_of_an_array_without_an_argument_length_is_refused():
    with pytest.raises(coarsen.UnsupportedError, match="not an argument's dimension"):
        coarsen.grad(choice_of_a_slice, target="numpy")(np.ones(4), np.random.default_rng(0))

# ------------------------------------------------------------------ cuda (simulator)
CUDA_SCRIPT = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}, {here!r}]
    import numpy as np, coarsen
    import test_random_params as R
    for kind, make in sorted(R.GENERATORS.items()):
        value, (d_mu, d_s) = coarsen.value_and_grad(R.normal_sized, argnums=(0, 1), target="cuda")(R.MU, 1.3, make())
        plain, (want_mu, want_s) = coarsen.value_and_grad(R.normal_sized, argnums=(0, 1), target="numpy")(
            R.MU, 1.3, make())
        assert np.isclose(value, plain, rtol=1e-12) and np.allclose(d_mu, want_mu, rtol=1e-10), kind
        assert np.isclose(d_s, want_s, rtol=1e-10), kind
        try:
            coarsen.jit(R.uniform_scalar, target="cuda")(0.0, np.inf, make())
        except OverflowError:
            pass
        else:
            raise AssertionError("no OverflowError")
    print("ok")
""")


@pytest.mark.gpu
@pytest.mark.slow
def test_traced_parameters_on_the_cuda_target_in_the_simulator(tmp_path):
    run_cuda_script(CUDA_SCRIPT, tmp_path)
