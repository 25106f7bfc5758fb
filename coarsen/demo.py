"""A short demo of coarsen (the README's main job until `agents.run` exists)."""
from __future__ import annotations

import numpy as np

import coarsen


def damped(x, n):
    s = 0.0
    for i in range(n):
        if x > i:
            s = s + x * np.exp(-0.1 * i)
        else:
            s = s - 1.0
    return s


def main() -> None:
    coarsen.explain(damped, 2.5, 5)
    print("damped(2.5, 5) =", coarsen.interpret(coarsen.trace(damped, 2.5, 5), 2.5, 5))


if __name__ == "__main__":
    main()
