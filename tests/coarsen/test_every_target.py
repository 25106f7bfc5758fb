"""Every target against independent references (`target_programs.py`), never against the
numpy target (which runs the same generated source, so a shared bug would agree with itself):

- ties and kinks: the documented semantics, as numbers written down here, on numpy, cpu,
  vmap (numpy, cpu) and cuda (Numba's simulator, in a subprocess);
- stepped, reversed and empty ranges (`range(a, b, +-k)`, negative counts): the value Python
  computes, and exact gradients of programs linear in their float arguments (the difference
  of two Python runs), through closed forms and through loops differentiated as loops;
- arrays larger than one GPU block (200 and 1000 elements, multi-block reductions) on cuda
  and cpu: torch.autograd, tight tolerances.
The IR verifier runs after every pass here as in every test (tests/conftest.py).
"""
from __future__ import annotations

import textwrap
import warnings

import numpy as np
import pytest

import coarsen
from simulator import run_cuda_script
from coarsen import passes
import target_programs as T

TARGETS = ["numpy", "cpu"]


@pytest.fixture(autouse=True, scope="module")
def private_program_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COARSEN_CACHE_DIR", str(tmp_path_factory.mktemp("coarsen_cache")))
        yield


# ---------------------------------------------------------------------- the verifier is on
def test_the_verifier_runs_after_every_pass(monkeypatch):
    assert passes.VERIFY_EVERY_PASS, "tests/conftest.py must turn the verifier on"
    from coarsen.ir.nodes import Region
    from dataclasses import replace

    def drop_the_body(fn, ctx):   # a broken pass: the yields now use undefined values
        return replace(fn, body=Region(fn.body.params, (), fn.body.yields))
    monkeypatch.setattr(passes, "PIPELINE", passes.PIPELINE + [("broken", drop_the_body)])
    with pytest.raises(coarsen.errors.InternalError, match="after pass 'broken'"):
        passes.run_pipeline(coarsen.trace(T.relu, 0.5))


# ---------------------------------------------------------------------- ties and kinks
# (fn, args, argnums, expected value, expected gradients): the documented semantics
SCALAR_POINTS = [
    (T.maximum, (1.0, 1.0), (0, 1), 1.0, (1.0, 0.0)),
    (T.maximum, (1.0, 2.0), (0, 1), 2.0, (0.0, 1.0)),
    (T.maximum, (-0.5, -0.5), (1, 0), -0.5, (0.0, 1.0)),
    (T.minimum, (1.0, 1.0), (0, 1), 1.0, (1.0, 0.0)),
    (T.minimum, (2.0, 1.0), (0, 1), 1.0, (0.0, 1.0)),
    (T.builtin_max, (0.25, 0.25), (0, 1), 0.25, (1.0, 0.0)),
    (T.builtin_min, (0.25, 0.25), (0, 1), 0.25, (1.0, 0.0)),
    (T.builtin_min, (0.5, 0.25), (0, 1), 0.25, (0.0, 1.0)),
    (T.relu, (0.0,), (0,), 0.0, (3.0,)),
    (T.relu, (-1.0,), (0,), 0.0, (0.0,)),
    (T.absolute, (0.0,), (0,), 0.0, (1.0,)),
    (T.absolute, (-2.0,), (0,), 2.0, (-1.0,)),
    (T.absolute_by_branch, (0.0,), (0,), 0.0, (1.0,)),
    (T.absolute_by_branch, (-0.5,), (0,), 0.5, (-1.0,)),
    (T.signed_square, (0.0,), (0,), 0.0, (0.0,)),
    (T.signed_square, (-1.5,), (0,), -3.25, (3.0,)),
    (T.clip_unit, (1.0,), (0,), 5.0, (5.0,)),
    (T.clip_unit, (-1.0,), (0,), -5.0, (5.0,)),
    (T.clip_unit, (1.5,), (0,), 5.0, (0.0,)),
    (T.clip_unit, (-3.0,), (0,), -5.0, (0.0,)),
]
TIE_M = np.array([[1.0, 4.0, -2.0, 0.5], [3.0, 4.0, -2.0, 0.5], [3.0, 1.0, 5.0, 0.5]])
TIE_W = np.array([1.0, -2.0, 0.5, 3.0])
ARRAY_POINTS = [
    (T.array_max, (np.array([1.0, 3.0, 3.0, -1.0]),), (0,), 3.0, (np.array([0.0, 1.0, 0.0, 0.0]),)),
    (T.array_min, (np.array([2.0, -1.0, 5.0, -1.0]),), (0,), -2.0, (np.array([0.0, 2.0, 0.0, 0.0]),)),
    # column ties: the first maximal row of each column takes w[j]
    (T.axis_max, (TIE_M, TIE_W), (0, 1), 3.0 - 8.0 + 2.5 + 1.5,
     (np.array([[0.0, -2.0, 0.0, 3.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.5, 0.0]]),
      np.array([3.0, 4.0, 5.0, 0.5]))),
    # row ties: the first minimal column of each row takes -2 * 4
    (T.axis_min_keepdims, (TIE_M,), (0,), float(np.sum(TIE_M) - 8 * (-2.0 - 2.0 + 0.5)),
     (np.array([[1.0, 1.0, -7.0, 1.0], [1.0, 1.0, -7.0, 1.0], [1.0, 1.0, 1.0, -7.0]]),)),
]
# ops whose derivative rule lives outside segments (coarsen/autodiff/rules.py)
V3 = np.array([1.5, -2.0, 0.0])
RULE_POINTS = [
    (T.modulo, (1.25, 2.0), (0, 1), 1.75, (3.0, -1.0)),           # 3.75 % 2 = 1.75, d/dy = -floor(3.75/2)
    (T.modulo, (-0.5, 2.0), (0, 1), 0.5, (3.0, 1.0)),             # -1.5 % 2 = 0.5, d/dy = -floor(-0.75)
    (T.reads_twice, (V3,), (0,), -3.0 + 1.5 + 0.0, (np.array([-1.0, 1.5, 0.0]),)),
    (T.overwrite, (V3,), (0,), 16.0 + 4.0 + 0.0, (np.array([0.0, 2 * -2.0 + 8 * -2.0, 0.0]),)),
    # a zero element: the derivative of a product is the product of the others, exactly
    (T.product, (V3,), (0,), 0.0, (np.array([0.0, 0.0, -3.0 - 8.0]),)),
]
POINTS = SCALAR_POINTS + ARRAY_POINTS + RULE_POINTS


def _ids(cases):
    return [f"{c[0].__name__}{tuple(np.shape(a) or a for a in c[1])}" for c in cases]


def assert_grads(got, expected, what):
    assert len(got) == len(expected), what
    for k, (g, e) in enumerate(zip(got, expected)):
        assert np.shape(g) == np.shape(e), f"{what}: gradient {k} has shape {np.shape(g)}"
        np.testing.assert_allclose(g, e, rtol=1e-13, atol=0, err_msg=f"{what}: gradient {k}")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn, args, argnums, value, grads", POINTS, ids=_ids(POINTS))
def test_ties_and_kinks_follow_the_documented_semantics(fn, args, argnums, value, grads, target):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the cpu target compiles: no fallback to NumPy
        v, g = coarsen.value_and_grad(fn, argnums=argnums, target=target)(*args)
    assert v == pytest.approx(value, rel=1e-14, abs=0) and v == pytest.approx(fn(*args), rel=1e-14)
    assert_grads(g, grads, f"{fn.__name__}{args} on {target}")


@pytest.mark.slow   # a prange loop compiled per target: ~5 CPU-seconds on cpu
@pytest.mark.parametrize("target", TARGETS)
def test_vmap_of_ties_and_kinks(target):
    """One batch holds tie points and ordinary points: each lane its own branch."""
    xs = np.array([1.0, 1.0, 2.0, -0.5, 0.0, 0.0, -1.0, 0.3])
    ys = np.array([1.0, 2.0, 1.0, -0.5, 0.0, 1.0, -1.0, 0.3])
    for fn in (T.maximum, T.minimum, T.builtin_max, T.builtin_min):
        gx = coarsen.vmap(coarsen.grad(fn, argnums=0), in_axes=(0, 0), target=target)(xs, ys)
        gy = coarsen.vmap(coarsen.grad(fn, argnums=1), in_axes=(0, 0), target=target)(xs, ys)
        first_wins = (xs >= ys) if fn in (T.maximum, T.builtin_max) else (xs <= ys)
        np.testing.assert_array_equal(gx, first_wins.astype(float), err_msg=fn.__name__)
        np.testing.assert_array_equal(gy, 1.0 - first_wins, err_msg=fn.__name__)
    kinks = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
    np.testing.assert_array_equal(coarsen.vmap(coarsen.grad(T.clip_unit), target=target)(kinks),
                                  [0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 0.0])
    np.testing.assert_array_equal(coarsen.vmap(coarsen.grad(T.absolute), target=target)(kinks),
                                  [-1.0, -1.0, -1.0, 1.0, 3.0, 3.0, 3.0])
    np.testing.assert_array_equal(coarsen.vmap(coarsen.grad(T.relu), target=target)(kinks),
                                  [0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0])


# ---------------------------------------------------------------------- stepped, reversed, empty ranges
# programs linear in (a, x): the exact gradient is two differences of Python runs
RANGES = [
    (T.count_up, [(-2,), (0,), (1,), (5,)]),
    (T.step_up_2, [(0, 7), (1, 2), (3, 3), (5, 0), (-3, 4)]),
    (T.step_down_2, [(2, 0), (5, 0), (0, 5), (-1, -6), (3, 3), (1, -2)]),
    (T.step_down_1, [(4, -2), (0, 3), (0, 0), (3, 2)]),
    (T.step_up_3_index, [(-4, 5), (5, -4), (0, 1), (-7, -1)]),
    (T.affine_down_3, [(7, 0), (0, 7), (1, -10), (2, 2)]),
    (T.nested_stepped, [(-1,), (0,), (5,), (6,)]),
]
RANGE_CASES = [(fn, b) for fn, bounds in RANGES for b in bounds]


def exact_linear_gradient(fn, bounds):
    zero = fn(0.0, 0.0, *bounds)
    return (fn(1.0, 0.0, *bounds) - zero, fn(0.0, 1.0, *bounds) - zero)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fn, bounds", RANGE_CASES, ids=[f"{f.__name__}{b}" for f, b in RANGE_CASES])
def test_stepped_reversed_and_empty_ranges(fn, bounds, target):
    a, x = 1.0, 2.0
    v, g = coarsen.value_and_grad(fn, argnums=(0, 1), target=target)(a, x, *bounds)
    assert v == pytest.approx(fn(a, x, *bounds), rel=1e-13, abs=1e-13)
    np.testing.assert_allclose(g, exact_linear_gradient(fn, bounds), rtol=1e-13, atol=1e-13)


def test_accumulate_over_a_negative_count_is_the_initial_value():
    """Regression (#23): a closed form whose trip count was not clamped at 0 returned -3 and
    (1, -2) for 0 iterations of `s += x`."""
    for target in TARGETS:
        assert coarsen.value_and_grad(T.count_up, argnums=(0, 1), target=target)(1.0, 2.0, -2) == (1.0, (1.0, 0.0))


def test_ranges_become_closed_forms_when_asked(monkeypatch):
    """With closed forms on (`COARSEN_CLOSED_FORMS=1`, off by default: they round differently
    from the loop), the cases above go through the closed-form pass and give the same values
    and exact gradients, except index-weighted sums from an unknown start (`s += x*i`): their
    closed form `s0 + x*n*start + x*step*n(n-1)/2` is NaN at x = inf and n = 1 (inf + 0*inf)
    where the loop gives inf, so they keep their loops (`closed_forms._agrees`)."""
    import io
    monkeypatch.setenv("COARSEN_CLOSED_FORMS", "1")
    for fn, bounds in RANGES[:-1]:
        text = coarsen.explain(fn, 1.0, 2.0, *bounds[0], argnums=(0, 1), file=io.StringIO())
        weighted = fn in (T.step_down_1, T.step_up_3_index)
        assert ("closed form" in text) != weighted, fn.__name__
        for b in bounds:
            v, g = coarsen.value_and_grad(fn, argnums=(0, 1), target="numpy")(1.0, 2.0, *b)
            assert v == pytest.approx(fn(1.0, 2.0, *b), rel=1e-13, abs=1e-13)
            np.testing.assert_allclose(g, exact_linear_gradient(fn, b), rtol=1e-13, atol=1e-13)


def test_closed_forms_are_off_by_default():
    import io
    text = coarsen.explain(T.count_up, 1.0, 2.0, 5, argnums=(0, 1), file=io.StringIO())
    assert "closed form" not in text


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bounds", [(6, 0), (5, 0), (0, 5), (1, -8), (2, 2)])
def test_a_stepped_loop_without_closed_form_matches_central_differences(bounds, target):
    a, x = 0.4, 1.3
    v, g = coarsen.value_and_grad(T.nonlinear_stepped, argnums=(0, 1), target=target)(a, x, *bounds)
    assert v == pytest.approx(T.nonlinear_stepped(a, x, *bounds), rel=1e-13)
    h = 1e-6
    fd = ((T.nonlinear_stepped(a + h, x, *bounds) - T.nonlinear_stepped(a - h, x, *bounds)) / (2 * h),
          (T.nonlinear_stepped(a, x + h, *bounds) - T.nonlinear_stepped(a, x - h, *bounds)) / (2 * h))
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------- large arrays vs torch
def big_inputs(seed=5):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(40, 25))
    m[7, 3] = m[30, 3] = np.max(np.abs(m)) + 1.0   # a tie of the column max, far apart
    y = np.eye(25)[rng.integers(0, 25, 40)]
    return {"x200": rng.normal(size=200), "x1000": rng.normal(size=1000), "m": m,
            "m20": rng.normal(size=(20, 10)), "y": y, "a": rng.normal(size=(30, 12)),
            "b": rng.normal(size=(12, 9))}


def torch_reference(name, *args):
    import torch
    torch.set_num_threads(1)
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    if name == "big_elementwise_sum":
        (x,) = ts
        out = torch.sum(torch.sin(x) * x + 0.5 * x * x)
    elif name == "big_axis_reductions":
        (m,) = ts
        # torch.amax splits a tie evenly: coarsen gives it to the first; the tie here is in the
        # (squared) column 3 only, handled by the caller
        out = torch.sum(torch.amax(m * m, dim=0)) + torch.sum(torch.mean(torch.tanh(m), dim=1)) + torch.min(m)
    elif name == "matrix_product":
        a, b = ts
        out = torch.sum(torch.tanh(a @ b) * (a @ b).T.sum(dim=1, keepdim=True).T)
    else:
        m, y = ts
        logp = torch.log_softmax(m, dim=1)
        out = -torch.mean(torch.sum(y * logp, dim=1))
    grads = torch.autograd.grad(out, ts)
    return float(out.detach()), tuple(g.numpy() for g in grads)


@pytest.mark.slow   # four large programs compiled per target: ~6 CPU-seconds on cpu
@pytest.mark.parametrize("target", TARGETS)
def test_arrays_larger_than_a_block_match_torch(target):
    inp = big_inputs()
    for fn, args in [(T.big_elementwise_sum, (inp["x200"],)), (T.big_elementwise_sum, (inp["x1000"],)),
                     (T.big_axis_reductions, (inp["m20"],)), (T.big_softmax, (inp["m"], inp["y"])),
                     (T.matrix_product, (inp["a"], inp["b"]))]:
        v, g = coarsen.value_and_grad(fn, argnums=tuple(range(len(args))), target=target)(*args)
        tv, tg = torch_reference(fn.__name__, *args)
        assert v == pytest.approx(tv, rel=1e-12), fn.__name__
        for k in range(len(args)):
            np.testing.assert_allclose(g[k], tg[k], rtol=1e-10, atol=1e-13, err_msg=fn.__name__)


# ---------------------------------------------------------------------- cuda (simulator)
CUDA_SCRIPT = textwrap.dedent("""
    import sys, warnings
    sys.path[:0] = [{root!r}, {here!r}]
    import numpy as np, coarsen
    import test_every_target as E
    import target_programs as T
    failures = []
    def check(ok, what):
        if not ok:
            failures.append(what)
    for fn, args, argnums, value, grads in E.POINTS:
        v, g = coarsen.value_and_grad(fn, argnums=argnums, target="cuda")(*args)
        check(v == value and all(np.array_equal(a, b) for a, b in zip(g, grads)),
              f"{{fn.__name__}}{{args}}: {{v}}, {{g}} != {{value}}, {{grads}}")
    for fn, bounds in E.RANGE_CASES:
        v, g = coarsen.value_and_grad(fn, argnums=(0, 1), target="cuda")(1.0, 2.0, *bounds)
        check(np.isclose(v, fn(1.0, 2.0, *bounds), rtol=1e-13, atol=1e-13)
              and np.allclose(g, E.exact_linear_gradient(fn, bounds), rtol=1e-13, atol=1e-13),
              f"{{fn.__name__}}{{bounds}}: {{v}}, {{g}}")
    inp = E.big_inputs()
    for fn, args in [(T.big_elementwise_sum, (inp["x200"],)), (T.big_elementwise_sum, (inp["x1000"],)),
                     (T.big_axis_reductions, (inp["m20"],)), (T.big_softmax, (inp["m"], inp["y"])),
                     (T.matrix_product, (inp["a"], inp["b"]))]:
        v, g = coarsen.value_and_grad(fn, argnums=tuple(range(len(args))), target="cuda")(*args)
        tv, tg = E.torch_reference(fn.__name__, *args)
        check(np.isclose(v, tv, rtol=1e-12) and all(np.allclose(a, b, rtol=1e-10, atol=1e-13) for a, b in zip(g, tg)),
              f"{{fn.__name__}}{{np.shape(args[0])}}")
        check(np.isclose(coarsen.jit(fn, target="cuda")(*args), tv, rtol=1e-12), f"jit {{fn.__name__}}")
    # a column-max tie in a multi-block array: the first maximal row takes the derivative
    m = inp["m"]
    g = coarsen.grad(T.axis_max, argnums=0, target="cuda")(m, np.ones(25))
    expected = np.zeros_like(m)
    expected[np.argmax(m, axis=0), np.arange(25)] = 1.0
    check(np.array_equal(g, expected), "axis_max tie (40, 25)")
    # elementwise programs over 200 and 1000 elements: every element computed (several blocks)
    for n in (200, 1000):
        x = inp["x1000"][:n]
        out, pullback = coarsen.vjp(T.big_vector, x, target="cuda")
        check(np.allclose(out, np.tanh(x) * 2.0 + x * x, rtol=1e-13, atol=1e-15), f"vjp value {{n}}")
        (d,) = pullback(np.ones(n))
        check(np.allclose(d, 2.0 / np.cosh(x) ** 2 + 2 * x, rtol=1e-13, atol=1e-15), f"vjp {{n}}")
        # vmap: one GPU thread per lane, lanes beyond the first block included
        xs = np.linspace(-2.0, 2.0, n)
        check(np.array_equal(coarsen.vmap(coarsen.grad(T.clip_unit), target="cuda")(xs),
                             np.where(np.abs(xs) <= 1.0, 5.0, 0.0)), f"vmap clip {{n}}")
        gx = coarsen.vmap(coarsen.grad(T.maximum), in_axes=(0, None), target="cuda")(xs, 0.0)
        check(np.array_equal(gx, (xs >= 0.0).astype(float)), f"vmap maximum {{n}}")
    print("\\n".join(failures) or "ok")
""")


@pytest.mark.gpu
@pytest.mark.slow
def test_the_cuda_target_in_the_simulator_against_independent_references(tmp_path):
    """Ties, kinks, ranges and arrays of 200/1000 elements (several 128-thread blocks)."""
    run_cuda_script(CUDA_SCRIPT, tmp_path)
