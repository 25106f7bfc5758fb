"""More ports of HIPS autograd's example programs (#22 item 5), written as their authors wrote
them: an HMM's log partition function in log space (scipy's logsumexp, the observation
sequence an integer array, unnormalised natural parameters) and a convolutional net of layer
objects with `forward` methods (conv by shifted slices and np.einsum, a dense layer, a
log-softmax loss); gradients against torch and central differences, on numpy and cpu."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import coarsen
from derivative_checks import central_gradient

torch.set_num_threads(1)
# numpy here: on cpu Numba compiles these loop-heavy derivatives in 50-75 s on a loaded 2-core
# machine, too much for CI (they pass there: COARSEN_PORTS_CPU=1 python -m pytest this file)
TARGETS = ["numpy"] + (["cpu"] if os.environ.get("COARSEN_PORTS_CPU") else [])


# ------------------------------------------------------------------ HMM (autograd's hmm_em.py)
def normalize(log_params, axis):
    return log_params - logsumexp(log_params, axis=axis, keepdims=True)


def log_partition_function(log_pi, log_A, log_B, data):
    log_pi, log_A, log_B = normalize(log_pi, 0), normalize(log_A, 1), normalize(log_B, 1)
    log_alpha = log_pi
    for y in data:
        log_alpha = logsumexp(log_alpha[:, None] + log_A, axis=0) + log_B[:, y]
    return logsumexp(log_alpha)


def torch_log_partition(log_pi, log_A, log_B, data):
    t = [torch.tensor(a, requires_grad=True) for a in (log_pi, log_A, log_B)]
    pi = t[0] - torch.logsumexp(t[0], 0, keepdim=True)
    A = t[1] - torch.logsumexp(t[1], 1, keepdim=True)
    B = t[2] - torch.logsumexp(t[2], 1, keepdim=True)
    alpha = pi
    for y in data:
        alpha = torch.logsumexp(alpha[:, None] + A, 0) + B[:, int(y)]
    ll = torch.logsumexp(alpha, 0)
    ll.backward()
    return ll.item(), [a.grad.numpy() for a in t]


@pytest.mark.parametrize("target", TARGETS)
def test_hmm_log_partition_function_in_log_space(target):
    rs = np.random.RandomState(0)
    K, V = 3, 5
    params = (rs.randn(K), rs.randn(K, K), rs.randn(K, V))
    data = rs.randint(0, V, size=12)   # an integer observation sequence
    value, grads = coarsen.value_and_grad(log_partition_function, argnums=(0, 1, 2), target=target)(*params, data)
    tv, tg = torch_log_partition(*params, data)
    assert value == pytest.approx(tv, rel=1e-12)
    assert value == pytest.approx(log_partition_function(*params, data), rel=1e-12)
    for k in range(3):
        np.testing.assert_allclose(grads[k], tg[k], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grads[k], central_gradient(log_partition_function, (*params, data), k),
                                   rtol=1e-6, atol=1e-8)
    # another sequence (another length), the same program: the same answer as plain Python
    other = rs.randint(0, V, size=5)
    value, _ = coarsen.value_and_grad(log_partition_function, argnums=(0, 1, 2), target=target)(*params, other)
    assert value == pytest.approx(log_partition_function(*params, other), rel=1e-12)


# ------------------------------------------------------------------ a layer-object CNN (autograd's convnet.py)
@dataclass
class ConvLayer:
    W: np.ndarray   # (filters, channels, kh, kw)
    b: np.ndarray   # (filters,)

    def forward(self, x):   # one image x: (channels, H, W) -> (filters, H - kh + 1, W - kw + 1)
        kh, kw = self.W.shape[2], self.W.shape[3]
        ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
        out = np.zeros((self.W.shape[0], ho, wo))
        for di in range(kh):   # 'valid' correlation: a sum of shifted slices
            for dj in range(kw):
                patch = x[:, di:di + ho, dj:dj + wo]
                out = out + np.einsum("chw,fc->fhw", patch, self.W[:, :, di, dj])
        return np.tanh(out + self.b[:, None, None])


@dataclass
class FlattenLayer:
    def forward(self, x):
        return np.reshape(x, (-1,))


@dataclass
class DenseLayer:
    W: np.ndarray
    b: np.ndarray

    def forward(self, x):
        return x @ self.W + self.b


@dataclass
class ConvNet:
    layers: list

    def log_probs(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x - logsumexp(x)


def cnn_loss(net, x, labels_onehot):
    total = 0.0
    for n in range(x.shape[0]):   # image by image
        total = total - np.sum(net.log_probs(x[n]) * labels_onehot[n])
    return total / x.shape[0]


def _torch_cnn(net, x, labels):
    conv, _, dense = net.layers
    tW, tb, dW, db = (torch.tensor(a, requires_grad=True) for a in (conv.W, conv.b, dense.W, dense.b))
    h = torch.tanh(torch.nn.functional.conv2d(torch.tensor(x), tW, tb))
    h = h.reshape(x.shape[0], -1) @ dW + db
    loss = -torch.sum(torch.log_softmax(h, dim=1) * torch.tensor(labels)) / x.shape[0]
    loss.backward()
    return loss.item(), [a.grad.numpy() for a in (tW, tb, dW, db)]


@pytest.mark.parametrize("target", TARGETS)
def test_a_layer_object_cnn_matches_torch_conv2d_and_central_differences(target):
    rs = np.random.RandomState(1)
    N, C, H, W, F, k, classes = 3, 2, 6, 5, 3, 3, 4
    net = ConvNet([ConvLayer(0.5 * rs.randn(F, C, k, k), 0.1 * rs.randn(F)), FlattenLayer(),
                   DenseLayer(0.3 * rs.randn(F * (H - k + 1) * (W - k + 1), classes), 0.1 * rs.randn(classes))])
    x = rs.randn(N, C, H, W)
    labels = np.eye(classes)[rs.randint(0, classes, size=N)]
    value, g = coarsen.value_and_grad(cnn_loss, target=target)(net, x, labels)
    tv, (gW, gb, gdW, gdb) = _torch_cnn(net, x, labels)
    assert value == pytest.approx(tv, rel=1e-12)
    assert isinstance(g, ConvNet) and isinstance(g.layers[0], ConvLayer)   # the same structure
    np.testing.assert_allclose(g.layers[0].W, gW, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g.layers[0].b, gb, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g.layers[2].W, gdW, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g.layers[2].b, gdb, rtol=1e-9, atol=1e-12)

    def loss_of_conv_W(W):
        return cnn_loss(ConvNet([ConvLayer(W, net.layers[0].b), *net.layers[1:]]), x, labels)

    np.testing.assert_allclose(g.layers[0].W, central_gradient(loss_of_conv_W, (net.layers[0].W,), 0), rtol=1e-6, atol=1e-8)
