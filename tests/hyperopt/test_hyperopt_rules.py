"""Unit tests of the closed forms: each rule's tangents and each domain map.

- ``d delta / d h`` from rules.py equals central finite differences of ``delta`` itself, for
  every rule and hyperparameter, at random slot states (hypothesis);
- the NumPy and torch ops give the same numbers;
- domains.py: values never leave their domain whatever the step, the first-order step is the
  raw one, the trust bound holds, and the returned scale is d value / d delta.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hyperopt
from hyperopt.arrays import NUMPY_OPS
from hyperopt.domains import (Domain, apply_update, check_value, log_slope, to_coordinate,
                              to_value)
from hyperopt.torch import TORCH_OPS

SPECS = {
    "sgd": lambda: hyperopt.SGD(0.1, 0.5, optimizer=hyperopt.SGD(1.0)),
    # no momentum buffer (mu 0, not learned): the rule's separate branch
    "sgd_plain": lambda: hyperopt.SGD(0.1, learn=["alpha"], optimizer=hyperopt.SGD(1.0)),
    "sgd_plain_wd": lambda: hyperopt.SGD(0.1, weight_decay=0.1, learn=["alpha"],
                                         optimizer=hyperopt.SGD(1.0)),
    "sgd_nesterov_wd": lambda: hyperopt.SGD(0.1, 0.5, nesterov=True, weight_decay=0.1,
                                            optimizer=hyperopt.SGD(1.0)),
    "adam": lambda: hyperopt.Adam(0.1, 0.8, 0.95, optimizer=hyperopt.SGD(1.0)),
    "adam_wd": lambda: hyperopt.Adam(0.1, 0.8, 0.95, weight_decay=0.1,
                                     optimizer=hyperopt.SGD(1.0)),
    "adagrad": lambda: hyperopt.AdaGrad(0.1, optimizer=hyperopt.SGD(1.0)),
    "rmsprop": lambda: hyperopt.RMSProp(0.1, 0.9, optimizer=hyperopt.SGD(1.0)),
}


def _random_slots(spec: hyperopt.Optimizer, leaf: np.ndarray, rng: np.random.Generator,
                  steps: int) -> dict[str, Any]:
    """Slots after ``steps`` updates with random gradients (a realistic, non-trivial state)."""
    const = spec.constants(spec.learned_names())
    slots = spec.init_slots(leaf, const, NUMPY_OPS)
    for _ in range(steps):
        _, slots, _ = spec.update_rule(leaf, rng.normal(size=leaf.shape), slots, spec.initial,
                                       const, frozenset(), NUMPY_OPS)
    return slots


@pytest.mark.parametrize("name", list(SPECS))
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.integers(0, 4))
def test_rule_tangents_match_finite_differences(name: str, seed: int, steps: int) -> None:
    spec = SPECS[name]()
    rng = np.random.default_rng(seed)
    leaf, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    const = spec.constants(spec.learned_names())
    slots = _random_slots(spec, leaf, rng, steps)
    h = dict(spec.initial)
    want = spec.learned_names()
    _, _, tangents = spec.update_rule(leaf, g, slots, h, const, want, NUMPY_OPS)
    assert set(tangents) == set(want)
    for k in want:
        eps = 1e-6

        def delta(e: float) -> np.ndarray:
            return spec.update_rule(leaf, g, slots, {**h, k: h[k] + e}, const, frozenset(),
                                    NUMPY_OPS)[0]

        fd = (delta(eps) - delta(-eps)) / (2 * eps)
        np.testing.assert_allclose(tangents[k], fd, rtol=1e-6, atol=1e-8, err_msg=f"{name}:{k}")


@pytest.mark.parametrize("name", list(SPECS))
def test_numpy_and_torch_ops_agree(name: str) -> None:
    spec = SPECS[name]()
    rng = np.random.default_rng(0)
    leaf, g = rng.normal(size=(5,)), rng.normal(size=(5,))
    const = spec.constants(spec.learned_names())
    slots = _random_slots(spec, leaf, rng, 3)
    want = spec.learned_names()
    d_np, s_np, t_np = spec.update_rule(leaf, g, slots, spec.initial, const, want, NUMPY_OPS)
    d_t, s_t, t_t = spec.update_rule(torch.from_numpy(leaf), torch.from_numpy(g),
                                     {k: torch.as_tensor(v) for k, v in slots.items()},
                                     spec.initial, const, want, TORCH_OPS)
    np.testing.assert_allclose(d_t.numpy(), d_np, rtol=1e-13)
    for k in t_np:
        np.testing.assert_allclose(t_t[k].numpy(), t_np[k], rtol=1e-12, atol=1e-15)
    for k in s_np:
        np.testing.assert_allclose(np.asarray(s_t[k]), s_np[k], rtol=1e-13)


def test_adam_zero_gradient_history_has_finite_tangents() -> None:
    """Where every gradient so far was 0, v = 0: the beta2 tangent must be 0, not 0/0."""
    spec = SPECS["adam"]()
    leaf = np.zeros(3)
    const = spec.constants(spec.learned_names())
    slots = spec.init_slots(leaf, const, NUMPY_OPS)
    with np.errstate(all="raise"):
        d, _, t = spec.update_rule(leaf, np.zeros(3), slots, spec.initial, const,
                                   spec.learned_names(), NUMPY_OPS)
    assert np.all(d == 0) and all(np.all(v == 0) for v in t.values())


DOMAINS = [Domain.POSITIVE, Domain.UNIT, Domain.SYMMETRIC]
INSIDE = {Domain.POSITIVE: (1e-6, 50.0), Domain.UNIT: (1e-4, 1 - 1e-4),
          Domain.SYMMETRIC: (-0.999, 0.999)}


@settings(max_examples=200, deadline=None)
@given(domain=st.sampled_from(DOMAINS), u=st.floats(0.0, 1.0),
       delta=st.floats(-1e12, 1e12), trust=st.sampled_from([0.1, 1.0, 3.0, None]))
def test_domain_update_stays_inside_and_is_bounded(domain: Domain, u: float, delta: float,
                                                   trust: float | None) -> None:
    lo, hi = INSIDE[domain]
    value = lo + u * (hi - lo)
    c = np.array(to_coordinate(domain, value))
    value = float(to_value(domain, c, NUMPY_OPS))  # after the coordinate round trip
    c_new, scale = apply_update(domain, c, np.array(delta), trust, NUMPY_OPS)
    assert np.isfinite(c_new) and np.isfinite(scale) and scale >= 0
    with np.errstate(over="ignore"):  # unbounded (trust=None) steps may overflow exp: allowed
        v_new = float(to_value(domain, c_new, NUMPY_OPS))
    if trust is not None:
        assert abs(float(c_new - c)) <= trust * (1 + 1e-12)
        if domain is Domain.POSITIVE:  # the value stays strictly inside
            assert v_new > 0
        elif domain is Domain.UNIT:
            assert 0 < v_new < 1
        else:
            assert -1 < v_new < 1
    if delta != 0:
        assert np.sign(v_new - value) in (np.sign(delta), 0.0)  # never the wrong way


@settings(max_examples=100, deadline=None)
@given(domain=st.sampled_from(DOMAINS), u=st.floats(0.05, 0.95), r=st.floats(-3.0, 3.0),
       trust=st.sampled_from([0.5, 1.0, None]))
def test_domain_scale_is_dvalue_ddelta(domain: Domain, u: float, r: float,
                                       trust: float | None) -> None:
    lo, hi = INSIDE[domain]
    value = lo + u * (hi - lo)
    c = np.array(to_coordinate(domain, value))
    # delta chosen as a multiple of dv/dc so the coordinate step r is O(1).
    slope = float(np.exp(log_slope(domain, c, NUMPY_OPS)))
    delta = r * slope
    _, scale = apply_update(domain, c, np.array(delta), trust, NUMPY_OPS)
    eps = 1e-6 * slope

    def v(d: float) -> float:
        return float(to_value(domain, apply_update(domain, c, np.array(d), trust, NUMPY_OPS)[0],
                              NUMPY_OPS))

    fd = (v(delta + eps) - v(delta - eps)) / (2 * eps)
    assert math.isclose(float(scale), fd, rel_tol=1e-4, abs_tol=1e-10)


@pytest.mark.parametrize("domain", DOMAINS)
def test_small_steps_are_the_raw_step(domain: Domain) -> None:
    """To first order v_new = v + delta: small steps match the unconstrained formulation."""
    value = {Domain.POSITIVE: 0.03, Domain.UNIT: 0.9, Domain.SYMMETRIC: 0.0}[domain]
    c = np.array(to_coordinate(domain, value))
    for delta in (1e-7, -1e-7):
        v_new = float(to_value(domain, apply_update(domain, c, np.array(delta), 1.0,
                                                    NUMPY_OPS)[0], NUMPY_OPS))
        assert v_new - value == pytest.approx(delta, rel=1e-4)


def test_real_domain_is_plain_addition() -> None:
    c_new, scale = apply_update(Domain.REAL, np.array([1.0, 2.0]), np.array([0.5, -0.5]), 1.0,
                                NUMPY_OPS)
    assert scale is None and list(c_new) == [1.5, 1.5]


@pytest.mark.parametrize("domain,bad", [(Domain.POSITIVE, 0.0), (Domain.POSITIVE, -1.0),
                                        (Domain.UNIT, 1.0), (Domain.UNIT, 0.0),
                                        (Domain.SYMMETRIC, 1.0), (Domain.POSITIVE, math.inf)])
def test_check_value_rejects_boundary(domain: Domain, bad: float) -> None:
    with pytest.raises(ValueError):
        check_value(domain, bad, "x")
