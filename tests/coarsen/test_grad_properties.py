"""Properties of coarsen's derivatives on generated programs (see `ad_programs.py`).

For each program drawn and its argument tuples (one uniform, one on a grid of halves where
ties, kinks and branch boundaries happen):
- `value_and_grad` w.r.t. every float argument returns f(*args) (as CPython runs it) and a
  gradient that agrees with torch.autograd on the program's torch twin (tight tolerance: both
  are exact derivatives of the branches taken) and with central finite differences;
- `vjp` of a program returning an array agrees with torch's vector-Jacobian product for a random
  cotangent, and with finite differences of <cotangent, f>.
The twin's extrema follow coarsen's tie semantics (ad_programs.py), so grid points are compared
with torch exactly; finite differences are taken at the uniform points only. A grid point whose
values cancel to a rounding residue in NumPy but to exact zero in torch (ties broken by rounding)
is not compared with torch, and counted (`decided_by_rounding`).

A program whose torch gradient is zero at every argument tuple cannot tell a wrong rule from a
right one: it is discarded before coarsen compiles it (`assume`), so every counted example is a
non-trivial one. Each property runs inside a plain test that counts the programs it checked,
requires enough of them, and records the count (printed in the terminal summary by
tests/coarsen/conftest.py: "generated programs checked").

Both properties run on the "numpy" target (hundreds of programs) and on the default "cpu"
target (Numba compiles each program: `COARSEN_AD_CPU_EXAMPLES`, default 15, non-trivial
programs per property). Neither is compared with the other: both against torch and CPython.

Finite differences: a component is compared only when two step sizes agree (a branch boundary
or kink within a step makes them disagree); such skips are reported as hypothesis events.
Draws where CPython raises or NumPy warns (overflow) are discarded.

Cases per run: `COARSEN_AD_EXAMPLES` non-trivial programs (default 200: more than the ~125-170
non-trivial ones among the 300 drawn before zero-gradient programs were discarded, for less
compile time) per numpy property and
`COARSEN_AD_CPU_EXAMPLES` (default 15) per cpu property, in three tests of independent draws
(so test workers share them), each run on `SEEDS` = 2 argument tuples.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from collections import Counter

from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

import coarsen
from ad_programs import AdProgram, load, programs

torch.set_num_threads(1)

EXAMPLES = int(os.environ.get("COARSEN_AD_EXAMPLES", "200"))
CPU_EXAMPLES = int(os.environ.get("COARSEN_AD_CPU_EXAMPLES", "15"))
SEEDS = 2          # argument tuples per program (one compile each): uniform, grid
STATS: dict[str, Counter] = {}   # per property: programs checked and discarded, by reason
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


def decided_by_rounding(t_value, expected, grid: bool, stats: Counter) -> bool:
    """At a grid point values often cancel exactly in one evaluation order and leave a
    rounding residue in another (torch gives -0.0 where NumPy gives 4.8e-35): a tie among
    such values is then broken by rounding, differently in each, and the branch derivatives
    differ by O(1) though both are right for the values each computed. Such a grid point is
    not compared with torch; it is counted (the uniform point of the same program still is)."""
    if not grid or np.allclose(t_value, expected, rtol=1e-12, atol=0.0):
        return False
    stats["grid point decided by rounding: torch not compared"] += 1
    event("grid point decided by rounding: torch not compared")
    return True


def scalar_argument(prog: AdProgram, k: int) -> str:
    return f"x{k}" if prog.params[k] != ("i",) else "n"


# ---------------------------------------------------------------------- properties
def argument_tuples(prog: AdProgram, seeds, np_fn):
    """[(args, CPython's result, on the grid?)] for the seeds whose reference run is checkable;
    the last seed's arguments lie on the grid of ties and kinks."""
    runs = []
    for k, seed in enumerate(seeds):
        grid = k == len(seeds) - 1
        args = prog.inputs(seed, grid=grid)
        expected = run_numpy(np_fn, args)
        if expected is not None:
            runs.append((args, expected, grid))
    return runs


def keep_nontrivial(stats: Counter, runs, torch_grads) -> None:
    """Discard the draw (before any compile) unless some gradient is non-zero somewhere."""
    if not runs:
        stats["discarded: no argument tuple in the checkable range"] += 1
        event("discarded: no argument tuple in the checkable range")
        assume(False)
    if not any(np.any(g != 0) for grads in torch_grads for g in grads):
        stats["discarded: gradient identically zero"] += 1
        event("discarded: gradient identically zero")
        assume(False)


def assert_value_close(got, expected, np_fn, args, what: str, stats: Counter) -> None:
    """`got` within 1e-9 of CPython's value; or, where the program's value is ill-conditioned,
    within what a few ulps of its arguments move it (sin of a 1e7 argument built by sinh: NumPy's
    SIMD libm, Numba's and BLAS's evaluation orders then differ in those digits and neither is
    wrong), as measured on CPython with each float argument scaled by 1 + 8e-16."""
    if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        return
    moved = 0.0
    for k, a in enumerate(args):
        if isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype == np.float64):
            bumped = list(args)
            bumped[k] = a * (1.0 + 8e-16)
            out = run_numpy(np_fn, bumped)
            if out is not None and np.shape(out) == np.shape(expected):
                moved = max(moved, float(np.max(np.abs(out - expected), initial=0.0)))
    stats["value ill-conditioned: compared within its sensitivity"] += 1
    event("value ill-conditioned: compared within its sensitivity")
    np.testing.assert_allclose(got, expected, rtol=0.0, atol=max(1e3 * moved, 1e-12), err_msg=what)


def check_gradient(prog: AdProgram, seeds, pick: int, target: str, stats: Counter | None = None) -> None:
    stats = Counter() if stats is None else stats
    np_mod, th_mod = load(prog, _DIR)
    argnums = prog.float_argnums
    runs = argument_tuples(prog, seeds, np_mod.f)
    twins = [run_torch(th_mod.f, args, argnums, 1.0) for args, _, _ in runs]
    keep_nontrivial(stats, runs, [g for _, g in twins])
    value_and_grad = coarsen.value_and_grad(np_mod.f, argnums=argnums, target=target)
    # `grad` with one int argnum has its own (gradient-only, fast) path: it must agree (on
    # the compiled target for a third of the programs: each is a second Numba compile)
    one = argnums[pick % len(argnums)]
    grad_one = coarsen.grad(np_mod.f, argnums=one, target=target) if target == "numpy" or pick == 0 else None
    for (args, expected, grid), (t_value, t_grads) in zip(runs, twins):
        note(f"args = {args!r}")
        value, grads = value_and_grad(*args)
        assert isinstance(value, float)
        assert_value_close(value, expected, np_mod.f, args, "value_and_grad's value", stats)
        if grad_one is not None:
            g_one = grad_one(*args)
            assert type(g_one) is type(grads[argnums.index(one)])
            np.testing.assert_allclose(g_one, grads[argnums.index(one)], rtol=1e-12, atol=1e-14,
                                       err_msg=f"grad(f, argnums={one}) vs value_and_grad")
        assert_value_close(t_value, expected, np_mod.f, args, "the torch twin's value", stats)
        rounded = decided_by_rounding(t_value, expected, grid, stats)
        for k, g, tg in zip(argnums, grads, t_grads):
            what = f"d f / d {scalar_argument(prog, k)}{' (grid point)' if grid else ''}"
            if isinstance(args[k], float):
                assert isinstance(g, float), f"{what} is {type(g).__name__}, not float"
            if not rounded:
                assert_close_to_torch(g, tg, what)
            if grid:   # at a kink central differences average the two sides
                continue

            def scalar(moved):
                out = run_numpy(np_mod.f, moved)
                return None if out is None else float(out)
            assert_close_to_fd(g, finite_differences(scalar, args, k), what)
    stats["checked"] += 1


def check_vjp(prog: AdProgram, seeds, target: str, stats: Counter | None = None) -> None:
    stats = Counter() if stats is None else stats
    np_mod, th_mod = load(prog, _DIR)
    argnums = prog.float_argnums
    runs = argument_tuples(prog, seeds, np_mod.f)
    cotangents = [np.random.default_rng(seed + 1).uniform(-1, 1, size=expected.shape)
                  for seed, (_, expected, _) in zip(seeds, runs)]
    twins = [run_torch(th_mod.f, args, argnums, ct) for (args, _, _), ct in zip(runs, cotangents)]
    keep_nontrivial(stats, runs, [g for _, g in twins])
    for (args, expected, grid), cotangent, (t_value, t_grads) in zip(runs, cotangents, twins):
        note(f"args = {args!r}")
        kept = cotangent.copy()
        outputs, pullback = coarsen.vjp(np_mod.f, *args, argnums=argnums, target=target)
        assert_value_close(outputs, expected, np_mod.f, args, "vjp's outputs", stats)
        grads = pullback(cotangent)
        np.testing.assert_array_equal(cotangent, kept, err_msg="the pull-back changed the caller's cotangent")
        assert isinstance(grads, tuple) and len(grads) == len(argnums)
        assert_value_close(t_value, expected, np_mod.f, args, "the torch twin's value", stats)
        rounded = decided_by_rounding(t_value, expected, grid, stats)
        for k, g, tg in zip(argnums, grads, t_grads):
            what = f"vjp w.r.t. {scalar_argument(prog, k)}{' (grid point)' if grid else ''}"
            assert np.shape(g) == np.shape(tg), f"{what}: shape {np.shape(g)}, torch {np.shape(tg)}"
            if not rounded:
                assert_close_to_torch(g, tg, what)
            if grid:
                continue

            def projected(moved):
                out = run_numpy(np_mod.f, moved)
                return None if out is None or out.shape != expected.shape else float(np.sum(cotangent * out))
            assert_close_to_fd(g, finite_differences(projected, args, k), what)
    stats["checked"] += 1


SEED_LISTS = st.lists(st.integers(0, 2**32 - 1), min_size=SEEDS, max_size=SEEDS)


def property_for(kind: str, target: str, examples: int, part: str = ""):
    """The hypothesis property (not collected by pytest itself); its counts go to STATS."""
    stats = STATS.setdefault(f"{kind} on {target}{part}", Counter())
    if kind == "gradient":
        @settings(SETTINGS, max_examples=examples)
        @given(prog=programs("scalar"), seeds=SEED_LISTS, pick=st.integers(0, 2))
        def prop(prog, seeds, pick):
            check_gradient(prog, seeds, pick, target, stats)
    else:
        @settings(SETTINGS, max_examples=examples)
        @given(prog=programs("array"), seeds=SEED_LISTS)
        def prop(prog, seeds):
            check_vjp(prog, seeds, target, stats)
    return prop, stats


def run_counted(kind: str, target: str, examples: int, record_property, part: str = "") -> None:
    prop, stats = property_for(kind, target, examples, part)
    stats.clear()
    prop()
    for reason, count in sorted(stats.items()):
        record_property(f"generated programs: {kind} on {target}: {reason}", count)
    # hypothesis stops after `examples` valid (non-trivial) draws; a shortfall means most
    # draws were discarded or hypothesis gave up early: the property checked too little
    assert stats["checked"] >= max(1, int(0.8 * examples)), dict(stats)


@pytest.mark.slow
def test_gradient_agrees_with_torch_and_finite_differences(record_property) -> None:
    run_counted("gradient", TARGET, EXAMPLES, record_property)


@pytest.mark.slow
def test_vjp_agrees_with_torch_and_finite_differences(record_property) -> None:
    run_counted("vjp", TARGET, EXAMPLES, record_property)


# the default target compiles each program with Numba (1-15 s each): the examples in CPU_PARTS
# independent draws, so that test workers share them (one test of 15 was the suite's longest)
CPU_PARTS = 3


@pytest.mark.slow
@pytest.mark.parametrize("part", range(CPU_PARTS))
def test_gradient_on_the_cpu_target(record_property, part) -> None:
    run_counted("gradient", "cpu", _share(CPU_EXAMPLES, part), record_property, f" (part {part + 1})")


@pytest.mark.slow
@pytest.mark.parametrize("part", range(CPU_PARTS))
def test_vjp_on_the_cpu_target(record_property, part) -> None:
    run_counted("vjp", "cpu", _share(CPU_EXAMPLES, part), record_property, f" (part {part + 1})")


def _share(total: int, part: int) -> int:
    """Part `part`'s number of examples: `total` split as evenly as CPU_PARTS parts allow."""
    return total // CPU_PARTS + (part < total % CPU_PARTS)
