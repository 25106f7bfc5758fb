"""Non-finite inputs (inf, NaN) and zeros must give NumPy's values, not those of SymPy's algebra.

SymPy simplifies as if every number were finite and nonzero: ``x*0.0 + 1`` becomes ``1``,
``x - x`` becomes ``0``, ``x*y/y`` becomes ``x``, ``exp(log(x))`` becomes ``x``. IEEE arithmetic
disagrees at inf, NaN and zero. `coarsen.segments` builds its expressions so that SymPy cannot
cancel what the program computes (occurrence symbols, literals, a census of each build); these
tests pin the cases that used to be silently wrong, and a property test draws random
elementwise programs (with reused temporaries, inverse functions and annihilating constants)
and evaluates them on arrays of special values against plain NumPy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import coarsen


def times_zero_plus_one(x):
    return x * 0.0 + 1.0


def minus_itself(x):
    return x - x


def sum_times_zero(x):
    return np.sum(x * 0.0)


def twice_minus_once(x):
    return 2.0 * x - x


def times_over(x, y):
    return x * y / y


def exp_of_log(x):
    return np.exp(np.log(x))


def square_of_sqrt(x):
    return np.sqrt(x) ** 2


def reused_cancels(x):
    u = x + 1.0
    return u - u


def exp_product(x):
    return np.exp(x) * np.exp(-x)


def zero_over(x):
    return 0.0 / x + 1.0


def difference_of_folded_constants(x):
    return x * (1.0 - 1.0) + 2.0


def sqrt_of_non_positive(x):
    # SymPy's sqrt(-|x|) is I*sqrt(|x|) (complex: a crash in codegen), its square -|x|: NumPy NaN
    return np.sqrt(-np.abs(x)) ** 2 + np.sqrt(-x * x)


def reciprocal_of_relu(x):
    # NumPy's maximum returns its second operand at a tie, Numba's the first: at x = -0.0
    # this is inf in NumPy and was -inf on the cpu target
    return 1.0 / np.maximum(x, 0.0)


def reciprocal_of_min(x):
    return 1.0 / np.minimum(0.0, x) + 1.0 / np.minimum(x, -0.0)


def reciprocal_of_clip(x):
    return 1.0 / np.clip(x, 0.0, 1.0)


def reciprocal_of_one_sided_clips(x):
    # NumPy's one-sided clip is minimum(x, hi) (a tie gives hi), the two-sided one keeps x
    return 1.0 / np.clip(x, None, 0.0) + 1.0 / np.clip(x, -0.0, None)


def relu_chain(x):
    # an array chain the cpu target fuses into one loop (`kernels.fusion`)
    h = np.maximum(x * 1.0, 0.0)
    return np.sum(1.0 / (h + np.minimum(-h, -0.0)))


def scalar_relu_loop(x, n):
    s = 0.0
    for _ in range(n):
        s = s + 1.0 / np.maximum(x, 0.0)
    return s


def branch_exp_of_log(x, y):
    # inside a branch the IF becomes a phi term, which has no place for a cut: the planner
    # keeps this IF as control flow instead
    if y > 0.0:
        z = np.exp(np.log(x)) + 1.0
    else:
        z = x * 2.0
    return z


def loop_branch_square_of_sqrt(x, y):
    s = 0.0
    for i in range(3):
        if y > 0.0:
            s = s + np.sqrt(x) ** 2
        else:
            s = s + x - x
    return s


def _same(a, b, rtol: float = 1e-12) -> bool:
    """NaN and +-inf exactly where the other has them; finite values equal up to rounding
    (the cpu target's exp is within 1 ulp of NumPy's, SymPy folds constants)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    finite = np.isfinite(a) & np.isfinite(b)
    return bool(np.array_equal(np.isnan(a), np.isnan(b))
                and np.array_equal(np.where(finite, 0.0, a), np.where(finite, 0.0, b), equal_nan=True)
                and np.allclose(a[finite], b[finite], rtol=rtol, atol=1e-300))


def _same_but_zero_signs(value, expected, source: str) -> bool:
    """`_same`: since sums and products keep the program's grouping (`phicalc.Paren`), an
    exact zero's sign, and so the sign of what is divided by it, is NumPy's too (SymPy's
    reassociation, `-(x + y)` as `-x - y`, used to flip it)."""
    return _same(value, expected)


SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 2.5, math.inf, -math.inf, math.nan, 800.0])

CASES = [
    (times_zero_plus_one, (math.inf,)),
    (times_zero_plus_one, (math.nan,)),
    (minus_itself, (math.inf,)),
    (minus_itself, (math.nan,)),
    (sum_times_zero, (np.array([1.0, math.nan, 2.0]),)),
    (sum_times_zero, (np.array([1.0, math.inf, 2.0]),)),
    (twice_minus_once, (math.inf,)),
    (times_over, (SPECIAL, SPECIAL[::-1].copy())),
    (exp_of_log, (SPECIAL,)),
    (square_of_sqrt, (SPECIAL,)),
    (reused_cancels, (SPECIAL,)),
    (exp_product, (SPECIAL,)),
    (zero_over, (SPECIAL,)),
    (difference_of_folded_constants, (SPECIAL,)),
    *[(f, (z,)) for f in (reciprocal_of_relu, reciprocal_of_min, reciprocal_of_clip, reciprocal_of_one_sided_clips)
      for z in (-0.0, 0.0, SPECIAL)],
    (relu_chain, (SPECIAL,)),
    (sqrt_of_non_positive, (SPECIAL,)),
    (scalar_relu_loop, (-0.0, 2)),
    (scalar_relu_loop, (0.0, 2)),
    *[(f, (float(x), y)) for f in (branch_exp_of_log, loop_branch_square_of_sqrt)
      for x in (-1.0, math.inf, math.nan, 4.0) for y in (1.0, -1.0)],
]


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("f,args", CASES, ids=lambda v: getattr(v, "__name__", "args"))
def test_value_matches_numpy_on_non_finite_inputs(f, args, target):
    with np.errstate(all="ignore"):
        expected = f(*args)
        value = coarsen.jit(f, target=target)(*args)
    assert _same(value, expected), (value, expected)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("f", [times_zero_plus_one, minus_itself, twice_minus_once])
def test_gradient_at_non_finite_inputs_is_that_of_ad(f, target):
    # reverse-mode AD of these programs has finite partials: torch's gradient at inf is finite
    for x in (math.inf, -math.inf, 1.5):
        value, g = coarsen.value_and_grad(f, target=target)(x)
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        out = f(t)
        (tg,) = torch.autograd.grad(out, t)
        assert _same(value, out.item()) and _same(g, tg.item()), (x, value, g, out, tg)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@pytest.mark.parametrize("f", [times_zero_plus_one, minus_itself])
def test_finite_inputs_still_agree(f, target):
    # the guard against the bug above must not be bought by breaking the ordinary case
    value, g = coarsen.value_and_grad(f, target=target)(1.5)
    assert value == f(1.5)
    assert g == 0.0


def test_occurrences_merge_back_when_nothing_cancels():
    # `exp(x) * x` reads x twice; with nothing to cancel, its segment is over one symbol `x`,
    # so the derivative's common subexpressions are shared as before
    def f(x):
        return np.sum(np.exp(x) * x)
    src = coarsen.grad(f).source(np.ones(3))
    assert src.count("np.exp(") == 1, src


# ---------------------------------------------------------------- random programs
UNARY = ["np.exp({})", "np.log({})", "np.sqrt({})", "np.abs({})", "-({})", "np.tanh({})",
         "({}) ** 2", "np.square({})", "np.log1p({})", "np.expm1({})"]
BINARY = ["({}) + ({})", "({}) - ({})", "({}) * ({})", "({}) / ({})", "np.maximum({}, {})"]
CONSTS = ["0.0", "1.0", "2.0", "-1.0", "0.5"]


def _expr(draw, names: list[str], depth: int) -> str:
    """A random expression over `names` (read when drawn: temporaries join as they are bound)."""
    kind = draw(st.sampled_from(["leaf", "leaf", "const", "unary", "binary", "binary"]
                                if depth else ["leaf", "const"]))
    if kind == "leaf":
        return draw(st.sampled_from(names))
    if kind == "const":
        return draw(st.sampled_from(CONSTS))
    if kind == "unary":
        return draw(st.sampled_from(UNARY)).format(_expr(draw, names, depth - 1))
    return draw(st.sampled_from(BINARY)).format(_expr(draw, names, depth - 1), _expr(draw, names, depth - 1))


@st.composite
def programs(draw):
    names = ["x", "y"]
    lines = []

    def expr(depth):
        return _expr(draw, names, depth)

    for k in range(draw(st.integers(1, 4))):
        name = f"t{k}"
        lines.append(f"    {name} = {expr(2)}")
        names.append(name)
    # the last temporaries are read several times: reuse is where occurrences meet
    lines.append(f"    return {expr(3)}")
    return "def f(x, y):\n" + "\n".join(lines) + "\n"


_COUNTER = [0]


def _load(source: str, tmp: Path):
    # coarsen reads the source of the function: write it to a file and import it
    _COUNTER[0] += 1
    path = tmp / f"nonfinite_prog_{_COUNTER[0]}.py"
    path.write_text("import numpy as np\n\n" + source)
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["f"]


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@settings(max_examples=25, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(source=programs())
def test_random_elementwise_programs_match_numpy_on_special_values(source, target, tmp_path):
    f = _load(source, tmp_path)
    x = np.repeat(SPECIAL, len(SPECIAL))
    y = np.tile(SPECIAL, len(SPECIAL))
    with np.errstate(all="ignore"):
        try:
            expected = np.broadcast_to(f(x, y), x.shape)
        except ZeroDivisionError:      # Python floats: `1.0 / (1.0 - 1.0)` raises
            assume(False)
        value = np.broadcast_to(coarsen.jit(f, target=target)(x, y), x.shape)
    assert _same_but_zero_signs(value, expected, source), source


@st.composite
def branchy_programs(draw):
    """Scalar programs whose temporaries are assigned in both arms of an `if` (so the IF is a
    phi term inside a segment) and possibly inside a loop."""
    names = ["x", "y"]
    lines = []

    def expr(depth):
        return _expr(draw, names, depth)

    looped = draw(st.booleans())
    pad = "        " if looped else "    "
    if looped:
        lines.append("    s = 0.0")
        lines.append("    for i in range(n):")
        names.append("i")
    for k in range(draw(st.integers(1, 3))):
        name = f"t{k}"
        if draw(st.booleans()):
            lines.append(f"{pad}if {expr(1)} > {expr(1)}:")
            lines.append(f"{pad}    {name} = {expr(2)}")
            lines.append(f"{pad}else:")
            lines.append(f"{pad}    {name} = {expr(2)}")
        else:
            lines.append(f"{pad}{name} = {expr(2)}")
        names.append(name)
    if looped:
        lines.append(f"{pad}s = s + {expr(2)}")
        lines.append("    return s")
    else:
        lines.append(f"    return {expr(3)}")
    return "def f(x, y, n):\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("target", ["numpy", "cpu"])
@settings(max_examples=20, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(source=branchy_programs())
def test_random_branchy_scalar_programs_match_numpy_on_special_values(source, target, tmp_path):
    f = _load(source, tmp_path)
    compiled = coarsen.jit(f, target=target)
    with np.errstate(all="ignore"):
        for a in SPECIAL.tolist():
            for b in SPECIAL[::2]:
                for n in (0, 1, 3):
                    a64, b64 = np.float64(a), np.float64(b)
                    try:
                        expected = f(a64, b64, n)
                    except ZeroDivisionError:      # a constant `1.0 / 0.0` in Python
                        assume(False)
                    value = compiled(a64, b64, n)
                    # (no overflow is excused: the values are the program's, not softplus's)
                    assert _same_but_zero_signs(value, expected, source), (source, a, b, n, value, expected)


@settings(max_examples=6, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(source=branchy_programs())
def test_random_branchy_gradients_agree_across_targets_on_special_values(source, tmp_path):
    """The derivative program of the numpy target and the cpu target's machine code compute the
    same IEEE values (NaN, inf and all) at special inputs: each target's generated code is
    checked against the other where no reference defines the answer."""
    f = _load(source, tmp_path)
    grads = [coarsen.grad(f, argnums=(0, 1), target=t) for t in ("numpy", "cpu")]
    with np.errstate(all="ignore"):
        for a in SPECIAL.tolist():
            for b in SPECIAL[::2]:
                for n in (0, 1, 3):
                    a64, b64 = np.float64(a), np.float64(b)
                    try:
                        f(a64, b64, n)
                    except ZeroDivisionError:
                        assume(False)
                    g_np, g_cpu = (g(a64, b64, n) for g in grads)
                    # (finite values to 1e-6: `1 - tanh(u)**2` near 1 cancels the targets'
                    # one-ulp differences in tanh into relative ones of 1e-6, as torch's does)
                    assert _same(g_np, g_cpu, rtol=1e-6), (source, a, b, n, g_np, g_cpu)


def power_of_learned_exponent(x, p):
    return np.sum(x ** p) + 0.0 ** p


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_exponent_gradient_at_a_zero_base_is_zero(target):
    """d/dp 0**p is 0 for p >= 0 (the power is 0 whatever p), not 0 * log(0) = NaN: torch's
    and JAX's rule; elsewhere p * log(x) as before."""
    x, p = np.array([0.0, 0.5, 2.0, 0.0]), 1.5
    gx, gp = coarsen.grad(power_of_learned_exponent, argnums=(0, 1), target=target)(x, p)
    xt = torch.tensor(x, requires_grad=True)
    pt = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    (torch.sum(xt ** pt) + torch.tensor(0.0, dtype=torch.float64) ** pt).backward()
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gp, pt.grad.item(), rtol=1e-12)
