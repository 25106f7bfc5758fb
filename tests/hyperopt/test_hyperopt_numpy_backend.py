"""The optax-style NumPy API: parameter trees, batches, history, caching, state, validation."""
from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any, Callable

import numpy as np
import pytest

import coarsen
import hyperopt
from hyperopt import numpy_backend
from hyperopt_helpers import mlp_batches, mlp_loss, mlp_params


def quadratic(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> Any:
    r = a @ w - b
    return 0.5 * np.mean(r * r)


def _problem(seed: int = 0, n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)), rng.normal(size=n)


def test_array_params_all_optimizers_decrease_the_loss(value_and_grad: Callable) -> None:
    a, b = _problem()
    best = quadratic(np.linalg.lstsq(a, b, rcond=None)[0], a, b)
    for opt in (hyperopt.SGD(0.05, optimizer=hyperopt.SGD(1e-3)),
                hyperopt.Adam(0.05, optimizer=hyperopt.Adam(1e-3)),
                hyperopt.AdaGrad(0.3, optimizer=hyperopt.SGD(1e-3)),
                hyperopt.RMSProp(0.02, optimizer=hyperopt.RMSProp(1e-3))):
        result = hyperopt.minimize(quadratic, np.zeros(5), opt, [(a, b)] * 150,
                                   value_and_grad=value_and_grad)
        first, last = result.history.loss[0], result.history.loss[-1]
        assert last - best < 0.1 * (first - best), (opt, first, last, best)
        assert result.params.shape == (5,) and result.state.step == 150


def test_nested_params_keep_structure_and_dtype(value_and_grad: Callable) -> None:
    def loss_fn(p: dict[str, Any], x: np.ndarray, y: np.ndarray) -> Any:
        return mlp_loss({"W1": p["layer1"]["W"], "b1": p["layer1"]["b"],
                         "W2": p["W2"], "b2": p["b2"]}, x, y)

    flat = mlp_params()
    params = {"layer1": {"W": flat["W1"], "b": flat["b1"]}, "W2": flat["W2"], "b2": flat["b2"]}
    opt = hyperopt.SGD(0.1, per_param=True, optimizer=hyperopt.SGD(1e-2))
    state = opt.init(params)
    x, y = mlp_batches(1)[0]
    grads = {"layer1": {"W": np.ones_like(flat["W1"]), "b": np.ones_like(flat["b1"])},
             "W2": np.ones_like(flat["W2"]), "b2": np.ones_like(flat["b2"])}
    new, state = opt.apply_gradients(params, grads, state)
    assert set(new) == {"layer1", "W2", "b2"} and set(new["layer1"]) == {"W", "b"}
    assert set(opt.hyperparameters(state)[0]["alpha"]) == {"layer1.W", "layer1.b", "W2", "b2"}
    p32 = {k: v.astype(np.float32) for k, v in flat.items()}
    out = hyperopt.minimize(mlp_loss, p32, hyperopt.Adam(1e-2, optimizer=hyperopt.SGD(1e-4)),
                            [(x.astype(np.float32), y.astype(np.float32))] * 3,
                            value_and_grad=value_and_grad)
    assert all(v.dtype == np.float32 for v in out.params.values())


def test_state_is_an_immutable_value(value_and_grad: Callable) -> None:
    opt = hyperopt.Adam(0.01, optimizer=hyperopt.SGD(1e-3, 0.5))
    params = mlp_params()
    batches = mlp_batches(6)
    state = opt.init(params)
    for bt in batches[:3]:
        _, params, state = opt.step(mlp_loss, params, state, *bt, value_and_grad=value_and_grad)
    snapshot = pickle.loads(pickle.dumps((params, state)))
    runs = []
    for p, s in ((params, state), (params, state), snapshot):  # same start three times
        for bt in batches[3:]:
            _, p, s = opt.step(mlp_loss, p, s, *bt, value_and_grad=value_and_grad)
        runs.append((p, opt.hyperparameters(s)))
    for p, h in runs[1:]:
        assert all(np.array_equal(p[k], runs[0][0][k]) for k in p) and h == runs[0][1]


def test_batches_forms_callback_and_history(value_and_grad: Callable) -> None:
    a, b = _problem()
    opt = hyperopt.SGD(0.05, optimizer=hyperopt.SGD(1e-3))

    def full_batch(w: np.ndarray) -> Any:
        return quadratic(w, a, b)

    r1 = hyperopt.minimize(full_batch, np.zeros(5), opt, None, 20, value_and_grad=value_and_grad)
    r2 = hyperopt.minimize(quadratic, np.zeros(5), opt, lambda i: (a, b), 20,
                           value_and_grad=value_and_grad)
    r3 = hyperopt.minimize(quadratic, np.zeros(5), opt, iter([(a, b)] * 7), 20,
                           value_and_grad=value_and_grad)
    assert len(r1.history.loss) == len(r2.history.loss) == 20 and len(r3.history.loss) == 7
    np.testing.assert_allclose(r1.params, r2.params, rtol=1e-12)
    alpha = r1.history.values(0, "alpha")
    assert alpha.shape == (20,) and alpha[0] == pytest.approx(0.05, rel=1e-15)
    assert abs(alpha[-1] - 0.05) > 1e-4
    r4 = hyperopt.minimize(quadratic, np.zeros(5), opt, lambda i: (a, b), 50,
                           value_and_grad=value_and_grad, callback=lambda i, *_: i == 4)
    assert len(r4.history.loss) == 5
    r5 = hyperopt.minimize(quadratic, r4.params, opt, lambda i: (a, b), 3, state=r4.state,
                           value_and_grad=value_and_grad)
    assert r5.state.step == 8
    with pytest.raises(ValueError, match="needs steps"):
        hyperopt.minimize(full_batch, np.zeros(5), opt)


def test_gradient_transform_is_compiled_once_per_loss_fn(value_and_grad: Callable) -> None:
    calls = []

    def counting(f: Callable, argnums: int = 0) -> Callable:
        calls.append(f)
        return value_and_grad(f)

    a, b = _problem()
    opt = hyperopt.SGD(0.05)
    hyperopt.minimize(quadratic, np.zeros(5), opt, [(a, b)] * 5, value_and_grad=counting)
    hyperopt.minimize(quadratic, np.zeros(5), opt, [(a, b)] * 5, value_and_grad=counting)
    assert calls == [quadratic]


def test_missing_compiler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # setattr, not delattr: coarsen may load value_and_grad lazily (module __getattr__)
    monkeypatch.setattr(coarsen, "value_and_grad", None, raising=False)

    def fresh(w: np.ndarray) -> Any:  # never compiled before
        return np.sum(w * w)

    opt = hyperopt.SGD(0.1)
    with pytest.raises(RuntimeError, match="value_and_grad="):
        opt.step(fresh, np.ones(2), opt.init(np.ones(2)))


def test_state_and_params_must_match() -> None:
    opt = hyperopt.SGD(0.1)
    state = opt.init({"w": np.ones(2)})
    with pytest.raises(ValueError, match="structure"):
        opt.apply_gradients({"v": np.ones(2)}, {"v": np.ones(2)}, state)
    with pytest.raises(ValueError, match="shape"):
        opt.apply_gradients({"w": np.ones(2)}, {"w": np.ones(3)}, state)
    with pytest.raises(ValueError, match="expected keys"):
        opt.apply_gradients({"w": np.ones(2)}, {"u": np.ones(2)}, state)
    with pytest.raises(ValueError, match="belongs to"):
        hyperopt.SGD(0.2).apply_gradients({"w": np.ones(2)}, {"w": np.ones(2)}, state)
    with pytest.raises(TypeError, match="floating-point"):
        opt.init({"w": np.ones(2, dtype=np.int64)})


@pytest.mark.parametrize("make,match", [
    (lambda: hyperopt.SGD(0.0, optimizer=hyperopt.SGD(1e-3)), "must be > 0"),
    (lambda: hyperopt.SGD(-0.1), ">= 0"),
    (lambda: hyperopt.SGD(0.1, mu=1.0, optimizer=hyperopt.SGD(1e-3)), r"in \(-1, 1\)"),
    (lambda: hyperopt.Adam(1e-3, beta1=1.0), r"in \[0, 1\)"),
    (lambda: hyperopt.Adam(1e-3, beta2=0.0, optimizer=hyperopt.SGD(1e-3)), r"in \(0, 1\)"),
    (lambda: hyperopt.RMSProp(1e-3, gamma=1.0, optimizer=hyperopt.SGD(1e-3)), r"in \(0, 1\)"),
    (lambda: hyperopt.SGD(0.1, learn=["lr"], optimizer=hyperopt.SGD(1e-3)), "no hyperparam"),
    (lambda: hyperopt.SGD(0.1, learn=["alpha"]), "needs optimizer"),
    (lambda: hyperopt.SGD(0.1, per_param="row"), "per_param"),
    (lambda: hyperopt.SGD(0.1, trust=0.0), "trust"),
    (lambda: hyperopt.SGD(0.1, nesterov=True), "nesterov"),
    (lambda: hyperopt.SGD(0.1, optimizer=object()), "hyperopt optimizer"),
])
def test_invalid_settings_are_refused(make: Callable, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_mu_is_learned_from_zero(value_and_grad: Callable) -> None:
    opt = hyperopt.SGD(0.05, 0.0, optimizer=hyperopt.SGD(1e-2))
    result = hyperopt.minimize(mlp_loss, mlp_params(), opt, mlp_batches(30),
                               value_and_grad=value_and_grad)
    mu = result.history.values(0, "mu")
    assert mu[0] == 0.0 and abs(mu[-1]) > 1e-4
    assert hyperopt.SGD(0.05, optimizer=hyperopt.SGD(1e-2), learn=["alpha"]).constants(
        frozenset({"alpha"}))["has_momentum"] is False  # no buffer when mu stays 0


def test_repr_describes_the_tower() -> None:
    opt = hyperopt.Adam(1e-3, optimizer=hyperopt.Adam(1e-4, optimizer=hyperopt.SGD(1e-5)))
    assert opt.height() == 3
    assert repr(opt).startswith("Adam(alpha=0.001") and "optimizer=SGD(alpha=1e-05" in repr(opt)


def test_importing_hyperopt_does_not_import_torch() -> None:
    code = "import sys, hyperopt; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(numpy_backend.__file__).rsplit("/hyperopt/", 1)[0])
    assert out.stdout.strip() == "False"


def test_torch_stand_in_is_a_correct_gradient(value_and_grad: Callable,
                                              torch_stand_in: Callable) -> None:
    """The conftest's stand-in (used until coarsen provides value_and_grad) is itself checked:
    against finite differences, and against the fixture's transform (coarsen, when present)."""
    params, (x, y) = mlp_params(), mlp_batches(1)[0]
    loss, grads = torch_stand_in(mlp_loss)(params, x, y)
    assert loss == pytest.approx(float(mlp_loss(params, x, y)), rel=1e-14)
    rng = np.random.default_rng(0)
    direction = {k: rng.normal(size=v.shape) for k, v in params.items()}
    eps = 1e-6
    plus = mlp_loss({k: v + eps * direction[k] for k, v in params.items()}, x, y)
    minus = mlp_loss({k: v - eps * direction[k] for k, v in params.items()}, x, y)
    fd = (plus - minus) / (2 * eps)
    assert sum(np.vdot(grads[k], direction[k]) for k in params) == pytest.approx(fd, rel=1e-7)
    loss2, grads2 = value_and_grad(mlp_loss)(params, x, y)
    assert loss2 == pytest.approx(loss, rel=1e-12)
    for k in params:
        np.testing.assert_allclose(grads2[k], grads[k], rtol=1e-10, atol=1e-14)
