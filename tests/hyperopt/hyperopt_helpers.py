"""Shared test problems: a small tanh MLP in plain NumPy (what coarsen differentiates), the
same model as a torch ``nn.Module``, and fixed batches of a teacher-labelled data set.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

def mlp_loss(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Any:
    """Mean softmax cross-entropy of a one-hidden-layer tanh MLP; ``y`` is one-hot."""
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    z = logits - np.max(logits, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(y * logp, axis=1))


def mlp_params(seed: int = 0, sizes: tuple[int, int, int] = (6, 8, 3)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_in, n_hid, n_out = sizes
    return {"W1": rng.normal(0, n_in ** -0.5, (n_in, n_hid)), "b1": np.zeros(n_hid),
            "W2": rng.normal(0, n_hid ** -0.5, (n_hid, n_out)), "b2": np.zeros(n_out)}


def mlp_batches(n: int, seed: int = 1, batch: int = 16,
                sizes: tuple[int, int, int] = (6, 8, 3)) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` batches of a fixed teacher-labelled data set (so there is something to learn)."""
    rng = np.random.default_rng(seed)
    n_in, _, n_out = sizes
    teacher = rng.normal(size=(n_in, n_out))
    out = []
    for _ in range(n):
        x = rng.normal(size=(batch, n_in))
        y = np.eye(n_out)[np.argmax(x @ teacher + 0.3 * rng.normal(size=(batch, n_out)), axis=1)]
        out.append((x, y))
    return out


class TorchMLP(torch.nn.Module):
    """``mlp_loss``'s model as an nn.Module (float64), initialised from a NumPy params dict."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        super().__init__()
        n_in, n_hid = params["W1"].shape
        self.hidden = torch.nn.Linear(n_in, n_hid).double()
        self.out = torch.nn.Linear(n_hid, params["W2"].shape[1]).double()
        with torch.no_grad():
            self.hidden.weight.copy_(torch.from_numpy(params["W1"].T))
            self.hidden.bias.copy_(torch.from_numpy(params["b1"]))
            self.out.weight.copy_(torch.from_numpy(params["W2"].T))
            self.out.bias.copy_(torch.from_numpy(params["b2"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))

    def loss(self, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
        logits = self(torch.from_numpy(x))
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(y.argmax(axis=1)))

    def as_numpy(self) -> dict[str, np.ndarray]:
        return {"W1": self.hidden.weight.detach().numpy().T.copy(),
                "b1": self.hidden.bias.detach().numpy().copy(),
                "W2": self.out.weight.detach().numpy().T.copy(),
                "b2": self.out.bias.detach().numpy().copy()}
