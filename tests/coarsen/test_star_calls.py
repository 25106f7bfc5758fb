"""Calls that unpack their arguments, `f(y, t, *args)` and `f(**options)`, as generic
integrators and SciPy-style callbacks are written (`odeint(f, y0, t, args=...)`): the tuple,
list or dict is known when tracing, so its items are the call's arguments. Gradients against
torch and central differences; unpacking an array (its length known only when running) is
refused at the user's line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import coarsen

torch.set_num_threads(1)
TARGETS = ["numpy", "cpu"]


def rk4(f, y0, t0, t1, n, *args):
    h = (t1 - t0) / n
    y, t = y0, t0
    for _ in range(n):
        k1 = f(y, t, *args)
        k2 = f(y + 0.5 * h * k1, t + 0.5 * h, *args)
        k3 = f(y + 0.5 * h * k2, t + 0.5 * h, *args)
        k4 = f(y + h * k3, t + h, *args)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t = t + h
    return y


def lotka_volterra(y, t, a, b, c, d):
    return np.array([a * y[0] - b * y[0] * y[1], c * y[0] * y[1] - d * y[1]])


def lv_loss(p, y0):
    rates = (p[0], p[1], p[2], p[3])
    y = rk4(lotka_volterra, y0, 0.0, 1.0, 12, *rates)
    return np.sum(y ** 2)


def lv_loss_torch(p, y0):
    def f(y, a, b, c, d):
        return torch.stack([a * y[0] - b * y[0] * y[1], c * y[0] * y[1] - d * y[1]])
    y, h = y0, 1.0 / 12
    for _ in range(12):
        k1 = f(y, *p)
        k2 = f(y + 0.5 * h * k1, *p)
        k3 = f(y + 0.5 * h * k2, *p)
        k4 = f(y + h * k3, *p)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return torch.sum(y ** 2)


def scaled(y, scale=1.0, shift=0.0, power=2):
    return np.sum(scale * y + shift) ** power


def options_loss(p, y):
    opts = {"scale": p[0], "shift": p[1]}
    extra = [p[2]]
    return scaled(y, **opts) + scaled(y, *extra, shift=p[3]) + np.maximum(*(p[0], p[1]))


def local_star(p, y):
    def g(a, b, c):
        return a * np.sin(b) + c
    parts = [p[0], p[1]]
    return g(*parts, p[2]) + g(p[3], *(y[0], y[1]))


def _central(f, p, y, h=1e-6):
    return np.array([(f(p + h * e, y) - f(p - h * e, y)) / (2 * h) for e in np.eye(p.size)])


P = np.array([1.1, 0.4, 0.3, 0.9])
Y0 = np.array([1.0, 0.5])


@pytest.mark.parametrize("target", TARGETS)
def test_star_args_forwarded_through_an_integrator(target):
    g = coarsen.grad(lv_loss, target=target)(P, Y0)
    pt = torch.tensor(P, requires_grad=True)
    lv_loss_torch(pt, torch.tensor(Y0)).backward()
    np.testing.assert_allclose(g, pt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, _central(lv_loss, P, Y0), rtol=1e-6)
    assert coarsen.jit(lv_loss, target=target)(P, Y0) == pytest.approx(lv_loss(P, Y0), rel=1e-14)


@pytest.mark.parametrize("f", [options_loss, local_star])
@pytest.mark.parametrize("target", TARGETS)
def test_unpacked_lists_tuples_and_dicts(f, target):
    y = np.array([0.7, -1.3, 2.0])
    value, g = coarsen.value_and_grad(f, target=target)(P, y)
    assert value == pytest.approx(f(P, y), rel=1e-14)
    np.testing.assert_allclose(g, _central(f, P, y), rtol=1e-6, atol=1e-9)


def test_unpacking_an_array_is_refused_at_the_users_line():
    def f(p):
        return scaled(*p)
    with pytest.raises(coarsen.UnsupportedError, match=r"test_star_calls.py:\d+.*\*p in a call unpacks"):
        coarsen.grad(f)(P)


def test_a_keyword_given_twice_is_refused():
    def f(p):
        opts = {"scale": p[0]}
        return scaled(p, scale=p[1], **opts)
    with pytest.raises(coarsen.UnsupportedError, match="'scale' is given twice"):
        coarsen.grad(f)(P)
