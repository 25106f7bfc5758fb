"""User objects (#22): methods inlined, object arguments as pytrees of their data attributes
(grad returns the same structure), lists of layer objects; gradients against torch and central
differences."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

import coarsen


def _central(f, params, eps=1e-6):
    """Central differences of f w.r.t. every entry of the arrays in `params` (a flat list)."""
    out = []
    for p in params:
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = f()
            p[i] = old - eps
            down = f()
            p[i] = old
            g[i] = (up - down) / (2 * eps)
        out.append(g)
    return out


# ------------------------------------------------------------------ a list of (W, b) pairs
def neural_net_predict(params, inputs):
    for W, b in params:
        outputs = inputs @ W + b
        inputs = np.tanh(outputs)
    return outputs


def l2_loss(params, inputs, targets):
    pred = neural_net_predict(params, inputs)
    return np.sum((pred - targets) ** 2) / targets.shape[0]


def test_feed_forward_net_with_a_list_of_weight_pairs_matches_torch():
    rs = np.random.RandomState(1)
    sizes = [3, 5, 2]
    params = [(rs.randn(m, n) * 0.5, rs.randn(n) * 0.1) for m, n in zip(sizes[:-1], sizes[1:])]
    X, Y = rs.randn(7, 3), rs.randn(7, 2)
    grads = coarsen.grad(l2_loss)(params, X, Y)
    assert isinstance(grads, list) and len(grads) == 2
    tparams = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in params]
    h = torch.tensor(X)
    for W, b in tparams:
        out = h @ W + b
        h = torch.tanh(out)
    loss = torch.sum((out - torch.tensor(Y)) ** 2) / 7
    loss.backward()
    for (gW, gb), (W, b) in zip(grads, tparams):
        np.testing.assert_allclose(gW, W.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb, b.grad.numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ layer objects
class Dense:
    __coarsen_fields__ = ("W", "b", "activation")   # W, b data; activation a static string

    def __init__(self, W, b, activation="tanh"):
        self.W, self.b, self.activation = W, b, activation

    def forward(self, x):
        y = x @ self.W + self.b
        if self.activation == "tanh":
            return np.tanh(y)
        return y


class MLP:
    __coarsen_fields__ = ("layers",)

    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    @property
    def depth(self):
        return len(self.layers)


def mlp_loss(model, x, y):
    return np.mean((model(x) - y) ** 2) * model.depth


def test_a_layer_object_mlp_returns_a_gradient_of_the_same_structure():
    rs = np.random.RandomState(2)
    model = MLP([Dense(rs.randn(3, 4), rs.randn(4)), Dense(rs.randn(4, 2), rs.randn(2), "linear")])
    x, y = rs.randn(5, 3), rs.randn(5, 2)
    value, g = coarsen.value_and_grad(mlp_loss)(model, x, y)
    assert value == pytest.approx(mlp_loss(model, x, y), rel=1e-12)
    assert type(g) is MLP and [type(layer) for layer in g.layers] == [Dense, Dense]
    assert [layer.activation for layer in g.layers] == ["tanh", "linear"]   # statics carried over
    arrays = [a for layer in model.layers for a in (layer.W, layer.b)]
    expected = _central(lambda: mlp_loss(model, x, y), arrays)
    got = [a for layer in g.layers for a in (layer.W, layer.b)]
    for e, a in zip(expected, got):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-8)


def test_a_different_static_attribute_compiles_again():
    rs = np.random.RandomState(3)
    x = rs.randn(2, 3)
    f = coarsen.grad(lambda layer, x: np.sum(layer.forward(x)))
    W, b = rs.randn(3, 2), rs.randn(2)
    g_tanh = f(Dense(W, b, "tanh"), x)
    g_linear = f(Dense(W, b, "linear"), x)
    np.testing.assert_allclose(g_linear.W, np.repeat(x.sum(0)[:, None], 2, axis=1))
    assert not np.allclose(g_tanh.W, g_linear.W)


@dataclass
class Gaussian:
    mean: np.ndarray
    log_std: np.ndarray

    def log_density(self, x):
        z = (x - self.mean) / np.exp(self.log_std)
        return np.sum(-0.5 * z * z - self.log_std - 0.5 * np.log(2 * np.pi))

    @staticmethod
    def describe():
        return 1.0


def dataclass_objective(q, x):
    return q.log_density(x) * Gaussian.describe()


def test_a_dataclass_argument_is_a_pytree_automatically():
    q = Gaussian(np.array([0.5, -1.0]), np.array([0.1, -0.2]))
    x = np.array([0.3, 0.7])
    g = coarsen.grad(dataclass_objective)(q, x)
    assert isinstance(g, Gaussian)
    mean, log_std = torch.tensor(q.mean, requires_grad=True), torch.tensor(q.log_std, requires_grad=True)
    z = (torch.tensor(x) - mean) / torch.exp(log_std)
    torch.sum(-0.5 * z * z - log_std - 0.5 * np.log(2 * np.pi)).backward()
    np.testing.assert_allclose(g.mean, mean.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.log_std, log_std.grad.numpy(), rtol=1e-12)


class Scaler:
    def __init__(self, k):
        self.k = k

    def apply(self, x):
        return x * self.k


SCALER = Scaler(2.0)


def uses_module_level_object(x):
    return np.sum(SCALER.apply(x))


def test_a_module_level_objects_attributes_are_constants_rechecked_at_each_call():
    f = coarsen.grad(uses_module_level_object)
    x = np.ones(3)
    np.testing.assert_allclose(f(x), [2.0, 2.0, 2.0])
    SCALER.k = 5.0   # rebinding the attribute: the compiled program is stale
    try:
        np.testing.assert_allclose(f(x), [5.0, 5.0, 5.0])
    finally:
        SCALER.k = 2.0


def test_isinstance_of_an_object_argument_folds():
    def f(layer, x):
        if isinstance(layer, Dense) and hasattr(layer, "W"):
            return np.sum(layer.forward(x))
        return 0.0
    g = coarsen.grad(f, argnums=1)(Dense(np.eye(2), np.zeros(2), "linear"), np.ones(2))
    np.testing.assert_allclose(g, [1.0, 1.0])


class Polynomial:
    def __init__(self, coefficients):
        self.coefficients = coefficients

    def __call__(self, x):
        total = 0.0
        for c in self.coefficients:
            total = total * x + c
        return total


CUBIC = Polynomial((1.0, 0.0, -2.0, 3.0))   # x^3 - 2x + 3


def test_a_module_level_callable_object_is_inlined_and_a_coarsen_transform_is_not():
    assert coarsen.grad(lambda x: CUBIC(x))(2.0) == pytest.approx(3 * 4.0 - 2.0)
    inner = coarsen.grad(lambda x: x * x * x)
    assert coarsen.grad(lambda x: inner(x) * 2.0)(1.5) == pytest.approx(2 * 6 * 1.5)


# ------------------------------------------------------------------ module-level lists of objects
class Layer:
    def __init__(self, W, b):
        self.W = W
        self.b = b

    def forward(self, x):
        return np.tanh(self.W @ x + self.b)


_rs = np.random.RandomState(3)
LAYERS = [Layer(_rs.randn(3, 2), _rs.randn(3)), Layer(_rs.randn(1, 3), _rs.randn(1))]
PAIRS = [(_rs.randn(3, 2), _rs.randn(3)), (_rs.randn(1, 3), _rs.randn(1))]   # autograd's (W, b) list


class Stack:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x


STACK = Stack([Layer(_rs.randn(3, 2), _rs.randn(3)), Layer(_rs.randn(1, 3), _rs.randn(1))])


def global_layers(x):
    for layer in LAYERS:
        x = layer.forward(x)
    return np.sum(x)


def global_pairs(x):
    for W, b in PAIRS:
        x = np.tanh(W @ x + b)
    return np.sum(x)


def attribute_list(x):
    return np.sum(STACK(x))


def _torch_layers(layers, x):
    t = torch.tensor(x, requires_grad=True)
    h = t
    for W, b in layers:
        h = torch.tanh(torch.tensor(W) @ h + torch.tensor(b))
    torch.sum(h).backward()
    return t.grad.numpy()


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("fn, holder", [(global_layers, LAYERS), (global_pairs, PAIRS), (attribute_list, STACK.layers)],
                         ids=["list of layers", "list of pairs", "list attribute"])
def test_a_module_level_list_of_layers_iterates_and_edits_are_seen(target, fn, holder):
    def pairs():
        return [(e.W, e.b) if isinstance(e, Layer) else e for e in holder]

    saved = list(holder)
    g = coarsen.grad(fn, target=target)
    x = np.array([0.5, -1.0])
    try:
        np.testing.assert_allclose(g(x), _torch_layers(pairs(), x), rtol=1e-12)
        first = holder[0]
        W = first.W if isinstance(first, Layer) else first[0]
        W[0, 0] += 1.0   # an array attribute edited in place
        np.testing.assert_allclose(g(x), _torch_layers(pairs(), x), rtol=1e-12)
        new = (_rs.randn(1, 3), _rs.randn(1))
        holder[1] = Layer(*new) if isinstance(first, Layer) else new   # an element replaced
        np.testing.assert_allclose(g(x), _torch_layers(pairs(), x), rtol=1e-12)
        extra = (_rs.randn(2, 1), _rs.randn(2))
        holder.append(Layer(*extra) if isinstance(first, Layer) else extra)   # one more layer
        np.testing.assert_allclose(g(x), _torch_layers(pairs(), x), rtol=1e-12)
        if isinstance(first, Layer):
            holder[0].W = holder[0].W * 2.0   # an attribute rebound
            np.testing.assert_allclose(g(x), _torch_layers(pairs(), x), rtol=1e-12)
    finally:
        W[0, 0] -= 1.0
        holder[:] = saved
