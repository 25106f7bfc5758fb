"""Benchmark-style programs (surface_programs.py) compile as written: values equal the plain
Python run, gradients agree with central differences, on the numpy and (slow) cpu targets;
on cpu, Numba compiles them (a fallback to NumPy is an error here)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import coarsen
import surface_programs as S


def _cases():
    rng = np.random.default_rng(5)
    n, d, k = 3, 2, 2
    icf = rng.normal(size=(k, d + d * (d - 1) // 2)) * 0.3
    return [
        (S.gmm_objective, (rng.normal(size=k), rng.normal(size=(k, d)), icf, rng.normal(size=(n, d)), 1.0, 3.0), 3),
        (S.lstm_step, (rng.normal(size=(5, 8)) * 0.3, rng.normal(size=8) * 0.3, rng.normal(size=2),
                       rng.normal(size=2), rng.normal(size=3)), 5),
        (S.rodrigues_project, (np.array([0.3, -0.2, 0.1, 0.1, 0.2, -5.0, 1.5, 0.01, 0.001]),
                               np.array([0.5, -0.4, 2.0])), 2),
        (S.hand_pose, (rng.normal(size=3), rng.normal(size=(3, 2))), 2),
        (S.kmeans_cost, (rng.normal(size=(5, 2)), rng.normal(size=(3, 2))), 2),
        (S.least_squares, (rng.normal(size=(6, 3)), rng.normal(size=6)), 2),
        (S.running_max_logsumexp, (rng.normal(size=5),), 1),
        (S.particle_step, (rng.normal(size=4), rng.normal(size=4)), 2),
        (S.tensor_network, (rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=(3, 3)),
                            rng.uniform(0.1, 2.0, size=3)), 4),
    ]


def _check(fn, args, nargs, target):
    argnums = tuple(k for k in range(nargs) if isinstance(args[k], np.ndarray))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        value, grads = coarsen.value_and_grad(fn, argnums=argnums, target=target)(*args)
    assert math.isclose(value, fn(*args), rel_tol=1e-9, abs_tol=1e-9), fn.__name__
    rng = np.random.default_rng(0)
    for k, g in zip(argnums, grads):
        direction = rng.normal(size=np.shape(args[k]))
        eps = 1e-6
        plus, minus = list(args), list(args)
        plus[k] = args[k] + eps * direction
        minus[k] = args[k] - eps * direction
        fd = (fn(*plus) - fn(*minus)) / (2 * eps)
        ad = float(np.sum(g * direction))
        assert math.isclose(ad, fd, rel_tol=1e-5, abs_tol=1e-6), f"{fn.__name__} d/d arg {k}: {ad} vs {fd}"


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", range(len(_cases())), ids=[c[0].__name__ for c in _cases()])
def test_benchmark_style_programs_compile_as_written(case, target):
    fn, args, nargs = _cases()[case]
    _check(fn, args, nargs, target)
