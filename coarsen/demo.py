"""A short demo of coarsen: gradients of a loop-and-branch function, and what the compiler
made of it (the README's main job until `agents.run` exists)."""
from __future__ import annotations

import numpy as np

import coarsen


def damped(x, w, n):
    """A loop with a branch and an element write."""
    out = np.zeros(n)
    s = 0.0
    for i in range(n):
        if x > i:
            s = s + x * np.exp(-w * i)
        else:
            s = s - np.tanh(w * x)
        out[i] = s
    return np.sum(out * out) / n


def accumulate(a, x, k):
    """`s += x` k times: the closed form a + k*x replaces the loop."""
    s = a
    for i in range(k):
        s += x
    return s * x


def main() -> None:
    x, w, n = 2.5, 0.3, 6
    value, (dx, dw) = coarsen.value_and_grad(damped, argnums=(0, 1))(x, w, n)
    print(f"damped({x}, {w}, {n}) = {value:.6f}")
    print(f"  d/dx = {dx:.6f}   d/dw = {dw:.6f}")
    eps = 1e-6
    fd = (damped(x + eps, w, n) - damped(x - eps, w, n)) / (2 * eps)
    print(f"  (central finite difference d/dx = {fd:.6f})")
    print()
    coarsen.explain(accumulate, 1.0, 2.0, 5, argnums=1)
    print("d accumulate / dx at (1, 2, 5) =", coarsen.grad(accumulate, argnums=1)(1.0, 2.0, 5))


if __name__ == "__main__":
    main()
