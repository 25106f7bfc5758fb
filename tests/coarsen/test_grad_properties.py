"""Properties of coarsen's derivatives on generated programs (see `ad_programs.py`).

For each program drawn and a few argument tuples:
- `value_and_grad` w.r.t. every float argument returns f(*args) (as CPython runs it) and a
  gradient that agrees with torch.autograd on the program's torch twin (tight tolerance: both
  are exact derivatives of the branches taken) and with central finite differences;
- `vjp` of a program returning an array agrees with torch's vector-Jacobian product for a random
  cotangent, and with finite differences of <cotangent, f>.

Both properties run on the "numpy" target (the reference: hundreds of programs) and on the
default "cpu" target (Numba compiles each program: a few programs).

Finite differences: a component is compared only when two step sizes agree (a branch boundary
or kink within a step makes them disagree); such skips are reported as hypothesis events.
Draws where CPython raises or NumPy warns (overflow) are discarded.

Cases per run: `COARSEN_AD_EXAMPLES` programs (default 300) per numpy property and
`COARSEN_AD_CPU_EXAMPLES` (default 6) per cpu property, each run on `SEEDS` = 2 argument
tuples: 612 programs, up to 1224 argument tuples by default.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

import coarsen
from ad_programs import AdProgram, load, programs

torch.set_num_threads(1)

EXAMPLES = int(os.environ.get("COARSEN_AD_EXAMPLES", "300"))
CPU_EXAMPLES = int(os.environ.get("COARSEN_AD_CPU_EXAMPLES", "6"))
SEEDS = 2          # argument tuples per program (one compile each)
TARGET = os.environ.get("COARSEN_AD_TARGET", "numpy")   # of the many-program properties
LIMIT = 1e6        # values beyond this are discarded: finite differences lose their digits
_DIR = Path(tempfile.mkdtemp(prefix="coarsen_ad_"))

SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


@pytest.fixture(autouse=True, scope="module")
def private_program_cache(tmp_path_factory):
    """Hundreds of one-off programs: keep them out of the user's on-disk program cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COARSEN_CACHE_DIR", str(tmp_path_factory.mktemp("coarsen_cache")))
        yield


# ---------------------------------------------------------------------- references
def run_numpy(fn, args):
    """f(*args) in CPython, or None when it raises, warns, or leaves the range we can check."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with np.errstate(all="raise"):
                out = fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        except Exception:   # noqa: BLE001 - any failure of the reference run discards the draw
            return None
    out = np.asarray(out, dtype=np.float64)
    if not np.all(np.isfinite(out)) or np.any(np.abs(out) > LIMIT):
        return None
    return out


def run_torch(fn, args, argnums, cotangent):
    """The twin's output and the pull-back of `cotangent` to the arguments `argnums`."""
    targs = [a if isinstance(a, int) else torch.tensor(a, dtype=torch.float64, requires_grad=k in argnums)
             for k, a in enumerate(args)]
    out = fn(*targs)
    if not isinstance(out, torch.Tensor):
        out = torch.tensor(out, dtype=torch.float64)
    inputs = [targs[k] for k in argnums]
    if out.requires_grad:
        grads = torch.autograd.grad(out, inputs, grad_outputs=torch.as_tensor(cotangent, dtype=torch.float64),
                                    allow_unused=True)
    else:
        grads = [None] * len(inputs)
    grads = [np.zeros(np.shape(args[k])) if g is None else g.detach().numpy() for k, g in zip(argnums, grads)]
    return out.detach().numpy(), grads


def finite_differences(scalar_fn, args, k):
    """{index: estimate} of d scalar_fn / d args[k] for the components where central
    differences with steps 1e-4 and 1e-5 (relative) agree; the others are near a branch
    boundary or kink and left out."""
    x = args[k]
    indices = list(np.ndindex(x.shape)) if isinstance(x, np.ndarray) else [None]
    out = {}
    for idx in indices:
        estimates = []
        for h in (1e-4, 1e-5):
            xi = x[idx] if idx is not None else x
            step = h * max(1.0, abs(xi))
            values = []
            for sign in (1, -1):
                moved = list(args)
                if idx is None:
                    moved[k] = x + sign * step
                else:
                    moved[k] = x.copy()
                    moved[k][idx] += sign * step
                values.append(scalar_fn(moved))
            if any(v is None for v in values):
                break
            estimates.append(((values[0] - values[1]) / (2 * step), max(abs(values[0]), abs(values[1]))))
        if len(estimates) < 2:
            event("finite differences: a step left the checkable range")
            continue
        (e1, _), (e2, size) = estimates
        if abs(e1 - e2) > 1e-5 * (1 + abs(e2)) + 1e-9 * (1 + size):
            event("finite differences: steps disagree (branch boundary or kink), component skipped")
            continue
        event("finite differences: component compared")
        out[idx] = (e2, size)
    return out


def assert_close_to_fd(grad, fd, what: str) -> None:
    for idx, (estimate, size) in fd.items():
        g = float(grad if idx is None else grad[idx])
        tol = 1e-4 * (1 + abs(g)) + 1e-8 * (1 + size)
        assert abs(g - estimate) <= tol, f"{what}{'' if idx is None else list(idx)}: coarsen {g!r}, finite differences {estimate!r}"


def assert_close_to_torch(grad, expected, what: str) -> None:
    grad = np.asarray(grad, dtype=np.float64)
    assert grad.shape == np.shape(expected), f"{what}: shape {grad.shape}, torch {np.shape(expected)}"
    scale = 1 + float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(grad, expected, rtol=1e-7, atol=1e-9 * scale, err_msg=f"{what} vs torch")


def scalar_argument(prog: AdProgram, k: int) -> str:
    return f"x{k}" if prog.params[k] != ("i",) else "n"


# ---------------------------------------------------------------------- properties
def check_gradient(prog: AdProgram, seeds, pick: int, target: str) -> None:
    np_mod, th_mod = load(prog, _DIR)
    argnums = prog.float_argnums
    value_and_grad = coarsen.value_and_grad(np_mod.f, argnums=argnums, target=target)
    # `grad` with one int argnum has its own (gradient-only, fast) path: it must agree
    one = argnums[pick % len(argnums)]
    grad_one = coarsen.grad(np_mod.f, argnums=one, target=target)
    checked = 0
    for seed in seeds:
        args = prog.inputs(seed)
        expected = run_numpy(np_mod.f, args)
        if expected is None:
            continue
        checked += 1
        note(f"args = {args!r}")
        value, grads = value_and_grad(*args)
        assert isinstance(value, float)
        np.testing.assert_allclose(value, expected, rtol=1e-9, atol=1e-12, err_msg="value_and_grad's value")
        g_one = grad_one(*args)
        assert type(g_one) is type(grads[argnums.index(one)])
        np.testing.assert_allclose(g_one, grads[argnums.index(one)], rtol=1e-12, atol=1e-14,
                                   err_msg=f"grad(f, argnums={one}) vs value_and_grad")
        t_value, t_grads = run_torch(th_mod.f, args, argnums, 1.0)
        np.testing.assert_allclose(t_value, expected, rtol=1e-9, atol=1e-12, err_msg="the torch twin's value")
        for k, g, tg in zip(argnums, grads, t_grads):
            what = f"d f / d {scalar_argument(prog, k)}"
            if isinstance(args[k], float):
                assert isinstance(g, float), f"{what} is {type(g).__name__}, not float"
            assert_close_to_torch(g, tg, what)

            def scalar(moved):
                out = run_numpy(np_mod.f, moved)
                return None if out is None else float(out)
            assert_close_to_fd(g, finite_differences(scalar, args, k), what)
    assume(checked)


def check_vjp(prog: AdProgram, seeds, target: str) -> None:
    np_mod, th_mod = load(prog, _DIR)
    argnums = prog.float_argnums
    checked = 0
    for seed in seeds:
        args = prog.inputs(seed)
        expected = run_numpy(np_mod.f, args)
        if expected is None:
            continue
        checked += 1
        note(f"args = {args!r}")
        cotangent = np.random.default_rng(seed + 1).uniform(-1, 1, size=expected.shape)
        kept = cotangent.copy()
        outputs, pullback = coarsen.vjp(np_mod.f, *args, argnums=argnums, target=target)
        np.testing.assert_allclose(outputs, expected, rtol=1e-9, atol=1e-12, err_msg="vjp's outputs")
        grads = pullback(cotangent)
        np.testing.assert_array_equal(cotangent, kept, err_msg="the pull-back changed the caller's cotangent")
        assert isinstance(grads, tuple) and len(grads) == len(argnums)
        t_value, t_grads = run_torch(th_mod.f, args, argnums, cotangent)
        np.testing.assert_allclose(t_value, expected, rtol=1e-9, atol=1e-12, err_msg="the torch twin's value")
        for k, g, tg in zip(argnums, grads, t_grads):
            what = f"vjp w.r.t. {scalar_argument(prog, k)}"
            assert_close_to_torch(g, tg, what)

            def projected(moved):
                out = run_numpy(np_mod.f, moved)
                return None if out is None or out.shape != expected.shape else float(np.sum(cotangent * out))
            assert_close_to_fd(g, finite_differences(projected, args, k), what)
    assume(checked)


SEED_LISTS = st.lists(st.integers(0, 2**32 - 1), min_size=SEEDS, max_size=SEEDS)


@pytest.mark.slow
@SETTINGS
@given(prog=programs("scalar"), seeds=SEED_LISTS, pick=st.integers(0, 2))
def test_gradient_agrees_with_torch_and_finite_differences(prog: AdProgram, seeds, pick) -> None:
    check_gradient(prog, seeds, pick, TARGET)


@pytest.mark.slow
@SETTINGS
@given(prog=programs("array"), seeds=SEED_LISTS)
def test_vjp_agrees_with_torch_and_finite_differences(prog: AdProgram, seeds) -> None:
    check_vjp(prog, seeds, TARGET)


# the default target compiles each program with Numba (seconds each): a few programs per run
@pytest.mark.slow
@settings(SETTINGS, max_examples=CPU_EXAMPLES)
@given(prog=programs("scalar"), seeds=SEED_LISTS, pick=st.integers(0, 2))
def test_gradient_on_the_cpu_target(prog: AdProgram, seeds, pick) -> None:
    check_gradient(prog, seeds, pick, "cpu")


@pytest.mark.slow
@settings(SETTINGS, max_examples=CPU_EXAMPLES)
@given(prog=programs("array"), seeds=SEED_LISTS)
def test_vjp_on_the_cpu_target(prog: AdProgram, seeds) -> None:
    check_vjp(prog, seeds, "cpu")
